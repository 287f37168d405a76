/**
 * Run by test/wasm_fma.test.ts in a process of its own with SAM_TFJS_WASM_FMA=1, so that the
 * wasm backend starts with the fused matMul kernel (relaxed SIMD; in Node 20 the library turns
 * on V8's flag for it). Checks the kernel against fused in-order sums computed in JavaScript,
 * then runs the parity cases with every product the kernel can take sent through it. Prints
 * what it found as one JSON line; the test asserts on it.
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend.js';
import {
  ATTENTION_ROW_BLOCK,
  attentionKernel,
  batchMatMulKernel,
  gemmHelperBlocks,
  gemmHelperThreads,
  geluKernel,
  headScoresKernel,
  headValuesKernel,
  matMulPackedKernel,
  packedRowsScratchBytes,
  packMatMulRhsKernel,
  relaxedMaddFuses,
  relaxedSimdAvailable,
  setGemmCallerJoins,
  softmaxKernel,
  wasmKernelsActive,
  wasmMatMulFused,
} from '../../src/backends/wasm_kernels.js';
import { setPackedMatMulMinWork } from '../../src/layers/common/packed_matmul.js';
import { transposeMatrix } from '../../src/layers/tensor_utils.js';
import { formatResults, runParityCase } from '../../scripts/parity_lib.js';
import { bareKernels } from './bare_kernels.js';
import { sameBits } from './compare.js';
import { inOrderSums } from './fma.js';
import { softmax64 } from './float64_math.js';
import { geluErrors } from './gelu_errors.js';
import { FIXTURES, fixtureCases } from './fixtures.js';

export interface FmaChildReport {
  provider: string;
  relaxedSimd: boolean;
  /** Whether relaxed SIMD's multiply-add fuses on this machine (the kernel's reference is then the fused sums). */
  fuses: boolean;
  /** wasmMatMulFused(): the kernel in use is the fused one, on a machine that fuses. */
  kernelFused: boolean;
  helpers: number;
  /** Products compared with the in-order sums, and the mismatches among them. */
  productsChecked: number;
  productMismatches: string[];
  /** Blocks of rows the helper threads ran while the calling thread stayed out. */
  helperBlocks: number;
  /** Bytes of the matMul's scratch for packed rows after the products (0: nothing was packed). */
  packedRowsScratch: number;
  /** SamAttention against SamMatMul, SamSoftmax and SamMatMul in turn: cases compared, and those that differ. */
  attentionChecked: number;
  attentionMismatches: string[];
  /** Whether some product differs from tfjs-wasm's matMul (as fused sums should). */
  differsFromTfjs: boolean;
  /** Per parity case: stages run, stages out of tolerance, SamMatMul calls. */
  parity: Array<{ caseName: string; stages: number; failed: string; kernelCalls: number; attentionCalls: number }>;
  /** GELU's kernel (the fused variant's) and tfjs's Erf form against float64 GELU: largest error relative to max(1, |GELU|). */
  gelu: { kernelError: number; erfFormError: number; kernelRan: boolean };
  /**
   * SamSoftmax (its exp's polynomial steps fused) and the plain variant's softmax_rows (on a bare
   * memory, the same inputs) against float64 softmax of the same float32 values: largest
   * absolute errors (values <= 1); rows of 5 to 8 values taken 4 at a time (softmax4_short)
   * that differ from the same rows alone (the one-row path).
   */
  softmax: { kernelError: number; plainError: number; rowsChecked: number; shortPathMismatches: string[] };
  leakedTensors: number;
}

tf.env().set('IS_TEST', true);
const choice = await selectBackend('wasm');
const fuses = relaxedMaddFuses();
const report: FmaChildReport = {
  provider: choice.provider,
  relaxedSimd: relaxedSimdAvailable(),
  fuses,
  kernelFused: wasmMatMulFused(),
  helpers: gemmHelperThreads(),
  productsChecked: 0,
  productMismatches: [],
  helperBlocks: 0,
  packedRowsScratch: 0,
  attentionChecked: 0,
  attentionMismatches: [],
  differsFromTfjs: false,
  parity: [],
  gelu: { kernelError: 0, erfFormError: 0, kernelRan: false },
  softmax: { kernelError: 0, plainError: 0, rowsChecked: 0, shortPathMismatches: [] },
  leakedTensors: 0,
};
const start = tf.memory().numTensors;

