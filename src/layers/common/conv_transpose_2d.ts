/**
 * `nn.ConvTranspose2d` with kernel_size == stride (the only form SAM uses: 2x2, stride 2).
 *
 * With non-overlapping kernels every input pixel writes its own k x k output block, so the
 * op is one matMul [B*H*W, in] x [in, k*k*out] followed by a depth-to-space rearrangement
 * (done with reshape and transpose: tfjs-wasm's DepthToSpace kernel is slow). PyTorch stores
 * the kernel as [in, out, kh, kw]; it is rearranged once to [in, kh, kw, out] -> [in, k*k*out].
 */
import * as tf from '@tensorflow/tfjs';
import { matMul2d, PackedWeight } from './packed_matmul.js';
import { SamLayer, type LayerVariable } from '../sam_layer.js';

export interface ConvTranspose2dConfig {
  inChannels: number;
  outChannels: number;
  kernelSize: number;
  stride: number;
  name?: string;
}

export class ConvTranspose2d extends SamLayer {
  static className = 'sam.ConvTranspose2d';
  readonly config: Omit<ConvTranspose2dConfig, 'name'>;
  private kernel!: LayerVariable; // [in, k*k*out]
  private bias!: LayerVariable; // [k*k*out], the bias tiled over the k*k positions
  /** The kernel packed for the wasm SIMD matMul (packed_matmul.ts). */
  private readonly packed = new PackedWeight();

  constructor(config: ConvTranspose2dConfig) {
    super({ name: config.name });
    if (config.kernelSize !== config.stride) {
      throw new Error(
        `ConvTranspose2d: kernel_size ${config.kernelSize} != stride ${config.stride} is not supported (SAM uses 2/2)`,
      );
    }
    const { name: _n, ...rest } = config;
    this.config = rest;
  }

  override build(): void {
    const { inChannels: i, outChannels: o, kernelSize: k } = this.config;
    this.kernel = this.addTorchWeight('weight', [i, k * k * o], 'zeros', [i, o, k, k], (t) =>
      tf.transpose(t, [0, 2, 3, 1]).reshape([i, k * k * o]),
    );
    this.bias = this.addTorchWeight('bias', [k * k * o], 'zeros', [o], (t) => tf.tile(t, [k * k]));
  }

  /** x: [B, H, W, in] -> [B, k*H, k*W, out] */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D;
      const [b, h, w, c] = x.shape;
      const { kernelSize: k, outChannels: o } = this.config;
      const y = this.blocks(x.reshape([b * h * w, c]) as tf.Tensor2D);
      // [B, H, W, dh, dw, out] -> [B, H, dh, W, dw, out] -> [B, k*H, k*W, out]
      return y.reshape([b, h, w, k, k, o]).transpose([0, 1, 3, 2, 4, 5]).reshape([b, k * h, k * w, o]);
    });
  }

  /**
   * The output before its depth-to-space rearrangement: per input pixel (a row of x [N, in]),
   * its k x k output block, [N, k*k*out] (columns dh, dw, out). For callers whose next ops
   * work per output pixel or per row (the mask decoder on cpu/wasm), which then need not
   * rearrange the full-size output.
   */
  blocks(x: tf.Tensor2D): tf.Tensor2D {
    this.buildFor([null, null, null, this.config.inChannels]);
    return tf.tidy(() => {
      const kernel = this.kernel.read() as tf.Tensor2D;
      // The bias starts each sum (the matMul's fused bias): no separate pass over the output.
      return matMul2d(x, kernel, this.bias.read() as tf.Tensor1D, this.packed.get(kernel, x.shape[0]));
    });
  }

  protected override disposeWeights(): number {
    this.packed.dispose();
    return super.disposeWeights();
  }

  override computeOutputShape(inputShape: tf.Shape): tf.Shape {
    const k = this.config.kernelSize;
    const up = (n: number | null) => (n === null ? null : n * k);
    return [inputShape[0], up(inputShape[1]), up(inputShape[2]), this.config.outChannels];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.config };
  }
}
tf.serialization.registerClass(ConvTranspose2d);
