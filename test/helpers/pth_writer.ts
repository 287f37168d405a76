/**
 * Test-only writers for synthetic PyTorch checkpoints: a tiny pickle writer, a zip writer (stored or
 * deflated entries, optional ZIP64 records, torch-style 64-byte data alignment) and the torch zip
 * and legacy layouts. There is no Python torch here, so these build the files the reader must read.
 */
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { crc32, deflateRawSync } from 'node:zlib';

// ---------------------------------------------------------------- pickle values

export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | Map<PyValue, PyValue>
  | { $tuple: PyValue[] }
  | { $global: [string, string] }
  | { $reduce: PyValue; args: PyValue[] }
  | { $persid: PyValue }
  | { $float: number }
  | { $build: PyValue; state: PyValue }
  | { $odict: [PyValue, PyValue][] };

export const tuple = (...items: PyValue[]): PyValue => ({ $tuple: items });
export const glob = (module: string, name: string): PyValue => ({ $global: [module, name] });
export const reduce = (fn: PyValue, args: PyValue[]): PyValue => ({ $reduce: fn, args });
export const persid = (v: PyValue): PyValue => ({ $persid: v });
export const float = (x: number): PyValue => ({ $float: x });
export const build = (obj: PyValue, state: PyValue): PyValue => ({ $build: obj, state });
/** collections.OrderedDict() followed by SETITEMS of `entries`, as Python pickles it. */
export const orderedDict = (entries: [PyValue, PyValue][] = []): PyValue => ({ $odict: entries });

export interface PickleWriteOptions {
  /** 1..5 (default 2); protocol 1 has no PROTO header and writes bools / longs as text. */
  protocol?: number;
  /** Emit globals as STACK_GLOBAL (protocol >= 4 style) instead of GLOBAL. */
  stackGlobal?: boolean;
}

class Bytes {
  private chunks: number[] = [];
  byte(...b: number[]): void {
    for (const x of b) this.chunks.push(x & 0xff);
  }
  u16(v: number): void {
    this.byte(v, v >> 8);
  }
  u32(v: number): void {
    this.byte(v, v >> 8, v >> 16, v >>> 24);
  }
  bytes(b: Uint8Array): void {
    for (const x of b) this.chunks.push(x);
  }
  text(s: string): void {
    this.bytes(new TextEncoder().encode(s));
  }
  get length(): number {
    return this.chunks.length;
  }
  done(): Uint8Array {
    return Uint8Array.from(this.chunks);
  }
}

function longBytes(v: bigint): Uint8Array {
  const out: number[] = [];
  let x = v;
  // two's complement, little-endian, minimal length
  while (true) {
    const b = Number(x & 0xffn);
    out.push(b);
    x >>= 8n;
    if ((x === 0n && (b & 0x80) === 0) || (x === -1n && (b & 0x80) !== 0)) break;
  }
  return Uint8Array.from(out);
}

