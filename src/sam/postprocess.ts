/**
 * Mask post-processing (`Sam.postprocess_masks` in the reference): low-res logits are
 * upscaled bilinearly to the padded encoder input (S x S), the padding is cropped away
 * (keeping the resized image's h x w), and the result is resized to the original image.
 * Both resizes are bilinear with align_corners=False and no antialiasing, which is
 * tf.image.resizeBilinear with halfPixelCenters.
 */
import * as tf from '@tensorflow/tfjs';

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
    const [b, m] = masks.shape;
    const [h, w] = inputSize;
    const nhwc = masks.transpose([0, 2, 3, 1]) as tf.Tensor4D;
    const full = tf.image.resizeBilinear(nhwc, [imgSize, imgSize], false, true);
    const cropped = full.slice([0, 0, 0, 0], [b, h, w, m]);
    const orig = tf.image.resizeBilinear(cropped, originalSize, false, true);
    return orig.transpose([0, 3, 1, 2]) as tf.Tensor4D;
  });
}

/** Logits -> boolean masks: strictly greater than the threshold, as the reference. */
export function thresholdMasks(logits: tf.Tensor, maskThreshold = 0): tf.Tensor {
  return tf.greater(logits, maskThreshold);
}
