/**
 * `SamRelPosSoftmax` on the GPU backends (webgpu_kernels.ts, webgl_kernels.ts): the image
 * encoder's attention probabilities with the decomposed relative-position terms added,
 *
 *   out[r, ky * kw + kx] = softmax over the row of (s[r, ky * kw + kx] * scale + pH[r, idxH[qy, ky]]) + pW[r, idxW[qx, kx]]
 *
 * where row r is query (qy, qx) of its window (r mod qh * qw = qy * qw + qx), pH = q tHᵀ and
 * pW = q tWᵀ are the products of the unscaled queries with the (resized) tables, and idxH,
 * idxW the reference's relative-position indices (rel_pos.ts, relPosIndices). `scale` is a
 * power of two (1: already scaled), so s * scale is exactly what scaling q before q kᵀ
 * gives. The op form (attention_kernels.ts) is a Multiply, two Gathers picking relH [rows,
 * kh] and relW [rows, kw], two broadcast Adds and a Softmax: 6 dispatches and 4 passes over
 * the [rows, n] scores, here 1 (WebGPU) or 2 (WebGL).
 *
 * This module holds what both backends share: the checks of the inputs, the empty case and
 * the registration; each backend brings its programs.
 */
import * as tf from '@tensorflow/tfjs';

/** The sizes a call works with: `rows` rows of n = kh * kw scores, queries qh x qw per window. */
export interface RelPosSoftmaxSizes {
  rows: number;
  qh: number;
  qw: number;
  kh: number;
  kw: number;
  /** Columns of pH and pW (the tables' lengths, at least the largest index + 1). */
  lh: number;
  lw: number;
  scale: number;
}

/** A backend's SamRelPosSoftmax of scores s, products pH and pW, indices idxH and idxW (checked), returned as [rows, kh * kw]. */
export type RunRelPosSoftmax<B> = (backend: B, inputs: { s: tf.TensorInfo; pH: tf.TensorInfo; pW: tf.TensorInfo; idxH: tf.TensorInfo; idxW: tf.TensorInfo }, sizes: RelPosSoftmaxSizes) => tf.TensorInfo;

interface MakesTensorInfo {
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

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
    const [s, pH, pW, idxH, idxW] = [inputs.s!, inputs.pH!, inputs.pW!, inputs.idxH!, inputs.idxW!];
    const scale = (attrs?.scale as number | undefined) ?? 1;
    if ([s, pH, pW].some((t) => t.dtype !== 'float32') || idxH.dtype !== 'int32' || idxW.dtype !== 'int32') {
      throw new Error(`SamRelPosSoftmax: expected float32 scores and products and int32 indices, got ${[s, pH, pW, idxH, idxW].map((t) => t.dtype).join(', ')}`);
    }
    const twoD = [s, pH, pW, idxH, idxW].every((t) => t.shape.length === 2);
    const [qh, kh] = twoD ? idxH.shape : [0, 0];
    const [qw, kw] = twoD ? idxW.shape : [0, 0];
    const rows = twoD ? s.shape[0] : 0;
    if (!twoD || s.shape[1] !== kh * kw || pH.shape[0] !== rows || pW.shape[0] !== rows || (qh * qw > 0 && rows % (qh * qw) !== 0) || (rows > 0 && qh * qw === 0)) {
      throw new Error(
        `SamRelPosSoftmax: scores ${json(s.shape)}, pH ${json(pH.shape)}, pW ${json(pW.shape)}, idxH ${json(idxH.shape)}, idxW ${json(idxW.shape)} ` +
          'do not make one attention (scores [rows, kh * kw]; pH [rows, Lh], pW [rows, Lw]; idxH [qh, kh], idxW [qw, kw]; rows a multiple of qh * qw)',
      );
    }
    if (!exactScale(scale)) throw new Error(`SamRelPosSoftmax: scale ${scale} is not a power of two (scale the queries before q kᵀ instead)`);
    if (rows * kh * kw === 0) return (backend as B).makeTensorInfo([rows, kh * kw], 'float32', new Float32Array(0));
    return run(backend as B, { s, pH, pW, idxH, idxW }, { rows, qh, qw, kh, kw, lh: pH.shape[1], lw: pW.shape[1], scale });
  };
  tf.registerKernel({ kernelName: 'SamRelPosSoftmax', backendName, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
}

/**
 * The kernel's call: s [rows, kh * kw], pH [rows, Lh], pW [rows, Lw], idxH int32 [qh, kh],
 * idxW int32 [qw, kw] -> probabilities [rows, kh * kw]. Only where the active backend has it
 * registered and its kernels are on (webgpuKernelsActive, webglKernelsActive).
 */
export function relPosSoftmaxKernel(s: tf.Tensor2D, pH: tf.Tensor2D, pW: tf.Tensor2D, idxH: tf.Tensor2D, idxW: tf.Tensor2D, scale = 1): tf.Tensor2D {
  return tf.engine().runKernel('SamRelPosSoftmax', { s, pH, pW, idxH, idxW }, { scale } as unknown as tf.NamedAttrMap) as tf.Tensor2D;
}
