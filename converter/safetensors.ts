/**
 * Reader for `.safetensors` files (the format of Hugging Face `model.safetensors`):
 *
 *   [8 bytes: header length N, unsigned little-endian]
 *   [N bytes: UTF-8 JSON { "<name>": { "dtype": "F32", "shape": [..], "data_offsets": [begin, end] },
 *                          "__metadata__"?: { "<key>": "<string>" } }]
 *   [data: raw little-endian, row-major tensors; offsets are relative to the end of the header]
 *
 * Like `openCheckpoint`, only the header is read when opening; each entry's `load()` reads that
 * tensor's bytes alone. Entries come in data order.
 */
import { type ByteSource, BytesSource, readRange, sourceName } from './byte_source.js';
import { CheckpointError } from './errors.js';
import type { CheckpointEntry, CheckpointInput } from './pth.js';
import { type StateDict, type TorchDType, dtypeItemsize, shapeNumel, typedArrayFor } from './torch_types.js';

/** safetensors dtype names -> our dtypes (the ones a SAM checkpoint can hold). */
export const SAFETENSORS_DTYPES: Readonly<Record<string, TorchDType>> = {
  F64: 'float64',
  F32: 'float32',
  F16: 'float16',
  BF16: 'bfloat16',
  I64: 'int64',
  I32: 'int32',
  I16: 'int16',
  I8: 'int8',
  U8: 'uint8',
  BOOL: 'bool',
};

/** Largest header accepted (the format's own readers use 100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsFile {
  readonly format: 'safetensors';
  /** Tensors in the order of their data in the file. */
  readonly entries: readonly CheckpointEntry[];
  get(key: string): CheckpointEntry | undefined;
  /** The optional `__metadata__` map (string -> string), or null. */
  readonly metadata: Record<string, string> | null;
  close(): Promise<void>;
}

/** Whether the first bytes look like a safetensors file (a plausible header length, then '{'). */
export function isSafetensorsHead(head: Uint8Array, fileSize = Infinity): boolean {
  if (head.length < 9) return false;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const n = view.getBigUint64(0, true);
  if (n < 2n || n > BigInt(Math.min(MAX_HEADER_BYTES, fileSize - 8))) return false;
  return head[8] === 0x7b; // '{'
}

function corrupt(source: ByteSource, detail: string): CheckpointError {
  return new CheckpointError(`corrupt safetensors file (${sourceName(source)}): ${detail}`);
}

async function toSource(input: CheckpointInput): Promise<{ source: ByteSource; owned: boolean }> {
  if (typeof input === 'string') {
    const { FileSource } = await import('./file_source.js');
    return { source: await FileSource.open(input), owned: true };
  }
  if (input instanceof Uint8Array) return { source: new BytesSource(input), owned: false };
  return { source: input, owned: false };
}

interface HeaderEntry {
  key: string;
  dtype: TorchDType;
  shape: number[];
  begin: number;
  end: number;
}

