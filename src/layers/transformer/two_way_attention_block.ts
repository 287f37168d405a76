/**
 * One layer of the two-way transformer (`TwoWayAttentionBlock` in the reference):
 * (1) self-attention of the sparse tokens, (2) cross attention tokens -> image,
 * (3) MLP on the tokens, (4) cross attention image -> tokens; each followed by a
 * LayerNorm. The first layer skips the positional encoding (and the residual) in (1).
 */
import * as tf from '@tensorflow/tfjs';
import { addRemembered } from '../derived_tensors.js';
import type { ActivationName } from '../common/activations.js';
import { LayerNorm } from '../common/layer_norm.js';
import { MLPBlock } from '../common/mlp_block.js';
import { SamLayer } from '../sam_layer.js';
import { Attention } from './attention.js';

export interface TwoWayAttentionBlockConfig {
  embeddingDim: number;
  numHeads: number;
  mlpDim: number;
  act: ActivationName;
  attentionDownsampleRate: number;
  skipFirstLayerPe: boolean;
  /** LayerNorm eps (PyTorch's default 1e-5 in the reference). */
  normEps: number;
  name?: string;
}

export class TwoWayAttentionBlock extends SamLayer {
  static className = 'sam.TwoWayAttentionBlock';
  readonly config: Omit<TwoWayAttentionBlockConfig, 'name'>;
  readonly selfAttn: Attention;
  readonly norm1: LayerNorm;
  readonly crossAttnTokenToImage: Attention;
  readonly norm2: LayerNorm;
  readonly mlp: MLPBlock;
  readonly norm3: LayerNorm;
  readonly norm4: LayerNorm;
  readonly crossAttnImageToToken: Attention;

  constructor(config: TwoWayAttentionBlockConfig) {
    super({ name: config.name });
    const { name: _n, ...rest } = config;
    this.config = rest;
    const e = config.embeddingDim;
    const h = config.numHeads;
    const r = config.attentionDownsampleRate;
    const norm = () => new LayerNorm({ numFeatures: e, eps: config.normEps });
    this.selfAttn = this.addSublayer('self_attn', new Attention({ embeddingDim: e, numHeads: h }));
    this.norm1 = this.addSublayer('norm1', norm());
    this.crossAttnTokenToImage = this.addSublayer('cross_attn_token_to_image', new Attention({ embeddingDim: e, numHeads: h, downsampleRate: r }));
    this.norm2 = this.addSublayer('norm2', norm());
    this.mlp = this.addSublayer('mlp', new MLPBlock({ embeddingDim: e, mlpDim: config.mlpDim, act: config.act }));
    this.norm3 = this.addSublayer('norm3', norm());
    this.norm4 = this.addSublayer('norm4', norm());
    this.crossAttnImageToToken = this.addSublayer('cross_attn_image_to_token', new Attention({ embeddingDim: e, numHeads: h, downsampleRate: r }));
  }

  override build(): void {
    const shape = [null, null, this.config.embeddingDim];
    for (const l of [this.selfAttn, this.crossAttnTokenToImage, this.crossAttnImageToToken]) l.buildFor([shape, shape, shape]);
    for (const l of [this.norm1, this.norm2, this.norm3, this.norm4, this.mlp]) l.buildFor(shape);
  }

  /** inputs [queries [B, Nq, E], keys [B, Nk, E], queryPe [B, Nq, E], keyPe [B, Nk, E]] -> [queries, keys] */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor[] {
    return tf.tidy(() => {
      const [queries0, keys0, queryPe, keyPe] = inputs as tf.Tensor[];
      let queries: tf.Tensor;
      if (this.config.skipFirstLayerPe) {
        queries = this.run(this.selfAttn, [queries0, queries0, queries0]);
      } else {
        const q = tf.add(queries0, queryPe);
        queries = tf.add(queries0, this.run(this.selfAttn, [q, q, queries0]));
      }
      queries = this.run(this.norm1, queries);

      // keys + keyPe serves both cross attentions (the reference computes it twice); for the
      // first layer it may be an image's, computed once (derived_tensors.ts).
      const k = addRemembered(keys0, keyPe);
      let q = tf.add(queries, queryPe);
      queries = this.run(this.norm2, tf.add(queries, this.run(this.crossAttnTokenToImage, [q, k, keys0])));

      queries = this.run(this.norm3, tf.add(queries, this.run(this.mlp, queries)));

      q = tf.add(queries, queryPe);
      const keys = this.norm4.applyToSum(keys0, this.run(this.crossAttnImageToToken, [k, q, queries]));
      return [queries, keys];
    });
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape[] {
    const shapes = inputShape as tf.Shape[];
    return [shapes[0], shapes[1]];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.config };
  }
}
tf.serialization.registerClass(TwoWayAttentionBlock);