// SamMatMul: row counts with every remainder of the 6-row tile (the rows the fused kernel
// packs) and of the 4-row one, products under and over the size that splits rows between
// threads (2^21 multiply-adds), the calling thread in and out of the split; then SamBatchMatMul.
for (const callerJoins of [true, false]) {
  setGemmCallerJoins(callerJoins);
  const blocksBefore = gemmHelperBlocks();
  // Packed (n >= 32) with 6-row tiles and 1, 2, 3, 4 and 5 rows left over: 7, 8, 33, 10, 11 rows.
  for (const [m, k, n] of [[1, 3, 8], [7, 256, 56], [8, 20, 32], [10, 33, 40], [11, 7, 32], [33, 17, 64], [300, 40, 200], [1029, 96, 64]]) {
    tf.tidy(() => {
      const a = tf.randomNormal([m, k], 0, 1, 'float32', m) as tf.Tensor2D;
      const b = tf.randomNormal([k, n], 0, 1, 'float32', n) as tf.Tensor2D;
      const bias = tf.randomNormal([n], 0, 1, 'float32', k) as tf.Tensor1D;
      const [av, bv, biasv] = [a, b, bias].map((t) => t.dataSync() as Float32Array);
      const packed = packMatMulRhsKernel(b);
      const packedT = packMatMulRhsKernel(transposeMatrix(b), true);
      const cases: Array<[string, tf.Tensor, Float32Array]> = [
        ['', matMulPackedKernel(a, packed), inOrderSums(av, bv, null, m, k, n, fuses)],
        [' packed from Bᵀ', matMulPackedKernel(a, packedT), inOrderSums(av, bv, null, m, k, n, fuses)],
        [' + bias', matMulPackedKernel(a, packed, bias), inOrderSums(av, bv, biasv, m, k, n, fuses)],
      ];
      for (const [what, got, want] of cases) {
        report.productsChecked++;
        if (!sameBits(got.dataSync() as Float32Array, want)) report.productMismatches.push(`[${m}, ${k}] x [${k}, ${n}]${what}${callerJoins ? '' : ', helpers only'}`);
      }
      if (!sameBits(cases[0][1].dataSync() as Float32Array, tf.matMul(a, b).dataSync() as Float32Array)) report.differsFromTfjs = true;
    });
  }
  // SamBatchMatMul: 25 products (split over the threads) and 3 (not), rows and columns left
  // over from its 4 x 8 and 4 x 4 tiles.
  for (const [batch, m, k, n] of [[25, 49, 64, 49], [3, 6, 20, 13]]) {
    tf.tidy(() => {
      const a = tf.randomNormal([batch, m, k], 0, 1, 'float32', 21) as tf.Tensor3D;
      const b = tf.randomNormal([batch, k, n], 0, 1, 'float32', 22) as tf.Tensor3D;
      const [av, bv] = [a, b].map((t) => t.dataSync() as Float32Array);
      const want = new Float32Array(batch * m * n);
      for (let i = 0; i < batch; i++) want.set(inOrderSums(av.subarray(i * m * k, (i + 1) * m * k), bv.subarray(i * k * n, (i + 1) * k * n), null, m, k, n, fuses), i * m * n);
      report.productsChecked++;
      if (!sameBits(batchMatMulKernel(a, b).dataSync() as Float32Array, want)) report.productMismatches.push(`batch of ${batch} [${m}, ${k}] x [${k}, ${n}]${callerJoins ? '' : ', helpers only'}`);
    });
  }
  // SamHeadScores: each head's sums as the in-order sums with the block-diagonal matrix
  // (whose zero products change nothing); the decoder's size (split over the threads) and an
  // odd one. SamHeadValues: each head's block of the in-order sums.
  for (const [rows, heads, hd, n] of [[4096, 8, 16, 7], [77, 3, 5, 9]]) {
    tf.tidy(() => {
      const d = heads * hd;
      const a = tf.randomNormal([rows, d], 0, 1, 'float32', rows) as tf.Tensor2D;
      const t = tf.randomNormal([n, d], 0, 1, 'float32', n) as tf.Tensor2D;
      const [av, tv] = [a, t].map((x) => x.dataSync() as Float32Array);
      const blocks = new Float32Array(d * heads * n); // [d, heads n]: column h n + c holds t[c]'s head-h values
      for (let h = 0; h < heads; h++) for (let c = 0; c < n; c++) for (let j = 0; j < hd; j++) blocks[(h * hd + j) * heads * n + h * n + c] = tv[c * d + h * hd + j];
      report.productsChecked++;
      if (!sameBits(headScoresKernel(a, t, heads).dataSync() as Float32Array, inOrderSums(av, blocks, null, rows, d, heads * n, fuses))) {
        report.productMismatches.push(`head scores [${rows}, ${d}] x [${n}, ${d}], ${heads} heads${callerJoins ? '' : ', helpers only'}`);
      }
    });
  }
  tf.tidy(() => {
    const [heads, n, k, hd] = [8, 7, 300, 16];
    const a = tf.randomNormal([heads * n, k], 0, 1, 'float32', 41) as tf.Tensor2D;
    const b = tf.randomNormal([k, heads * hd], 0, 1, 'float32', 42) as tf.Tensor2D;
    const all = inOrderSums(a.dataSync() as Float32Array, b.dataSync() as Float32Array, null, heads * n, k, heads * hd, fuses);
    const want = new Float32Array(heads * n * hd);
    for (let h = 0; h < heads; h++) for (let c = 0; c < n; c++) for (let j = 0; j < hd; j++) want[(h * n + c) * hd + j] = all[(h * n + c) * heads * hd + h * hd + j];
    report.productsChecked++;
    if (!sameBits(headValuesKernel(a, packMatMulRhsKernel(b), heads).dataSync() as Float32Array, want)) report.productMismatches.push(`head values${callerJoins ? '' : ', helpers only'}`);
  });
  if (!callerJoins) report.helperBlocks = gemmHelperBlocks() - blocksBefore;
}
setGemmCallerJoins(true);
report.packedRowsScratch = packedRowsScratchBytes();

