/**
 * The SIMD matMul kernel (SamMatMul / SamPackB in src/backends/wasm_kernels.ts,
 * gemm_packed / pack_b / pack_bt in wasm_simd/kernels.wat) and its helper threads
 * (src/backends/gemm_workers_node.ts):
 * - on a bare memory, against in-order float32 sums computed here: every row remainder,
 *   row ranges and row blocks that are not multiples of the tile, with and without bias,
 *   packing from B and from Bᵀ, nothing written past an output;
 * - through tfjs on the wasm backend: bit for bit tfjs-wasm's own (fused) matMul, with the
 *   rows split over helper threads too (and every block run by the helpers when the calling
 *   thread stays out); used by Linear with its packed kernel kept and
 *   refreshed; leak-free; clear errors for shapes it cannot take.
 */
import * as tf from '@tensorflow/tfjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  batchMatMulKernel,
  gemmHelperBlocks,
  gemmHelperThreads,
  matMulPackedGroupsKernel,
  matMulPackedKernel,
  packMatMulRhsKernel,
  setGemmCallerJoins,
  setWasmKernelsEnabled,
} from '../src/backends/wasm_kernels.js';
import { startWasmGemmHelpers } from '../src/backends/wasm_threads_node.js';
import { Linear } from '../src/layers/common/linear.js';
import { Conv2d } from '../src/layers/common/conv2d.js';
import { matMul2d, matMulTransposedB, PACKED_MATMUL_MIN_WORK, packedMatMulPays, setPackedMatMulMinWork } from '../src/layers/common/packed_matmul.js';
import { transposeMatrix } from '../src/layers/tensor_utils.js';
import { useBackend } from './helpers/backends.js';
import { bareKernels, SENTINEL } from './helpers/bare_kernels.js';
import { sameBits } from './helpers/compare.js';
import { inOrderSums } from './helpers/fma.js';
import { signedRandoms } from './helpers/random.js';

interface GemmExports {
  gemm_packed(a: number, bp: number, bias: number, hasBias: number, c: number, i0: number, i1: number, n: number, k: number, mc: number, scratch: number, gw: number, slab: number): void;
  pack_b(b: number, out: number, k: number, n: number): void;
  pack_bt(bt: number, out: number, k: number, n: number): void;
}

/** C = bias + A B, each output its k products added in order in float32 (the kernel's and XNNPACK's order). */
const inOrder = (a: Float32Array, b: Float32Array, bias: Float32Array | null, m: number, k: number, n: number) => inOrderSums(a, b, bias, m, k, n, false);

