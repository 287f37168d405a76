/**
 * Writing tfjs weight shards the way tfjs-converter does (python/tensorflowjs/write_weights.py):
 * the bytes of all weights of a group are concatenated in manifest order and cut into files of
 * `shardSizeBytes` (the last one shorter), named `group<g>-shard<i>of<n>.bin`; a weight may
 * straddle two shards. `tf.io.decodeWeights` reads them back from the concatenation.
 *
 * The writer streams: it holds at most one shard in memory and writes each one as it fills.
 * The number of shards is fixed up front from the total byte count, since it is in the names.
 * Node only (node:fs is imported on first use).
 */

/** tfjs-converter's default: 4 MiB, a size every major browser caches. */
export const DEFAULT_SHARD_SIZE_BYTES = 4 * 1024 * 1024;

export function shardFileNames(totalBytes: number, shardSizeBytes: number, group = 1): string[] {
  if (!Number.isSafeInteger(shardSizeBytes) || shardSizeBytes <= 0) throw new Error(`shard size must be a positive integer number of bytes (got ${shardSizeBytes})`);
  const n = Math.max(1, Math.ceil(totalBytes / shardSizeBytes));
  return Array.from({ length: n }, (_, i) => `group${group}-shard${i + 1}of${n}.bin`);
}

export class ShardWriter {
  /** File names of the shards, in order. */
  readonly paths: string[];
  private buffer: Uint8Array;
  private filled = 0;
  private shard = 0;
  private written = 0;

  constructor(
    private readonly dir: string,
    readonly totalBytes: number,
    readonly shardSizeBytes: number = DEFAULT_SHARD_SIZE_BYTES,
    group = 1,
  ) {
    this.paths = shardFileNames(totalBytes, shardSizeBytes, group);
    this.buffer = new Uint8Array(Math.min(shardSizeBytes, Math.max(totalBytes, 0)));
  }

  /** Bytes handed over so far. */
  get bytesWritten(): number {
    return this.written;
  }

  /** Appends bytes (copied: the caller may reuse its array), writing shards as they fill. */
  async append(bytes: Uint8Array): Promise<void> {
    if (this.written + bytes.length > this.totalBytes) {
      throw new Error(`shard writer: ${this.written + bytes.length} bytes exceed the announced total of ${this.totalBytes}`);
    }
    let at = 0;
    while (at < bytes.length) {
      const n = Math.min(bytes.length - at, this.buffer.length - this.filled);
      this.buffer.set(bytes.subarray(at, at + n), this.filled);
      this.filled += n;
      at += n;
      this.written += n;
      if (this.filled === this.buffer.length) await this.flush();
    }
  }

  /** Writes the last shard; checks that exactly the announced bytes came. */
  async finish(): Promise<void> {
    if (this.written !== this.totalBytes) throw new Error(`shard writer: got ${this.written} bytes, expected ${this.totalBytes}`);
    if (this.filled > 0 || this.shard < this.paths.length) await this.flush();
  }

  private async flush(): Promise<void> {
    const { writeFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    if (this.shard >= this.paths.length) throw new Error('shard writer: more shards than announced');
    await writeFile(join(this.dir, this.paths[this.shard]), this.buffer.subarray(0, this.filled), { flag: 'wx' });
    this.shard++;
    this.filled = 0;
  }
}
