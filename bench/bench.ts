/**
 * `npm run bench -- [--model vit_b] [--backend wasm] [--runs 3] [--amg] [--amg-runs N] [--profile] [--no-wasm-kernels] [--no-webgpu-kernels] [--tfjs-flag NAME=VALUE] [--json out.json]`
 *
 * Speed of a full-size model with random weights made in-process (no download): image
 * encoder time, decoder time per prompt (1 point, multimask, post-processed to a
 * 1500 x 2250 original), optionally automatic mask generation (32 x 32 grid; median of
 * `--amg-runs`, by default as many runs as the encoder's), peak memory,
 * and GFLOP/s against the analytic FLOP count. Encoder: median over `runs` after one warm-up;
 * on wasm also the SIMD ceiling measured just before each run (simd_peak.ts) and the encoder's
 * share of it; decoder: median of DECODER_PROMPTS prompts after DECODER_WARMUP.
 * `--profile` adds where the time goes, per stage and per tfjs kernel, for the encoder and
 * for one prompt.
 * On wasm, the matMul kernels run fused multiply-adds where the engine has relaxed SIMD (Node
 * 22+, and Node 20 through V8's flag, which selectBackend sets); `SAM_TFJS_WASM_FMA=0 npm run
 * bench` to compare without.
 * Not a test: numbers depend on the machine; compare ratios measured on the same machine.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { selectBackend } from '../src/backend.js';
import { setWasmKernelsEnabled, wasmKernelsActive, wasmMatMulFused } from '../src/backends/wasm_kernels.js';
import { setWebGpuKernelsEnabled, webgpuKernelsActive } from '../src/backends/webgpu_kernels.js';
import { presetConfig, type ModelType } from '../src/sam/config.js';
import { SamPredictor } from '../src/sam/predictor.js';
import { SamModel } from '../src/sam/sam_model.js';
import { encoderFlops } from './flops.js';
import { profileDecoder, profileEncoder, type DecoderProfile, type EncoderProfile } from './profile.js';
import { randomizeWeights } from './random_weights.js';
import { simdPeakAllCores, type SimdForm } from './simd_peak.js';
import type { AttentionImplementation } from '../src/layers/image_encoder/attention_kernels.js';

interface Args {
  model: ModelType;
  backend?: string;
  runs: number;
  amg: boolean;
  /** Automatic mask generation runs (`--amg-runs`; default: `runs`). */
  amgRuns?: number;
  profile: boolean;
  json?: string;
  attention: AttentionImplementation;
  /** Runs wasm without the SIMD kernels of src/backends/wasm_kernels.ts (tfjs ops only), for comparisons. */
  noWasmKernels?: boolean;
  noWebGpuKernels?: boolean;
  /** tfjs environment flags to set after the backend starts (`--tfjs-flag NAME=VALUE`). */
  flags: Record<string, number | boolean | string>;
}

