/**
 * Cutting a crop box out of an RGB image (the reference's `image[y0:y1, x0:x1, :]`).
 */
import type { RgbImage } from '../preprocess/image.js';

/**
 * The pixels of `image` inside `cropBox = [x0, y0, x1, y1]` (x1 / y1 exclusive) as a new RGB
 * image; the image itself when the box covers all of it.
 */
export function cropRgbImage(image: RgbImage, cropBox: readonly number[]): RgbImage {
  const [x0, y0, x1, y1] = cropBox;
  const { width, height, data } = image;
  if (x0 < 0 || y0 < 0 || x1 > width || y1 > height || x1 <= x0 || y1 <= y0) {
    throw new Error(`cropRgbImage: crop box [${cropBox.join(', ')}] is empty or not inside ${width} x ${height}`);
  }
  if (x0 === 0 && y0 === 0 && x1 === width && y1 === height) return image;
  const cw = x1 - x0;
  const ch = y1 - y0;
  const out = new Uint8Array(cw * ch * 3);
  for (let y = 0; y < ch; y++) {
    const src = ((y0 + y) * width + x0) * 3;
    out.set(data.subarray(src, src + cw * 3), y * cw * 3);
  }
  return { data: out, width: cw, height: ch, channels: 3 };
}
