/**
 * The legacy checkpoint format (torch.save(..., _use_new_zipfile_serialization=False), the default
 * before torch 1.6): five pickles back to back (magic number, protocol version, sys info, the object,
 * the sorted list of storage keys), then each storage as an 8-byte little-endian element count
 * followed by its raw bytes.
 */
import { type ByteSource, readRange, sourceName } from './byte_source.js';
import type { StorageArchive } from './archive.js';
import { CheckpointError } from './errors.js';
import { PickleTruncatedError, type UnpickleOptions, unpickle } from './pickle.js';
import { type StorageRef, type TorchTypeRef, parseStoragePid, resolveTorchGlobal } from './torch_pickle.js';

const MAGIC = 0x1950a86a20f9469cfc6cn;
const PROTOCOL_VERSION = 1001;

/** Reads consecutive pickles from a source, fetching more bytes only when a pickle needs them. */
class PickleStream {
  private buf: Uint8Array = new Uint8Array(0);
  private bufStart = 0;
  constructor(
    private readonly source: ByteSource,
    public pos: number,
  ) {}

  async next(what: string, options: Omit<UnpickleOptions, 'offset'>): Promise<unknown> {
    let want = 1 << 16;
    while (true) {
      try {
        const r = unpickle(this.buf, { ...options, offset: this.pos - this.bufStart });
        this.pos = this.bufStart + r.end;
        return r.value;
      } catch (e) {
        if (!(e instanceof PickleTruncatedError)) throw e;
        const bufEnd = this.bufStart + this.buf.length;
        const neededEnd = this.bufStart + e.needed;
        if (bufEnd >= this.source.size || neededEnd > this.source.size) {
          throw new CheckpointError(
            `truncated legacy checkpoint (${sourceName(this.source)}): ${what} ends early (it needs byte ` +
              `${neededEnd} but the file has only ${this.source.size} bytes); the file was probably cut ` +
              'short (interrupted download or copy): download or save it again',
          );
        }
        want = Math.max(want * 4, neededEnd - this.pos + (1 << 16));
        const len = Math.min(want, this.source.size - this.pos);
        this.buf = await readRange(this.source, this.pos, len, what);
        this.bufStart = this.pos;
      }
    }
  }
}

const plainData = { resolveGlobal: resolveTorchGlobal };

export async function openLegacyArchive(source: ByteSource): Promise<StorageArchive> {
  const name = sourceName(source);
  const stream = new PickleStream(source, 0);
  const magic = await stream.next('the magic number', plainData);
  if (magic !== MAGIC) {
    throw new CheckpointError(
      `not a PyTorch checkpoint (${name}): the file is a Python pickle but not one written by torch.save (no torch magic ` +
        'number); expected a .pth file written by torch.save',
    );
  }
  const protocol = await stream.next('the protocol version', plainData);
  if (protocol !== PROTOCOL_VERSION) {
    throw new CheckpointError(`unsupported legacy checkpoint (${name}): protocol version ${String(protocol)}, expected ${PROTOCOL_VERSION}`);
  }
  const sysInfo = await stream.next('the system info', plainData);
  const bigEndian = sysInfo instanceof Map && sysInfo.get('little_endian') === false;

  // storage key -> type of the whole stored storage
  const storageTypes = new Map<string, TorchTypeRef>();
  const root = await stream.next('the pickled state dict', {
    resolveGlobal: resolveTorchGlobal,
    persistentLoad(pid): StorageRef {
      const p = parseStoragePid(pid);
      const known = storageTypes.get(p.key);
      if (known && known.itemsize !== p.type.itemsize) {
        throw new CheckpointError(`corrupt checkpoint (${name}): storage '${p.key}' is used with two element sizes`);
      }
      storageTypes.set(p.key, p.type);
      if (p.view) {
        return { kind: 'storage', key: p.key, type: p.type, numel: p.view.numel, byteOffset: p.view.offset * p.type.itemsize, location: p.location };
      }
      return { kind: 'storage', key: p.key, type: p.type, numel: p.numel, byteOffset: 0, location: p.location };
    },
  });
  const keys = await stream.next('the list of storage keys', plainData);
  if (!Array.isArray(keys) || !keys.every((k) => typeof k === 'string' || typeof k === 'number')) {
    throw new CheckpointError(`corrupt legacy checkpoint (${name}): the storage key list is not a list of strings`);
  }

  // Storages follow in key order; scan their 8-byte headers to locate them (data is not read).
  const located = new Map<string, { start: number; byteLength: number }>();
  let off = stream.pos;
  for (let i = 0; i < keys.length; i++) {
    const key = String(keys[i]);
    const type = storageTypes.get(key);
    if (!type) throw new CheckpointError(`corrupt legacy checkpoint (${name}): storage '${key}' is listed but never used`);
    const start = off + 8;
    let numel = 0n;
    if (start <= source.size) {
      const header = await readRange(source, off, 8, `the header of storage ${i + 1} of ${keys.length} ('${key}')`);
      numel = new DataView(header.buffer, header.byteOffset, 8).getBigUint64(0, true);
    }
    const byteLength = Number(numel) * type.itemsize;
    if (start > source.size || numel > BigInt(Number.MAX_SAFE_INTEGER) || start + byteLength > source.size) {
      throw new CheckpointError(
        `truncated legacy checkpoint (${name}): storage ${i + 1} of ${keys.length} ('${key}') needs bytes ` +
          `${off}..${start + byteLength} but the file has only ${source.size} bytes; the file was probably cut ` +
          'short (interrupted download or copy): download or save it again',
      );
    }
    located.set(key, { start, byteLength });
    off = start + byteLength;
  }

  const locate = (ref: StorageRef): { start: number; byteLength: number } => {
    const loc = located.get(ref.key);
    if (!loc) throw new CheckpointError(`corrupt legacy checkpoint (${name}): storage '${ref.key}' is not in the file`);
    return loc;
  };
  return {
    format: 'legacy',
    root,
    bigEndian,
    storageByteLength: (ref) => locate(ref).byteLength,
    readStorage: (ref, start, length) => readRange(source, locate(ref).start + start, length, `storage '${ref.key}'`),
  };
}
