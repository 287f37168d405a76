/**
 * `nn.Conv2d` on NHWC activations. PyTorch stores the kernel as [out, in, kh, kw]; tfjs
 * wants [kh, kw, in, out], so the weight is transposed once, when it is loaded.
 *
 * The two forms that are one matMul, a 1 x 1 convolution and a k x k one with stride k and
 * no padding (the patch embedding: each output pixel reads its own patch), run as one where
 * the wasm SIMD matMul takes the product (packed_matmul.ts), its helper threads included:
 * [B*H'*W', k*k*in] (the patches, each flattened in the kernel's (kh, kw, in) order) x
 * [k*k*in, out]. So does a k x k one with stride 1 and "same" padding (the neck's 3 x 3),
 * its patches gathered first (im2col: the padded input's k*k shifted views side by side):
 * there tfjs-wasm's convolution runs on the calling thread alone (the kernels' helpers hold
 * the other threads). ViT-B's neck, [1, 64, 64, 256] with a 3 x 3 kernel (a scratch timing,
 * best / median of 5, fused, alternately twice): tf.conv2d 285.7 / 352.7 and 213.1 / 294.2 ms,
 * im2col and the matMul 119.5 / 150.0 and 94.0 / 109.6 ms. Elsewhere, and for other forms,
 * tf.conv2d.
 */
import * as tf from '@tensorflow/tfjs';
import { SamLayer, type LayerVariable } from '../sam_layer.js';
import { matMul2d, packedMatMulPays, PackedWeight } from './packed_matmul.js';

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
  /** The kernel as [k*k*in, out], packed for the wasm SIMD matMul (the matMul forms only). */
  private readonly packed = new PackedWeight();

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
      const { stride, padding, kernelSize: k, inChannels: c, outChannels: o } = this.config;
      const form = this.matMulForm(x);
      if (form) {
        const rows = x.shape[0] * form.oh * form.ow;
        const kernel = this.kernel.read().reshape([k * k * c, o]) as tf.Tensor2D;
        const y = matMul2d(form.patches(), kernel, (this.biasWeight?.read() as tf.Tensor1D | undefined) ?? null, this.packed.get(kernel, rows));
        return y.reshape([x.shape[0], form.oh, form.ow, o]);
      }
      const y = tf.conv2d(x, this.kernel.read() as tf.Tensor4D, stride, padding === 0 ? 'valid' : padding);
      return this.biasWeight ? tf.add(y, this.biasWeight.read()) : y;
    });
  }

  /**
   * Where x's convolution is one matMul that the SIMD kernel takes: the output size and how
   * to make the patches [B*H'*W', k*k*in] (rows in the kernel's (kh, kw, in) order); else null.
   */
  private matMulForm(x: tf.Tensor4D): { oh: number; ow: number; patches: () => tf.Tensor2D } | null {
    const { stride, padding, kernelSize: k, inChannels: c, outChannels: o } = this.config;
    const [b, h, w] = x.shape;
    if (x.dtype !== 'float32') return null;
    if (padding === 0 && stride === k && h % k === 0 && w % k === 0) {
      const [oh, ow] = [h / k, w / k];
      const rows = b * oh * ow;
      if (!packedMatMulPays(rows, k * k * c, o)) return null;
      // [B, H, W, in] -> [B, H', k, W', k, in] -> [B, H', W', k, k, in]: one row per patch
      const patches = () => (k === 1 ? x.reshape([rows, c]) : x.reshape([b, oh, k, ow, k, c]).transpose([0, 1, 3, 2, 4, 5]).reshape([rows, k * k * c])) as tf.Tensor2D;
      return { oh, ow, patches };
    }
    if (stride === 1 && k > 1 && 2 * padding === k - 1 && packedMatMulPays(b * h * w, k * k * c, o)) {
      const patches = () => {
        const padded = tf.pad(x, [[0, 0], [padding, padding], [padding, padding], [0, 0]]);
        const views: tf.Tensor4D[] = [];
        for (let dy = 0; dy < k; dy++) for (let dx = 0; dx < k; dx++) views.push(tf.slice(padded, [0, dy, dx, 0], [b, h, w, c]));
        return tf.concat(views, 3).reshape([b * h * w, k * k * c]) as tf.Tensor2D; // (dy, dx, in)
      };
      return { oh: h, ow: w, patches };
    }
    return null;
  }

  protected override disposeWeights(): number {
    this.packed.dispose();
    return super.disposeWeights();
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