for (const shared of [true, false]) {
  const bare = suite(`SIMD matMul on a bare ${shared ? 'shared' : 'plain'} memory`);

  bare('gemm_packed: the in-order float32 sums for every row remainder, with and without bias, B packed from B and from Bᵀ, rows packed in tiles of 6 and not', () => {
    const { k, alloc } = bareKernels<GemmExports>(shared);
    // Rows: 6-row tiles (packed) then a 4-row panel and single rows; k with and without a
    // remainder of the packing's 4-column steps.
    for (const [m, kk, n] of [[1, 1, 8], [3, 5, 8], [4, 7, 16], [5, 16, 24], [6, 3, 8], [7, 33, 8], [10, 6, 16], [11, 9, 8], [13, 64, 40], [70, 9, 16]]) {
      const a = signedRandoms(m * kk, m * 100 + kk);
      const b = signedRandoms(kk * n, n * 7 + kk);
      const bias = signedRandoms(n, m + n);
      const bt = new Float32Array(n * kk);
      for (let p = 0; p < kk; p++) for (let j = 0; j < n; j++) bt[j * kk + p] = b[p * n + j];
      const [aa, ba, bta, biasa] = [alloc(a), alloc(b), alloc(bt), alloc(bias)];
      const packed = alloc(kk * n);
      const packedT = alloc(kk * n);
      k.pack_b(ba.offset, packed.offset, kk, n);
      k.pack_bt(bta.offset, packedT.offset, kk, n);
      assert.ok(sameBits(packed.values(), packedT.values()), `[${kk}, ${n}]: packing from Bᵀ differs from packing from B`);
      assert.ok(packed.guardIntact() && packedT.guardIntact(), `[${kk}, ${n}]: packing wrote past its output`);
      for (const withBias of [false, true]) {
        for (const withScratch of [false, true]) {
          const scratch = alloc(60 * kk);
          const c = alloc(m * n);
          k.gemm_packed(aa.offset, packed.offset, biasa.offset, withBias ? 1 : 0, c.offset, 0, m, n, kk, 60, withScratch ? scratch.offset : 0, n, 0);
          const want = inOrder(a, b, withBias ? bias : null, m, kk, n);
          const what = `[${m}, ${kk}] x [${kk}, ${n}]${withBias ? ' + bias' : ''}${withScratch ? ', rows packed' : ''}`;
          assert.ok(sameBits(c.values(), want), `${what}: not the in-order sums`);
          assert.ok(c.guardIntact(), `${what}: wrote past C`);
          assert.ok(scratch.guardIntact(), `${what}: wrote past the scratch (${m >= 6 ? 'tiles of 6 rows' : 'no tile'})`);
        }
      }
    }
  });

  bare('gemm_packed: a range of rows writes those rows only, for row blocks that are not multiples of 4 or 6, rows packed and not', () => {
    const { k, alloc } = bareKernels<GemmExports>(shared);
    const [m, kk, n] = [23, 12, 16];
    const a = signedRandoms(m * kk, 5);
    const b = signedRandoms(kk * n, 6);
    const [aa, ba] = [alloc(a), alloc(b)];
    const packed = alloc(kk * n);
    k.pack_b(ba.offset, packed.offset, kk, n);
    const want = inOrder(a, b, null, m, kk, n);
    for (const [i0, i1, mc] of [[0, 23, 5], [4, 17, 3], [8, 9, 64], [20, 23, 1], [3, 3, 4], [1, 23, 13], [2, 22, 12], [0, 23, 7]]) {
      for (const withScratch of [false, true]) {
        const scratch = alloc(mc * kk);
        const c = alloc(m * n);
        k.gemm_packed(aa.offset, packed.offset, 0, 0, c.offset, i0, i1, n, kk, mc, withScratch ? scratch.offset : 0, n, 0);
        const got = c.values();
        const what = `rows [${i0}, ${i1}) in blocks of ${mc}${withScratch ? ', packed' : ''}`;
        for (let i = 0; i < m; i++) {
          const row = got.subarray(i * n, (i + 1) * n);
          if (i >= i0 && i < i1) assert.ok(sameBits(row, want.subarray(i * n, (i + 1) * n)), `${what}: row ${i} is wrong`);
          else assert.ok(row.every((v) => v === SENTINEL), `${what}: row ${i} was written`);
        }
        assert.ok(c.guardIntact(), `${what}: wrote past C`);
        assert.ok(scratch.guardIntact(), `${what}: wrote past the scratch`);
      }
    }
  });

  bare('gemm_packed: columns stored in groups (each group a [m, gw] matrix, slab bytes apart) hold the in-order sums of their columns, for row ranges and blocks, rows packed and not', () => {
    const { k, alloc } = bareKernels<GemmExports>(shared);
    for (const [m, kk, n, gw] of [[13, 9, 48, 8], [23, 12, 48, 16], [7, 5, 24, 24], [70, 33, 64, 32]]) {
      const a = signedRandoms(m * kk, m + kk);
      const b = signedRandoms(kk * n, n + gw);
      const bias = signedRandoms(n, m * n);
      const [aa, ba, biasa] = [alloc(a), alloc(b), alloc(bias)];
      const packed = alloc(kk * n);
      k.pack_b(ba.offset, packed.offset, kk, n);
      const want = inOrder(a, b, bias, m, kk, n);
      const groups = n / gw;
      for (const [i0, i1, mc] of [[0, m, 60], [1, m - 1, 6], [2, m, 5]]) {
        for (const withScratch of [false, true]) {
          const scratch = alloc(mc * kk);
          const c = alloc(m * n);
          k.gemm_packed(aa.offset, packed.offset, biasa.offset, 1, c.offset, i0, i1, n, kk, mc, withScratch ? scratch.offset : 0, gw, m * gw * 4);
          const got = c.values();
          const what = `[${m}, ${kk}] x [${kk}, ${n}] in groups of ${gw}, rows [${i0}, ${i1}) in blocks of ${mc}${withScratch ? ', packed' : ''}`;
          for (let g = 0; g < groups; g++) {
            for (let i = 0; i < m; i++) {
              const row = got.subarray((g * m + i) * gw, (g * m + i + 1) * gw);
              if (i >= i0 && i < i1) assert.ok(sameBits(row, want.subarray(i * n + g * gw, i * n + (g + 1) * gw)), `${what}: group ${g}, row ${i} is wrong`);
              else assert.ok(row.every((v) => v === SENTINEL), `${what}: group ${g}, row ${i} was written`);
            }
          }
          assert.ok(c.guardIntact(), `${what}: wrote past C`);
          assert.ok(scratch.guardIntact(), `${what}: wrote past the scratch`);
        }
      }
    }
  });

  bare.run();
}

