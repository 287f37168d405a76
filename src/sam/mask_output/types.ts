/** Pixel containers of the mask outputs. */

/** RGBA pixels, row-major, 4 bytes per pixel: the layout of the browser's ImageData. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** A binary mask: row-major, 1 = object. */
export interface MaskLike {
  width: number;
  height: number;
  data: ArrayLike<number>;
}

/** An image as interleaved 8-bit pixels (3 = RGB or 4 = RGBA channels). */
export interface PixelsLike {
  width: number;
  height: number;
  data: ArrayLike<number>;
  channels?: number;
}

export function channelsOf(image: PixelsLike, what: string): number {
  const c = image.channels ?? image.data.length / (image.width * image.height);
  if ((c !== 3 && c !== 4) || image.data.length !== image.width * image.height * c) {
    throw new Error(`${what}: expected an RGB or RGBA image of ${image.width}x${image.height}, got ${image.data.length} bytes`);
  }
  return c;
}

export function checkSameSize(mask: MaskLike, image: PixelsLike, what: string): void {
  if (mask.width !== image.width || mask.height !== image.height) {
    throw new Error(`${what}: the mask is ${mask.width}x${mask.height} but the image is ${image.width}x${image.height}`);
  }
  if (mask.data.length !== mask.width * mask.height) {
    throw new Error(`${what}: the mask has ${mask.data.length} values for ${mask.width}x${mask.height}`);
  }
}
