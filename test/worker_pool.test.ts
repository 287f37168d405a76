/**
 * The helper threads' pool (src/backends/worker_pool_node.ts), which both the SIMD kernels'
 * and the mask post-processing's helpers use, when something goes wrong:
 * - a helper whose block throws: the job throws an error that names the work and how to
 *   switch the helpers off; the helper survives and runs the next job whole;
 * - the calling thread's own block throws: that error is the one thrown, and the helpers
 *   still finish theirs first (nothing runs on after the call returns).
 * - many short jobs back to back, which the calling thread often finishes before the helper
 *   wakes: every block runs once, for its own job, and nothing runs once the call returned
 *   (a helper that wakes late must not run blocks of a job the caller has closed).
 * The jobs here are plain JavaScript blocks on a module with a shared memory (the mask
 * rows' module; the last test writes through its fill_bytes).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeBase64 } from '../src/backends/simd_common.js';
import { MASK_ROWS_SHARED } from '../src/backends/wasm_simd/mask_rows_wasm.js';
import { startWorkerPool, type RunBlock, type WorkerPool } from '../src/backends/worker_pool_node.js';

const test = suite('worker pool failures');

/**
 * Job fields: [next block, mode, blocks]: `blocks` blocks of a little arithmetic each; in
 * mode 1 the helpers' blocks throw. Evaluated on its own in the workers: uses nothing from outside.
 */
const runBlock: RunBlock<object> = (_exports, job, block, thread) => {
  if (block >= job[2]) return false;
  if (thread > 0 && job[1] === 1) throw new Error('a helper block failed');
  // some work, so that every thread gets blocks
  let x = 0;
  for (let i = 0; i < 20000; i++) x += Math.sqrt(i + block);
  return x >= 0;
};

const names = { work: 'test jobs', off: 'set TEST_THREADS=0' };

async function pool(count: number): Promise<WorkerPool> {
  const module = new WebAssembly.Module(decodeBase64(MASK_ROWS_SHARED));
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
  const p = await startWorkerPool(count, module, memory, runBlock, names, () => {});
  assert.ok(p, 'the pool did not start');
  return p!;
}

function job(p: WorkerPool, mode: number, blocks: number): void {
  p.job[1] = mode;
  p.job[2] = blocks;
}

/** A plain job with the calling thread out: the helper runs all its 400 blocks. */
function nextJobRunsWhole(p: WorkerPool): void {
  const before = p.blocksRun();
  job(p, 0, 400);
  p.run(null);
  assert.is(p.blocksRun() - before, 400, 'blocks of the next job the helper ran');
}

test('a helper\'s block throws: the job throws a clear error after every thread is done; the helper runs the next job', async () => {
  const p = await pool(1);
  try {
    // The calling thread stays out (null), so the helper claims the blocks.
    job(p, 1, 400);
    assert.throws(
      () => p.run(null),
      (e: Error) => /test jobs: a helper thread failed/.test(e.message) && /TEST_THREADS=0/.test(e.message),
    );
    assert.throws(() => p.run(null), /a helper thread failed/, 'a second failing job');
    nextJobRunsWhole(p);
  } finally {
    p.stop();
  }
});

test('the calling thread\'s block throws: its error is thrown, once the helpers are done', async () => {
  const p = await pool(1);
  try {
    job(p, 0, 400);
    let calls = 0;
    const error = new Error('the caller failed');
    assert.throws(() =>
      p.run(() => {
        if (++calls === 3) throw error;
        return true;
      }),
    (e: Error) => e === error);
    // The helper finished the job before run returned: the counter is past the last block,
    // and a new job runs whole.
    assert.ok(p.job[0] >= 400, `blocks claimed: ${p.job[0]}`);
    nextJobRunsWhole(p);
  } finally {
    p.stop();
  }
});

/**
 * Job fields: [next block, id, blocks]: block b of job `id` on thread t writes byte
 * 1 + (id + b) % 255 at REGION + 2 (id * BLOCKS + b) + (t > 0 ? 1 : 0): one byte for the
 * calling thread and one for the helper, so a block run twice shows. Evaluated on its own in
 * the workers: uses nothing from outside.
 */
const REGION = 4096;
const BLOCKS = 3;
const markBlock: RunBlock<{ fill_bytes(out: number, value: number, n: number): void }> = (exports, job, block, thread) => {
  if (block >= job[2]) return false;
  const id = job[1];
  exports.fill_bytes(4096 + 2 * (id * 3 + block) + (thread > 0 ? 1 : 0), 1 + ((id + block) % 255), 1);
  return true;
};

test('short jobs back to back: each block runs once, for its job, and nothing after the call returns', async () => {
  const module = new WebAssembly.Module(decodeBase64(MASK_ROWS_SHARED));
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
  const p = await startWorkerPool(1, module, memory, markBlock, names, () => {});
  assert.ok(p, 'the pool did not start');
  const mine = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as { fill_bytes(out: number, value: number, n: number): void };
  const jobs = 6000;
  const bytes = new Uint8Array(memory.buffer, REGION, 2 * jobs * BLOCKS);
  let callerAlone = 0;
  try {
    for (let id = 0; id < jobs; id++) {
      p!.job[1] = id;
      p!.job[2] = BLOCKS;
      p!.run((block) => markBlock(mine, p!.job, block, 0));
      let helperRan = false;
      for (let b = 0; b < BLOCKS; b++) {
        const at = 2 * (id * BLOCKS + b);
        const [caller, helper] = [bytes[at], bytes[at + 1]];
        if ((caller !== 0) === (helper !== 0) || Math.max(caller, helper) !== 1 + ((id + b) % 255)) {
          assert.unreachable(`job ${id} block ${b}: bytes ${caller} (calling thread), ${helper} (helper); one of them should be ${1 + ((id + b) % 255)}`);
        }
        helperRan ||= helper !== 0;
      }
      if (!helperRan) callerAlone++;
      // Cleared: a block of this job that ran after the call returned would write it again.
      bytes.fill(0, 2 * id * BLOCKS, 2 * (id + 1) * BLOCKS);
    }
    // The calling thread took every block of some jobs: the path where a helper that has not
    // entered is closed out rather than waited for.
    assert.ok(callerAlone > 0, 'the helper took part in every job: the close path was not exercised');
    // The helper still runs whole jobs.
    p!.job[1] = 0;
    p!.job[2] = BLOCKS;
    p!.run(null);
    assert.equal([bytes[1], bytes[3], bytes[5]], [1, 2, 3], 'a job the helper ran alone');
    bytes.fill(0, 0, 2 * BLOCKS);
    await new Promise((r) => setTimeout(r, 50));
    const late = bytes.findIndex((v) => v !== 0);
    assert.is(late, -1, late < 0 ? '' : `job ${Math.floor(late / 2 / BLOCKS)} block ${Math.floor(late / 2) % BLOCKS} ran after its call returned`);
  } finally {
    p!.stop();
  }
});

test.run();