function parseHeader(source: ByteSource, json: unknown, dataSize: number): { entries: HeaderEntry[]; metadata: Record<string, string> | null } {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw corrupt(source, 'the header is not a JSON object');
  let metadata: Record<string, string> | null = null;
  const entries: HeaderEntry[] = [];
  for (const [key, value] of Object.entries(json as Record<string, unknown>)) {
    if (key === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw corrupt(source, '__metadata__ is not an object');
      metadata = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) metadata[k] = String(v);
      continue;
    }
    const v = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof v !== 'object' || v === null) throw corrupt(source, `entry '${key}' is not an object`);
    if (typeof v.dtype !== 'string') throw corrupt(source, `entry '${key}' has no dtype`);
    const dtype = SAFETENSORS_DTYPES[v.dtype];
    if (!dtype) {
      throw new CheckpointError(
        `unsupported dtype in safetensors file (${sourceName(source)}): tensor '${key}' is ${v.dtype}; ` +
          `supported: ${Object.keys(SAFETENSORS_DTYPES).join(', ')}`,
      );
    }
    if (!Array.isArray(v.shape) || !v.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw corrupt(source, `entry '${key}' has an invalid shape ${JSON.stringify(v.shape)}`);
    }
    const offsets = v.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[1] < offsets[0]) {
      throw corrupt(source, `entry '${key}' has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const shape = v.shape as number[];
    const [begin, end] = offsets as [number, number];
    const expected = shapeNumel(shape) * dtypeItemsize(dtype);
    if (end - begin !== expected) {
      throw corrupt(source, `tensor '${key}' (${v.dtype} [${shape}]) needs ${expected} bytes but data_offsets span ${end - begin}`);
    }
    if (end > dataSize) {
      throw new CheckpointError(
        `truncated safetensors file (${sourceName(source)}): tensor '${key}' needs data bytes ${begin}..${end} but the file ` +
          `holds only ${dataSize} bytes of data; the file was probably cut short (interrupted download or copy): download it again`,
      );
    }
    entries.push({ key, dtype, shape, begin, end });
  }
  entries.sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < entries.length; i++) {
    if (entries[i].begin < entries[i - 1].end) throw corrupt(source, `tensors '${entries[i - 1].key}' and '${entries[i].key}' overlap`);
  }
  return { entries, metadata };
}

/** Opens a safetensors file and reads its header (no tensor data). */
export async function openSafetensors(input: CheckpointInput): Promise<SafetensorsFile> {
  const { source, owned } = await toSource(input);
  try {
    if (source.size < 8) throw corrupt(source, `only ${source.size} bytes, too small for a header length`);
    const lenBytes = await readRange(source, 0, 8, 'the safetensors header length');
    const n = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
    if (n > BigInt(MAX_HEADER_BYTES)) throw corrupt(source, `header length ${n} is implausible (not a safetensors file?)`);
    const headerLength = Number(n);
    if (8 + headerLength > source.size) {
      throw new CheckpointError(
        `truncated safetensors file (${sourceName(source)}): the header needs ${headerLength} bytes but the file has only ` +
          `${source.size - 8} after the length; the file was probably cut short: download it again`,
      );
    }
    const headerBytes = await readRange(source, 8, headerLength, 'the safetensors header');
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
    } catch (e) {
      throw corrupt(source, `the header is not valid UTF-8 JSON (${(e as Error).message})`);
    }
    const dataStart = 8 + headerLength;
    const { entries: header, metadata } = parseHeader(source, json, source.size - dataStart);
    const entries: CheckpointEntry[] = header.map((h) => {
      const numel = shapeNumel(h.shape);
      const shape = Object.freeze([...h.shape]);
      return {
        key: h.key,
        dtype: h.dtype,
        shape,
        numel,
        byteLength: h.end - h.begin,
        async load() {
          const length = h.end - h.begin;
          const bytes = length > 0 ? await readRange(source, dataStart + h.begin, length, `tensor '${h.key}'`) : new Uint8Array(0);
          let copy: Uint8Array;
          try {
            copy = bytes.slice(); // own, aligned memory (the source may share or reuse its buffer)
          } catch (e) {
            throw new CheckpointError(`cannot allocate ${length} bytes for tensor '${h.key}': ${(e as Error).message}`);
          }
          return { dtype: h.dtype, shape: [...h.shape], data: typedArrayFor(h.dtype, copy.buffer as ArrayBuffer) };
        },
      };
    });
    const byKey = new Map(entries.map((e) => [e.key, e]));
    return {
      format: 'safetensors',
      entries,
      metadata,
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

/** Loads every tensor of a safetensors file. */
export async function loadSafetensors(input: CheckpointInput): Promise<StateDict> {
  const file = await openSafetensors(input);
  try {
    const out: StateDict = new Map();
    for (const e of file.entries) out.set(e.key, await e.load());
    return out;
  } finally {
    await file.close();
  }
}
