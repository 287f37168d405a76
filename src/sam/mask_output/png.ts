/**
 * PNG encoding of RGBA images: jimp in Node, the canvas (OffscreenCanvas) in browsers and
 * workers, where Node's Buffer that jimp's encoder needs does not exist.
 */
import type { RgbaImage } from './types.js';

export async function encodePng(image: RgbaImage): Promise<Uint8Array> {
  if (image.width === 0 || image.height === 0) throw new Error('encodePng: the image is empty (an empty mask has nothing to cut out)');
  if (image.data.length !== image.width * image.height * 4) {
    throw new Error(`encodePng: expected ${image.width * image.height * 4} RGBA bytes, got ${image.data.length}`);
  }
  if (typeof Buffer === 'undefined' && typeof OffscreenCanvas !== 'undefined') {
    const canvas = new OffscreenCanvas(image.width, image.height);
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('encodePng: no 2d canvas context');
    ctx.putImageData(new ImageData(new Uint8ClampedArray(image.data), image.width, image.height), 0, 0);
    return new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer());
  }
  const { Jimp } = await import('jimp');
  const data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  const img = new Jimp({ width: image.width, height: image.height, data });
  return new Uint8Array(await img.getBuffer('image/png'));
}
