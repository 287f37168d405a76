/**
 * Decoding image files into the RGB uint8 HWC array `SamPredictor.set_image` expects (Node only).
 *
 * Uses jimp 1.x, which decodes PNG, JPEG, BMP, GIF (first frame) and TIFF into RGBA and applies
 * the EXIF orientation tag of JPEGs itself (`attemptExifRotate` in `Jimp.fromBuffer`), as
 * OpenCV's `cv2.imread` - used by the reference's scripts - does. Conversion to RGB follows
 * PIL's `convert('RGB')`: grayscale is replicated into the three channels (the PNG decoder
 * already does that) and alpha is DROPPED, not composited onto a background.
 *
 * Pixel values of lossless formats (PNG, BMP) are exact; JPEG decoders differ from each other
 * (libjpeg in PIL / OpenCV vs jpeg-js here) by small amounts on some pixels. 16-bit PNGs are
 * scaled to 8 bits by the decoder (round(v * 255 / 65535)), not truncated (v >> 8) as PIL does.
 */
import { Jimp } from 'jimp';
import type { RgbImage } from './image.js';

/** Formats the jimp build in use can decode. */
export const SUPPORTED_IMAGE_FORMATS: readonly string[] = ['PNG', 'JPEG', 'BMP', 'GIF', 'TIFF'];

/** Drops the alpha channel of RGBA pixels (PIL `convert('RGB')`). */
export function rgbaToRgb(rgba: Uint8Array, width: number, height: number): Uint8Array {
  const n = width * height;
  if (rgba.length !== n * 4) throw new Error(`rgbaToRgb: expected ${n * 4} bytes for ${width}x${height} RGBA, got ${rgba.length}`);
  const rgb = new Uint8Array(n * 3);
  for (let i = 0, j = 0; i < n * 4; i += 4, j += 3) {
    rgb[j] = rgba[i];
    rgb[j + 1] = rgba[i + 1];
    rgb[j + 2] = rgba[i + 2];
  }
  return rgb;
}

function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    const { readFile } = await import('node:fs/promises');
    return await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException)?.code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : errorMessage(e);
    throw new Error(`cannot read image ${path}: ${why}`);
  }
}

/**
 * Decodes an image file (path) or its bytes into `{ data: RGB HWC uint8, width, height, channels: 3 }`.
 * Throws `cannot read image X: ...` when the file cannot be read and
 * `cannot decode image X: ..., supported formats are PNG, JPEG, ...` when its content is empty,
 * unrecognised or broken.
 */
export async function decodeImage(source: string | Uint8Array): Promise<RgbImage> {
  const label = typeof source === 'string' ? source : `<${source.length} bytes>`;
  const bytes = typeof source === 'string' ? await readBytes(source) : source;
  const supported = `supported formats are ${SUPPORTED_IMAGE_FORMATS.join(', ')}`;
  if (bytes.length === 0) throw new Error(`cannot decode image ${label}: the file is empty, ${supported}`);
  const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let image: Awaited<ReturnType<typeof Jimp.fromBuffer>>;
  try {
    image = await Jimp.fromBuffer(buffer);
  } catch (e) {
    const msg = errorMessage(e);
    const why = /Could not find MIME/i.test(msg) ? 'unrecognised content (not an image, or an unsupported format)' : msg;
    throw new Error(`cannot decode image ${label}: ${why}, ${supported}`);
  }
  const { width, height, data } = image.bitmap;
  if (!(width > 0 && height > 0) || data.length !== width * height * 4) {
    throw new Error(`cannot decode image ${label}: decoder returned a ${width}x${height} bitmap of ${data.length} bytes, ${supported}`);
  }
  return { data: rgbaToRgb(data, width, height), width, height, channels: 3 };
}
