/**
 * The two-way transformer's attention with the projections of the long side (the 4096
 * image tokens) folded into the few prompt tokens: the wasm/cpu layout when it needs fewer
 * FLOPs than projecting the image (see `foldingPays`).
 *
 * Per head h, with the image x [N, E], the projection W_h [E, hd] and the short side's
 * projected rows t_h [n, hd] (n prompt tokens):
 *   (x W_h + b_h) t_hᵀ = x (W_h t_hᵀ) + b_h t_hᵀ
 * so the scores of every head come from one [N, E] x [E, H*n] product, and
 * [E, H*n] = W [E, d] x block-diagonal(t)ᵀ [d, H*n] is a small product of the weight with
 * the block rows of block_diagonal_heads.ts (on wasm its headScores, per head without the
 * zeros; the values per head likewise through SamHeadValues). Likewise on the output side the probabilities
 * p [n, N] (rows summing to 1) give p (x W_h + b_h) = (p x) W_h + b_h, and the image-side
 * output projection folds into the values: (p_h v_h) W_o = p_h (v_h W_o).
 *
 * The image is then never projected: for SAM's decoder (E = 256, d = 128, 8 heads, 7
 * tokens) one attention costs 2 products of [4096, 256] x [256, 56] instead of 2 of
 * [4096, 256] x [256, 128] plus the block-diagonal ones. The values equal those of the
 * reference up to the order of the float operations.
 *
 * Where the long side's projections are registered (derived_tensors.ts: an image's first
 * decoder layer, projected once per image by decoder_image_side.ts), the products start from
 * them instead: [N, d] x [d, H*n], half the width of the folded [N, E] x [E, H*n].
 */
import * as tf from '@tensorflow/tfjs';
import { projectionOf } from '../derived_tensors.js';
import { softmaxLastAxis, transposeMatrix } from '../tensor_utils.js';
import { matMul2d } from '../common/packed_matmul.js';
import type { Linear } from '../common/linear.js';
import { blockRows, headColumnMask, headScores, wasmHeadScores, wasmHeadValues } from './block_diagonal_heads.js';
import { headValuesKernel } from '../../backends/wasm_kernels.js';

/** The attention's projections and head layout. */
export interface AttentionProjections {
  qProj: Linear;
  kProj: Linear;
  vProj: Linear;
  outProj: Linear;
  numHeads: number;
  /** Internal dim d (embedding_dim / downsample_rate). */
  internalDim: number;
}

/**
 * Folding pays when the short side's block rows (H * n) are no more than the internal dim
 * (the width of a projection of the long side) and fewer than the long side's tokens.
 */
export function foldingPays(p: AttentionProjections, queryTokens: number, keyTokens: number): boolean {
  const blockRows = p.numHeads * Math.min(queryTokens, keyTokens);
  return blockRows <= p.internalDim && blockRows < Math.max(queryTokens, keyTokens);
}

/**
 * Few queries, long keys (tokens -> image). q [n, E], k [N, E], v [N, E] -> [n, E], the
 * attention's output after out_proj.
 */
