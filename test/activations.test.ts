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
import { geluErrors } from './helpers/gelu_errors.js';

for (const backend of TEST_BACKENDS) {
  const test = suite(`GELU (${backend})`);
  test.before(() => useBackend(backend));

  test('the vectorized-ops form is within the Erf-kernel form’s error of float64 GELU', () => {
    const start = tf.memory().numTensors;
    const { erfForm: kernelErr, fast: fastErr, selected: selectedErr } = geluErrors({ fast: geluFromFastOps, selected: gelu });
    const noise = Math.max(kernelErr, 2 ** -23);
    assert.ok(fastErr <= 2 * noise, `vectorized-ops GELU error ${fastErr.toExponential(2)} > 2 x Erf-kernel error ${noise.toExponential(2)}`);
    assert.ok(selectedErr <= 2 * noise, `gelu() error ${selectedErr.toExponential(2)} > 2 x Erf-kernel error ${noise.toExponential(2)}`);
    assert.is(tf.memory().numTensors, start);
  });

  test.run();
}
