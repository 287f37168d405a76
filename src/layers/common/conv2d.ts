/**
 * `nn.Conv2d` on NHWC activations. PyTorch stores the kernel as [out, in, kh, kw]; tfjs
 * wants [kh, kw, in, out], so the weight is transposed once, when it is loaded.
 */
import * as tf from '@tensorflow/tfjs';
import { SamLayer, type LayerVariable } from '../sam_layer.js';

export interface Conv2dConfig {
  inChannels: number;
  outChannels: number;
  kernelSize: number;
  stride?: number;
  /** Zero padding on every side, as PyTorch's integer `padding`. */
  padding?: number;
  bias?: boolean;
  name?: string;
}

const torchToTfjsKernel = (t: tf.Tensor) => tf.transpose(t, [2, 3, 1, 0]);

export class Conv2d extends SamLayer {
  static className = 'sam.Conv2d';
  readonly config: Required<Omit<Conv2dConfig, 'name'>>;
  private kernel!: LayerVariable; // [kh, kw, in, out]
  private biasWeight: LayerVariable | null = null; // [out]

  constructor(config: Conv2dConfig) {
    super({ name: config.name });
    this.config = {
      inChannels: config.inChannels,
      outChannels: config.outChannels,
      kernelSize: config.kernelSize,
      stride: config.stride ?? 1,
      padding: config.padding ?? 0,
      bias: config.bias ?? true,
    };
  }

  override build(): void {
    const { inChannels: i, outChannels: o, kernelSize: k, bias } = this.config;
    this.kernel = this.addTorchWeight('weight', [k, k, i, o], 'zeros', [o, i, k, k], torchToTfjsKernel);
    if (bias) this.biasWeight = this.addTorchWeight('bias', [o]);
  }

  /** x: [B, H, W, in] -> [B, H', W', out] */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const { stride, padding } = this.config;
      const y = tf.conv2d(x, this.kernel.read() as tf.Tensor4D, stride, padding === 0 ? 'valid' : padding);
      return this.biasWeight ? tf.add(y, this.biasWeight.read()) : y;
    });
  }

  override computeOutputShape(inputShape: tf.Shape): tf.Shape {
    const { kernelSize: k, stride: s, padding: p, outChannels } = this.config;
    const out = (n: number | null) => (n === null ? null : Math.floor((n + 2 * p - k) / s) + 1);
    return [inputShape[0], out(inputShape[1]), out(inputShape[2]), outChannels];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.config };
  }
}
tf.serialization.registerClass(Conv2d);
