/**
 * Helper threads for the SIMD kernels in Node: the matMuls (SamMatMul and SamBatchMatMul) and
 * the large elementwise ones (SamGelu, SamLayerNorm, SamRelPosAdd, SamSoftmax, SamAdd; wasm_kernels.ts).
 *
 * Node worker_threads, each with its own instance of the kernels module on the backend's shared
 * WebAssembly.Memory (tfjs-wasm's threaded build). A call is synchronous, as tfjs kernels are:
 * the main thread writes the job's arguments into a SharedArrayBuffer, resets the block
 * counter there and wakes the helpers with Atomics.notify; then it and the helpers claim blocks
 * (of rows, of a batch's products, of values) one at a time (Atomics.add on the counter) until none is left, and the main thread
 * waits (Atomics.wait) until each helper has written back that it is done. Claiming blocks
 * rather than fixed shares keeps both cores busy when one thread starts late or is held up
 * (a wake-up, the OS, V8's own threads): every block is the same work whoever runs it.
 *
 * The helpers only ever run while the main thread waits for them inside a kernel, so they are
 * unref'd: they never keep a finished program alive.
 */
import { Worker } from 'node:worker_threads';
import { type GemmHelpers, type HelperJobArgs, type HelperJobKind, type HelperKernels, runHelperBlock, setGemmHelpers, sharedKernelsOf } from './wasm_kernels.js';

/** Int32 slots (64 bytes each, so that two threads never write to one cache line). */
const SLOT = 16;
/** Slot 0, the job: the next block to claim, its kind, then its arguments (runHelperBlock reads them). */
const NEXT = 0;
const KIND = 1;
const ARGS = 2; // up to 12 values
/** Slot 1 + i, helper i: the job number it waits on, the job it finished, its status, blocks it ran. */
const SEQ = 0;
const DONE = 1;
const FAILED = 2;
const BLOCKS = 3;
const STOP = -1;

/** A helper that has not answered for this long is taken as lost: the kernel throws instead of hanging. */
const ANSWER_TIMEOUT_MS = 120_000;

// The helper's code (CommonJS, evaluated by Worker). It instantiates the kernels on the shared
// memory, says 'ready', then serves jobs until its counter reads STOP.
const HELPER_SOURCE = `(() => {
const { parentPort, workerData } = require('node:worker_threads');
const { module, memory, control, slot } = workerData;
const job = new Int32Array(control, 0, ${SLOT});
const ctl = new Int32Array(control, (slot + 1) * ${SLOT * 4}, ${SLOT});
let kernels;
try {
  kernels = new WebAssembly.Instance(module, { env: { memory } }).exports;
} catch (e) {
  parentPort.postMessage({ error: String(e) });
  return;
}
const runBlock = ${runHelperBlock.toString()};
parentPort.postMessage({ ready: true });
let seen = 0;
for (;;) {
  Atomics.wait(ctl, ${SEQ}, seen);
  seen = Atomics.load(ctl, ${SEQ});
  if (seen === ${STOP}) break;
  let failed = 0;
  try {
    while (runBlock(kernels, job, Atomics.add(job, ${NEXT}, 1), slot + 1)) ctl[${BLOCKS}]++;
  } catch (e) {
    failed = 1;
  }
  Atomics.store(ctl, ${FAILED}, failed);
  Atomics.store(ctl, ${DONE}, seen);
  Atomics.notify(ctl, ${DONE});
}
})();
`;

class WorkerHelpers implements GemmHelpers {
  readonly count: number;
  private readonly job: Int32Array;
  private readonly ctl: Int32Array;
  private seq = 0;

  constructor(
    control: SharedArrayBuffer,
    private readonly workers: Worker[],
  ) {
    this.count = workers.length;
    this.job = new Int32Array(control, 0, SLOT);
    this.ctl = new Int32Array(control);
  }

  run(kind: HelperJobKind, args: HelperJobArgs, kernels: HelperKernels, callerJoins: boolean): void {
    const job = this.job;
    if (args.length > SLOT - ARGS) throw new Error(`helper job: ${args.length} arguments, at most ${SLOT - ARGS}`);
    job[KIND] = kind;
    for (let j = 0; j < args.length; j++) job[ARGS + j] = args[j];
    Atomics.store(job, NEXT, 0);
    this.seq = this.seq === 0x7fffffff ? 1 : this.seq + 1;
    for (let i = 0; i < this.count; i++) {
      Atomics.store(this.ctl, (i + 1) * SLOT + SEQ, this.seq);
      Atomics.notify(this.ctl, (i + 1) * SLOT + SEQ);
    }
    try {
      if (callerJoins) while (runHelperBlock(kernels, job, Atomics.add(job, NEXT, 1), 0));
    } finally {
      this.wait();
    }
  }

  blocksRun(): number {
    let total = 0;
    for (let i = 0; i < this.count; i++) total += Atomics.load(this.ctl, (i + 1) * SLOT + BLOCKS);
    return total;
  }

  /** Waits until every helper has finished the current job; throws if one failed or does not answer. */
  private wait(): void {
    let failed = false;
    for (let i = 0; i < this.count; i++) {
      const base = (i + 1) * SLOT;
      const deadline = Date.now() + ANSWER_TIMEOUT_MS;
      let done: number;
      while ((done = Atomics.load(this.ctl, base + DONE)) !== this.seq) {
        if (Date.now() > deadline) {
          throw new Error(`SIMD kernels: helper thread ${i} did not answer within ${ANSWER_TIMEOUT_MS / 1000} s; set SAM_TFJS_GEMM_THREADS=0 to run the kernels on the calling thread only`);
        }
        Atomics.wait(this.ctl, base + DONE, done, 1000);
      }
      failed ||= this.ctl[base + FAILED] !== 0;
    }
    if (failed) throw new Error('SIMD kernels: a helper thread failed (memory out of bounds?)');
  }

  stop(): void {
    for (let i = 0; i < this.count; i++) {
      Atomics.store(this.ctl, (i + 1) * SLOT + SEQ, STOP);
      Atomics.notify(this.ctl, (i + 1) * SLOT + SEQ);
    }
    for (const w of this.workers) void w.terminate();
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
  const control = new SharedArrayBuffer((count + 1) * SLOT * 4);
  const workers: Worker[] = [];
  try {
    for (let slot = 0; slot < count; slot++) {
      const worker = new Worker(HELPER_SOURCE, { eval: true, workerData: { module: kernels.module, memory: kernels.memory, control, slot } });
      workers.push(worker);
      await new Promise<void>((resolve, reject) => {
        worker.once('message', (m: { ready?: boolean; error?: string }) => (m.ready ? resolve() : reject(new Error(m.error))));
        worker.once('error', reject);
        worker.once('exit', (code) => reject(new Error(`exited with code ${code}`)));
      });
      worker.removeAllListeners();
      // A helper that dies (it should not: it catches its errors) takes the others with it,
      // and products go back to the calling thread alone.
      worker.on('error', () => stopGemmHelpers(backend));
      worker.unref();
    }
  } catch {
    for (const w of workers) void w.terminate();
    return 0;
  }
  const helpers = new WorkerHelpers(control, workers);
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
  h.stop();
}
