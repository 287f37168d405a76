/**
 * The helper threads' pool (src/backends/worker_pool_node.ts), which both the SIMD kernels'
 * and the mask post-processing's helpers use, when something goes wrong:
 * - a helper whose block throws: the job throws an error that names the work and how to
 *   switch the helpers off; the helper survives and runs the next job whole;
 * - the calling thread's own block throws: that error is the one thrown, and the helpers
 *   still finish theirs first (nothing runs on after the call returns).
 * The jobs here are plain JavaScript blocks on a module with a shared memory (the mask
 * rows' module; its exports are not used).
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

test.run();
