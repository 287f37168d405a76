/**
 * Bounding box and COCO RLE of a mask, with the reference's conventions: the box is XYWH
 * over inclusive pixel indices (`box_xyxy_to_xywh(batched_mask_to_box(...))`, so a single
 * pixel has w = h = 0, and an empty mask gives [0, 0, 0, 0]); RLE is column-major.
 */
import { rleToCocoRle } from '../amg/coco_rle.js';
import { boxXyxyToXywh, maskToBoxXYXY } from '../amg/mask_box.js';
import { maskToRle } from '../amg/rle.js';
import type { CocoRle, Rle } from '../amg/types.js';
import type { MaskLike } from './types.js';

export function maskBBox(mask: MaskLike): [number, number, number, number] {
  return boxXyxyToXywh(maskToBoxXYXY(mask.data, mask.height, mask.width));
}

export function maskArea(mask: MaskLike): number {
  let n = 0;
  for (let i = 0; i < mask.data.length; i++) if (mask.data[i]) n++;
  return n;
}

/** Uncompressed RLE `{ size: [H, W], counts: number[] }`. */
export function maskToUncompressedRle(mask: MaskLike): Rle {
  return maskToRle(mask.data, mask.height, mask.width);
}

/** COCO compressed RLE `{ size: [H, W], counts: string }` (pycocotools' string format). */
export function maskToCocoRle(mask: MaskLike): CocoRle {
  return rleToCocoRle(maskToRle(mask.data, mask.height, mask.width));
}
