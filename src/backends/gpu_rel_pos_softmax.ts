/**
 * `SamRelPosSoftmax` on the GPU backends (webgpu_kernels.ts, webgl_kernels.ts): the image
 * encoder's attention probabilities with the decomposed relative-position terms added,
 *
 *   out[r, ky * kw + kx] = softmax over the row of (s[r, ky * kw + kx] * scale + p[r, idxH[qy, ky]]) + p[r, lh + idxW[qx, kx]]
 *
 * where row r is query (qy, qx) of its window (r mod qh * qw = qy * qw + qx), p = q [tH | tW]
 * the products of the unscaled queries with both (resized, transposed) tables side by side
 * (its first lh columns q tH, the rest q tW: one matMul for both), and idxH, idxW the
 * reference's relative-position indices (rel_pos.ts, relPosIndices). `scale` is a
 * power of two (1: already scaled), so s * scale is exactly what scaling q before q kᵀ
 * gives. The op form (attention_kernels.ts) is a Multiply, two Gathers picking relH [rows,
 * kh] and relW [rows, kw], two broadcast Adds and a Softmax, after a matMul for each
 * table's products: 8 dispatches and 4 passes over the [rows, n] scores, here 2 (the
 * product of both tables, and the kernel; WebGL 3).
 *
 * This module holds what both backends share: the checks of the inputs, the empty case and
 * the registration; each backend brings its programs.
 */
import * as tf from '@tensorflow/tfjs';
import type { MakesTensorInfo } from './gpu_layer_norm.js';

/** The sizes a call works with: `rows` rows of n = kh * kw scores, queries qh x qw per window. */
export interface RelPosSoftmaxSizes {
  rows: number;
  qh: number;
  qw: number;
  kh: number;
  kw: number;
  /** Columns of p: lh of q tH, then lw of q tW (each at least its largest index + 1). */
  lh: number;
  lw: number;
  scale: number;
}

/** A backend's SamRelPosSoftmax of scores s, products p, indices idxH and idxW (checked), returned as [rows, kh * kw]. */
export type RunRelPosSoftmax<B> = (backend: B, inputs: { s: tf.TensorInfo; p: tf.TensorInfo; idxH: tf.TensorInfo; idxW: tf.TensorInfo }, sizes: RelPosSoftmaxSizes) => tf.TensorInfo;

const json = (shape: number[]) => JSON.stringify(shape);

/** Whether `scale` multiplies every float32 exactly (a power of two in float32's normal range). */
export function exactScale(scale: number): boolean {
  if (!(scale > 0) || !Number.isFinite(scale)) return false;
  const e = Math.log2(scale);
  return Number.isInteger(e) && e >= -100 && e <= 100;
}

/** Registers `SamRelPosSoftmax` for `backendName`, run by `run` once its inputs are checked. */
export function registerRelPosSoftmaxKernel<B extends MakesTensorInfo>(backendName: string, run: RunRelPosSoftmax<B>): void {
  if (tf.getKernel('SamRelPosSoftmax', backendName)) return; // a second copy of this module
  const kernelFunc = ({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo => {
    const [s, p, idxH, idxW] = [inputs.s!, inputs.p!, inputs.idxH!, inputs.idxW!];
    const scale = (attrs?.scale as number | undefined) ?? 1;
    const lh = attrs?.lh as number;
    if ([s, p].some((t) => t.dtype !== 'float32') || idxH.dtype !== 'int32' || idxW.dtype !== 'int32') {
      throw new Error(`SamRelPosSoftmax: expected float32 scores and products and int32 indices, got ${[s, p, idxH, idxW].map((t) => t.dtype).join(', ')}`);
    }
    const twoD = [s, p, idxH, idxW].every((t) => t.shape.length === 2);
    const [qh, kh] = twoD ? idxH.shape : [0, 0];
    const [qw, kw] = twoD ? idxW.shape : [0, 0];
    const rows = twoD ? s.shape[0] : 0;
    const lw = twoD ? p.shape[1] - lh : 0;
    if (!twoD || s.shape[1] !== kh * kw || p.shape[0] !== rows || !Number.isInteger(lh) || lh < 1 || lw < 1 || (qh * qw > 0 && rows % (qh * qw) !== 0) || (rows > 0 && qh * qw === 0)) {
      throw new Error(
        `SamRelPosSoftmax: scores ${json(s.shape)}, products ${json(p.shape)} split at column ${lh}, idxH ${json(idxH.shape)}, idxW ${json(idxW.shape)} ` +
          'do not make one attention (scores [rows, kh * kw]; products [rows, Lh + Lw] split at Lh; idxH [qh, kh], idxW [qw, kw]; rows a multiple of qh * qw)',
      );
    }
    if (!exactScale(scale)) throw new Error(`SamRelPosSoftmax: scale ${scale} is not a power of two (scale the queries before q kᵀ instead)`);
    if (rows * kh * kw === 0) return (backend as B).makeTensorInfo([rows, kh * kw], 'float32', new Float32Array(0));
    return run(backend as B, { s, p, idxH, idxW }, { rows, qh, qw, kh, kw, lh, lw, scale });
  };
  tf.registerKernel({ kernelName: 'SamRelPosSoftmax', backendName, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
}

/**
 * The kernel's call: s [rows, kh * kw], p [rows, Lh + Lw] (q tH then q tW, split at column
 * lh), idxH int32 [qh, kh], idxW int32 [qw, kw] -> probabilities [rows, kh * kw]. Only where
 * the active backend has it registered and its kernels are on (webgpuKernelsActive,
 * webglKernelsActive).
 */
export function relPosSoftmaxKernel(s: tf.Tensor2D, p: tf.Tensor2D, lh: number, idxH: tf.Tensor2D, idxW: tf.Tensor2D, scale = 1): tf.Tensor2D {
  return tf.engine().runKernel('SamRelPosSoftmax', { s, p, idxH, idxW }, { scale, lh } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}
