/**
 * Stability score of mask logits (reference: `calculate_stability_score`): the IoU of the masks
 * thresholded at `maskThreshold + offset` and at `maskThreshold - offset`, i.e.
 * count(logit > thr + offset) / count(logit > thr - offset) (the first mask lies inside the
 * second).
 *
 * Float32 semantics of the reference: the logits are float32 and the Python-float thresholds
 * are cast to float32 before comparing; both counts are exact integers and their quotient is
 * rounded once to float32 (a float64 quotient of two integers below 2^24 rounded to float32 is
 * the correctly rounded float32 quotient). 0 / 0 gives NaN, as in the reference.
 */

/** Float32 versions of the two thresholds, as the reference compares them. */
export function stabilityThresholds(maskThreshold: number, offset: number): { high: number; low: number } {
  return { high: Math.fround(maskThreshold + offset), low: Math.fround(maskThreshold - offset) };
}

/**
 * Stability scores of `numMasks` logit maps stored back to back (e.g. N x H x W, any H x W):
 * a `Float32Array` of `numMasks` scores.
 */
export function calculateStabilityScore(
  logits: ArrayLike<number>,
  numMasks: number,
  maskThreshold: number,
  offset: number,
): Float32Array {
  if (numMasks < 0 || !Number.isInteger(numMasks) || (numMasks === 0 ? logits.length !== 0 : logits.length % numMasks !== 0)) {
    throw new Error(`calculateStabilityScore: ${logits.length} logits cannot be split into ${numMasks} masks`);
  }
  const out = new Float32Array(numMasks);
  if (numMasks === 0) return out;
  const size = logits.length / numMasks;
  const { high, low } = stabilityThresholds(maskThreshold, offset);
  for (let m = 0; m < numMasks; m++) {
    let inter = 0;
    let union = 0;
    for (let i = m * size, end = i + size; i < end; i++) {
      const v = logits[i];
      if (v > low) {
        union++;
        if (v > high) inter++;
      }
    }
    out[m] = inter / union; // stored as float32 (one rounding); 0 / 0 = NaN
  }
  return out;
}
