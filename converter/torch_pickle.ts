/**
 * What a torch.save pickle may reference, and the data-only stand-ins it unpickles to.
 *
 * Allowed globals: collections.OrderedDict, torch.Size, torch._utils._rebuild_tensor /
 * _rebuild_tensor_v2 / _rebuild_tensor_v3 / _rebuild_parameter / _rebuild_parameter_with_state, the
 * storage classes (torch.FloatStorage, ..., torch.UntypedStorage, also under torch.cuda) and dtype
 * objects (torch.float32, ...).
 * Everything else is refused when the pickle names it.
 */
import { CheckpointError, UnsafePickleError } from './errors.js';
import { type PickleCallable, describe } from './pickle.js';
import { type TorchDType, dtypeItemsize, shapeNumel } from './torch_types.js';

/** A storage class or dtype object (torch.FloatStorage, torch.float32, ...). */
export interface TorchTypeRef {
  readonly kind: 'torch_type';
  readonly qualname: string;
  /** null for a dtype this reader does not support (complex, quantized, float8, uint16...). */
  readonly dtype: TorchDType | null;
  /** torch's name of the dtype (e.g. 'complex64'). */
  readonly dtypeName: string;
  readonly itemsize: number;
}

/** A storage (or, in the legacy format, a byte range of one) named by a persistent id. */
export interface StorageRef {
  readonly kind: 'storage';
  /** Storage key: `<folder>/data/<key>` in a zip, a header-listed key in the legacy format. */
  readonly key: string;
  readonly type: TorchTypeRef;
  /** Size in elements of `type`. */
  readonly numel: number;
  /** Byte offset within the stored storage (non-zero only for legacy storage views). */
  readonly byteOffset: number;
  readonly location: string;
}

/** A tensor as the pickle describes it: a strided view of a storage. Nothing is read yet. */
export interface TensorRef {
  readonly kind: 'tensor';
  readonly storage: StorageRef;
  readonly type: TorchTypeRef;
  /** In elements. */
  readonly storageOffset: number;
  readonly shape: number[];
  readonly stride: number[];
}

export function isTensorRef(v: unknown): v is TensorRef {
  return typeof v === 'object' && v !== null && (v as TensorRef).kind === 'tensor' && 'storage' in v;
}

export function isStorageRef(v: unknown): v is StorageRef {
  return typeof v === 'object' && v !== null && (v as StorageRef).kind === 'storage';
}

function isTorchTypeRef(v: unknown): v is TorchTypeRef {
  return typeof v === 'object' && v !== null && (v as TorchTypeRef).kind === 'torch_type';
}

// dtype name -> [reader dtype or null, itemsize]
const DTYPES: Record<string, [TorchDType | null, number]> = {
  float32: ['float32', 4],
  float64: ['float64', 8],
  float16: ['float16', 2],
  bfloat16: ['bfloat16', 2],
  int64: ['int64', 8],
  int32: ['int32', 4],
  int16: ['int16', 2],
  int8: ['int8', 1],
  uint8: ['uint8', 1],
  bool: ['bool', 1],
  complex32: [null, 4],
  complex64: [null, 8],
  complex128: [null, 16],
  uint16: [null, 2],
  uint32: [null, 4],
  uint64: [null, 8],
  qint8: [null, 1],
  quint8: [null, 1],
  qint32: [null, 4],
  quint4x2: [null, 1],
  quint2x4: [null, 1],
  float8_e4m3fn: [null, 1],
  float8_e5m2: [null, 1],
  float8_e4m3fnuz: [null, 1],
  float8_e5m2fnuz: [null, 1],
};

const DTYPE_ALIASES: Record<string, string> = {
  float: 'float32',
  double: 'float64',
  half: 'float16',
  long: 'int64',
  int: 'int32',
  short: 'int16',
  cfloat: 'complex64',
  cdouble: 'complex128',
  chalf: 'complex32',
};

const STORAGE_CLASSES: Record<string, string> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
  UntypedStorage: 'uint8',
  ComplexHalfStorage: 'complex32',
  ComplexFloatStorage: 'complex64',
  ComplexDoubleStorage: 'complex128',
  QInt8Storage: 'qint8',
  QUInt8Storage: 'quint8',
  QInt32Storage: 'qint32',
  QUInt4x2Storage: 'quint4x2',
  QUInt2x4Storage: 'quint2x4',
};

function typeRef(qualname: string, dtypeName: string): TorchTypeRef {
  const [dtype, itemsize] = DTYPES[dtypeName];
  return Object.freeze({ kind: 'torch_type', qualname, dtype, dtypeName, itemsize });
}

function callable(qualname: string, call: (args: unknown[]) => unknown): PickleCallable {
  return { pickleCallable: true, qualname, call };
}

const SUPPORTED = Object.keys(DTYPES)
  .filter((k) => DTYPES[k][0] !== null)
  .join(', ');

