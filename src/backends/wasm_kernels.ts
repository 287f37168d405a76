/**
 * SIMD kernels for tfjs-backend-wasm, run on its own memory (wasm_simd/kernels.wat).
 *
 * tfjs-wasm runs an elementwise expression one op per pass over memory, and some ops as
 * scalar loops: the exact GELU takes ~20 passes, a layer norm 7, the relative-position
 * adds of a global attention block are broadcast adds at ~1.5 ns an element, a 2-D
 * transpose costs ~7 ns an element, and the 25 small attention products of a head's windows
 * are 25 ops with splits and joins around them. These kernels do each in one vectorised pass
 * or call. They are registered as tfjs kernels of the 'wasm' backend ('SamGelu',
 * 'SamLayerNorm', 'SamRelPosAdd', 'SamSoftmax', 'SamAdd', 'SamTranspose2D', 'SamBatchMatMul',
 * 'SamMatMul', 'SamPackB', 'SamAttention', 'SamWindowPartition', 'SamWindowUnpartition', 'SamConcatColumns', 'SamSliceRows', 'SamHeadScores', 'SamHeadValues', 'SamAddLayerNorm'), so tidy, dispose, tf.memory and tf.profile see them as any other op.
 *
 * The module (~14 KB) is instantiated against the backend's WebAssembly.Memory (shared in the
 * threaded build), once per backend instance, in one of two variants: plain SIMD, or with the
 * matMuls' multiply-adds (and the polynomial steps of GELU and softmax's exp) fused through
 * relaxed SIMD (wasmMatMulFused). It runs on the calling
 * thread; in Node the matMuls and the large GELUs, layer norms, softmaxes and adds also on
 * helper threads (gemm_workers_node.ts). Where it cannot
 * run (no WebAssembly SIMD, a backend whose memory is not reachable) or is switched off
 * (SAM_TFJS_WASM_KERNELS=0, or setWasmKernelsEnabled(false)), the layers use tfjs ops; the
 * values agree to float rounding (test/wasm_kernels.test.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { decodeBase64, float32Bits, wasmFmaMode, wasmKernelsEnabled } from './simd_common.js';
import { KERNELS_PLAIN_MEMORY, KERNELS_PLAIN_MEMORY_FMA, KERNELS_SHARED_MEMORY, KERNELS_SHARED_MEMORY_FMA } from './wasm_simd/kernels_wasm.js';

interface KernelExports {
  gelu(x: number, y: number, n: number, scratch: number): void;
  rel_pos_add(s: number, h: number, w: number, out: number, rows: number, kh: number, kw: number): void;
  transpose2d(x: number, out: number, rows: number, cols: number): void;
  layer_norm(x: number, weight: number, bias: number, out: number, rows: number, cols: number, eps: number): void;
  add_layer_norm(x: number, y: number, weight: number, bias: number, out: number, rows: number, cols: number, eps: number): void;
  softmax_rows(x: number, h: number, w: number, out: number, rows: number, kh: number, kw: number, rel: number): void;
  add_rows(x: number, y: number, out: number, rows: number, cols: number, broadcast: number): void;
  gemm_batched(a: number, b: number, c: number, batch: number, m: number, n: number, k: number): void;
  gemm_packed(a: number, bp: number, bias: number, hasBias: number, c: number, i0: number, i1: number, n: number, k: number, mc: number, scratch: number, gw: number, slab: number): void;
  pack_b(b: number, out: number, k: number, n: number): void;
  pack_bt(bt: number, out: number, k: number, n: number): void;
  window_partition(x: number, out: number, b: number, h: number, w: number, c: number, ws: number): void;
  window_unpartition(win: number, out: number, b: number, h: number, w: number, c: number, ws: number): void;
  copy_columns(x: number, out: number, rows: number, cols: number, outCols: number, at: number): void;
  head_scores(a: number, tp: number, out: number, rows: number, d: number, hd: number, heads: number, n: number, np: number): void;
}

/** The parts of tfjs-wasm's BackendWasm these kernels use. */
interface WasmBackendLike {
  wasm: { wasmMemory?: WebAssembly.Memory; asm?: Record<string, unknown>; _malloc(bytes: number): number; _free(offset: number): void };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

export { setWasmFmaMode, setWasmKernelsEnabled, wasmFmaMode, type WasmFmaMode } from './simd_common.js';

/** An instance of the module on one backend's memory, with 48 bytes of that memory for its own use. */
interface Kernels {
  exports: KernelExports;
  scratch: number;
  /** SamMatMul's packed rows of A, one area per thread (see aScratchFor): byte offset and size of each area, 0 before the first. */
  aScratch: ScratchArea;
  /** SamAttention's block of scores and packed rows, one area per thread (grown by its kernel). */
  attentionScratch: ScratchArea;
  /** SamHeadScores' short side, per head transposed and padded (filled by the calling thread before a call's job). */
  headScratch: ScratchArea;
  module: WebAssembly.Module;
  /** Whether this is the variant with fused matMuls (relaxed SIMD). */
  fma: boolean;
}

/** Per-thread areas of the backend's heap: byte offset and size of each area, 0 before the first use. */
interface ScratchArea {
  offset: number;
  perThread: number;
  threads: number;
}

/** By backend instance (each has its own memory); null where the kernels cannot run. */
const instances = new WeakMap<object, Kernels | null>();

function memoryOf(backend: WasmBackendLike): WebAssembly.Memory | undefined {
  const m = backend.wasm?.wasmMemory;
  if (m instanceof WebAssembly.Memory) return m;
  return Object.values(backend.wasm?.asm ?? {}).find((v): v is WebAssembly.Memory => v instanceof WebAssembly.Memory);
}

type Memory = 'shared' | 'plain';
/** The module for a shared or a plain memory, each also with fused matMuls (relaxed SIMD). */
type Variant = Memory | `${Memory}-fma`;
const BINARIES: Record<Variant, string> = {
  shared: KERNELS_SHARED_MEMORY,
  plain: KERNELS_PLAIN_MEMORY,
  'shared-fma': KERNELS_SHARED_MEMORY_FMA,
  'plain-fma': KERNELS_PLAIN_MEMORY_FMA,
};
/**
 * Compiled modules (by prepareWasmKernels, or synchronously on first use); null: the engine
 * lacks SIMD. A variant needing relaxed SIMD the engine lacks is not remembered: V8's flag may
 * turn it on later (enableRelaxedSimd in wasm_threads_node.ts).
 */
const compiled = new Map<Variant, WebAssembly.Module | null>();
/** Variants whose synchronous compile was refused (a browser's main thread): prepareWasmKernels can still compile them. */
const refused = new Set<Variant>();

const isFma = (variant: Variant) => variant.endsWith('-fma');

/** Keeps a compile's result, but not a fused variant's null (see `compiled`). */
function remember(variant: Variant, module: WebAssembly.Module | null): void {
  if (module || !isFma(variant)) compiled.set(variant, module);
}

/**
 * Compiles the kernels ahead of use. selectBackend('wasm') calls it. Needed before
 * tf.setBackend('wasm') on a browser's main thread, where large synchronous compiles may be
 * refused (without it the layers use tfjs ops there). Never throws.
 */
export async function prepareWasmKernels(): Promise<void> {
  for (const variant of Object.keys(BINARIES) as Variant[]) {
    if (compiled.has(variant)) continue; // compiled, or known to need SIMD this engine lacks
    if (isFma(variant) && wasmFmaMode() === 'off') continue; // not used
    try {
      const bytes = decodeBase64(BINARIES[variant]);
      remember(variant, WebAssembly.validate(bytes) ? await WebAssembly.compile(bytes) : null);
      refused.delete(variant);
    } catch {
      // e.g. no shared memory in this page: that variant is not needed
    }
  }
}

function moduleFor(variant: Variant): WebAssembly.Module | null {
  const m = compiled.get(variant);
  if (m !== undefined) return m;
  if (refused.has(variant)) return null;
  try {
    const bytes = decodeBase64(BINARIES[variant]);
    const module = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null; // no SIMD: null
    remember(variant, module);
    return module;
  } catch {
    refused.add(variant);
    return null;
  }
}

/**
 * Whether this engine has relaxed SIMD, so that the kernels can run with fused matMuls.
 * In Node 20 it needs V8's flag (see enableRelaxedSimd in wasm_threads_node.ts); Node 22+,
 * Chrome and Edge 114+ have it.
 */
export function relaxedSimdAvailable(): boolean {
  return moduleFor('plain-fma') !== null;
}

let fusesHere: boolean | undefined;

/**
 * Whether relaxed SIMD's multiply-add is fused on this machine (one rounding): the engine
 * may run it as a multiply then an add, e.g. on a CPU without FMA. Found by running the
 * fused panel on a product whose two roundings differ: (1 + 2^-12)^2 - (1 + 2^-11) is 2^-24
 * exactly, 0 once the product is rounded. False without relaxed SIMD.
 */
export function relaxedMaddFuses(): boolean {
  if (fusesHere !== undefined) return fusesHere;
  const module = moduleFor('plain-fma');
  if (!module) return false; // not remembered: relaxed SIMD may be turned on later
  const memory = new WebAssembly.Memory({ initial: 1 });
  const k = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as KernelExports;
  const f = new Float32Array(memory.buffer);
  const x = 1 + 2 ** -12;
  // floats: a [1, 1] at 0, packed b [1, 1, 8] at 16, bias [8] at 32, out [1, 8] at 48
  f[0] = x;
  f.fill(x, 16, 24);
  f.fill(-(1 + 2 ** -11), 32, 40);
  k.gemm_packed(0, 64, 128, 1, 192, 0, 1, 8, 1, 64, 0, 8, 0);
  fusesHere = f[48] === 2 ** -24;
  return fusesHere;
}

/** The kernels for this backend instance, or null where they cannot run (or cannot yet). */
function exportsFor(backend: WasmBackendLike): Kernels | null {
  let k = instances.get(backend);
  if (k !== undefined) return k;
  const memory = memoryOf(backend);
  const kind: Memory = typeof SharedArrayBuffer !== 'undefined' && memory?.buffer instanceof SharedArrayBuffer ? 'shared' : 'plain';
  const fmaModule = memory && wasmFmaMode() !== 'off' ? moduleFor(`${kind}-fma`) : null;
  const module = fmaModule ?? (memory ? moduleFor(kind) : null);
  if (!module && refused.has(kind)) return null; // not remembered: prepareWasmKernels may compile it later
  k = null;
  try {
    if (memory && module) {
      const instance = new WebAssembly.Instance(module, { env: { memory } });
      // Allocated once per backend instance and never freed (it lives as long as the memory).
      k = { exports: instance.exports as unknown as KernelExports, scratch: backend.wasm._malloc(48), aScratch: noScratch(), attentionScratch: noScratch(), headScratch: noScratch(), module, fma: module === fmaModule };
    }
  } catch {
    k = null; // a memory the module cannot import: tfjs ops instead
  }
  instances.set(backend, k);
  return k;
}

/**
 * The kernels run on one thread. Against tfjs ops that XNNPACK spreads over its thread pool
 * (the relative-position adds, the windows' products) they were measured faster with up to 2
 * threads (bench/wasm_kernels.ts: 10.2 against 14.0 ms and 5.0 against 11.2 ms on 2 threads;
 * tfjs's took 24.0 and 18.9 ms on 1). With more threads tfjs's may win, so those two are used
 * only up to this many; GELU, layer norm and transpose (4x or more ahead) always.
 */
export const KERNEL_OVER_THREADED_OPS_MAX_THREADS = 2;

/** Threads of the active wasm backend's pool (1 for a single-threaded build, or before it starts). */
export function wasmThreadsInUse(): number {
  try {
    return getThreadsCount();
  } catch {
    return 1; // not started yet
  }
}

/** Whether the kernels that compete with tfjs's threaded ops run here (wasmKernelsActive, and few threads). */
export function threadCompetingKernelsActive(): boolean {
  return wasmKernelsActive() && wasmThreadsInUse() <= KERNEL_OVER_THREADED_OPS_MAX_THREADS;
}

/**
 * Whether the matMul kernels (SamMatMul, SamBatchMatMul) on the current backend run fused
 * multiply-adds: the kernels' variant with relaxed SIMD (chosen where the engine has it,
 * unless SAM_TFJS_WASM_FMA=0) on a CPU that fuses them. Their values are then the in-order
 * fused sums, no longer tfjs-wasm's bit for bit.
 */
export function wasmMatMulFused(): boolean {
  if (!wasmKernelsActive()) return false;
  return exportsFor(tf.backend() as unknown as WasmBackendLike)!.fma && relaxedMaddFuses();
}

/**
 * Whether the kernels can run on a shared memory (tfjs's threaded build) once it starts:
 * switched on, and the engine compiles them (SIMD). Decides, before the backend starts,
 * whether helper threads will share its work (wasm_threads_node.ts).
 */
export function sharedKernelsAvailable(): boolean {
  return wasmKernelsEnabled() && moduleFor('shared') !== null;
}

/** Whether the kernels run for the current backend (wasm, SIMD, not switched off). */
export function wasmKernelsActive(): boolean {
  if (!wasmKernelsEnabled() || tf.getBackend() !== 'wasm') return false;
  return exportsFor(tf.backend() as unknown as WasmBackendLike) !== null;
}

function offsetOf(backend: WasmBackendLike, t: tf.TensorInfo): number {
  const d = backend.dataIdMap.get(t.dataId);
  if (!d) throw new Error(`wasm kernels: tensor data not found on the wasm backend`);
  return d.memoryOffset;
}

function requireFloat32(kernel: string, ...ts: tf.TensorInfo[]): void {
  for (const t of ts) if (t.dtype !== 'float32') throw new Error(`${kernel}: expected float32 tensors, got ${t.dtype}`);
}

type Inputs = Record<string, tf.TensorInfo>;
type KernelFunc = (args: { inputs: Inputs; backend: unknown; attrs?: tf.NamedAttrMap }) => tf.TensorInfo;

function register(kernelName: string, run: (k: Kernels, backend: WasmBackendLike, inputs: Inputs, attrs: tf.NamedAttrMap) => tf.TensorInfo): void {
  if (tf.getKernel(kernelName, 'wasm')) return; // a second copy of this module
  const kernelFunc: KernelFunc = ({ inputs, backend, attrs }) => {
    const b = backend as WasmBackendLike;
    const k = exportsFor(b);
    if (!k) throw new Error(`${kernelName}: the SIMD kernels cannot run on this wasm backend`);
    return run(k, b, inputs, attrs ?? {});
  };
  tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as unknown as tf.KernelFunc });
}

