/**
 * Automatic mask generation (`SamAutomaticMaskGenerator` in the reference): prompts the model
 * with a grid of single points over the whole image (and optionally over layers of
 * overlapping crops), keeps the confident and stable masks, drops the ones cut off by a crop
 * edge, removes duplicates by box NMS (within each crop, then across crops), optionally cleans
 * small holes and islands, and returns one record per mask.
 *
 * The algorithm, its thresholds, comparison directions and output order are the reference's.
 * Two things differ in how the work is done, not in the results:
 * - the predicted-IoU filter runs on the decoder output, before the low-res logits are upscaled,
 *   so only masks that pass it are upscaled to the crop size (the upscale works per mask, so the
 *   values are the same as upscaling every mask);
 * - on GPU backends, upscaling, stability counts and thresholding stay in tfjs; only the IoU
 *   predictions, two counts per mask and the binary masks of the stable ones are downloaded.
 *   On cpu/wasm they run in JavaScript from the low-res logits, one mask at a time, with
 *   PyTorch's bilinear taps (postprocess_js.ts), computing only pixels near a mask's edge.
 * Also unlike the reference, no surviving mask with crop layers gives an empty list (the
 * reference crashes there), and `coco_rle` needs no extra package.
 */
import * as tf from '@tensorflow/tfjs';
import {
  areaFromRle,
  batchedNms,
  boxXyxyToXywh,
  buildAllLayerPointGrids,
  generateCropBoxes,
  isBoxNearCropEdge,
  maskToBoxXYXY,
  maskToRleUncropped,
  rleToCocoRle,
  rleToMask,
  stabilityThresholds,
  type CocoRle,
  type Rle,
} from './amg/index.js';
import { candidateBoxes, type MaskCandidate } from './amg_generator/candidates.js';
import { cropRgbImage } from './amg_generator/crop_image.js';
import { modelFramePointsFloat32 } from './amg_generator/model_frame_points.js';
import {
  resolveAmgOptions,
  type AmgOutputMode,
  type AutomaticMaskGeneratorOptions,
  type ResolvedAmgOptions,
} from './amg_generator/options.js';
import { postprocessSmallRegions } from './amg_generator/small_region_postprocess.js';
import { stabilityFilter } from './amg_generator/stability_filter.js';
import type { ImageEmbedding } from './embedding.js';
import { toRgbImage, type ImageInput } from './image_input.js';
import { SamPredictor, type BinaryMask } from './predictor.js';
import { applyCoords } from './preprocess/coords.js';
import type { RgbImage } from './preprocess/image.js';
import type { SamModel } from './sam_model.js';
import { MaskUpscaler } from './postprocess_js.js';
import { isCpuLikeBackend } from '../layers/tensor_utils.js';

export type { AmgOutputMode, AutomaticMaskGeneratorOptions, PointGridInput, ResolvedAmgOptions } from './amg_generator/options.js';
export { DEFAULT_AMG_OPTIONS } from './amg_generator/options.js';

/** A mask as `generate` returns it: binary, uncompressed RLE or COCO RLE, per `outputMode`. */
export type MaskSegmentation = BinaryMask | Rle | CocoRle;

/** One generated mask (the reference's record, keys in camelCase). */
export interface MaskRecord<S extends MaskSegmentation = MaskSegmentation> {
  /** The mask at the original image size, in the form `outputMode` asks for. */
  segmentation: S;
  /** Pixels in the mask. */
  area: number;
  /** Box around the mask, XYWH, integer pixels (w = last column - first column). */
  bbox: [number, number, number, number];
  /** The model's own estimate of the mask's quality. */
  predictedIou: number;
  /** The point prompt that produced the mask, in original-image pixels: `[[x, y]]`. */
  pointCoords: [[number, number]];
  /** IoU of the mask binarised at +/- stabilityScoreOffset around the threshold. */
  stabilityScore: number;
  /** The crop the mask was found in, XYWH. */
  cropBox: [number, number, number, number];
}

/** Progress of a `generate` call, reported after every decoder batch. */
export interface AmgProgress {
  /** Crops whose every batch is done, of `totalCrops`. */
  cropsDone: number;
  totalCrops: number;
  /** Decoder batches done over all crops, of `totalBatches`. */
  batchesDone: number;
  totalBatches: number;
}

