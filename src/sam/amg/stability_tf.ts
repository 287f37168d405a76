/**
 * Stability score on TensorFlow.js tensors, for logits that are still on the tfjs side.
 * Same definition and float32 semantics as `calculateStabilityScore` (see stability.ts).
 *
 * The counting is done by tfjs; the functions that return a `Float32Array` read back only the
 * two integer counts per mask and divide in JavaScript, so the scores are bit-identical to the
 * typed-array version on every backend (GPU backends need not divide with correct rounding,
 * and WebGL's division returns 1 for 0 / 0 instead of NaN).
 */
import * as tf from '@tensorflow/tfjs';
import { stabilityThresholds } from './stability.js';

function reduceAxes(logits: tf.Tensor): number[] {
  if (logits.rank < 2) throw new Error(`stability score: logits need rank >= 2 (..., H, W), got [${logits.shape}]`);
  return [logits.rank - 2, logits.rank - 1];
}

/**
 * Per-mask counts of logits above the high and the low threshold, as an int32 tensor of shape
 * `[..., 2]` (`[..., 0]` = intersection, `[..., 1]` = union). The caller owns the result.
 */
export function stabilityCountsTensor(logits: tf.Tensor, maskThreshold: number, offset: number): tf.Tensor {
  const axes = reduceAxes(logits);
  const { high, low } = stabilityThresholds(maskThreshold, offset);
  return tf.tidy(() => {
    const x = logits.dtype === 'float32' ? logits : tf.cast(logits, 'float32');
    const inter = tf.sum(tf.cast(tf.greater(x, tf.scalar(high, 'float32')), 'int32'), axes);
    const union = tf.sum(tf.cast(tf.greater(x, tf.scalar(low, 'float32')), 'int32'), axes);
    return tf.stack([inter, union], -1);
  });
}

/**
 * Stability scores of logits `[..., H, W]` as a float32 tensor of shape `[...]`, computed by
 * tfjs (0 / 0 forced to NaN). The caller owns the result. Prefer `calculateStabilityScoreTf`
 * when the scores are needed on the JavaScript side.
 */
export function calculateStabilityScoreTensor(logits: tf.Tensor, maskThreshold: number, offset: number): tf.Tensor {
  return tf.tidy(() => {
    const counts = tf.cast(stabilityCountsTensor(logits, maskThreshold, offset), 'float32');
    const [inter, union] = tf.unstack(counts, -1);
    const ratio = tf.div(inter, union);
    return tf.where(tf.equal(union, 0), tf.fill(ratio.shape, NaN, 'float32'), ratio);
  });
}

function scoresFromCounts(counts: ArrayLike<number>): Float32Array {
  const out = new Float32Array(counts.length / 2);
  for (let m = 0; m < out.length; m++) out[m] = counts[2 * m] / counts[2 * m + 1];
  return out;
}

/** Stability scores of a batch `[N, H, W]` (or any `[..., H, W]`, flattened) of logits, read back synchronously. */
export function calculateStabilityScoreTf(logits: tf.Tensor, maskThreshold: number, offset: number): Float32Array {
  return tf.tidy(() => scoresFromCounts(stabilityCountsTensor(logits, maskThreshold, offset).dataSync()));
}

/** Asynchronous variant of `calculateStabilityScoreTf` (does not block GPU backends). */
export async function calculateStabilityScoreTfAsync(logits: tf.Tensor, maskThreshold: number, offset: number): Promise<Float32Array> {
  const counts = stabilityCountsTensor(logits, maskThreshold, offset);
  try {
    return scoresFromCounts(await counts.data());
  } finally {
    counts.dispose();
  }
}
