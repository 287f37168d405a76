/**
 * The plain image container shared by the preprocessing steps.
 *
 * Pixels are 8-bit, interleaved, row-major (HWC): the value of channel `c` of pixel
 * (x, y) is `data[(y * width + x) * channels + c]`. This is the layout of the uint8
 * numpy array `SamPredictor.set_image` receives (H x W x 3, RGB).
 */
export interface Uint8Image {
  /** HWC interleaved samples, `width * height * channels` bytes. */
  data: Uint8Array;
  width: number;
  height: number;
  /** Samples per pixel (3 for RGB). */
  channels: number;
}

/** An RGB image as produced by `decodeImage`: `channels` is always 3. */
export interface RgbImage extends Uint8Image {
  channels: 3;
}

/** Throws unless `image` is a consistent `Uint8Image` (positive integer sizes, matching data length). */
export function checkUint8Image(image: Uint8Image, what = 'image'): void {
  const { width, height, channels, data } = image;
  for (const [name, v] of [['width', width], ['height', height], ['channels', channels]] as const) {
    if (!Number.isInteger(v) || v <= 0) {
      throw new Error(`${what}: ${name} must be a positive integer, got ${v}`);
    }
  }
  if (!(data instanceof Uint8Array) || data.length !== width * height * channels) {
    throw new Error(
      `${what}: expected ${width}x${height}x${channels} = ${width * height * channels} bytes, got ${data?.length}`,
    );
  }
}