export interface GenerateOptions {
  /** Called after every batch (awaited when it returns a promise). */
  onProgress?: (progress: AmgProgress) => void | Promise<void>;
}

/** What one crop needs while its batches run. */
interface CropContext {
  embedding: ImageEmbedding;
  /** [x0, y0, x1, y1] in the original image. */
  cropBox: [number, number, number, number];
  /** [h, w] of the crop. */
  cropSize: [number, number];
  /** [H, W] of the original image. */
  origSize: [number, number];
}

/** A mask found in a crop, with its box and point still in the crop's frame. */
interface CropCandidate {
  rle: Rle;
  box: [number, number, number, number];
  predictedIou: number;
  point: [number, number];
  stabilityScore: number;
}

export class SamAutomaticMaskGenerator {
  readonly model: SamModel;
  /** The options in effect (defaults applied, validated). */
  readonly options: Readonly<ResolvedAmgOptions>;
  /** Normalised point grid of each crop layer, flat interleaved (x, y) in float64. */
  readonly pointGrids: readonly Float64Array[];
  /**
   * On GPU backends, most bytes of upscaled mask logits post-processed at once: a point
   * batch's masks are upscaled to the crop size in chunks (each mask on its own, so the
   * results are the same). One pass over 64 points x 3 masks at 1500 x 2250 would need
   * 2.6 GB. On cpu/wasm masks are post-processed one at a time in JavaScript and this is not
   * used. The decoder's own bound is `model.maxDecodeBytes`.
   */
  postprocessChunkBytes = 128 * 2 ** 20;

  constructor(model: SamModel, options: Partial<AutomaticMaskGeneratorOptions> = {}) {
    this.model = model;
    this.options = Object.freeze(resolveAmgOptions(options));
    const o = this.options;
    this.pointGrids = o.pointGrids ?? buildAllLayerPointGrids(o.pointsPerSide as number, o.cropNLayers, o.cropNPointsDownscaleFactor);
  }

  /**
   * Generates the masks of an image (anything `SamPredictor.setImage` accepts; an
   * `{ data, width, height, channels: 3 }` RGB image is used as is).
   */
  async generate(image: ImageInput | RgbImage, options: GenerateOptions = {}): Promise<MaskRecord[]> {
    const rgb = await toRgbImage(image);
    const o = this.options;
    let cands = await this.generateCandidates(rgb, options.onProgress);
    if (o.minMaskRegionArea > 0) {
      cands = postprocessSmallRegions(cands, o.minMaskRegionArea, Math.max(o.boxNmsThresh, o.cropNmsThresh));
    }
    return cands.map((c) => toRecord(c, o.outputMode));
  }

  /** Every crop's masks, then NMS across crops (preferring smaller crops) when there are several. */
  private async generateCandidates(rgb: RgbImage, onProgress: GenerateOptions['onProgress']): Promise<MaskCandidate[]> {
    const o = this.options;
    const origSize: [number, number] = [rgb.height, rgb.width];
    const { cropBoxes, layerIdxs } = generateCropBoxes(origSize, o.cropNLayers, o.cropOverlapRatio);
    const batchesPerCrop = layerIdxs.map((l) => Math.ceil(this.pointGrids[l].length / 2 / o.pointsPerBatch));
    const progress: AmgProgress = {
      cropsDone: 0,
      totalCrops: cropBoxes.length,
      batchesDone: 0,
      totalBatches: batchesPerCrop.reduce((a, b) => a + b, 0),
    };
    const predictor = new SamPredictor(this.model);
    const all: MaskCandidate[] = [];
    for (let c = 0; c < cropBoxes.length; c++) {
      const cropBox = cropBoxes[c];
      const found = await this.processCrop(predictor, rgb, cropBox, this.pointGrids[layerIdxs[c]], origSize, async (last) => {
        progress.batchesDone++;
        if (last) progress.cropsDone++;
        await onProgress?.({ ...progress });
      });
      for (const f of found) {
        all.push({
          rle: f.rle,
          box: [f.box[0] + cropBox[0], f.box[1] + cropBox[1], f.box[2] + cropBox[0], f.box[3] + cropBox[1]],
          predictedIou: f.predictedIou,
          point: [f.point[0] + cropBox[0], f.point[1] + cropBox[1]],
          stabilityScore: f.stabilityScore,
          cropBox,
        });
      }
    }
    if (cropBoxes.length > 1 && all.length > 0) {
      // Prefer masks from smaller crops: score 1 / crop area (float32, as torch divides).
      const scores = all.map((m) => Math.fround(1 / ((m.cropBox[2] - m.cropBox[0]) * (m.cropBox[3] - m.cropBox[1]))));
      const keep = batchedNms(candidateBoxes(all), scores, new Uint8Array(all.length), o.cropNmsThresh);
      return keep.map((i) => all[i]);
    }
    return all;
  }

