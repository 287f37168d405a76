/**
 * Shared types of the automatic-mask-generator building blocks.
 *
 * Conventions: masks are `Uint8Array`s holding 0/1 (any non-zero byte counts as set) in
 * row-major H x W order; boxes are XYXY; flat box arrays hold 4 numbers per box.
 */

/** Uncompressed RLE as the reference writes it: column-major runs, the first run counts zeros. */
export interface Rle {
  /** [H, W]. */
  size: [number, number];
  counts: number[];
}

/** COCO compressed RLE: the same runs encoded as pycocotools' ASCII string. */
export interface CocoRle {
  size: [number, number];
  counts: string;
}

/** An XYXY box `[x0, y0, x1, y1]`. */
export type BoxXYXY = [number, number, number, number];

/** Boxes as a flat array (4 numbers per box) or as one array per box. */
export type BoxesInput = ArrayLike<number> | readonly (readonly number[])[];

/** A crop box `[x0, y0, x1, y1]` (integers, x1 / y1 exclusive). */
export type CropBox = readonly [number, number, number, number] | readonly number[];