const viaTfjs = suite('SIMD matMul through tfjs-wasm');

viaTfjs.before(async () => {
  await useBackend('wasm');
  // Helper threads start with the threaded backend on machines of 2+ cores; make sure of one here.
  await startWasmGemmHelpers(Math.max(1, gemmHelperThreads()));
});

viaTfjs.after(() => setWasmKernelsEnabled(true));

viaTfjs('bit for bit tfjs-wasm\'s matMul and fused matMul, split over the helper threads and not', () => {
  assert.ok(gemmHelperThreads() >= 1, 'no helper thread started');
  // The last two products are large enough (m k n >= 2^21) to be split between threads.
  for (const [m, kk, n] of [[1, 3, 8], [7, 256, 56], [33, 17, 64], [300, 40, 200], [1024, 96, 64]]) {
    const start = tf.memory().numTensors;
    tf.tidy(() => {
      const a = tf.randomNormal([m, kk], 0, 1, 'float32', m) as tf.Tensor2D;
      const b = tf.randomNormal([kk, n], 0, 1, 'float32', n) as tf.Tensor2D;
      const bias = tf.randomNormal([n], 0, 1, 'float32', kk) as tf.Tensor1D;
      const packed = packMatMulRhsKernel(b);
      const packedT = packMatMulRhsKernel(transposeMatrix(b), true);
      const shape = `[${m}, ${kk}] x [${kk}, ${n}]`;
      assert.ok(sameBits(matMulPackedKernel(a, packed).dataSync() as Float32Array, tf.matMul(a, b).dataSync() as Float32Array), `${shape}: differs from tf.matMul`);
      assert.ok(sameBits(matMulPackedKernel(a, packedT).dataSync() as Float32Array, tf.matMul(a, b).dataSync() as Float32Array), `${shape}: packed from Bᵀ, differs from tf.matMul`);
      const fused = tf.fused.matMul({ a, b, bias }).dataSync() as Float32Array;
      assert.ok(sameBits(matMulPackedKernel(a, packed, bias).dataSync() as Float32Array, fused), `${shape} + bias: differs from tf.fused.matMul`);
      const expected = inOrder(a.dataSync() as Float32Array, b.dataSync() as Float32Array, bias.dataSync() as Float32Array, m, kk, n);
      assert.ok(sameBits(fused, expected), `${shape}: tfjs-wasm's fused matMul is not the in-order sums (the premise of bitwise equality)`);
    });
    assert.is(tf.memory().numTensors, start, 'tensors leaked');
  }
});

viaTfjs('grouped columns ([groups, m, n / groups]): group g is columns [g n / groups, (g + 1) n / groups) of the product, bit for bit, split over the helper threads and not, with and without bias', () => {
  assert.ok(gemmHelperThreads() >= 1, 'no helper thread started');
  // The last two are large enough to be split between threads; the last the shape of ViT-B's qkv at 1/8 of the tokens.
  for (const [m, kk, n, groups] of [[5, 7, 48, 3], [33, 17, 64, 8], [300, 40, 192, 12], [512, 768, 2304, 36]]) {
    const start = tf.memory().numTensors;
    tf.tidy(() => {
      const a = tf.randomNormal([m, kk], 0, 1, 'float32', m + 2) as tf.Tensor2D;
      const b = tf.randomNormal([kk, n], 0, 1, 'float32', n + 2) as tf.Tensor2D;
      const bias = tf.randomNormal([n], 0, 1, 'float32', kk + 2) as tf.Tensor1D;
      const packed = packMatMulRhsKernel(b);
      for (const withBias of [false, true]) {
        const whole = (withBias ? tf.fused.matMul({ a, b, bias }) : tf.matMul(a, b)) as tf.Tensor2D;
        const grouped = matMulPackedGroupsKernel(a, packed, groups, withBias ? bias : undefined);
        const gw = n / groups;
        assert.equal(grouped.shape, [groups, m, gw]);
        const want = whole.reshape([m, groups, gw]).transpose([1, 0, 2]);
        assert.ok(sameBits(grouped.dataSync() as Float32Array, want.dataSync() as Float32Array), `[${m}, ${kk}] x [${kk}, ${n}] in ${groups} groups${withBias ? ' + bias' : ''}: not the product's columns`);
      }
    });
    assert.is(tf.memory().numTensors, start, 'tensors leaked');
  }
});

