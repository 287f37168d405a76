/**
 * The whole of the reference's image preprocessing (`SamPredictor.set_image` up to the encoder):
 * `apply_image` (resize longest side to img_size, Pillow bilinear) then `Sam.preprocess`
 * (normalise, zero-pad to img_size x img_size).
 */
import type * as tf from '@tensorflow/tfjs';
import type { ImageSize } from './coords.js';
import { applyImage } from './apply_image.js';
import type { Uint8Image } from './image.js';
import { preprocessImage, type NormalizeOptions } from './normalize_pad.js';

/** Encoder input and the sizes the predictor needs to map prompts and masks. */
export interface PreprocessedImage {
  /** `[1, S, S, C]` float32, NHWC; owned by the caller (dispose it). */
  input: tf.Tensor4D;
  /** `[H, W]` of the original image. */
  originalSize: ImageSize;
  /** `[h, w]` of the resized image inside the padded input. */
  inputSize: ImageSize;
}

/** Resizes, normalises and pads an original H x W x C uint8 image for an encoder of side `imgSize`. */
export function preprocess(image: Uint8Image, options: NormalizeOptions): PreprocessedImage {
  const resized = applyImage(image, options.imgSize);
  return {
    input: preprocessImage(resized, options),
    originalSize: [image.height, image.width],
    inputSize: [resized.height, resized.width],
  };
}
