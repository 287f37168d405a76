/**
 * A small random attention for the encoder's layouts (src/layers/image_encoder/attention_kernels.ts):
 * `images` images of h x w tokens of width c, the qkv weight and bias, relative-position
 * tables for the window (or the whole grid), and each head's scores' size. Shared by
 * test/attention_head_groups.test.ts and batch_of_images_checks.ts.
 */
import * as tf from '@tensorflow/tfjs';
import type { AttentionInputs } from '../../src/layers/image_encoder/attention_kernels.js';

export interface RandomAttention {
  x: tf.Tensor4D; // [images, h, w, c]
  kernel: tf.Tensor2D; // [c, 3c]
  bias: tf.Tensor1D; // [3c]
  rel: { tableH: tf.Tensor2D; tableW: tf.Tensor2D }; // [2 side - 1, hd]
  /** The layouts' inputs for these images (x) or others of the same size. */
  inputs(images?: tf.Tensor4D): AttentionInputs;
  /** Windows per image (1 without windows), and tokens per window. */
  windows: number;
  n: number;
  dispose(): void;
}

/** Seeds `seed` .. `seed + 4` for x, the weight, the bias and the two tables. */
export function randomAttention(o: { images: number; h: number; w: number; c: number; numHeads: number; windowSize: number; seed: number }): RandomAttention {
  const { images, h, w, c, numHeads, windowSize, seed } = o;
  const hd = c / numHeads;
  const side = windowSize || Math.max(h, w);
  const x = tf.randomNormal([images, h, w, c], 0, 1, 'float32', seed) as tf.Tensor4D;
  const kernel = tf.randomNormal([c, 3 * c], 0, 0.3, 'float32', seed + 1) as tf.Tensor2D;
  const bias = tf.randomNormal([3 * c], 0, 0.1, 'float32', seed + 2) as tf.Tensor1D;
  const rel = {
    tableH: tf.randomNormal([2 * side - 1, hd], 0, 0.5, 'float32', seed + 3) as tf.Tensor2D,
    tableW: tf.randomNormal([2 * side - 1, hd], 0, 0.5, 'float32', seed + 4) as tf.Tensor2D,
  };
  return {
    x,
    kernel,
    bias,
    rel,
    inputs: (images = x) => ({ x: images, windowSize: windowSize || undefined, numHeads, scale: hd ** -0.5, rel }),
    windows: windowSize ? Math.ceil(h / windowSize) * Math.ceil(w / windowSize) : 1,
    n: windowSize ? windowSize * windowSize : h * w,
    dispose: () => tf.dispose([x, kernel, bias, rel.tableH, rel.tableW]),
  };
}