export function foldedTokenToImage(p: AttentionProjections, q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const h = p.numHeads;
    const d = p.internalDim;
    const n = q.shape[0];
    const mask = headColumnMask(h, d);
    const qp = tf.mul(p.qProj.apply(q) as tf.Tensor2D, 1 / Math.sqrt(d / h)) as tf.Tensor2D; // [n, d], scaled
    const kp = projectionOf(k, p.kProj); // [N, d]
    const vp = projectionOf(v, p.vProj); // [N, d], packed
    if (kp && vp) {
      // The image's projections, made once: scores (x W_k + b_k) q_hᵀ, outputs p (x W_v + b_v).
      const probs = softmaxLastAxis(transposeMatrix(headScores(kp.y, qp, h))); // [H*n, N]
      if (vp.packed && wasmHeadValues(d / h)) {
        // each head's probabilities times its values only: [H, n, hd] -> [n, d]
        const heads = headValuesKernel(probs, vp.packed, h);
        return p.outProj.apply(tf.transpose(heads, [1, 0, 2]).reshape([n, d])) as tf.Tensor2D;
      }
      const pv = matMul2d(probs, vp.y, null, vp.packed).reshape([h, n, d]); // [H, n, d]
      return p.outProj.apply(tf.sum(tf.mul(pv, mask), 0)) as tf.Tensor2D; // head h's columns from row block h
    }
    // k's bias adds q_h . b_h to a whole row of scores: softmax ignores it.
    const a = headScores(p.kProj.kernel(), qp, h); // [E, H*n]
    const scores = transposeMatrix(matMul2d(k, a)); // [H*n, N]
    const probs = softmaxLastAxis(scores);
    // p v as it is: the SIMD kernel packs v (a copy in panels, cheaper than the transpose
    // [N, E] that (vᵀ pᵀ)ᵀ needs) and shares p's H*n rows out between the threads.
    const pv = matMul2d(probs, v); // [H*n, E]
    const wv = wasmHeadValues(d / h) ? p.vProj.packedKernel() : null;
    let out: tf.Tensor2D; // [n, d]: head h's columns from row block h
    if (wv) {
      // each head's rows times its columns of W_v only: [H, n, hd] -> [n, d]
      out = tf.transpose(headValuesKernel(pv, wv, h), [1, 0, 2]).reshape([n, d]) as tf.Tensor2D;
    } else {
      const all = tf.matMul(pv, p.vProj.kernel()).reshape([h, n, d]); // head h's probabilities with every head's values
      out = tf.sum(tf.mul(all, mask), 0) as tf.Tensor2D;
    }
    const bv = p.vProj.biasVector();
    if (bv) out = tf.add(out, bv); // the probabilities sum to 1
    return p.outProj.apply(out) as tf.Tensor2D;
  });
}

/**
 * Long queries, few keys (image -> tokens). q [N, E], k [n, E], v [n, E] -> [N, E], the
 * attention's output after out_proj.
 */
export function foldedImageToToken(p: AttentionProjections, q: tf.Tensor2D, k: tf.Tensor2D, v: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const h = p.numHeads;
    const d = p.internalDim;
    const n = k.shape[0];
    const mask = headColumnMask(h, d);
    const kp = tf.mul(p.kProj.apply(k) as tf.Tensor2D, 1 / Math.sqrt(d / h)) as tf.Tensor2D; // [n, d], scaled
    const qp = projectionOf(q, p.qProj); // [N, d], the image's projection made once
    let scores: tf.Tensor2D; // [N, H*n]
    if (qp) {
      scores = headScores(qp.y, kp, h);
    } else {
      const a = headScores(p.qProj.kernel(), kp, h); // [E, H*n]
      const bq = p.qProj.biasVector();
      // q's bias gives b_h . k_h[j] per key: a bias over the score columns [H*n]. (Summed into
      // a tensor of its own, not a reshaped product: tfjs-wasm's fused matMul reads the bias
      // rank from the buffer's first shape.)
      let scoreBias: tf.Tensor1D | undefined;
      if (bq && wasmHeadScores(kp)) scoreBias = tf.sum(headScores(bq.reshape([1, d]) as tf.Tensor2D, kp, h), 0) as tf.Tensor1D;
      else if (bq) scoreBias = tf.sum(tf.mul(transposeMatrix(blockRows(kp, mask)), bq.reshape([d, 1])), 0) as tf.Tensor1D;
      scores = matMul2d(q, a, scoreBias);
    }
    const nq = q.shape[0];
    const probs = softmaxLastAxis(scores.reshape([nq, h, n])).reshape([nq, h * n]) as tf.Tensor2D;
    const vp = p.vProj.apply(v) as tf.Tensor2D; // [n, d]
    // [H*n, E]: each head's values already through its rows of out_proj, (v_h W_o,h)
    const c = wasmHeadScores(vp)
      ? transposeMatrix(headScores(transposeMatrix(p.outProj.kernel()), vp, h)) // from W_oᵀ [E, d]: [E, H*n], transposed
      : (tf.matMul(blockRows(vp, mask), p.outProj.kernel()) as tf.Tensor2D);
    return matMul2d(probs, c, p.outProj.biasVector());
  });
}
