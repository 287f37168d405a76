/**
 * Stability score, stability filter and binarisation of a batch of upscaled mask logits on
 * the backend (the automatic mask generator's path on GPU backends), with only what is
 * needed brought to JavaScript: the two pixel counts per mask are reduced by tfjs and
 * downloaded (2 numbers per mask), then only the stable masks are thresholded by tfjs and
 * downloaded as bytes. On cpu/wasm the generator upscales and counts in JavaScript instead
 * (MaskUpscaler in ../postprocess_js.ts).
 */
import * as tf from '@tensorflow/tfjs';
import { stabilityCountsTensor } from '../amg/index.js';

export interface StableMasks {
  /** Stability score of every input mask (NaN when no logit is above the low cutoff). */
  stability: Float32Array;
  /** Input masks that pass the filter (all of them when the threshold is 0), ascending. */
  rows: number[];
  /** Binary masks (logit > maskThreshold, 0/1) of `rows`, back to back, `h * w` each. */
  masks: Uint8Array;
}

export interface StabilityFilterOptions {
  maskThreshold: number;
  offset: number;
  /** Keep masks whose score is >= this (float32 comparison); 0 keeps all, NaN scores included. */
  threshold: number;
}

function keptRows(stability: Float32Array, threshold: number): number[] {
  const rows: number[] = [];
  const t = Math.fround(threshold);
  for (let k = 0; k < stability.length; k++) if (!(threshold > 0) || stability[k] >= t) rows.push(k);
  return rows;
}

async function viaTfjs(logits: tf.Tensor4D, o: StabilityFilterOptions): Promise<StableMasks> {
  const [, k] = logits.shape;
  const countsT = stabilityCountsTensor(logits, o.maskThreshold, o.offset);
  let counts: ArrayLike<number>;
  try {
    counts = await countsT.data();
  } finally {
    countsT.dispose();
  }
  const stability = new Float32Array(k);
  for (let j = 0; j < k; j++) stability[j] = counts[2 * j] / counts[2 * j + 1];
  const rows = keptRows(stability, o.threshold);
  if (rows.length === 0) return { stability, rows, masks: new Uint8Array(0) };
  const masksT = tf.tidy(() => {
    const sel = rows.length < k ? tf.gather(logits, tf.tensor1d(rows, 'int32'), 1) : logits;
    return tf.greater(sel, tf.scalar(o.maskThreshold, 'float32'));
  });
  try {
    const raw = await masksT.data();
    return { stability, rows, masks: raw instanceof Uint8Array ? raw : Uint8Array.from(raw as ArrayLike<number>) };
  } finally {
    masksT.dispose();
  }
}

/** `logits` [1, K, h, w] (float32, not disposed) -> stability scores, kept rows, their binary masks. */
export function stabilityFilter(logits: tf.Tensor4D, options: StabilityFilterOptions): Promise<StableMasks> {
  if (logits.rank !== 4 || logits.shape[0] !== 1) throw new Error(`stabilityFilter: expected logits [1, K, h, w], got [${logits.shape}]`);
  return viaTfjs(logits, options);
}