  /** Embeds one crop, runs its point batches and removes duplicates within it (NMS on predicted IoU). */
  private async processCrop(
    predictor: SamPredictor,
    rgb: RgbImage,
    cropBox: [number, number, number, number],
    grid: Float64Array,
    origSize: [number, number],
    onBatch: (lastOfCrop: boolean) => Promise<void>,
  ): Promise<CropCandidate[]> {
    const o = this.options;
    const [x0, y0, x1, y1] = cropBox;
    const cropSize: [number, number] = [y1 - y0, x1 - x0];
    const step = 2 * o.pointsPerBatch;
    if (cropSize[0] <= 0 || cropSize[1] <= 0) {
      // Only tiny images give empty crops; nothing can be found in them.
      for (let start = 0; start < grid.length; start += step) await onBatch(start + step >= grid.length);
      return [];
    }
    let embedding: ImageEmbedding;
    try {
      await predictor.setImage(cropRgbImage(rgb, cropBox));
      embedding = predictor.getImageEmbedding();
    } finally {
      predictor.resetImage();
    }
    const ctx: CropContext = { embedding, cropBox, cropSize, origSize };
    const found: CropCandidate[] = [];
    try {
      // The grid scaled by the crop size (x by width, y by height), in float64.
      const points = new Float64Array(grid.length);
      for (let i = 0; i < grid.length; i += 2) {
        points[i] = grid[i] * cropSize[1];
        points[i + 1] = grid[i + 1] * cropSize[0];
      }
      for (let start = 0; start < points.length; start += step) {
        const end = Math.min(start + step, points.length);
        found.push(...(await this.processBatch(ctx, points.subarray(start, end))));
        await onBatch(end === points.length);
      }
    } finally {
      this.model.releaseDecoderImageSide(embedding.embedding);
      embedding.embedding.dispose();
    }
    if (found.length === 0) return found;
    const boxes = new Float64Array(found.length * 4);
    found.forEach((f, i) => boxes.set(f.box, 4 * i));
    const keep = batchedNms(
      boxes,
      found.map((f) => f.predictedIou),
      new Uint8Array(found.length),
      o.boxNmsThresh,
    );
    return keep.map((i) => found[i]);
  }

