/**
 * Checkpoint -> tfjs weights: `model.json` (tfjs weights-manifest format, see
 * src/sam/tfjs_weights.ts for the format) and binary shards, loadable with `loadSam` /
 * `loadConvertedSam` from disk in Node or over HTTP (`tf.io.http`) in the browser.
 *
 *   await convertCheckpoint({ input: 'sam_vit_b_01ec64.pth' });          // -> weights/vit_b/
 *   await convertCheckpoint({ input: 'model.pth', config: 'config.json', name: 'tiny', dtype: 'float16' });
 *
 * Streaming: the checkpoint's index is read and checked against the model first (so a wrong
 * file fails before anything is written); then one tensor at a time is read, rearranged into
 * the tfjs layout by the model's own `fromTorch` transforms, quantized, and appended to the
 * current shard, which is written when full. Peak memory is about one tensor plus one shard
 * beyond the runtime itself (see converter/README.md for the measurement).
 *
 * Atomic: everything is written into a temporary sibling directory that is renamed into
 * place at the end; on any failure (or abort) it is removed, so an output directory either
 * is complete or does not exist. An existing output is replaced only with `overwrite`.
 *
 * The transforms run on the active tfjs backend (they are transposes and tiles: exact on any
 * backend); the CLI uses 'cpu'. Node only (node:fs is imported on first use).
 */
import * as tf from '@tensorflow/tfjs';
import { detectModelType, presetConfig, samConfigFromReferenceJson, validateSamConfig, type ModelType, type SamConfig } from '../src/sam/config.js';
import { SamModel } from '../src/sam/sam_model.js';
import { compareStateDict, StateDictMismatchError } from '../src/sam/state_dict.js';
import { WEIGHTS_FORMAT, type SamWeightsMetadata } from '../src/sam/tfjs_weights.js';
import type { TorchParam } from '../src/layers/sam_layer.js';
import type { CheckpointInput } from './pth.js';
import { encodeWeight, storedBytesPerValue, WEIGHTS_DTYPES, type ManifestQuantization, type WeightsDtype } from './quantize.js';
import { openSamStateDict, type KeyNaming, type WeightsFileFormat } from './sam_state_dict.js';
import { DEFAULT_SHARD_SIZE_BYTES, ShardWriter } from './tfjs_writer.js';
import { toFloat32 } from './torch_types.js';

export interface ConvertProgress {
  /** Tensors written so far, of `total`. */
  done: number;
  total: number;
  /** The tensor just written (official name). */
  key: string;
  bytesWritten: number;
  totalBytes: number;
}

export interface ConvertOptions {
  /** The checkpoint: `.pth` (zip or legacy) or `.safetensors`, official or transformers names; a path, or its bytes. */
  input: CheckpointInput;
  /** The output directory. Default: `<weightsDir>/<name>`. */
  outDir?: string;
  /** Parent of the default output directory. Default: 'weights'. */
  weightsDir?: string;
  /** Folder name under weightsDir. Default: the model type (vit_b, ...) or else the checkpoint's file stem. */
  name?: string;
  /** How values are stored. Default 'float32'. */
  dtype?: WeightsDtype;
  /** Shard file size. Default 4 MiB, as tfjs-converter. */
  shardSizeBytes?: number;
  /**
   * The architecture: a SamConfig, or the path of a JSON file holding one (reference-style
   * snake_case like the fixtures' config.json, a SamConfig, or a converted model.json).
   * Default: the preset `modelType`, or the preset the checkpoint's shapes match.
   */
  config?: SamConfig | string;
  modelType?: ModelType;
  /** Replace an existing output directory (only one that holds converted weights or nothing). */
  overwrite?: boolean;
  /** Where the state dict is in a wrapped .pth (see openCheckpoint). */
  stateDictKey?: string | string[];
  onProgress?: (p: ConvertProgress) => void;
  /** Aborting stops the conversion and removes what it wrote. */
  signal?: AbortSignal;
}

