/**
 * Attention of the two-way transformer (`Attention` in the reference's transformer.py):
 * q/k/v projections to an internal dim (embedding_dim / downsample_rate), multi-head
 * scaled dot-product attention (q k^T / sqrt(head_dim)), and an output projection.
 */
import * as tf from '@tensorflow/tfjs';
import { Linear } from '../common/linear.js';
import { SamLayer } from '../sam_layer.js';
import { batchMatMul, isCpuLikeBackend, splitAxis0 } from '../tensor_utils.js';
import { blockDiagonalAttention } from './block_diagonal_heads.js';
import { foldedImageToToken, foldedTokenToImage, foldingPays } from './folded_projections.js';

export interface TransformerAttentionConfig {
  embeddingDim: number;
  numHeads: number;
  downsampleRate?: number;
  name?: string;
}

/**
 * How the heads are computed; every layout gives the reference's values up to the order of
 * the float operations.
 * - 'perHead': heads separated, a product per head (the reference's form; GPU backends).
 * - 'blockDiagonal': every head in one 2-D matMul per product (block_diagonal_heads.ts).
 * - 'folded': the long side's projections folded into the few tokens (folded_projections.ts).
 * - 'auto': 'perHead' on GPU backends; on wasm/cpu 'folded' where it needs fewer FLOPs,
 *   else 'blockDiagonal'.
 */
export type TransformerAttentionLayout = 'auto' | 'perHead' | 'blockDiagonal' | 'folded';

/** [B, N, C] -> B tensors [N, C]. */
function rows(t: tf.Tensor): tf.Tensor2D[] {
  const b = t.shape[0];
  if (b === 1) return [t.reshape(t.shape.slice(1)) as tf.Tensor2D];
  return splitAxis0(t, b).map((x) => x.reshape(x.shape.slice(1)) as tf.Tensor2D);
}

export class Attention extends SamLayer {
  static className = 'sam.transformer.Attention';
  readonly config: Required<Omit<TransformerAttentionConfig, 'name'>>;
  readonly internalDim: number;
  readonly qProj: Linear;
  readonly kProj: Linear;
  readonly vProj: Linear;
  readonly outProj: Linear;
  /** The compute layout (not part of the config: it does not change the model). */
  layout: TransformerAttentionLayout = 'auto';

  constructor(config: TransformerAttentionConfig) {
    super({ name: config.name });
    this.config = { embeddingDim: config.embeddingDim, numHeads: config.numHeads, downsampleRate: config.downsampleRate ?? 1 };
    const e = config.embeddingDim;
    this.internalDim = Math.floor(e / this.config.downsampleRate);
    if (this.internalDim % config.numHeads !== 0) {
      throw new Error(`Attention: num_heads ${config.numHeads} must divide embedding_dim / downsample_rate = ${this.internalDim}`);
    }
    const d = this.internalDim;
    this.qProj = this.addSublayer('q_proj', new Linear({ inFeatures: e, outFeatures: d }));
    this.kProj = this.addSublayer('k_proj', new Linear({ inFeatures: e, outFeatures: d }));
    this.vProj = this.addSublayer('v_proj', new Linear({ inFeatures: e, outFeatures: d }));
    this.outProj = this.addSublayer('out_proj', new Linear({ inFeatures: d, outFeatures: e }));
  }

  get numHeads(): number {
    return this.config.numHeads;
  }

  override build(): void {
    const e = this.config.embeddingDim;
    for (const l of [this.qProj, this.kProj, this.vProj]) l.buildFor([null, e]);
    this.outProj.buildFor([null, this.internalDim]);
  }

  /** [B, N, d] -> [B, heads, N, d/heads] */
  private separateHeads(x: tf.Tensor): tf.Tensor4D {
    const [b, n, d] = x.shape;
    const h = this.config.numHeads;
    return x.reshape([b, n, h, d / h]).transpose([0, 2, 1, 3]) as tf.Tensor4D;
  }

  /** The layout that `call` uses for inputs with these token counts (see `layout`). */
  resolvedLayout(queryTokens: number, keyTokens: number): Exclude<TransformerAttentionLayout, 'auto'> {
    if (this.layout !== 'auto') return this.layout;
    if (!isCpuLikeBackend()) return 'perHead';
    return foldingPays(this, queryTokens, keyTokens) ? 'folded' : 'blockDiagonal';
  }

  /** inputs [q [B, Nq, E], k [B, Nk, E], v [B, Nk, E]] -> [B, Nq, E] */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const [q, k, v] = inputs as tf.Tensor[];
      const [b, nq] = q.shape as [number, number, number];
      const nk = k.shape[1] as number;
      const stack = (outs: tf.Tensor2D[]) => (b === 1 ? outs[0].expandDims(0) : tf.stack(outs)) as tf.Tensor3D;
      switch (this.resolvedLayout(nq, nk)) {
        case 'folded': {
          // The long side is never projected (folded_projections.ts).
          const [qs, ks, vs] = [rows(q), rows(k), rows(v)];
          const fold = nq <= nk ? foldedTokenToImage : foldedImageToToken;
          return stack(qs.map((qi, i) => fold(this, qi, ks[i], vs[i])));
        }
        case 'blockDiagonal': {
          // Every head in one 2-D matMul per product (block_diagonal_heads.ts).
          const [qs, ks, vs] = [rows(this.run(this.qProj, q)), rows(this.run(this.kProj, k)), rows(this.run(this.vProj, v))];
          const outs = qs.map((qi, i) => blockDiagonalAttention(qi, ks[i], vs[i], this.config.numHeads));
          return this.run(this.outProj, stack(outs));
        }
        case 'perHead':
          return this.perHeadAttention(q, k, v);
      }
    });
  }

  /** The reference's layout: heads separated, one (batched) product per head. */
  private perHeadAttention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor): tf.Tensor {
    const qh = this.separateHeads(this.run(this.qProj, q));
    const kh = this.separateHeads(this.run(this.kProj, k));
    const vh = this.separateHeads(this.run(this.vProj, v));
    const [b, h, n, hd] = qh.shape;
    const nk = kh.shape[2];
    // q k^T / sqrt(d), softmax, @ v. GPU backends read k transposed inside their matMul; on
    // wasm/cpu (whose transposed matMul is a scalar loop) k is transposed explicitly.
    const q3 = qh.reshape([b * h, n, hd]) as tf.Tensor3D;
    const scores = isCpuLikeBackend()
      ? batchMatMul(q3, kh.transpose([0, 1, 3, 2]).reshape([b * h, hd, nk]) as tf.Tensor3D)
      : (tf.matMul(q3, kh.reshape([b * h, nk, hd]) as tf.Tensor3D, false, true) as tf.Tensor3D);
    const attn = tf.softmax(tf.div(scores, Math.sqrt(hd)), -1) as tf.Tensor3D;
    const out = batchMatMul(attn, vh.reshape([b * h, nk, hd]) as tf.Tensor3D).reshape([b, h, n, hd]); // [B, heads, Nq, hd]
    return this.run(this.outProj, out.transpose([0, 2, 1, 3]).reshape([b, n, h * hd]));
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape {
    const q = (inputShape as tf.Shape[])[0];
    return [q[0], q[1], this.config.embeddingDim];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.config };
  }
}
tf.serialization.registerClass(Attention);