/** Serialises a PyValue as a pickle (memoising globals like Python does, to exercise BINGET). */
export function writePickle(value: PyValue, options: PickleWriteOptions = {}): Uint8Array {
  const protocol = options.protocol ?? 2;
  const body = new Bytes();
  const memo = new Map<string, number>();
  const emit = (v: PyValue): void => {
    if (v === null) body.byte(0x4e);
    else if (typeof v === 'boolean') {
      if (protocol >= 2) body.byte(v ? 0x88 : 0x89);
      else body.text(v ? 'I01\n' : 'I00\n');
    }
    else if (typeof v === 'number') {
      if (!Number.isInteger(v)) throw new Error('use float() for non-integers');
      if (v >= 0 && v < 256) body.byte(0x4b, v);
      else if (v >= 0 && v < 65536) {
        body.byte(0x4d);
        body.u16(v);
      } else if (v >= -(2 ** 31) && v < 2 ** 31) {
        body.byte(0x4a);
        body.u32(v >>> 0);
      } else emit(BigInt(v));
    } else if (typeof v === 'bigint') {
      if (protocol < 2) {
        body.text(`L${v}L\n`);
        return;
      }
      const b = longBytes(v);
      body.byte(0x8a, b.length);
      body.bytes(b);
    } else if (typeof v === 'string') {
      const b = new TextEncoder().encode(v);
      if (protocol >= 4 && b.length < 256) body.byte(0x8c, b.length);
      else {
        body.byte(0x58);
        body.u32(b.length);
      }
      body.bytes(b);
    } else if (v instanceof Uint8Array) {
      body.byte(0x42);
      body.u32(v.length);
      body.bytes(v);
    } else if (Array.isArray(v)) {
      body.byte(0x5d);
      if (v.length > 0) {
        body.byte(0x28);
        v.forEach(emit);
        body.byte(0x65);
      }
    } else if (v instanceof Map) {
      body.byte(0x7d);
      if (v.size > 0) {
        body.byte(0x28);
        for (const [k, x] of v) {
          emit(k);
          emit(x);
        }
        body.byte(0x75);
      }
    } else if ('$tuple' in v) {
      const items = v.$tuple;
      if (items.length === 0) body.byte(0x29);
      else if (items.length <= 3 && protocol >= 2) {
        items.forEach(emit);
        body.byte(0x84 + items.length);
      } else {
        body.byte(0x28);
        items.forEach(emit);
        body.byte(0x74);
      }
    } else if ('$global' in v) {
      const [module, name] = v.$global;
      const id = `${module}\n${name}`;
      const m = memo.get(id);
      if (m !== undefined) {
        body.byte(0x6a);
        body.u32(m);
        return;
      }
      if (options.stackGlobal) {
        emit(module);
        emit(name);
        body.byte(0x93);
      } else {
        body.byte(0x63);
        body.text(`${module}\n${name}\n`);
      }
      memo.set(id, memo.size);
      body.byte(0x72);
      body.u32(memo.size - 1);
    } else if ('$reduce' in v) {
      emit(v.$reduce);
      emit(tuple(...v.args));
      body.byte(0x52);
    } else if ('$odict' in v) {
      emit(reduce(glob('collections', 'OrderedDict'), []));
      if (v.$odict.length > 0) {
        body.byte(0x28);
        for (const [k, x] of v.$odict) {
          emit(k);
          emit(x);
        }
        body.byte(0x75);
      }
    } else if ('$persid' in v) {
      emit(v.$persid);
      body.byte(0x51);
    } else if ('$float' in v) {
      body.byte(0x47);
      const b = new Uint8Array(8);
      new DataView(b.buffer).setFloat64(0, v.$float, false);
      body.bytes(b);
    } else if ('$build' in v) {
      emit(v.$build);
      emit(v.state);
      body.byte(0x62);
    }
  };
  emit(value);
  body.byte(0x2e);
  const payload = body.done();
  const out = new Bytes();
  if (protocol >= 2) out.byte(0x80, protocol);
  if (protocol >= 4) {
    out.byte(0x95);
    out.u32(payload.length);
    out.u32(0);
  }
  out.bytes(payload);
  return out.done();
}

// ---------------------------------------------------------------- zip

export interface ZipFile {
  name: string;
  data: Uint8Array;
  /** Instead of `data`: this many zero bytes, left as a hole (sparse) by writeZipFile. */
  hole?: number;
}

/** Zip bytes, with runs of zeros given as their length (holes). */
export type ZipParts = (Uint8Array | number)[];

export interface ZipWriteOptions {
  /** Deflate entries (all, or those the predicate picks). */
  deflate?: boolean | ((name: string) => boolean);
  /** Write ZIP64 extra fields and ZIP64 end records even though the file is small. */
  zip64?: boolean;
  /** Pad local headers so entry data starts at a multiple of this (torch uses 64). */
  align?: number;
}

export function writeZip(files: ZipFile[], options: ZipWriteOptions = {}): Uint8Array {
  const parts = zipParts(files, options);
  const total = parts.reduce<number>((n, p) => n + (typeof p === 'number' ? p : p.length), 0);
  const bytes = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    if (typeof p !== 'number') bytes.set(p, o);
    o += typeof p === 'number' ? p : p.length;
  }
  return bytes;
}

/** Writes a zip to a file, leaving holes unwritten (sparse on most file systems). */
export function writeZipFile(path: string, files: ZipFile[], options: ZipWriteOptions = {}): number {
  const fd = openSync(path, 'w');
  let o = 0;
  try {
    for (const p of zipParts(files, options)) {
      if (typeof p !== 'number') writeSync(fd, p, 0, p.length, o);
      o += typeof p === 'number' ? p : p.length;
    }
    ftruncateSync(fd, o);
  } finally {
    closeSync(fd);
  }
  return o;
}