  /**
   * One decoder pass over a batch of points (crop frame, interleaved x, y), multimask output:
   * IoU filter (`>`), stability filter (`>=`) on the crop-resolution logits, binarisation,
   * boxes, crop-edge filter, RLE of the mask placed in the original image.
   */
  private async processBatch(ctx: CropContext, points: Float64Array): Promise<CropCandidate[]> {
    const o = this.options;
    const model = this.model;
    const s = model.imgSize;
    const maskThreshold = model.config.maskThreshold;
    const nPoints = points.length / 2;
    const [h, w] = ctx.cropSize;
    const [origH, origW] = ctx.origSize;
    const coords = modelFramePointsFloat32(applyCoords(points, ctx.cropSize, s), s);

    const disposeLater: tf.Tensor[] = [];
    try {
      const decoded = tf.tidy(() => {
        const { lowResLogits, iouPredictions } = model.decode({
          imageEmbeddings: ctx.embedding.embedding,
          pointCoords: tf.tensor3d(coords, [nPoints, 1, 2]),
          pointLabels: tf.ones([nPoints, 1], 'float32') as tf.Tensor2D,
          multimaskOutput: true,
          keepImageSide: true, // released when the crop is done
        });
        return { lowResLogits, iouPredictions };
      });
      disposeLater.push(decoded.lowResLogits, decoded.iouPredictions);
      const [, m, lh, lw] = decoded.lowResLogits.shape;
      const n = nPoints * m; // candidate k is mask k % m of point floor(k / m)

      // Predicted IoU filter (the float32 score against the float32 threshold, as torch compares).
      const iou = (await decoded.iouPredictions.data()) as Float32Array;
      const iouThresh = Math.fround(o.predIouThresh);
      const kept: number[] = [];
      for (let k = 0; k < n; k++) if (!(o.predIouThresh > 0) || iou[k] > iouThresh) kept.push(k);
      if (kept.length === 0) return [];

      // Each stable mask becomes a box and an RLE as soon as it is made (a full-size mask is
      // 3.4 MB at 1500 x 2250; a batch has up to 192 candidates).
      const out: CropCandidate[] = [];
      const accept = (k: number, mask: Uint8Array, stabilityScore: number) => {
        const box = maskToBoxXYXY(mask, h, w, 0);
        if (isBoxNearCropEdge(box, ctx.cropBox, [0, 0, origW, origH])[0]) return;
        const p = Math.floor(k / m);
        out.push({
          rle: maskToRleUncropped(mask, ctx.cropBox, origH, origW),
          box: [box[0], box[1], box[2], box[3]],
          predictedIou: iou[k],
          point: [points[2 * p], points[2 * p + 1]],
          stabilityScore,
        });
      };
      if (isCpuLikeBackend()) {
        // Upscaled, counted and thresholded in JavaScript from the low-res logits, one mask at
        // a time (postprocess_js.ts).
        const lowData = (await decoded.lowResLogits.data()) as Float32Array;
        const up = new MaskUpscaler([lh, lw], ctx.embedding.inputSize, ctx.cropSize, s);
        const { high, low } = stabilityThresholds(maskThreshold, o.stabilityScoreOffset);
        const keepAbove = Math.fround(o.stabilityScoreThresh);
        for (const k of kept) {
          const src = lowData.subarray(k * lh * lw, (k + 1) * lh * lw);
          const counts = up.stabilityCounts(src, high, low);
          const stability = Math.fround(counts.intersection / counts.union);
          if (o.stabilityScoreThresh > 0 && !(stability >= keepAbove)) continue;
          accept(k, up.mask(src, Math.fround(maskThreshold)), stability);
        }
      } else {
        // Upscale the survivors to the crop size and count pixels for the stability score, a
        // chunk of masks at a time (see postprocessChunkBytes).
        const perMask = 4 * Math.max(s * s, h * w);
        const chunk = Math.max(1, Math.floor(this.postprocessChunkBytes / perMask));
        const lowAll = decoded.lowResLogits.reshape([n, lh, lw]);
        disposeLater.push(lowAll);
        const hw = h * w;
        for (let c0 = 0; c0 < kept.length; c0 += chunk) {
          const ks = kept.slice(c0, c0 + chunk);
          const logits = tf.tidy(() => {
            const low = tf.gather(lowAll, tf.tensor1d(ks, 'int32'), 0).expandDims(0) as tf.Tensor4D;
            return model.postprocessMasks(low, ctx.embedding.inputSize, ctx.cropSize);
          });
          let stable: Awaited<ReturnType<typeof stabilityFilter>>;
          try {
            stable = await stabilityFilter(logits, { maskThreshold, offset: o.stabilityScoreOffset, threshold: o.stabilityScoreThresh });
          } finally {
            logits.dispose();
          }
          stable.rows.forEach((j, r) => accept(ks[j], stable.masks.subarray(r * hw, (r + 1) * hw), stable.stability[j]));
        }
      }
      return out;
    } finally {
      tf.dispose(disposeLater);
    }
  }
}

function toRecord(c: MaskCandidate, mode: AmgOutputMode): MaskRecord {
  const [h, w] = c.rle.size;
  let segmentation: MaskSegmentation;
  if (mode === 'binary_mask') segmentation = { width: w, height: h, data: rleToMask(c.rle) };
  else if (mode === 'coco_rle') segmentation = rleToCocoRle(c.rle);
  else segmentation = c.rle;
  return {
    segmentation,
    area: areaFromRle(c.rle),
    bbox: boxXyxyToXywh(c.box),
    predictedIou: c.predictedIou,
    pointCoords: [[c.point[0], c.point[1]]],
    stabilityScore: c.stabilityScore,
    cropBox: boxXyxyToXywh(c.cropBox),
  };
}
