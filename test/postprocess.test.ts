/**
 * Mask post-processing's backend-specific forms against the plain tfjs ops they replace:
 * the row-copy crop (cpu/wasm) against tf.slice, for landscape and portrait crops and
 * batches; the Step-based threshold (wasm) against JavaScript's `>` on edge values.
 */
import * as tf from '@tensorflow/tfjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { postprocessMasks, thresholdMasks } from '../src/sam/postprocess.js';
import { TEST_BACKENDS, useBackend } from './helpers/backends.js';

/** The reference's steps with plain ops: resize to S x S, slice the crop, resize to the original. */
function plainPostprocess(masks: tf.Tensor4D, inputSize: [number, number], originalSize: [number, number], s: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [b, m] = masks.shape;
    const full = tf.image.resizeBilinear(masks.transpose([0, 2, 3, 1]) as tf.Tensor4D, [s, s], false, true);
    const cropped = tf.slice(full, [0, 0, 0, 0], [b, inputSize[0], inputSize[1], m]) as tf.Tensor4D;
    return tf.image.resizeBilinear(cropped, originalSize, false, true).transpose([0, 3, 1, 2]) as tf.Tensor4D;
  });
}

for (const backend of TEST_BACKENDS) {
  const test = suite(`mask post-processing (${backend})`);
  test.before(() => useBackend(backend));

  const shapes: Array<{ name: string; batch: number; inputSize: [number, number]; originalSize: [number, number] }> = [
    { name: 'landscape crop, one prompt', batch: 1, inputSize: [43, 64], originalSize: [150, 225] },
    { name: 'portrait crop, two prompts', batch: 2, inputSize: [64, 37], originalSize: [181, 104] },
    { name: 'no crop (square)', batch: 1, inputSize: [64, 64], originalSize: [90, 90] },
  ];
  for (const { name, batch, inputSize, originalSize } of shapes) {
    test(`${name}: the same values as resize + tf.slice + resize`, () => {
      const start = tf.memory().numTensors;
      const low = tf.randomNormal([batch, 3, 16, 16], 0, 4, 'float32', 5) as tf.Tensor4D;
      const got = postprocessMasks(low, inputSize, originalSize, 64);
      const expected = plainPostprocess(low, inputSize, originalSize, 64);
      assert.equal(got.shape, [batch, 3, ...originalSize]);
      assert.is(tf.tidy(() => tf.max(tf.abs(tf.sub(got, expected))).dataSync()[0]), 0);
      tf.dispose([low, got, expected]);
      assert.is(tf.memory().numTensors, start);
    });
  }

  test('thresholdMasks is strictly greater than the threshold, edge values included', () => {
    const values = [-1, -0, 0, 1e-45, -1e-45, 1.4e-44, 0.5, 1, 2, NaN, Infinity, -Infinity, 3e38, -3e38];
    for (const threshold of [0, 0.5, -0.5, 1]) {
      const x = tf.tensor1d(values);
      const masks = thresholdMasks(x, threshold);
      assert.is(masks.dtype, 'bool');
      assert.equal(Array.from(masks.dataSync()), values.map((v) => (Math.fround(v) > threshold ? 1 : 0)), `threshold ${threshold}`);
      tf.dispose([x, masks]);
    }
  });

  test.run();
}
