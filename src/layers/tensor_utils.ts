/** Small tensor helpers whose best form depends on the backend. */
import * as tf from '@tensorflow/tfjs';
import { addKernel, ELEMENTWISE_SPLIT_MIN, gemmHelperThreads, sliceRowsKernel, softmaxKernel, threadCompetingKernelsActive, transpose2dKernel, wasmKernelsActive } from '../backends/wasm_kernels.js';

/** Backends whose tensors live in (wasm or JS) CPU memory, where reading them back is free or a memcpy. */
export function isCpuLikeBackend(name = tf.getBackend()): boolean {
  return name === 'wasm' || name === 'cpu';
}

/**
 * A new tensor handle on t's data (disposing it leaves t alone). tf.clone is not that on
 * wasm: its Identity kernel copies the data (4 MB for a SAM image embedding), while Reshape
 * only counts a reference on every backend.
 */
export function view<T extends tf.Tensor>(t: T): T {
  return t.reshape(t.shape) as T;
}

/**
 * Softmax over the last axis; on wasm the SIMD kernel (on the helper threads too), which beat
 * tfjs's on the calling thread alone: the decoder's [4096 x 8, 7] 1.4-1.8 ms against
 * 2.1-2.6 ms best (scratch timings, 3 runs of 7).
 */
export function softmaxLastAxis<T extends tf.Tensor>(x: T): T {
  if (threadCompetingKernelsActive() && x.dtype === 'float32') return softmaxKernel(x) as T;
  return tf.softmax(x) as T;
}

/**
 * a + b, b of a's shape or a bias [C] along a's last axis: the large adds of the model (the
 * residuals, keys + positions, the transposed convolutions' bias). On wasm with the kernels'
 * helper threads (Node), where tfjs's own Add runs on the calling thread alone, one SIMD pass
 * on every thread: the same values as tf.add.
 */
export function addTensors<T extends tf.Tensor>(a: T, b: tf.Tensor): T {
  // Below the kernels' split size the add would stay on the calling thread: tfjs's does as well.
  const fits = a.dtype === 'float32' && b.dtype === 'float32' && a.size >= ELEMENTWISE_SPLIT_MIN && a.rank > 0;
  if (fits && gemmHelperThreads() > 0 && wasmKernelsActive()) {
    if (tf.util.arraysEqual(a.shape, b.shape) || (b.rank === 1 && b.shape[0] === a.shape[a.rank - 1])) return addKernel(a, b);
  }
  return tf.add(a, b) as T;
}

/** x [R, C] -> [C, R]; on wasm a SIMD kernel (~4x faster than tfjs-wasm's Transpose). */
export function transposeMatrix(x: tf.Tensor2D): tf.Tensor2D {
  if (wasmKernelsActive() && x.dtype === 'float32') return transpose2dKernel(x);
  return x.transpose([1, 0]) as tf.Tensor2D;
}

/**
 * Splits t along axis 0 into equal parts. tfjs-wasm's Slice copies the whole input out of
 * the heap for every slice (O(input) per part): on wasm with the kernels each part is one
 * copy inside the heap (SamSliceRows); else on cpu/wasm the values are read once and each
 * part is made from its sub-range (O(n) in all, but out of the heap and back: [7, 16384, 128]
 * in 56-77 ms against 9-10 ms with the kernel, a scratch timing); elsewhere this is tf.split.
 * Used for the decoder's per-prompt inputs (src where it is not shared, tokens, hyperIn), the
 * transformer's rows and the encoder's per-head weights at load.
 */
export function splitAxis0<T extends tf.Tensor>(t: T, parts: number): T[] {
  if (parts === 1) return [view(t)];
  const n = t.shape[0];
  if (n % parts !== 0) throw new Error(`splitAxis0: ${n} rows do not split into ${parts} parts`);
  if (!isCpuLikeBackend() || t.dtype !== 'float32') return tf.split(t, parts, 0) as T[];
  if (wasmKernelsActive()) return Array.from({ length: parts }, (_, i) => sliceRowsKernel(t, (i * n) / parts, n / parts));
  const values = t.dataSync() as Float32Array;
  const shape = [n / parts, ...t.shape.slice(1)];
  const size = values.length / parts;
  return Array.from({ length: parts }, (_, i) => tf.tensor(values.subarray(i * size, (i + 1) * size), shape, 'float32') as T);
}

/**
 * a [B, M, K] x b [B, K, N] -> [B, M, N]. tfjs-wasm runs batched matMuls in a scalar loop
 * (~15x slower than its 2-D XNNPACK path), so on cpu/wasm each batch element is a 2-D
 * matMul; elsewhere this is tf.matMul.
 */
export function batchMatMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  if (!isCpuLikeBackend() || a.shape[0] === 1) {
    if (a.shape[0] === 1) return tf.matMul(a.reshape(a.shape.slice(1)) as tf.Tensor2D, b.reshape(b.shape.slice(1)) as tf.Tensor2D).expandDims(0) as tf.Tensor3D;
    return tf.matMul(a, b);
  }
  return tf.tidy(() => {
    const as = splitAxis0(a, a.shape[0]);
    const bs = splitAxis0(b, b.shape[0]);
    return tf.stack(as.map((ai, i) => tf.matMul(ai.reshape(ai.shape.slice(1)) as tf.Tensor2D, bs[i].reshape(bs[i].shape.slice(1)) as tf.Tensor2D))) as tf.Tensor3D;
  });
}