export interface ConvertResult {
  outDir: string;
  modelJsonPath: string;
  modelType: ModelType | null;
  config: SamConfig;
  dtype: WeightsDtype;
  /** Shard file names (relative to outDir). */
  shards: string[];
  weightCount: number;
  /** Bytes of weight data (all shards). */
  totalBytes: number;
  source: { format: WeightsFileFormat; naming: KeyNaming };
}

/** A failure of the conversion itself (options, output directory), as opposed to a bad checkpoint. */
export class ConvertError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConvertError';
  }
}

/** A weights-manifest entry as written (tfjs's type plus `original_dtype`, as tfjs-converter writes it). */
export interface WrittenWeightEntry {
  name: string;
  shape: number[];
  dtype: 'float32';
  quantization?: ManifestQuantization;
}

export interface ParamSpec {
  key: string;
  torchShape: number[];
  shape: number[];
  fromTorch?: TorchParam['fromTorch'];
}

/**
 * The model's weights as specs (key, shapes, layout transform), without keeping a model:
 * the model is built (its zero-initialised variables are never written, so on the cpu
 * backend their pages are not even touched) and disposed right away.
 */
export function samParamSpecs(config: SamConfig): Map<string, ParamSpec> {
  const model = new SamModel(config);
  try {
    const specs = new Map<string, ParamSpec>();
    for (const [key, p] of model.torchParams()) {
      specs.set(key, { key, torchShape: [...p.torchShape], shape: [...(p.variable.shape as number[])], fromTorch: p.fromTorch });
    }
    return specs;
  } finally {
    model.dispose();
  }
}

/** Reads a config file: reference-style (snake_case), a SamConfig, or a converted model.json. */
export async function readSamConfigFile(path: string): Promise<SamConfig> {
  const { readFile } = await import('node:fs/promises');
  let json: any;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new ConvertError(`cannot read the config ${path}: ${(e as Error).message}`);
  }
  let config: SamConfig;
  if (json?.userDefinedMetadata?.samConfig) config = json.userDefinedMetadata.samConfig;
  else if (json?.imageEncoder && json?.promptEncoder && json?.maskDecoder) config = json as SamConfig;
  else if (json?.image_encoder) {
    try {
      config = samConfigFromReferenceJson(json);
    } catch (e) {
      throw new ConvertError(`${path}: ${(e as Error).message}`);
    }
  } else {
    throw new ConvertError(
      `${path}: not a SAM config (expected a reference-style config.json with image_encoder / prompt_encoder / mask_decoder, ` +
        'a SamConfig with imageEncoder / promptEncoder / maskDecoder, or a converted model.json)',
    );
  }
  validateSamConfig(config);
  return config;
}

const sameConfig = (a: SamConfig, b: SamConfig) => JSON.stringify(a) === JSON.stringify(b);

function checkOptions(o: ConvertOptions): { dtype: WeightsDtype; shardSizeBytes: number } {
  const dtype = o.dtype ?? 'float32';
  if (!WEIGHTS_DTYPES.includes(dtype)) throw new ConvertError(`unknown dtype '${dtype}': expected one of ${WEIGHTS_DTYPES.join(', ')}`);
  const shardSizeBytes = o.shardSizeBytes ?? DEFAULT_SHARD_SIZE_BYTES;
  if (!Number.isSafeInteger(shardSizeBytes) || shardSizeBytes < 1) {
    throw new ConvertError(`shardSizeBytes must be a positive whole number of bytes (got ${shardSizeBytes})`);
  }
  if (o.name !== undefined && (!o.name || /[/\\]/.test(o.name) || o.name === '.' || o.name === '..')) {
    throw new ConvertError(`invalid name '${o.name}': a folder name without slashes is expected (use outDir for a path)`);
  }
  return { dtype, shardSizeBytes };
}

/** Whether an existing directory may be replaced: empty, or only model.json and .bin shards. */
async function replaceableWeightsDir(dir: string): Promise<boolean> {
  const { readdir } = await import('node:fs/promises');
  const names = await readdir(dir);
  return names.every((n) => n === 'model.json' || /\.bin$/.test(n));
}

