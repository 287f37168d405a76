/** Activation functions of the reference, by the names it uses (`nn.GELU`, `nn.ReLU`). */
import * as tf from '@tensorflow/tfjs';
import { geluKernel, wasmKernelsActive } from '../../backends/wasm_kernels.js';
import { webglKernelsActive } from '../../backends/webgl_kernels.js';
import { webgpuKernelsActive } from '../../backends/webgpu_kernels.js';

export type ActivationName = 'gelu' | 'relu';

/**
 * Exact GELU, `x * 0.5 * (1 + erf(x / sqrt(2)))` (PyTorch's default, not the tanh
 * approximation). On wasm the formula of geluFromFastOps in one SIMD pass
 * (backends/wasm_kernels.ts), else from ops that XNNPACK vectorizes: tfjs-wasm's Erf and
 * Exp kernels are scalar loops, 3x slower for the whole GELU. On WebGPU and WebGL the op
 * form below in one kernel (backends/gpu_gelu.ts: one dispatch for five).
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  if ((wasmKernelsActive() || webgpuKernelsActive() || webglKernelsActive()) && x.dtype === 'float32') return geluKernel(x);
  if (tf.getBackend() === 'wasm') return geluFromFastOps(x);
  return tf.tidy(() => {
    // Step by step, each temporary released as soon as it is used: on a ViT-H MLP every one
    // is 84 MB, and a plain tidy would hold five of them at once.
    const scaled = tf.mul(x, Math.SQRT1_2);
    const e = tf.erf(scaled);
    scaled.dispose();
    const onePlus = tf.add(1, e);
    e.dispose();
    const half = tf.mul(x, 0.5);
    const y = tf.mul(half, onePlus);
    half.dispose();
    onePlus.dispose();
    return y;
  });
}

// Abramowitz & Stegun 7.1.26: erfc(z) = t (a1 + t (a2 + ... + t a5)) exp(-z^2) + e(z),
// t = 1 / (1 + p z), z >= 0, |e(z)| <= 1.5e-7. (tfjs's cpu backend computes Erf with the
// same formula.) The a_i are halved here: Phi(-|x|) = erfc(|x| / sqrt 2) / 2.
const AS_P = 0.3275911;
const AS_A_HALF = [0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429].map((a) => a / 2);

/**
 * GELU as x Phi(x) = relu(x) - |x| Phi(-|x|), with Phi(-|x|) from A&S 7.1.26 and
 * exp(-x^2 / 2) = s / (1 - s), s = sigmoid(-x^2 / 2): only abs, square, sigmoid and
 * arithmetic, which tfjs-wasm runs through XNNPACK's vectorized kernels. Measured against a
 * float64 erf: max abs error 3.3e-7 over N(0, 9) samples (the Erf-kernel form: 4.5e-7).
 * Each temporary is released as soon as it is used (on a ViT-H MLP each is 84 MB).
 */
export function geluFromFastOps(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    /** Applies op to the inputs, then releases those listed in `release`. */
    const step = (op: (...t: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[], release: tf.Tensor[] = inputs): tf.Tensor => {
      const out = op(...inputs);
      for (const r of release) r.dispose();
      return out;
    };
    const a = tf.abs(x);
    // Phi(-|x|) / exp(-x^2/2) = t (a1' + t (a2' + ... + t a5')), t = 1 / (1 + p |x| / sqrt 2)
    const pz = tf.mul(a, AS_P * Math.SQRT1_2);
    const t = step((u) => tf.div(1, u), [step((u) => tf.add(u, 1), [pz])]);
    let poly = step((u) => tf.add(u, AS_A_HALF[3]), [tf.mul(t, AS_A_HALF[4])]);
    for (const c of [AS_A_HALF[2], AS_A_HALF[1], AS_A_HALF[0]]) {
      poly = step((u) => tf.add(u, c), [step((p) => tf.mul(p, t), [poly])]);
    }
    poly = step((p, u) => tf.mul(p, u), [poly, t]);
    // poly exp(-x^2 / 2) = poly s / (1 - s), s = sigmoid(-x^2 / 2); ordered so that at most
    // four temporaries are alive at once.
    const s = step((u) => tf.sigmoid(u), [step((u) => tf.mul(u, -0.5), [tf.square(x)])]);
    const ps = step((p, u) => tf.mul(p, u), [poly, s], [poly]);
    const pe = step((u, v) => tf.div(u, v), [ps, step((u) => tf.sub(1, u), [s])]);
    const tail = step((u, v) => tf.mul(u, v), [pe, a]); // |x| Phi(-|x|)
    return step((r, u) => tf.sub(r, u), [tf.relu(x), tail]);
  });
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
