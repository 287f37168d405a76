/**
 * Automatic masks of one image or a folder of images, written as the reference's
 * `scripts/amg.py` writes them (what `sam-tfjs auto` runs):
 * - default: `<out>/<name>/0.png, 1.png, ...` and `<out>/<name>/metadata.csv`;
 * - `convertToRle`: `<out>/<name>.json`, the masks as COCO RLE in the SA-1B layout
 *   `{ image: {image_id, width, height, file_name}, annotations: [...] }`.
 * `<name>` is the image's path relative to the input folder without its extension (see
 * outputNames). A folder run is resumable (state in `<out>/.sam-tfjs-auto/`): every image's
 * output is complete or absent, and a restarted run skips finished images. Node only.
 */
import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { stat, writeFile } from 'node:fs/promises';
import { writeFileAtomic } from '../io/atomic_write.js';
import { SamAutomaticMaskGenerator, type AutomaticMaskGeneratorOptions } from '../sam/automatic_mask_generator.js';
import type { BinaryMask } from '../sam/predictor.js';
import type { SamModel } from '../sam/sam_model.js';
import { amgSettings } from './amg_settings.js';
import { encodeMaskPng, metadataCsv, sa1bImageJson } from './amg_files.js';
import { runEnvironment } from './environment.js';
import { modelFingerprint } from './fingerprint.js';
import { listImages, outputNames } from './images.js';
import { runImages, type RunOptions, type RunSummary } from './runner.js';
import { RunState } from './state.js';

export interface MaskFilesOptions extends RunOptions {
  /** An image file or a folder of images (searched recursively). */
  input: string;
  /** Output folder. */
  outDir: string;
  /** Generator options (the reference's defaults otherwise). */
  amg?: Partial<Omit<AutomaticMaskGeneratorOptions, 'outputMode'>>;
  /** One COCO-RLE JSON per image instead of a folder of PNGs. */
  convertToRle?: boolean;
  /** The model's identity pinned in the manifest (default: modelFingerprint(model)). */
  modelId?: string;
}

export interface MaskFilesResult extends RunSummary {
  /** What was written for each image finished by this call: relative image path -> output path. */
  outputs: Map<string, string>;
  /** True when `input` was a folder. */
  folder: boolean;
}

/** Where a folder run of generateMaskFiles keeps its state. */
export const AUTO_STATE_DIR = '.sam-tfjs-auto';

/** Writes a folder of files atomically: into a hidden temporary folder, then renamed into place. */
async function writeFolderAtomic(dir: string, files: Array<[string, Uint8Array | string]>): Promise<void> {
  const tmp = join(dirname(dir), `.${basename(dir)}.${randomBytes(6).toString('hex')}.tmp`);
  await mkdir(tmp, { recursive: true });
  try {
    for (const [name, data] of files) await writeFile(join(tmp, name), data);
    // An earlier, unfinished attempt may have left the folder: replace it.
    await rm(dir, { recursive: true, force: true });
    await rename(tmp, dir);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

export async function generateMaskFiles(model: SamModel, options: MaskFilesOptions): Promise<MaskFilesResult> {
  const input = resolve(options.input);
  const outDir = resolve(options.outDir);
  const info = await stat(input).catch(() => null);
  if (!info) throw new Error(`no such file or folder: ${options.input}`);
  const folder = info.isDirectory();
  const mode = options.convertToRle ? 'coco_rle' : 'binary_mask';
  const generator = new SamAutomaticMaskGenerator(model, { ...options.amg, outputMode: mode });
  const root = folder ? input : dirname(input);
  const files = folder ? await listImages(input, { exclude: [outDir] }) : [basename(input)];
  const names = outputNames(files);
  let state: RunState | null = null;
  if (folder) {
    const settings = { amg: amgSettings(generator.options), model: options.modelId ?? (await modelFingerprint(model)), convertToRle: !!options.convertToRle };
    state = await RunState.open(join(outDir, AUTO_STATE_DIR), 'auto', settings, runEnvironment());
  }
  await mkdir(outDir, { recursive: true });
  const outputs = new Map<string, string>();
  const summary = await runImages(
    {
      root,
      files,
      state,
      process: async (task, image, onProgress) => {
        const records = await generator.generate(image, { onProgress: (p) => onProgress(p.totalBatches > 0 ? p.batchesDone / p.totalBatches : 1) });
        const name = names.get(task.file)!;
        let target: string;
        if (options.convertToRle) {
          target = join(outDir, ...`${name}.json`.split('/'));
          const json = sa1bImageJson(records, { image_id: task.position + 1, width: image.width, height: image.height, file_name: task.file });
          await writeFileAtomic(target, JSON.stringify(json));
        } else {
          target = join(outDir, ...name.split('/'));
          const files: Array<[string, Uint8Array | string]> = [];
          for (let i = 0; i < records.length; i++) files.push([`${i}.png`, await encodeMaskPng(records[i].segmentation as BinaryMask)]);
          files.push(['metadata.csv', metadataCsv(records)]);
          await mkdir(dirname(target), { recursive: true });
          await writeFolderAtomic(target, files);
        }
        outputs.set(task.file, target);
        return { marker: JSON.stringify({ file: task.file, output: target, masks: records.length }), detail: { masks: records.length, output: target } };
      },
    },
    options,
  );
  return { ...summary, outputs, folder };
}
