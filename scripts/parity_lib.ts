/**
 * Parity of sam-tfjs with the reference PyTorch SAM on the golden fixtures.
 *
 * For every case folder (a folder with config.json) this runs each stage on the chosen
 * backend and compares it with the reference's output: checkpoint formats, preprocessing,
 * image encoder (with its intermediates), dense PE, and for every prompt the prompt
 * encoder, the mask decoder and the post-processed masks. The decoder is fed the
 * reference's image embedding so that each stage is measured on its own.
 *
 * Tolerances come from the fixtures' measured float noise (numeric_noise.json: float32
 * vs float64 reruns of the reference): NOISE_FACTOR times the measured difference, the low
 * end of the "10-50x" the fixtures README suggests for a port that sums in another order.
 * Stages without a measurement use the README's suggested bound, noted per stage.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadStateDict, toFloat32 } from '../converter/index.js';
import { parseNpy, type NpyArray } from '../src/io/npy.js';
import { samConfigFromReferenceJson } from '../src/sam/config.js';
import { windowPartition } from '../src/layers/image_encoder/window.js';
import { samFromCheckpoint } from '../src/sam/load_checkpoint.js';
import { decodeImage, preprocess } from '../src/sam/preprocess/index.js';
import type { DecodeInputs, SamModel } from '../src/sam/sam_model.js';
import type { AttentionImplementation } from '../src/layers/image_encoder/attention_kernels.js';

export const NOISE_FACTOR = 10;
/** Bound for encoder intermediates, which the fixtures have no noise measurement for (README: 1e-3). */
export const INTERMEDIATE_TOLERANCE = 1e-3;
/**
 * Bound for sin/cos positional encodings: their arguments reach |2*pi*(G . x)| ~ 20, where
 * one float32 ulp of the argument is ~2e-6, so a few ulps of the result differ by backend.
 */
export const PE_TOLERANCE = 1e-5;

export interface StageResult {
  caseName: string;
  stage: string;
  maxAbsDiff: number;
  tolerance: number;
  ok: boolean;
  /** For boolean masks: the smallest IoU over the masks and the flipped pixels where the reference logit is clear of 0. */
  iou?: number;
  flipped?: number;
}

/** Case folders (those holding config.json), sorted. */
export function discoverCases(fixturesDir: string): string[] {
  if (!existsSync(fixturesDir)) throw new Error(`fixtures folder not found: ${fixturesDir}`);
  return readdirSync(fixturesDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(fixturesDir, d.name, 'config.json')))
    .map((d) => d.name)
    .sort();
}

export interface Noise {
  preprocessed: number;
  patchEmbed: number;
  imageEmbedding: number;
  lowResLogits: number;
  maskLogits: number;
  iouPredictions: number;
}

