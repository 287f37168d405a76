/**
 * Minimal random-access zip reader: central directory (ZIP64 included), stored and deflated
 * entries. Only the bytes asked for are read from the source.
 */
import { type ByteSource, readRange, sourceName } from './byte_source.js';
import { CheckpointError } from './errors.js';

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflated. */
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
}

export interface ZipDirectory {
  entries: ZipEntry[];
  /** Where the central directory starts: entry data must end before it. */
  centralDirectoryOffset: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function u64(view: DataView, at: number, what: string): number {
  const v = view.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new CheckpointError(`corrupt zip: ${what} is too large`);
  return Number(v);
}

function truncated(source: ByteSource, detail: string): CheckpointError {
  return new CheckpointError(
    `truncated or corrupt zip checkpoint (${sourceName(source)}): ${detail}. The file was probably cut short ` +
      `(interrupted download or copy): download or save it again`,
  );
}

/** Reads the central directory. */
export async function readZipDirectory(source: ByteSource): Promise<ZipDirectory> {
  if (source.size < EOCD_SIZE) throw truncated(source, `only ${source.size} bytes, too small for a zip archive`);
  const tailLen = Math.min(source.size, EOCD_SIZE + MAX_COMMENT + 20);
  const tailStart = source.size - tailLen;
  const tail = await readRange(source, tailStart, tailLen, 'the end of the zip archive');
  const tv = dv(tail);
  let eocd = -1;
  for (let i = tail.length - EOCD_SIZE; i >= 0; i--) {
    if (tv.getUint32(i, true) === SIG_EOCD && i + EOCD_SIZE + tv.getUint16(i + 20, true) <= tail.length) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw truncated(source, 'the end-of-central-directory record is missing');

  let count = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  let cdLimit = tailStart + eocd; // the central directory ends before this

  if (eocd >= 20 && tv.getUint32(eocd - 20, true) === SIG_ZIP64_LOCATOR) {
    const z64Offset = u64(tv, eocd - 20 + 8, 'zip64 end-of-central-directory offset');
    const z = await readRange(source, z64Offset, 56, 'the zip64 end-of-central-directory record');
    const zv = dv(z);
    if (zv.getUint32(0, true) !== SIG_ZIP64_EOCD) throw truncated(source, 'the zip64 end-of-central-directory record is damaged');
    count = u64(zv, 32, 'entry count');
    cdSize = u64(zv, 40, 'central directory size');
    cdOffset = u64(zv, 48, 'central directory offset');
    cdLimit = z64Offset;
  } else if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    throw truncated(source, 'the zip64 end-of-central-directory locator is missing');
  }
  if (cdOffset + cdSize > cdLimit) throw truncated(source, 'the central directory lies beyond the end of the archive');

  const cd = await readRange(source, cdOffset, cdSize, 'the zip central directory');
  const cv = dv(cd);
  const entries: ZipEntry[] = [];
  const utf8 = new TextDecoder('utf-8');
  let p = 0;
  for (let n = 0; n < count; n++) {
    if (p + 46 > cd.length || cv.getUint32(p, true) !== SIG_CENTRAL) {
      throw truncated(source, `central directory entry ${n} of ${count} is damaged`);
    }
    const flags = cv.getUint16(p + 8, true);
    const method = cv.getUint16(p + 10, true);
    const crc32 = cv.getUint32(p + 16, true);
    let compressedSize = cv.getUint32(p + 20, true);
    let uncompressedSize = cv.getUint32(p + 24, true);
    const nameLen = cv.getUint16(p + 28, true);
    const extraLen = cv.getUint16(p + 30, true);
    const commentLen = cv.getUint16(p + 32, true);
    let localHeaderOffset = cv.getUint32(p + 42, true);
    const end = p + 46 + nameLen + extraLen + commentLen;
    if (end > cd.length) throw truncated(source, `central directory entry ${n} of ${count} is damaged`);
    const name = utf8.decode(cd.subarray(p + 46, p + 46 + nameLen));
    // zip64 extended information: the 64-bit values of the fields saturated above, in this order
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = cv.getUint16(e, true);
      const size = cv.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        const take = (): number => {
          if (q + 8 > e + 4 + size) throw truncated(source, `zip64 field of entry '${name}' is damaged`);
          const v = u64(cv, q, `zip64 field of entry '${name}'`);
          q += 8;
          return v;
        };
        if (uncompressedSize === 0xffffffff) uncompressedSize = take();
        if (compressedSize === 0xffffffff) compressedSize = take();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = take();
      }
      e += 4 + size;
    }
    entries.push({ name, method, flags, crc32, compressedSize, uncompressedSize, localHeaderOffset });
    p = end;
  }
  return { entries, centralDirectoryOffset: cdOffset };
}

/** Offset of an entry's data, read from its local header (torch pads these for alignment). */
export async function zipEntryDataOffset(source: ByteSource, dir: ZipDirectory, entry: ZipEntry): Promise<number> {
  const h = await readRange(source, entry.localHeaderOffset, 30, `the zip header of '${entry.name}'`);
  const hv = dv(h);
  if (hv.getUint32(0, true) !== SIG_LOCAL) throw truncated(source, `the local header of '${entry.name}' is damaged`);
  const start = entry.localHeaderOffset + 30 + hv.getUint16(26, true) + hv.getUint16(28, true);
  if (start + entry.compressedSize > dir.centralDirectoryOffset) {
    throw truncated(source, `the data of '${entry.name}' overlaps the central directory`);
  }
  return start;
}

/**
 * `length` bytes of an entry's uncompressed content from `offset` (default: all of it). Stored
 * entries read just that range; deflated ones are read and inflated whole, then sliced.
 */
export async function readZipEntry(
  source: ByteSource,
  dir: ZipDirectory,
  entry: ZipEntry,
  offset = 0,
  length: number = entry.uncompressedSize - offset,
): Promise<Uint8Array> {
  if (offset < 0 || length < 0 || offset + length > entry.uncompressedSize) {
    throw new CheckpointError(
      `corrupt checkpoint: wanted bytes ${offset}..${offset + length} of '${entry.name}', which has ${entry.uncompressedSize}`,
    );
  }
  if (entry.flags & 1) throw new CheckpointError(`cannot read '${entry.name}': encrypted zip entries are not supported`);
  const start = await zipEntryDataOffset(source, dir, entry);
  if (entry.method === 0) {
    if (entry.compressedSize !== entry.uncompressedSize) throw truncated(source, `sizes of stored entry '${entry.name}' differ`);
    return readRange(source, start + offset, length, `zip entry '${entry.name}'`);
  }
  if (entry.method === 8) {
    const raw = await readRange(source, start, entry.compressedSize, `zip entry '${entry.name}'`);
    const { inflateRawSync } = await import('node:zlib');
    let data: Uint8Array;
    try {
      data = inflateRawSync(raw);
    } catch (e) {
      throw truncated(source, `cannot inflate '${entry.name}' (${(e as Error).message})`);
    }
    if (data.length !== entry.uncompressedSize) {
      throw truncated(source, `'${entry.name}' inflates to ${data.length} bytes, expected ${entry.uncompressedSize}`);
    }
    return data.subarray(offset, offset + length);
  }
  throw new CheckpointError(
    `cannot read '${entry.name}': zip compression method ${entry.method} is not supported (only stored and deflate); ` +
      're-save the checkpoint with torch.save, which stores entries uncompressed',
  );
}
