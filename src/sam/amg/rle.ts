/**
 * Uncompressed RLE of binary masks, in the reference's format (`mask_to_rle_pytorch`,
 * `rle_to_mask`, `area_from_rle`): runs over the mask in column-major (Fortran) order,
 * alternating zeros / ones and always starting with a (possibly empty) run of zeros.
 */
import { maskToBoxXYXY } from './mask_box.js';
import type { CropBox, Rle } from './types.js';

/**
 * Runs of an `origH x origW` image that is zero except for a `winH x winW` window at
 * (`x0`, `y0`) whose pixel (x, y) is `mask[(my0 + y) * maskW + mx0 + x]`.
 */
function encodeWindow(
  mask: ArrayLike<number>,
  maskW: number,
  mx0: number,
  my0: number,
  x0: number,
  y0: number,
  winW: number,
  winH: number,
  origH: number,
  origW: number,
): number[] {
  const counts: number[] = [];
  let cur = 0;
  let run = 0;
  const zeros = (len: number): void => {
    if (len <= 0) return;
    if (cur === 0) {
      run += len;
    } else {
      counts.push(run);
      cur = 0;
      run = len;
    }
  };
  zeros(x0 * origH);
  const below = origH - y0 - winH;
  for (let x = 0; x < winW; x++) {
    zeros(y0);
    // Walk the column run by run: extend the current run while the value stays the same.
    let i = my0 * maskW + mx0 + x;
    const end = i + winH * maskW;
    while (i < end) {
      const s = i;
      if (cur === 0) {
        while (i < end && mask[i] === 0) i += maskW;
      } else {
        while (i < end && mask[i] !== 0) i += maskW;
      }
      run += (i - s) / maskW;
      if (i < end) {
        counts.push(run);
        cur ^= 1;
        run = 0;
      }
    }
    zeros(below);
  }
  zeros((origW - x0 - winW) * origH);
  counts.push(run);
  return counts;
}

/**
 * Encodes a row-major H x W mask (non-zero = set). Only the mask's bounding box is scanned
 * column by column; everything outside it is known to be zeros.
 */
export function maskToRle(mask: ArrayLike<number>, h: number, w: number): Rle {
  if (mask.length !== h * w) throw new Error(`maskToRle: mask has ${mask.length} values, expected ${h} x ${w}`);
  const [bx0, by0, bx1, by1] = maskToBoxXYXY(mask, h, w);
  if (bx1 === 0 && by1 === 0 && (h * w === 0 || mask[0] === 0)) return { size: [h, w], counts: [h * w] };
  return { size: [h, w], counts: encodeWindow(mask, w, bx0, by0, bx0, by0, bx1 - bx0 + 1, by1 - by0 + 1, h, w) };
}

/**
 * RLE of a crop-sized mask placed into the original image (zeros elsewhere), without building
 * the full-size mask: equal to `maskToRle(uncropMask(mask, cropBox, origH, origW), origH, origW)`.
 * The crop is `cropBox = [x0, y0, x1, y1]`, the mask `(y1 - y0) x (x1 - x0)` row-major.
 */
export function maskToRleUncropped(mask: ArrayLike<number>, cropBox: CropBox, origH: number, origW: number): Rle {
  const [x0, y0, x1, y1] = cropBox;
  const ch = y1 - y0;
  const cw = x1 - x0;
  if (x0 < 0 || y0 < 0 || x1 > origW || y1 > origH || cw < 0 || ch < 0) {
    throw new Error(`maskToRleUncropped: crop box [${cropBox.join(', ')}] is not inside ${origH} x ${origW}`);
  }
  if (mask.length !== ch * cw) {
    throw new Error(`maskToRleUncropped: mask has ${mask.length} values, expected ${ch} x ${cw}`);
  }
  const [bx0, by0, bx1, by1] = maskToBoxXYXY(mask, ch, cw);
  if (bx1 === 0 && by1 === 0 && (ch * cw === 0 || mask[0] === 0)) return { size: [origH, origW], counts: [origH * origW] };
  const counts = encodeWindow(mask, cw, bx0, by0, x0 + bx0, y0 + by0, bx1 - bx0 + 1, by1 - by0 + 1, origH, origW);
  return { size: [origH, origW], counts };
}

/** Decodes an uncompressed RLE into a row-major H x W 0/1 mask (into `out` when given). */
export function rleToMask(rle: Rle, out?: Uint8Array): Uint8Array {
  const [h, w] = rle.size;
  const n = h * w;
  let mask: Uint8Array;
  if (out) {
    if (out.length !== n) throw new Error(`rleToMask: out has ${out.length} values, expected ${h} x ${w}`);
    mask = out;
    mask.fill(0);
  } else {
    mask = new Uint8Array(n);
  }
  const counts = rle.counts;
  let idx = 0; // column-major position
  for (let k = 0; k < counts.length; k++) {
    const c = counts[k];
    if ((k & 1) === 1 && c > 0) {
      const end = Math.min(idx + c, n);
      let x = Math.floor(idx / h);
      let y = idx - x * h;
      for (let p = idx; p < end; p++) {
        mask[y * w + x] = 1;
        if (++y === h) {
          y = 0;
          x++;
        }
      }
    }
    idx += c;
  }
  if (idx !== n) throw new Error(`rleToMask: counts add up to ${idx}, expected ${h} x ${w} = ${n}`);
  return mask;
}

/** Number of set pixels: the sum of the odd-indexed runs. */
export function areaFromRle(rle: Rle | { counts: ArrayLike<number> }): number {
  const counts = rle.counts;
  let area = 0;
  for (let k = 1; k < counts.length; k += 2) area += counts[k];
  return area;
}

/**
 * XYXY box (inclusive pixel indices) of an RLE mask, straight from its runs; [0, 0, 0, 0] when
 * empty. Equal to `maskToBoxXYXY(rleToMask(rle), h, w)`.
 */
export function rleToBoxXYXY(rle: Rle): [number, number, number, number] {
  const [h] = rle.size;
  const counts = rle.counts;
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -1;
  let y1 = -1;
  let idx = 0;
  for (let k = 0; k < counts.length; k++) {
    const c = counts[k];
    if ((k & 1) === 1 && c > 0) {
      const last = idx + c - 1;
      const cs = Math.floor(idx / h);
      const ce = Math.floor(last / h);
      const top = cs === ce ? idx - cs * h : 0;
      const bottom = cs === ce ? last - ce * h : h - 1;
      if (cs < x0) x0 = cs;
      if (ce > x1) x1 = ce;
      if (top < y0) y0 = top;
      if (bottom > y1) y1 = bottom;
    }
    idx += c;
  }
  if (x1 < 0) return [0, 0, 0, 0];
  return [x0, y0, x1, y1];
}
