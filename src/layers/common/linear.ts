/**
 * `nn.Linear`: y = x W^T + b over the last axis.
 *
 * The weight is stored as [in, out] (PyTorch keeps [out, in]) so the product is a plain,
 * untransposed 2-D matMul, the form every tfjs backend runs fastest.
 */
import * as tf from '@tensorflow/tfjs';
import { SamLayer, type LayerVariable } from '../sam_layer.js';
import { isCpuLikeBackend } from '../tensor_utils.js';
import { matMul2d, PackedWeight, packedMatMulPays, packedWeightPays } from './packed_matmul.js';

export interface LinearConfig {
  inFeatures: number;
  outFeatures: number;
  bias?: boolean;
  name?: string;
}

const transpose2d = (t: tf.Tensor) => tf.transpose(t, [1, 0]);

export class Linear extends SamLayer {
  static className = 'sam.Linear';
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly useBias: boolean;
  private weight!: LayerVariable; // [in, out]
  private biasWeight: LayerVariable | null = null; // [out]
  /**
   * Whether the backend may keep a prepared copy of the kernel between calls. tfjs-wasm
   * packs every matMul's right-hand side for XNNPACK once and keeps the packed copy until
   * that tensor is disposed: for the model's weights that doubles their memory. With false,
   * wasm multiplies by a fresh copy, whose packed form goes with it (ViT-L/H encoders, see
   * ImageEncoderViT). Other backends ignore it.
   */
  cacheKernel = true;
  /** The kernel packed for the wasm SIMD matMul (packed_matmul.ts), kept while cacheKernel. */
  private readonly packed = new PackedWeight();

  constructor(config: LinearConfig) {
    super({ name: config.name });
    this.inFeatures = config.inFeatures;
    this.outFeatures = config.outFeatures;
    this.useBias = config.bias ?? true;
  }

  override build(): void {
    this.weight = this.addTorchWeight('weight', [this.inFeatures, this.outFeatures], 'zeros', [this.outFeatures, this.inFeatures], transpose2d);
    if (this.useBias) this.biasWeight = this.addTorchWeight('bias', [this.outFeatures]);
  }

  /** The weight, [in, out] (tfjs layout). */
  kernel(): tf.Tensor2D {
    return this.weight.read() as tf.Tensor2D;
  }

  /** The bias [out], or null. */
  biasVector(): tf.Tensor1D | null {
    return this.biasWeight ? (this.biasWeight.read() as tf.Tensor1D) : null;
  }

  /**
   * The kernel in the wasm SIMD matMul's panels (packed_matmul.ts), kept as the layer's own
   * products keep it; null where that kernel does not run or the layer keeps no copies
   * (cacheKernel false). For products that take the weight in pieces (the decoder's per-head
   * products, block_diagonal_heads.ts).
   */
  packedKernel(): tf.Tensor3D | null {
    return this.cacheKernel ? this.packed.get(this.kernel(), 1) : null;
  }

  /** x: [..., in] -> [..., out] */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const lead = x.shape.slice(0, -1);
      const x2d = x.reshape([-1, this.inFeatures]) as tf.Tensor2D;
      // One fused op: the bias is added in the matMul's output pass.
      const kernel = this.weight.read() as tf.Tensor2D;
      const bias = this.biasWeight?.read() as tf.Tensor1D | undefined;
      const pays = this.cacheKernel ? packedWeightPays : packedMatMulPays; // a kept packed kernel pays at any size
      if (x2d.dtype === 'float32' && pays(x2d.shape[0], this.inFeatures, this.outFeatures)) {
        // The SIMD kernel (packed_matmul.ts), with the packed kernel kept, or packed for this call only.
        if (!this.cacheKernel) this.packed.dispose();
        return matMul2d(x2d, kernel, bias, this.cacheKernel ? this.packed.get(kernel, x2d.shape[0]) : null).reshape([...lead, this.outFeatures]);
      }
      const b = this.cacheKernel || tf.getBackend() !== 'wasm' ? kernel : (tf.mul(kernel, 1) as tf.Tensor2D);
      const y = tf.fused.matMul({ a: x2d, b, bias });
      if (b !== kernel) b.dispose(); // drops wasm's packed copy with it
      return y.reshape([...lead, this.outFeatures]);
    });
  }

  /**
   * relu(x W + b) for x [..., in]. On GPU backends one fused matMul with the ReLU in its
   * output pass (one dispatch instead of two); elsewhere the layer, then tf.relu. The same
   * values either way.
   */
  applyRelu(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      if (isCpuLikeBackend() || x.dtype !== 'float32') return tf.relu(this.apply(x) as tf.Tensor);
      const lead = x.shape.slice(0, -1);
      const y = tf.fused.matMul({ a: x.reshape([-1, this.inFeatures]) as tf.Tensor2D, b: this.kernel(), bias: this.biasVector() ?? undefined, activation: 'relu' });
      return y.reshape([...lead, this.outFeatures]);
    });
  }

  protected override disposeWeights(): number {
    this.packed.dispose();
    return super.disposeWeights();
  }

  override computeOutputShape(inputShape: tf.Shape): tf.Shape {
    return [...inputShape.slice(0, -1), this.outFeatures];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), inFeatures: this.inFeatures, outFeatures: this.outFeatures, bias: this.useBias };
  }
}
tf.serialization.registerClass(Linear);
