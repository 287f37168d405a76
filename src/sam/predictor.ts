/**
 * Prompting one image interactively (`SamPredictor` in the reference): `setImage` computes
 * the image embedding once; `predict` maps prompts given in original-image pixels into the
 * model frame, runs the prompt encoder and mask decoder, and returns masks at the original
 * size, their predicted IoU, and low-res logits that can be fed back as `maskInput`.
 */
import * as tf from '@tensorflow/tfjs';
import type { ImageEmbedding } from './embedding.js';
import { toRgbImage, type ImageInput } from './image_input.js';
import { applyBoxes, applyBoxesTorch, applyCoords, applyCoordsTorch } from './preprocess/coords.js';
import { preprocess } from './preprocess/pipeline.js';
import type { RgbImage } from './preprocess/image.js';
import { checkBox, checkLabels, checkMaskInput, checkPoints, readMaskInput, readPointsInput, readPromptTensor, type BoxInput, type LabelsInput, type MaskInput, type PointsInput } from './prompts.js';
import type { DecodeInputs, SamModel } from './sam_model.js';
import { thresholdMasks } from './postprocess.js';
import { upscaleMasks } from './postprocess_js.js';
import { isCpuLikeBackend, view } from '../layers/tensor_utils.js';

export interface PredictOptions {
  /** Points in original-image pixels: [[x, y], ...]. */
  pointCoords?: PointsInput;
  /** One label per point: 1 foreground, 0 background, -1 ignore. */
  pointLabels?: LabelsInput;
  /** A box [x0, y0, x1, y1] in original-image pixels. */
  box?: BoxInput;
  /** Low-res logits (4g x 4g) of an earlier prediction, to refine it. */
  maskInput?: MaskInput;
  /** Three candidate masks (true, the default) or one. */
  multimaskOutput?: boolean;
  /** Also return the mask logits at the original size. */
  returnLogits?: boolean;
}

export interface BatchPredictOptions {
  /** B boxes [x0, y0, x1, y1] in original-image pixels. */
  boxes?: ReadonlyArray<readonly number[]>;
  /** B point sets of N points each: [[[x, y], ...], ...]. */
  pointCoords?: ReadonlyArray<ReadonlyArray<readonly number[]>>;
  /** B label lists of N labels each. */
  pointLabels?: ReadonlyArray<ArrayLike<number>>;
  /** B low-res logits (4g x 4g each). */
  maskInputs?: ReadonlyArray<MaskInput>;
  multimaskOutput?: boolean;
  returnLogits?: boolean;
}

/** A binary mask: row-major, 1 = object, 0 = background. */
export interface BinaryMask {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface Prediction {
  /** One mask per candidate (3 with multimask output, else 1), at the original image size. */
  masks: BinaryMask[];
  /** Predicted IoU of each mask. */
  scores: number[];
  /** Low-res logits (4g x 4g) of each mask, usable as the next `maskInput`. */
  lowResLogits: Float32Array[];
  /** Logits at the original size (only with `returnLogits`). */
  logits?: Float32Array[];
}

/** The same as tensors, for callers that keep working in tfjs. The caller disposes them. */
export type PredictionTensors = {
  masks: tf.Tensor4D; // bool [B, M, H, W]
  logits: tf.Tensor4D; // [B, M, H, W]
  iouPredictions: tf.Tensor2D; // [B, M]
  lowResLogits: tf.Tensor4D; // [B, M, 4g, 4g]
};

interface ImageState {
  embedding: tf.Tensor4D;
  originalSize: [number, number];
  inputSize: [number, number];
}

export class SamPredictor {
  readonly model: SamModel;
  private state: ImageState | null = null;

  constructor(model: SamModel) {
    this.model = model;
  }

  /** Whether an image (or embedding) is set. */
  get isImageSet(): boolean {
    return this.state !== null;
  }

  /** [H, W] of the current image. */
  get originalSize(): [number, number] {
    return this.requireImage().originalSize;
  }

  /** Size of the low-res masks, [4g, 4g]. */
  get lowResSize(): [number, number] {
    return this.model.promptEncoder.maskInputSize;
  }

  /** Decodes / converts the image, preprocesses it and computes its embedding. */
  async setImage(image: ImageInput | RgbImage): Promise<void> {
    const rgb = await toRgbImage(image);
    const cfg = this.model.config;
    const pre = preprocess(rgb, { imgSize: this.model.imgSize, pixelMean: cfg.pixelMean, pixelStd: cfg.pixelStd });
    let embedding: tf.Tensor4D;
    try {
      embedding = this.model.embedImage(pre.input);
    } finally {
      pre.input.dispose();
    }
    this.resetImage();
    this.state = {
      embedding,
      originalSize: [pre.originalSize[0], pre.originalSize[1]],
      inputSize: [pre.inputSize[0], pre.inputSize[1]],
    };
  }

