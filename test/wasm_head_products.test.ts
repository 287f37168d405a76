/**
 * The per-head products of the two-way transformer's folded attention on wasm
 * (SamHeadScores, SamHeadValues in src/backends/wasm_kernels.ts; head_scores in
 * kernels.wat):
 * - head_scores on a bare memory of either kind against in-order float32 sums in plain
 *   JavaScript, bit for bit, for every remainder of the 8-column groups, heads of width 1 to
 *   9 and odd row counts, writing its rows and nothing else;
 * - through tfjs: the values of the block-diagonal products they replace (SamMatMul), bit for
 *   bit, on the calling thread and on the helpers; within the float32 bound of the exact
 *   sums; leak-free; clear errors for shapes that make no heads.
 */
import * as tf from '@tensorflow/tfjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  gemmHelperBlocks,
  gemmHelperThreads,
  headScoresKernel,
  headValuesKernel,
  matMulPackedKernel,
  packMatMulRhsKernel,
  setGemmCallerJoins,
} from '../src/backends/wasm_kernels.js';
import { blockRows, headColumnMask } from '../src/layers/transformer/block_diagonal_heads.js';
import { useBackend } from './helpers/backends.js';
import { bareKernels, SENTINEL } from './helpers/bare_kernels.js';
import { sameBits } from './helpers/compare.js';
import { signedRandoms } from './helpers/random.js';

interface Exports {
  head_scores(a: number, tp: number, out: number, rows: number, d: number, hd: number, heads: number, n: number, np: number): void;
}

/** out[i, h n + c] = sum over j of a[i, h hd + j] t[c, h hd + j], added in order in float32 (no fused multiply-add). */
function headScoresF32(a: Float32Array, t: Float32Array, rows: number, d: number, heads: number, n: number): Float32Array {
  const hd = d / heads;
  const out = new Float32Array(rows * heads * n);
  for (let i = 0; i < rows; i++)
    for (let h = 0; h < heads; h++)
      for (let c = 0; c < n; c++) {
        let s = 0;
        for (let j = 0; j < hd; j++) s = Math.fround(s + Math.fround(a[i * d + h * hd + j] * t[c * d + h * hd + j]));
        out[i * heads * n + h * n + c] = s;
      }
  return out;
}

/** t [n, d] per head in groups of 8 columns, zero-padded to np: [heads, np / 8, hd, 8] (what SamHeadScores lays out). */
function packHeads(t: Float32Array, n: number, d: number, heads: number, np: number): Float32Array {
  const hd = d / heads;
  const tp = new Float32Array(d * np);
  for (let c = 0; c < n; c++) for (let h = 0; h < heads; h++) for (let j = 0; j < hd; j++) tp[((h * (np / 8) + (c >> 3)) * hd + j) * 8 + (c & 7)] = t[c * d + h * hd + j];
  return tp;
}

for (const shared of [false, true]) {
  const bare = suite(`head_scores on a bare ${shared ? 'shared' : 'plain'} memory`);

  bare('every n 1..17, heads of width 1..9, 1..5 rows: in-order float32 sums bit for bit, only its rows written', () => {
    const { k, alloc, reset } = bareKernels<Exports>(shared);
    for (const [heads, hd] of [[1, 1], [1, 4], [2, 3], [3, 5], [2, 2], [2, 8], [1, 9]]) {
      const d = heads * hd;
      for (let n = 1; n <= 17; n++) {
        for (let rows = 1; rows <= 5; rows++) {
          reset();
          const np = Math.ceil(n / 8) * 8;
          const a = signedRandoms(rows * d, 2, 100 + n * 7 + rows);
          const t = signedRandoms(n * d, 2, 200 + n * 5 + rows);
          const ab = alloc(a);
          const tb = alloc(packHeads(t, n, d, heads, np));
          const cols = heads * n;
          // One row of sentinels before the rows the call writes, to see it stays untouched.
          const out = alloc((rows + 1) * cols);
          k.head_scores(ab.offset, tb.offset, out.offset + cols * 4, rows, d, hd, heads, n, np);
          const got = out.values();
          const what = `heads ${heads} x ${hd}, n ${n}, rows ${rows}`;
          assert.ok(got.subarray(0, cols).every((v) => v === SENTINEL), `${what}: wrote before its rows`);
          assert.ok(sameBits(got.subarray(cols), headScoresF32(a, t, rows, d, heads, n)), `${what}: values`);
          assert.ok(out.guardIntact() && ab.guardIntact() && tb.guardIntact(), `${what}: wrote past its rows`);
        }
      }
    }
  });
  bare.run();
}

const onWasm = suite('per-head products through tfjs (wasm backend)');
onWasm.before(() => useBackend('wasm'));

/** The block-diagonal products the kernels replace: x [R, d] x (block rows of t)ᵀ, by SamMatMul. */
const blockDiagonalScores = (x: tf.Tensor2D, t: tf.Tensor2D, heads: number) =>
  tf.tidy(() => {
    const cols = tf.transpose(blockRows(t, headColumnMask(heads, t.shape[1]))) as tf.Tensor2D; // [d, H n]
    const n8 = Math.ceil(cols.shape[1] / 8) * 8;
    const padded = tf.pad(cols, [[0, 0], [0, n8 - cols.shape[1]]]) as tf.Tensor2D;
    return tf.slice(matMulPackedKernel(x, packMatMulRhsKernel(padded)), [0, 0], [-1, cols.shape[1]]) as tf.Tensor2D;
  });

