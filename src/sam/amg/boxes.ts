/**
 * Box, point and mask helpers between crop and image frames (reference:
 * `is_box_near_crop_edge`, `uncrop_boxes_xyxy`, `uncrop_points`, `uncrop_masks`, torchvision
 * `box_area`).
 */
import { flatten, isNested } from './boxes_input.js';
import type { BoxesInput, CropBox } from './types.js';

type Flat = number[] | Float32Array | Float64Array | Int32Array;

function addOffsets(boxes: Flat | readonly (readonly number[])[], offsets: readonly number[]): Flat | number[][] {
  const k = offsets.length;
  if (isNested(boxes)) {
    return boxes.map((row) => {
      if (row.length !== k) throw new Error(`uncrop: item has ${row.length} values, expected ${k}`);
      return row.map((v, j) => v + offsets[j]);
    });
  }
  const flat = boxes as Flat;
  if (flat.length % k !== 0) throw new Error(`uncrop: ${flat.length} values are not a multiple of ${k}`);
  const out = flat.slice();
  for (let i = 0; i < out.length; i++) out[i] += offsets[i % k];
  return out;
}

/** Moves XYXY boxes from crop coordinates to image coordinates (adds x0, y0). Same layout and type as the input. */
export function uncropBoxesXYXY<T extends Flat>(boxes: T, cropBox: CropBox): T;
export function uncropBoxesXYXY(boxes: readonly (readonly number[])[], cropBox: CropBox): number[][];
export function uncropBoxesXYXY(boxes: Flat | readonly (readonly number[])[], cropBox: CropBox): Flat | number[][] {
  const [x0, y0] = cropBox;
  return addOffsets(boxes, [x0, y0, x0, y0]);
}

/** Moves (x, y) points from crop coordinates to image coordinates. Same layout and type as the input. */
export function uncropPoints<T extends Flat>(points: T, cropBox: CropBox): T;
export function uncropPoints(points: readonly (readonly number[])[], cropBox: CropBox): number[][];
export function uncropPoints(points: Flat | readonly (readonly number[])[], cropBox: CropBox): Flat | number[][] {
  const [x0, y0] = cropBox;
  return addOffsets(points, [x0, y0]);
}

/**
 * Pads a crop-sized mask (`(y1 - y0) x (x1 - x0)`, row-major) with zeros into an
 * `origH x origW` mask. When the crop is the whole image, the input itself is returned.
 */
export function uncropMask(mask: Uint8Array, cropBox: CropBox, origH: number, origW: number): Uint8Array {
  const [x0, y0, x1, y1] = cropBox;
  const cw = x1 - x0;
  const ch = y1 - y0;
  if (x0 < 0 || y0 < 0 || x1 > origW || y1 > origH || cw < 0 || ch < 0) {
    throw new Error(`uncropMask: crop box [${cropBox.join(', ')}] is not inside ${origH} x ${origW}`);
  }
  if (mask.length !== cw * ch) throw new Error(`uncropMask: mask has ${mask.length} values, expected ${ch} x ${cw}`);
  if (x0 === 0 && y0 === 0 && x1 === origW && y1 === origH) return mask;
  const out = new Uint8Array(origH * origW);
  for (let y = 0; y < ch; y++) out.set(mask.subarray(y * cw, (y + 1) * cw), (y0 + y) * origW + x0);
  return out;
}

/**
 * For XYXY boxes in crop coordinates: whether the box, moved to the image frame, lies within
 * `atol` (inclusive) of an edge of the crop that is not also (within `atol`) the same edge of
 * the original image `origBox`. Returns one 0/1 per box. Coordinates are compared in float32,
 * as the reference does after `.float()`.
 */
export function isBoxNearCropEdge(boxes: BoxesInput, cropBox: CropBox, origBox: CropBox, atol = 20): Uint8Array {
  const flat = flatten(boxes, 4, 'isBoxNearCropEdge');
  const n = flat.length / 4;
  const f = Math.fround;
  const crop = [f(cropBox[0]), f(cropBox[1]), f(cropBox[2]), f(cropBox[3])];
  const orig = [f(origBox[0]), f(origBox[1]), f(origBox[2]), f(origBox[3])];
  const offsets = [cropBox[0], cropBox[1], cropBox[0], cropBox[1]];
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 4; k++) {
      const v = f(flat[4 * i + k] + offsets[k]);
      const nearCrop = v === crop[k] || f(Math.abs(f(v - crop[k]))) <= atol;
      const nearImage = v === orig[k] || f(Math.abs(f(v - orig[k]))) <= atol;
      if (nearCrop && !nearImage) {
        out[i] = 1;
        break;
      }
    }
  }
  return out;
}

/** Area `(x1 - x0) * (y1 - y0)` of one XYXY box. */
export function boxArea(box: ArrayLike<number>): number {
  return (box[2] - box[0]) * (box[3] - box[1]);
}

/** Areas of many XYXY boxes (flat or nested), as a `Float64Array`. */
export function boxAreas(boxes: BoxesInput): Float64Array {
  const flat = flatten(boxes, 4, 'boxAreas');
  const out = new Float64Array(flat.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = boxArea([flat[4 * i], flat[4 * i + 1], flat[4 * i + 2], flat[4 * i + 3]]);
  return out;
}
