/**
 * GELU forms against a float64 evaluation of x Phi(x): the Erf-kernel form tfjs backends
 * run, and the form from vectorized ops that wasm runs (geluFromFastOps). The tolerance is
 * the Erf-kernel form's own error on the same inputs (the float noise of the plain port).
 */
import * as tf from '@tensorflow/tfjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { gelu, geluFromFastOps } from '../src/layers/common/activations.js';
import { TEST_BACKENDS, useBackend } from './helpers/backends.js';
import { gelu64 } from './helpers/float64_math.js';


/** The plain form, x/2 (1 + erf(x / sqrt 2)), with tfjs's Erf kernel. */
const erfKernelGelu = (x: tf.Tensor) => tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))));

for (const backend of TEST_BACKENDS) {
  const test = suite(`GELU (${backend})`);
  test.before(() => useBackend(backend));

  test('the vectorized-ops form is within the Erf-kernel form’s error of float64 GELU', () => {
    const start = tf.memory().numTensors;
    // Typical pre-activations, the far tails, and exact edge values.
    const sample = tf.tidy(() => Array.from(tf.randomNormal([20000], 0, 3, 'float32', 11).dataSync()));
    const edges = [0, -0, 1e-30, -1e-30, 1e-3, -1e-3, 0.5, -0.5, 1, -1, 5, -5, 9, -9, 13, -13, 30, -30, 1e4, -1e4];
    const xs = Float32Array.from([...sample, ...edges]);
    const x = tf.tensor1d(xs);
    const expected = Array.from(xs, gelu64);
    const maxErr = (t: tf.Tensor) => {
      const d = t.dataSync();
      t.dispose();
      return expected.reduce((m, e, i) => Math.max(m, Math.abs(d[i] - e) / Math.max(1, Math.abs(e))), 0);
    };
    const kernelErr = maxErr(erfKernelGelu(x));
    const fastErr = maxErr(geluFromFastOps(x));
    const selectedErr = maxErr(gelu(x));
    x.dispose();
    const noise = Math.max(kernelErr, 2 ** -23);
    assert.ok(fastErr <= 2 * noise, `vectorized-ops GELU error ${fastErr.toExponential(2)} > 2 x Erf-kernel error ${noise.toExponential(2)}`);
    assert.ok(selectedErr <= 2 * noise, `gelu() error ${selectedErr.toExponential(2)} > 2 x Erf-kernel error ${noise.toExponential(2)}`);
    assert.is(tf.memory().numTensors, start);
  });

  test.run();
}
