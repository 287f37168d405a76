/**
 * sin and cos for the positional encodings, accurate on every backend.
 *
 * GPU backends evaluate tf.sin / tf.cos with the shader's built-ins, which graphics APIs
 * only require to be within 2^-11 (WGSL, Vulkan); SwiftShader's are off by ~1.9e-4 on the
 * arguments SAM's encodings produce (|x| up to ~20), and the mask decoder amplifies that
 * into logit errors far beyond float noise (measured by test/browser_parity). There the
 * functions are built from multiplications and additions: x = k*pi/2 + r with pi/2 split
 * in three parts (exact products for the small k that occur), then the classic minimax
 * polynomials of single-precision sinf / cosf on |r| <= pi/4 (errors ~1e-7), and the
 * quadrant k mod 4 picks and signs the result. The cpu and wasm backends call the C
 * library's sin/cos, which are already correctly rounded to float32 or nearly so.
 */
import * as tf from '@tensorflow/tfjs';
import { isCpuLikeBackend } from '../tensor_utils.js';

const PIO2_1 = 1.5703125; // pi/2 = PIO2_1 + PIO2_2 + PIO2_3, each exact in float32
const PIO2_2 = 4.837512969970703125e-4;
const PIO2_3 = 7.54978995489188216e-8;

/** [sin(x), cos(x)] computed with elementary arithmetic (see the file comment). */
export function polynomialSinCos(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
  return tf.tidy(() => {
    const k = tf.round(tf.mul(x, 2 / Math.PI));
    let r = tf.sub(x, tf.mul(k, PIO2_1));
    r = tf.sub(r, tf.mul(k, PIO2_2));
    r = tf.sub(r, tf.mul(k, PIO2_3));
    const z = tf.mul(r, r);
    // sin r = r + r z (s1 + z (s2 + z s3)); cos r = 1 - z/2 + z^2 (c1 + z (c2 + z c3))
    const sinR = tf.add(r, tf.mul(tf.mul(r, z), tf.add(-1.6666654611e-1, tf.mul(z, tf.add(8.3321608736e-3, tf.mul(z, -1.9515295891e-4))))));
    const cosR = tf.add(
      tf.sub(1, tf.mul(z, 0.5)),
      tf.mul(tf.mul(z, z), tf.add(4.166664568298827e-2, tf.mul(z, tf.add(-1.388731625493765e-3, tf.mul(z, 2.443315711809948e-5))))),
    );
    const quadrant = tf.mod(k, 4); // floor mod: 0..3 also for negative k
    const is = (n: number) => tf.equal(quadrant, n);
    const sin = tf.where(is(0), sinR, tf.where(is(1), cosR, tf.where(is(2), tf.neg(sinR), tf.neg(cosR))));
    const cos = tf.where(is(0), cosR, tf.where(is(1), tf.neg(sinR), tf.where(is(2), tf.neg(cosR), sinR)));
    return [sin, cos];
  }) as [tf.Tensor, tf.Tensor];
}

/** [sin(x), cos(x)]: the backend's kernels on cpu/wasm, polynomialSinCos on GPU backends. */
export function sinCos(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
  if (isCpuLikeBackend()) return [tf.sin(x), tf.cos(x)];
  return polynomialSinCos(x);
}
