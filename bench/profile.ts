/**
 * Where the time goes: for the image encoder, wall time per stage (patch embedding, each
 * block, neck); for one prompt, wall time of decode, post-processing and thresholding; and
 * tfjs kernel time aggregated by kernel name (tf.profile) for both.
 */
import * as tf from '@tensorflow/tfjs';
import { isCpuLikeBackend } from '../src/layers/tensor_utils.js';
import { thresholdMasks } from '../src/sam/postprocess.js';
import { upscaleMasks } from '../src/sam/postprocess_js.js';
import type { SamModel } from '../src/sam/sam_model.js';

export interface EncoderProfile {
  stagesMs: Record<string, number>;
  kernelsMs: Array<{ kernel: string; ms: number; calls: number }>;
}

async function timed<T extends tf.Tensor>(f: () => T): Promise<{ out: T; ms: number }> {
  const start = performance.now();
  const out = f();
  await out.data();
  return { out, ms: performance.now() - start };
}

export async function profileEncoder(model: SamModel, input: tf.Tensor4D): Promise<EncoderProfile> {
  const enc = model.imageEncoder;
  const stagesMs: Record<string, number> = {};
  let { out: y, ms } = await timed(() => enc.embedPatches(input));
  stagesMs.patch_embed = ms;
  for (let i = 0; i < enc.blocks.length; i++) {
    const block = enc.blocks[i];
    const r = await timed(() => block.apply(y) as tf.Tensor4D);
    y.dispose();
    y = r.out;
    const kind = block.config.windowSize > 0 ? 'windowed' : 'global';
    stagesMs[`block${String(i).padStart(2, '0')} (${kind})`] = r.ms;
  }
  const neckStart = performance.now();
  for (const layer of enc.neck) {
    const next = layer.apply(y) as tf.Tensor4D;
    y.dispose();
    y = next;
  }
  await y.data();
  stagesMs.neck = performance.now() - neckStart;
  y.dispose();

  // Asynchronous reads: GPU backends in Node have no synchronous one.
  const info = await tf.profile(async () => {
    const e = model.embedImage(input);
    await e.data();
    e.dispose();
  });
  for (const k of Object.keys(stagesMs)) stagesMs[k] = Math.round(stagesMs[k]);
  return { stagesMs, kernelsMs: kernelTotals(info.kernels) };
}

/** Kernel time summed by kernel name, largest first. */
function kernelTotals(kernels: Array<{ name: string; kernelTimeMs: unknown }>): Array<{ kernel: string; ms: number; calls: number }> {
  const byKernel = new Map<string, { ms: number; calls: number }>();
  for (const k of kernels) {
    const entry = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
    entry.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    entry.calls++;
    byKernel.set(k.name, entry);
  }
  return [...byKernel].map(([kernel, v]) => ({ kernel, ms: Math.round(v.ms * 10) / 10, calls: v.calls })).sort((a, b) => b.ms - a.ms);
}

export interface DecoderProfile {
  /** Medians over 7 prompts (after a warm-up) of each stage of one predict(). */
  stagesMs: Record<string, number>;
  /** tfjs kernel time of one decode (prompt encoder + mask decoder), by kernel name. */
  kernelsMs: Array<{ kernel: string; ms: number; calls: number }>;
}

/** Where a single prompt's time goes: decode, then post-processing and thresholding (as predict() does them on this backend). */
export async function profileDecoder(model: SamModel, embedding: tf.Tensor4D, inputSize: [number, number], originalSize: [number, number]): Promise<DecoderProfile> {
  const samples: Record<string, number[]> = {};
  // As SamPredictor decodes: the image side (what the decoder derives from the embedding
  // alone, decoder_image_side.ts) made on the first prompt and kept for the others.
  const decode = (i: number) =>
    model.decode({
      imageEmbeddings: embedding,
      pointCoords: tf.tensor3d([[[400 + i, 300]]]),
      pointLabels: tf.tensor2d([[1]]),
      multimaskOutput: true,
      keepImageSide: true,
    });
  for (let i = 0; i < 8; i++) {
    const lap: Record<string, number> = {};
    let start = performance.now();
    const [lowResLogits, iouPredictions] = tf.tidy(() => {
      const r = decode(i);
      return [r.lowResLogits, r.iouPredictions];
    });
    await lowResLogits.data();
    lap['decode (prompt encoder + mask decoder)'] = performance.now() - start;
    start = performance.now();
    if (isCpuLikeBackend()) {
      // As predict() does on cpu/wasm: from the downloaded low-res logits, in JavaScript.
      const [, m, lh, lw] = lowResLogits.shape;
      upscaleMasks((await lowResLogits.data()) as Float32Array, m, [lh, lw], inputSize, originalSize, model.imgSize, model.config.maskThreshold, false);
      lap[`post-processing to ${originalSize.join(' x ')} and thresholding, in JavaScript`] = performance.now() - start;
    } else {
      const masks = tf.tidy(() => thresholdMasks(model.postprocessMasks(lowResLogits as tf.Tensor4D, inputSize, originalSize), model.config.maskThreshold));
      await masks.data();
      masks.dispose();
      lap[`post-processing to ${originalSize.join(' x ')}, thresholding, mask download`] = performance.now() - start;
    }
    tf.dispose([lowResLogits, iouPredictions]);
    if (i > 0) for (const [k, v] of Object.entries(lap)) (samples[k] ??= []).push(v);
  }
  const stagesMs: Record<string, number> = {};
  for (const [k, v] of Object.entries(samples)) stagesMs[k] = Math.round([...v].sort((a, b) => a - b)[v.length >> 1]);
  const info = await tf.profile(async () => {
    const outs = tf.tidy(() => {
      const r = decode(0);
      return [r.lowResLogits, r.iouPredictions];
    });
    await outs[0].data();
    tf.dispose(outs);
  });
  model.releaseDecoderImageSide(embedding);
  return { stagesMs, kernelsMs: kernelTotals(info.kernels) };
}
