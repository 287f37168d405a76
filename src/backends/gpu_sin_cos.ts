/**
 * `SamSinCos` on the GPU backends (webgpu_kernels.ts, webgl_kernels.ts): x [..., F] ->
 * [..., 2F], sin(x) then cos(x) along the last axis, the layout of the positional encodings
 * (position_embedding_random.ts). The GPUs' own sin / cos are not accurate enough for SAM
 * (see src/layers/prompt_encoder/sin_cos.ts), so the encodings take them from a range
 * reduction and two polynomials, ~45 tfjs ops on [N, F]: on a GPU backend ~40 dispatches
 * for the two points of a prompt, each costing more to dispatch than to run. As one kernel
 * it is one dispatch, with the same arithmetic on each value (the constants below, shared
 * with the op form).
 *
 * This module holds what both backends share: the constants, the checks of the input, the
 * empty case and the registration; each backend brings its program.
 */
import * as tf from '@tensorflow/tfjs';
import type { MakesTensorInfo } from './gpu_layer_norm.js';

/**
 * The arithmetic: k = round(x * 2/pi) (half to even, as tf.round); r = x - k (pi/2), pi/2
 * split in three parts so that k * part is exact for the small k that occur; z = r^2;
 * sin r = r + r z (S1 + z (S2 + z S3)); cos r = (1 - z/2) + z^2 (C1 + z (C2 + z C3)), the
 * minimax polynomials of single-precision sinf / cosf on |r| <= pi/4; the quadrant k mod 4
 * (floor mod) picks and signs them.
 */
export const SIN_COS = {
  twoOverPi: 2 / Math.PI,
  pio2: [1.5703125, 4.837512969970703125e-4, 7.54978995489188216e-8],
  sin: [-1.6666654611e-1, 8.3321608736e-3, -1.9515295891e-4],
  cos: [4.166664568298827e-2, -1.388731625493765e-3, 2.443315711809948e-5],
} as const;

/** A backend's SamSinCos of x as `rows` rows of `cols` (both > 0) values, [rows, 2 * cols] returned as `shape`. */
export type RowsSinCos<B> = (backend: B, x: tf.TensorInfo, rows: number, cols: number, shape: number[]) => tf.TensorInfo;

/** Registers `SamSinCos` for `backendName`, run by `run` once its input is checked; the result has x's shape with the last axis doubled. */
export function registerSinCosKernel<B extends MakesTensorInfo>(backendName: string, run: RowsSinCos<B>): void {
  if (tf.getKernel('SamSinCos', backendName)) return; // a second copy of this module
  const kernelFunc = ({ inputs, backend }: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo => {
    const x = inputs.x!;
    if (x.dtype !== 'float32' || x.shape.length === 0) {
      throw new Error(`SamSinCos: expected a float32 tensor of rank 1 or more, got ${x.dtype} ${JSON.stringify(x.shape)}`);
    }
    const cols = x.shape[x.shape.length - 1];
    const shape = [...x.shape.slice(0, -1), 2 * cols];
    const size = tf.util.sizeFromShape(x.shape);
    if (size === 0) return (backend as B).makeTensorInfo(shape, 'float32', new Float32Array(0));
    return run(backend as B, x, size / cols, cols, shape);
  };
  tf.registerKernel({ kernelName: 'SamSinCos', backendName, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
}