function zipParts(files: ZipFile[], options: ZipWriteOptions): ZipParts {
  const parts: ZipParts = [];
  let flushed = 0;
  let out = new Bytes();
  const offset = (): number => flushed + out.length;
  const flush = (): void => {
    const b = out.done();
    parts.push(b);
    flushed += b.length;
    out = new Bytes();
  };
  const u64 = (b: Bytes, v: number): void => {
    b.u32(v % 2 ** 32);
    b.u32(Math.floor(v / 2 ** 32));
  };
  const z64 = options.zip64 ?? false;
  const central: { name: Uint8Array; method: number; crc: number; csize: number; usize: number; offset: number }[] = [];
  for (const f of files) {
    const deflate = typeof options.deflate === 'function' ? options.deflate(f.name) : (options.deflate ?? false);
    if (f.hole !== undefined && deflate) throw new Error('holes cannot be deflated');
    const stored = deflate ? new Uint8Array(deflateRawSync(f.data)) : f.data;
    const storedLength = f.hole ?? stored.length;
    const dataLength = f.hole ?? f.data.length;
    const method = deflate ? 8 : 0;
    const crc = f.hole !== undefined ? 0 : crc32(f.data) >>> 0; // the reader does not check CRCs
    const name = new TextEncoder().encode(f.name);
    const localOffset = offset();
    const extra = new Bytes();
    if (z64) {
      extra.u16(0x0001);
      extra.u16(16);
      u64(extra, dataLength);
      u64(extra, storedLength);
    }
    if (options.align) {
      const base = localOffset + 30 + name.length + extra.length + 4;
      const pad = (options.align - (base % options.align)) % options.align;
      extra.u16(0x4246); // 'FB', as torch's writer uses
      extra.u16(pad);
      extra.bytes(new Uint8Array(pad));
    }
    const ex = extra.done();
    out.u32(0x04034b50);
    out.u16(z64 ? 45 : 20);
    out.u16(0);
    out.u16(method);
    out.u16(0);
    out.u16(0x21);
    out.u32(crc);
    out.u32(z64 ? 0xffffffff : storedLength);
    out.u32(z64 ? 0xffffffff : dataLength);
    out.u16(name.length);
    out.u16(ex.length);
    out.bytes(name);
    out.bytes(ex);
    if (f.hole !== undefined) {
      flush();
      parts.push(f.hole);
      flushed += f.hole;
    } else out.bytes(stored);
    central.push({ name, method, crc, csize: storedLength, usize: dataLength, offset: localOffset });
  }
  const cdOffset = offset();
  for (const c of central) {
    const extra = new Bytes();
    if (z64) {
      extra.u16(0x0001);
      extra.u16(24);
      u64(extra, c.usize);
      u64(extra, c.csize);
      u64(extra, c.offset);
    }
    const ex = extra.done();
    out.u32(0x02014b50);
    out.u16(z64 ? 45 : 20);
    out.u16(z64 ? 45 : 20);
    out.u16(0);
    out.u16(c.method);
    out.u16(0);
    out.u16(0x21);
    out.u32(c.crc);
    out.u32(z64 ? 0xffffffff : c.csize);
    out.u32(z64 ? 0xffffffff : c.usize);
    out.u16(c.name.length);
    out.u16(ex.length);
    out.u16(0);
    out.u16(0);
    out.u16(0);
    out.u32(0);
    out.u32(z64 ? 0xffffffff : c.offset);
    out.bytes(c.name);
    out.bytes(ex);
  }
  const cdSize = offset() - cdOffset;
  if (z64) {
    const eocd64 = offset();
    out.u32(0x06064b50);
    u64(out, 44);
    out.u16(45);
    out.u16(45);
    out.u32(0);
    out.u32(0);
    u64(out, central.length);
    u64(out, central.length);
    u64(out, cdSize);
    u64(out, cdOffset);
    out.u32(0x07064b50);
    out.u32(0);
    u64(out, eocd64);
    out.u32(1);
  }
  out.u32(0x06054b50);
  out.u16(0);
  out.u16(0);
  out.u16(z64 ? 0xffff : central.length);
  out.u16(z64 ? 0xffff : central.length);
  out.u32(z64 ? 0xffffffff : cdSize);
  out.u32(z64 ? 0xffffffff : cdOffset);
  out.u16(0);
  flush();
  return parts;
}

// ---------------------------------------------------------------- torch layouts

export type SynthDType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'bfloat16'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint8'
  | 'bool'
  | 'complex64';

const STORAGE_CLASS: Record<SynthDType, [string, number]> = {
  float32: ['FloatStorage', 4],
  float64: ['DoubleStorage', 8],
  float16: ['HalfStorage', 2],
  bfloat16: ['BFloat16Storage', 2],
  int64: ['LongStorage', 8],
  int32: ['IntStorage', 4],
  int16: ['ShortStorage', 2],
  int8: ['CharStorage', 1],
  uint8: ['ByteStorage', 1],
  bool: ['BoolStorage', 1],
  complex64: ['ComplexFloatStorage', 8],
};

export interface SynthStorage {
  key: string;
  dtype: SynthDType;
  /** Raw little-endian bytes (numel = length / itemsize). */
  bytes: Uint8Array;
  /** Instead of `bytes`: this many zero bytes, a hole in files written by torchZipFile. */
  hole?: number;
}

