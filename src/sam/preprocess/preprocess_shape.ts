/**
 * `ResizeLongestSide.get_preprocess_shape` of the reference.
 *
 * The reference computes, in Python floats (IEEE float64):
 *   scale = long_side_length * 1.0 / max(oldh, oldw)
 *   newh, neww = oldh * scale, oldw * scale
 *   int(neww + 0.5), int(newh + 0.5)
 * i.e. round half UP after a float64 multiply. `Math.round` agrees for positives but
 * banker's rounding (numpy, tf.round, Python round) does not: 257 * (192 / 384) = 128.5
 * must give 129. JavaScript numbers are float64 and the same operation order is used,
 * so the result is bit-identical.
 */

/** Size of the resized (unpadded) image for an `oldH` x `oldW` input: `[newH, newW]`. */
export function getPreprocessShape(oldH: number, oldW: number, longSideLength: number): [number, number] {
  for (const [name, v] of [['oldH', oldH], ['oldW', oldW], ['longSideLength', longSideLength]] as const) {
    if (!Number.isInteger(v) || v <= 0) throw new Error(`getPreprocessShape: ${name} must be a positive integer, got ${v}`);
  }
  const scale = (longSideLength * 1.0) / Math.max(oldH, oldW);
  const newH = oldH * scale;
  const newW = oldW * scale;
  // int() truncates toward zero; the values are positive, so trunc == floor.
  return [Math.trunc(newH + 0.5), Math.trunc(newW + 0.5)];
}
