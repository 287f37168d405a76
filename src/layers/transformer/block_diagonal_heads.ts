/**
 * Multi-head attention of the two-way transformer with every head in one 2-D matMul, the
 * layout for wasm and cpu (see tensor_utils.ts: their per-head or batched matMuls run far
 * below their 2-D speed, and the decoder's heads are tiny: [4096, 16] x [16, 7]).
 *
 * The side with few rows (the prompt tokens) is laid out block-diagonally, one block per
 * head: row block h of `[H * n, d]` keeps only head h's columns. Then
 *   - scores of every head: one product of the long side with that block matrix;
 *   - outputs of every head: one product of the probabilities with the block matrix of the
 *     values (long keys: each head's rows picked back out by the same column mask).
 * The blocks add exact zeros to the sums, so the values are those of per-head attention up
 * to the order of the float additions. On wasm, headScores computes the products with the
 * block matrix per head instead (the SamHeadScores kernel), without the zeros.
 */
import * as tf from '@tensorflow/tfjs';
import { gemmHelperThreads, headScoresKernel, wasmKernelsActive, wasmThreadsInUse } from '../../backends/wasm_kernels.js';
import { matMul2d } from '../common/packed_matmul.js';
import { transposeMatrix } from '../tensor_utils.js';

/** [H, 1, d] with ones on head h's columns, zeros elsewhere. */
export function headColumnMask(numHeads: number, dim: number): tf.Tensor3D {
  const hd = dim / numHeads;
  const m = new Float32Array(numHeads * dim);
  for (let h = 0; h < numHeads; h++) m.fill(1, h * dim + h * hd, h * dim + (h + 1) * hd);
  return tf.tensor3d(m, [numHeads, 1, dim]);
}

/** x [n, d] -> [H * n, d]: row block h is x with only head h's columns kept. */
export function blockRows(x: tf.Tensor2D, mask: tf.Tensor3D): tf.Tensor2D {
  const [n, d] = x.shape;
  const h = mask.shape[0];
  return tf.mul(x.expandDims(0), mask).reshape([h * n, d]) as tf.Tensor2D;
}

/**
 * Whether headScores runs the SIMD kernel for this short side: float32, on wasm with the
 * kernels, and as many threads for them as tfjs-wasm's pool has (as the SIMD matMul,
 * packed_matmul.ts: in a browser's threaded tfjs-wasm, XNNPACK's block products keep its
 * threads).
 */
export function wasmHeadScores(t: tf.Tensor): boolean {
  return t.dtype === 'float32' && wasmKernelsActive() && gemmHelperThreads() + 1 >= wasmThreadsInUse();
}

/** Whether headValuesKernel runs here for heads of this width (a multiple of 8: whole panels of the packed values). */
export function wasmHeadValues(headDim: number): boolean {
  return headDim % 8 === 0 && wasmKernelsActive();
}

/**
 * x [R, d] times the block rows of t [n, d], transposed: [R, H * n], column block h = x's
 * head-h columns times t's (x_h t_hᵀ). On wasm (wasmHeadScores) one SIMD kernel that skips
 * the block matrix's zeros (8x fewer multiply-adds for SAM's 8 heads; for finite values the
 * same sums in the same order as SamMatMul's); elsewhere the product with the block matrix.
 */
export function headScores(x: tf.Tensor2D, t: tf.Tensor2D, numHeads: number): tf.Tensor2D {
  if (x.dtype === 'float32' && wasmHeadScores(t)) return headScoresKernel(x, t, numHeads);
  return tf.tidy(() => matMul2d(x, transposeMatrix(blockRows(t, headColumnMask(numHeads, t.shape[1])))));
}

/**
 * One batch element: q [Nq, d], k [Nk, d], v [Nk, d] (projected, heads side by side in d)
 * -> softmax(q_h k_hᵀ / sqrt(hd)) v_h for every head h, side by side: [Nq, d].
 */
export function blockDiagonalAttention(q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D, numHeads: number): tf.Tensor2D {
  return tf.tidy(() => {
    const [nq, d] = q.shape;
    const [nk] = k.shape;
    const h = numHeads;
    const hd = d / h;
    const mask = headColumnMask(h, d);
    if (nk <= nq) {
      // Few keys (image-to-token): scores [Nq, H * Nk], softmax per (query, head) over Nk.
      const scores = headScores(q, k, h); // [Nq, H * Nk]
      const probs = tf.softmax(tf.div(scores, Math.sqrt(hd)).reshape([nq, h, nk])).reshape([nq, h * nk]) as tf.Tensor2D;
      return tf.matMul(probs, blockRows(v, mask)); // [Nq, d]
    }
    // Few queries (token-to-image): scores [H * Nq, Nk] from the transposed product (the
    // long keys stay untransposed), softmax over the keys, then every head's output rows.
    const qb = blockRows(q, mask); // [H * Nq, d]
    const scoresT = tf.matMul(k, transposeMatrix(qb)) as tf.Tensor2D; // [Nk, H * Nq]
    const probs = tf.softmax(tf.div(transposeMatrix(scoresT), Math.sqrt(hd))) as tf.Tensor2D; // [H * Nq, Nk]
    const all = tf.matMul(probs, v).reshape([h, nq, d]); // head h's probabilities with every head's values
    return tf.sum(tf.mul(all, mask), 0) as tf.Tensor2D; // keep head h's columns from row block h
  });
}