export interface SynthTensor {
  name: string;
  storage: string;
  offset?: number;
  shape: number[];
  /** Default: row-major contiguous. */
  stride?: number[];
  /** Pickle as an nn.Parameter (_rebuild_parameter). */
  parameter?: boolean;
  /** Legacy format only: reference a view (offset, numel in elements) of the storage. */
  legacyView?: { key: string; offset: number; numel: number };
}

export interface SynthCheckpoint {
  storages: SynthStorage[];
  tensors: SynthTensor[];
  /** Wraps the state dict pickle value, e.g. (sd) => new Map([['model', sd]]). */
  wrap?: (stateDict: PyValue) => PyValue;
}

export function contiguousStride(shape: number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

function stateDictValue(ck: SynthCheckpoint, legacy: boolean): PyValue {
  const storages = new Map(ck.storages.map((s) => [s.key, s]));
  const entries: [string, PyValue][] = ck.tensors.map((t) => {
    const s = storages.get(t.storage);
    if (!s) throw new Error(`no storage ${t.storage}`);
    const [cls, itemsize] = STORAGE_CLASS[s.dtype];
    const pid: PyValue[] = ['storage', glob('torch', cls), s.key, 'cpu', (s.hole ?? s.bytes.length) / itemsize];
    if (legacy) pid.push(t.legacyView ? tuple(t.legacyView.key, t.legacyView.offset, t.legacyView.numel) : null);
    let v = reduce(glob('torch._utils', '_rebuild_tensor_v2'), [
      persid(tuple(...pid)),
      t.offset ?? 0,
      tuple(...t.shape),
      tuple(...(t.stride ?? contiguousStride(t.shape))),
      false,
      orderedDict(),
    ]);
    if (t.parameter) v = reduce(glob('torch._utils', '_rebuild_parameter'), [v, true, orderedDict()]);
    return [t.name, v];
  });
  const metadata = new Map<PyValue, PyValue>([['', new Map<PyValue, PyValue>([['version', 1]])]]);
  const sd = build(orderedDict(entries), new Map<PyValue, PyValue>([['_metadata', metadata]]));
  return ck.wrap ? ck.wrap(sd) : sd;
}

export interface TorchZipOptions extends ZipWriteOptions, PickleWriteOptions {
  /** Top-level folder (torch uses the file stem or 'archive'). */
  folder?: string;
  byteorder?: 'little' | 'big';
}

/** The zip layout torch.save writes: <folder>/data.pkl, <folder>/data/<key>, <folder>/version. */
function torchZipFiles(ck: SynthCheckpoint, options: TorchZipOptions): ZipFile[] {
  const folder = options.folder ?? 'archive';
  const files: ZipFile[] = [{ name: `${folder}/data.pkl`, data: writePickle(stateDictValue(ck, false), options) }];
  if (options.byteorder) files.push({ name: `${folder}/byteorder`, data: new TextEncoder().encode(options.byteorder) });
  for (const s of ck.storages) files.push({ name: `${folder}/data/${s.key}`, data: s.bytes, hole: s.hole });
  files.push({ name: `${folder}/version`, data: new TextEncoder().encode('3\n') });
  return files;
}

export function torchZip(ck: SynthCheckpoint, options: TorchZipOptions = {}): Uint8Array {
  return writeZip(torchZipFiles(ck, options), { align: 64, ...options });
}

/** torchZip written to a file, storages with `hole` left sparse (for multi-GB ZIP64 tests). */
export function torchZipFile(path: string, ck: SynthCheckpoint, options: TorchZipOptions = {}): number {
  return writeZipFile(path, torchZipFiles(ck, options), { align: 64, ...options });
}

/** The legacy layout: magic, protocol, sys info, object, storage keys, storages with 8-byte counts. */
export function torchLegacy(ck: SynthCheckpoint, options: PickleWriteOptions & { littleEndian?: boolean } = {}): Uint8Array {
  const parts: Uint8Array[] = [
    writePickle(0x1950a86a20f9469cfc6cn, options),
    writePickle(1001, options),
    writePickle(
      new Map<PyValue, PyValue>([
        ['protocol_version', 1001],
        ['little_endian', options.littleEndian ?? true],
        ['type_sizes', new Map<PyValue, PyValue>([['short', 2], ['int', 4], ['long', 4]])],
      ]),
      options,
    ),
    writePickle(stateDictValue(ck, true), options),
  ];
  const keys = ck.storages.map((s) => s.key).sort();
  parts.push(writePickle(keys, options));
  for (const key of keys) {
    const s = ck.storages.find((x) => x.key === key)!;
    const header = new Uint8Array(8);
    new DataView(header.buffer).setBigUint64(0, BigInt(s.bytes.length / STORAGE_CLASS[s.dtype][1]), true);
    parts.push(header, s.bytes);
  }
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Little-endian bytes of typed array contents. */
export function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}
