/**
 * Reading PyTorch checkpoints (`.pth` files written by torch.save), zip or legacy format.
 *
 *   const ckpt = await openCheckpoint('sam_vit_h.pth');   // reads the index only
 *   for (const e of ckpt.entries) { const t = await e.load(); ... }   // one tensor at a time
 *   await ckpt.close();
 *
 *   const sd = await loadStateDict('model.pth');           // everything at once
 */
import { type ByteSource, BytesSource, readRange, sourceName } from './byte_source.js';
import type { StorageArchive } from './archive.js';
import { CheckpointError } from './errors.js';
import { describe } from './pickle.js';
import { openLegacyArchive } from './pth_legacy.js';
import { openZipArchive } from './pth_zip.js';
import { materialize } from './tensor_view.js';
import { type TensorRef, checkSupportedDtype, isTensorRef, tensorByteRange } from './torch_pickle.js';
import { type StateDict, type TorchDType, type TorchTensor, dtypeItemsize, shapeNumel } from './torch_types.js';

/** A file path (Node), the file's bytes, or any random-access source. */
export type CheckpointInput = string | Uint8Array | ByteSource;

export interface CheckpointEntry {
  readonly key: string;
  readonly dtype: TorchDType;
  readonly shape: readonly number[];
  readonly numel: number;
  /** Size of the loaded (contiguous) data in bytes. */
  readonly byteLength: number;
  /** Reads this tensor's bytes (only those) and returns it contiguous. */
  load(): Promise<TorchTensor>;
}

export interface Checkpoint {
  readonly format: 'zip' | 'legacy';
  /** The state dict's tensors in file order. No tensor data has been read. */
  readonly entries: readonly CheckpointEntry[];
  get(key: string): CheckpointEntry | undefined;
  /** The whole unpickled object (tensors appear as TensorRef), e.g. to read other fields. */
  readonly root: unknown;
  /** Closes the file if openCheckpoint opened it from a path (a passed-in ByteSource is left open). */
  close(): Promise<void>;
}

export interface OpenCheckpointOptions {
  /**
   * Where the state dict is inside the checkpoint when it is wrapped, e.g. 'model' for
   * `{"model": state_dict, "epoch": 3}`, or a path ['ema', 'model']. Default: found automatically,
   * see {@link unwrapStateDict}.
   */
  stateDictKey?: string | readonly string[];
}

export type CheckpointFormat = 'zip' | 'legacy';

/** Format from the first bytes: 'zip', 'legacy' (a pickle), or null for anything else. */
export function detectCheckpointFormat(head: Uint8Array): CheckpointFormat | null {
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b) {
    if ((head[2] === 3 && head[3] === 4) || (head[2] === 5 && head[3] === 6)) return 'zip';
  }
  if (head.length >= 2 && head[0] === 0x80 && head[1] >= 2 && head[1] <= 5) return 'legacy';
  // torch.save(..., pickle_protocol=1): the magic number as a text LONG opcode
  if (startsWith(head, 'L119547037146038801333356L\n')) return 'legacy';
  return null;
}

