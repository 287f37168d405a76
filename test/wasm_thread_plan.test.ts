/**
 * How Node's wasm threads are shared between tfjs-wasm's pool and the SIMD kernels' helper
 * threads (planWasmThreads in src/backends/wasm_threads_node.ts): with the kernels, tfjs's
 * pool keeps the calling thread only and the other threads are helpers; without them, or
 * with no helpers asked for, tfjs's pool has every thread.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { setWasmKernelsEnabled } from '../src/backends/wasm_kernels.js';
import { planWasmThreads } from '../src/backends/wasm_threads_node.js';

function withGemmThreads<T>(value: string | undefined, f: () => T): T {
  const before = process.env.SAM_TFJS_GEMM_THREADS;
  if (value === undefined) delete process.env.SAM_TFJS_GEMM_THREADS;
  else process.env.SAM_TFJS_GEMM_THREADS = value;
  try {
    return f();
  } finally {
    if (before === undefined) delete process.env.SAM_TFJS_GEMM_THREADS;
    else process.env.SAM_TFJS_GEMM_THREADS = before;
  }
}

test('with the SIMD kernels: tfjs\'s pool on the calling thread, the rest helpers', () => {
  withGemmThreads(undefined, () => {
    assert.equal(planWasmThreads(2), { threads: 2, pool: 1, helpers: 1 });
    assert.equal(planWasmThreads(8), { threads: 8, pool: 1, helpers: 7 });
  });
  withGemmThreads('3', () => assert.equal(planWasmThreads(2), { threads: 2, pool: 1, helpers: 3 }));
});

test('no helpers asked for, one thread, or the kernels off: tfjs\'s pool has every thread', () => {
  withGemmThreads('0', () => assert.equal(planWasmThreads(4), { threads: 4, pool: 4, helpers: 0 }));
  withGemmThreads(undefined, () => assert.equal(planWasmThreads(1), { threads: 1, pool: 1, helpers: 0 }));
  setWasmKernelsEnabled(false);
  try {
    withGemmThreads(undefined, () => assert.equal(planWasmThreads(2), { threads: 2, pool: 2, helpers: 0 }));
  } finally {
    setWasmKernelsEnabled(true);
  }
});

test.run();
