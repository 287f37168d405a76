/**
 * Pure-TypeScript reader for PyTorch checkpoints (`.pth`, zip and legacy formats), with a safe
 * unpickler that only accepts tensors and plain data. Node-only pieces (file access, inflate) are
 * loaded on demand, so in-memory use works without Node.
 */
export { type ByteSource, BytesSource, readRange } from './byte_source.js';
export { CheckpointError, UnsafePickleError } from './errors.js';
export {
  type Checkpoint,
  type CheckpointEntry,
  type CheckpointFormat,
  type CheckpointInput,
  type OpenCheckpointOptions,
  STATE_DICT_WRAPPER_KEYS,
  detectCheckpointFormat,
  loadStateDict,
  openCheckpoint,
  unwrapStateDict,
} from './pth.js';
export { type PickleCallable, type UnpickleOptions, type UnpickleResult, pickleAttributes, unpickle } from './pickle.js';
export { type StorageRef, type TensorRef, type TorchTypeRef, isTensorRef, resolveTorchGlobal } from './torch_pickle.js';
export {
  type StateDict,
  type TorchDType,
  type TorchTensor,
  type TorchTensorData,
  TORCH_DTYPES,
  dtypeItemsize,
  float16BitsToNumber,
  shapeNumel,
  toFloat32,
} from './torch_types.js';
export { type ZipDirectory, type ZipEntry, readZipDirectory, readZipEntry } from './zip.js';

// Conversion to tfjs weights, safetensors / transformers checkpoints, downloads. The Node-only
// parts (file output, downloads) load node:fs on first use, so importing this stays browser-safe.
export {
  type ManifestQuantization,
  type WeightsDtype,
  QuantizationError,
  WEIGHTS_DTYPES,
  encodeWeight,
  float32BitsToFloat16Bits,
  numberToFloat16Bits,
  quantizeFloat16,
  quantizeUint8,
  roundHalfEven,
  storedBytesPerValue,
} from './quantize.js';
export { type SafetensorsFile, SAFETENSORS_DTYPES, isSafetensorsHead, loadSafetensors, openSafetensors } from './safetensors.js';
export { type KeyMapping, mapTransformersKeys, samKeyFromTransformers, usesTransformersNames } from './hf_keys.js';
export { type KeyNaming, type SamStateDict, type WeightsFileFormat, detectWeightsFormat, loadSamStateDict, openSamStateDict } from './sam_state_dict.js';
export { DEFAULT_SHARD_SIZE_BYTES, ShardWriter, shardFileNames } from './tfjs_writer.js';
export {
  type ConvertOptions,
  type ConvertProgress,
  type ConvertResult,
  type ParamSpec,
  type WrittenWeightEntry,
  ConvertError,
  convertCheckpoint,
  readSamConfigFile,
  samParamSpecs,
} from './convert.js';
export { type CheckpointInfo, CHECKPOINT_URL_ENV, DEFAULT_CHECKPOINT_BASE_URL, OFFICIAL_CHECKPOINTS, checkpointUrl } from './checkpoints.js';
export {
  type DownloadErrorKind,
  type DownloadOptions,
  type DownloadResult,
  type FetchFileOptions,
  type FetchFileResult,
  DownloadError,
  downloadCheckpoint,
  fetchFile,
} from './download.js';
export { type ProgressMode, type ProgressSink, createProgress, formatBytes, silentProgress } from './progress.js';
