/**
 * The loop shared by every folder job (`buildDataset`, `generateMaskFiles`, `embedImages`):
 * the shard's images in global order, minus those a previous run finished (or recorded as
 * failed), read and decoded ahead in worker threads through a bounded prefetch queue, each
 * processed and marked done atomically; unreadable images are recorded with their reason and
 * skipped; an abort signal stops the loop between two images. Node only.
 */
import { join } from 'node:path';
import type { RgbImage } from '../sam/preprocess/image.js';
import { ImageDecoder } from './decoder.js';
import { imageKey } from './images.js';
import { prefetch } from './prefetch.js';
import { shardPositions, type Shard } from './shard.js';
import type { FailureRecord, RunState } from './state.js';

/** Options every folder job takes. */
export interface RunOptions {
  /** Only this shard's images (default: all). */
  shard?: Shard | null;
  /** Try again the images a previous run recorded as failed (default: they stay skipped). */
  retryFailed?: boolean;
  /** Images read and decoded ahead of the model (default 3). */
  prefetch?: number;
  /** Worker threads decoding images (default 1; 0 decodes on the main thread). */
  decodeWorkers?: number;
  /** Stops the run after the image in progress (the run can be resumed later). */
  signal?: AbortSignal;
  /** Progress and per-image results, as they happen. */
  onEvent?: (event: RunEvent) => void;
  /**
   * The run gives up (throws) after this many images in a row failed while being PROCESSED
   * (decoding failures do not count): something is wrong with the model or the machine,
   * not with the images. Default 10.
   */
  maxConsecutiveErrors?: number;
}

export type RunEvent =
  | {
      type: 'start';
      /** Images in the input (all shards). */
      images: number;
      /** Images of this shard. */
      inShard: number;
      /** Finished by an earlier run. */
      alreadyDone: number;
      /** Recorded as failed by an earlier run and not retried. */
      previouslyFailed: number;
      /** To do now. */
      todo: number;
      shard: Shard | null;
      /** Continuing an earlier run (its state folder existed). */
      resumed: boolean;
      /** How the package version / backend differ from the run's start (results may differ in the last bits). */
      environmentChanges: string[];
    }
  | { type: 'image-progress'; file: string; fraction: number }
  | { type: 'image-done'; file: string; ms: number; detail: Record<string, unknown>; processed: number; failed: number; todo: number }
  | { type: 'image-failed'; file: string; error: string; stage: 'read' | 'process'; processed: number; failed: number; todo: number }
  | { type: 'stopping' }
  | { type: 'warning'; message: string };

/** How a run went. Counts are over the shard's images, this run and earlier ones together. */
export interface RunSummary {
  /** Images in the input (all shards). */
  images: number;
  /** Images of this shard. */
  inShard: number;
  /** Finished (now or earlier). */
  succeeded: number;
  /** Could not be used (now or earlier; see `failures`). */
  failed: number;
  /** Not yet done (an interrupted run). */
  remaining: number;
  /** Finished by this run. */
  processedNow: number;
  /** Failed in this run. */
  failedNow: number;
  /** Finished by an earlier run (skipped now). */
  alreadyDone: number;
  /** The run stopped early (signal) with images left; run it again to continue. */
  interrupted: boolean;
  /** Every failed image of the shard, sorted by file. */
  failures: FailureRecord[];
}

/** One image to process. */
export interface ImageTask {
  /** Path relative to the input folder ('/' separators). */
  file: string;
  /** Path to read. */
  path: string;
  /** Position in the global sorted list (image id - 1). */
  position: number;
  /** imageKey(file). */
  key: string;
}

export interface RunSpec {
  /** The input folder. */
  root: string;
  /** Every image of the input, sorted (see listImages). */
  files: readonly string[];
  /** Where progress is kept; null for a one-off run (nothing resumable, nothing recorded). */
  state: RunState | null;
  /**
   * Processes one decoded image; returns what is stored as its done marker (a JSON text)
   * and a few facts for the progress events.
   */
  process: (task: ImageTask, image: RgbImage, onProgress: (fraction: number) => void) => Promise<{ marker: string; detail?: Record<string, unknown> }>;
}

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Error texts name the image by its relative path (no host-specific folders in results). */
function relativeMessage(e: unknown, task: ImageTask): string {
  return message(e).split(task.path).join(task.file);
}