const size = tf.util.sizeFromShape;

// Each kernel checks its inputs before it allocates: the module trusts the sizes it is given.
const json = (shape: number[]) => JSON.stringify(shape);

register('SamGelu', (k, b, { x }) => {
  requireFloat32('SamGelu', x);
  const out = b.makeOutput(x.shape, 'float32');
  const n = size(x.shape);
  if (n === 0) return out;
  const [xo, yo] = [offsetOf(b, x), offsetOf(b, out)];
  const helpers = gemmHelpers.get(b);
  if (!helpers || n < ELEMENTWISE_SPLIT_MIN) {
    k.exports.gelu(xo, yo, n, k.scratch);
    return out;
  }
  // The helpers take whole groups of 12 values; the tail (and its scratch) stays here.
  const whole = n - (n % 12);
  helpers.run(JOB_GELU, [xo, yo, whole, ELEMENTWISE_BLOCK], k.exports, gemmCallerJoins);
  if (whole < n) k.exports.gelu(xo + whole * 4, yo + whole * 4, n - whole, k.scratch);
  return out;
});

register('SamLayerNorm', (k, b, { x, weight, bias }, attrs) => {
  requireFloat32('SamLayerNorm', x, weight, bias);
  const cols = x.shape[x.shape.length - 1] ?? 0;
  if (x.shape.length === 0 || size(weight.shape) !== cols || size(bias.shape) !== cols) {
    throw new Error(`SamLayerNorm: weight and bias need ${cols} values each (the last axis of x ${json(x.shape)}), got ${json(weight.shape)} and ${json(bias.shape)}`);
  }
  const out = b.makeOutput(x.shape, 'float32');
  const rows = cols > 0 ? size(x.shape) / cols : 0;
  if (rows * cols === 0) return out;
  const args = [offsetOf(b, x), offsetOf(b, weight), offsetOf(b, bias), offsetOf(b, out), rows, cols] as const;
  byRows(k, b, JOB_LAYER_NORM, [...args, float32Bits(attrs.eps as number)], rows, cols, () => k.exports.layer_norm(...args, attrs.eps as number));
  return out;
});