  /** A copy of the current embedding and its sizes (the caller disposes `embedding`). */
  getImageEmbedding(): ImageEmbedding {
    const s = this.requireImage();
    return { embedding: s.embedding.clone(), originalSize: [...s.originalSize], inputSize: [...s.inputSize], imgSize: this.model.imgSize };
  }

  /** Uses an embedding computed earlier (it is copied; the caller keeps its own). */
  setImageEmbedding(e: ImageEmbedding): void {
    const g = this.model.config.promptEncoder.imageEmbeddingSize;
    const c = this.model.config.promptEncoder.embedDim;
    const expected = [1, g[0], g[1], c];
    if (e.imgSize !== this.model.imgSize || e.embedding.shape.join() !== expected.join()) {
      throw new Error(
        `setImageEmbedding: this embedding ([${e.embedding.shape}] for a ${e.imgSize}px encoder) was not made by this model ` +
          `(which needs [${expected}] for ${this.model.imgSize}px)`,
      );
    }
    this.resetImage();
    this.state = { embedding: e.embedding.clone(), originalSize: [...e.originalSize], inputSize: [...e.inputSize] };
  }

  /** Releases the current image's embedding. */
  resetImage(): void {
    if (this.state) {
      this.model.releaseDecoderImageSide(this.state.embedding);
      this.state.embedding.dispose();
    }
    this.state = null;
  }

  /** Prompts the current image: masks, scores and low-res logits for one prompt. */
  async predict(options: PredictOptions = {}): Promise<Prediction> {
    const returnLogits = options.returnLogits ?? false;
    // The image set now is the one prompted: another may be set while the results download.
    const frame = this.requireImage();
    const { pointCoords, pointLabels, box, maskInput } = options;
    if (![pointCoords, pointLabels, box, maskInput].some((v) => v instanceof tf.Tensor)) {
      return (await this.toPredictions(this.promptTensors(options, postprocessingFor(), frame), returnLogits, frame))[0];
    }
    // Tensor prompts are read first, asynchronously; the image is held meanwhile.
    return withHeldImage(frame, async (held) => {
      const read = await this.readTensorPrompts(options);
      return (await this.toPredictions(this.promptTensors(read, postprocessingFor(), held), returnLogits, held))[0];
    });
  }

  /**
   * Whether s holds the current image's data: the decoder's per-image tensors are kept for
   * it (keyed by the embedding's data, released by resetImage), and made per call otherwise.
   */
  private isCurrentImage(s: ImageState): boolean {
    return this.state !== null && this.state.embedding.dataId === s.embedding.dataId;
  }

  /** Prompt values given as tensors, read asynchronously (see readPromptTensor). */
  private async readTensorPrompts(options: PredictOptions): Promise<PredictOptions> {
    const { pointCoords, pointLabels, box, maskInput } = options;
    return {
      ...options,
      pointCoords: pointCoords === undefined ? undefined : await readPointsInput(pointCoords),
      pointLabels: pointLabels === undefined ? undefined : await readPromptTensor(pointLabels),
      box: box === undefined ? undefined : await readPromptTensor(box),
      maskInput: maskInput === undefined ? undefined : await readMaskInput(maskInput, this.lowResSize),
    };
  }

  /** `predict` with the results left as tensors [1, M, ...]; the caller disposes them. */
  predictTensors(options: PredictOptions = {}): PredictionTensors {
    return this.promptTensors(options, 'backend') as PredictionTensors;
  }

  private promptTensors(options: PredictOptions, where: Postprocessing, s: ImageState = this.requireImage()): DecodedTensors {
    const low = this.lowResSize;
    let coords: Float32Array | undefined;
    let labels: number[] | undefined;
    if (options.pointCoords !== undefined) {
      const flat = checkPoints(options.pointCoords);
      labels = checkLabels(options.pointLabels, flat.length / 2);
      // numpy path of the reference: scale in float64, then cast to float32.
      coords = Float32Array.from(applyCoords(flat, s.originalSize, this.model.imgSize));
    } else if (options.pointLabels !== undefined) {
      throw new Error('pointLabels given without pointCoords');
    }
    const box = options.box !== undefined ? Float32Array.from(applyBoxes(checkBox(options.box), s.originalSize, this.model.imgSize)) : undefined;
    const mask = options.maskInput !== undefined ? checkMaskInput(options.maskInput, low) : undefined;
    return tf.tidy(() => {
      // The decoder's per-image tensors are kept for the predictor's current image only.
      const inputs: DecodeInputs = { imageEmbeddings: s.embedding, multimaskOutput: options.multimaskOutput ?? true, keepImageSide: this.isCurrentImage(s) };
      if (coords && labels) {
        inputs.pointCoords = tf.tensor3d(coords, [1, labels.length, 2]);
        inputs.pointLabels = tf.tensor2d(labels, [1, labels.length]);
      }
      if (box) inputs.boxes = tf.tensor2d(box, [1, 4]);
      if (mask) inputs.maskInput = tf.tensor3d(mask, [1, low[0], low[1]]);
      return this.decodeAndPostprocess(inputs, s, where);
    });
  }

