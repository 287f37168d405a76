/**
 * The arithmetic sin/cos used for positional encodings on GPU backends matches the C
 * library's (cpu backend) to float32 precision over the range SAM's encodings use and
 * beyond, including the quadrant boundaries and negative arguments.
 */
import * as tf from '@tensorflow/tfjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { polynomialSinCos } from '../src/layers/prompt_encoder/sin_cos.js';
import { useBackend } from './helpers/backends.js';

test('polynomialSinCos matches Math.sin / Math.cos within 2e-7 on |x| <= 64', async () => {
  await useBackend('cpu');
  const n = 200001;
  const xs = new Float32Array(n);
  for (let i = 0; i < n; i++) xs[i] = -64 + (128 * i) / (n - 1);
  // Quadrant boundaries exactly (as float32).
  const extra = Float32Array.from([0, Math.PI / 2, Math.PI, (3 * Math.PI) / 2, -Math.PI / 4, Math.PI / 4, 20.420352]);
  const all = Float32Array.from([...xs, ...extra]);
  const [s, c] = polynomialSinCos(tf.tensor1d(all));
  const sv = s.dataSync();
  const cv = c.dataSync();
  let worst = 0;
  for (let i = 0; i < all.length; i++) {
    worst = Math.max(worst, Math.abs(sv[i] - Math.sin(all[i])), Math.abs(cv[i] - Math.cos(all[i])));
  }
  // float32 results near 1 are spaced 6e-8 apart; a few ulps of rounding in the reduction and polynomial.
  assert.ok(worst <= 2e-7, `worst error ${worst}`);
  tf.dispose([s, c]);
});

test.run();
