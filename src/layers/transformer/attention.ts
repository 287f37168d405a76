/**
 * Attention of the two-way transformer (`Attention` in the reference's transformer.py):
 * q/k/v projections to an internal dim (embedding_dim / downsample_rate), multi-head
 * scaled dot-product attention (q k^T / sqrt(head_dim)), and an output projection.
 */
import * as tf from '@tensorflow/tfjs';
import { exactScale } from '../../backends/gpu_rel_pos_softmax.js';
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

/**
 * A projection's weight laid out by head for GPU backends: kernel [E, heads * hd] as
 * [heads, E, hd] and bias [heads * hd] as [heads, 1, hd], so that one broadcast matMul of a
 * single input [1, N, E] gives the heads [heads, N, hd] directly (the same dot products),
 * with no Transpose dispatch after it. Made on first use, again when the weights change
 * (a new dataId); the owner disposes it with its weights.
 */
class HeadMajorWeight {
  private source: unknown[] = [];
  private weights: { kernel: tf.Tensor3D; bias: tf.Tensor3D | null } | null = null;

  /** The weights by head, times `scale` (a power of two: the products scale exactly). */
  get(linear: Linear, heads: number, scale = 1): { kernel: tf.Tensor3D; bias: tf.Tensor3D | null } {
    const kernel = linear.kernel();
    const bias = linear.biasVector();
    const source = [tf.getBackend(), kernel.dataId, bias?.dataId, scale];
    if (this.weights && source.every((v, i) => v === this.source[i])) return this.weights;
    this.dispose();
    const [e, d] = kernel.shape;
    const made = {
      kernel: tf.tidy(() => tf.mul(kernel.reshape([e, heads, d / heads]).transpose([1, 0, 2]), scale) as tf.Tensor3D),
      bias: bias ? tf.tidy(() => tf.mul(bias.reshape([heads, 1, d / heads]), scale) as tf.Tensor3D) : null,
    };
    // Kept: this may run inside the caller's tidy, which would release them at its end.
    tf.keep(made.kernel);
    if (made.bias) tf.keep(made.bias);
    this.weights = made;
    this.source = source;
    return made;
  }

  dispose(): void {
    if (this.weights) tf.dispose([this.weights.kernel, ...(this.weights.bias ? [this.weights.bias] : [])]);
    this.weights = null;
    this.source = [];
  }
}

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
  /** q, k and v's weights by head, for the 'perHead' layout on GPU backends (HeadMajorWeight). */
  private readonly headMajor = [new HeadMajorWeight(), new HeadMajorWeight(), new HeadMajorWeight()];

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

  /**
   * x [B, N, E] through projection `which` (0 q, 1 k, 2 v) -> [B, heads, N, hd]. On GPU
   * backends a single input (B = 1) goes through one broadcast matMul by the weight laid out
   * by head (HeadMajorWeight): one dispatch where the projection and separateHeads take two.
   * tfjs's batched matMul broadcasts only a batch of 1, so B > 1 takes the projection then
   * the Transpose. `scale` (a power of two) multiplies the weights there: `scaled` says
   * whether it was applied.
   */
  private projectHeads(which: 0 | 1 | 2, x: tf.Tensor, scale = 1): { heads: tf.Tensor4D; scaled: boolean } {
    const linear = [this.qProj, this.kProj, this.vProj][which];
    const [b, n] = x.shape as [number, number, number];
    if (b !== 1 || isCpuLikeBackend() || x.dtype !== 'float32') return { heads: this.separateHeads(this.run(linear, x)), scaled: scale === 1 };
    const h = this.config.numHeads;
    const { kernel, bias } = this.headMajor[which].get(linear, h, scale);
    const y = tf.fused.matMul({ a: x as tf.Tensor3D, b: kernel, bias: bias ?? undefined }); // [heads, N, hd]
    return { heads: y.reshape([1, h, n, this.internalDim / h]) as tf.Tensor4D, scaled: true };
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
    // 1 / sqrt(hd) folds into q's weights where it is a power of two (hd = 16 in SAM's cross
    // attentions; scaling by one is exact in float arithmetic): each score then comes out
    // already divided, with no Div dispatch.
    const hd = this.internalDim / this.config.numHeads;
    const exact = exactScale(1 / Math.sqrt(hd));
    const { heads: qh, scaled } = this.projectHeads(0, q, exact ? 1 / Math.sqrt(hd) : 1);
    const kh = this.projectHeads(1, k).heads;
    const vh = this.projectHeads(2, v).heads;
    const [b, h, n] = qh.shape;
    const nk = kh.shape[2];
    // q k^T / sqrt(d), softmax, @ v. GPU backends read k transposed inside their matMul; on
    // wasm/cpu (whose transposed matMul is a scalar loop) k is transposed explicitly.
    const q3 = qh.reshape([b * h, n, hd]) as tf.Tensor3D;
    const scores = isCpuLikeBackend()
      ? batchMatMul(q3, kh.transpose([0, 1, 3, 2]).reshape([b * h, hd, nk]) as tf.Tensor3D)
      : (tf.matMul(q3, kh.reshape([b * h, nk, hd]) as tf.Tensor3D, false, true) as tf.Tensor3D);
    const divided = exact && scaled; // the scores came out divided by sqrt(hd) already
    const attn = tf.softmax(divided ? scores : tf.div(scores, Math.sqrt(hd)), -1) as tf.Tensor3D;
    const out = batchMatMul(attn, vh.reshape([b * h, nk, hd]) as tf.Tensor3D).reshape([b, h, n, hd]); // [B, heads, Nq, hd]
    return this.run(this.outProj, out.transpose([0, 2, 1, 3]).reshape([b, n, h * hd]));
  }

  protected override disposeWeights(): number {
    for (const w of this.headMajor) w.dispose();
    return super.disposeWeights();
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
