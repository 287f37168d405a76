/** A ByteSource over a file on disk (Node only): reads just the requested ranges. */
import { open, type FileHandle } from 'node:fs/promises';
import type { ByteSource } from './byte_source.js';
import { CheckpointError } from './errors.js';

export class FileSource implements ByteSource {
  private closed = false;
  private constructor(
    private readonly handle: FileHandle,
    readonly size: number,
    readonly name: string,
  ) {}

  static async open(path: string): Promise<FileSource> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (e) {
      throw new CheckpointError(`cannot open checkpoint ${path}: ${(e as Error).message}`);
    }
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new CheckpointError(`cannot read checkpoint ${path}: not a regular file`);
      return new FileSource(handle, stat.size, path);
    } catch (e) {
      await handle.close();
      throw e;
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (this.closed) throw new CheckpointError(`checkpoint ${this.name} is closed`);
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(out, done, length - done, offset + done);
      if (bytesRead === 0) break; // end of file: the caller reports the short read
      done += bytesRead;
    }
    return done === length ? out : out.subarray(0, done);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.handle.close();
  }
}
