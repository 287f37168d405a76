/**
 * Prompting one image and writing the results (what `sam-tfjs segment` runs): for each mask
 * a PNG mask (8-bit grayscale, 255 = mask), an overlay of the mask on the image, an RGBA cut-out cropped
 * to the mask's box, and one JSON record of all masks (score, box, area, COCO RLE). Node only.
 *
 * Files, for `photo.jpg` with one mask: `photo.mask.png`, `photo.overlay.png`,
 * `photo.cutout.png`, `photo.json`; with several (multimask): `photo.mask-0.png`, ... .
 */
import { basename, join, resolve } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { writeFileAtomic } from '../io/atomic_write.js';
import type { CocoRle } from '../sam/amg/types.js';
import { loadImageEmbedding } from '../sam/embedding.js';
import { cutout, encodePng, maskArea, maskBBox, maskToCocoRle, overlay } from '../sam/mask_output/index.js';
import { encodeMaskPng } from './amg_files.js';
import { SamPredictor } from '../sam/predictor.js';
import { decodeImage } from '../sam/preprocess/decode_image.js';
import type { SamModel } from '../sam/sam_model.js';

export interface SegmentOptions {
  /** The image file. */
  image: string;
  /** Output folder. */
  outDir: string;
  /** Point prompts [x, y, label] in image pixels (label 1 foreground, 0 background). */
  points?: ReadonlyArray<readonly [number, number, number]>;
  /** A box [x0, y0, x1, y1] in image pixels. */
  box?: readonly [number, number, number, number];
  /** Three candidate masks instead of one. */
  multimask?: boolean;
  /** A `.samemb` embedding of this image (from `embedImages`), instead of running the encoder. */
  embedding?: string;
  /** Base name of the files (default: the image's file name without extension). */
  name?: string;
}

export interface SegmentMask {
  index: number;
  /** Predicted IoU. */
  score: number;
  area: number;
  /** XYWH. */
  bbox: [number, number, number, number];
  segmentation: CocoRle;
  files: { mask: string; overlay: string; cutout: string | null };
}

/** The JSON record `segmentToFiles` writes. */
export interface SegmentRecord {
  image: { file_name: string; width: number; height: number };
  prompt: {
    point_coords: number[][] | null;
    point_labels: number[] | null;
    box: number[] | null;
    multimask_output: boolean;
  };
  /** Index of the mask with the highest score. */
  best: number;
  masks: SegmentMask[];
}

export interface SegmentResult {
  record: SegmentRecord;
  /** The JSON file. */
  json: string;
}

export async function segmentToFiles(model: SamModel, options: SegmentOptions): Promise<SegmentResult> {
  const points = options.points ?? [];
  if (points.length === 0 && !options.box) throw new Error('segment: give at least one point or a box');
  const outDir = resolve(options.outDir);
  const image = await decodeImage(options.image);
  const predictor = new SamPredictor(model);
  try {
    if (options.embedding) {
      const e = await loadImageEmbedding(options.embedding);
      try {
        if (e.originalSize[0] !== image.height || e.originalSize[1] !== image.width) {
          throw new Error(
            `the embedding ${options.embedding} is of a ${e.originalSize[1]}x${e.originalSize[0]} image, but ${options.image} is ${image.width}x${image.height}`,
          );
        }
        predictor.setImageEmbedding(e);
      } finally {
        e.embedding.dispose();
      }
    } else {
      await predictor.setImage(image);
    }
    const multimask = options.multimask ?? false;
    const prediction = await predictor.predict({
      pointCoords: points.length > 0 ? points.map((p) => [p[0], p[1]]) : undefined,
      pointLabels: points.length > 0 ? points.map((p) => p[2]) : undefined,
      box: options.box ? [...options.box] : undefined,
      multimaskOutput: multimask,
    });
    const name = options.name ?? basename(options.image).replace(/\.[^.]+$/, '');
    await mkdir(outDir, { recursive: true });
    const several = prediction.masks.length > 1;
    const masks: SegmentMask[] = [];
    for (let i = 0; i < prediction.masks.length; i++) {
      const mask = prediction.masks[i];
      const suffix = several ? `-${i}` : '';
      const files = {
        mask: join(outDir, `${name}.mask${suffix}.png`),
        overlay: join(outDir, `${name}.overlay${suffix}.png`),
        cutout: null as string | null,
      };
      await writeFileAtomic(files.mask, await encodeMaskPng(mask));
      await writeFileAtomic(files.overlay, await encodePng(overlay(image, mask)));
      const area = maskArea(mask);
      if (area > 0) {
        files.cutout = join(outDir, `${name}.cutout${suffix}.png`);
        await writeFileAtomic(files.cutout, await encodePng(cutout(image, mask, { crop: true })));
      }
      masks.push({ index: i, score: prediction.scores[i], area, bbox: maskBBox(mask), segmentation: maskToCocoRle(mask), files });
    }
    let best = 0;
    prediction.scores.forEach((s, i) => {
      if (s > prediction.scores[best]) best = i;
    });
    const record: SegmentRecord = {
      image: { file_name: basename(options.image), width: image.width, height: image.height },
      prompt: {
        point_coords: points.length > 0 ? points.map((p) => [p[0], p[1]]) : null,
        point_labels: points.length > 0 ? points.map((p) => p[2]) : null,
        box: options.box ? [...options.box] : null,
        multimask_output: multimask,
      },
      best,
      masks,
    };
    const json = join(outDir, `${name}.json`);
    await writeFileAtomic(json, `${JSON.stringify(record, null, 2)}\n`);
    return { record, json };
  } finally {
    predictor.dispose();
  }
}
