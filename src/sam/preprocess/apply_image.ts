/**
 * `ResizeLongestSide.apply_image` of the reference: resize an H x W x C uint8 image so that
 * its longest side is `targetLength` (`getPreprocessShape`), with Pillow's BILINEAR filter.
 */
import type { Uint8Image } from './image.js';
import { getPreprocessShape } from './preprocess_shape.js';
import { resizeUint8Bilinear } from './pil_bilinear.js';

/** Resized copy of `image` (h x w from `getPreprocessShape(height, width, targetLength)`). */
export function applyImage(image: Uint8Image, targetLength: number): Uint8Image {
  const [h, w] = getPreprocessShape(image.height, image.width, targetLength);
  return resizeUint8Bilinear(image, w, h);
}