register('SamAddLayerNorm', (k, b, { x, y, weight, bias }, attrs) => {
  requireFloat32('SamAddLayerNorm', x, y, weight, bias);
  const cols = x.shape[x.shape.length - 1] ?? 0;
  if (x.shape.length === 0 || json(y.shape) !== json(x.shape) || size(weight.shape) !== cols || size(bias.shape) !== cols) {
    throw new Error(`SamAddLayerNorm: x ${json(x.shape)} and y ${json(y.shape)} must have one shape, and weight and bias its last axis' ${cols} values each, got ${json(weight.shape)} and ${json(bias.shape)}`);
  }
  const out = b.makeOutput(x.shape, 'float32');
  const rows = cols > 0 ? size(x.shape) / cols : 0;
  if (rows * cols === 0) return out;
  const args = [offsetOf(b, x), offsetOf(b, y), offsetOf(b, weight), offsetOf(b, bias), offsetOf(b, out), rows, cols] as const;
  byRows(k, b, JOB_ADD_LAYER_NORM, [...args, float32Bits(attrs.eps as number)], rows, cols, () => k.exports.add_layer_norm(...args, attrs.eps as number));
  return out;
});

register('SamRelPosAdd', (k, b, { scores, relH, relW }) => {
  requireFloat32('SamRelPosAdd', scores, relH, relW);
  const [rows, kh] = relH.shape;
  const [rowsW, kw] = relW.shape;
  if (relH.shape.length !== 2 || relW.shape.length !== 2 || rows !== rowsW || size(scores.shape) !== rows * kh * kw || scores.shape[scores.shape.length - 1] !== kh * kw) {
    throw new Error(`SamRelPosAdd: scores ${json(scores.shape)} do not match relH ${json(relH.shape)} and relW ${json(relW.shape)} (scores [..., kh * kw], R rows in all; relH [R, kh]; relW [R, kw])`);
  }
  const out = b.makeOutput(scores.shape, 'float32');
  if (rows * kh * kw === 0) return out;
  const args = [offsetOf(b, scores), offsetOf(b, relH), offsetOf(b, relW), offsetOf(b, out), rows, kh, kw] as const;
  byRows(k, b, JOB_REL_POS_ADD, args, rows, kh * kw, () => k.exports.rel_pos_add(...args));
  return out;
});

register('SamSoftmax', (k, b, { x, relH, relW }) => {
  const rel = relH !== undefined && relW !== undefined;
  requireFloat32('SamSoftmax', x, ...(rel ? [relH, relW] : []));
  const n = x.shape[x.shape.length - 1] ?? 0;
  const rows = n > 0 ? size(x.shape) / n : 0;
  const [kh, kw] = rel ? [relH.shape[1], relW.shape[1]] : [1, n];
  if (x.shape.length === 0 || (relH === undefined) !== (relW === undefined) || (rel && (relH.shape.length !== 2 || relW.shape.length !== 2 || relH.shape[0] !== rows || relW.shape[0] !== rows || kh * kw !== n))) {
    throw new Error(`SamSoftmax: x ${json(x.shape)} does not match relH ${rel ? json(relH.shape) : '-'} and relW ${rel ? json(relW.shape) : '-'} (x [..., kh * kw], R rows in all; relH [R, kh]; relW [R, kw]; both or neither)`);
  }
  const out = b.makeOutput(x.shape, 'float32');
  if (rows * n === 0) return out;
  const args = [offsetOf(b, x), rel ? offsetOf(b, relH) : 0, rel ? offsetOf(b, relW) : 0, offsetOf(b, out), rows, kh, kw, rel ? 1 : 0] as const;
  byRows(k, b, JOB_SOFTMAX, args, rows, n, () => k.exports.softmax_rows(...args));
  return out;
});

register('SamAdd', (k, b, { a, b: y }) => {
  requireFloat32('SamAdd', a, y);
  const cols = a.shape[a.shape.length - 1] ?? 1;
  const broadcast = y.shape.length === 1 && y.shape[0] === cols && json(y.shape) !== json(a.shape);
  if (!broadcast && json(y.shape) !== json(a.shape)) {
    throw new Error(`SamAdd: b ${json(y.shape)} is neither a's shape ${json(a.shape)} nor [${cols}] (a's last axis)`);
  }
  const out = b.makeOutput(a.shape, 'float32');
  const n = size(a.shape);
  if (n === 0) return out;
  const rows = n / cols;
  const args = [offsetOf(b, a), offsetOf(b, y), offsetOf(b, out), rows, cols, broadcast ? 1 : 0] as const;
  byRows(k, b, JOB_ADD, args, rows, cols, () => k.exports.add_rows(...args));
  return out;
});

register('SamTranspose2D', (k, b, { x }) => {
  requireFloat32('SamTranspose2D', x);
  if (x.shape.length !== 2 && x.shape.length !== 3) throw new Error(`SamTranspose2D: expected a 2-D tensor or a batch of them, got shape ${json(x.shape)}`);
  // [rows, cols] or a batch of them, [batch, rows, cols]
  const [batch, rows, cols] = x.shape.length === 3 ? x.shape : [1, ...x.shape];
  const out = b.makeOutput(x.shape.length === 3 ? [batch, cols, rows] : [cols, rows], 'float32');
  const [xo, oo] = [offsetOf(b, x), offsetOf(b, out)];
  for (let i = 0; i < batch && rows * cols > 0; i++) k.exports.transpose2d(xo + i * rows * cols * 4, oo + i * rows * cols * 4, rows, cols);
  return out;
});

register('SamWindowPartition', (k, b, { x }, attrs) => {
  requireFloat32('SamWindowPartition', x);
  const ws = attrs.windowSize as number;
  if (x.shape.length !== 4 || !(Number.isInteger(ws) && ws > 0)) throw new Error(`SamWindowPartition: expected x [B, H, W, C] and a window size >= 1, got ${json(x.shape)} and ${ws}`);
  const [bb, h, w, c] = x.shape;
  const windows = bb * Math.ceil(h / ws) * Math.ceil(w / ws);
  const out = b.makeOutput([windows, ws, ws, c], 'float32');
  if (windows * c > 0) k.exports.window_partition(offsetOf(b, x), offsetOf(b, out), bb, h, w, c, ws);
  return out;
});