/** A flag's value as tfjs wants it: a number, a boolean, or else the string. */
function flagValue(v: string): number | boolean | string {
  if (v === 'true' || v === 'false') return v === 'true';
  return v.trim() !== '' && Number.isFinite(Number(v)) ? Number(v) : v;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { model: 'vit_b', runs: 3, amg: false, profile: false, attention: 'auto', flags: {} };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--model') args.model = next() as ModelType;
    else if (a === '--backend') args.backend = next();
    else if (a === '--runs') args.runs = Number(next());
    else if (a === '--amg') args.amg = true;
    else if (a === '--amg-runs') {
      args.amg = true;
      args.amgRuns = Number(next());
    }
    else if (a === '--profile') args.profile = true;
    else if (a === '--json') args.json = next();
    else if (a === '--attention') args.attention = next() as AttentionImplementation;
    else if (a === '--no-wasm-kernels') args.noWasmKernels = true;
    else if (a === '--no-webgpu-kernels') args.noWebGpuKernels = true;
    else if (a === '--tfjs-flag') {
      const v = next();
      const eq = v.indexOf('=');
      if (eq <= 0) throw new Error(`--tfjs-flag needs NAME=VALUE, got '${v}'`);
      args.flags[v.slice(0, eq)] = flagValue(v.slice(eq + 1));
    }
    else if (a === '--help' || a === '-h') {
      console.log('usage: npm run bench -- [--model vit_b|vit_l|vit_h] [--backend NAME] [--runs N] [--amg] [--amg-runs N] [--profile] [--attention auto|batched|matmul2d] [--no-wasm-kernels] [--no-webgpu-kernels] [--tfjs-flag NAME=VALUE]... [--json FILE]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (see --help)`);
  }
  if (!(Number.isInteger(args.runs) && args.runs >= 1)) throw new Error('--runs must be a whole number, at least 1');
  if (args.amgRuns !== undefined && !(Number.isInteger(args.amgRuns) && args.amgRuns >= 1)) throw new Error('--amg-runs must be a whole number, at least 1');
  return args;
}

/**
 * Prompts before the decoder is timed, and prompts timed. On the 2-core VM one prompt's time
 * varies by ±30% from the next one's, and the first prompts run JavaScript that V8 has not
 * optimised yet: 10 prompts after 1 (the bench until 8088aef) gave medians that moved more
 * than the changes did.
 */
const DECODER_WARMUP = 3;
const DECODER_PROMPTS = 30;

/** The middle value; for an even count the mean of the two middle ones. */
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Size of tfjs-wasm's heap (its WebAssembly memory). */
function wasmHeapBytes(): number {
  const b = tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array } };
  return b.wasm?.HEAPU8?.buffer.byteLength ?? 0;
}

/** GPU backends' memory as tfjs reports it: bytes held by live tensors, and by the backend's buffers (pool included). */
function gpuBytes(): { inUse: number; allocated: number } | null {
  const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number; numBytesInGPUAllocated?: number; numBytesAllocatedInGPU?: number };
  if (m.numBytesInGPU === undefined) return null;
  return { inUse: m.numBytesInGPU, allocated: m.numBytesInGPUAllocated ?? m.numBytesAllocatedInGPU ?? m.numBytesInGPU };
}

/**
 * Peak resident memory, and on GPU backends peak GPU memory, sampled while work runs (the
 * event loop is free between awaits only).
 */
