/**
 * SamAttention (src/backends/wasm_kernels.ts): softmax(q kᵀ + relative positions) v for a
 * block of query rows at a time, its scores kept in the thread's scratch.
 * - bit for bit what SamMatMul, SamSoftmax and SamMatMul give in turn, with and without the
 *   relative-position terms, for row counts that leave a partial block, on the calling
 *   thread alone and split over the helper threads (and every block run by the helpers when
 *   the calling thread stays out); leak-free; clear errors for shapes that do not fit;
 * - the encoder's 2-D attention layout takes it for a global window, with the same values as
 *   without it;
 * - the encoder's Attention takes every head's q, k and v from one grouped SamMatMul, with the
 *   values of the per-head products, windowed and global, its copies of qkv kept or not.
 * This process runs the kernels unfused; test/wasm_fma.test.ts checks it with fused multiply-adds.
 */
import * as tf from '@tensorflow/tfjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ATTENTION_ROW_BLOCK,
  attentionKernel,
  gemmHelperBlocks,
  gemmHelperThreads,
  matMulPackedKernel,
  packMatMulRhsKernel,
  setGemmCallerJoins,
  softmaxKernel,
} from '../src/backends/wasm_kernels.js';
import { startWasmGemmHelpers } from '../src/backends/wasm_threads_node.js';
import { setPackedMatMulMinWork } from '../src/layers/common/packed_matmul.js';
import { Attention } from '../src/layers/image_encoder/attention.js';
import {
  attentionMatmul2d,
  disposeHeadWeights,
  setAttentionKernelEnabled,
  setGroupedQkvEnabled,
  splitHeadWeights,
  type AttentionInputs,
} from '../src/layers/image_encoder/attention_kernels.js';
import { useBackend } from './helpers/backends.js';
import { sameBits } from './helpers/compare.js';

const test = suite('SamAttention on tfjs-wasm');

test.before(async () => {
  await useBackend('wasm');
  await startWasmGemmHelpers(Math.max(1, gemmHelperThreads()));
});

/** The three kernels the attention kernel stands for. */
function threeKernels(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, rel?: { relH: tf.Tensor2D; relW: tf.Tensor2D }): tf.Tensor2D {
  return tf.tidy(() => {
    const scores = matMulPackedKernel(q, packMatMulRhsKernel(k, true));
    return matMulPackedKernel(softmaxKernel(scores, rel) as tf.Tensor2D, packMatMulRhsKernel(v));
  });
}

test('bit for bit SamMatMul, SamSoftmax and SamMatMul in turn; split over the helper threads or not; the helpers alone run every block', () => {
  assert.ok(gemmHelperThreads() >= 1, 'no helper thread started');
  const mb = ATTENTION_ROW_BLOCK;
  // [nq, d] queries, keys kh x kw: one block (calling thread only), blocks and a partial one,
  // fewer keys than queries, head widths of one and several panels.
  for (const [nq, kh, kw, d] of [[mb, 4, 6, 8], [5 * mb + 7, 8, 8, 16], [70, 7, 8, 24], [2 * mb, 2, 12, 8]]) {
    const nk = kh * kw;
    const start = tf.memory().numTensors;
    tf.tidy(() => {
      const q = tf.randomNormal([nq, d], 0, 1, 'float32', nq) as tf.Tensor2D;
      const k = tf.randomNormal([nk, d], 0, 1, 'float32', nk) as tf.Tensor2D;
      const v = tf.randomNormal([nk, d], 0, 1, 'float32', d) as tf.Tensor2D;
      const rel = { relH: tf.randomNormal([nq, kh], 0, 1, 'float32', 3) as tf.Tensor2D, relW: tf.randomNormal([nq, kw], 0, 1, 'float32', 4) as tf.Tensor2D };
      const [kp, vp] = [packMatMulRhsKernel(k, true), packMatMulRhsKernel(v)];
      for (const withRel of [true, false]) {
        const want = threeKernels(q, k, v, withRel ? rel : undefined).dataSync() as Float32Array;
        for (const joins of [true, false]) {
          setGemmCallerJoins(joins);
          const before = gemmHelperBlocks();
          try {
            const got = attentionKernel(q, kp, vp, withRel ? rel : undefined).dataSync() as Float32Array;
            const what = `[${nq}, ${d}] over ${kh} x ${kw} keys${withRel ? ' + rel' : ''}${joins ? '' : ', helpers only'}`;
            assert.ok(sameBits(got, want), `${what}: differs from the three kernels`);
            // One block stays on the calling thread; more go to the helpers.
            if (!joins) assert.is(gemmHelperBlocks() - before, nq > mb ? Math.ceil(nq / mb) : 0, `${what}: blocks run by the helpers`);
          } finally {
            setGemmCallerJoins(true);
          }
        }
      }
    });
    assert.is(tf.memory().numTensors, start, 'tensors leaked');
  }
});

