/** Activation functions of the reference, by the names it uses (`nn.GELU`, `nn.ReLU`). */
import * as tf from '@tensorflow/tfjs';

export type ActivationName = 'gelu' | 'relu';

/** Exact GELU, `x * 0.5 * (1 + erf(x / sqrt(2)))` (PyTorch's default, not the tanh approximation). */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))));
}

export function relu(x: tf.Tensor): tf.Tensor {
  return tf.relu(x);
}

export function activation(name: ActivationName): (x: tf.Tensor) => tf.Tensor {
  switch (name) {
    case 'gelu':
      return gelu;
    case 'relu':
      return relu;
    default:
      throw new Error(`unknown activation '${name as string}': expected 'gelu' or 'relu'`);
  }
}
