/** PNG encoding of RGBA images (jimp: works in Node and in the browser). */
import { Jimp } from 'jimp';
import type { RgbaImage } from './types.js';

export async function encodePng(image: RgbaImage): Promise<Uint8Array> {
  if (image.width === 0 || image.height === 0) throw new Error('encodePng: the image is empty (an empty mask has nothing to cut out)');
  if (image.data.length !== image.width * image.height * 4) {
    throw new Error(`encodePng: expected ${image.width * image.height * 4} RGBA bytes, got ${image.data.length}`);
  }
  const data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  const img = new Jimp({ width: image.width, height: image.height, data });
  return new Uint8Array(await img.getBuffer('image/png'));
}