test('clear errors for shapes that do not make one attention', () => {
  tf.tidy(() => {
    const q = tf.zeros([10, 8]) as tf.Tensor2D;
    const kp = packMatMulRhsKernel(tf.zeros([16, 8]) as tf.Tensor2D, true); // 16 keys of width 8
    const vp = packMatMulRhsKernel(tf.zeros([16, 8]) as tf.Tensor2D);
    const rel = { relH: tf.zeros([10, 4]) as tf.Tensor2D, relW: tf.zeros([10, 4]) as tf.Tensor2D };
    assert.ok(attentionKernel(q, kp, vp, rel).shape.join() === '10,8');
    assert.throws(() => attentionKernel(tf.zeros([10, 16]) as tf.Tensor2D, kp, vp), /do not make one attention/); // width
    assert.throws(() => attentionKernel(q, kp, packMatMulRhsKernel(tf.zeros([24, 8]) as tf.Tensor2D)), /do not make one attention/); // 24 values, 16 keys
    assert.throws(() => attentionKernel(q, kp, vp, { relH: tf.zeros([10, 4]) as tf.Tensor2D, relW: tf.zeros([10, 5]) as tf.Tensor2D }), /do not make one attention/); // 4 x 5 != 16
    assert.throws(() => attentionKernel(q, kp, vp, { relH: tf.zeros([9, 4]) as tf.Tensor2D, relW: tf.zeros([9, 4]) as tf.Tensor2D }), /do not make one attention/); // rows
  });
});

test('the encoder\'s 2-D attention takes it for a global window, with the values of the three kernels', async () => {
  const start = tf.memory().numTensors;
  const [h, w, c, numHeads] = [8, 10, 32, 2]; // 80 tokens, heads of width 16
  const hd = c / numHeads;
  const x = tf.randomNormal([1, h, w, c], 0, 1, 'float32', 1) as tf.Tensor4D;
  const kernel = tf.randomNormal([c, 3 * c], 0, 0.3, 'float32', 2) as tf.Tensor2D;
  const bias = tf.randomNormal([3 * c], 0, 0.1, 'float32', 3) as tf.Tensor1D;
  const rel = {
    tableH: tf.randomNormal([2 * h - 1, hd], 0, 0.5, 'float32', 4) as tf.Tensor2D,
    tableW: tf.randomNormal([2 * w - 1, hd], 0, 0.5, 'float32', 5) as tf.Tensor2D,
  };
  const heads = splitHeadWeights(kernel, bias, numHeads);
  setPackedMatMulMinWork(0); // a small window: send its products through the kernels
  try {
    for (const withRel of [true, false]) {
      const inp: AttentionInputs = { x, numHeads, scale: hd ** -0.5, rel: withRel ? rel : null };
      const profiled = await tf.profile(() => attentionMatmul2d(inp, { perHead: heads }));
      const fused = profiled.result as tf.Tensor;
      assert.ok(profiled.kernelNames.includes('SamAttention'), `SamAttention not used (kernels: ${[...new Set(profiled.kernelNames)].join(', ')})`);
      assert.not.ok(profiled.kernelNames.includes('SamSoftmax'), 'a softmax ran besides SamAttention');
      setAttentionKernelEnabled(false);
      const off = await tf.profile(() => attentionMatmul2d(inp, { perHead: heads }));
      setAttentionKernelEnabled(true);
      const three = off.result as tf.Tensor;
      assert.not.ok(off.kernelNames.includes('SamAttention'), 'switched off, still used');
      assert.ok(off.kernelNames.includes('SamSoftmax'), 'the reference path did not run the softmax kernel');
      assert.ok(sameBits(fused.dataSync() as Float32Array, three.dataSync() as Float32Array), `${withRel ? 'with' : 'without'} relative positions: differs from the three kernels`);
      tf.dispose([fused, three]);
    }
  } finally {
    setPackedMatMulMinWork(null);
    setAttentionKernelEnabled(true);
  }
  disposeHeadWeights(heads);
  tf.dispose([x, kernel, bias, rel.tableH, rel.tableW]);
  assert.is(tf.memory().numTensors, start, 'tensors leaked');
});

