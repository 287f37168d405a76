/**
 * Everything a user may hand to `setImage`, turned into the RGB uint8 HWC image the
 * reference expects: a file path or encoded bytes (Node, decoded by jimp with EXIF
 * orientation applied), a jimp image, a `Tensor3D` [H, W, C] of 0..255 values, a plain
 * `{ data, width, height, channels }` image, and in the browser `ImageData`,
 * `HTMLImageElement`, `HTMLCanvasElement`, `OffscreenCanvas` and `ImageBitmap`.
 * Grayscale becomes RGB by replication; alpha is dropped (PIL's `convert('RGB')`).
 */
import * as tf from '@tensorflow/tfjs';
import type { RgbImage, Uint8Image } from './preprocess/image.js';

/** An image as pixels: `data` is HWC interleaved, `channels` 1 (gray), 3 (RGB) or 4 (RGBA). */
export type PixelImage = Uint8Image;

/** The jimp image shape we read (any object with an RGBA `bitmap`). */
export interface JimpLike {
  bitmap: { data: Uint8Array; width: number; height: number };
}

export type ImageInput =
  | string
  | Uint8Array
  | ArrayBuffer
  | JimpLike
  | tf.Tensor3D
  | PixelImage
  | ImageData
  | HTMLImageElement
  | HTMLCanvasElement
  | ImageBitmap
  | OffscreenCanvas;

/** Any 1-, 3- or 4-channel uint8 image -> RGB (gray replicated, alpha dropped). */
export function toRgb(image: Uint8Image, what = 'image'): RgbImage {
  const { width, height, channels, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new Error(`${what}: width and height must be positive integers (got ${width} x ${height})`);
  }
  if (![1, 2, 3, 4].includes(channels)) {
    throw new Error(`${what}: expected 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA) channels, got ${channels}`);
  }
  const n = width * height;
  if (data.length !== n * channels) {
    throw new Error(`${what}: ${width}x${height}x${channels} needs ${n * channels} bytes, got ${data.length}`);
  }
  if (channels === 3) return { data, width, height, channels: 3 };
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const src = i * channels;
    if (channels <= 2) {
      rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = data[src];
    } else {
      rgb[3 * i] = data[src];
      rgb[3 * i + 1] = data[src + 1];
      rgb[3 * i + 2] = data[src + 2];
    }
  }
  return { data: rgb, width, height, channels: 3 };
}

/** A [H, W, C] tensor of 0..255 values -> RGB bytes. Values are rounded and clipped to 0..255. */
export async function tensorToRgb(t: tf.Tensor): Promise<RgbImage> {
  if (t.rank !== 3) throw new Error(`setImage: a tensor image must be [H, W, C] (HWC), got shape [${t.shape}]`);
  const [height, width, channels] = t.shape as [number, number, number];
  const values = await t.data();
  const data = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = Number(values[i]);
    if (!Number.isFinite(v)) throw new Error('setImage: the image tensor holds NaN or infinite values');
    data[i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
  }
  return toRgb({ data, width, height, channels }, 'setImage');
}

const isBrowserDrawable = (x: unknown): boolean =>
  (typeof HTMLImageElement !== 'undefined' && x instanceof HTMLImageElement) ||
  (typeof HTMLCanvasElement !== 'undefined' && x instanceof HTMLCanvasElement) ||
  (typeof ImageBitmap !== 'undefined' && x instanceof ImageBitmap) ||
  (typeof OffscreenCanvas !== 'undefined' && x instanceof OffscreenCanvas);

/** Converts any supported input to an RGB image. Paths and bytes need Node (jimp decoding). */
export async function toRgbImage(input: ImageInput): Promise<RgbImage> {
  if (input === null || input === undefined) throw new Error('setImage: no image given');
  if (typeof input === 'string' || input instanceof Uint8Array || input instanceof ArrayBuffer) {
    const { decodeImage } = await import('./preprocess/decode_image.js');
    return decodeImage(input instanceof ArrayBuffer ? new Uint8Array(input) : input);
  }
  if (input instanceof tf.Tensor || typeof (input as unknown as tf.Tensor).dataSync === 'function') return tensorToRgb(input as unknown as tf.Tensor);
  if (typeof (input as JimpLike).bitmap === 'object') {
    const { data, width, height } = (input as JimpLike).bitmap;
    return toRgb({ data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height, channels: 4 }, 'setImage (jimp image)');
  }
  if (typeof ImageData !== 'undefined' && input instanceof ImageData) {
    const { data, width, height } = input;
    return toRgb({ data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width, height, channels: 4 }, 'setImage (ImageData)');
  }
  if (isBrowserDrawable(input)) {
    const t = tf.browser.fromPixels(input as HTMLImageElement, 3);
    try {
      return await tensorToRgb(t);
    } finally {
      t.dispose();
    }
  }
  const px = input as PixelImage;
  if ((px.data as unknown) instanceof Uint8Array || (px.data as unknown) instanceof Uint8ClampedArray) {
    const data = new Uint8Array(px.data.buffer, px.data.byteOffset, px.data.byteLength);
    const channels = px.channels ?? data.length / (px.width * px.height);
    return toRgb({ data, width: px.width, height: px.height, channels }, 'setImage');
  }
  throw new Error(
    'setImage: unsupported image input; pass a file path, encoded bytes, a jimp image, a [H, W, C] tensor, ' +
      '{ data, width, height, channels }, or in the browser ImageData / HTMLImageElement / HTMLCanvasElement / ImageBitmap',
  );
}
