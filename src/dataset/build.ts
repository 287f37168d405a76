/**
 * A folder of images -> one COCO dataset of automatic masks (what `sam-tfjs dataset` runs).
 *
 * Resumable and safe to kill at any moment: every image's masks are written atomically to
 * `<out>.parts/done/..` as soon as they are made, and the dataset file is assembled from
 * those parts, in the sorted order of the image list, only when every image of the run (or
 * shard) is done or recorded as failed. Restarted with the same settings, a run skips what
 * is done and ends with a file byte-identical to an uninterrupted run's. Node only.
 *
 * Ids: image id = 1 + the image's position in the sorted list of the whole input folder (so
 * shards agree), annotation ids run from 1 in image order; `mergeDatasets` renumbers
 * annotations the same way, so merged shards equal the unsharded dataset.
 */
import { readdir, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../io/atomic_write.js';
import { SamAutomaticMaskGenerator, type AutomaticMaskGeneratorOptions } from '../sam/automatic_mask_generator.js';
import { encodePng, maskColor, overlay } from '../sam/mask_output/index.js';
import type { RgbImage } from '../sam/preprocess/image.js';
import type { SamModel } from '../sam/sam_model.js';
import { amgSettings } from './amg_settings.js';
import { annotationMask, DatasetWriter, LineSpill, recordToAnnotation, type CocoAnnotation, type DatasetInfo } from './coco.js';
import { runEnvironment } from './environment.js';
import { modelFingerprint } from './fingerprint.js';
import { imageListDigest, imageKey, listImages } from './images.js';
import { runImages, type RunOptions, type RunSummary } from './runner.js';
import { shardPositions, type Shard } from './shard.js';
import { RunState } from './state.js';

export interface BuildDatasetOptions extends RunOptions {
  /** Folder of images (searched recursively; hidden files and folders are skipped). */
  input: string;
  /** The dataset file to write (a shard writes its own file: see shardFileName). */
  out: string;
  /** Generator options (the reference's defaults otherwise; `outputMode` is always 'coco_rle'). */
  amg?: Partial<Omit<AutomaticMaskGeneratorOptions, 'outputMode'>>;
  /** Also write an overlay of each image's masks as `<previewsDir>/<file>.png`. */
  previewsDir?: string | null;
  /** State folder (default `<out>.parts`). */
  stateDir?: string;
  /** The model's identity pinned in the manifest (default: modelFingerprint(model)). */
  modelId?: string;
  /** Images of the input, when already listed (sorted; default: listImages(input)). */
  files?: readonly string[];
  /** Delete the state folder once the dataset is written with no failures (default false). */
  removeState?: boolean;
}

export interface BuildDatasetResult extends RunSummary {
  /** The dataset file, once written (null while the run is incomplete). */
  output: string | null;
  /** Annotations in the written file. */
  annotations: number;
  /** True when this call resumed an earlier run. */
  resumed: boolean;
}

/** The part stored for a finished image (annotations without ids). */
interface ImagePart {
  file_name: string;
  width: number;
  height: number;
  annotations: Array<Omit<CocoAnnotation, 'id' | 'image_id'>>;
}

/** `info` of a dataset (shared with mergeDatasets, so that both write the same bytes). */
export function datasetInfo(fields: {
  imagesListed: number;
  imageListSha256: string;
  settings: Record<string, unknown>;
  failedImages: Array<{ file_name: string; error: string }>;
  shard?: Shard | null;
}): DatasetInfo {
  const info: DatasetInfo = {
    description: 'Automatic masks of Segment Anything (sam-tfjs), class-agnostic',
    format: 'sam-tfjs-coco',
    version: 1,
    images_listed: fields.imagesListed,
    image_list_sha256: fields.imageListSha256,
    settings: fields.settings,
    failed_images: fields.failedImages.map((f) => ({ file_name: f.file_name, error: f.error })),
  };
  if (fields.shard) info.shard = { index: fields.shard.index, count: fields.shard.count };
  return info;
}

/** Where `buildDataset` keeps its state for `out`. */
export function defaultStateDir(out: string): string {
  return `${out}.parts`;
}

async function writePreview(path: string, image: RgbImage, annotations: ImagePart['annotations']): Promise<void> {
  // Larger masks first so that small ones stay visible; colours follow the mask order.
  const order = annotations.map((a, i) => ({ a, i })).sort((x, y) => y.a.area - x.a.area || x.i - y.i);
  const masks = order.map(({ a }) => annotationMask(a));
  const colors = order.map(({ i }) => maskColor(i));
  await writeFileAtomic(path, await encodePng(overlay(image, masks, { colors, alpha: 0.45 })));
}

export async function buildDataset(model: SamModel, options: BuildDatasetOptions): Promise<BuildDatasetResult> {
  const out = resolve(options.out);
  const input = resolve(options.input);
  const stateDir = resolve(options.stateDir ?? defaultStateDir(out));
  const generator = new SamAutomaticMaskGenerator(model, { ...options.amg, outputMode: 'coco_rle' });
  const previews = options.previewsDir ? resolve(options.previewsDir) : null;
  const files = options.files ?? (await listImages(input, { exclude: [stateDir, ...(previews ? [previews] : [])] }));
  const settings = { amg: amgSettings(generator.options), model: options.modelId ?? (await modelFingerprint(model)) };
  const shard = options.shard ?? null;
  const state = await RunState.open(stateDir, 'dataset', { ...settings, shard }, runEnvironment());

  const lockWarning = await state.lock();
  if (lockWarning) options.onEvent?.({ type: 'warning', message: lockWarning });
  try {
    const summary = await runImages(
      {
        root: input,
        files,
        state,
        process: async (task, image, onProgress) => {
          const records = await generator.generate(image, {
            onProgress: (p) => onProgress(p.totalBatches > 0 ? p.batchesDone / p.totalBatches : 1),
          });
          const part: ImagePart = {
            file_name: task.file,
            width: image.width,
            height: image.height,
            annotations: records.map((r) => {
              const { id: _id, image_id: _imageId, ...rest } = recordToAnnotation(r, 0, 0);
              return rest;
            }),
          };
          if (previews) await writePreview(join(previews, ...`${task.file}.png`.split('/')), image, part.annotations);
          return { marker: JSON.stringify(part), detail: { masks: records.length } };
        },
      },
      options,
    );

    const result: BuildDatasetResult = { ...summary, output: null, annotations: 0, resumed: state.resumed };
    if (summary.interrupted || summary.remaining > 0) return result;

    result.annotations = await assemble(out, state, files, shard, settings, summary);
    result.output = out;
    if (options.removeState && summary.failed === 0) await state.remove();
    return result;
  } finally {
    await state.unlock();
  }
}

/** Writes the dataset from the parts, in list order (atomically). Returns the annotation count. */
async function assemble(
  out: string,
  state: RunState,
  files: readonly string[],
  shard: Shard | null,
  settings: Record<string, unknown>,
  summary: RunSummary,
): Promise<number> {
  await removeLeftoverTemporaries(out);
  const writer = new DatasetWriter(out);
  const failedImages = summary.failures.map((f) => ({ file_name: f.file, error: f.error }));
  await writer.begin(datasetInfo({ imagesListed: files.length, imageListSha256: imageListDigest(files), settings, failedImages, shard }));
  // Annotations go to a side file while the images are written, then follow them.
  const spill = new LineSpill(out);
  let nextId = 1;
  try {
    const done = await state.doneKeys();
    for (const position of shardPositions(files.length, shard)) {
      const key = imageKey(files[position]);
      if (!done.has(key)) continue;
      let part: ImagePart;
      try {
        part = JSON.parse(await state.readDone(key));
      } catch (e) {
        // Only a crash of the machine (not of the process) can leave this: remove it so that a rerun redoes the image.
        await rm(state.donePath(key), { force: true });
        throw new Error(`the part file of ${files[position]} was unreadable (${(e as Error).message}) and has been removed: run the same command again to redo that image`);
      }
      const imageId = position + 1;
      await writer.image({ id: imageId, file_name: part.file_name, width: part.width, height: part.height });
      for (const a of part.annotations) await spill.add(JSON.stringify({ id: nextId++, image_id: imageId, ...a }));
    }
    for await (const line of spill.lines()) await writer.annotationJson(line);
    await writer.commit();
  } catch (e) {
    await writer.abort();
    throw e;
  } finally {
    await spill.dispose();
  }
  return nextId - 1;
}

/** Temporary dataset files of an assembly that a killed process left next to `out`. */
async function removeLeftoverTemporaries(out: string): Promise<void> {
  const dir = dirname(out);
  const prefix = `.${basename(out)}.`;
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const n of names) if (n.startsWith(prefix) && n.endsWith('.tmp')) await rm(join(dir, n), { force: true });
}
