/**
 * A pool of Node worker threads that run blocks of a synchronous job on a shared
 * WebAssembly.Memory, with the calling thread: the SIMD kernels' helpers
 * (gemm_workers_node.ts) and the mask post-processing's (src/sam/mask_rows_workers_node.ts).
 *
 * Each worker instantiates the pool's module on the shared memory, says 'ready', then waits
 * (Atomics.wait) for jobs. The caller writes a job's fields into slot 0 of a
 * SharedArrayBuffer (after its block counter, int32 0), resets the counter and wakes the
 * workers with Atomics.notify; then it (when it joins) and the workers claim blocks one at
 * a time (Atomics.add on the counter) through `runBlock(exports, job, block, thread)` until it
 * returns false, and the caller waits (Atomics.wait) until each worker has written back that
 * it is done. Claiming blocks rather than fixed shares keeps every core busy when one thread
 * starts late or is held up (a wake-up, the OS, V8's own threads). The job's fields are
 * plain stores made before the counter's and the wake-up's atomic stores, so the workers see
 * them.
 *
 * A worker that wakes late is not waited for: before it claims a block it enters the job
 * (ENTER: job number -> its negative, compare-and-swap), and a caller that has claimed the
 * last block itself closes the job to the workers that have not entered (ENTER -> 0), so it
 * waits only for those that run blocks. A worker that finds its job closed goes back to
 * sleep without touching the job's fields, which the next job may already be writing. On the
 * 2-core VM, in ViT-B's `predict`, ~2 of a prompt's 30 jobs were done before the helper woke,
 * and waiting for it to answer cost 2.0-2.3 ms a prompt (docs/performance.md).
 *
 * The workers only run while the caller waits for them, so they are unref'd: they never keep
 * a finished program alive.
 */
import { Worker } from 'node:worker_threads';

/** Int32 slots (64 bytes each, so that two threads never write to one cache line). */
export const SLOT = 16;
/** Slot 0, the job: its block counter, then its fields (at most SLOT - 1). */
export const NEXT = 0;
/**
 * Slot 1 + i, worker i: the job number it waits on, the job it finished, its status, blocks it
 * ran, and ENTER: the job number while the job is open to it, its negative once it entered, 0
 * once the caller closed it.
 */
const SEQ = 0;
const DONE = 1;
const FAILED = 2;
const BLOCKS = 3;
const ENTER = 4;
const STOP = -1;

/** A worker that has not answered for this long is taken as lost: the job throws instead of hanging. */
const ANSWER_TIMEOUT_MS = 120_000;

/**
 * runBlock(exports, job, block, thread): runs block `block` of the job in `job` on thread
 * `thread` (0 the caller, 1... the workers); false when the job has no such block. The
 * workers evaluate its source, so it may use nothing from outside itself.
 */
export type RunBlock<E> = (exports: E, job: Int32Array, block: number, thread: number) => boolean;

function helperSource(runBlock: RunBlock<never>): string {
  return `(() => {
const { parentPort, workerData } = require('node:worker_threads');
const { module, memory, control, slot } = workerData;
const job = new Int32Array(control, 0, ${SLOT});
const ctl = new Int32Array(control, (slot + 1) * ${SLOT * 4}, ${SLOT});
let exports;
try {
  exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
} catch (e) {
  parentPort.postMessage({ error: String(e) });
  return;
}
const runBlock = ${runBlock.toString()};
parentPort.postMessage({ ready: true });
let seen = 0;
for (;;) {
  Atomics.wait(ctl, ${SEQ}, seen);
  seen = Atomics.load(ctl, ${SEQ});
  if (seen === ${STOP}) break;
  // The caller ran the job without this worker: leave it alone.
  if (Atomics.compareExchange(ctl, ${ENTER}, seen, -seen) !== seen) continue;
  let failed = 0;
  try {
    while (runBlock(exports, job, Atomics.add(job, ${NEXT}, 1), slot + 1)) ctl[${BLOCKS}]++;
  } catch (e) {
    failed = 1;
  }
  Atomics.store(ctl, ${FAILED}, failed);
  Atomics.store(ctl, ${DONE}, seen);
  Atomics.notify(ctl, ${DONE});
}
})();
`;
}

/** What a pool's errors call its work and say to switch it off. */
export interface PoolNames {
  /** e.g. 'SIMD kernels' */
  work: string;
  /** e.g. 'set SAM_TFJS_GEMM_THREADS=0 to run the kernels on the calling thread only' */
  off: string;
}

export class WorkerPool {
  readonly count: number;
  /** Slot 0: the block counter (NEXT), then the job's fields. */
  readonly job: Int32Array;
  private readonly ctl: Int32Array;
  private seq = 0;

  constructor(
    control: SharedArrayBuffer,
    private readonly workers: Worker[],
    private readonly names: PoolNames,
  ) {
    this.count = workers.length;
    this.job = new Int32Array(control, 0, SLOT);
    this.ctl = new Int32Array(control);
  }

