/**
 * Helper threads for the mask post-processing's computed pixels in Node (mask_rows_simd.ts,
 * MaskUpscaler in postprocess_js.ts), on every backend whose masks are post-processed in
 * JavaScript (cpu, wasm).
 *
 * The mask rows module then runs on a shared WebAssembly.Memory, instantiated on the calling
 * thread and in each helper (node:worker_threads, src/backends/worker_pool_node.ts). While a mask's bands are decided, the wide
 * rows its computed pixels read and those pixels (as threshold items, a row piece each) are
 * queued; then the calling thread and the helpers claim blocks of wide rows, then of items
 * (Atomics.add on a counter), until none is left, and the calling thread waits
 * (Atomics.wait) for the helpers to say they are done: the call stays synchronous. Each job's
 * entries write disjoint bytes and read what was written before the helpers were woken, so
 * the mask is the one the calling thread alone makes, byte for byte. The helpers only run inside that call (else they wait in Atomics.wait, using
 * no CPU: the matMuls' helper threads and these take turns), and are unref'd.
 *
 * Browsers' main threads cannot Atomics.wait: there masks are made on the calling thread.
 */
import { availableParallelism } from 'node:os';
import { decodeBase64 } from '../backends/simd_common.js';
import { MASK_ROWS_SHARED } from '../backends/wasm_simd/mask_rows_wasm.js';
import { NEXT, SLOT, startWorkerPool, type WorkerPool } from '../backends/worker_pool_node.js';
import { MaskRowsSimd, setSharedMaskRows, type MaskRowHelpers, type MaskRowJob, type MaskRowsExports } from './mask_rows_simd.js';

/** The job's fields (after its block counter): kind, entries, entries per block, then its arguments. */
const KIND = 1;
const COUNT = 2;
const PER = 3;
const ARGS = 4; // up to 12 values
/** Entries per claimed block: items (row pieces, ~2250 pixels in SAM's 1500 x 2250 example), wide rows. */
const PER_BLOCK = [24, 8];
/** Entries below which the calling thread does them alone (waking a helper costs more). */
const SPLIT_MIN = [48, 16];
const MAX_HELPERS = 3;

/**
 * Runs block `block` of the job in `job` (its fields above) with the module's exports; false
 * when the job has no such block. The helpers evaluate this function's source, so it uses
 * nothing from outside (the job kinds as numbers: JOB_ITEMS 0, JOB_WIDE_ROWS 1).
 */
export function runMaskRowBlock(ex: MaskRowsExports, job: Int32Array, block: number): boolean {
  const [kind, count, per] = [job[1], job[2], job[3]];
  const first = block * per;
  if (first >= count) return false;
  const last = Math.min(count, first + per);
  if (kind === 0) {
    ex.threshold_items(job[4], first, last, new Float32Array(new Int32Array([job[5]]).buffer)[0]);
    return true;
  }
  if (kind !== 1) return false;
  ex.wide_rows(job[4], first, last, job[5], job[6], job[7], job[8], job[9], job[10]);
  return true;
}

class WorkerMaskRowHelpers implements MaskRowHelpers {
  readonly count: number;

  constructor(readonly pool: WorkerPool) {
    this.count = pool.count;
  }

  run(exports: MaskRowsExports, kind: MaskRowJob, args: readonly number[], count: number): void {
    if (args.length > SLOT - ARGS) throw new Error(`mask rows job: ${args.length} arguments, at most ${SLOT - ARGS}`);
    const job = this.pool.job;
    job[KIND] = kind;
    job[COUNT] = count;
    job[PER] = PER_BLOCK[kind];
    for (let j = 0; j < args.length; j++) job[ARGS + j] = args[j];
    const here = (block: number) => runMaskRowBlock(exports, job, block);
    if (count < SPLIT_MIN[kind]) {
      Atomics.store(job, NEXT, 0);
      while (here(Atomics.add(job, NEXT, 1)));
      return;
    }
    try {
      this.pool.run(here);
    } catch (e) {
      // A helper that failed or did not answer is not trusted with the next job: masks go
      // back to the calling thread.
      stopIfCurrent(this.pool);
      throw e;
    }
  }

  blocksRun(): number {
    return this.pool.blocksRun();
  }
}

let running: { helpers: WorkerMaskRowHelpers; simd: MaskRowsSimd } | null = null;
let starting: Promise<number> | null = null;

/**
 * Helper threads wanted: SAM_TFJS_MASK_THREADS (0 for none; more than 3 counts as 3), else
 * one fewer than the cores (the calling thread takes a share), at most 3.
 */
export function maskRowHelpersWanted(): number {
  const env = process.env.SAM_TFJS_MASK_THREADS;
  if (env !== undefined && env !== '' && Number.isInteger(Number(env)) && Number(env) >= 0) return Math.min(Number(env), MAX_HELPERS);
  return Math.max(0, Math.min(MAX_HELPERS, availableParallelism() - 1));
}

/**
 * Starts `count` helper threads for the mask post-processing and makes masks use them;
 * resolves to the number running (0 where they cannot start: no shared WebAssembly memory or
 * SIMD, a worker that failed). Idempotent while they run.
 */
export function startMaskRowHelpers(count = maskRowHelpersWanted()): Promise<number> {
  if (running) return Promise.resolve(running.helpers.count);
  if (starting) return starting;
  starting = start(count).finally(() => {
    starting = null;
  });
  return starting;
}

async function start(count: number): Promise<number> {
  if (count < 1) return 0;
  let module: WebAssembly.Module;
  let memory: WebAssembly.Memory;
  let exports: MaskRowsExports;
  try {
    module = new WebAssembly.Module(decodeBase64(MASK_ROWS_SHARED));
    memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
    exports = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as MaskRowsExports;
  } catch {
    return 0;
  }
  const names = { work: 'mask post-processing', off: 'set SAM_TFJS_MASK_THREADS=0 to make masks on the calling thread only' };
  // A helper that dies (it should not: it catches its errors) takes the others with it.
  const pool = await startWorkerPool(count, module, memory, runMaskRowBlock, names, stopIfCurrent);
  if (!pool) return 0;
  const helpers = new WorkerMaskRowHelpers(pool);
  const simd = new MaskRowsSimd(exports, helpers);
  running = { helpers, simd };
  setSharedMaskRows(simd);
  return count;
}

/** Stops `pool` if it is the one masks use now. */
function stopIfCurrent(pool: WorkerPool): void {
  if (running?.helpers.pool === pool) stopMaskRowHelpers();
}

/** Stops the helpers; masks are made on the calling thread again. */
export function stopMaskRowHelpers(): void {
  if (!running) return;
  setSharedMaskRows(null);
  running.helpers.pool.stop();
  running = null;
}

/** Blocks of items the helpers have run since they started (tests), or 0 when none run. */
export function maskRowHelperBlocks(): number {
  return running ? running.helpers.blocksRun() : 0;
}
