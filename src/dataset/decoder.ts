/**
 * Reading and decoding image files, in worker threads when possible, so that with a
 * prefetch queue the next images are decoded while the model works on the current one
 * (jimp decodes in JavaScript: on the main thread it would wait for the model and
 * vice versa). Falls back to decoding on the main thread where workers cannot start (e.g.
 * when running the TypeScript sources under tsx). Node only.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { decodeImage } from '../sam/preprocess/decode_image.js';
import type { RgbImage } from '../sam/preprocess/image.js';

export interface ImageDecoderOptions {
  /** Worker threads (default 1; 0 decodes on the main thread). */
  workers?: number;
}

interface Pending {
  resolve: (img: RgbImage) => void;
  reject: (e: Error) => void;
}

interface Reply {
  id: number;
  width?: number;
  height?: number;
  data?: Uint8Array;
  error?: string;
}

function workerScript(): string | null {
  try {
    const path = fileURLToPath(new URL('./decode_worker.js', import.meta.url));
    return existsSync(path) ? path : null;
  } catch {
    return null;
  }
}

export class ImageDecoder {
  private readonly pool: Worker[] = [];
  private readonly busy: number[] = [];
  private readonly pending = new Map<number, { worker: number } & Pending>();
  private nextId = 0;
  private closed = false;

  constructor(options: ImageDecoderOptions = {}) {
    const wanted = options.workers ?? 1;
    if (!Number.isInteger(wanted) || wanted < 0) throw new Error(`ImageDecoder: workers must be an integer >= 0, got ${wanted}`);
    const script = wanted > 0 ? workerScript() : null;
    if (!script) return;
    for (let w = 0; w < wanted; w++) {
      let worker: Worker;
      try {
        worker = new Worker(script);
      } catch {
        break;
      }
      worker.unref(); // kept alive only while it has work (see decode / onReply)
      const slot = this.pool.length;
      worker.on('message', (m: Reply) => this.onReply(slot, m));
      worker.on('error', (e) => this.onWorkerDied(slot, e));
      worker.on('exit', () => this.onWorkerDied(slot, new Error('the decoder thread exited')));
      this.pool.push(worker);
      this.busy.push(0);
    }
  }

  /** Number of worker threads decoding (0: the main thread decodes). */
  get workers(): number {
    return this.pool.filter((w) => w !== undefined).length;
  }

  /** Decodes an image file into RGB (errors as `decodeImage` words them). */
  decode(path: string): Promise<RgbImage> {
    if (this.closed) return Promise.reject(new Error('ImageDecoder: closed'));
    let slot = -1;
    for (let w = 0; w < this.pool.length; w++) {
      if (this.pool[w] && (slot < 0 || this.busy[w] < this.busy[slot])) slot = w;
    }
    if (slot < 0) return decodeImage(path);
    const id = this.nextId++;
    if (this.busy[slot]++ === 0) this.pool[slot].ref(); // a pending decode keeps the process alive
    const viaWorker = new Promise<RgbImage>((resolve, reject) => {
      this.pending.set(id, { worker: slot, resolve, reject });
      this.pool[slot].postMessage({ id, path });
    });
    // What a dying worker dropped is decoded here instead.
    return viaWorker.catch((e: unknown) => {
      if ((e as { retryOnMainThread?: boolean }).retryOnMainThread && !this.closed) return decodeImage(path);
      throw e;
    });
  }

  /** Stops the worker threads (pending decodes are rejected). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const workers = this.pool.splice(0);
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new Error('ImageDecoder: closed'));
    }
    await Promise.all(workers.map((w) => w?.terminate()));
  }

  private onReply(slot: number, m: Reply): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (--this.busy[slot] === 0) this.pool[slot]?.unref();
    if (m.error !== undefined || !m.data) p.reject(new Error(m.error ?? 'the decoder thread returned nothing'));
    else p.resolve({ data: new Uint8Array(m.data.buffer, m.data.byteOffset, m.data.byteLength), width: m.width!, height: m.height!, channels: 3 });
  }

  private onWorkerDied(slot: number, e: Error): void {
    if (this.closed || !this.pool[slot]) return;
    // Drop the worker; its pending work is redone on the main thread.
    delete this.pool[slot];
    for (const [id, p] of this.pending) {
      if (p.worker !== slot) continue;
      this.pending.delete(id);
      p.reject(Object.assign(new Error(`decoder thread failed: ${e.message}`), { retryOnMainThread: true }));
    }
  }
}