  /**
   * Many prompts in one decoder pass (the reference's `predict_torch`): B boxes and/or B
   * point sets (same N each) and/or B mask inputs. Coordinates are in original-image pixels
   * and mapped in float32 like `apply_coords_torch` / `apply_boxes_torch`.
   */
  async predictBatch(options: BatchPredictOptions): Promise<Prediction[]> {
    const returnLogits = options.returnLogits ?? false;
    const frame = this.requireImage();
    if (!options.maskInputs?.some((m) => m instanceof tf.Tensor)) {
      return this.toPredictions(this.batchTensors(options, postprocessingFor(), frame), returnLogits, frame);
    }
    const masks = options.maskInputs;
    return withHeldImage(frame, async (held) => {
      const maskInputs = await Promise.all(masks.map((m, i) => readMaskInput(m, this.lowResSize, `maskInputs[${i}]`)));
      return this.toPredictions(this.batchTensors({ ...options, maskInputs }, postprocessingFor(), held), returnLogits, held);
    });
  }

  /** `predictBatch` with tensor results [B, M, ...]; the caller disposes them. */
  predictBatchTensors(options: BatchPredictOptions): PredictionTensors {
    return this.batchTensors(options, 'backend') as PredictionTensors;
  }

  private batchTensors(options: BatchPredictOptions, where: Postprocessing, s: ImageState = this.requireImage()): DecodedTensors {
    const low = this.lowResSize;
    const sizes = [options.boxes?.length, options.pointCoords?.length, options.maskInputs?.length].filter((n) => n !== undefined) as number[];
    if (sizes.length === 0) throw new Error('predictBatch: give boxes, pointCoords (with pointLabels) or maskInputs');
    const b = sizes[0];
    if (b === 0 || sizes.some((n) => n !== b)) throw new Error(`predictBatch: boxes, point sets and mask inputs must have the same non-zero count (got ${sizes.join(', ')})`);
    let coords: Float32Array | undefined;
    let labels: number[] | undefined;
    let n = 0;
    if (options.pointCoords) {
      if (!options.pointLabels || options.pointLabels.length !== b) throw new Error(`predictBatch: ${b} point sets need ${b} label lists`);
      const sets = options.pointCoords.map((pts, i) => checkPoints(pts, `pointCoords[${i}]`));
      n = sets[0].length / 2;
      if (sets.some((p) => p.length !== 2 * n)) throw new Error('predictBatch: every point set must have the same number of points (pad with label -1)');
      labels = options.pointLabels.flatMap((l, i) => checkLabels(l, n, `pointLabels[${i}]`));
      coords = applyCoordsTorch(sets.flat(), s.originalSize, this.model.imgSize);
    } else if (options.pointLabels) {
      throw new Error('predictBatch: pointLabels given without pointCoords');
    }
    const boxes = options.boxes ? applyBoxesTorch(options.boxes.flatMap((bx, i) => checkBox(bx, `boxes[${i}]`)), s.originalSize, this.model.imgSize) : undefined;
    const masks = options.maskInputs?.map((m, i) => checkMaskInput(m, low, `maskInputs[${i}]`));
    return tf.tidy(() => {
      const inputs: DecodeInputs = { imageEmbeddings: s.embedding, multimaskOutput: options.multimaskOutput ?? true, keepImageSide: this.isCurrentImage(s) };
      if (coords && labels) {
        inputs.pointCoords = tf.tensor3d(coords, [b, n, 2]);
        inputs.pointLabels = tf.tensor2d(labels, [b, n]);
      }
      if (boxes) inputs.boxes = tf.tensor2d(boxes, [b, 4]);
      if (masks) inputs.maskInput = tf.stack(masks.map((m) => tf.tensor2d(m, low)));
      return this.decodeAndPostprocess(inputs, s, where);
    });
  }