register('SamWindowUnpartition', (k, b, { windows }, attrs) => {
  requireFloat32('SamWindowUnpartition', windows);
  const [ws, h, w] = [attrs.windowSize, attrs.height, attrs.width] as number[];
  const [n, s1, s2, c] = windows.shape;
  const per = Math.ceil(h / ws) * Math.ceil(w / ws);
  if (windows.shape.length !== 4 || s1 !== ws || s2 !== ws || !(h > 0 && w > 0) || n % per !== 0) {
    throw new Error(`SamWindowUnpartition: windows ${json(windows.shape)} are not the windows of size ${ws} of [B, ${h}, ${w}, C] images`);
  }
  const out = b.makeOutput([n / per, h, w, c], 'float32');
  if (n * c > 0) k.exports.window_unpartition(offsetOf(b, windows), offsetOf(b, out), n / per, h, w, c, ws);
  return out;
});

register('SamSliceRows', (k, b, { x }, attrs) => {
  requireFloat32('SamSliceRows', x);
  const { begin, size: rows } = attrs as unknown as { begin: number; size: number };
  const n = x.shape[0];
  if (x.shape.length === 0 || !Number.isInteger(begin) || !Number.isInteger(rows) || begin < 0 || rows < 0 || begin + rows > n!) {
    throw new Error(`SamSliceRows: rows [${begin}, ${begin + rows}) are not rows of ${json(x.shape)}`);
  }
  const row = size(x.shape.slice(1));
  const out = b.makeOutput([rows, ...x.shape.slice(1)], 'float32');
  if (rows * row > 0) k.exports.copy_columns(offsetOf(b, x) + begin * row * 4, offsetOf(b, out), 1, rows * row, rows * row, 0);
  return out;
});

register('SamHeadScores', (k, b, { a, t }, attrs) => {
  requireFloat32('SamHeadScores', a, t);
  const heads = attrs.heads as number;
  const [rows, d] = a.shape;
  const [n, dt] = t.shape;
  if (a.shape.length !== 2 || t.shape.length !== 2 || d !== dt || !Number.isInteger(heads) || heads < 1 || d % heads !== 0) {
    throw new Error(`SamHeadScores: a ${json(a.shape)} and t ${json(t.shape)} with ${heads} heads do not make every head's scores (a [rows, d], t [n, d], heads dividing d)`);
  }
  const hd = d / heads;
  const np = Math.ceil(n / 8) * 8;
  // t per head in groups of 8 columns, zero-padded: tp[h, g, j, e] = t[8 g + e, h hd + j] (8 g + e < n)
  const tp = rows * n === 0 ? 0 : grow(k.headScratch, b, heads * hd * np * 4, 1);
  if (rows * n > 0 && !tp) throw new Error(`SamHeadScores: the wasm heap has no room for ${heads * hd * np * 4} bytes; dispose tensors, or use smaller inputs`);
  const out = b.makeOutput([rows, heads * n], 'float32');
  if (rows * n === 0) return out;
  const heap = new Float32Array(memoryOf(b)!.buffer);
  const [to, po] = [offsetOf(b, t) / 4, tp / 4];
  heap.fill(0, po, po + heads * hd * np);
  for (let c = 0; c < n; c++)
    for (let h = 0; h < heads; h++)
      for (let j = 0; j < hd; j++) heap[po + ((h * (np / 8) + (c >> 3)) * hd + j) * 8 + (c & 7)] = heap[to + c * d + h * hd + j];
  const args = [offsetOf(b, a), tp, offsetOf(b, out), rows, d, hd, heads, n, np] as const;
  byRows(k, b, JOB_HEAD_SCORES, args, rows, heads * n, () => k.exports.head_scores(...args));
  return out;
});

register('SamHeadValues', (k, b, { a, packed }, attrs) => {
  requireFloat32('SamHeadValues', a, packed);
  const heads = attrs.heads as number;
  const [rows, kk] = a.shape;
  const d = packed.shape[0] * 8;
  const hd = d / heads;
  if (a.shape.length !== 2 || packed.shape.length !== 3 || packed.shape[1] !== kk || packed.shape[2] !== 8 || !Number.isInteger(heads) || heads < 1 || rows % heads !== 0 || hd % 8 !== 0) {
    throw new Error(`SamHeadValues: a ${json(a.shape)} and packed ${json(packed.shape)} with ${heads} heads do not make every head's products (a [heads * n, k]; b [k, d] packed [d / 8, k, 8]; d / heads a multiple of 8)`);
  }
  const n = rows / heads;
  const out = b.makeOutput([heads, n, hd], 'float32');
  if (n * hd === 0) return out;
  const [ao, po, oo] = [offsetOf(b, a), offsetOf(b, packed), offsetOf(b, out)];
  // head h: its n rows of a times its hd / 8 panels of b (columns h hd ... of b)
  for (let h = 0; h < heads; h++) k.exports.gemm_packed(ao + h * n * kk * 4, po + h * hd * kk * 4, 0, 0, oo + h * n * hd * 4, 0, n, hd, kk, GEMM_ROW_BLOCK, 0, hd, 0);
  return out;
});

register('SamConcatColumns', (k, b, inputs) => {
  const xs = Object.keys(inputs).sort((p, q) => Number(p.slice(1)) - Number(q.slice(1))).map((name) => inputs[name]);
  requireFloat32('SamConcatColumns', ...xs);
  const rows = xs[0]?.shape[0];
  if (xs.length === 0 || xs.some((x) => x.shape.length !== 2 || x.shape[0] !== rows)) {
    throw new Error(`SamConcatColumns: expected 2-D tensors with the same rows, got ${xs.map((x) => json(x.shape)).join(', ')}`);
  }
  const outCols = xs.reduce((sum, x) => sum + x.shape[1], 0);
  const out = b.makeOutput([rows, outCols], 'float32');
  let at = 0;
  for (const x of xs) {
    if (rows * x.shape[1] > 0) k.exports.copy_columns(offsetOf(b, x), offsetOf(b, out), rows, x.shape[1], outCols, at);
    at += x.shape[1];
  }
  return out;
});

register('SamBatchMatMul', (k, b, { a, b: bm }) => {
  requireFloat32('SamBatchMatMul', a, bm);
  if (a.shape.length !== 3 || bm.shape.length !== 3 || a.shape[0] !== bm.shape[0] || a.shape[2] !== bm.shape[1]) {
    throw new Error(`SamBatchMatMul: shapes ${json(a.shape)} x ${json(bm.shape)} do not make a batch of products [B, M, K] x [B, K, N]`);
  }
  const [batch, m, kk] = a.shape;
  const n = bm.shape[2];
  const out = b.makeOutput([batch, m, n], 'float32');
  if (batch * m * n === 0) return out;
  const args: HelperJobArgs = [offsetOf(b, a), offsetOf(b, bm), offsetOf(b, out), batch, m, n, kk, 1];
  const helpers = gemmHelpers.get(b);
  if (!helpers || batch < 2 || batch * m * n * kk < GEMM_SPLIT_MIN_WORK) k.exports.gemm_batched(args[0], args[1], args[2], batch, m, n, kk);
  else helpers.run(JOB_BATCH, args, k.exports, gemmCallerJoins);
  return out;
});

/**
 * GELU, layer norm, the relative-position adds, softmax and adds go to the helper threads from this many
 * values, in blocks of about ELEMENTWISE_BLOCK values (whole rows; a multiple of 12 for GELU).
 * 2 threads against the calling thread alone (`node dist/bench/wasm_kernels.js`, this build
 * and the one before, alternately, twice; best / median of 7): GELU of 2.1M values 3.2 / 3.4
 * and 3.3 / 3.3 ms against 6.8 / 7.0 and 6.3 / 6.6; layer norm [4096, 768] 1.6 / 1.8 and
 * 1.8 / 1.9 against 3.2 / 3.3 and 2.9 / 3.2; the relative-position adds [4096, 64, 64] (bound
 * by memory) 6.1 / 6.4 and 6.5 / 7.9 against 8.7 / 9.6 and 9.0 / 9.5.
 */
export const ELEMENTWISE_SPLIT_MIN = 2 ** 16;
const ELEMENTWISE_BLOCK = 12 * 2048;