function errnoMessage(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err?.code ? `${err.code}: ${err.message}` : String((e as Error)?.message ?? e);
}

/** Converts a checkpoint into tfjs weights (see the file comment). */
export async function convertCheckpoint(options: ConvertOptions): Promise<ConvertResult> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const { randomBytes } = await import('node:crypto');
  const { dtype, shardSizeBytes } = checkOptions(options);
  const signal = options.signal;
  signal?.throwIfAborted();
  const inputName = typeof options.input === 'string' ? options.input : ((options.input as { name?: string }).name ?? 'checkpoint bytes');

  const sd = await openSamStateDict(options.input, { stateDictKey: options.stateDictKey });
  let tmpDir: string | null = null;
  let createdParent: string | undefined;
  let parentDir: string | undefined;
  try {
    // 1. The architecture, and the weights it needs, checked against the file by name and shape.
    const shapes = new Map(sd.entries.map((e) => [e.key, [...e.shape]]));
    const detected = detectModelType(shapes);
    let config: SamConfig;
    if (options.config !== undefined) config = typeof options.config === 'string' ? await readSamConfigFile(options.config) : options.config;
    else if (options.modelType) config = presetConfig(options.modelType);
    else if (detected) config = presetConfig(detected);
    else {
      throw new ConvertError(
        `${inputName}: the weights do not match vit_b, vit_l or vit_h; give the architecture with config ` +
          '(--config <config.json>) for a custom model',
      );
    }
    validateSamConfig(config);
    await tf.ready();
    const modelType: ModelType | null = options.modelType ?? (detected && sameConfig(config, presetConfig(detected)) ? detected : null);
    const specs = samParamSpecs(config);
    const report = compareStateDict(
      new Map([...specs].map(([k, s]) => [k, { torchShape: s.torchShape } as TorchParam])),
      shapes,
    );
    if (report.missing.length || report.unexpected.length || report.shapeMismatches.length) {
      throw new StateDictMismatchError(report, `converting ${inputName}${sd.naming === 'transformers' ? ' (transformers names, mapped)' : ''}`);
    }

    // 2. Where it goes.
    let outDir = options.outDir;
    if (!outDir) {
      const stem = typeof options.input === 'string' ? path.parse(options.input).name : undefined;
      const name = options.name ?? modelType ?? stem;
      if (!name) throw new ConvertError('no output name: give outDir or name when converting bytes of a custom model');
      outDir = path.join(options.weightsDir ?? 'weights', name);
    }
    outDir = path.resolve(outDir);
    const existing = await fs.stat(outDir).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw new ConvertError(`cannot use the output directory ${outDir}: ${errnoMessage(e)}`);
    });
    if (existing) {
      if (!existing.isDirectory()) throw new ConvertError(`the output ${outDir} exists and is not a directory; not replacing it`);
      if (!options.overwrite) throw new ConvertError(`the output directory ${outDir} already exists; pass overwrite (--overwrite) to replace it`);
      if (!(await replaceableWeightsDir(outDir))) {
        throw new ConvertError(`not replacing ${outDir}: it holds files other than model.json and .bin shards`);
      }
    }
    const parent = path.dirname(outDir);
    parentDir = parent;
    try {
      createdParent = await fs.mkdir(parent, { recursive: true });
      tmpDir = path.join(parent, `.${path.basename(outDir)}.${randomBytes(6).toString('hex')}.tmp`);
      await fs.mkdir(tmpDir);
    } catch (e) {
      tmpDir = null;
      throw new ConvertError(`cannot write the output directory ${outDir}: ${errnoMessage(e)}`);
    }

    // 3. Stream the tensors: read, rearrange, quantize, append.
    const perValue = storedBytesPerValue(dtype);
    const entries = sd.entries.filter((e) => specs.has(e.key));
    const totalBytes = entries.reduce((n, e) => n + specs.get(e.key)!.shape.reduce((a, b) => a * b, 1) * perValue, 0);
    const writer = new ShardWriter(tmpDir, totalBytes, shardSizeBytes);
    const weights: WrittenWeightEntry[] = [];
    for (const entry of entries) {
      signal?.throwIfAborted();
      const spec = specs.get(entry.key)!;
      const values = toFloat32(await entry.load());
      const out = tf.tidy(() => {
        const t = tf.tensor(values, spec.torchShape, 'float32');
        return (spec.fromTorch ? spec.fromTorch(t) : t).reshape(spec.shape);
      });
      try {
        const data = out.dataSync() as Float32Array;
        const enc = encodeWeight(data, dtype, entry.key);
        await writer.append(enc.bytes);
        weights.push({ name: entry.key, shape: spec.shape, dtype: 'float32', ...(enc.quantization ? { quantization: enc.quantization } : {}) });
      } catch (e) {
        if ((e as NodeJS.ErrnoException)?.code) throw new ConvertError(`cannot write the weights into ${outDir}: ${errnoMessage(e)}`);
        throw e;
      } finally {
        out.dispose();
      }
      options.onProgress?.({ done: weights.length, total: entries.length, key: entry.key, bytesWritten: writer.bytesWritten, totalBytes });
    }
    signal?.throwIfAborted();
    const metadata: SamWeightsMetadata = {
      samConfig: config,
      modelType,
      weightsDtype: dtype,
      source: { file: typeof options.input === 'string' ? path.basename(options.input) : null, format: sd.format, naming: sd.naming },
    };
    const modelJson = {
      format: WEIGHTS_FORMAT,
      generatedBy: `segment-anything weights (${sd.format}${sd.naming === 'transformers' ? ', transformers names' : ''})`,
      convertedBy: 'sam-tfjs converter',
      weightsManifest: [{ paths: writer.paths, weights }],
      userDefinedMetadata: metadata,
    };
    try {
      await writer.finish();
      await fs.writeFile(path.join(tmpDir, 'model.json'), `${JSON.stringify(modelJson, null, 1)}\n`, { flag: 'wx' });
    } catch (e) {
      throw new ConvertError(`cannot write the weights into ${outDir}: ${errnoMessage(e)}`);
    }

    // 4. Into place.
    signal?.throwIfAborted();
    if (existing) {
      const old = path.join(parent, `.${path.basename(outDir)}.${randomBytes(6).toString('hex')}.old`);
      await fs.rename(outDir, old);
      try {
        await fs.rename(tmpDir, outDir);
      } catch (e) {
        await fs.rename(old, outDir).catch(() => undefined);
        throw new ConvertError(`cannot move the converted weights into ${outDir}: ${errnoMessage(e)}`);
      }
      tmpDir = null;
      await fs.rm(old, { recursive: true, force: true });
    } else {
      try {
        await fs.rename(tmpDir, outDir);
      } catch (e) {
        throw new ConvertError(`cannot move the converted weights into ${outDir}: ${errnoMessage(e)}`);
      }
      tmpDir = null;
    }
    return {
      outDir,
      modelJsonPath: path.join(outDir, 'model.json'),
      modelType,
      config,
      dtype,
      shards: writer.paths,
      weightCount: weights.length,
      totalBytes,
      source: { format: sd.format, naming: sd.naming },
    };
  } catch (e) {
    if (tmpDir) await fs.rm(tmpDir, { recursive: true, force: true }).catch(() => undefined);
    if (createdParent && parentDir) await removeEmptyDirs(createdParent, parentDir);
    throw e;
  } finally {
    await sd.close();
  }
}

/** Removes the directories mkdir -p created (from `top` down to `leaf`) again when they stayed empty. */
async function removeEmptyDirs(top: string, leaf?: string): Promise<void> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  if (!leaf) return;
  let dir = leaf;
  while (dir.length >= top.length) {
    try {
      await fs.rmdir(dir);
    } catch {
      return;
    }
    if (dir === top) return;
    dir = path.dirname(dir);
  }
}
