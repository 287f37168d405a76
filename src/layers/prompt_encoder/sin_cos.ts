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
import { SIN_COS } from '../../backends/gpu_sin_cos.js';
import { webglKernelsActive } from '../../backends/webgl_kernels.js';
import { webgpuKernelsActive } from '../../backends/webgpu_kernels.js';
import { isCpuLikeBackend } from '../tensor_utils.js';

const [PIO2_1, PIO2_2, PIO2_3] = SIN_COS.pio2; // pi/2 = PIO2_1 + PIO2_2 + PIO2_3, each exact in float32
const [S1, S2, S3] = SIN_COS.sin;
const [C1, C2, C3] = SIN_COS.cos;

/** [sin(x), cos(x)] computed with elementary arithmetic (see the file comment). */
export function polynomialSinCos(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
  return tf.tidy(() => {
    const k = tf.round(tf.mul(x, SIN_COS.twoOverPi));
    let r = tf.sub(x, tf.mul(k, PIO2_1));
    r = tf.sub(r, tf.mul(k, PIO2_2));
    r = tf.sub(r, tf.mul(k, PIO2_3));
    const z = tf.mul(r, r);
    // sin r = r + r z (s1 + z (s2 + z s3)); cos r = 1 - z/2 + z^2 (c1 + z (c2 + z c3))
    const sinR = tf.add(r, tf.mul(tf.mul(r, z), tf.add(S1, tf.mul(z, tf.add(S2, tf.mul(z, S3))))));
    const cosR = tf.add(tf.sub(1, tf.mul(z, 0.5)), tf.mul(tf.mul(z, z), tf.add(C1, tf.mul(z, tf.add(C2, tf.mul(z, C3))))));
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

/**
 * x [..., F] -> [..., 2F]: sin(x) then cos(x) along the last axis (the encodings' layout).
 * On WebGPU and WebGL one `SamSinCos` kernel (src/backends/gpu_sin_cos.ts: the arithmetic of
 * polynomialSinCos in one dispatch instead of ~40), unless those kernels are switched off.
 */
export function sinCosFeatures(x: tf.Tensor): tf.Tensor {
  if (x.dtype === 'float32' && (webgpuKernelsActive() || webglKernelsActive())) return tf.engine().runKernel('SamSinCos', { x }) as tf.Tensor;
  return tf.tidy(() => tf.concat(sinCos(x), -1));
}