/**
 * A row-wise kernel's call (`rows` rows of `cols` values): shared with the helper threads as
 * job `kind` (`args` and then the rows per block) from ELEMENTWISE_SPLIT_MIN values and 2
 * rows, else `here` on the calling thread.
 */
function byRows(k: Kernels, b: WasmBackendLike, kind: HelperJobKind, args: readonly number[], rows: number, cols: number, here: () => void): void {
  const helpers = gemmHelpers.get(b);
  if (!helpers || rows * cols < ELEMENTWISE_SPLIT_MIN || rows < 2) here();
  else helpers.run(kind, [...args, Math.max(1, Math.floor(ELEMENTWISE_BLOCK / cols))], k.exports, gemmCallerJoins);
}


/** Rows of A a block of gemm_packed keeps in cache (A's block: mc x k floats); a multiple of its 6-row tiles. */
const GEMM_ROW_BLOCK = 60;

register('SamPackB', (k, b, { x }, attrs) => {
  requireFloat32('SamPackB', x);
  const transposed = attrs.transposed === true;
  // x: B [k, n], or Bᵀ [n, k] when transposed
  const [kk, n] = transposed ? [x.shape[1], x.shape[0]] : [x.shape[0], x.shape[1]];
  if (x.shape.length !== 2 || n % 8 !== 0) throw new Error(`SamPackB: expected a 2-D ${transposed ? '[n, k]' : '[k, n]'} tensor with n a multiple of 8, got ${json(x.shape)}`);
  const out = b.makeOutput([n / 8, kk, 8], 'float32');
  if (n * kk > 0) (transposed ? k.exports.pack_bt : k.exports.pack_b)(offsetOf(b, x), offsetOf(b, out), kk, n);
  return out;
});

/**
 * gemm_packed's arguments and the packed rows' scratch: [a, bp, bias, hasBias, c, i0, i1, n,
 * k, mc, scratch, gw, slab, per-thread scratch bytes]; thread t packs into scratch + t * that
 * (no packing where scratch is 0); C's columns in groups of gw, slab bytes apart (gw = n:
 * one [m, n] matrix).
 */
export type GemmRowsArgs = [number, number, number, number, number, number, number, number, number, number, number, number, number, number];

/** Jobs the helper threads run, in blocks claimed one at a time (see runHelperBlock). */
export const JOB_ROWS = 0; // SamMatMul: GemmRowsArgs, blocks of mc rows of [i0, i1)
export const JOB_BATCH = 1; // SamBatchMatMul: gemm_batched's [a, b, c, batch, m, n, k] and the products per block
export const JOB_GELU = 2; // SamGelu: [x, y, n, per], n and per multiples of 12, blocks of per values
export const JOB_LAYER_NORM = 3; // SamLayerNorm: [x, weight, bias, out, rows, cols, eps (float32 bits), per], blocks of per rows
export const JOB_REL_POS_ADD = 4; // SamRelPosAdd: [s, h, w, out, rows, kh, kw, per], blocks of per rows
export const JOB_SOFTMAX = 5; // SamSoftmax: [x, h, w, out, rows, kh, kw, rel, per], blocks of per rows
export const JOB_ADD = 6; // SamAdd: [x, y, out, rows, cols, broadcast, per], blocks of per rows
export const JOB_ATTENTION = 7; // SamAttention: AttentionArgs, blocks of mb rows
export const JOB_HEAD_SCORES = 8; // SamHeadScores: [a, tp, out, rows, d, hd, heads, n, np, per], blocks of per rows
export const JOB_ADD_LAYER_NORM = 9; // SamAddLayerNorm: [x, y, weight, bias, out, rows, cols, eps (float32 bits), per], blocks of per rows
export type HelperJobKind =
  | typeof JOB_ROWS
  | typeof JOB_BATCH
  | typeof JOB_GELU
  | typeof JOB_LAYER_NORM
  | typeof JOB_REL_POS_ADD
  | typeof JOB_SOFTMAX
  | typeof JOB_ADD
  | typeof JOB_ATTENTION
  | typeof JOB_HEAD_SCORES
  | typeof JOB_ADD_LAYER_NORM;
/** A job's arguments (at most 14 int32 values; byte offsets wrap to int32 as wasm reads them). */
export type HelperJobArgs = number[];
/** The exports a helper job calls. */
export type HelperKernels = Pick<KernelExports, 'gemm_packed' | 'gemm_batched' | 'gelu' | 'layer_norm' | 'rel_pos_add' | 'softmax_rows' | 'add_rows' | 'head_scores' | 'add_layer_norm'>;

/**
 * Runs block `block` of the job described in `job` ([next block, kind, ...arguments]) with the
 * kernels' exports `k` on thread `thread` (0 the calling thread, 1... the helpers: whose
 * scratch to use); returns false when the job has no such block. The helper threads
 * evaluate this function's source (gemm_workers_node.ts), so it uses nothing from outside:
 * the job kinds are written as numbers (JOB_ROWS 0 ... JOB_ADD_LAYER_NORM 9).
 */
export function runHelperBlock(k: HelperKernels, job: Int32Array, block: number, thread: number): boolean {
  const kind = job[1];
  if (kind === 0) {
    const [a, bp, bias, hasBias, c, i0, i1, n, kk, mc, scratch, gw, slab, perThread] = job.subarray(2, 16);
    const i = i0 + block * mc;
    if (i >= i1) return false;
    k.gemm_packed(a, bp, bias, hasBias, c, i, Math.min(i1, i + mc), n, kk, mc, scratch === 0 ? 0 : scratch + thread * perThread, gw, slab);
    return true;
  }
  if (kind === 1) {
    const [a, b, c, batch, m, n, kk, per] = job.subarray(2, 10);
    const first = block * per;
    if (first >= batch) return false;
    k.gemm_batched(a + first * m * kk * 4, b + first * kk * n * 4, c + first * m * n * 4, Math.min(per, batch - first), m, n, kk);
    return true;
  }
  if (kind === 2) {
    // whole groups of 12 only: the scratch (for a tail) is the calling thread's
    const [x, y, n, per] = job.subarray(2, 6);
    const first = block * per;
    if (first >= n) return false;
    k.gelu(x + first * 4, y + first * 4, Math.min(per, n - first), 0);
    return true;
  }
  if (kind === 3) {
    const [x, weight, bias, out, rows, cols, , per] = job.subarray(2, 10);
    const first = block * per;
    if (first >= rows) return false;
    const eps = new Float32Array(job.buffer, job.byteOffset + 8 * 4, 1)[0];
    k.layer_norm(x + first * cols * 4, weight, bias, out + first * cols * 4, Math.min(per, rows - first), cols, eps);
    return true;
  }
  if (kind === 4) {
    const [s, h, w, out, rows, kh, kw, per] = job.subarray(2, 10);
    const first = block * per;
    if (first >= rows) return false;
    k.rel_pos_add(s + first * kh * kw * 4, h + first * kh * 4, w + first * kw * 4, out + first * kh * kw * 4, Math.min(per, rows - first), kh, kw);
    return true;
  }
  if (kind === 5) {
    const [x, h, w, out, rows, kh, kw, rel, per] = job.subarray(2, 11);
    const first = block * per;
    if (first >= rows) return false;
    k.softmax_rows(x + first * kh * kw * 4, h + first * kh * 4, w + first * kw * 4, out + first * kh * kw * 4, Math.min(per, rows - first), kh, kw, rel);
    return true;
  }
  if (kind === 6) {
    const [x, y, out, rows, cols, broadcast, per] = job.subarray(2, 9);
    const first = block * per;
    if (first >= rows) return false;
    k.add_rows(x + first * cols * 4, broadcast ? y : y + first * cols * 4, out + first * cols * 4, Math.min(per, rows - first), cols, broadcast);
    return true;
  }
  if (kind === 8) {
    const [a, tp, out, rows, d, hd, heads, n, np, per] = job.subarray(2, 12);
    const first = block * per;
    if (first >= rows) return false;
    k.head_scores(a + first * d * 4, tp, out + first * heads * n * 4, Math.min(per, rows - first), d, hd, heads, n, np);
    return true;
  }
  if (kind === 9) {
    const [x, y, weight, bias, out, rows, cols, , per] = job.subarray(2, 11);
    const first = block * per;
    if (first >= rows) return false;
    const eps = new Float32Array(job.buffer, job.byteOffset + 9 * 4, 1)[0];
    k.add_layer_norm(x + first * cols * 4, y + first * cols * 4, weight, bias, out + first * cols * 4, Math.min(per, rows - first), cols, eps);
    return true;
  }
  if (kind !== 7) return false; // no such job kind
  // rows [i, i + rows) of softmax(q kᵀ (+ rel)) v, through this thread's block of scores s
  const [q, kp, vp, h, w, o, nq, d, kh, kw, mb, scratch, perThread, flags] = job.subarray(2, 16);
  const i = block * mb;
  if (i >= nq) return false;
  const rows = Math.min(mb, nq - i);
  const nk = kh * kw;
  const s = scratch + thread * perThread;
  const pack = s + mb * nk * 4; // packed rows of A, for either product
  const rel = flags & 1;
  k.gemm_packed(q + i * d * 4, kp, 0, 0, s, 0, rows, nk, d, rows, flags & 2 ? pack : 0, nk, 0);
  k.softmax_rows(s, rel ? h + i * kh * 4 : 0, rel ? w + i * kw * 4 : 0, s, rows, kh, kw, rel);
  k.gemm_packed(s, vp, 0, 0, o + i * d * 4, 0, rows, d, nk, rows, flags & 4 ? pack : 0, d, 0);
  return true;
}

