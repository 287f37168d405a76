/**
 * The `min_mask_region_area` step of the automatic mask generator (the reference's
 * `postprocess_small_regions`): fill small holes, then remove small islands, in every mask;
 * recompute the boxes; run NMS once more with score 1 for masks the step left alone and 0 for
 * changed ones (so unchanged masks win); kept changed masks get their new RLE and box.
 */
import { batchedNms, maskToBoxXYXY, maskToRle, removeSmallRegions, rleToMask } from '../amg/index.js';
import type { MaskCandidate } from './candidates.js';

/**
 * Returns the kept candidates in NMS order (unchanged masks first, each group in its previous
 * order). The input array and its candidates are not modified.
 */
export function postprocessSmallRegions(cands: readonly MaskCandidate[], minArea: number, nmsThresh: number): MaskCandidate[] {
  const n = cands.length;
  if (n === 0) return [];
  const boxes = new Float64Array(n * 4);
  const scores = new Float64Array(n);
  // New RLE / box of every changed mask (computed right away so that no full-size mask is kept).
  const changed = new Map<number, Pick<MaskCandidate, 'rle' | 'box'>>();
  let buffer: Uint8Array | null = null;
  for (let i = 0; i < n; i++) {
    const { rle } = cands[i];
    const [h, w] = rle.size;
    if (!buffer || buffer.length !== h * w) buffer = new Uint8Array(h * w);
    const mask = rleToMask(rle, buffer);
    const holes = removeSmallRegions(mask, h, w, minArea, 'holes');
    const islands = removeSmallRegions(holes.mask, h, w, minArea, 'islands');
    const box = maskToBoxXYXY(islands.mask, h, w);
    boxes.set(box, 4 * i);
    const unchanged = !holes.changed && !islands.changed;
    scores[i] = unchanged ? 1 : 0;
    if (!unchanged) changed.set(i, { rle: maskToRle(islands.mask, h, w), box });
  }
  const keep = batchedNms(boxes, scores, new Uint8Array(n), nmsThresh);
  return keep.map((i) => {
    const update = changed.get(i);
    return update ? { ...cands[i], rle: update.rle, box: update.box } : cands[i];
  });
}
