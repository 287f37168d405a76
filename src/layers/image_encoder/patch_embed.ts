/** Image to patch embedding (`PatchEmbed` in the reference): a k x k convolution with stride k. */
import * as tf from '@tensorflow/tfjs';
import { Conv2d } from '../common/conv2d.js';
import { SamLayer } from '../sam_layer.js';

export interface PatchEmbedConfig {
  patchSize: number;
  inChans: number;
  embedDim: number;
  name?: string;
}

export class PatchEmbed extends SamLayer {
  static className = 'sam.image_encoder.PatchEmbed';
  readonly config: Omit<PatchEmbedConfig, 'name'>;
  readonly proj: Conv2d;

  constructor(config: PatchEmbedConfig) {
    super({ name: config.name });
    const { name: _n, ...rest } = config;
    this.config = rest;
    this.proj = this.addSublayer(
      'proj',
      new Conv2d({ inChannels: config.inChans, outChannels: config.embedDim, kernelSize: config.patchSize, stride: config.patchSize }),
    );
  }

  override build(inputShape: tf.Shape): void {
    this.proj.buildFor(inputShape);
  }

  /** x: [B, S, S, 3] -> [B, S/16, S/16, E] (NHWC already, so no permute as in the reference) */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return this.run(this.proj, inputs);
  }

  override computeOutputShape(inputShape: tf.Shape): tf.Shape {
    return this.proj.computeOutputShape(inputShape) as tf.Shape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.config };
  }
}
tf.serialization.registerClass(PatchEmbed);