/**
 * Threads that run blocks of the kernels' jobs (SamMatMul's rows, SamBatchMatMul's products,
 * the elementwise kernels' values) besides the calling thread, on the same memory (in Node:
 * gemm_workers_node.ts). tfjs-wasm's own pool
 * cannot run our code, and it is idle while a kernel of ours runs, so these threads use the
 * cores it leaves free.
 */
export interface GemmHelpers {
  readonly count: number;
  /**
   * Runs a job in blocks that the helpers and, when `callerJoins`, the calling thread (with
   * `kernels`) claim one at a time (runHelperBlock); returns when all are done. Throws if a
   * helper failed.
   */
  run(kind: HelperJobKind, args: HelperJobArgs, kernels: HelperKernels, callerJoins: boolean): void;
  /** Blocks the helpers have run since they started (for tests and benchmarks). */
  blocksRun(): number;
}

const gemmHelpers = new WeakMap<object, GemmHelpers>();

/** The compiled module and the shared memory of a backend's kernels, for helper threads; null where the memory is not shared. */
export function sharedKernelsOf(backend: object): { module: WebAssembly.Module; memory: WebAssembly.Memory } | null {
  const b = backend as WasmBackendLike;
  const memory = memoryOf(b);
  if (!memory || typeof SharedArrayBuffer === 'undefined' || !(memory.buffer instanceof SharedArrayBuffer)) return null;
  const k = exportsFor(b);
  return k ? { module: k.module, memory } : null;
}

/** Lets the kernels on this backend share their work with `helpers` (null: the calling thread alone). */
export function setGemmHelpers(backend: object, helpers: GemmHelpers | null): void {
  if (helpers) gemmHelpers.set(backend, helpers);
  else gemmHelpers.delete(backend);
}

/** Helper threads the kernels use on the active backend (0 outside wasm). */
export function gemmHelperThreads(): number {
  return tf.getBackend() === 'wasm' ? (gemmHelpers.get(tf.backend())?.count ?? 0) : 0;
}

/** Products smaller than this (m * n * k, summed over a batch) stay on the calling thread: waking a helper costs more. */
const GEMM_SPLIT_MIN_WORK = 2 ** 21;

register('SamMatMul', (k, b, { a, packed, bias }, attrs) => {
  requireFloat32('SamMatMul', a, packed, ...(bias ? [bias] : []));
  const [m, kk] = a.shape;
  const [panels, pk] = packed.shape;
  const n = panels * 8;
  const groups = (attrs.groups as number | undefined) ?? 1;
  if (a.shape.length !== 2 || packed.shape.length !== 3 || packed.shape[2] !== 8 || pk !== kk || (bias && size(bias.shape) !== n)) {
    throw new Error(`SamMatMul: shapes ${json(a.shape)} x packed ${json(packed.shape)}${bias ? ` + bias ${json(bias.shape)}` : ''} do not make a product [m, k] x [n / 8, k, 8] (+ [n])`);
  }
  if (!Number.isInteger(groups) || groups < 1 || n % groups !== 0 || (n / groups) % 8 !== 0) {
    throw new Error(`SamMatMul: ${n} columns do not split into ${groups} groups of a multiple of 8 columns`);
  }
  const gw = n / groups;
  const out = b.makeOutput(groups === 1 ? [m, n] : [groups, m, gw], 'float32');
  if (m * n === 0) return out;
  const helpers = gemmHelpers.get(b);
  const split = helpers !== undefined && m * n * kk >= GEMM_SPLIT_MIN_WORK && m >= 12;
  const [scratch, perThread] = aScratchFor(k, b, kk, n, split ? helpers.count + 1 : 1);
  // Up to two blocks' rows (the decoder's [56, 4096] x [4096, 256]) are shared out in smaller
  // blocks of whole tiles (6 rows packed, else 4), one per thread, rather than left to one thread.
  const tile = scratch ? 6 : 4;
  const mc = split && m <= GEMM_ROW_BLOCK * 2 ? Math.min(GEMM_ROW_BLOCK, Math.ceil(m / (helpers.count + 1) / tile) * tile) : GEMM_ROW_BLOCK;
  const args: GemmRowsArgs = [offsetOf(b, a), offsetOf(b, packed), bias ? offsetOf(b, bias) : 0, bias ? 1 : 0, offsetOf(b, out), 0, m, n, kk, mc, scratch, gw, m * gw * 4, perThread];
  if (!split) k.exports.gemm_packed(...(args.slice(0, 13) as Parameters<KernelExports['gemm_packed']>));
  else helpers.run(JOB_ROWS, args, k.exports, gemmCallerJoins);
  return out;
});

/**
 * SamAttention's arguments: [q, kPacked, vPacked, relH, relW, out, nq, d, kh, kw, mb, scratch,
 * per-thread scratch bytes, flags (1: relative-position terms, 2 and 4: the rows of A packed
 * for the first and the second product)]; the keys are kh x kw.
 */
export type AttentionArgs = [number, number, number, number, number, number, number, number, number, number, number, number, number, number];

/**
 * Rows of queries SamAttention takes at a time: their scores ([mb, keys]) and packed rows
 * stay in the thread's cache between the three steps (for 4096 keys, 2 x 384 KiB a thread).
 * 48 rows measured the same within the noise (a scratch timing, a global head of ViT-B).
 */
export const ATTENTION_ROW_BLOCK = 24;

