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
