/** Test helpers for the checkpoint reader: a ByteSource that records reads, and error assertions. */
import * as assert from 'uvu/assert';
import type { ByteSource } from '../../converter/byte_source.js';
import { CheckpointError } from '../../converter/errors.js';

/** Wraps a source and records every read (offset, length). */
export class CountingSource implements ByteSource {
  readonly reads: { offset: number; length: number }[] = [];
  constructor(private readonly inner: ByteSource) {}
  get size(): number {
    return this.inner.size;
  }
  get name(): string | undefined {
    return this.inner.name;
  }
  read(offset: number, length: number): Promise<Uint8Array> | Uint8Array {
    this.reads.push({ offset, length });
    return this.inner.read(offset, length);
  }
  close(): Promise<void> | void {
    return this.inner.close?.();
  }
  get bytesRead(): number {
    return this.reads.reduce((n, r) => n + r.length, 0);
  }
  reset(): void {
    this.reads.length = 0;
  }
}

/**
 * Asserts that `run` rejects with a CheckpointError (never a RangeError / TypeError from deep
 * inside) whose message matches every pattern. Returns the message.
 */
export async function rejectsWith(run: () => Promise<unknown>, ...patterns: RegExp[]): Promise<string> {
  let error: unknown;
  try {
    await run();
  } catch (e) {
    error = e;
  }
  if (error === undefined) throw new Error(`expected an error matching ${patterns.join(', ')}, but none was thrown`);
  if (!(error instanceof CheckpointError)) {
    throw new Error(
      `expected a CheckpointError, got ${(error as Error)?.name}: ${(error as Error)?.message}\n${(error as Error)?.stack}`,
    );
  }
  for (const p of patterns) {
    assert.match(error.message, p, `message ${JSON.stringify(error.message)} does not match ${p}`);
  }
  return error.message;
}
