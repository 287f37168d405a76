/**
 * Helper threads for the SIMD kernels in Node: the matMuls (SamMatMul and SamBatchMatMul) and
 * the large elementwise ones (SamGelu, SamLayerNorm, SamRelPosAdd, SamSoftmax, SamAdd; wasm_kernels.ts).
 *
 * Node worker_threads (worker_pool_node.ts), each with its own instance of the kernels module
 * on the backend's shared WebAssembly.Memory (tfjs-wasm's threaded build). A call is
 * synchronous, as tfjs kernels are: the main thread and the helpers claim blocks (of rows, of
 * a batch's products, of values) until none is left, and every block is the same work
 * whoever runs it. The helpers only ever run while the main thread waits for them inside a
 * kernel.
 */
import { type GemmHelpers, type HelperJobArgs, type HelperJobKind, type HelperKernels, runHelperBlock, setGemmHelpers, sharedKernelsOf } from './wasm_kernels.js';
import { SLOT, startWorkerPool, type WorkerPool } from './worker_pool_node.js';

/** The job's fields (after its block counter): its kind, then its arguments (runHelperBlock reads them). */
const KIND = 1;
const ARGS = 2; // up to SLOT - 2 = 14 values

class WorkerHelpers implements GemmHelpers {
  readonly count: number;

  constructor(readonly pool: WorkerPool) {
    this.count = pool.count;
  }

  run(kind: HelperJobKind, args: HelperJobArgs, kernels: HelperKernels, callerJoins: boolean): void {
    const job = this.pool.job;
    if (args.length > SLOT - ARGS) throw new Error(`helper job: ${args.length} arguments, at most ${SLOT - ARGS}`);
    job[KIND] = kind;
    for (let j = 0; j < args.length; j++) job[ARGS + j] = args[j];
    this.pool.run(callerJoins ? (block) => runHelperBlock(kernels, job, block, 0) : null);
  }

  blocksRun(): number {
    return this.pool.blocksRun();
  }
}

const started = new WeakMap<object, WorkerHelpers>();

/**
 * Starts `count` helper threads for the SIMD kernels on this wasm backend (its memory must be
 * shared: the threaded build). Resolves to the number started: 0 where they cannot run (a
 * plain memory, no SIMD kernels, count 0, a worker that failed to start). Idempotent.
 */
export async function startGemmHelpers(backend: object, count: number): Promise<number> {
  const have = started.get(backend);
  if (have) return have.count;
  const kernels = sharedKernelsOf(backend);
  if (!kernels || count < 1) return 0;
  const names = { work: 'SIMD kernels', off: 'set SAM_TFJS_GEMM_THREADS=0 to run the kernels on the calling thread only' };
  // A helper that dies (it should not: it catches its errors) takes the others with it,
  // and products go back to the calling thread alone.
  const pool = await startWorkerPool(count, kernels.module, kernels.memory, runHelperBlock, names, (p) => {
    if (started.get(backend)?.pool === p) stopGemmHelpers(backend);
  });
  if (!pool) return 0;
  const helpers = new WorkerHelpers(pool);
  started.set(backend, helpers);
  setGemmHelpers(backend, helpers);
  return count;
}

/** Stops the helpers of this backend (the kernels then run on the calling thread alone). */
export function stopGemmHelpers(backend: object): void {
  const h = started.get(backend);
  if (!h) return;
  setGemmHelpers(backend, null);
  started.delete(backend);
  h.pool.stop();
}
