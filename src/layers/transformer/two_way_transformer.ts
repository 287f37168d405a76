/**
 * The two-way transformer of the mask decoder (`TwoWayTransformer` in the reference):
 * `depth` TwoWayAttentionBlocks, then a final token -> image attention and LayerNorm.
 *
 * Image embeddings and their positional encoding come in NHWC [B, h, w, C] and are
 * flattened to [B, h*w, C] (the reference flattens NCHW and permutes to the same layout).
 */
import * as tf from '@tensorflow/tfjs';
import { addTensors } from '../tensor_utils.js';
import type { ActivationName } from '../common/activations.js';
import { LayerNorm } from '../common/layer_norm.js';
import { SamLayer } from '../sam_layer.js';
import { Attention } from './attention.js';
import { TwoWayAttentionBlock } from './two_way_attention_block.js';

export interface TwoWayTransformerConfig {
  depth: number;
  embeddingDim: number;
  numHeads: number;
  mlpDim: number;
  act?: ActivationName;
  attentionDownsampleRate?: number;
  normEps?: number;
  name?: string;
}

export class TwoWayTransformer extends SamLayer {
  static className = 'sam.TwoWayTransformer';
  readonly config: Required<Omit<TwoWayTransformerConfig, 'name'>>;
  readonly layers: TwoWayAttentionBlock[];
  readonly finalAttnTokenToImage: Attention;
  readonly normFinalAttn: LayerNorm;

  constructor(config: TwoWayTransformerConfig) {
    super({ name: config.name });
    this.config = {
      depth: config.depth,
      embeddingDim: config.embeddingDim,
      numHeads: config.numHeads,
      mlpDim: config.mlpDim,
      act: config.act ?? 'relu',
      attentionDownsampleRate: config.attentionDownsampleRate ?? 2,
      normEps: config.normEps ?? 1e-5,
    };
    const c = this.config;
    this.layers = [];
    for (let i = 0; i < c.depth; i++) {
      this.layers.push(
        this.addSublayer(
          `layers.${i}`,
          new TwoWayAttentionBlock({
            embeddingDim: c.embeddingDim,
            numHeads: c.numHeads,
            mlpDim: c.mlpDim,
            act: c.act,
            attentionDownsampleRate: c.attentionDownsampleRate,
            skipFirstLayerPe: i === 0,
            normEps: c.normEps,
          }),
        ),
      );
    }
    this.finalAttnTokenToImage = this.addSublayer(
      'final_attn_token_to_image',
      new Attention({ embeddingDim: c.embeddingDim, numHeads: c.numHeads, downsampleRate: c.attentionDownsampleRate }),
    );
    this.normFinalAttn = this.addSublayer('norm_final_attn', new LayerNorm({ numFeatures: c.embeddingDim, eps: c.normEps }));
  }

  override build(): void {
    const shape = [null, null, this.config.embeddingDim];
    for (const l of this.layers) l.buildFor([shape, shape, shape, shape]);
    this.finalAttnTokenToImage.buildFor([shape, shape, shape]);
    this.normFinalAttn.buildFor(shape);
  }

  /**
   * inputs [imageEmbedding [B, h, w, C], imagePe [B, h, w, C], pointEmbedding [B, N, C]]
   * -> [queries [B, N, C], keys [B, h*w, C]]
   */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor[] {
    return tf.tidy(() => {
      const [imageEmbedding, imagePe, pointEmbedding] = inputs as tf.Tensor[];
      const [b, h, w, c] = imageEmbedding.shape;
      const keyPe = imagePe.reshape([imagePe.shape[0], h * w, c]);
      let queries = pointEmbedding;
      let keys = imageEmbedding.reshape([b, h * w, c]);
      for (const layer of this.layers) {
        [queries, keys] = this.runMulti(layer, [queries, keys, pointEmbedding, keyPe]);
      }
      const q = tf.add(queries, pointEmbedding);
      const k = addTensors(keys, keyPe);
      const attnOut = this.run(this.finalAttnTokenToImage, [q, k, keys]);
      queries = this.run(this.normFinalAttn, tf.add(queries, attnOut));
      return [queries, keys];
    });
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape[] {
    const [img, , pts] = inputShape as tf.Shape[];
    const hw = img[1] !== null && img[2] !== null ? (img[1] as number) * (img[2] as number) : null;
    return [pts, [img[0], hw, img[3]]];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.config };
  }
}
tf.serialization.registerClass(TwoWayTransformer);