export function readNoise(caseDir: string): Noise {
  const f64 = JSON.parse(readFileSync(join(caseDir, 'numeric_noise.json'), 'utf8')).runs.float64;
  return {
    preprocessed: f64.preprocessed,
    patchEmbed: f64.patch_embed,
    imageEmbedding: f64.image_embedding,
    lowResLogits: f64.worst.low_res_logits,
    maskLogits: f64.worst.mask_logits,
    iouPredictions: f64.worst.iou_predictions,
  };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`size mismatch: ${a.length} values vs ${b.length} in the reference`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Runs one case on the active backend and returns a result per stage. */
export interface ParityOptions {
  /** Attention layout to test ('auto' by default: the backend's own). */
  attention?: AttentionImplementation;
}

export async function runParityCase(fixturesDir: string, caseName: string, options: ParityOptions = {}): Promise<StageResult[]> {
  const dir = join(fixturesDir, caseName);
  const npy = (...p: string[]): NpyArray => parseNpy(readFileSync(join(dir, ...p)));
  const noise = readNoise(dir);
  const results: StageResult[] = [];
  // Tensors are read asynchronously (GPU backends in Node have no synchronous read): a
  // stage's slot is kept in order and filled when its values arrive.
  const reads = new PendingReads();
  const record: Record = (stage, actual, expected, tolerance) => {
    const slot = results.push(pendingStage(caseName, stage, tolerance)) - 1;
    reads.read(actual, (values) => (results[slot] = measuredStage(caseName, stage, values, expected, tolerance)));
  };
  const startTensors = tf.memory().numTensors;

  // Both checkpoint formats hold the same tensors, bit for bit.
  const zip = await loadStateDict(join(dir, 'model.pth'));
  const legacy = await loadStateDict(join(dir, 'model.legacy.pth'));
  let weightDiff = zip.size === legacy.size ? 0 : Infinity;
  for (const [k, t] of zip) {
    const u = legacy.get(k);
    weightDiff = Math.max(weightDiff, u && u.shape.join() === t.shape.join() ? maxAbsDiff(toFloat32(t), toFloat32(u)) : Infinity);
  }
  results.push({ caseName, stage: 'weights zip vs legacy', maxAbsDiff: weightDiff, tolerance: 0, ok: weightDiff === 0 });

  const config = samConfigFromReferenceJson(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')));
  const model = await samFromCheckpoint(join(dir, 'model.pth'), { config });
  model.setAttentionImplementation(options.attention ?? 'auto');
  try {
    const s = config.imageEncoder.imgSize;
    // Preprocessing from the PNG.
    const image = await decodeImage(join(dir, 'image.png'));
    const pre = preprocess(image, { imgSize: s, pixelMean: config.pixelMean, pixelStd: config.pixelStd });
    record('preprocessed', tf.tidy(() => pre.input.transpose([0, 3, 1, 2])), npy('preprocessed.npy').data as Float32Array, NOISE_FACTOR * noise.preprocessed);
    pre.input.dispose();

    // Image encoder, from the reference's preprocessed tensor.
    const refPre = npy('preprocessed.npy');
    const x = tf.tidy(() => tf.tensor(refPre.data as Float32Array, refPre.shape).transpose([0, 2, 3, 1])) as tf.Tensor4D;
    await encoderStages(model, x, dir, noise, record);
    const emb = model.embedImage(x);
    record('image_embedding', tf.tidy(() => emb.transpose([0, 3, 1, 2])), npy('image_embedding.npy').data as Float32Array, NOISE_FACTOR * noise.imageEmbedding);
    emb.dispose();
    x.dispose();
    const densePe = model.getDensePe();
    record('dense_pe', tf.tidy(() => densePe.transpose([0, 3, 1, 2])), npy('dense_pe.npy').data as Float32Array, PE_TOLERANCE);
    densePe.dispose();

    // Prompt encoder + mask decoder from the reference embedding.
    const refEmb = npy('image_embedding.npy');
    const embRef = tf.tidy(() => tf.tensor(refEmb.data as Float32Array, refEmb.shape).transpose([0, 2, 3, 1])) as tf.Tensor4D;
    const prompts = JSON.parse(readFileSync(join(dir, 'prompts.json'), 'utf8'));
    for (const p of prompts.prompts) {
      promptStages(model, embRef, p, prompts, (...f: string[]) => npy('prompts', p.name, ...f), noise, record, reads, results, caseName);
    }
    embRef.dispose();
    await reads.settle();
  } finally {
    // After an error: let the reads finish (and dispose their tensors) without hiding it.
    await reads.settle().catch(() => undefined);
    model.dispose();
  }
  const leaked = tf.memory().numTensors - startTensors;
  results.push({ caseName, stage: 'tensors left over', maxAbsDiff: leaked, tolerance: 0, ok: leaked === 0 });
  return results;
}

/** A stage's place in the results until its values arrive. */
function pendingStage(caseName: string, stage: string, tolerance: number): StageResult {
  return { caseName, stage, maxAbsDiff: NaN, tolerance, ok: false };
}

function measuredStage(caseName: string, stage: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): StageResult {
  const d = maxAbsDiff(actual, expected);
  return { caseName, stage, maxAbsDiff: d, tolerance, ok: d <= tolerance };
}

/** Records a stage; a tensor given as `actual` is kept, read asynchronously and then disposed. */
type Record = (stage: string, actual: ArrayLike<number> | tf.Tensor, expected: ArrayLike<number>, tolerance: number) => void;

/** Asynchronous reads of tensors made inside tf.tidy: each is kept until its values are used. */
class PendingReads {
  private pending: Promise<void>[] = [];
  read(actual: ArrayLike<number> | tf.Tensor, use: (values: ArrayLike<number>) => void): void {
    if (!(actual instanceof tf.Tensor)) {
      use(actual);
      return;
    }
    const t = tf.keep(actual);
    this.pending.push(t.data().then(use).finally(() => t.dispose()));
  }
  /** Waits for every read (each then disposes its tensor) and throws the first read's error. */
  async settle(): Promise<void> {
    const all = this.pending;
    this.pending = [];
    const failed = (await Promise.allSettled(all)).find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }
}

async function encoderStages(model: SamModel, x: tf.Tensor4D, dir: string, noise: Noise, record: Record): Promise<void> {
  const npy = (...p: string[]) => parseNpy(readFileSync(join(dir, ...p)));
  const inter = (name: string) => (existsSync(join(dir, 'intermediates', name)) ? npy('intermediates', name) : null);
  const enc = model.imageEncoder;
  tf.tidy(() => {
    const patch = inter('patch_embed.npy');
    if (patch) record('patch_embed', enc.patchEmbed.apply(x) as tf.Tensor, patch.data as Float32Array, NOISE_FACTOR * noise.patchEmbed);
    let y = enc.embedPatches(x);
    const b0 = inter('block00_input.npy');
    if (b0) record('block00_input', y, b0.data as Float32Array, NOISE_FACTOR * noise.patchEmbed);
    const attn0 = inter('block00_attn.npy');
    if (attn0) {
      const block = enc.blocks[0];
      const normed = block.norm1.apply(y) as tf.Tensor4D;
      const ws = block.config.windowSize;
      const attnIn = ws > 0 ? windowPartition(normed, ws).windows : normed;
      record('block00_attn', block.attn.apply(attnIn) as tf.Tensor, attn0.data as Float32Array, INTERMEDIATE_TOLERANCE);
    }
    enc.blocks.forEach((block, i) => {
      y = block.apply(y) as tf.Tensor4D;
      const ref = inter(`block${String(i).padStart(2, '0')}.npy`);
      if (ref) record(`block${String(i).padStart(2, '0')}`, y, ref.data as Float32Array, INTERMEDIATE_TOLERANCE);
    });
    const names = ['neck_conv1', 'neck_ln1', 'neck_conv2'];
    enc.neck.slice(0, 3).forEach((layer, i) => {
      y = layer.apply(y) as tf.Tensor4D;
      const ref = inter(`${names[i]}.npy`);
      if (ref) record(names[i], y.transpose([0, 3, 1, 2]), ref.data as Float32Array, INTERMEDIATE_TOLERANCE);
    });
  });
}

function promptStages(
  model: SamModel,
  embRef: tf.Tensor4D,
  p: any,
  prompts: any,
  npy: (...f: string[]) => NpyArray,
  noise: Noise,
  record: Record,
  reads: PendingReads,
  results: StageResult[],
  caseName: string,
): void {
  tf.tidy(() => {
    const mf = p.model_frame_inputs;
    const inputs: DecodeInputs = { imageEmbeddings: embRef, multimaskOutput: p.multimask_output };
    if (mf.point_coords) {
      inputs.pointCoords = tf.tensor3d([mf.point_coords]);
      inputs.pointLabels = tf.tensor2d([p.point_labels]);
    }
    if (mf.box) inputs.boxes = tf.tensor2d([mf.box]);
    if (mf.boxes) inputs.boxes = tf.tensor2d(mf.boxes);
    if (p.mask_input) {
      const m = npy('mask_input.npy');
      inputs.maskInput = tf.tensor(m.data as Float32Array, m.shape);
    }
    const name = p.name as string;
    // Prompt encoder.
    const { sparse, dense } = model.promptEncoder.embed({
      points: inputs.pointCoords && inputs.pointLabels ? { coords: inputs.pointCoords, labels: inputs.pointLabels } : undefined,
      boxes: inputs.boxes,
      masks: inputs.maskInput ? (inputs.maskInput.expandDims(-1) as tf.Tensor4D) : undefined,
    });
    record(`${name} sparse_embeddings`, sparse, npy('debug', 'sparse_embeddings.npy').data as Float32Array, PE_TOLERANCE);
    // The mask branch ends like the encoder (convs, LayerNorm2d, conv) on values of similar
    // magnitude, so it is held to the image embedding's bound.
    record(`${name} dense_embeddings`, dense.transpose([0, 3, 1, 2]), npy('debug', 'dense_embeddings.npy').data as Float32Array, NOISE_FACTOR * noise.imageEmbedding);
    // Mask decoder: all mask tokens (before the multimask selection), then the selection.
    const all = model.maskDecoder.predictMasks({
      imageEmbeddings: embRef,
      imagePe: model.getDensePe(),
      sparsePromptEmbeddings: sparse,
      densePromptEmbeddings: dense,
    });
    record(`${name} all-token logits`, all.masks, npy('debug', 'decoder_all_low_res_logits.npy').data as Float32Array, NOISE_FACTOR * noise.lowResLogits);
    record(`${name} all-token iou`, all.iouPred, npy('debug', 'decoder_all_iou_predictions.npy').data as Float32Array, NOISE_FACTOR * noise.iouPredictions);
    const { lowResLogits, iouPredictions } = model.decode(inputs);
    record(`${name} low_res_logits`, lowResLogits, npy('low_res_logits.npy').data as Float32Array, NOISE_FACTOR * noise.lowResLogits);
    record(`${name} iou_predictions`, iouPredictions, npy('iou_predictions.npy').data as Float32Array, NOISE_FACTOR * noise.iouPredictions);
    // Post-processing to the original size.
    const logits = model.postprocessMasks(lowResLogits, prompts.input_size, prompts.original_size);
    const maskTol = NOISE_FACTOR * noise.maskLogits;
    const refLogits = npy('mask_logits.npy').data as Float32Array;
    // One read for both: the logits' slot, then the masks'.
    const slot = results.push(pendingStage(caseName, `${name} mask_logits`, maskTol), pendingStage(caseName, `${name} masks`, maskTol)) - 2;
    reads.read(logits, (ours) => {
      results[slot] = measuredStage(caseName, `${name} mask_logits`, ours, refLogits, maskTol);
      results[slot + 1] = { caseName, ...compareMasks(`${name} masks`, ours as Float32Array, npy('masks.npy'), refLogits, maskTol, model.config.maskThreshold) };
    });
  });
}

/**
 * Boolean masks: ours are logits > threshold. A pixel may differ only where the reference
 * logit is within the logit tolerance of the threshold; IoU is reported per mask.
 */
export function compareMasks(stage: string, ourLogits: Float32Array, refMasks: NpyArray, refLogits: Float32Array, tol: number, threshold: number): Omit<StageResult, 'caseName'> {
  const n = refMasks.shape.slice(-2).reduce((a, b) => a * b, 1);
  const count = refMasks.data.length / n;
  let flipped = 0;
  let minIou = 1;
  for (let m = 0; m < count; m++) {
    let inter = 0;
    let union = 0;
    for (let i = m * n; i < (m + 1) * n; i++) {
      const a = ourLogits[i] > threshold;
      const b = refMasks.data[i] === 1;
      if (a && b) inter++;
      if (a || b) union++;
      if (a !== b && Math.abs(refLogits[i] - threshold) > tol) flipped++;
    }
    minIou = Math.min(minIou, union === 0 ? 1 : inter / union);
  }
  return { stage, maxAbsDiff: flipped, tolerance: 0, ok: flipped === 0 && minIou >= 0.99, iou: minIou, flipped };
}

/** A fixed-width table of results. */
export function formatResults(backend: string, results: StageResult[]): string {
  const lines = results.map((r) => {
    const status = r.ok ? 'ok  ' : 'FAIL';
    const value = r.iou !== undefined ? `IoU ${r.iou.toFixed(5)}, ${r.flipped} flipped` : `max |diff| ${r.maxAbsDiff.toExponential(2)} <= ${r.tolerance.toExponential(2)}`;
    return `${status} ${backend.padEnd(5)} ${r.caseName.padEnd(8)} ${r.stage.padEnd(36)} ${value}`;
  });
  return lines.join('\n');
}

/**
 * One line per case and kind of stage (the prompt name dropped): the worst difference over
 * the prompts and how much of its tolerance it uses.
 */
export function summarizeResults(backend: string, results: StageResult[]): string {
  const groups = new Map<string, { caseName: string; kind: string; worst: number; tol: number; ratio: number; minIou: number; n: number }>();
  for (const r of results) {
    const kind = r.stage.replace(/^p\d+_\S+ /, 'prompt ');
    const key = `${r.caseName} ${kind}`;
    const ratio = r.tolerance > 0 ? r.maxAbsDiff / r.tolerance : r.maxAbsDiff === 0 ? 0 : Infinity;
    const g = groups.get(key) ?? { caseName: r.caseName, kind, worst: 0, tol: r.tolerance, ratio: 0, minIou: 1, n: 0 };
    g.n++;
    if (ratio >= g.ratio) Object.assign(g, { worst: r.maxAbsDiff, tol: r.tolerance, ratio });
    if (r.iou !== undefined) g.minIou = Math.min(g.minIou, r.iou);
    groups.set(key, g);
  }
  return [...groups.values()]
    .map((g) => {
      const value = g.kind.endsWith('masks')
        ? `min IoU ${g.minIou.toFixed(5)}, ${g.worst} pixels flipped`
        : `worst ${g.worst.toExponential(2)} of ${g.tol.toExponential(2)} (${(100 * g.ratio).toFixed(1)}%)`;
      return `| ${backend} | ${g.caseName} | ${g.kind}${g.n > 1 ? ` (${g.n})` : ''} | ${value} |`;
    })
    .join('\n');
}
