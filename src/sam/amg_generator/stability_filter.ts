/**
 * Stability score, stability filter and binarisation of a batch of upscaled mask logits, with
 * only what is needed brought to JavaScript.
 *
 * Two equivalent paths (same float32 comparisons, so the same counts, scores and masks):
 * - tfjs: the two pixel counts per mask are reduced by tfjs and downloaded (2 numbers per mask),
 *   then only the stable masks are thresholded by tfjs and downloaded as bytes. Best where
 *   reading tensors back is costly (webgl, webgpu, tfjs-node).
 * - JavaScript: on 'cpu' the logits already live in a JavaScript typed array, and on 'wasm'
 *   reading them is one memcpy; one loop over them is then far faster than the chain of
 *   compare, cast and sum kernels (measured on wasm: 7.5 s of kernels for one 64-point batch
 *   of ViT-B masks at 1500 x 2250).
 */
import * as tf from '@tensorflow/tfjs';
import { isCpuLikeBackend } from '../../layers/tensor_utils.js';
import { stabilityCountsTensor, stabilityThresholds } from '../amg/index.js';

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
  /** Force a path (default: JavaScript on 'cpu' and 'wasm', tfjs elsewhere). */
  path?: 'tfjs' | 'js';
  /**
   * The logits are [1, h, w, K] (the masks as channels, as post-processing resizes them)
   * instead of [1, K, h, w]; JavaScript path only. Saves transposing them on the backend.
   */
  channelsLast?: boolean;
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

async function viaJs(logits: tf.Tensor4D, o: StabilityFilterOptions): Promise<StableMasks> {
  const [, a, b, c] = logits.shape;
  const [k, hw] = o.channelsLast ? [c, a * b] : [a, b * c];
  // Element i of mask j is values[j * maskStride + i * pixelStride].
  const [maskStride, pixelStride] = o.channelsLast ? [1, k] : [hw, 1];
  const values = (await logits.data()) as Float32Array;
  const { high, low } = stabilityThresholds(o.maskThreshold, o.offset);
  const inter = new Float64Array(k);
  const union = new Float64Array(k);
  if (o.channelsLast) {
    for (let i = 0; i < hw; i++) {
      for (let j = 0, at = i * k; j < k; j++, at++) {
        const v = values[at];
        if (v > low) {
          union[j]++;
          if (v > high) inter[j]++;
        }
      }
    }
  } else {
    for (let j = 0; j < k; j++) {
      for (let at = j * hw, end = at + hw; at < end; at++) {
        const v = values[at];
        if (v > low) {
          union[j]++;
          if (v > high) inter[j]++;
        }
      }
    }
  }
  const stability = new Float32Array(k);
  for (let j = 0; j < k; j++) stability[j] = inter[j] / union[j];
  const rows = keptRows(stability, o.threshold);
  const thr = Math.fround(o.maskThreshold);
  const masks = new Uint8Array(rows.length * hw);
  rows.forEach((j, r) => {
    const dst = r * hw;
    for (let i = 0, at = j * maskStride; i < hw; i++, at += pixelStride) masks[dst + i] = values[at] > thr ? 1 : 0;
  });
  return { stability, rows, masks };
}

/**
 * `logits` [1, K, h, w] ([1, h, w, K] with channelsLast; float32, not disposed) -> stability
 * scores, kept rows, their binary masks.
 */
export function stabilityFilter(logits: tf.Tensor4D, options: StabilityFilterOptions): Promise<StableMasks> {
  const layout = options.channelsLast ? '[1, h, w, K]' : '[1, K, h, w]';
  if (logits.rank !== 4 || logits.shape[0] !== 1) throw new Error(`stabilityFilter: expected logits ${layout}, got [${logits.shape}]`);
  const path = options.path ?? (isCpuLikeBackend() ? 'js' : 'tfjs');
  if (options.channelsLast && path !== 'js') throw new Error('stabilityFilter: channelsLast logits need the JavaScript path');
  return path === 'js' ? viaJs(logits, options) : viaTfjs(logits, options);
}
