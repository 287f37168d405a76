/**
 * The ViT image encoder (`ImageEncoderViT` in the reference): patch embedding, absolute
 * position embedding, `depth` transformer blocks (windowed except `globalAttnIndexes`),
 * and the neck (1x1 conv, LayerNorm2d, 3x3 conv, LayerNorm2d) down to `outChans`.
 *
 * Input: preprocessed images [B, S, S, 3] (NHWC). Output: embeddings [B, S/16, S/16, outChans]
 * (NHWC; the reference returns the same values as NCHW).
 */
import * as tf from '@tensorflow/tfjs';
import { addTensors } from '../tensor_utils.js';
import { Conv2d } from '../common/conv2d.js';
import { LayerNorm2d } from '../common/layer_norm_2d.js';
import { SamLayer, type LayerVariable } from '../sam_layer.js';
import { LEAN_ENCODER_BYTES } from './attention_kernels.js';
import { Block } from './block.js';
import { PatchEmbed } from './patch_embed.js';

export interface ImageEncoderViTConfig {
  imgSize: number;
  patchSize: number;
  inChans: number;
  embedDim: number;
  depth: number;
  numHeads: number;
  mlpDim: number;
  outChans: number;
  qkvBias: boolean;
  useAbsPos: boolean;
  useRelPos: boolean;
  windowSize: number;
  globalAttnIndexes: number[];
  /** LayerNorm eps of the blocks (1e-6 in SAM). */
  normEps: number;
  /** LayerNorm2d eps of the neck (1e-6 in SAM). */
  neckNormEps: number;
  name?: string;
}

export class ImageEncoderViT extends SamLayer {
  static className = 'sam.ImageEncoderViT';
  readonly config: Omit<ImageEncoderViTConfig, 'name'>;
  readonly gridSize: number;
  readonly patchEmbed: PatchEmbed;
  readonly blocks: Block[];
  readonly neck: [Conv2d, LayerNorm2d, Conv2d, LayerNorm2d];
  private posEmbed: LayerVariable | null = null; // [1, g, g, E]

  constructor(config: ImageEncoderViTConfig) {
    super({ name: config.name });
    const { name: _n, ...rest } = config;
    this.config = rest;
    if (config.imgSize % config.patchSize !== 0) {
      throw new Error(`ImageEncoderViT: img_size ${config.imgSize} is not a multiple of patch_size ${config.patchSize}`);
    }
    const g = config.imgSize / config.patchSize;
    this.gridSize = g;
    this.patchEmbed = this.addSublayer(
      'patch_embed',
      new PatchEmbed({ patchSize: config.patchSize, inChans: config.inChans, embedDim: config.embedDim }),
    );
    this.blocks = [];
    for (let i = 0; i < config.depth; i++) {
      this.blocks.push(
        this.addSublayer(
          `blocks.${i}`,
          new Block({
            dim: config.embedDim,
            numHeads: config.numHeads,
            mlpDim: config.mlpDim,
            qkvBias: config.qkvBias,
            normEps: config.normEps,
            useRelPos: config.useRelPos,
            windowSize: config.globalAttnIndexes.includes(i) ? 0 : config.windowSize,
            inputSize: [g, g],
          }),
        ),
      );
    }
    // Weights of the blocks' Linear layers: qkv 3E², proj E², MLP 2·E·mlpDim (biases aside).
    const e = config.embedDim;
    const blockBytes = 4 * (4 * e * e + 2 * e * config.mlpDim);
    const lean = config.depth * blockBytes > LEAN_ENCODER_BYTES;
    for (const block of this.blocks) {
      block.attn.cacheHeadWeights = !lean;
      for (const linear of [block.attn.proj, block.mlp.lin1, block.mlp.lin2]) linear.cacheKernel = !lean;
    }
    const c = config.outChans;
    this.neck = [
      this.addSublayer('neck.0', new Conv2d({ inChannels: config.embedDim, outChannels: c, kernelSize: 1, bias: false })),
      this.addSublayer('neck.1', new LayerNorm2d({ numFeatures: c, eps: config.neckNormEps })),
      this.addSublayer('neck.2', new Conv2d({ inChannels: c, outChannels: c, kernelSize: 3, padding: 1, bias: false })),
      this.addSublayer('neck.3', new LayerNorm2d({ numFeatures: c, eps: config.neckNormEps })),
    ];
  }

  override build(inputShape: tf.Shape): void {
    const { embedDim: e, outChans: c } = this.config;
    const g = this.gridSize;
    const b = inputShape[0];
    this.patchEmbed.buildFor(inputShape);
    if (this.config.useAbsPos) this.posEmbed = this.addTorchWeight('pos_embed', [1, g, g, e]);
    for (const block of this.blocks) block.buildFor([b, g, g, e]);
    this.neck[0].buildFor([b, g, g, e]);
    for (const layer of this.neck.slice(1)) layer.buildFor([b, g, g, c]);
  }

  /** Patch embedding plus the absolute position embedding: the input of block 0, [B, g, g, E]. */
  embedPatches(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const patches = this.run(this.patchEmbed, x);
      return (this.posEmbed ? addTensors(patches, this.posEmbed.read()) : patches) as tf.Tensor4D;
    });
  }

  /** x: [B, S, S, 3] -> [B, g, g, outChans] */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
    const [, h, w] = x.shape;
    if (h !== this.config.imgSize || w !== this.config.imgSize) {
      throw new Error(
        `ImageEncoderViT: expected a preprocessed image of ${this.config.imgSize}x${this.config.imgSize}, got ${h}x${w}`,
      );
    }
    // Each stage's input is released as soon as the next exists, so at most two full
    // activations are alive at a time (a tidy over the loop would keep all of them).
    let y: tf.Tensor = this.embedPatches(x);
    for (const layer of [...this.blocks, ...this.neck]) {
      const next = this.run(layer, y);
      y.dispose();
      y = next;
    }
    return y;
  }

  override computeOutputShape(inputShape: tf.Shape): tf.Shape {
    return [inputShape[0], this.gridSize, this.gridSize, this.config.outChans];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.config };
  }
}
tf.serialization.registerClass(ImageEncoderViT);