viaTfjs('the helper threads claim blocks of 60 rows (up to 120 rows, a block per thread): with the calling thread out, they run every block, bit for bit', () => {
  assert.ok(gemmHelperThreads() >= 1, 'no helper thread started');
  const threads = gemmHelperThreads() + 1;
  // Rows per block: 60, or for up to 120 rows whole tiles shared out one block per thread
  // (this process runs unfused: tiles of 4 rows).
  const rowsPerBlock = (m: number) => (m <= 120 ? Math.min(60, Math.ceil(m / threads / 4) * 4) : 60);
  setGemmCallerJoins(false);
  try {
    // 300 rows: 5 blocks of 60; 1029 rows: 17 blocks and one of 9 (this process runs unfused: tiles of 4, 4 + 4 + 1);
    // 56 rows (the decoder's probabilities times the image) and 100 rows: a block per thread.
    for (const [m, kk, n] of [[300, 40, 200], [1029, 96, 64], [56, 512, 80], [100, 64, 400]]) {
      const start = tf.memory().numTensors;
      const blocksBefore = gemmHelperBlocks();
      tf.tidy(() => {
        const a = tf.randomNormal([m, kk], 0, 1, 'float32', m + 1) as tf.Tensor2D;
        const b = tf.randomNormal([kk, n], 0, 1, 'float32', n + 1) as tf.Tensor2D;
        const bias = tf.randomNormal([n], 0, 1, 'float32', kk + 1) as tf.Tensor1D;
        const mine = matMulPackedKernel(a, packMatMulRhsKernel(b), bias).dataSync() as Float32Array;
        assert.ok(sameBits(mine, tf.fused.matMul({ a, b, bias }).dataSync() as Float32Array), `[${m}, ${kk}] x [${kk}, ${n}]: differs from tf.fused.matMul`);
      });
      assert.is(gemmHelperBlocks() - blocksBefore, Math.ceil(m / rowsPerBlock(m)), `[${m}, ${kk}] x [${kk}, ${n}]: blocks run by the helpers`);
      assert.is(tf.memory().numTensors, start, 'tensors leaked');
    }
  } finally {
    setGemmCallerJoins(true);
  }
});

viaTfjs('SamBatchMatMul: the helper threads claim its products one at a time; with the calling thread out they run all 25, bit for bit', () => {
  // 25 products of [49, 64] x [64, 49] (a row and a column left over from the tiles), 3.8M
  // multiply-adds: over the size that splits (2^21).
  const [batch, m, kk, n] = [25, 49, 64, 49];
  const start = tf.memory().numTensors;
  const a = tf.randomNormal([batch, m, kk], 0, 1, 'float32', 11) as tf.Tensor3D;
  const b = tf.randomNormal([batch, kk, n], 0, 1, 'float32', 12) as tf.Tensor3D;
  const [av, bv] = [a.dataSync() as Float32Array, b.dataSync() as Float32Array];
  const expected = new Float32Array(batch * m * n);
  for (let i = 0; i < batch; i++) expected.set(inOrder(av.subarray(i * m * kk, (i + 1) * m * kk), bv.subarray(i * kk * n, (i + 1) * kk * n), null, m, kk, n), i * m * n);
  for (const joins of [true, false]) {
    setGemmCallerJoins(joins);
    const before = gemmHelperBlocks();
    try {
      const c = batchMatMulKernel(a, b);
      assert.ok(sameBits(c.dataSync() as Float32Array, expected), `${joins ? '' : 'helpers only: '}differs from the in-order sums`);
      c.dispose();
    } finally {
      setGemmCallerJoins(true);
    }
    if (!joins) assert.is(gemmHelperBlocks() - before, batch, 'products run by the helpers');
  }
  tf.dispose([a, b]);
  assert.is(tf.memory().numTensors, start, 'tensors leaked');
});

