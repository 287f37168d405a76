/** Masks in the forms users need: images, cut-outs, overlays, boxes, RLE, PNG. */
export type { MaskLike, PixelsLike, RgbaImage } from './types.js';
export { maskToImage } from './mask_image.js';
export { cutout } from './cutout.js';
export { overlay, maskColor, type OverlayOptions } from './overlay.js';
export { maskArea, maskBBox, maskToCocoRle, maskToUncompressedRle } from './bbox.js';
export { encodePng } from './png.js';
