/**
 * `npm run build && node dist/bench/simd_peak.js`: the most float32 arithmetic WebAssembly
 * SIMD can do on this machine, the ceiling for the wasm matMul kernel (and so for the
 * encoder, ~97% of whose FLOPs are matMuls). A loop of 12 independent accumulators kept in
 * registers (no memory traffic): multiply then add (f32x4.mul, f32x4.add: what the kernels
 * run without relaxed SIMD), and fused (f32x4.relaxed_madd, as the fused kernels run it),
 * on one thread, then on every core at once (worker threads). Not a test.
 *
 * bench.ts takes `simdPeakAllCores` before each encoder run: this machine's speed drifts by
 * tens of percent from minute to minute, so an encoder time means most next to the ceiling
 * measured beside it.
 */
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { relaxedMaddFuses, relaxedSimdAvailable } from '../src/backends/wasm_kernels.js';
import { enableRelaxedSimd } from '../src/backends/wasm_threads_node.js';

const ACCUMULATORS = 12;
const FLOP_PER_ITERATION = ACCUMULATORS * 8; // 4 lanes, a multiply and an add each
const ITERATIONS = 2e7;

export type SimdForm = 'mul+add' | 'fused';

function wat(form: SimdForm): string {
  const acc = Array.from({ length: ACCUMULATORS }, (_, i) => `$a${i}`);
  const step = (a: string) =>
    form === 'fused'
      ? `(local.set ${a} (f32x4.relaxed_madd (local.get $x) (local.get $y) (local.get ${a})))`
      : `(local.set ${a} (f32x4.add (local.get ${a}) (f32x4.mul (local.get $x) (local.get $y))))`;
  const sum = acc.map((a) => `(local.get ${a})`).reduce((s, a) => `(f32x4.add ${s} ${a})`);
  return `(module (func (export "run") (param $n i32) (result f32)
    (local $x v128) (local $y v128) ${acc.map((a) => `(local ${a} v128)`).join(' ')}
    (local.set $x (f32x4.splat (f32.const 0.999999))) (local.set $y (f32x4.splat (f32.const 0.000001)))
    (loop $l ${acc.map(step).join(' ')}
      (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $l (local.get $n)))
    (f32x4.extract_lane 0 ${sum})))`;
}

const compiled = new Map<SimdForm, WebAssembly.Module>();

async function compile(form: SimdForm): Promise<WebAssembly.Module> {
  const cached = compiled.get(form);
  if (cached) return cached;
  const wabt = await (await import('wabt')).default();
  const parsed = wabt.parseWat(`${form}.wat`, wat(form), { simd: true, relaxed_simd: true });
  const module = new WebAssembly.Module(parsed.toBinary({}).buffer.slice());
  parsed.destroy();
  compiled.set(form, module);
  return module;
}

/** GFLOP/s of one timed run (after an untimed one: V8 first runs a baseline compile of the loop). */
function measure(module: WebAssembly.Module): number {
  const run = (new WebAssembly.Instance(module).exports as { run(n: number): number }).run;
  run(ITERATIONS);
  const start = performance.now();
  run(ITERATIONS);
  return (ITERATIONS * FLOP_PER_ITERATION) / (performance.now() - start) / 1e6;
}

/** Marks the workers this module starts, so that nothing else's worker takes their work. */
interface PeakJob {
  simdPeakForm: SimdForm;
}

/**
 * GFLOP/s of `form` on `threads` worker threads at once (default: every core), summed. Each
 * worker assembles the loop itself, so that wabt never loads in the calling thread (it would
 * stay in a benchmark's resident memory). The fused form needs relaxed SIMD (in Node 20, V8's
 * flag, which enableRelaxedSimd() sets for the process and its workers). ~0.3 s.
 */
export async function simdPeakAllCores(form: SimdForm, threads = cpus().length): Promise<number> {
  const job: PeakJob = { simdPeakForm: form };
  const workers = Array.from({ length: threads }, () => new Worker(new URL(import.meta.url), { workerData: job }));
  try {
    const each = await Promise.all(workers.map((w) => new Promise<number>((done, fail) => w.once('message', done).once('error', fail))));
    return each.reduce((a, b) => a + b, 0);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

const job = workerData as Partial<PeakJob> | null;
if (!isMainThread && (job?.simdPeakForm === 'mul+add' || job?.simdPeakForm === 'fused')) {
  parentPort!.postMessage(measure(await compile(job.simdPeakForm)));
} else if (isMainThread && /simd_peak\.[cm]?js$/.test(process.argv[1] ?? '') && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // Run as a script (not when bundled into bench.mjs by scripts/portable_bundle.sh, whose
  // module URL is then the bundle's own).
  const forms: SimdForm[] = ['mul+add'];
  if (enableRelaxedSimd()) forms.push('fused');
  else console.log('no relaxed SIMD in this engine: the fused form is not measured');
  const cores = cpus().length;
  console.log(`${cores} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}; relaxed multiply-add fuses: ${relaxedSimdAvailable() && relaxedMaddFuses()}`);
  for (const form of forms) {
    const module = await compile(form);
    const one = [0, 1, 2].map(() => measure(module));
    const all: number[] = [];
    for (let round = 0; round < 3; round++) all.push(await simdPeakAllCores(form, cores));
    const f = (xs: number[]) => xs.map((v) => v.toFixed(1)).join(', ');
    console.log(`${form}: one thread ${f(one)} GFLOP/s; ${cores} threads together ${f(all)} GFLOP/s`);
  }
}
