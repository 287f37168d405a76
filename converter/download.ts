/**
 * Downloading the official SAM checkpoints and converting them:
 *
 *   await downloadCheckpoint({ modelType: 'vit_b' });   // weights/checkpoints/sam_vit_b_01ec64.pth -> weights/vit_b/
 *
 * - Resumable: data goes to `<file>.part`; after a broken connection (or in a later run) the
 *   download continues from the bytes already there with an HTTP Range request. A server that
 *   ignores Range (answers 200 with the whole file) is handled by starting over.
 * - Verified: the file is kept only when its MD5 matches the known digest; a corrupted download
 *   is deleted and reported.
 * - Mirrors: the URL base is `baseUrl`, else $SAM_TFJS_CHECKPOINT_URL, else Meta's server.
 *
 * Node only (node:fs / node:crypto are imported on first use; HTTP through the global fetch).
 */
import type { ModelType } from '../src/sam/config.js';
import { CHECKPOINT_URL_ENV, checkpointUrl, OFFICIAL_CHECKPOINTS } from './checkpoints.js';
import { convertCheckpoint, type ConvertOptions, type ConvertResult } from './convert.js';
import { createProgress, silentProgress, type ProgressMode, type ProgressSink } from './progress.js';

export { CHECKPOINT_URL_ENV, checkpointUrl, DEFAULT_CHECKPOINT_BASE_URL, OFFICIAL_CHECKPOINTS, type CheckpointInfo } from './checkpoints.js';

export type DownloadErrorKind = 'http' | 'network' | 'checksum' | 'size' | 'io';

export class DownloadError extends Error {
  constructor(
    message: string,
    readonly kind: DownloadErrorKind,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'DownloadError';
  }
}

export interface FetchFileOptions {
  /** Expected hex MD5: the file is kept only if it matches. */
  md5?: string;
  /** Failed attempts in a row (without new bytes) before giving up. Default 5. */
  retries?: number;
  /** Wait before the first retry, doubled each time (max 15 s). Default 1000. */
  retryDelayMs?: number;
  /** A connection that delivers nothing for this long is dropped and resumed. Default 60000. */
  idleTimeoutMs?: number;
  progress?: ProgressSink;
  label?: string;
  signal?: AbortSignal;
  fetch?: typeof fetch;
}

export interface FetchFileResult {
  path: string;
  bytes: number;
  md5: string;
  /** Whether bytes came over the network (false when an existing, verified file was kept). */
  downloaded: boolean;
  /** Bytes already in `.part` when the first request was made. */
  resumedFrom: number;
  /** HTTP requests made. */
  requests: number;
}

