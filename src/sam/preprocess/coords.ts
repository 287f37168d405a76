/**
 * `ResizeLongestSide.apply_coords / apply_boxes` (numpy, float64) and
 * `apply_coords_torch / apply_boxes_torch` (torch, float32) of the reference.
 *
 * Data: points are (x, y) pairs and boxes (x0, y0, x1, y1) quadruples in pixels of the
 * ORIGINAL image; they are passed flat (`[x0, y0, x1, y1, ...]`, i.e. numpy's `... x 2`
 * or `B x 4` array in C order) or as nested rows (`[[x, y], ...]` / `[[x0, y0, x1, y1], ...]`)
 * and come back flat in the same order, in pixels of the resized image
 * (`getPreprocessShape(H, W, targetLength)`), which is the model-input frame.
 *
 * Arithmetic, exactly as the reference:
 * - numpy: `coords.astype(float)`; `x * (new_w / old_w)`, `y * (new_h / old_h)`, all float64.
 *   `SamPredictor.predict` casts the result to float32 afterwards (not done here).
 * - torch: `coords.to(torch.float)`; the ratio `new_w / old_w` is a Python float (float64)
 *   but multiplying a float32 tensor by a Python scalar casts the scalar to float32 first
 *   (wrapped-number type promotion), then multiplies in float32:
 *   `fround(fround(x) * fround(new_w / old_w))`. The float64 product of two float32 values is
 *   exact (24 + 24 bits < 53), so rounding it once with `Math.fround` is the IEEE float32 product.
 */
import { getPreprocessShape } from './preprocess_shape.js';

/** `[H, W]` of an image, as the reference's `original_size`. */
export type ImageSize = readonly [number, number];

/** Flat numbers or rows of numbers (each row of length `group`). */
export type CoordsInput = ArrayLike<number> | ReadonlyArray<ReadonlyArray<number>>;

/** Flattens `input` into float64 values, checking that it is made of whole groups of `group` numbers. */
function flatten(input: CoordsInput, group: number, what: string): Float64Array {
  const n = input.length;
  if (n > 0 && typeof input[0] !== 'number') {
    const rows = input as ReadonlyArray<ReadonlyArray<number>>;
    const out = new Float64Array(n * group);
    for (let i = 0; i < n; i++) {
      const row = rows[i];
      if (!row || row.length !== group) {
        throw new Error(`${what}: row ${i} has ${row?.length} values, expected ${group}`);
      }
      for (let j = 0; j < group; j++) out[i * group + j] = Number(row[j]);
    }
    return out;
  }
  if (n % group !== 0) throw new Error(`${what}: ${n} values is not a multiple of ${group}`);
  return Float64Array.from(input as ArrayLike<number>);
}

function ratios(originalSize: ImageSize, targetLength: number): { rx: number; ry: number } {
  const [oldH, oldW] = originalSize;
  const [newH, newW] = getPreprocessShape(oldH, oldW, targetLength);
  return { rx: newW / oldW, ry: newH / oldH };
}

/** Scales interleaved (x, y) values in place in float64 (even index: x, odd index: y). */
function scale64(values: Float64Array, originalSize: ImageSize, targetLength: number): Float64Array {
  const { rx, ry } = ratios(originalSize, targetLength);
  for (let i = 0; i < values.length; i += 2) {
    values[i] = values[i] * rx;
    values[i + 1] = values[i + 1] * ry;
  }
  return values;
}

/** Scales interleaved (x, y) values into float32 exactly as torch does. */
function scale32(values: Float64Array, originalSize: ImageSize, targetLength: number): Float32Array {
  const { rx, ry } = ratios(originalSize, targetLength);
  const rx32 = Math.fround(rx);
  const ry32 = Math.fround(ry);
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i += 2) {
    out[i] = Math.fround(values[i]) * rx32; // stored into a Float32Array: rounded once, like torch
    out[i + 1] = Math.fround(values[i + 1]) * ry32;
  }
  return out;
}

/** numpy `apply_coords`: (x, y) points of the original image -> model-input frame, float64. */
export function applyCoords(coords: CoordsInput, originalSize: ImageSize, targetLength: number): Float64Array {
  return scale64(flatten(coords, 2, 'applyCoords'), originalSize, targetLength);
}

/** numpy `apply_boxes`: (x0, y0, x1, y1) boxes of the original image -> model-input frame, float64. */
export function applyBoxes(boxes: CoordsInput, originalSize: ImageSize, targetLength: number): Float64Array {
  return scale64(flatten(boxes, 4, 'applyBoxes'), originalSize, targetLength);
}

/** torch `apply_coords_torch`: like `applyCoords` but computed in float32 as torch does. */
export function applyCoordsTorch(coords: CoordsInput, originalSize: ImageSize, targetLength: number): Float32Array {
  return scale32(flatten(coords, 2, 'applyCoordsTorch'), originalSize, targetLength);
}

/** torch `apply_boxes_torch`: like `applyBoxes` but computed in float32 as torch does. */
export function applyBoxesTorch(boxes: CoordsInput, originalSize: ImageSize, targetLength: number): Float32Array {
  return scale32(flatten(boxes, 4, 'applyBoxesTorch'), originalSize, targetLength);
}
