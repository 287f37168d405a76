/**
 * The masks the automatic mask generator carries between its stages (the reference's
 * `MaskData` rows), each already in the original image's frame.
 */
import type { Rle } from '../amg/types.js';

export interface MaskCandidate {
  /** The mask as uncompressed RLE of the whole original image. */
  rle: Rle;
  /** XYXY box, inclusive pixel indices, in the original image. */
  box: [number, number, number, number];
  /** Predicted IoU (a float32 value). */
  predictedIou: number;
  /** The prompt point (x, y) in the original image (float64, as the reference). */
  point: [number, number];
  /** Stability score (a float32 value). */
  stabilityScore: number;
  /** The crop the mask came from, XYXY (x1 / y1 exclusive). */
  cropBox: [number, number, number, number];
}

/** Flat XYXY boxes of the candidates, for NMS. */
export function candidateBoxes(cands: readonly MaskCandidate[]): Float64Array {
  const out = new Float64Array(cands.length * 4);
  cands.forEach((c, i) => out.set(c.box, 4 * i));
  return out;
}
