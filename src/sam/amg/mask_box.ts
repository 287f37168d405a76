/**
 * Boxes around binary masks (reference: `batched_mask_to_box`, `box_xyxy_to_xywh`).
 */

/**
 * XYXY box around a row-major H x W mask: inclusive pixel indices (x1 = last set column,
 * y1 = last set row), [0, 0, 0, 0] for an empty mask.
 */
export function maskToBoxXYXY(mask: ArrayLike<number>, h: number, w: number, offset = 0): [number, number, number, number] {
  let x0 = w;
  let x1 = -1;
  let y0 = -1;
  let y1 = -1;
  for (let y = 0; y < h; y++) {
    const row = offset + y * w;
    // First set column of the row, if any.
    let first = 0;
    while (first < w && mask[row + first] === 0) first++;
    if (first === w) continue;
    if (y0 < 0) y0 = y;
    y1 = y;
    if (first < x0) x0 = first;
    // Last set column: only the part right of the current x1 can change it.
    let last = w - 1;
    const stop = Math.max(first, x1);
    while (last > stop && mask[row + last] === 0) last--;
    if (last > x1) x1 = last;
  }
  if (y0 < 0) return [0, 0, 0, 0];
  return [x0, y0, x1, y1];
}

/** Boxes of `n` masks stored back to back (n x H x W): an `Int32Array` of n x 4. */
export function batchedMaskToBox(masks: ArrayLike<number>, n: number, h: number, w: number): Int32Array {
  if (masks.length !== n * h * w) {
    throw new Error(`batchedMaskToBox: ${masks.length} values for ${n} x ${h} x ${w}`);
  }
  const out = new Int32Array(n * 4);
  for (let k = 0; k < n; k++) out.set(maskToBoxXYXY(masks, h, w, k * h * w), k * 4);
  return out;
}

/** `[x0, y0, x1, y1]` -> `[x0, y0, x1 - x0, y1 - y0]`. */
export function boxXyxyToXywh(box: ArrayLike<number>): [number, number, number, number] {
  return [box[0], box[1], box[2] - box[0], box[3] - box[1]];
}
