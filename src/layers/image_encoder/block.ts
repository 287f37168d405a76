/**
 * Transformer block of the image encoder (`Block` in the reference): pre-norm attention
 * (windowed when `windowSize > 0`, global otherwise) and a pre-norm MLP, each with a
 * residual connection.
 */
import * as tf from '@tensorflow/tfjs';
import { addTensors } from '../tensor_utils.js';
import { LayerNorm } from '../common/layer_norm.js';
import { MLPBlock } from '../common/mlp_block.js';
import { SamLayer } from '../sam_layer.js';
import { Attention } from './attention.js';

export interface BlockConfig {
  dim: number;
  numHeads: number;
  mlpDim: number;
  qkvBias: boolean;
  normEps: number;
  useRelPos: boolean;
  /** 0 for a global-attention block, else the window size. */
  windowSize: number;
  /** Token grid (H, W) of the image; the attention size of a global block. */
  inputSize: [number, number];
  name?: string;
}

export class Block extends SamLayer {
  static className = 'sam.image_encoder.Block';
  readonly config: Omit<BlockConfig, 'name'>;
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly norm2: LayerNorm;
  readonly mlp: MLPBlock;

  constructor(config: BlockConfig) {
    super({ name: config.name });
    const { name: _n, ...rest } = config;
    this.config = rest;
    const ws = config.windowSize;
    this.norm1 = this.addSublayer('norm1', new LayerNorm({ numFeatures: config.dim, eps: config.normEps }));
    this.attn = this.addSublayer(
      'attn',
      new Attention({
        dim: config.dim,
        numHeads: config.numHeads,
        qkvBias: config.qkvBias,
        useRelPos: config.useRelPos,
        inputSize: ws > 0 ? [ws, ws] : config.inputSize,
      }),
    );
    this.norm2 = this.addSublayer('norm2', new LayerNorm({ numFeatures: config.dim, eps: config.normEps }));
    this.mlp = this.addSublayer('mlp', new MLPBlock({ embeddingDim: config.dim, mlpDim: config.mlpDim, act: 'gelu' }));
  }

  override build(inputShape: tf.Shape): void {
    const ws = this.config.windowSize;
    this.norm1.buildFor(inputShape);
    this.attn.buildFor(ws > 0 ? [null, ws, ws, this.config.dim] : inputShape);
    this.norm2.buildFor(inputShape);
    this.mlp.buildFor(inputShape);
  }

  /** x: [B, H, W, C] -> [B, H, W, C] */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const ws = this.config.windowSize;
      // Temporaries are released as soon as they are used (a ViT-H activation is 21 MB).
      const normed = this.run(this.norm1, x) as tf.Tensor4D;
      // Windowed: partition (zero padding), attention per window, unpartition and crop,
      // done inside the attention layer so that the padding costs no matMul work.
      const y = ws > 0 ? this.attn.callWindowed(normed, ws) : (this.run(this.attn, normed) as tf.Tensor4D);
      normed.dispose();
      const h1 = addTensors(x, y);
      y.dispose();
      const normed2 = this.run(this.norm2, h1);
      const m = this.run(this.mlp, normed2);
      normed2.dispose();
      return addTensors(h1, m);
    });
  }

  override computeOutputShape(inputShape: tf.Shape): tf.Shape {
    return inputShape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.config };
  }
}
tf.serialization.registerClass(Block);