  /**
   * Decoder pass on prompts already in the model input frame (S x S, e.g. from
   * `applyCoords`), post-processed to the current image's size. The low-level form the
   * automatic mask generator uses; the caller disposes the results.
   */
  predictInModelFrame(inputs: Omit<DecodeInputs, 'imageEmbeddings'>): PredictionTensors {
    const s = this.requireImage();
    return tf.tidy(() => this.decodeAndPostprocess({ ...inputs, imageEmbeddings: s.embedding, keepImageSide: true }, s, 'backend') as PredictionTensors);
  }

  /** Releases the embedding (the model is not disposed: it may serve other predictors). */
  dispose(): void {
    this.resetImage();
  }

  /** Decoder, then (on the backend) post-processing and thresholding. */
  private decodeAndPostprocess(inputs: DecodeInputs, s: ImageState, where: Postprocessing): DecodedTensors {
    const { lowResLogits, iouPredictions } = this.model.decode(inputs);
    if (where === 'javascript') return { iouPredictions, lowResLogits };
    const logits = this.model.postprocessMasks(lowResLogits, s.inputSize, s.originalSize);
    const masks = thresholdMasks(logits, this.model.config.maskThreshold) as tf.Tensor4D;
    return { masks, logits, iouPredictions, lowResLogits };
  }

  /**
   * Tensor results -> plain arrays, one Prediction per batch element; disposes the tensors.
   * `frame` is the image they were decoded for.
   */
  private async toPredictions(t: DecodedTensors, withLogits: boolean, frame: ImageState): Promise<Prediction[]> {
    try {
      const [b, m, lh, lw] = t.lowResLogits.shape;
      const threshold = this.model.config.maskThreshold;
      const scores = await t.iouPredictions.data();
      const low = (await t.lowResLogits.data()) as Float32Array;
      let masks: Uint8Array[];
      let logits: Float32Array[] | undefined;
      let size: [number, number];
      if (t.masks && t.logits) {
        const [, , h, w] = t.masks.shape;
        size = [h, w];
        const maskData = (await t.masks.data()) as Uint8Array;
        masks = perMask(maskData, b * m, h * w);
        if (withLogits) logits = perMask((await t.logits.data()) as Float32Array, b * m, h * w);
      } else {
        size = frame.originalSize;
        // Compared in float32, as the backend compares against a float32 scalar.
        ({ masks, logits } = upscaleMasks(low, b * m, [lh, lw], frame.inputSize, frame.originalSize, this.model.imgSize, Math.fround(threshold), withLogits));
      }
      const out: Prediction[] = [];
      const lhw = lh * lw;
      for (let i = 0; i < b; i++) {
        const p: Prediction = { masks: [], scores: [], lowResLogits: [] };
        for (let j = 0; j < m; j++) {
          const k = i * m + j;
          p.masks.push({ width: size[1], height: size[0], data: masks[k] });
          p.scores.push(scores[k]);
          p.lowResLogits.push(low.slice(k * lhw, (k + 1) * lhw));
          if (logits) (p.logits ??= []).push(logits[k]);
        }
        out.push(p);
      }
      return out;
    } finally {
      tf.dispose(Object.values(t) as tf.Tensor[]);
    }
  }

  private requireImage(): ImageState {
    if (!this.state) throw new Error('no image is set: call setImage(image) (or setImageEmbedding) before predict');
    return this.state;
  }
}

/**
 * Where predict() post-processes: on cpu/wasm, in JavaScript from the downloaded low-res
 * logits (postprocess_js.ts: a few ms of taps instead of two resizes, a crop and a 10 MB
 * download per 1500 x 2250 prompt); on GPU backends, with tfjs ops there.
 */
type Postprocessing = 'backend' | 'javascript';

/**
 * Runs `work` on the image's state with its own handle on the embedding (which setImage may
 * dispose while `work` awaits), sharing its data (no copy; see view), released after.
 */
async function withHeldImage<T>(s: ImageState, work: (held: ImageState) => Promise<T>): Promise<T> {
  const held = { ...s, embedding: view(s.embedding) };
  try {
    return await work(held);
  } finally {
    held.embedding.dispose();
  }
}

function postprocessingFor(): Postprocessing {
  return isCpuLikeBackend() ? 'javascript' : 'backend';
}

/** Decoder results, post-processed on the backend ('backend') or not yet ('javascript'). */
type DecodedTensors = Pick<PredictionTensors, 'iouPredictions' | 'lowResLogits'> & Partial<Pick<PredictionTensors, 'masks' | 'logits'>>;

/** Consecutive pieces of `size` values. */
function perMask<T extends Uint8Array | Float32Array>(data: T, count: number, size: number): T[] {
  const out: T[] = [];
  for (let k = 0; k < count; k++) out.push(data.slice(k * size, (k + 1) * size) as T);
  return out;
}
