/**
 * `nn.LayerNorm` over the last axis: (x - mean) / sqrt(var + eps) * weight + bias, with the
 * biased variance, as PyTorch computes it. On wasm the same steps in one SIMD kernel
 * (backends/wasm_kernels.ts), on WebGPU in one compute pass (backends/webgpu_kernels.ts),
 * on WebGL in two programs (backends/webgl_kernels.ts), instead of nine tfjs ops.
 */

import * as tf from '@tensorflow/tfjs';
import { addLayerNormKernel, layerNormKernel, wasmKernelsActive } from '../../backends/wasm_kernels.js';
import { webglKernelsActive } from '../../backends/webgl_kernels.js';
import { webgpuKernelsActive } from '../../backends/webgpu_kernels.js';
import { addTensors } from '../tensor_utils.js';
import { SamLayer, type LayerVariable } from '../sam_layer.js';

/** Whether this backend has the layer-norm kernels (`SamLayerNorm`, `SamAddLayerNorm`). */
function kernelsActive(): boolean {
  return wasmKernelsActive() || webgpuKernelsActive() || webglKernelsActive();
}

export interface LayerNormConfig {
  numFeatures: number;
  /** PyTorch's default is 1e-5; the image encoder uses 1e-6. */
  eps?: number;
  name?: string;
}

export class LayerNorm extends SamLayer {
  static className = 'sam.LayerNorm';
  readonly numFeatures: number;
  readonly eps: number;
  private weight!: LayerVariable; // [C]
  private bias!: LayerVariable; // [C]

  constructor(config: LayerNormConfig) {
    super({ name: config.name });
    this.numFeatures = config.numFeatures;
    this.eps = config.eps ?? 1e-5;
  }

  override build(): void {
    this.weight = this.addTorchWeight('weight', [this.numFeatures], 'ones');
    this.bias = this.addTorchWeight('bias', [this.numFeatures]);
  }

  /** x: [..., C] -> [..., C] */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (kernelsActive() && x.dtype === 'float32') {
        return layerNormKernel(x, this.weight.read() as tf.Tensor1D, this.bias.read() as tf.Tensor1D, this.eps);
      }
      const axis = x.rank - 1;
      const mean = tf.mean(x, axis, true);
      const centered = tf.sub(x, mean);
      const variance = tf.mean(tf.square(centered), axis, true);
      const normed = tf.mul(centered, tf.rsqrt(tf.add(variance, this.eps)));
      return tf.add(tf.mul(normed, this.weight.read()), this.bias.read());
    });
  }

  /**
   * This norm of a + b (a residual and its update, one shape): on wasm one SIMD kernel that
   * adds a row and normalises it while it is in cache (the values of the add then the norm),
   * on WebGPU and WebGL the same kernels' add in their passes, elsewhere the add then `apply`.
   */
  applyToSum(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
    if (tf.util.arraysEqual(a.shape, b.shape) && a.dtype === 'float32' && b.dtype === 'float32' && kernelsActive()) {
      this.buildFor(a.shape);
      return addLayerNormKernel(a, b, this.weight.read() as tf.Tensor1D, this.bias.read() as tf.Tensor1D, this.eps);
    }
    return tf.tidy(() => this.apply(addTensors(a, b)) as tf.Tensor);
  }

  override computeOutputShape(inputShape: tf.Shape): tf.Shape {
    return inputShape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), numFeatures: this.numFeatures, eps: this.eps };
  }
}
tf.serialization.registerClass(LayerNorm);
