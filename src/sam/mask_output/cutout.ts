/**
 * Cut-out: the image's pixels where the mask is set, transparent elsewhere. With `crop`
 * the result is cropped to the mask's bounding box.
 */
import { maskBBox } from './bbox.js';
import { channelsOf, checkSameSize, type MaskLike, type PixelsLike, type RgbaImage } from './types.js';

export function cutout(image: PixelsLike, mask: MaskLike, options: { crop?: boolean } = {}): RgbaImage {
  checkSameSize(mask, image, 'cutout');
  const c = channelsOf(image, 'cutout');
  let [x0, y0, w, h] = [0, 0, image.width, image.height];
  if (options.crop) {
    const box = maskBBox(mask);
    if (box[2] === 0 && box[3] === 0 && !mask.data[0]) return { width: 0, height: 0, data: new Uint8Array(0) };
    [x0, y0] = box;
    // maskBBox is XYWH over inclusive pixel indices, so the crop spans w + 1 columns.
    w = box[2] + 1;
    h = box[3] + 1;
  }
  const data = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const src = (y0 + y) * image.width + (x0 + x);
      const dst = 4 * (y * w + x);
      if (!mask.data[src]) continue;
      data[dst] = image.data[src * c];
      data[dst + 1] = image.data[src * c + 1];
      data[dst + 2] = image.data[src * c + 2];
      data[dst + 3] = c === 4 ? image.data[src * c + 3] : 255;
    }
  }
  return { width: w, height: h, data };
}