function startsWith(head: Uint8Array, text: string, at = 0): boolean {
  if (head.length < at + text.length) return false;
  for (let i = 0; i < text.length; i++) if (head[at + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** What a non-checkpoint file looks like, for the error message. */
function identify(head: Uint8Array): string {
  const ascii = new TextDecoder('latin1').decode(head).trimStart();
  if (startsWith(head, '\x89PNG')) return 'is a PNG image';
  if (startsWith(head, '\xff\xd8\xff')) return 'is a JPEG image';
  if (startsWith(head, 'GIF8')) return 'is a GIF image';
  if (startsWith(head, '\x93NUMPY')) return 'is a NumPy .npy array';
  if (startsWith(head, '\x89HDF')) return 'is an HDF5 file (Keras .h5?)';
  if (startsWith(head, '\x1f\x8b')) return 'is gzip-compressed (decompress it first)';
  if (startsWith(head, 'ustar', 257)) {
    return 'is a tar archive (the pre-2017 torch.save format is not supported: load and re-save it with a recent PyTorch)';
  }
  if (head.length >= 9 && head[8] === 0x7b && head[9] === 0x22 && head[4] === 0 && head[5] === 0) {
    return 'looks like a .safetensors file (use a safetensors reader)';
  }
  if (startsWith(head, 'PK')) return 'is a zip archive with an unexpected first entry';
  if (ascii.startsWith('version https://git-lfs')) {
    return 'is a Git LFS pointer, not the file itself (run `git lfs pull`)';
  }
  if (/^<(!doctype|html|\?xml)/i.test(ascii)) return 'is an HTML/XML page (a failed download?)';
  if (head.length > 0 && head.every((b) => b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127) || b >= 128)) {
    return `is a text file (starts with ${JSON.stringify(ascii.slice(0, 40))})`;
  }
  const hex = [...head.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  return `starts with bytes ${hex}`;
}

function notACheckpoint(source: ByteSource, what: string): CheckpointError {
  return new CheckpointError(
    `not a PyTorch checkpoint (${sourceName(source)}): the file ${what}; expected a .pth file written by torch.save ` +
      '(a zip archive starting with "PK\\x03\\x04", or a legacy pickle starting with byte 0x80)',
  );
}

/** Whether a value is a tensor (an unread TensorRef or a loaded TorchTensor). */
function isTensorLike(v: unknown): boolean {
  if (isTensorRef(v)) return true;
  const t = v as TorchTensor;
  return typeof v === 'object' && v !== null && typeof t.dtype === 'string' && Array.isArray(t.shape) && ArrayBuffer.isView(t.data);
}

function isStateDictLike(v: unknown): v is Map<string, unknown> {
  if (!(v instanceof Map)) return false;
  for (const [k, x] of v) if (typeof k !== 'string' || !isTensorLike(x)) return false;
  return true;
}

/** Keys tried, in order, when a checkpoint wraps its state dict in a dict. */
export const STATE_DICT_WRAPPER_KEYS: readonly string[] = [
  'state_dict',
  'model_state_dict',
  'model',
  'module',
  'net',
  'network',
  'weights',
  'params',
];

function findStateDict(v: unknown, depth: number): Map<string, unknown> | null {
  if (isStateDictLike(v)) return v;
  if (!(v instanceof Map) || depth >= 3) return null;
  for (const k of STATE_DICT_WRAPPER_KEYS) {
    if (v.has(k)) {
      const found = findStateDict(v.get(k), depth + 1);
      if (found) return found;
    }
  }
  const candidates = [...v.values()].map((x) => findStateDict(x, depth + 1)).filter((x) => x !== null && x.size > 0);
  return candidates.length === 1 ? candidates[0] : null;
}

function listKeys(m: Map<unknown, unknown>): string {
  const keys = [...m.keys()].slice(0, 12).map((k) => (typeof k === 'string' ? `'${k}'` : String(k)));
  return `[${keys.join(', ')}${m.size > 12 ? ', ...' : ''}]`;
}

/**
 * The state dict (a dict of name -> tensor) inside an unpickled checkpoint. The checkpoint may be the
 * state dict itself or wrap it, e.g. `{"model": sd, "optimizer": ..., "epoch": 3}`: with
 * `stateDictKey` that path is followed; otherwise the first of {@link STATE_DICT_WRAPPER_KEYS}
 * holding a dict of tensors is used (searching up to 3 levels deep), or else the only value that
 * is one. Tensors may be TensorRef (from openCheckpoint's `root`) or loaded TorchTensor.
 * Throws an Error listing the available keys when no state dict is found.
 */
export function unwrapStateDict<V = TensorRef>(root: unknown, options: OpenCheckpointOptions = {}): Map<string, V> {
  const { stateDictKey } = options;
  if (stateDictKey !== undefined) {
    const path = typeof stateDictKey === 'string' ? [stateDictKey] : stateDictKey;
    let cur = root;
    for (let i = 0; i < path.length; i++) {
      if (!(cur instanceof Map) || !cur.has(path[i])) {
        const where = i === 0 ? 'the checkpoint' : `'${path.slice(0, i).join('.')}'`;
        throw new CheckpointError(
          `stateDictKey: ${where} has no key '${path[i]}'` + (cur instanceof Map ? `; its keys are ${listKeys(cur)}` : ` (it is ${describe(cur)})`),
        );
      }
      cur = cur.get(path[i]);
    }
    if (!(cur instanceof Map)) throw new CheckpointError(`stateDictKey: '${path.join('.')}' is ${describe(cur)}, not a dict of tensors`);
    for (const [k, x] of cur) {
      if (typeof k !== 'string' || !isTensorLike(x)) {
        throw new CheckpointError(`stateDictKey: '${path.join('.')}' is not a dict of tensors (its entry '${String(k)}' is ${describe(x)})`);
      }
    }
    return cur as Map<string, V>;
  }
  const found = findStateDict(root, 0);
  if (found) return found as Map<string, V>;
  throw new CheckpointError(
    root instanceof Map
      ? `cannot find the state dict: the checkpoint is a dict with keys ${listKeys(root)} and none of them is a ` +
          "dict of tensors; pass { stateDictKey: '<key>' } to say where it is"
      : `cannot find the state dict: the checkpoint holds ${describe(root)}, not a dict of tensors`,
  );
}

function makeEntry(archive: StorageArchive, key: string, ref: TensorRef): CheckpointEntry {
  const dtype = checkSupportedDtype(ref, key);
  const range = tensorByteRange(ref, key);
  const available = range.end > range.start ? archive.storageByteLength(ref.storage) : 0;
  if (range.end > available && range.end > range.start) {
    throw new CheckpointError(
      `corrupt checkpoint: tensor '${key}' needs bytes ${range.start}..${range.end} of storage '${ref.storage.key}', ` +
        `but the file holds only ${available} bytes for it`,
    );
  }
  const numel = shapeNumel(ref.shape);
  const shape = Object.freeze([...ref.shape]);
  return {
    key,
    dtype,
    shape,
    numel,
    byteLength: numel * dtypeItemsize(dtype),
    async load(): Promise<TorchTensor> {
      const bytes = range.end > range.start ? await archive.readStorage(ref.storage, range.start, range.end - range.start) : new Uint8Array(0);
      try {
        return materialize({ dtype, shape: ref.shape, stride: ref.stride }, bytes, archive.bigEndian);
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        throw new CheckpointError(
          `cannot allocate ${numel * dtypeItemsize(dtype)} bytes for tensor '${key}' (shape [${ref.shape}]): ${e.message}`,
        );
      }
    },
  };
}

async function toSource(input: CheckpointInput): Promise<{ source: ByteSource; owned: boolean }> {
  if (typeof input === 'string') {
    const { FileSource } = await import('./file_source.js');
    return { source: await FileSource.open(input), owned: true };
  }
  if (input instanceof Uint8Array) return { source: new BytesSource(input), owned: false };
  return { source: input, owned: false };
}

async function openArchive(source: ByteSource): Promise<StorageArchive> {
  if (source.size === 0) throw notACheckpoint(source, 'is empty (0 bytes)');
  const head = await readRange(source, 0, Math.min(source.size, 512), 'the file header');
  const format = detectCheckpointFormat(head);
  if (format === 'zip') return openZipArchive(source);
  if (format === 'legacy') return openLegacyArchive(source);
  throw notACheckpoint(source, identify(head));
}

/**
 * Opens a checkpoint and reads its index (the pickle) without reading tensor data. Its entries are
 * the state dict's tensors in file order; each entry's load() reads only that tensor's bytes.
 */
export async function openCheckpoint(input: CheckpointInput, options: OpenCheckpointOptions = {}): Promise<Checkpoint> {
  const { source, owned } = await toSource(input);
  try {
    const archive = await openArchive(source);
    const sd = unwrapStateDict(archive.root, options);
    const entries: CheckpointEntry[] = [];
    const byKey = new Map<string, CheckpointEntry>();
    for (const [key, ref] of sd) {
      if (!isTensorRef(ref)) throw new CheckpointError(`corrupt checkpoint: '${key}' is not a tensor`);
      const entry = makeEntry(archive, key, ref);
      entries.push(entry);
      byKey.set(key, entry);
    }
    return {
      format: archive.format,
      entries,
      root: archive.root,
      get: (key) => byKey.get(key),
      close: async () => {
        if (owned) await source.close?.();
      },
    };
  } catch (e) {
    if (owned) await source.close?.();
    throw e;
  }
}

/** Loads every tensor of a checkpoint's state dict (see openCheckpoint for the options). */
export async function loadStateDict(input: CheckpointInput, options: OpenCheckpointOptions = {}): Promise<StateDict> {
  const ckpt = await openCheckpoint(input, options);
  try {
    const out: StateDict = new Map();
    for (const e of ckpt.entries) out.set(e.key, await e.load());
    return out;
  } finally {
    await ckpt.close();
  }
}
