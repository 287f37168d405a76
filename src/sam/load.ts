/**
 * `loadSam`: the one entry point, in the style of `@tensorflow-models/*` `load()`.
 *
 *   const model = await loadSam({ weights: 'weights/vit_b' });       // converted weights
 *   const model = await loadSam({ weights: 'sam_vit_b_01ec64.pth' }); // a PyTorch checkpoint
 *
 * `weights` may be a converted-weights directory or model.json (path or URL), a `.pth`
 * checkpoint (path, URL or bytes), or a `tf.io.IOHandler`. The backend is chosen first
 * (see selectBackend) and recorded in `model.info.backend`.
 */
import type * as tf from '@tensorflow/tfjs';
import { selectBackend, type BackendName } from '../backend.js';
import type { ModelType, SamConfig } from './config.js';
import type { SamModel } from './sam_model.js';
import { loadConvertedSam } from './tfjs_weights.js';

export interface LoadSamOptions {
  weights: string | Uint8Array | tf.io.IOHandler;
  /** vit_b / vit_l / vit_h for a checkpoint; detected from its shapes when omitted. */
  modelType?: ModelType;
  /** The architecture of a custom checkpoint (not needed for converted weights). */
  config?: SamConfig;
  /** tfjs backend (default: the best available, or $SAM_TFJS_BACKEND). */
  backend?: BackendName | string;
  /** Progress of reading a checkpoint, per tensor. */
  onProgress?: (done: number, total: number) => void;
}

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

async function isConvertedPath(path: string): Promise<boolean> {
  if (/model\.json$/i.test(path)) return true;
  if (/^https?:\/\//i.test(path)) return !/\.(pth|pt|ckpt|bin|safetensors)(\?|$)/i.test(path);
  if (!isNode) return true;
  const { stat } = await import('node:fs/promises');
  try {
    return (await stat(path)).isDirectory();
  } catch {
    throw new Error(`weights not found: ${path} (give a converted weights folder, its model.json, or a .pth checkpoint)`);
  }
}

export async function loadSam(options: LoadSamOptions): Promise<SamModel> {
  if (!options || options.weights === undefined || options.weights === null) {
    throw new Error("loadSam: 'weights' is required (a converted weights folder or URL, a .pth checkpoint, or an IOHandler)");
  }
  const backend = await selectBackend(options.backend);
  const { weights } = options;
  let model: SamModel;
  if (typeof weights !== 'string' && !(weights instanceof Uint8Array)) {
    model = await loadConvertedSam(weights);
  } else if (typeof weights === 'string' && (await isConvertedPath(weights))) {
    model = await loadConvertedSam(weights);
  } else {
    const { samFromCheckpoint } = await import('./load_checkpoint.js');
    let input: string | Uint8Array = weights;
    if (typeof weights === 'string' && /^https?:\/\//i.test(weights)) {
      const res = await fetch(weights);
      if (!res.ok) throw new Error(`cannot fetch ${weights}: HTTP ${res.status}`);
      input = new Uint8Array(await res.arrayBuffer());
    }
    model = await samFromCheckpoint(input, { config: options.config, modelType: options.modelType, onProgress: options.onProgress });
    model.info.source = typeof weights === 'string' ? weights : '<bytes>';
  }
  model.info.backend = backend;
  return model;
}