register('SamAttention', (k, b, { q, kPacked, vPacked, relH, relW }) => {
  const rel = relH !== undefined && relW !== undefined;
  requireFloat32('SamAttention', q, kPacked, vPacked, ...(rel ? [relH, relW] : []));
  const [nq, d] = q.shape;
  const nk = kPacked.shape[0] * 8;
  const [kh, kw] = rel ? [relH.shape[1], relW.shape[1]] : [1, nk];
  const shapesOk =
    q.shape.length === 2 && kPacked.shape.length === 3 && kPacked.shape[1] === d && kPacked.shape[2] === 8 &&
    vPacked.shape.length === 3 && vPacked.shape[0] * 8 === d && vPacked.shape[1] === nk && vPacked.shape[2] === 8 &&
    (relH === undefined) === (relW === undefined) &&
    (!rel || (relH.shape.length === 2 && relW.shape.length === 2 && relH.shape[0] === nq && relW.shape[0] === nq && kh * kw === nk));
  if (!shapesOk) {
    throw new Error(
      `SamAttention: q ${json(q.shape)}, packed keys ${json(kPacked.shape)}, packed values ${json(vPacked.shape)}${rel ? `, relH ${json(relH.shape)}, relW ${json(relW.shape)}` : ''} ` +
        'do not make one attention (q [nq, d]; keys packed from kᵀ [nk / 8, d, 8]; values [d / 8, nk, 8]; relH [nq, kh] and relW [nq, kw] with kh * kw = nk, both or neither)',
    );
  }
  const out = b.makeOutput([nq, d], 'float32');
  if (nq * d === 0) return out;
  const helpers = gemmHelpers.get(b);
  const threads = helpers ? helpers.count + 1 : 1;
  const mb = ATTENTION_ROW_BLOCK;
  const perThread = mb * nk * 4 + mb * Math.max(nk, d) * 4;
  const scratch = grow(k.attentionScratch, b, perThread, threads);
  if (!scratch) throw new Error(`SamAttention: the wasm heap has no room for ${threads} x ${perThread} bytes of scores; dispose tensors, or use smaller inputs`);
  const flags = (rel ? 1 : 0) | (packsRows(k, nk) ? 2 : 0) | (packsRows(k, d) ? 4 : 0);
  const args: AttentionArgs = [offsetOf(b, q), offsetOf(b, kPacked), offsetOf(b, vPacked), rel ? offsetOf(b, relH) : 0, rel ? offsetOf(b, relW) : 0, offsetOf(b, out), nq, d, kh, kw, mb, scratch, k.attentionScratch.perThread, flags];
  if (helpers && nq > mb) helpers.run(JOB_ATTENTION, args, k.exports, gemmCallerJoins);
  else {
    const job = new Int32Array(16);
    job[1] = JOB_ATTENTION;
    job.set(args, 2);
    for (let block = 0; runHelperBlock(k.exports, job, block, 0); block++);
  }
  return out;
});

/**
 * Columns from which packing A pays: each packed value then serves at least 4 panels. One
 * thread, fused, best / median GFLOP/s, 4 x 8 unpacked against 6 x 8 packed (scratch timings
 * on bare memory, twice): [16384, 128] x [128, 8] 30.0 / 29.0 and 28.9 / 28.6 against 23.5 /
 * 23.0 and 23.3 / 23.0; x [128, 16] 25.6 / 24.7 and 30.9 / 30.6 against 23.3 / 22.2 and
 * 29.1 / 28.8; x [128, 32] 32.4 / 28.8 and 32.1 / 30.1 against 33.8 / 29.8 and 33.8 / 33.8.
 */
const PACK_A_MIN_N = 32;

/**
 * Where gemm_packed may pack a block's rows of A for `threads` threads (products of depth k, n columns):
 * [scratch, bytes per thread], or [0, 0] for no packing. Packing pays with fused
 * multiply-adds only: its 6 x 8 tile needs more registers than V8 has for the unfused
 * multiply and add (measured one thread, scratch timings on bare memory, best / median GFLOP/s,
 * 4 x 8 unpacked against 6 x 8 packed: fused [2048, 768] x [768, 3072] 37.5 / 37.1 against
 * 44.2 / 40.3, [2048, 3072] x [3072, 768] 34.4 / 34.1 against 43.7 / 40.9; unfused 33.5 /
 * 33.4 against 33.1 / 32.5). The areas live in the backend's heap, grown as needed and
 * kept with the kernels.
 */
function aScratchFor(k: Kernels, b: WasmBackendLike, kk: number, n: number, threads: number): [number, number] {
  if (!packsRows(k, n)) return [0, 0];
  const offset = grow(k.aScratch, b, GEMM_ROW_BLOCK * kk * 4, threads);
  return offset ? [offset, k.aScratch.perThread] : [0, 0]; // no room: unpacked rows
}

/** Whether gemm_packed packs the rows of A for a product of n columns on these kernels (see aScratchFor). */
function packsRows(k: Kernels, n: number): boolean {
  return n >= PACK_A_MIN_N && k.fma && relaxedMaddFuses();
}

function noScratch(): ScratchArea {
  return { offset: 0, perThread: 0, threads: 0 };
}

/** `area` made at least `threads` areas of `perThread` bytes (kept, grown as needed): its offset, 0 where the heap has no room. */
function grow(area: ScratchArea, b: WasmBackendLike, perThread: number, threads: number): number {
  if (area.perThread < perThread || area.threads < threads) {
    if (area.offset) b.wasm._free(area.offset);
    area.perThread = Math.max(area.perThread, perThread);
    area.threads = Math.max(area.threads, threads);
    area.offset = b.wasm._malloc(area.perThread * area.threads);
    if (!area.offset) area.perThread = area.threads = 0;
  }
  return area.offset;
}

let gemmCallerJoins = true;

/**
 * For tests: whether the calling thread runs blocks of a shared kernel call (runHelperBlock)
 * itself (the default) or leaves them all to the helper threads.
 */
export function setGemmCallerJoins(joins: boolean): void {
  gemmCallerJoins = joins;
}

/**
 * Bytes the SIMD matMul holds for packed rows of A on the active backend (0 until a product
 * packs them: only the fused variant, from PACK_A_MIN_N columns). For tests.
 */
export function packedRowsScratchBytes(): number {
  if (!wasmKernelsActive()) return 0;
  const s = exportsFor(tf.backend() as unknown as WasmBackendLike)!.aScratch;
  return s.perThread * s.threads;
}

/** Blocks (of rows, of a batch's products, of values) the helper threads of the active backend have run since they started (0 without helpers). */
export function gemmHelperBlocks(): number {
  return tf.getBackend() === 'wasm' ? (gemmHelpers.get(tf.backend())?.blocksRun() ?? 0) : 0;
}

/** Exact GELU of x (float32). Only where wasmKernelsActive(). */
export function geluKernel(x: tf.Tensor): tf.Tensor {
  return tf.engine().runKernel('SamGelu', { x }) as tf.Tensor;
}

/** Layer norm over the last axis: ((x - mean) / sqrt(var + eps)) * weight + bias. Only where wasmKernelsActive() or webgpuKernelsActive() (webgpu_kernels.ts). */
export function layerNormKernel(x: tf.Tensor, weight: tf.Tensor1D, bias: tf.Tensor1D, eps: number): tf.Tensor {
  return tf.engine().runKernel('SamLayerNorm', { x, weight, bias }, { eps }) as tf.Tensor;
}

/** Layer norm of x + y (one shape, float32) over the last axis: the values of addKernel then layerNormKernel, in one pass. Only where wasmKernelsActive() or webgpuKernelsActive(). */
export function addLayerNormKernel(x: tf.Tensor, y: tf.Tensor, weight: tf.Tensor1D, bias: tf.Tensor1D, eps: number): tf.Tensor {
  return tf.engine().runKernel('SamAddLayerNorm', { x, y, weight, bias }, { eps }) as tf.Tensor;
}

/**
 * scores [..., kh * kw] + relH [R, kh] (over the key rows) + relW [R, kw] (over the key
 * columns), R the product of the leading axes, added in that order. Only where wasmKernelsActive().
 */
export function relPosAddKernel(scores: tf.Tensor, relH: tf.Tensor, relW: tf.Tensor): tf.Tensor {
  return tf.engine().runKernel('SamRelPosAdd', { scores, relH, relW }) as tf.Tensor;
}

