/**
 * GELU forms against a float64 evaluation of x Phi(x) on one set of inputs, with tfjs's
 * Erf-kernel form as the yardstick (the float noise of the plain port): shared by
 * test/activations.test.ts and the fused-kernel child process (wasm_fma_child.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { gelu64 } from './float64_math.js';

/** The plain form, x/2 (1 + erf(x / sqrt 2)), with tfjs's Erf kernel. */
export const erfKernelGelu = (x: tf.Tensor) => tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))));

/**
 * Each form's largest error on typical pre-activations, the far tails and exact edge values,
 * relative to max(1, |GELU|), and the Erf-kernel form's (`erfForm`). Leaves no tensor.
 */
export function geluErrors<K extends string>(forms: Record<K, (x: tf.Tensor) => tf.Tensor>): Record<K | 'erfForm', number> {
  const sample = tf.tidy(() => Array.from(tf.randomNormal([20000], 0, 3, 'float32', 11).dataSync()));
  const edges = [0, -0, 1e-30, -1e-30, 1e-3, -1e-3, 0.5, -0.5, 1, -1, 5, -5, 9, -9, 13, -13, 30, -30, 1e4, -1e4];
  const xs = Float32Array.from([...sample, ...edges]);
  const expected = Array.from(xs, gelu64);
  const x = tf.tensor1d(xs);
  const maxErr = (f: (x: tf.Tensor) => tf.Tensor) => {
    const y = f(x);
    const d = y.dataSync();
    y.dispose();
    return expected.reduce((m, e, i) => Math.max(m, Math.abs(d[i] - e) / Math.max(1, Math.abs(e))), 0);
  };
  const errors = { erfForm: maxErr(erfKernelGelu) } as Record<K | 'erfForm', number>;
  for (const name of Object.keys(forms) as K[]) errors[name] = maxErr(forms[name]);
  x.dispose();
  return errors;
}
