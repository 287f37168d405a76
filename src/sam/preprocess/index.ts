/**
 * Image and prompt preprocessing, exact replicas of the reference's `ResizeLongestSide`,
 * Pillow's bilinear resize and `Sam.preprocess`.
 */
export { checkUint8Image, type RgbImage, type Uint8Image } from './image.js';
export { getPreprocessShape } from './preprocess_shape.js';
export {
  applyBoxes,
  applyBoxesTorch,
  applyCoords,
  applyCoordsTorch,
  type CoordsInput,
  type ImageSize,
} from './coords.js';
export { precomputeCoeffs, resizeUint8Bilinear, type ResampleCoeffs } from './pil_bilinear.js';
export { applyImage } from './apply_image.js';
export { DEFAULT_PIXEL_MEAN, DEFAULT_PIXEL_STD, preprocessImage, type NormalizeOptions } from './normalize_pad.js';
export { preprocess, type PreprocessedImage } from './pipeline.js';
export { decodeImage, rgbaToRgb, SUPPORTED_IMAGE_FORMATS } from './decode_image.js';