class RssPeak {
  peak = process.memoryUsage().rss;
  gpuInUse = 0;
  gpuAllocated = 0;
  private timer = setInterval(() => this.sample(), 20);
  sample(): void {
    this.peak = Math.max(this.peak, process.memoryUsage().rss);
    const g = gpuBytes();
    if (g) {
      this.gpuInUse = Math.max(this.gpuInUse, g.inUse);
      this.gpuAllocated = Math.max(this.gpuAllocated, g.allocated);
    }
  }
  /** Runs `work` unsampled (the SIMD ceiling's worker threads are not the model's memory; ~5 MiB stays after them). */
  async without<T>(work: () => Promise<T>): Promise<T> {
    clearInterval(this.timer);
    try {
      return await work();
    } finally {
      this.timer = setInterval(() => this.sample(), 20);
    }
  }
  stop(): number {
    clearInterval(this.timer);
    this.sample();
    return this.peak;
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  tf.env().set('IS_TEST', true); // no "install tfjs-node" banner in the report
  // Before the backend starts: without the kernels tfjs's own pool gets every thread.
  if (args.noWasmKernels) setWasmKernelsEnabled(false);
  if (args.noWebGpuKernels) setWebGpuKernelsEnabled(false);
  const backend = await selectBackend(args.backend);
  for (const [name, value] of Object.entries(args.flags)) tf.env().set(name, value);
  const config = presetConfig(args.model);
  const flops = encoderFlops(config);
  const rss = new RssPeak();
  const t0 = performance.now();
  const model = new SamModel(config);
  randomizeWeights(model, 1234);
  model.setAttentionImplementation(args.attention);
  const buildMs = performance.now() - t0;
  const s = model.imgSize;
  const input = tf.randomNormal([1, s, s, 3], 0, 1, 'float32', 7) as tf.Tensor4D;

  // Image encoder. On wasm, each timed run follows a measure of this machine's SIMD ceiling
  // (simd_peak.ts), as its speed drifts from minute to minute.
  const encoderMs: number[] = [];
  const peaks: number[] = [];
  /** Each timed run's GFLOP/s over the ceiling measured before it. */
  const ofPeaks: number[] = [];
  const gflopPerSecond = (ms: number) => flops.total / 1e9 / (ms / 1000);
  // The form the kernels run: fused where they fuse, else multiply then add.
  const peakForm: SimdForm | null = backend.backend === 'wasm' ? (wasmMatMulFused() ? 'fused' : 'mul+add') : null;
  let embedding: tf.Tensor4D | null = null;
  for (let i = 0; i <= args.runs; i++) {
    let peak = 0;
    if (i > 0 && peakForm) peak = await rss.without(() => simdPeakAllCores(peakForm));
    rss.sample();
    const start = performance.now();
    const e = model.embedImage(input);
    await e.data();
    const ms = performance.now() - start;
    if (i > 0) encoderMs.push(ms); // run 0 is the warm-up
    if (peak > 0) {
      peaks.push(peak);
      ofPeaks.push(gflopPerSecond(ms) / peak);
    }
    const ofPeak = peak > 0 ? ` (the SIMD ceiling just before: ${peak.toFixed(1)} GFLOP/s, of which ${(100 * ofPeaks[ofPeaks.length - 1]).toFixed(0)}%)` : '';
    console.error(`encoder run ${i}${i === 0 ? ' (warm-up)' : ''}: ${(ms / 1000).toFixed(2)} s${ofPeak}`);
    embedding?.dispose();
    embedding = e;
  }
  rss.sample();

  // Decoder per prompt, post-processed to a 1500 x 2250 original image.
  const predictor = new SamPredictor(model);
  const originalSize: [number, number] = [1500, 2250];
  predictor.setImageEmbedding({ embedding: embedding!, originalSize, inputSize: [683, 1024].map((v) => (v * s) / 1024) as [number, number], imgSize: s });
  const decoderMs: number[] = [];
  for (let i = 0; i < DECODER_WARMUP + DECODER_PROMPTS; i++) {
    const start = performance.now();
    await predictor.predict({ pointCoords: [[1000 + i, 700]], pointLabels: [1], multimaskOutput: true });
    if (i >= DECODER_WARMUP) decoderMs.push(performance.now() - start);
  }

  // Automatic mask generation on a 1500 x 2250 image (its own encoder pass included): the
  // median of `amgRuns` runs (after the encoder's and decoder's warm-ups above).
  const amgMs: number[] = [];
  let amgMasks: number | null = null;
  if (args.amg) {
    const { SamAutomaticMaskGenerator } = await import('../src/sam/automatic_mask_generator.js');
    const image = { data: new Uint8Array(1500 * 2250 * 3).map((_, i) => (i * 2654435761) >>> 24), width: 2250, height: 1500, channels: 3 as const };
    const generator = new SamAutomaticMaskGenerator(model, { pointsPerSide: 32 });
    const runs = args.amgRuns ?? args.runs;
    for (let i = 0; i < runs; i++) {
      const start = performance.now();
      const masks = await generator.generate(image);
      amgMs.push(performance.now() - start);
      amgMasks = masks.length;
      console.error(`automatic mask generation run ${i + 1} of ${runs}: ${(amgMs[i] / 1000).toFixed(2)} s, ${masks.length} masks`);
    }
  }

  let profile: { encoder: EncoderProfile; decoder: DecoderProfile } | null = null;
  if (args.profile) {
    const inputSize = [683, 1024].map((v) => (v * s) / 1024) as [number, number];
    profile = { encoder: await profileEncoder(model, input), decoder: await profileDecoder(model, embedding!, inputSize, originalSize) };
  }

  predictor.dispose();
  embedding?.dispose();
  input.dispose();
  const peakRss = rss.stop();
  const enc = median(encoderMs);
  const result = {
    date: new Date().toISOString(),
    model: args.model,
    backend: backend.backend,
    provider: backend.provider,
    wasmThreads: backend.backend === 'wasm' ? (await import('../src/backends/wasm_threads_node.js')).wasmThreadsInUse() : undefined,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGiB: +(totalmem() / 2 ** 30).toFixed(1), node: process.version },
    runs: args.runs,
    attention: args.attention,
    // the SIMD kernels of src/backends/wasm_kernels.ts (wasm only)
    wasmKernels: backend.backend === 'wasm' ? wasmKernelsActive() : undefined,
    // Whether the wasm matMul kernels ran fused multiply-adds (SAM_TFJS_WASM_FMA).
    wasmMatMulFused: backend.backend === 'wasm' ? wasmMatMulFused() : undefined,
    // the layer-norm kernels of src/backends/webgpu_kernels.ts (webgpu only)
    webgpuKernels: backend.backend === 'webgpu' ? webgpuKernelsActive() : undefined,
    tfjsFlags: Object.keys(args.flags).length ? args.flags : undefined,
    buildAndRandomizeMs: Math.round(buildMs),
    encoder: {
      medianMs: Math.round(enc),
      runsMs: encoderMs.map(Math.round),
      gflop: +(flops.total / 1e9).toFixed(1),
      gflopPerSecond: +gflopPerSecond(enc).toFixed(1),
      // wasm: the SIMD ceiling (simd_peak.ts, every core; fused where the kernels fuse, else
      // multiply then add) measured just before each run, and the median of each
      // run's GFLOP/s as a share of it: comparable across the machine's drift.
      simdPeakGflopPerSecond: peaks.length ? peaks.map((p) => +p.toFixed(1)) : undefined,
      ofSimdPeak: ofPeaks.length ? +median(ofPeaks).toFixed(3) : undefined,
    },
    decoderPerPromptMs: { median: +median(decoderMs).toFixed(1), min: +Math.min(...decoderMs).toFixed(1), prompts: decoderMs.length, warmup: DECODER_WARMUP, originalSize },
    amg: amgMs.length ? { ms: Math.round(median(amgMs)), runsMs: amgMs.map(Math.round), masks: amgMasks, pointsPerSide: 32 } : undefined,
    peakRssMiB: Math.round(peakRss / 2 ** 20),
    // GPU backends: the most memory live tensors held, and the backend's buffers (its pool keeps freed ones).
    peakGpuMiB: rss.gpuAllocated > 0 ? { tensors: Math.round(rss.gpuInUse / 2 ** 20), buffers: Math.round(rss.gpuAllocated / 2 ** 20) } : undefined,
    // wasm's heap only grows, so its size now is its peak (the limit is 4096 MiB).
    wasmHeapMiB: backend.backend === 'wasm' ? Math.round(wasmHeapBytes() / 2 ** 20) : undefined,
    profile: profile ?? undefined,
  };
  model.dispose();
  console.log(JSON.stringify(result, null, 2));
  const out = args.json ?? join('bench', 'results', `${args.model}-${backend.backend}-${Date.now()}.json`);
  mkdirSync(join(out, '..'), { recursive: true });
  writeFileSync(out, JSON.stringify(result, null, 2));
  console.error(`written ${out}`);
}

// Not in simd_peak.ts's workers: bundled (scripts/portable_bundle.sh), they load this file.
if (isMainThread) {
  main().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
