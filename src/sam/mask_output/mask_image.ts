/** A binary mask as an image: white object on black, opaque (what a "PNG mask" shows). */
import type { MaskLike, RgbaImage } from './types.js';

export function maskToImage(mask: MaskLike, foreground = 255, background = 0): RgbaImage {
  const n = mask.width * mask.height;
  if (mask.data.length !== n) throw new Error(`maskToImage: the mask has ${mask.data.length} values for ${mask.width}x${mask.height}`);
  const data = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    const v = mask.data[i] ? foreground : background;
    data[4 * i] = data[4 * i + 1] = data[4 * i + 2] = v;
    data[4 * i + 3] = 255;
  }
  return { width: mask.width, height: mask.height, data };
}
