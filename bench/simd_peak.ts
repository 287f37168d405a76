/**
 * `npm run build && node dist/bench/simd_peak.js`: the most float32 arithmetic WebAssembly
 * SIMD can do on this machine, the ceiling for the wasm matMul kernel (and so for the
 * encoder, ~97% of whose FLOPs are matMuls). A loop of 12 independent accumulators kept in
 * registers (no memory traffic): multiply then add (f32x4.mul, f32x4.add: what the kernels
 * run without relaxed SIMD), and fused (f32x4.relaxed_madd, as the fused kernels run it),
 * on one thread, then on every core at once (worker threads). Not a test.
 *
 * Each step multiplies the accumulator (a * x + y, converging to 1): with both factors
 * fixed, as a + x * y had it, V8 hoists the product out of the loop, leaving only the adds,
 * and the multiply-then-add form read ~2x its real rate (41-44 against 25-27 GFLOP/s a
 * thread here). The fused step takes the accumulator too, so that an engine that runs
 * relaxed_madd as a multiply and an add cannot hoist it either.
 *
 * bench.ts takes `simdPeakAllCores` before each encoder run: this machine's speed drifts by
 * tens of percent from minute to minute, so an encoder time means most next to the ceiling
 * measured beside it.
 */
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread, Worker } from 'node:worker_threads';
import { relaxedMaddFuses, relaxedSimdAvailable } from '../src/backends/wasm_kernels.js';
import { enableRelaxedSimd } from '../src/backends/wasm_threads_node.js';

const ACCUMULATORS = 12;
const FLOP_PER_ITERATION = ACCUMULATORS * 8; // 4 lanes, a multiply and an add each
const ITERATIONS = 2e7;

export type SimdForm = 'mul+add' | 'fused';

/**
 * The loop as a WebAssembly binary, written out here (no assembler at run time):
 *   (func (export "run") (param $n i32) (result f32)
 *     (local $x v128) (local $y v128) (local $a0 v128) ... (local $a11 v128)
 *     x = splat(0.999999); y = splat(0.000001)
 *     (loop: a_i = a_i * x + y (or relaxed_madd(a_i, x, y)) for each i; n -= 1; br_if n)
 *     extract_lane 0 of a0 + a1 + ... + a11)
 * (Checked byte for byte against wabt's assembly of that text when written.)
 */
export function loopBinary(form: SimdForm): Uint8Array<ArrayBuffer> {
  const simd = (op: number) => [0xfd, ...uleb(op)];
  const f32 = (v: number) => [...new Uint8Array(Float32Array.of(v).buffer)];
  const [n, x, y] = [0, 1, 2];
  const acc = Array.from({ length: ACCUMULATORS }, (_, i) => 3 + i);
  const get = (i: number) => [0x20, i];
  const set = (i: number) => [0x21, i];
  const F32X4_SPLAT = 0x13, F32X4_EXTRACT_LANE = 0x1f, F32X4_ADD = 0xe4, F32X4_MUL = 0xe6, F32X4_RELAXED_MADD = 0x105;
  const step = (a: number) =>
    form === 'fused'
      ? [...get(a), ...get(x), ...get(y), ...simd(F32X4_RELAXED_MADD), ...set(a)]
      : [...get(a), ...get(x), ...simd(F32X4_MUL), ...get(y), ...simd(F32X4_ADD), ...set(a)];
  const body = [
    1, 2 + ACCUMULATORS, 0x7b, // one group of locals: 14 v128
    0x43, ...f32(0.999999), ...simd(F32X4_SPLAT), ...set(x),
    0x43, ...f32(0.000001), ...simd(F32X4_SPLAT), ...set(y),
    0x03, 0x40, // loop
    ...acc.flatMap(step),
    ...get(n), 0x41, 1, 0x6b, ...set(n), ...get(n), 0x0d, 0, // n -= 1; br_if 0 n
    0x0b, // end loop
    ...get(acc[0]),
    ...acc.slice(1).flatMap((a) => [...get(a), ...simd(F32X4_ADD)]),
    ...simd(F32X4_EXTRACT_LANE), 0,
    0x0b, // end
  ];
  const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content];
  const name = [...new TextEncoder().encode('run')];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 1, 0x7f, 1, 0x7d]), // (i32) -> f32
    ...section(3, [1, 0]),
    ...section(7, [1, name.length, ...name, 0x00, 0]),
    ...section(10, [1, ...uleb(body.length), ...body]),
  ]);
}

