/**
 * Image embeddings of one image or a folder of images, saved as `.samemb` files (see
 * saveImageEmbedding) for prompting later without running the image encoder again (what
 * `sam-tfjs embed` runs). A folder run writes `<out>/<name>.samemb` for every image (names
 * as outputNames gives them) and is resumable (state in `<out>/.sam-tfjs-embed/`). Node only.
 */
import { mkdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { saveImageEmbedding } from '../sam/embedding.js';
import { SamPredictor } from '../sam/predictor.js';
import type { SamModel } from '../sam/sam_model.js';
import { runEnvironment } from './environment.js';
import { modelFingerprint } from './fingerprint.js';
import { listImages, outputNames } from './images.js';
import { runImages, type RunOptions, type RunSummary } from './runner.js';
import { RunState } from './state.js';

export interface EmbedOptions extends RunOptions {
  /** An image file or a folder of images (searched recursively). */
  input: string;
  /** Output folder (or, for one image, a file path ending in .samemb). */
  out: string;
  /** The model's identity pinned in the manifest (default: modelFingerprint(model)). */
  modelId?: string;
}

export interface EmbedResult extends RunSummary {
  /** Embedding files written by this call: relative image path -> file. */
  outputs: Map<string, string>;
  folder: boolean;
}

export const EMBED_STATE_DIR = '.sam-tfjs-embed';

export async function embedImages(model: SamModel, options: EmbedOptions): Promise<EmbedResult> {
  const input = resolve(options.input);
  const out = resolve(options.out);
  const info = await stat(input).catch(() => null);
  if (!info) throw new Error(`no such file or folder: ${options.input}`);
  const folder = info.isDirectory();
  const root = folder ? input : dirname(input);
  const files = folder ? await listImages(input, { exclude: [out] }) : [basename(input)];
  const names = outputNames(files);
  const target = (file: string) => {
    if (!folder && /\.samemb$/i.test(out)) return out;
    return join(out, ...`${names.get(file)}.samemb`.split('/'));
  };
  const state = folder ? await RunState.open(join(out, EMBED_STATE_DIR), 'embed', { model: options.modelId ?? (await modelFingerprint(model)) }, runEnvironment()) : null;
  if (folder || !/\.samemb$/i.test(out)) await mkdir(out, { recursive: true });
  const predictor = new SamPredictor(model);
  const outputs = new Map<string, string>();
  try {
    const summary = await runImages(
      {
        root,
        files,
        state,
        process: async (task, image) => {
          await predictor.setImage(image);
          const e = predictor.getImageEmbedding();
          predictor.resetImage();
          const path = target(task.file);
          try {
            await saveImageEmbedding(path, e);
          } finally {
            e.embedding.dispose();
          }
          outputs.set(task.file, path);
          return { marker: JSON.stringify({ file: task.file, output: path }), detail: { output: path } };
        },
      },
      options,
    );
    return { ...summary, outputs, folder };
  } finally {
    predictor.dispose();
  }
}