viaTfjs('matMul2d and matMulTransposedB take the kernel for large products only, with the same values as without it', () => {
  const a = tf.randomNormal([2048, 256], 0, 1, 'float32', 1) as tf.Tensor2D; // 2048 x 256 x 512 > PACKED_MATMUL_MIN_WORK
  const b = tf.randomNormal([256, 512], 0, 1, 'float32', 2) as tf.Tensor2D;
  const bT = transposeMatrix(b);
  assert.ok(packedMatMulPays(2048, 256, 512) && !packedMatMulPays(8, 256, 512), `the size gate (${PACKED_MATMUL_MIN_WORK}) is not where this test expects it`);
  const kernelsOf = async (f: () => tf.Tensor) => (await tf.profile(() => f())).kernelNames;
  return (async () => {
    assert.ok((await kernelsOf(() => matMul2d(a, b))).includes('SamMatMul'), 'matMul2d did not use the kernel');
    assert.ok((await kernelsOf(() => matMulTransposedB(a, bT, transposeMatrix))).includes('SamMatMul'), 'matMulTransposedB did not use the kernel');
    assert.not.ok((await kernelsOf(() => matMul2d(a.slice([0, 0], [8, 256]) as tf.Tensor2D, b))).includes('SamMatMul'), 'a small product used the kernel');
    const on = [matMul2d(a, b), matMulTransposedB(a, bT, transposeMatrix)];
    setWasmKernelsEnabled(false);
    const off = [matMul2d(a, b), matMulTransposedB(a, bT, transposeMatrix)];
    assert.not.ok((await kernelsOf(() => matMul2d(a, b))).includes('SamMatMul'), 'switched off, still used');
    setWasmKernelsEnabled(true);
    assert.ok(sameBits(on[0].dataSync() as Float32Array, off[0].dataSync() as Float32Array) && sameBits(on[1].dataSync() as Float32Array, off[1].dataSync() as Float32Array), 'values differ from the tfjs path');
    tf.dispose([a, b, bT, ...on, ...off]);
  })();
});

viaTfjs('Linear keeps its packed kernel, refreshes it when the weights change, frees it on dispose', async () => {
  const start = tf.memory().numTensors;
  const layer = new Linear({ inFeatures: 256, outFeatures: 512 });
  const x = tf.randomNormal([2048, 256], 0, 1, 'float32', 3);
  const reference = () => {
    setWasmKernelsEnabled(false);
    const y = layer.apply(x) as tf.Tensor;
    setWasmKernelsEnabled(true);
    return y;
  };
  const [w, bias] = [tf.randomNormal([256, 512], 0, 1, 'float32', 4), tf.randomNormal([512], 0, 1, 'float32', 5)];
  (layer.apply(x) as tf.Tensor).dispose(); // builds it (zero weights)
  layer.setWeights([w, bias]);
  const y1 = layer.apply(x) as tf.Tensor;
  const afterFirst = tf.memory().numTensors;
  const y2 = layer.apply(x) as tf.Tensor;
  assert.is(tf.memory().numTensors, afterFirst + 1, 'a second call made more than its output (the packed kernel is not kept)');
  const profiled = await tf.profile(() => layer.apply(x) as tf.Tensor);
  assert.ok(profiled.kernelNames.includes('SamMatMul'), `Linear did not use the kernel (kernels: ${profiled.kernelNames.join(', ')})`);
  tf.dispose(profiled.result as tf.Tensor);
  const r1 = reference();
  assert.ok(sameBits(y1.dataSync() as Float32Array, r1.dataSync() as Float32Array) && sameBits(y2.dataSync() as Float32Array, r1.dataSync() as Float32Array), 'differs from tfjs-wasm\'s fused matMul');
  const w2 = tf.mul(w, -0.5);
  layer.setWeights([w2, bias]);
  const y3 = layer.apply(x) as tf.Tensor;
  const r3 = reference();
  assert.ok(sameBits(y3.dataSync() as Float32Array, r3.dataSync() as Float32Array), 'after setWeights, the old packed kernel was used');
  tf.dispose([y1, y2, y3, r1, r3, w, bias, w2, x]);
  layer.dispose();
  assert.is(tf.memory().numTensors, start, 'tensors left after dispose (the packed kernel?)');
});