onWasm('SamHeadScores: the block-diagonal product bit for bit (calling thread, helpers), within the float32 bound of the exact sums; leak-free', () => {
  const start = tf.memory().numTensors;
  // SAM's decoder (4096 image tokens, 8 heads of 16, 7 prompt tokens), a weight [256, 128] as
  // the long side, a single row (a bias), and odd sizes.
  for (const [rows, heads, hd, n] of [[4096, 8, 16, 7], [4097, 8, 16, 7], [256, 8, 16, 7], [1, 8, 16, 7], [777, 3, 5, 9], [2000, 2, 8, 1]]) {
    const d = heads * hd;
    const x = tf.randomNormal([rows, d], 0, 1, 'float32', rows + n) as tf.Tensor2D;
    const t = tf.randomNormal([n, d], 0, 1, 'float32', 7 * rows + n) as tf.Tensor2D;
    const expected = blockDiagonalScores(x, t, heads);
    const what = `[${rows}, ${d}] with [${n}, ${d}], ${heads} heads`;
    for (const joins of [true, false]) {
      setGemmCallerJoins(joins);
      const before = gemmHelperBlocks();
      let got: tf.Tensor2D;
      try {
        got = headScoresKernel(x, t, heads);
      } finally {
        setGemmCallerJoins(true);
      }
      assert.equal(got.shape, [rows, heads * n], what);
      assert.ok(sameBits(got.dataSync() as Float32Array, expected.dataSync() as Float32Array), `${what}${joins ? '' : ' (helpers only)'}: differs from the block-diagonal product`);
      if (!joins && rows * heads * n >= 2 ** 16 && gemmHelperThreads() > 0) assert.ok(gemmHelperBlocks() > before, `${what}: the helpers ran no blocks`);
      got.dispose();
    }
    // Against the exact sums: |error| <= gamma_hd * sum |a t| (gamma_k = k u / (1 - k u), u = 2^-24).
    const [xd, td, ed] = [x.dataSync(), t.dataSync(), expected.dataSync()];
    const gamma = (hd * 2 ** -24) / (1 - hd * 2 ** -24);
    let worst = 0;
    for (let i = 0; i < rows; i++)
      for (let h = 0; h < heads; h++)
        for (let c = 0; c < n; c++) {
          let exact = 0;
          let abs = 0;
          for (let j = 0; j < hd; j++) {
            const p = xd[i * d + h * hd + j] * td[c * d + h * hd + j];
            exact += p;
            abs += Math.abs(p);
          }
          worst = Math.max(worst, Math.abs(ed[i * heads * n + h * n + c] - exact) / (gamma * abs || 1));
        }
    assert.ok(worst <= 1, `${what}: error ${worst.toFixed(2)} x the float32 bound`);
    tf.dispose([x, t, expected]);
  }
  assert.is(tf.memory().numTensors, start, 'tensors leaked');
});

onWasm('SamHeadValues: each head block of SamMatMul bit for bit, [heads, n, hd]; leak-free', () => {
  const start = tf.memory().numTensors;
  for (const [heads, n, k, hd] of [[8, 7, 4096, 16], [2, 7, 256, 8], [1, 3, 5, 8], [4, 9, 33, 16]]) {
    const d = heads * hd;
    const a = tf.randomNormal([heads * n, k], 0, 1, 'float32', k + n) as tf.Tensor2D;
    const b = tf.randomNormal([k, d], 0, 1, 'float32', 3 * k + n) as tf.Tensor2D;
    const packed = packMatMulRhsKernel(b);
    // Head h's rows times every column, then only head h's columns kept.
    const expected = tf.tidy(() => tf.sum(tf.mul(matMulPackedKernel(a, packed).reshape([heads, n, d]), headColumnMask(heads, d)), 0).reshape([n, heads, hd]));
    const got = headValuesKernel(a, packed, heads);
    assert.equal(got.shape, [heads, n, hd]);
    const gotByToken = tf.tidy(() => tf.transpose(got, [1, 0, 2]));
    assert.ok(sameBits(gotByToken.dataSync() as Float32Array, expected.dataSync() as Float32Array), `${heads} heads x ${hd}, n ${n}, k ${k}`);
    tf.dispose([a, b, packed, expected, got, gotByToken]);
  }
  assert.is(tf.memory().numTensors, start, 'tensors leaked');
});

onWasm('shapes that make no heads: clear errors, nothing left allocated', () => {
  const start = tf.memory().numTensors;
  tf.tidy(() => {
    assert.throws(() => headScoresKernel(tf.zeros([4, 12]), tf.zeros([3, 8]), 2), /a \[4,12\] and t \[3,8\] with 2 heads do not make every head's scores/);
    assert.throws(() => headScoresKernel(tf.zeros([4, 12]), tf.zeros([3, 12]), 5), /with 5 heads/);
    assert.throws(() => headScoresKernel(tf.zeros([4, 12]), tf.zeros([3, 12]), 0), /with 0 heads/);
    assert.throws(() => headValuesKernel(tf.zeros([14, 5]), tf.zeros([2, 5, 8]), 4), /heads dividing|a multiple of 8/);
    assert.throws(() => headValuesKernel(tf.zeros([15, 5]), tf.zeros([2, 5, 8]), 2), /do not make every head's products/);
    assert.throws(() => headValuesKernel(tf.zeros([14, 6]), tf.zeros([2, 5, 8]), 2), /do not make every head's products/);
    assert.equal(headScoresKernel(tf.zeros([0, 12]), tf.zeros([3, 12]), 2).shape, [0, 6]);
  });
  assert.is(tf.memory().numTensors, start, 'tensors leaked');
});

onWasm.run();
