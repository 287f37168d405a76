/**
 * Random-access byte sources: the reader only ever asks for the byte ranges it needs, so a
 * multi-gigabyte checkpoint never has to be in memory at once.
 */
import { CheckpointError } from './errors.js';

export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /** Name used in error messages (a file path, or a description). */
  readonly name?: string;
  /**
   * Exactly `length` bytes starting at `offset` (the caller keeps within `size`). The result may be
   * a view of memory the source shares: callers copy what they keep.
   */
  read(offset: number, length: number): Promise<Uint8Array> | Uint8Array;
  /** Releases the underlying resource (file handle), if any. */
  close?(): Promise<void> | void;
}

/** A source over bytes already in memory (a Uint8Array or Node Buffer). */
export class BytesSource implements ByteSource {
  readonly size: number;
  constructor(
    private readonly bytes: Uint8Array,
    readonly name: string = 'in-memory bytes',
  ) {
    this.size = bytes.byteLength;
  }
  read(offset: number, length: number): Uint8Array {
    return this.bytes.subarray(offset, offset + length);
  }
}

/** Display name of a source for error messages. */
export function sourceName(source: ByteSource): string {
  return source.name ?? 'unnamed source';
}

/**
 * Reads `length` bytes at `offset` after checking the range lies inside the source; `what` names
 * the thing being read for the error message when it does not (the usual sign of a cut-off file).
 */
export async function readRange(
  source: ByteSource,
  offset: number,
  length: number,
  what: string,
): Promise<Uint8Array> {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new CheckpointError(`corrupt checkpoint (${sourceName(source)}): invalid byte range for ${what}`);
  }
  if (offset + length > source.size) {
    throw new CheckpointError(
      `truncated checkpoint (${sourceName(source)}): ${what} needs bytes ${offset}..${offset + length} ` +
        `but the file has only ${source.size} bytes; the file was probably cut short (interrupted ` +
        `download or copy): download or save it again`,
    );
  }
  const bytes = await source.read(offset, length);
  if (bytes.byteLength !== length) {
    throw new CheckpointError(
      `could not read ${what} from ${sourceName(source)}: got ${bytes.byteLength} of ${length} bytes ` +
        `(was the file modified while it was being read?)`,
    );
  }
  return bytes;
}