viaTfjs('Conv2d as one matMul (1 x 1, k x k with stride k, k x k with stride 1 and same padding): the values of tf.conv2d, the kernel packed once and freed on dispose', async () => {
  const start = tf.memory().numTensors;
  setPackedMatMulMinWork(0); // the shapes here are small: send them through the kernel
  try {
    for (const [config, shape, matMulForm] of [
      [{ inChannels: 3, outChannels: 16, kernelSize: 4, stride: 4 }, [2, 12, 20, 3], true], // patch embedding form
      [{ inChannels: 24, outChannels: 8, kernelSize: 1, bias: false }, [1, 5, 7, 24], true], // the neck's 1 x 1
      [{ inChannels: 3, outChannels: 16, kernelSize: 4, stride: 4 }, [1, 10, 12, 3], false], // 10 % 4: tf.conv2d
      [{ inChannels: 8, outChannels: 16, kernelSize: 3, padding: 1, bias: false }, [1, 6, 7, 8], true], // the neck's 3 x 3
      [{ inChannels: 5, outChannels: 8, kernelSize: 3, padding: 1 }, [2, 4, 5, 5], true], // with bias, a batch
      [{ inChannels: 4, outChannels: 8, kernelSize: 5, padding: 2 }, [1, 6, 6, 4], true], // 5 x 5
      [{ inChannels: 4, outChannels: 8, kernelSize: 3, padding: 0 }, [1, 6, 6, 4], false], // valid: tf.conv2d
    ] as const) {
      const layer = new Conv2d(config);
      const x = tf.randomNormal(shape as unknown as number[], 0, 1, 'float32', 7);
      (layer.apply(x) as tf.Tensor).dispose(); // builds
      const weights = layer.getWeights().map((w, i) => tf.randomNormal(w.shape, 0, 0.3, 'float32', 20 + i));
      layer.setWeights(weights);
      tf.dispose(weights);
      const profiled = await tf.profile(() => layer.apply(x) as tf.Tensor);
      tf.dispose(profiled.result as tf.Tensor);
      const names = profiled.kernelNames;
      assert.is(names.includes('SamMatMul'), matMulForm, `${JSON.stringify(config)} on ${shape}: kernels ${names.join(', ')}`);
      assert.is(names.includes('Conv2D'), !matMulForm);
      const y = layer.apply(x) as tf.Tensor;
      setWasmKernelsEnabled(false);
      const ref = layer.apply(x) as tf.Tensor; // tf.conv2d
      setWasmKernelsEnabled(true);
      assert.equal(y.shape, ref.shape);
      // The same sums in another order (XNNPACK's convolution): float32 rounding of sums of
      // up to 100 terms of size ~0.3-1.
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(y, ref))).dataSync()[0]);
      assert.ok(diff < 1e-5, `${JSON.stringify(config)}: max difference ${diff}`);
      tf.dispose([x, y, ref]);
      layer.dispose();
    }
  } finally {
    setPackedMatMulMinWork(null);
  }
  assert.is(tf.memory().numTensors, start, 'tensors left (the packed kernels?)');
});

viaTfjs('clear errors for shapes the kernel cannot take', () => {
  tf.tidy(() => {
    assert.throws(() => packMatMulRhsKernel(tf.zeros([4, 12]) as tf.Tensor2D), /multiple of 8/);
    const packed = packMatMulRhsKernel(tf.zeros([4, 16]) as tf.Tensor2D);
    assert.throws(() => matMulPackedKernel(tf.zeros([3, 5]) as tf.Tensor2D, packed), /do not make a product/);
    assert.throws(() => matMulPackedKernel(tf.zeros([3, 4]) as tf.Tensor2D, packed, tf.zeros([8]) as tf.Tensor1D), /do not make a product/);
    assert.throws(() => matMulPackedGroupsKernel(tf.zeros([3, 4]) as tf.Tensor2D, packed, 4), /16 columns do not split into 4 groups of a multiple of 8/);
    assert.throws(() => matMulPackedGroupsKernel(tf.zeros([3, 4]) as tf.Tensor2D, packed, 1.5), /do not split into 1.5 groups/);
  });
});

viaTfjs.run();