/**
 * Softmax over the last axis of x (float32); with `rel`, the relative-position terms added
 * first as relPosAddKernel adds them (x [..., kh * kw], relH [R, kh], relW [R, kw]). Only
 * where wasmKernelsActive(). It beats tfjs's (XNNPACK's) softmax on the calling thread
 * alone, as tfjs runs where the kernels have helper threads (see softmaxLastAxis).
 */
export function softmaxKernel(x: tf.Tensor, rel?: { relH: tf.Tensor; relW: tf.Tensor }): tf.Tensor {
  return tf.engine().runKernel('SamSoftmax', rel ? { x, relH: rel.relH, relW: rel.relW } : { x }) as tf.Tensor;
}

/**
 * a + b, b of a's shape or [C] along a's last axis (float32): one SIMD pass, shared with the
 * helper threads from 2^16 values; the values of tf.add. Only where wasmKernelsActive().
 */
export function addKernel<T extends tf.Tensor>(a: T, b: tf.Tensor): T {
  return tf.engine().runKernel('SamAdd', { a, b }) as T;
}

/** x [rows, cols] -> [cols, rows], or each matrix of a batch [B, rows, cols] -> [B, cols, rows]. Only where wasmKernelsActive(). */
export function transpose2dKernel<T extends tf.Tensor2D | tf.Tensor3D>(x: T): T {
  return tf.engine().runKernel('SamTranspose2D', { x }) as T;
}

/**
 * B [k, n] (or, with transposed, Bᵀ [n, k]) in panels of 8 columns [n / 8, k, 8], the
 * right-hand side matMulPackedKernel takes. n must be a multiple of 8. Only where wasmKernelsActive().
 */
export function packMatMulRhsKernel(x: tf.Tensor2D, transposed = false): tf.Tensor3D {
  return tf.engine().runKernel('SamPackB', { x }, { transposed }) as tf.Tensor3D;
}

/**
 * a [m, k] x B (+ bias [n]) -> [m, n], B given as packMatMulRhsKernel's panels. The same
 * values as tfjs-wasm's (fused) matMul, bit for bit, or with fused multiply-adds
 * (wasmMatMulFused) the in-order fused sums. Only where wasmKernelsActive().
 */
export function matMulPackedKernel(a: tf.Tensor2D, packed: tf.Tensor3D, bias?: tf.Tensor1D): tf.Tensor2D {
  return tf.engine().runKernel('SamMatMul', bias ? { a, packed, bias } : { a, packed }) as tf.Tensor2D;
}

/**
 * matMulPackedKernel's product with its n columns stored in `groups` groups of n / groups (a
 * multiple of 8): [groups, m, n / groups], group g holding columns [g n / groups, (g + 1) n /
 * groups). The same values as matMulPackedKernel's, bit for bit; one product where a layer
 * needs each group on its own (the image encoder's q, k and v of every head from one qkv
 * product, instead of one product per head and part). Only where wasmKernelsActive().
 */
export function matMulPackedGroupsKernel(a: tf.Tensor2D, packed: tf.Tensor3D, groups: number, bias?: tf.Tensor1D): tf.Tensor3D {
  const attrs = { groups } as unknown as tf.NamedAttrMap;
  return tf.engine().runKernel('SamMatMul', bias ? { a, packed, bias } : { a, packed }, attrs) as tf.Tensor3D;
}

/**
 * a [B, M, K] x b [B, K, N] -> [B, M, N] in one call, each output summing its K products in
 * order (fused, see wasmMatMulFused). For batches of small products (SAM's attention
 * windows), where tfjs-wasm would run B separate ops; the products are shared with the helper
 * threads where there are some. Only where wasmKernelsActive().
 */
export function batchMatMulKernel(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  return tf.engine().runKernel('SamBatchMatMul', { a, b }) as tf.Tensor3D;
}

/**
 * softmax(q kᵀ (+ relH, relW)) v for one attention window, a block of query rows at a time
 * (their scores stay in cache): q [nq, d] (already scaled), kPacked = packMatMulRhsKernel(k,
 * true) for keys k [nk, d], vPacked = packMatMulRhsKernel(v) for values v [nk, d], rel as
 * softmaxKernel takes it. The same operations as matMulPackedKernel, softmaxKernel and
 * matMulPackedKernel in turn, so the same values bit for bit. Only where wasmKernelsActive().
 */
export function attentionKernel(q: tf.Tensor2D, kPacked: tf.Tensor3D, vPacked: tf.Tensor3D, rel?: { relH: tf.Tensor2D; relW: tf.Tensor2D }): tf.Tensor2D {
  return tf.engine().runKernel('SamAttention', rel ? { q, kPacked, vPacked, relH: rel.relH, relW: rel.relW } : { q, kPacked, vPacked }) as tf.Tensor2D;
}

/**
 * Rows [begin, begin + size) of x along its first axis, as tf.slice would give them: one
 * memory.copy (copy_columns with one row) inside the heap. tfjs-wasm's Slice took ~45 ms for
 * an 8 MiB part of [7, 16384, 128] (a scratch timing; splitAxis0 uses this kernel). Only where
 * wasmKernelsActive().
 */
export function sliceRowsKernel<T extends tf.Tensor>(x: T, begin: number, size: number): T {
  return tf.engine().runKernel('SamSliceRows', { x }, { begin, size }) as T;
}

/**
 * Every head's scores a_h t_hᵀ side by side: a [rows, d] and t [n, d] (heads side by side
 * in d) -> [rows, heads * n], column block h = a's head-h columns times t's. The values of
 * a x (the block-diagonal layout of t)ᵀ, without its zero products: each sum adds its
 * d / heads products in order (fused, see wasmMatMulFused). Only where wasmKernelsActive().
 */
export function headScoresKernel(a: tf.Tensor2D, t: tf.Tensor2D, heads: number): tf.Tensor2D {
  return tf.engine().runKernel('SamHeadScores', { a, t }, { heads }) as tf.Tensor2D;
}

/**
 * Each head's rows of a times its columns of b: a [heads * n, k] (row block h: head h's
 * rows) and b [k, d] given as packMatMulRhsKernel's panels -> [heads, n, d / heads], block h
 * = a's row block h x b's head-h columns; d / heads a multiple of 8. The values of SamMatMul's
 * a x b in those blocks, without the products outside them. On the calling thread. Only where
 * wasmKernelsActive().
 */
export function headValuesKernel(a: tf.Tensor2D, packed: tf.Tensor3D, heads: number): tf.Tensor3D {
  return tf.engine().runKernel('SamHeadValues', { a, packed }, { heads }) as tf.Tensor3D;
}

/**
 * x [B, H, W, C] -> windows [B * nh * nw, ws, ws, C] (zero padding where windows pass the
 * edges), as the reference's window_partition, in one pass of memory copies. Only where
 * wasmKernelsActive().
 */
export function windowPartitionKernel(x: tf.Tensor4D, windowSize: number): tf.Tensor4D {
  return tf.engine().runKernel('SamWindowPartition', { x }, { windowSize }) as tf.Tensor4D;
}

/** Its inverse: windows [B * nh * nw, ws, ws, C] -> [B, H, W, C], the padding dropped. Only where wasmKernelsActive(). */
export function windowUnpartitionKernel(windows: tf.Tensor4D, windowSize: number, hw: [number, number]): tf.Tensor4D {
  return tf.engine().runKernel('SamWindowUnpartition', { windows }, { windowSize, height: hw[0], width: hw[1] }) as tf.Tensor4D;
}

/** tf.concat(xs, 1) for 2-D float32 tensors with the same rows, one memory.copy a row of each. Only where wasmKernelsActive(). */
export function concatColumnsKernel(xs: tf.Tensor2D[]): tf.Tensor2D {
  return tf.engine().runKernel('SamConcatColumns', Object.fromEntries(xs.map((x, i) => [`x${i}`, x]))) as tf.Tensor2D;
}
