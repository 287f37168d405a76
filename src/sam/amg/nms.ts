/**
 * Batched non-maximum suppression with torchvision's semantics (`batched_nms` on CPU).
 */
import { flatten } from './boxes_input.js';
import type { BoxesInput } from './types.js';

/**
 * Greedy NMS per category. Returns the kept indices, highest score first.
 *
 * - Boxes are visited by score, descending, with a stable order: ties keep index order.
 *   A NaN score sorts first, as in torch's descending sort.
 * - A visited box that is not yet suppressed is kept and suppresses every later box of the same
 *   category whose IoU with it is strictly greater than `iouThreshold`.
 * - IoU = inter / (areaA + areaB - inter) with area (x1 - x0) * (y1 - y0) (no +1), evaluated in
 *   float32 like the reference's float tensors (boxes and scores are rounded to float32 first);
 *   the float32 IoU is compared with the float64 threshold. 0 / 0 (two empty boxes) is NaN and
 *   suppresses nothing.
 * - Boxes of different categories never suppress each other.
 */
export function batchedNms(
  boxesXYXY: BoxesInput,
  scores: ArrayLike<number>,
  categoryIdxs: ArrayLike<number>,
  iouThreshold: number,
): number[] {
  const flat = flatten(boxesXYXY, 4, 'batchedNms');
  const n = flat.length / 4;
  if (scores.length !== n || categoryIdxs.length !== n) {
    throw new Error(`batchedNms: ${n} boxes, ${scores.length} scores, ${categoryIdxs.length} categories`);
  }
  const b = Float32Array.from(flat as ArrayLike<number>);
  const s = Float32Array.from(scores);
  const f = Math.fround;
  const areas = new Float32Array(n);
  for (let i = 0; i < n; i++) areas[i] = f(b[4 * i + 2] - b[4 * i]) * f(b[4 * i + 3] - b[4 * i + 1]);

  const order = Array.from({ length: n }, (_, i) => i);
  order.sort((i, j) => {
    const si = s[i];
    const sj = s[j];
    if (si === sj) return i - j;
    if (si !== si) return sj !== sj ? i - j : -1; // NaN first
    if (sj !== sj) return 1;
    return si > sj ? -1 : 1;
  });

  const suppressed = new Uint8Array(n);
  const keep: number[] = [];
  for (let a = 0; a < n; a++) {
    const i = order[a];
    if (suppressed[i]) continue;
    keep.push(i);
    const ix0 = b[4 * i];
    const iy0 = b[4 * i + 1];
    const ix1 = b[4 * i + 2];
    const iy1 = b[4 * i + 3];
    const iarea = areas[i];
    const cat = categoryIdxs[i];
    for (let c = a + 1; c < n; c++) {
      const j = order[c];
      if (suppressed[j] || categoryIdxs[j] !== cat) continue;
      const w = Math.max(0, f(Math.min(ix1, b[4 * j + 2]) - Math.max(ix0, b[4 * j])));
      const h = Math.max(0, f(Math.min(iy1, b[4 * j + 3]) - Math.max(iy0, b[4 * j + 1])));
      const inter = f(w * h);
      const iou = f(inter / f(f(iarea + areas[j]) - inter));
      if (iou > iouThreshold) suppressed[j] = 1;
    }
  }
  return keep;
}
