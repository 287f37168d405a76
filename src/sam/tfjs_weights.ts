/**
 * Converted weights: a `model.json` in tfjs's weights-manifest format plus binary shards,
 * loadable with tfjs's own machinery (`tf.io.http`, any `tf.io.IOHandler`, or from disk in
 * Node). Format (written by the converter):
 *
 *   {
 *     "format": "sam-tfjs-weights", "generatedBy": ..., "convertedBy": ...,
 *     "weightsManifest": [{ "paths": ["group1-shard1of3.bin", ...],
 *                           "weights": [{ "name": "<PyTorch state-dict key>", "shape": [...],
 *                                         "dtype": "float32", "quantization"?: {...} }] }],
 *     "userDefinedMetadata": { "samConfig": SamConfig, "modelType": "vit_b" | ... | null }
 *   }
 *
 * Weight names are the PyTorch keys; values are stored already rearranged into the layout
 * of the tfjs variables (e.g. Linear weights as [in, out]), so loading is a plain write.
 * float16 and uint8 (affine, per tensor) quantization are tfjs's own and dequantised by
 * `tf.io.decodeWeights`.
 */
import * as tf from '@tensorflow/tfjs';
import { validateSamConfig, type ModelType, type SamConfig } from './config.js';
import { SamModel } from './sam_model.js';

export const WEIGHTS_FORMAT = 'sam-tfjs-weights';

export interface SamWeightsMetadata {
  samConfig: SamConfig;
  modelType: ModelType | null;
  [key: string]: unknown;
}

/** Turns loaded artifacts into a model; checks names and shapes and names every mismatch. */
export function samFromArtifacts(artifacts: tf.io.ModelArtifacts, source: string): SamModel {
  const meta = artifacts.userDefinedMetadata as SamWeightsMetadata | undefined;
  if (!meta?.samConfig) {
    throw new Error(`${source}: not sam-tfjs weights (model.json has no userDefinedMetadata.samConfig); convert a checkpoint with \`sam-tfjs convert\``);
  }
  if (!artifacts.weightSpecs || !artifacts.weightData) throw new Error(`${source}: model.json lists no weights`);
  validateSamConfig(meta.samConfig);
  const specs = artifacts.weightSpecs;
  const model = new SamModel(meta.samConfig);
  try {
    const params = model.torchParams();
    const byName = new Map(specs.map((spec) => [spec.name, spec]));
    const missing = [...params.keys()].filter((k) => !byName.has(k));
    const unexpected = specs.map((spec) => spec.name).filter((k) => !params.has(k));
    const mismatched = [...params]
      .filter(([k, p]) => byName.has(k) && byName.get(k)!.shape.join() !== p.variable.shape.join())
      .map(([k, p]) => `${k}: file [${byName.get(k)!.shape}] vs model [${p.variable.shape}]`);
    if (missing.length || unexpected.length || mismatched.length) {
      const list = (t: string, a: string[]) => (a.length ? `\n  ${t} (${a.length}): ${a.slice(0, 10).join(', ')}${a.length > 10 ? ', ...' : ''}` : '');
      throw new Error(`${source}: the weights do not match their config${list('missing', missing)}${list('unexpected', unexpected)}${list('shape mismatches', mismatched)}`);
    }
    // Decode one weight at a time straight into its variable, so only the shards and the
    // model are in memory at once (decoding everything first would hold a third copy).
    const data = new tf.io.CompositeArrayBuffer(artifacts.weightData);
    let offset = 0;
    for (const spec of specs) {
      const size = weightByteSize(spec);
      if (offset + size > data.byteLength) throw new Error(`${source}: the weight shards are shorter than model.json says (at ${spec.name})`);
      const named = tf.io.decodeWeights(data.slice(offset, offset + size), [spec]);
      params.get(spec.name)!.variable.write(named[spec.name]);
      tf.dispose(named);
      offset += size;
    }
    model.info.modelType = meta.modelType ?? null;
    model.info.source = source;
    return model;
  } catch (e) {
    model.dispose();
    throw e;
  }
}

const BYTES_PER: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, int16: 2, uint16: 2, float16: 2, complex64: 8 };

/** Bytes a weight occupies in the shards (its quantized dtype when quantized). */
function weightByteSize(spec: tf.io.WeightsManifestEntry): number {
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  const bytes = BYTES_PER[dtype];
  if (!bytes) throw new Error(`weight ${spec.name}: unsupported stored dtype '${dtype}'`);
  return spec.shape.reduce((a, b) => a * b, 1) * bytes;
}

/** Reads model.json and its shards from a directory (or the model.json path) on disk. Node only. */
export async function readArtifactsFromDisk(path: string): Promise<tf.io.ModelArtifacts> {
  const { readFile, stat } = await import('node:fs/promises');
  const { dirname, join } = await import('node:path');
  const jsonPath = (await stat(path)).isDirectory() ? join(path, 'model.json') : path;
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(await readFile(jsonPath, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read converted weights ${jsonPath}: ${(e as Error).message}`);
  }
  if (!Array.isArray(json.weightsManifest)) throw new Error(`${jsonPath}: no weightsManifest (not a tfjs model.json)`);
  const dir = dirname(jsonPath);
  const buffers: ArrayBuffer[] = [];
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  for (const group of json.weightsManifest) {
    for (const p of group.paths) {
      let bytes: Uint8Array;
      try {
        bytes = await readFile(join(dir, p));
      } catch (e) {
        throw new Error(`${jsonPath}: cannot read weight shard ${p}: ${(e as Error).message}`);
      }
      buffers.push(Uint8Array.prototype.slice.call(bytes).buffer as ArrayBuffer);
    }
    weightSpecs.push(...group.weights);
  }
  return { weightSpecs, weightData: buffers, userDefinedMetadata: json.userDefinedMetadata, format: json.format };
}

/** Loads converted weights from a directory / model.json path (Node), a URL, or an IOHandler. */
export async function loadConvertedSam(source: string | tf.io.IOHandler): Promise<SamModel> {
  if (typeof source !== 'string') {
    const load = source.load?.bind(source);
    if (!load) throw new Error('the IOHandler given as weights cannot load (it has no load())');
    return samFromArtifacts(await load(), 'IOHandler');
  }
  if (/^https?:\/\//i.test(source) || typeof process === 'undefined' || !process.versions?.node) {
    const url = /\.json($|\?)/.test(source) ? source : `${source.replace(/\/$/, '')}/model.json`;
    const handler = tf.io.http(url);
    return samFromArtifacts(await (handler.load as NonNullable<typeof handler.load>).call(handler), url);
  }
  return samFromArtifacts(await readArtifactsFromDisk(source), source);
}