/** Throws unless the tensor's dtype is one this reader supports. */
export function checkSupportedDtype(t: TensorRef, key: string): TorchDType {
  if (t.type.dtype === null) {
    throw new CheckpointError(
      `tensor '${key}' has dtype ${t.type.dtypeName} (${t.type.qualname}), which this reader does not ` +
        `support (supported: ${SUPPORTED}); convert it in PyTorch first, e.g. tensor.float()`,
    );
  }
  return t.type.dtype;
}

function nonNegInt(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new CheckpointError(`corrupt checkpoint: ${what} is ${describe(v)} ${String(v)}, expected a non-negative integer`);
  }
  return v;
}

function intList(v: unknown, what: string): number[] {
  if (!Array.isArray(v)) throw new CheckpointError(`corrupt checkpoint: tensor ${what} is ${describe(v)}, expected a tuple`);
  return v.map((x, i) => nonNegInt(x, `tensor ${what}[${i}]`));
}

function rebuildTensor(storage: unknown, offset: unknown, size: unknown, stride: unknown, dtype?: unknown): TensorRef {
  if (!isStorageRef(storage)) {
    throw new CheckpointError(`corrupt checkpoint: a tensor is rebuilt from ${describe(storage)} instead of a storage`);
  }
  const shape = intList(size, 'size');
  const strides = intList(stride, 'stride');
  if (shape.length !== strides.length) {
    throw new CheckpointError(`corrupt checkpoint: tensor size ${shape.length}-d but stride ${strides.length}-d`);
  }
  let type = storage.type;
  if (dtype !== undefined) {
    if (!isTorchTypeRef(dtype)) throw new CheckpointError(`corrupt checkpoint: tensor dtype is ${describe(dtype)}`);
    type = dtype;
  }
  return {
    kind: 'tensor',
    storage,
    type,
    storageOffset: nonNegInt(offset, 'tensor storage offset'),
    shape,
    stride: strides,
  };
}

function asTensor(v: unknown, fn: string): TensorRef {
  if (!isTensorRef(v)) throw new CheckpointError(`corrupt checkpoint: ${fn} applied to ${describe(v)}`);
  return v;
}

function orderedDict(args: unknown[]): Map<unknown, unknown> {
  const m = new Map<unknown, unknown>();
  const init = args[0];
  if (init instanceof Map) for (const [k, v] of init) m.set(k, v);
  else if (Array.isArray(init)) {
    for (const pair of init) {
      if (!Array.isArray(pair) || pair.length !== 2) throw new CheckpointError('corrupt checkpoint: bad OrderedDict item');
      m.set(pair[0], pair[1]);
    }
  }
  return m;
}

const CALLABLES: Record<string, PickleCallable> = {
  'collections.OrderedDict': callable('collections.OrderedDict', orderedDict),
  // torch.Size((2, 3)) -> [2, 3] (plain data, e.g. a saved tensor.shape)
  'torch.Size': callable('torch.Size', (a) => (Array.isArray(a[0]) ? [...a[0]] : [])),
  'torch._utils._rebuild_tensor': callable('torch._utils._rebuild_tensor', (a) => rebuildTensor(a[0], a[1], a[2], a[3])),
  // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  'torch._utils._rebuild_tensor_v2': callable('torch._utils._rebuild_tensor_v2', (a) =>
    rebuildTensor(a[0], a[1], a[2], a[3]),
  ),
  // (storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype[, metadata])
  'torch._utils._rebuild_tensor_v3': callable('torch._utils._rebuild_tensor_v3', (a) =>
    rebuildTensor(a[0], a[1], a[2], a[3], a[6]),
  ),
  // (data, requires_grad, backward_hooks[, state]): a Parameter is just its tensor here
  'torch._utils._rebuild_parameter': callable('torch._utils._rebuild_parameter', (a) =>
    asTensor(a[0], '_rebuild_parameter'),
  ),
  'torch._utils._rebuild_parameter_with_state': callable('torch._utils._rebuild_parameter_with_state', (a) =>
    asTensor(a[0], '_rebuild_parameter_with_state'),
  ),
};

function refusalHint(module: string, name: string): string {
  if (module === 'torch._utils' && name.startsWith('_rebuild_')) {
    return ' It rebuilds a special tensor (sparse, quantized, nested, meta...), which this reader does not support: convert it to a dense tensor in PyTorch first.';
  }
  if (module.startsWith('__torch__')) {
    return ' This looks like a TorchScript archive (torch.jit.save); save model.state_dict() with torch.save instead.';
  }
  if (module.startsWith('torch.nn') || module.startsWith('segment_anything')) {
    return ' The file pickles a whole Python object (torch.save(model)); save model.state_dict() instead.';
  }
  if (module.startsWith('numpy')) {
    return ' NumPy objects are not supported; store tensors (torch.from_numpy) instead.';
  }
  return ' If you trust the file, re-save just the tensors in PyTorch: torch.save(model.state_dict(), path).';
}