  /**
   * Runs the job whose fields the caller has written into `job`: wakes the workers, claims
   * blocks itself through `here(block)` when given, and returns when every worker is done.
   * Throws the first error: the caller's own, else a worker's failure or silence.
   */
  run(here: ((block: number) => boolean) | null): void {
    const job = this.job;
    Atomics.store(job, NEXT, 0);
    this.seq = this.seq === 0x7fffffff ? 1 : this.seq + 1;
    for (let i = 0; i < this.count; i++) {
      // No worker writes DONE now (each that entered the last job has finished it): cleared, a
      // DONE left from a job this number had 2^31 jobs ago cannot pass for this one's.
      Atomics.store(this.ctl, (i + 1) * SLOT + DONE, 0);
      // ENTER before SEQ: a worker that sees this job's number finds it open.
      Atomics.store(this.ctl, (i + 1) * SLOT + ENTER, this.seq);
      Atomics.store(this.ctl, (i + 1) * SLOT + SEQ, this.seq);
      Atomics.notify(this.ctl, (i + 1) * SLOT + SEQ);
    }
    let error: unknown = null;
    let claimedAll = false;
    try {
      if (here) {
        while (here(Atomics.add(job, NEXT, 1)));
        claimedAll = true;
      }
    } catch (e) {
      error = e;
    }
    try {
      this.wait(claimedAll);
    } catch (e) {
      error ??= e;
    }
    if (error) throw error;
  }

  /** Blocks the workers have run since they started (for tests and benchmarks). */
  blocksRun(): number {
    let total = 0;
    for (let i = 0; i < this.count; i++) total += Atomics.load(this.ctl, (i + 1) * SLOT + BLOCKS);
    return total;
  }

  /**
   * Waits until every worker that entered the current job has finished it; throws if one
   * failed or does not answer. With `claimedAll` (every block is claimed: none is left for a
   * worker that has not entered yet) the job is first closed to those.
   */
  private wait(claimedAll: boolean): void {
    let failed = false;
    // Every worker that has not entered is closed out first, then the others are waited for.
    const waitFor: boolean[] = [];
    for (let i = 0; i < this.count; i++) waitFor.push(!claimedAll || Atomics.compareExchange(this.ctl, (i + 1) * SLOT + ENTER, this.seq, 0) !== this.seq);
    for (let i = 0; i < this.count; i++) {
      const base = (i + 1) * SLOT;
      if (!waitFor[i]) continue;
      const deadline = Date.now() + ANSWER_TIMEOUT_MS;
      let done: number;
      while ((done = Atomics.load(this.ctl, base + DONE)) !== this.seq) {
        if (Date.now() > deadline) {
          throw new Error(`${this.names.work}: helper thread ${i} did not answer within ${ANSWER_TIMEOUT_MS / 1000} s; ${this.names.off}`);
        }
        Atomics.wait(this.ctl, base + DONE, done, 1000);
      }
      failed ||= this.ctl[base + FAILED] !== 0;
    }
    if (failed) throw new Error(`${this.names.work}: a helper thread failed (memory out of bounds?); ${this.names.off}`);
  }

  /** Stops the workers. */
  stop(): void {
    for (let i = 0; i < this.count; i++) {
      Atomics.store(this.ctl, (i + 1) * SLOT + SEQ, STOP);
      Atomics.notify(this.ctl, (i + 1) * SLOT + SEQ);
    }
    for (const w of this.workers) void w.terminate();
  }
}

/**
 * Starts `count` workers, each instantiating `module` on the shared `memory` and running
 * blocks with `runBlock`. Resolves to the pool, or null where a worker failed to start (those
 * started are terminated). `died(pool)` is called if a worker of the running pool errs or
 * exits (it should not: it catches its errors).
 */
export async function startWorkerPool<E>(
  count: number,
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
  runBlock: RunBlock<E>,
  names: PoolNames,
  died: (pool: WorkerPool) => void,
): Promise<WorkerPool | null> {
  const source = helperSource(runBlock as RunBlock<never>);
  const control = new SharedArrayBuffer((count + 1) * SLOT * 4);
  const workers: Worker[] = [];
  // Set once they all run: the pool a worker's death reports (not a later one).
  let pool: WorkerPool | null = null;
  try {
    for (let slot = 0; slot < count; slot++) {
      const worker = new Worker(source, { eval: true, workerData: { module, memory, control, slot } });
      workers.push(worker);
      await new Promise<void>((resolve, reject) => {
        worker.once('message', (m: { ready?: boolean; error?: string }) => (m.ready ? resolve() : reject(new Error(m.error))));
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new Error(`exited with code ${code}`)));
      });
      worker.removeAllListeners();
      worker.on('error', () => pool && died(pool));
      worker.on('exit', () => pool && died(pool));
      worker.unref();
    }
  } catch {
    for (const w of workers) void w.terminate();
    return null;
  }
  pool = new WorkerPool(control, workers, names);
  return pool;
}