// SamAttention: its two products with the rows of A packed (32 or more columns) and not, on
// the calling thread alone (one block) and split, the calling thread in and out.
for (const [nq, kh, kw, d] of [[ATTENTION_ROW_BLOCK, 4, 6, 8], [5 * ATTENTION_ROW_BLOCK + 7, 8, 8, 32], [70, 7, 8, 40]]) {
  tf.tidy(() => {
    const nk = kh * kw;
    const q = tf.randomNormal([nq, d], 0, 1, 'float32', nq) as tf.Tensor2D;
    const k = tf.randomNormal([nk, d], 0, 1, 'float32', nk) as tf.Tensor2D;
    const v = tf.randomNormal([nk, d], 0, 1, 'float32', d) as tf.Tensor2D;
    const rel = { relH: tf.randomNormal([nq, kh], 0, 1, 'float32', 3) as tf.Tensor2D, relW: tf.randomNormal([nq, kw], 0, 1, 'float32', 4) as tf.Tensor2D };
    const [kp, vp] = [packMatMulRhsKernel(k, true), packMatMulRhsKernel(v)];
    const want = matMulPackedKernel(softmaxKernel(matMulPackedKernel(q, kp), rel) as tf.Tensor2D, vp).dataSync() as Float32Array;
    for (const callerJoins of [true, false]) {
      setGemmCallerJoins(callerJoins);
      report.attentionChecked++;
      if (!sameBits(attentionKernel(q, kp, vp, rel).dataSync() as Float32Array, want)) report.attentionMismatches.push(`[${nq}, ${d}] over ${kh} x ${kw} keys${callerJoins ? '' : ', helpers only'}`);
    }
    setGemmCallerJoins(true);
  });
}

