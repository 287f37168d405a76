/**
 * Removal of small islands and filling of small holes in a binary mask (reference:
 * `remove_small_regions`, which uses `cv2.connectedComponentsWithStats` with 8-connectivity).
 */
import { connectedComponents8 } from './connected_components.js';

export type SmallRegionMode = 'holes' | 'islands';

/**
 * `holes`: finds the 8-connected regions of zeros (border-touching ones included) and sets
 * those of fewer than `areaThresh` pixels. `islands`: finds the 8-connected regions of ones and
 * clears those of fewer than `areaThresh` pixels, except that when every region is small the
 * largest one is kept (on ties the first in OpenCV's label order, as `np.argmax` picks).
 *
 * Returns the input `mask` itself and `changed: false` when no region is below the threshold,
 * else a new row-major 0/1 mask and `changed: true` (even when, as in the reference, keeping the
 * largest island leaves the pixels as they were).
 */
export function removeSmallRegions(
  mask: Uint8Array,
  h: number,
  w: number,
  areaThresh: number,
  mode: SmallRegionMode,
): { mask: Uint8Array; changed: boolean } {
  if (mode !== 'holes' && mode !== 'islands') throw new Error(`removeSmallRegions: unknown mode '${mode as string}'`);
  if (mask.length !== h * w) throw new Error(`removeSmallRegions: mask has ${mask.length} values, expected ${h} x ${w}`);
  const holes = mode === 'holes';
  const cc = connectedComponents8(mask, h, w, holes);
  const { roots, sizes } = cc;

  let nSmall = 0;
  for (const r of roots) if (sizes[r] < areaThresh) nSmall++;
  if (nSmall === 0) return { mask, changed: false };

  // Components (by root) whose runs get set in the output.
  const set = new Uint8Array(cc.numRuns);
  const out = new Uint8Array(h * w);
  if (holes) {
    for (let i = 0; i < out.length; i++) out[i] = mask[i] !== 0 ? 1 : 0;
    for (const r of roots) if (sizes[r] < areaThresh) set[r] = 1;
  } else if (nSmall < roots.length) {
    for (const r of roots) if (sizes[r] >= areaThresh) set[r] = 1;
  } else {
    // Every island is small: keep the largest (first maximum in label order).
    let best = roots[0];
    for (const r of roots) if (sizes[r] > sizes[best]) best = r;
    set[best] = 1;
  }
  for (let k = 0; k < cc.numRuns; k++) {
    if (set[cc.runRoot[k]] === 1) {
      const row = cc.runRow[k] * w;
      out.fill(1, row + cc.runStart[k], row + cc.runEnd[k]);
    }
  }
  return { mask: out, changed: true };
}