/**
 * The stand-in for an allowed global; throws UnsafePickleError naming any other global. Nothing is
 * looked up dynamically: the allow-list is a fixed table.
 */
export function resolveTorchGlobal(module: string, name: string): unknown {
  const qualname = `${module}.${name}`;
  const fn = Object.prototype.hasOwnProperty.call(CALLABLES, qualname) ? CALLABLES[qualname] : undefined;
  if (fn) return fn;
  if (module === 'torch' || module === 'torch.cuda' || module === 'torch.storage') {
    const storageDtype = Object.prototype.hasOwnProperty.call(STORAGE_CLASSES, name) ? STORAGE_CLASSES[name] : undefined;
    if (storageDtype && (module !== 'torch.storage' || name === 'UntypedStorage')) return typeRef(qualname, storageDtype);
    if (module === 'torch') {
      const dt = Object.prototype.hasOwnProperty.call(DTYPE_ALIASES, name) ? DTYPE_ALIASES[name] : name;
      if (Object.prototype.hasOwnProperty.call(DTYPES, dt)) return typeRef(qualname, dt);
    }
  }
  throw new UnsafePickleError(
    `refusing to load global '${qualname}': checkpoints may only contain tensors and plain data ` +
      `(dicts, lists, numbers, strings), and this file references other Python code, which torch.load ` +
      `(weights_only=False) would run. Nothing was executed.${refusalHint(module, name)}`,
  );
}

/**
 * Interprets a zip-format persistent id ('storage', storage_type, key, location, numel), or a
 * legacy one ('storage', storage_type, root_key, location, numel, view_metadata); returns the parts.
 */
export function parseStoragePid(pid: unknown): {
  type: TorchTypeRef;
  key: string;
  location: string;
  numel: number;
  view: { key: string; offset: number; numel: number } | null;
} {
  if (!Array.isArray(pid) || pid.length < 5 || pid[0] !== 'storage') {
    const what = Array.isArray(pid) && typeof pid[0] === 'string' ? `'${pid[0]}'` : describe(pid);
    throw new UnsafePickleError(
      `refusing persistent id ${what}: a checkpoint may only reference tensor storages ('storage', ...)` +
        (Array.isArray(pid) && pid[0] === 'module' ? '; this file pickles a whole module: save model.state_dict() instead' : ''),
    );
  }
  const [, type, key, location, numel, view] = pid as unknown[];
  if (!isTorchTypeRef(type)) throw new CheckpointError(`corrupt checkpoint: storage type is ${describe(type)}`);
  if (typeof key !== 'string' && typeof key !== 'number') throw new CheckpointError('corrupt checkpoint: storage key is not a string');
  let v: { key: string; offset: number; numel: number } | null = null;
  if (view !== undefined && view !== null) {
    if (!Array.isArray(view) || view.length !== 3) throw new CheckpointError('corrupt checkpoint: bad storage view metadata');
    v = { key: String(view[0]), offset: nonNegInt(view[1], 'storage view offset'), numel: nonNegInt(view[2], 'storage view size') };
  }
  return {
    type,
    key: String(key),
    location: typeof location === 'string' ? location : String(location),
    numel: nonNegInt(numel, 'storage size'),
    view: v,
  };
}

/** Byte length of a storage of `numel` elements of `type`. */
export function storageBytes(type: TorchTypeRef, numel: number): number {
  return numel * type.itemsize;
}

/**
 * Checks that the tensor's strided view lies within its storage; returns the byte range of the
 * storage it touches, relative to the storage's start (empty for a tensor with no elements).
 */
export function tensorByteRange(t: TensorRef, key: string): { start: number; end: number } {
  const dtype = checkSupportedDtype(t, key);
  const itemsize = dtypeItemsize(dtype);
  if (shapeNumel(t.shape) === 0) return { start: 0, end: 0 };
  let last = t.storageOffset;
  for (let i = 0; i < t.shape.length; i++) last += (t.shape[i] - 1) * t.stride[i];
  const start = t.storage.byteOffset + t.storageOffset * itemsize;
  const end = t.storage.byteOffset + (last + 1) * itemsize;
  const storageEnd = t.storage.byteOffset + storageBytes(t.storage.type, t.storage.numel);
  if (!Number.isSafeInteger(end) || end > storageEnd) {
    throw new CheckpointError(
      `corrupt checkpoint: tensor '${key}' (shape [${t.shape}], stride [${t.stride}], offset ${t.storageOffset}) ` +
        `reaches byte ${end} of its storage '${t.storage.key}', which has only ${storageEnd} bytes`,
    );
  }
  return { start, end };
}