// GELU with its polynomial steps fused, on the inputs test/activations.test.ts checks the
// plain variant on.
{
  const { erfForm, fused } = geluErrors({ fused: geluKernel });
  report.gelu = { kernelError: fused, erfFormError: erfForm, kernelRan: wasmKernelsActive() };
}

// Softmax with its exp's polynomial steps fused: with the relative-position terms (kh x kw
// keys, as the encoder's windows and global heads) and without (every remainder of 4 values,
// and the decoder's rows of 5 to 8 values, which go 4 rows at a time). The yardstick is the
// plain variant on the same inputs (tf.softmax on this backend is the same kernel).
const plainKernels = bareKernels<{ softmax_rows(x: number, h: number, w: number, out: number, rows: number, kh: number, kw: number, rel: number): void }>(false);
for (const [rows, kh, kw] of [[9, 14, 14], [6, 64, 64], [40, 1, 7], [13, 1, 5], [8, 1, 8], [7, 1, 6], [5, 1, 4099]]) {
  tf.tidy(() => {
    const n = kh * kw;
    const x = tf.randomNormal([rows, n], 0, 4, 'float32', n) as tf.Tensor2D;
    const rel = kh > 1 ? { relH: tf.randomNormal([rows, kh], 0, 3, 'float32', 5) as tf.Tensor2D, relW: tf.randomNormal([rows, kw], 0, 3, 'float32', 6) as tf.Tensor2D } : undefined;
    // the values the kernel takes the softmax of, summed in float32 as it sums them: (x + h) + w
    const summed = rel ? tf.add(tf.add(tf.reshape(x, [rows, kh, kw]), tf.reshape(rel.relH, [rows, kh, 1])), tf.reshape(rel.relW, [rows, 1, kw])).reshape([rows, n]) : x;
    const v = summed.dataSync() as Float32Array;
    const got = softmaxKernel(x, rel).dataSync() as Float32Array;
    plainKernels.reset();
    const [xa, ha, wa, out] = [plainKernels.alloc(x.dataSync()), plainKernels.alloc(rel ? rel.relH.dataSync() : 0), plainKernels.alloc(rel ? rel.relW.dataSync() : 0), plainKernels.alloc(rows * n)];
    plainKernels.k.softmax_rows(xa.offset, ha.offset, wa.offset, out.offset, rows, kh, kw, rel ? 1 : 0);
    const plain = out.values();
    for (let r = 0; r < rows; r++) {
      const want64 = softmax64(v.subarray(r * n, (r + 1) * n));
      for (let j = 0; j < n; j++) {
        const want = want64[j];
        report.softmax.kernelError = Math.max(report.softmax.kernelError, Math.abs(got[r * n + j] - want));
        report.softmax.plainError = Math.max(report.softmax.plainError, Math.abs(plain[r * n + j] - want));
      }
      report.softmax.rowsChecked++;
      if (!rel && n >= 5 && n <= 8 && r < rows - (rows % 4)) {
        const alone = softmaxKernel(tf.slice(x, [r, 0], [1, n])).dataSync() as Float32Array;
        if (!sameBits(alone, got.subarray(r * n, (r + 1) * n))) report.softmax.shortPathMismatches.push(`row ${r} of [${rows}, ${n}]`);
      }
    }
  });
}

setPackedMatMulMinWork(0);
for (const caseName of fixtureCases()) {
  let results: Awaited<ReturnType<typeof runParityCase>> = [];
  const profile = await tf.profile(async () => {
    results = await runParityCase(FIXTURES, caseName);
  });
  const failed = results.filter((r) => !r.ok);
  report.parity.push({
    caseName,
    stages: results.length,
    failed: failed.length ? formatResults('wasm', failed) : '',
    kernelCalls: profile.kernels.filter((kr) => kr.name === 'SamMatMul').length,
    attentionCalls: profile.kernels.filter((kr) => kr.name === 'SamAttention').length,
  });
}
setPackedMatMulMinWork(null);
report.leakedTensors = tf.memory().numTensors - start;
console.log(JSON.stringify(report));
process.exit(0);
