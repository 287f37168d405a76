/**
 * MLPs of one shape run side by side on GPU backends: the mask decoder's hypernetworks (one
 * MLP per mask token) as one batched matMul per layer, MLP k on row k of x [count, B, in],
 * with each layer's ReLU in its matMul's output pass. From the MLPs one by one that is 3
 * dispatches instead of 6 per token and the slices and stack around them (25 for the 4
 * tokens of a multimask prompt). The weights are stacked once ([count, in, out], bias
 * [count, 1, out]) and kept until they change (a new dataId) or `dispose`.
 */
import * as tf from '@tensorflow/tfjs';
import type { MLP } from './mlp.js';

interface StackedLayer {
  kernel: tf.Tensor3D;
  bias: tf.Tensor3D;
}

export class StackedMLPs {
  private source: unknown[] = [];
  private layers: StackedLayer[] | null = null;

  /** x [count, B, in] -> [count, B, out]: mlps[k] on x[k]. */
  apply(mlps: MLP[], x: tf.Tensor3D): tf.Tensor3D {
    if (mlps.length !== x.shape[0]) throw new Error(`StackedMLPs: ${mlps.length} MLPs for ${x.shape[0]} rows of input`);
    const layers = this.weights(mlps);
    const sigmoid = mlps[0].config.sigmoidOutput;
    return tf.tidy(() => {
      let y = x;
      layers.forEach((l, i) => {
        y = tf.fused.matMul({ a: y, b: l.kernel, bias: l.bias, activation: i < layers.length - 1 ? 'relu' : 'linear' }) as tf.Tensor3D;
      });
      return (sigmoid ? tf.sigmoid(y) : y) as tf.Tensor3D;
    });
  }

  private weights(mlps: MLP[]): StackedLayer[] {
    const linears = mlps.map((m) => m.layers);
    const source = [tf.getBackend(), ...linears.flatMap((ls) => ls.flatMap((l) => [l.kernel().dataId, l.biasVector()?.dataId]))];
    if (this.layers && source.length === this.source.length && source.every((v, i) => v === this.source[i])) return this.layers;
    this.dispose();
    const depth = linears[0].length;
    if (linears.some((ls, k) => ls.length !== depth || mlps[k].config.sigmoidOutput !== mlps[0].config.sigmoidOutput)) {
      throw new Error('StackedMLPs: the MLPs differ in depth or output');
    }
    const layers: StackedLayer[] = [];
    for (let i = 0; i < depth; i++) {
      const kernel = tf.stack(linears.map((ls) => ls[i].kernel())) as tf.Tensor3D; // [count, in, out]
      const bias = tf.tidy(() => tf.stack(linears.map((ls) => ls[i].biasVector() ?? tf.zeros([ls[i].outFeatures]))).expandDims(1) as tf.Tensor3D); // [count, 1, out]
      // Kept: this may run inside the caller's tidy, which would release them at its end.
      layers.push({ kernel: tf.keep(kernel), bias: tf.keep(bias) });
    }
    this.layers = layers;
    this.source = source;
    return layers;
  }

  dispose(): void {
    if (this.layers) tf.dispose(this.layers.flatMap((l) => [l.kernel, l.bias]));
    this.layers = null;
    this.source = [];
  }
}
