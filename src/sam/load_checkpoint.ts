/**
 * Building a SamModel from a PyTorch checkpoint (`.pth`, zip or legacy format) or a
 * `.safetensors` file (official key names or Hugging Face transformers' `SamModel` names).
 *
 * The checkpoint's index is read first and compared with the model by key and shape, so a
 * mismatch is reported before any tensor is read; then tensors are read and assigned one
 * at a time, so peak memory stays near the size of the model itself.
 */
import { openSamStateDict, toFloat32, type CheckpointInput } from '../../converter/index.js';
import { detectModelType, presetConfig, type ModelType, type SamConfig } from './config.js';
import { SamModel } from './sam_model.js';
import { assignTorchParam, compareStateDict, StateDictMismatchError } from './state_dict.js';

export interface CheckpointLoadOptions {
  /** Architecture of a custom (non-preset) model. */
  config?: SamConfig;
  /** One of the presets; detected from the checkpoint's shapes when neither this nor config is given. */
  modelType?: ModelType;
  /** Progress per tensor assigned. */
  onProgress?: (done: number, total: number) => void;
}

/** Loads a checkpoint's weights into an existing model. */
export async function loadCheckpointInto(model: SamModel, input: CheckpointInput, onProgress?: (done: number, total: number) => void): Promise<void> {
  const ckpt = await openSamStateDict(input);
  try {
    const params = model.torchParams();
    const shapes = new Map(ckpt.entries.map((e) => [e.key, [...e.shape]]));
    const report = compareStateDict(params, shapes);
    if (report.missing.length || report.unexpected.length || report.shapeMismatches.length) {
      throw new StateDictMismatchError(report, `loading ${typeof input === 'string' ? input : 'checkpoint'}`);
    }
    let done = 0;
    for (const [key, param] of params) {
      const tensor = await (ckpt.get(key) as NonNullable<ReturnType<typeof ckpt.get>>).load();
      assignTorchParam(param, { shape: [...tensor.shape], values: toFloat32(tensor) });
      onProgress?.(++done, params.size);
    }
  } finally {
    await ckpt.close();
  }
}

/** The config a checkpoint needs: the given one, the named preset, or the preset its shapes match. */
export function resolveCheckpointConfig(shapes: Map<string, number[]>, options: CheckpointLoadOptions, source = 'checkpoint'): SamConfig {
  if (options.config) return options.config;
  if (options.modelType) return presetConfig(options.modelType);
  const detected = detectModelType(shapes);
  if (!detected) {
    throw new Error(
      `${source}: the weights do not match vit_b, vit_l or vit_h; pass the architecture as 'config' (a SamConfig) for a custom model`,
    );
  }
  return presetConfig(detected);
}

/** Builds the model a checkpoint describes and loads its weights. */
export async function samFromCheckpoint(input: CheckpointInput, options: CheckpointLoadOptions = {}): Promise<SamModel> {
  let config = options.config;
  if (!config) {
    const ckpt = await openSamStateDict(input);
    try {
      config = resolveCheckpointConfig(new Map(ckpt.entries.map((e) => [e.key, [...e.shape]])), options, typeof input === 'string' ? input : 'checkpoint');
    } finally {
      await ckpt.close();
    }
  }
  const model = new SamModel(config);
  try {
    await loadCheckpointInto(model, input, options.onProgress);
  } catch (e) {
    model.dispose();
    throw e;
  }
  return model;
}
