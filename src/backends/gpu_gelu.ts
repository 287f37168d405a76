/**
 * `SamGelu` on the GPU backends (webgpu_kernels.ts, webgl_kernels.ts): exact GELU as the
 * tfjs-op form computes it there (activations.ts, `gelu`), x / sqrt 2, tfjs's Erf, 1 + erf,
 * x * 0.5, the product: 5 dispatches and 5 passes over memory that one kernel does in one
 * (12 of them in a ViT-B encoder pass, each over [4096, 3072]; 2 in a decode). The arithmetic
 * is the op form's step for step, Erf as tfjs writes it for the GPU (Abramowitz & Stegun
 * 7.1.26 with the shader's exp). (On wasm, `SamGelu` is the SIMD kernel of wasm_kernels.ts,
 * another formula of the same accuracy.)
 *
 * This module holds what both backends share: the constants, the checks, the empty case and
 * the registration; each backend brings its program.
 */
import * as tf from '@tensorflow/tfjs';
import type { MakesTensorInfo } from './gpu_layer_norm.js';

/** tfjs's Erf constants (backend_util's ERF_P, ERF_A1..5) and the op form's 1 / sqrt 2. */
export const GELU_ERF = {
  p: tf.backend_util.ERF_P,
  a: [tf.backend_util.ERF_A1, tf.backend_util.ERF_A2, tf.backend_util.ERF_A3, tf.backend_util.ERF_A4, tf.backend_util.ERF_A5],
  sqrt1_2: Math.SQRT1_2,
} as const;

/** A backend's SamGelu of x, `size` (> 0) values, returned in x's shape. */
export type RunGelu<B> = (backend: B, x: tf.TensorInfo, size: number) => tf.TensorInfo;

/** Registers `SamGelu` for `backendName`, run by `run` once its input is checked. */
export function registerGeluKernel<B extends MakesTensorInfo>(backendName: string, run: RunGelu<B>): void {
  if (tf.getKernel('SamGelu', backendName)) return; // a second copy of this module
  const kernelFunc = ({ inputs, backend }: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo => {
    const x = inputs.x!;
    if (x.dtype !== 'float32') throw new Error(`SamGelu: expected a float32 tensor, got ${x.dtype}`);
    const size = tf.util.sizeFromShape(x.shape);
    if (size === 0) return (backend as B).makeTensorInfo(x.shape, 'float32', new Float32Array(0));
    return run(backend as B, x, size);
  };
  tf.registerKernel({ kernelName: 'SamGelu', backendName, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
}
