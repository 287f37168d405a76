/**
 * Multi-head self-attention of the ViT blocks, with decomposed relative position
 * embeddings (`Attention` in the reference's image_encoder.py).
 *
 * Weights: `qkv` (Linear C -> 3C), `proj` (Linear C -> C), and when `useRelPos` the tables
 * `rel_pos_h` [2*H-1, head_dim] and `rel_pos_w` [2*W-1, head_dim], where (H, W) is the
 * `inputSize` the block attends over (the window, or the whole token grid).
 */
import * as tf from '@tensorflow/tfjs';
import { Linear } from '../common/linear.js';
import { SamLayer, type LayerVariable } from '../sam_layer.js';
import { addDecomposedRelPos } from './rel_pos.js';

export interface AttentionConfig {
  dim: number;
  numHeads: number;
  qkvBias: boolean;
  useRelPos: boolean;
  /** Token grid (H, W) the relative position tables are sized for. */
  inputSize: [number, number];
  name?: string;
}

export class Attention extends SamLayer {
  static className = 'sam.image_encoder.Attention';
  readonly config: Omit<AttentionConfig, 'name'>;
  readonly headDim: number;
  readonly scale: number;
  readonly qkv: Linear;
  readonly proj: Linear;
  private relPosH: LayerVariable | null = null;
  private relPosW: LayerVariable | null = null;

  constructor(config: AttentionConfig) {
    super({ name: config.name });
    const { name: _n, ...rest } = config;
    this.config = rest;
    if (config.dim % config.numHeads !== 0) {
      throw new Error(`Attention: dim ${config.dim} is not divisible by num_heads ${config.numHeads}`);
    }
    this.headDim = config.dim / config.numHeads;
    this.scale = this.headDim ** -0.5;
    this.qkv = this.addSublayer('qkv', new Linear({ inFeatures: config.dim, outFeatures: 3 * config.dim, bias: config.qkvBias }));
    this.proj = this.addSublayer('proj', new Linear({ inFeatures: config.dim, outFeatures: config.dim }));
  }

  override build(inputShape: tf.Shape): void {
    this.qkv.buildFor(inputShape);
    this.proj.buildFor(inputShape);
    if (this.config.useRelPos) {
      const [h, w] = this.config.inputSize;
      this.relPosH = this.addTorchWeight('rel_pos_h', [2 * h - 1, this.headDim]);
      this.relPosW = this.addTorchWeight('rel_pos_w', [2 * w - 1, this.headDim]);
    }
  }

  /** x: [B, H, W, C] -> [B, H, W, C] */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const [b, h, w, c] = x.shape;
      const nh = this.config.numHeads;
      const hd = this.headDim;
      const n = h * w;
      // [B, N, 3, heads, hd] -> [3, B*heads, N, hd]
      const qkv = this.run(this.qkv, x)
        .reshape([b, n, 3, nh, hd])
        .transpose([2, 0, 3, 1, 4])
        .reshape([3, b * nh, n, hd]);
      const [q, k, v] = tf.unstack(qkv, 0) as tf.Tensor3D[];
      let attn = tf.matMul(tf.mul(q, this.scale), k, false, true) as tf.Tensor3D; // [B*heads, N, N]
      if (this.relPosH && this.relPosW) {
        attn = addDecomposedRelPos(attn, q, this.relPosH.read() as tf.Tensor2D, this.relPosW.read() as tf.Tensor2D, [h, w], [h, w]);
      }
      const out = tf.matMul(tf.softmax(attn, -1), v); // [B*heads, N, hd]
      const merged = out.reshape([b, nh, h, w, hd]).transpose([0, 2, 3, 1, 4]).reshape([b, h, w, c]);
      return this.run(this.proj, merged);
    });
  }

  override computeOutputShape(inputShape: tf.Shape): tf.Shape {
    return inputShape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.config };
  }
}
tf.serialization.registerClass(Attention);