export async function runImages(spec: RunSpec, options: RunOptions = {}): Promise<RunSummary> {
  const { state } = spec;
  const shard = options.shard ?? null;
  const emit = options.onEvent ?? (() => {});
  const positions = shardPositions(spec.files.length, shard);
  const tasks: ImageTask[] = positions.map((position) => {
    const file = spec.files[position];
    return { file, path: join(spec.root, ...file.split('/')), position, key: imageKey(file) };
  });
  const done = state ? await state.doneKeys() : new Set<string>();
  const failed = state ? await state.failedKeys() : new Set<string>();
  for (const key of [...failed]) {
    // Done after all (a --retry-failed run killed between the two writes): drop the stale failure.
    if (done.has(key)) {
      failed.delete(key);
      await state!.clearFailed(key);
    }
  }
  const alreadyDone = tasks.filter((t) => done.has(t.key)).length;
  const todo = tasks.filter((t) => !done.has(t.key) && (options.retryFailed || !failed.has(t.key)));
  const previouslyFailed = options.retryFailed ? 0 : tasks.filter((t) => !done.has(t.key) && failed.has(t.key)).length;
  emit({
    type: 'start',
    images: spec.files.length,
    inShard: tasks.length,
    alreadyDone,
    previouslyFailed,
    todo: todo.length,
    shard,
    resumed: state?.resumed ?? false,
    environmentChanges: state?.environmentChanges ?? [],
  });

  const maxErrors = options.maxConsecutiveErrors ?? 10;
  const signal = options.signal;
  let processedNow = 0;
  let failedNow = 0;
  const failedInARow: ImageTask[] = [];
  let stopping = false;
  const onAbort = () => {
    if (!stopping) emit({ type: 'stopping' });
    stopping = true;
  };
  signal?.addEventListener('abort', onAbort);
  if (signal?.aborted) onAbort();

  const newFailures = new Map<string, FailureRecord>();
  const recordFailure = async (task: ImageTask, error: string, stage: 'read' | 'process') => {
    failedNow++;
    failed.add(task.key);
    newFailures.set(task.key, { file: task.file, error });
    await state?.writeFailed(task.key, { file: task.file, error });
    emit({ type: 'image-failed', file: task.file, error, stage, processed: processedNow, failed: failedNow, todo: todo.length });
  };

  const decoder = new ImageDecoder({ workers: options.decodeWorkers ?? 1 });
  try {
    if (!stopping) {
      for await (const loaded of prefetch(todo, (t) => decoder.decode(t.path), { depth: options.prefetch ?? 3, signal })) {
        if (stopping) break;
        const task = loaded.item;
        if (loaded.error !== undefined) {
          await recordFailure(task, relativeMessage(loaded.error, task), 'read');
          continue;
        }
        const t0 = performance.now();
        let result: { marker: string; detail?: Record<string, unknown> };
        try {
          result = await spec.process(task, loaded.value!, (fraction) => emit({ type: 'image-progress', file: task.file, fraction }));
        } catch (e) {
          failedInARow.push(task);
          await recordFailure(task, relativeMessage(e, task), 'process');
          if (failedInARow.length >= maxErrors) {
            // Not the images' fault: forget these failures so that a rerun tries them again.
            for (const t of failedInARow) {
              failed.delete(t.key);
              await state?.clearFailed(t.key);
            }
            throw new Error(
              `giving up: the last ${failedInARow.length} images all failed while being processed ` +
                `(last: ${task.file}: ${relativeMessage(e, task)}); they are not recorded as failed, a rerun tries them again`,
            );
          }
          continue;
        }
        failedInARow.length = 0;
        await state?.writeDone(task.key, result.marker);
        if (failed.delete(task.key)) await state?.clearFailed(task.key);
        done.add(task.key);
        processedNow++;
        emit({ type: 'image-done', file: task.file, ms: performance.now() - t0, detail: result.detail ?? {}, processed: processedNow, failed: failedNow, todo: todo.length });
      }
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    await decoder.close();
  }

  const failures: FailureRecord[] = [];
  let succeeded = 0;
  let nFailed = 0;
  for (const t of tasks) {
    if (done.has(t.key)) succeeded++;
    else if (failed.has(t.key)) {
      nFailed++;
      failures.push(newFailures.get(t.key) ?? (await state!.readFailed(t.key)));
    }
  }
  const remaining = tasks.length - succeeded - nFailed;
  return {
    images: spec.files.length,
    inShard: tasks.length,
    succeeded,
    failed: nFailed,
    remaining,
    processedNow,
    failedNow,
    alreadyDone,
    // A stop request that came after the last image changes nothing.
    interrupted: stopping && remaining > 0,
    failures,
  };
}
