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

export interface TransformerAttentionConfig {
  embeddingDim: number;
  numHeads: number;
  downsampleRate?: number;
  name?: string;
}

export class Attention extends SamLayer {
  static className = 'sam.transformer.Attention';
  readonly config: Required<Omit<TransformerAttentionConfig, 'name'>>;
  readonly internalDim: number;
  readonly qProj: Linear;
  readonly kProj: Linear;
  readonly vProj: Linear;
  readonly outProj: Linear;

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

  /** inputs [q [B, Nq, E], k [B, Nk, E], v [B, Nk, E]] -> [B, Nq, E] */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const [q, k, v] = inputs as tf.Tensor[];
      if (isCpuLikeBackend()) {
        // wasm/cpu: every head in one 2-D matMul per product (block_diagonal_heads.ts).
        const qp = this.run(this.qProj, q); // [B, Nq, d]
        const kp = this.run(this.kProj, k); // [B, Nk, d]
        const vp = this.run(this.vProj, v);
        const [b, nq, d] = qp.shape;
        const rows = (t: tf.Tensor) => splitAxis0(t, b).map((x) => x.reshape(x.shape.slice(1)) as tf.Tensor2D);
        const [qs, ks, vs] = [rows(qp), rows(kp), rows(vp)];
        const outs = qs.map((qi, i) => blockDiagonalAttention(qi, ks[i], vs[i], this.config.numHeads));
        const out = (b === 1 ? outs[0].expandDims(0) : tf.stack(outs)).reshape([b, nq, d]);
        return this.run(this.outProj, out);
      }
      const qh = this.separateHeads(this.run(this.qProj, q));
      const kh = this.separateHeads(this.run(this.kProj, k));
      const vh = this.separateHeads(this.run(this.vProj, v));
      const [b, h, n, hd] = qh.shape;
      const nk = kh.shape[2];
      // q k^T / sqrt(d), softmax, @ v, as untransposed matMuls (k transposed explicitly).
      const kt = kh.transpose([0, 1, 3, 2]).reshape([b * h, hd, nk]) as tf.Tensor3D;
      const scores = batchMatMul(qh.reshape([b * h, n, hd]) as tf.Tensor3D, kt);
      const attn = tf.softmax(tf.div(scores, Math.sqrt(hd)), -1) as tf.Tensor3D;
      const out = batchMatMul(attn, vh.reshape([b * h, nk, hd]) as tf.Tensor3D).reshape([b, h, n, hd]); // [B, heads, Nq, hd]
      return this.run(this.outProj, out.transpose([0, 2, 1, 3]).reshape([b, n, h * hd]));
    });
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