function uleb(v: number): number[] {
  const out: number[] = [];
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

const compiled = new Map<SimdForm, WebAssembly.Module>();

function compile(form: SimdForm): WebAssembly.Module {
  let module = compiled.get(form);
  if (!module) compiled.set(form, (module = new WebAssembly.Module(loopBinary(form))));
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

/**
 * A worker's code (run from this string, so that it loads nothing): instantiate the loop, run
 * it once untimed, then wait until every worker is ready (a shared counter) so that the timed
 * runs overlap, and post GFLOP/s.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { module, ready, threads, iterations, flopPerIteration } = workerData;
const run = new WebAssembly.Instance(module).exports.run;
run(iterations);
const count = new Int32Array(ready);
if (Atomics.add(count, 0, 1) + 1 === threads) Atomics.notify(count, 0);
else for (let seen = Atomics.load(count, 0); seen < threads; seen = Atomics.load(count, 0)) Atomics.wait(count, 0, seen);
const start = performance.now();
run(iterations);
parentPort.postMessage((iterations * flopPerIteration) / (performance.now() - start) / 1e6);
`;

/**
 * GFLOP/s of `form` on `threads` worker threads at once (default: every core), summed: the
 * timed runs start together. The fused form needs relaxed SIMD (in Node 20, V8's flag, which
 * enableRelaxedSimd() sets for the process and its workers). ~0.1-0.2 s (2 cores).
 */
export async function simdPeakAllCores(form: SimdForm, threads = cpus().length): Promise<number> {
  const module = compile(form);
  const ready = new SharedArrayBuffer(4);
  const workers: Worker[] = [];
  try {
    const results: Array<Promise<number>> = [];
    for (let t = 0; t < threads; t++) {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, ready, threads, iterations: ITERATIONS, flopPerIteration: FLOP_PER_ITERATION } });
      workers.push(w);
      results.push(
        new Promise<number>((done, fail) => {
          w.once('message', done).once('error', fail);
          w.once('exit', (code) => fail(new Error(`simdPeakAllCores: a worker exited (code ${code}) without a result`)));
        }),
      );
    }
    return (await Promise.all(results)).reduce((a, b) => a + b, 0);
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

if (isMainThread && /simd_peak\.[cm]?js$/.test(process.argv[1] ?? '') && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // Run as a script (not when bundled into bench.js by scripts/portable_bundle.sh, whose
  // module URL is then the bundle's own).
  const forms: SimdForm[] = ['mul+add'];
  if (enableRelaxedSimd()) forms.push('fused');
  else console.log('no relaxed SIMD in this engine: the fused form is not measured');
  const cores = cpus().length;
  console.log(`${cores} cores (${cpus()[0]?.model ?? '?'}), Node ${process.version}; relaxed multiply-add fuses: ${relaxedSimdAvailable() && relaxedMaddFuses()}`);
  for (const form of forms) {
    const module = compile(form);
    const one = [0, 1, 2].map(() => measure(module));
    const all: number[] = [];
    for (let round = 0; round < 3; round++) all.push(await simdPeakAllCores(form, cores));
    const f = (xs: number[]) => xs.map((v) => v.toFixed(1)).join(', ');
    console.log(`${form}: one thread ${f(one)} GFLOP/s; ${cores} threads together ${f(all)} GFLOP/s`);
  }
}
