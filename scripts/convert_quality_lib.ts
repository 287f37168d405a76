/**
 * Running a model on a fixture case (its image and every prompt of prompts.json) and comparing
 * two runs: used by the converter tests (float32 must be identical to the .pth; float16 / uint8
 * within bounds) and by scripts/convert_quality.ts, which prints the table in converter/README.md.
 */
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseNpy } from '../src/io/npy.js';
import { toRgbImage } from '../src/sam/image_input.js';
import { SamPredictor, type Prediction } from '../src/sam/predictor.js';
import { preprocess } from '../src/sam/preprocess/pipeline.js';
import type { SamModel } from '../src/sam/sam_model.js';

export interface FixtureImage {
  dir: string;
  /** Encoder input [1, S, S, 3] (owned: dispose with disposeFixtureImage). */
  input: tf.Tensor4D;
  originalSize: [number, number];
  inputSize: [number, number];
  prompts: any[];
}

/** Decodes and preprocesses the case's image once, for every model that runs on it. */
export async function prepareFixtureImage(dir: string, imgSize: number, pixelMean: [number, number, number], pixelStd: [number, number, number]): Promise<FixtureImage> {
  const rgb = await toRgbImage(join(dir, 'image.png'));
  const pre = preprocess(rgb, { imgSize, pixelMean, pixelStd });
  const prompts = JSON.parse(readFileSync(join(dir, 'prompts.json'), 'utf8')).prompts;
  return { dir, input: pre.input, originalSize: [pre.originalSize[0], pre.originalSize[1]], inputSize: [pre.inputSize[0], pre.inputSize[1]], prompts };
}

export function disposeFixtureImage(f: FixtureImage): void {
  f.input.dispose();
}

export interface PromptOutput {
  name: string;
  /** Low-res logits of every returned mask, concatenated. */
  lowRes: Float32Array;
  /** Binary masks at the original image size. */
  masks: Uint8Array[];
}

export interface ModelOutputs {
  /** The image embedding, NHWC [1, g, g, C]. */
  embedding: Float32Array;
  prompts: PromptOutput[];
}

/**
 * The model's embedding of the image and its predictions for every fixture prompt (p7 batched),
 * or for those named. With `embedding` (values NHWC), the decoder runs on it instead of the
 * model's own embedding (to test a decoder without paying for the encoder again).
 */
export async function runOnFixture(model: SamModel, f: FixtureImage, promptNames?: string[], embeddingValues?: Float32Array): Promise<ModelOutputs> {
  const g = model.config.promptEncoder.imageEmbeddingSize;
  const embedding = embeddingValues
    ? tf.tensor4d(embeddingValues, [1, g[0], g[1], model.config.promptEncoder.embedDim])
    : model.embedImage(f.input);
  const predictor = new SamPredictor(model);
  try {
    predictor.setImageEmbedding({ embedding, originalSize: f.originalSize, inputSize: f.inputSize, imgSize: model.imgSize });
    const out: PromptOutput[] = [];
    for (const p of f.prompts) {
      if (promptNames && !promptNames.includes(p.name)) continue;
      let results: Prediction[];
      if (p.api === 'predict_torch') {
        results = await predictor.predictBatch({ boxes: p.boxes, multimaskOutput: p.multimask_output });
      } else {
        const maskInput = p.mask_input ? (parseNpy(readFileSync(join(f.dir, p.mask_input))).data as Float32Array) : undefined;
        results = [
          await predictor.predict({
            pointCoords: p.point_coords ?? undefined,
            pointLabels: p.point_labels ?? undefined,
            box: p.box ?? undefined,
            maskInput,
            multimaskOutput: p.multimask_output,
          }),
        ];
      }
      const low = results.flatMap((r) => r.lowResLogits);
      const lowRes = new Float32Array(low.reduce((n, a) => n + a.length, 0));
      let o = 0;
      for (const a of low) {
        lowRes.set(a, o);
        o += a.length;
      }
      out.push({ name: p.name, lowRes, masks: results.flatMap((r) => r.masks.map((m) => m.data)) });
    }
    return { embedding: embedding.dataSync().slice() as Float32Array, prompts: out };
  } finally {
    predictor.dispose();
    embedding.dispose();
  }
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Intersection over union of two binary masks (1 when both are empty). */
export function maskIoU(a: Uint8Array, b: Uint8Array): number {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] !== 0;
    const y = b[i] !== 0;
    if (x && y) inter++;
    if (x || y) union++;
  }
  return union === 0 ? 1 : inter / union;
}

/** Whether two runs are bit-identical (embedding and every prompt's low-res logits and masks). */
export function identical(a: ModelOutputs, b: ModelOutputs): boolean {
  const same = (x: ArrayLike<number>, y: ArrayLike<number>) => x.length === y.length && Array.prototype.every.call(x, (v: number, i: number) => Object.is(v, y[i]));
  return (
    same(a.embedding, b.embedding) &&
    a.prompts.length === b.prompts.length &&
    a.prompts.every((p, i) => p.name === b.prompts[i].name && same(p.lowRes, b.prompts[i].lowRes) && p.masks.every((m, j) => same(m, b.prompts[i].masks[j])))
  );
}

export interface QualityReport {
  maxAbsEmbedding: number;
  /** Largest |embedding| of the reference, for scale. */
  embeddingScale: number;
  maxAbsLowRes: number;
  lowResScale: number;
  /** Mask IoU against the reference over all masks of all prompts. */
  minMaskIoU: number;
  meanMaskIoU: number;
  masks: number;
}

/** How far `got` is from the reference `ref`. */
export function compareOutputs(ref: ModelOutputs, got: ModelOutputs): QualityReport {
  const ious: number[] = [];
  let maxAbsLowRes = 0;
  let lowResScale = 0;
  ref.prompts.forEach((p, i) => {
    const q = got.prompts[i];
    maxAbsLowRes = Math.max(maxAbsLowRes, maxAbsDiff(p.lowRes, q.lowRes));
    for (const v of p.lowRes) lowResScale = Math.max(lowResScale, Math.abs(v));
    p.masks.forEach((m, j) => ious.push(maskIoU(m, q.masks[j])));
  });
  let embeddingScale = 0;
  for (const v of ref.embedding) embeddingScale = Math.max(embeddingScale, Math.abs(v));
  return {
    maxAbsEmbedding: maxAbsDiff(ref.embedding, got.embedding),
    embeddingScale,
    maxAbsLowRes,
    lowResScale,
    minMaskIoU: Math.min(...ious),
    meanMaskIoU: ious.reduce((a, b) => a + b, 0) / ious.length,
    masks: ious.length,
  };
}
