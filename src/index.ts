/**
 * sam-tfjs: Segment Anything (SAM) in TypeScript on TensorFlow.js.
 *
 *   import { loadSam, SamPredictor } from 'sam-tfjs';
 *   const model = await loadSam({ weights: 'weights/vit_b' });
 *   const predictor = new SamPredictor(model);
 *   await predictor.setImage('photo.jpg');
 *   const { masks, scores } = await predictor.predict({ pointCoords: [[500, 375]], pointLabels: [1] });
 */
export { loadSam, type LoadSamOptions } from './sam/load.js';
export { SamModel, type DecodeInputs, type DecodeOutputs, type SamModelInfo } from './sam/sam_model.js';
export {
  SamPredictor,
  type BatchPredictOptions,
  type BinaryMask,
  type Prediction,
  type PredictionTensors,
  type PredictOptions,
} from './sam/predictor.js';
export {
  SamAutomaticMaskGenerator,
  DEFAULT_AMG_OPTIONS,
  type AmgOutputMode,
  type AmgProgress,
  type AutomaticMaskGeneratorOptions,
  type GenerateOptions,
  type MaskRecord,
  type MaskSegmentation,
} from './sam/automatic_mask_generator.js';
export { SAM_PRESETS, detectModelType, presetConfig, samConfigFromReferenceJson, validateSamConfig, type ModelType, type SamConfig } from './sam/config.js';
export { samFromCheckpoint, loadCheckpointInto, type CheckpointLoadOptions } from './sam/load_checkpoint.js';
export { loadConvertedSam, samFromArtifacts, WEIGHTS_FORMAT, type SamWeightsMetadata } from './sam/tfjs_weights.js';
export { StateDictMismatchError, type StateDictReport } from './sam/state_dict.js';
export { postprocessMasks } from './sam/postprocess.js';
export { decodeImageEmbedding, encodeImageEmbedding, loadImageEmbedding, saveImageEmbedding, type ImageEmbedding } from './sam/embedding.js';
export { toRgbImage, type ImageInput } from './sam/image_input.js';
export * from './sam/mask_output/index.js';
export * as amg from './sam/amg/index.js';
export * as preprocessing from './sam/preprocess/index.js';
export * as layers from './layers/index.js';
export { selectBackend, defaultBackendOrder, type BackendChoice, type BackendName } from './backend.js';
export {
  prepareWasmKernels,
  setWasmFmaMode,
  setWasmKernelsEnabled,
  wasmKernelsActive,
  wasmMatMulFused,
  type WasmFmaMode,
} from './backends/wasm_kernels.js';
export { setWebGpuKernelsEnabled, webgpuKernelsActive } from './backends/webgpu_kernels.js';
export { setWebGlKernelsEnabled, webglKernelsActive } from './backends/webgl_kernels.js';
export { parseNpy, encodeNpy, type NpyArray } from './io/npy.js';

// Dataset generation is Node-only (files, worker threads): import it from 'sam-tfjs/dataset'.
export type {
  BuildDatasetOptions,
  BuildDatasetResult,
  CocoAnnotation,
  CocoDataset,
  CocoImage,
  RunEvent,
  RunSummary,
  Shard,
} from './dataset/index.js';