test('the encoder\'s Attention takes q, k and v of every head from one grouped product, with the per-head products\' values, windowed and global, its qkv copies kept or made per call', async () => {
  const start = tf.memory().numTensors;
  const [h, w, c, numHeads] = [9, 10, 32, 2]; // heads of width 16; windows of 4 leave padding
  const hd = c / numHeads;
  setPackedMatMulMinWork(0); // small products: through the kernels as at full size
  try {
    for (const windowSize of [undefined, 4]) {
      const attn = new Attention({ dim: c, numHeads, qkvBias: true, useRelPos: true, inputSize: windowSize ? [windowSize, windowSize] : [h, w] });
      const x = tf.randomNormal([1, h, w, c], 0, 1, 'float32', 6) as tf.Tensor4D;
      const run = () => (windowSize ? attn.callWindowed(x, windowSize) : (attn.apply(x) as tf.Tensor));
      attn.buildFor([null, ...(windowSize ? [windowSize, windowSize] : [h, w]), c]);
      const weights = attn.getWeights().map((t, i) => tf.randomNormal(t.shape, 0, 0.3, 'float32', 10 + i));
      attn.setWeights(weights);
      tf.dispose(weights);
      const what = windowSize ? `windows of ${windowSize}` : 'global';
      for (const kept of [true, false]) {
        attn.cacheHeadWeights = kept;
        const profiled = await tf.profile(run);
        const grouped = profiled.result as tf.Tensor;
        const groupedProducts = profiled.kernels.filter((k) => k.name === 'SamMatMul' && JSON.stringify(k.outputShapes[0]) === JSON.stringify([3 * numHeads, h * w, hd]));
        assert.is(groupedProducts.length, 1, `${what}: q, k and v not from one grouped product`);
        setGroupedQkvEnabled(false);
        const perHead = run();
        setGroupedQkvEnabled(true);
        assert.ok(sameBits(grouped.dataSync() as Float32Array, perHead.dataSync() as Float32Array), `${what}, copies ${kept ? 'kept' : 'per call'}: differs from the per-head products`);
        tf.dispose([grouped, perHead]);
        run().dispose(); // drops the per-head copies the per-head run kept
        const before = tf.memory().numTensors;
        for (let i = 0; i < 2; i++) run().dispose();
        assert.is(tf.memory().numTensors, before, `${what}, copies ${kept ? 'kept' : 'per call'}: tensors left by repeated calls`);
      }
      attn.dispose();
      x.dispose();
    }
  } finally {
    setPackedMatMulMinWork(null);
    setGroupedQkvEnabled(true);
  }
  assert.is(tf.memory().numTensors, start, 'tensors leaked');
});

test.run();
