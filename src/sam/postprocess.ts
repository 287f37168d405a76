/**
 * Mask post-processing (`Sam.postprocess_masks` in the reference): low-res logits are
 * upscaled bilinearly to the padded encoder input (S x S), the padding is cropped away
 * (keeping the resized image's h x w), and the result is resized to the original image.
 * Both resizes are bilinear with align_corners=False and no antialiasing, which is
 * tf.image.resizeBilinear with halfPixelCenters. These tfjs ops serve GPU backends and the
 * tensor API (predictTensors); predict() and the automatic mask generator on cpu/wasm use
 * the JavaScript form in postprocess_js.ts.
 * The masks are resized as the channels of one image (NHWC): tfjs-wasm resizes three
 * channels in ~60% of the time it takes for three one-channel images, transposes included.
 */
import * as tf from '@tensorflow/tfjs';
import { isCpuLikeBackend } from '../layers/tensor_utils.js';

/**
 * masks [B, M, h4, w4] (logits) -> [B, M, H, W] (logits at the original size).
 * inputSize: [h, w] of the resized image inside the padded input; originalSize: [H, W].
 */
export function postprocessMasks(
  masks: tf.Tensor4D,
  inputSize: [number, number],
  originalSize: [number, number],
  imgSize: number,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [h, w] = inputSize;
    if (!isCpuLikeBackend()) {
      // GPU backends: each mask as an image of one channel ([B M, H, W, 1], a reshape): the
      // same interpolation per mask without the two Transpose dispatches around it.
      const [b, m, lh, lw] = masks.shape;
      const full = tf.image.resizeBilinear(masks.reshape([b * m, lh, lw, 1]) as tf.Tensor4D, [imgSize, imgSize], false, true);
      const resized = tf.image.resizeBilinear(cropTopLeft(full, h, w), originalSize, false, true);
      return resized.reshape([b, m, originalSize[0], originalSize[1]]) as tf.Tensor4D;
    }
    const nhwc = masks.transpose([0, 2, 3, 1]) as tf.Tensor4D;
    const full = tf.image.resizeBilinear(nhwc, [imgSize, imgSize], false, true); // [B, S, S, M]
    const cropped = cropTopLeft(full, h, w); // [B, h, w, M]
    return tf.image.resizeBilinear(cropped, originalSize, false, true).transpose([0, 3, 1, 2]) as tf.Tensor4D;
  });
}

/**
 * x [N, S, S, C] -> x[:, :h, :w]. tfjs-wasm slices element by element in JavaScript unless
 * the part is one contiguous run (~140 ms for 3 masks at 1024 x 1024); on cpu/wasm the
 * rows are copied here.
 */
function cropTopLeft(x: tf.Tensor4D, h: number, w: number): tf.Tensor4D {
  const [n, sh, sw, c] = x.shape;
  if (h === sh && w === sw) return x;
  if (!isCpuLikeBackend()) return x.slice([0, 0, 0, 0], [n, h, w, c]);
  const src = x.dataSync() as Float32Array;
  const out = new Float32Array(n * h * w * c);
  const row = w * c;
  for (let i = 0; i < n; i++) {
    for (let y = 0; y < h; y++) {
      const from = (i * sh + y) * sw * c;
      out.set(src.subarray(from, from + row), (i * h + y) * row);
    }
  }
  return tf.tensor4d(out, [n, h, w, c]);
}

/**
 * Logits -> boolean masks: strictly greater than the threshold, as the reference. On wasm
 * as Step (x - t > 0 exactly when x > t in IEEE floats; wasm's Step gives 0 for NaN) cast
 * to bool: tfjs-wasm's Greater with a broadcast scalar is ~10x slower.
 */
export function thresholdMasks(logits: tf.Tensor, maskThreshold = 0): tf.Tensor {
  if (tf.getBackend() !== 'wasm') return tf.greater(logits, maskThreshold);
  return tf.tidy(() => tf.cast(tf.step(maskThreshold === 0 ? logits : tf.sub(logits, maskThreshold)), 'bool'));
}