async function md5File(path: string): Promise<string> {
  const { createReadStream } = await import('node:fs');
  const { createHash } = await import('node:crypto');
  const hash = createHash('md5');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function fileSize(path: string): Promise<number | null> {
  const { stat } = await import('node:fs/promises');
  try {
    return (await stat(path)).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (ms <= 0) return resolve();
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Parses a Content-Range value: "bytes start-end/total", or "bytes (star)/total" in a 416. */
function parseContentRange(v: string | null): { start?: number; total?: number } {
  if (!v) return {};
  const m = /^bytes\s+(?:(\d+)-(\d+)|\*)\/(\d+|\*)$/i.exec(v.trim());
  if (!m) return {};
  return { start: m[1] !== undefined ? Number(m[1]) : undefined, total: m[3] !== '*' ? Number(m[3]) : undefined };
}

class RetryableError extends Error {}

/**
 * Downloads `url` to `dest` through `dest + '.part'`, resuming, retrying and verifying (see the
 * file comment). An existing `dest` that matches `md5` is kept without any request.
 */
export async function fetchFile(url: string, dest: string, options: FetchFileOptions = {}): Promise<FetchFileResult> {
  const fs = await import('node:fs/promises');
  const pathMod = await import('node:path');
  const doFetch = options.fetch ?? fetch;
  const progress = options.progress ?? silentProgress;
  const label = options.label ?? pathMod.basename(dest);
  const retries = options.retries ?? 5;
  const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  const expected = options.md5?.toLowerCase();
  const { signal } = options;

  const existing = await fileSize(dest);
  if (existing !== null) {
    const digest = await md5File(dest);
    if (!expected || digest === expected) return { path: dest, bytes: existing, md5: digest, downloaded: false, resumedFrom: 0, requests: 0 };
    progress.note(`${dest} does not match its MD5 (${digest}, expected ${expected}): downloading it again`);
    await fs.rm(dest, { force: true });
  }
  await fs.mkdir(pathMod.dirname(dest), { recursive: true });
  const part = `${dest}.part`;
  const resumedFrom = (await fileSize(part)) ?? 0;
  let failures = 0;
  let requests = 0;
  let total: number | undefined;
  let started = false;

  for (;;) {
    signal?.throwIfAborted();
    let offset = (await fileSize(part)) ?? 0;
    const attempt = new AbortController();
    const onAbort = () => attempt.abort(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    let idle: ReturnType<typeof setTimeout> | undefined;
    const armIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => attempt.abort(new RetryableError(`no data for ${idleTimeoutMs} ms`)), idleTimeoutMs);
    };
    let gained = 0;
    try {
      armIdle();
      let res: Response;
      try {
        requests++;
        res = await doFetch(url, { headers: offset > 0 ? { Range: `bytes=${offset}-` } : {}, signal: attempt.signal, redirect: 'follow' });
      } catch (e) {
        if (signal?.aborted) throw signal.reason;
        throw new RetryableError(`cannot connect to ${url}: ${(e as Error).message}${(e as Error).cause ? ` (${String(((e as Error).cause as Error).message ?? (e as Error).cause)})` : ''}`);
      }
      if (res.status === 416 && offset > 0) {
        // Nothing left to send from `offset`: either the .part is complete, or it is longer than the file.
        await res.body?.cancel().catch(() => undefined);
        const cr = parseContentRange(res.headers.get('content-range'));
        if (cr.total === offset) {
          total = offset;
          break;
        }
        progress.note(`the partial download of ${label} does not fit the file on the server: starting over`);
        await fs.rm(part, { force: true });
        throw new RetryableError('range not satisfiable');
      }
      if (!res.ok) {
        await res.body?.cancel().catch(() => undefined);
        const msg = `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''} for ${url}`;
        if (res.status === 408 || res.status === 429 || res.status >= 500) throw new RetryableError(msg);
        throw new DownloadError(
          res.status === 404
            ? `${msg}: the file is not there; check the model type and the URL base (--base-url / $${CHECKPOINT_URL_ENV})`
            : msg,
          'http',
          res.status,
        );
      }
      let append = false;
      if (res.status === 206) {
        const cr = parseContentRange(res.headers.get('content-range'));
        if (cr.start === offset) {
          append = true;
          total = cr.total ?? total;
        } else {
          // A range we did not ask for: start over without it.
          await res.body?.cancel().catch(() => undefined);
          await fs.rm(part, { force: true });
          throw new RetryableError(`the server answered range ${res.headers.get('content-range')} to a request from byte ${offset}`);
        }
      } else {
        // 200: the whole file (a server that ignores Range, or a fresh start)
        if (offset > 0) progress.note(`the server ignored the resume request (no Range support): downloading ${label} from the start`);
        offset = 0;
        const len = res.headers.get('content-length');
        total = len !== null && /^\d+$/.test(len) ? Number(len) : undefined;
      }
      if (!res.body) throw new RetryableError('the response has no body');
      if (!started) {
        progress.start(label, total, offset, 'bytes');
        started = true;
      } else progress.update(offset, total);
      const handle = await fs.open(part, append ? 'a' : 'w');
      let written = offset;
      try {
        const reader = res.body.getReader();
        for (;;) {
          let chunk: ReadableStreamReadResult<Uint8Array>;
          try {
            chunk = await reader.read();
          } catch (e) {
            if (signal?.aborted) throw signal.reason;
            const reason = attempt.signal.reason instanceof RetryableError ? attempt.signal.reason.message : (e as Error).message;
            throw new RetryableError(`the connection broke after ${written} bytes (${reason})`);
          }
          if (chunk.done) break;
          armIdle();
          let at = 0;
          while (at < chunk.value.length) {
            const { bytesWritten } = await handle.write(chunk.value, at, chunk.value.length - at);
            at += bytesWritten;
          }
          written += chunk.value.length;
          gained += chunk.value.length;
          progress.update(written, total);
        }
      } finally {
        await handle.close();
      }
      if (total !== undefined && written < total) throw new RetryableError(`the connection ended after ${written} of ${total} bytes`);
      if (total !== undefined && written > total) {
        await fs.rm(part, { force: true });
        throw new DownloadError(`${label}: received ${written} bytes, more than the announced ${total}; deleted it`, 'size');
      }
      total = written;
      break;
    } catch (e) {
      if (!(e instanceof RetryableError)) throw e;
      failures = gained > 0 ? 1 : failures + 1;
      if (failures > retries) {
        const kept = (await fileSize(part)) ?? 0;
        throw new DownloadError(
          `downloading ${url} failed: ${e.message}${kept > 0 ? `; ${kept} bytes are kept in ${part}, run again to resume` : ''}`,
          'network',
        );
      }
      progress.note(`${label}: ${e.message}; retrying (${failures}/${retries})`);
      await sleep(Math.min(15_000, (options.retryDelayMs ?? 1000) * 2 ** (failures - 1)), signal);
    } finally {
      clearTimeout(idle);
      signal?.removeEventListener('abort', onAbort);
    }
  }
  progress.end();

  const digest = await md5File(part);
  if (expected && digest !== expected) {
    await fs.rm(part, { force: true });
    throw new DownloadError(
      `checksum mismatch for ${url}: MD5 ${digest}, expected ${expected}; the corrupted download was deleted (try again, or check the mirror)`,
      'checksum',
    );
  }
  await fs.rename(part, dest);
  return { path: dest, bytes: total ?? 0, md5: digest, downloaded: true, resumedFrom, requests };
}

export interface DownloadOptions {
  modelType: ModelType;
  /** URL base (the folder with the .pth files). Default: $SAM_TFJS_CHECKPOINT_URL, else Meta's server. */
  baseUrl?: string;
  /** Root of the converted weights. Default 'weights'. */
  weightsDir?: string;
  /** Where the .pth is kept. Default `<weightsDir>/checkpoints`. */
  checkpointsDir?: string;
  /** Another file name / digest (a mirror that renamed the file). */
  file?: string;
  md5?: string;
  /** Convert after downloading (default true), with these options (input and name are set). */
  convert?: boolean;
  convertOptions?: Omit<ConvertOptions, 'input'>;
  /** Keep the .pth after converting (default true). */
  keepCheckpoint?: boolean;
  retries?: number;
  retryDelayMs?: number;
  idleTimeoutMs?: number;
  progress?: ProgressMode | ProgressSink;
  signal?: AbortSignal;
  /** Environment to read the URL base from (default process.env). */
  env?: Record<string, string | undefined>;
  fetch?: typeof fetch;
}

export interface DownloadResult extends FetchFileResult {
  url: string;
  modelType: ModelType;
  conversion?: ConvertResult;
  /** Whether the checkpoint file is still on disk. */
  checkpointKept: boolean;
}

/** Downloads (resuming, verifying) an official checkpoint and converts it into `<weightsDir>/<modelType>/`. */
export async function downloadCheckpoint(options: DownloadOptions): Promise<DownloadResult> {
  const pathMod = await import('node:path');
  const fs = await import('node:fs/promises');
  const { modelType } = options;
  const info = OFFICIAL_CHECKPOINTS[modelType];
  if (!info) throw new Error(`unknown model type '${modelType}': expected one of ${Object.keys(OFFICIAL_CHECKPOINTS).join(', ')}`);
  const file = options.file ?? info.file;
  const md5 = options.md5 ?? (options.file ? undefined : info.md5);
  if (!md5) throw new Error(`no MD5 for ${file}: give md5 along with a custom file name`);
  const url = checkpointUrl(modelType, options.baseUrl, file, options.env ?? process.env);
  const weightsDir = options.convertOptions?.weightsDir ?? options.weightsDir ?? 'weights';
  const dest = pathMod.resolve(options.checkpointsDir ?? pathMod.join(weightsDir, 'checkpoints'), file);
  const progress = typeof options.progress === 'object' ? options.progress : createProgress(options.progress ?? 'auto');
  const fetched = await fetchFile(url, dest, {
    md5,
    retries: options.retries,
    retryDelayMs: options.retryDelayMs,
    idleTimeoutMs: options.idleTimeoutMs,
    progress,
    signal: options.signal,
    fetch: options.fetch,
  });
  let conversion: ConvertResult | undefined;
  if (options.convert ?? true) {
    progress.start(`converting ${file}`, undefined, 0, 'items');
    try {
      conversion = await convertCheckpoint({
        name: modelType,
        weightsDir,
        signal: options.signal,
        ...options.convertOptions,
        input: dest,
        onProgress: (p) => {
          progress.update(p.done, p.total);
          options.convertOptions?.onProgress?.(p);
        },
      });
    } finally {
      progress.end();
    }
  }
  let checkpointKept = true;
  if (conversion && options.keepCheckpoint === false) {
    await fs.rm(dest, { force: true });
    checkpointKept = false;
  }
  return { ...fetched, url, modelType, conversion, checkpointKept };
}
