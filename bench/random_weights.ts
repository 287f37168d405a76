/**
 * Random weights for benchmarks (no download needed): normal values scaled by 1/sqrt(fan_in)
 * for matrices and convolutions, ones for norm weights, small values for biases and tables.
 * Seeded, so runs are repeatable.
 */
import * as tf from '@tensorflow/tfjs';
import type { SamModel } from '../src/sam/sam_model.js';

export function randomizeWeights(model: SamModel, seed: number): void {
  let i = 0;
  for (const [key, p] of model.torchParams()) {
    const shape = p.variable.shape as number[];
    tf.tidy(() => {
      const s = seed + i++;
      let value: tf.Tensor;
      if (/norm|ln|layer_norm|neck\.[13]|upscaling\.1|downscaling\.[14]/.test(key) && key.endsWith('.weight') && shape.length === 1) {
        value = tf.ones(shape);
      } else if (shape.length === 1) {
        value = tf.randomNormal(shape, 0, 0.02, 'float32', s);
      } else {
        const fanIn = p.torchShape.length >= 2 ? p.torchShape.slice(1).reduce((a, b) => a * b, 1) : shape[shape.length - 1];
        value = tf.randomNormal(shape, 0, 1 / Math.sqrt(Math.max(fanIn, 1)), 'float32', s);
      }
      p.variable.write(value);
    });
  }
}
