/**
 * `npx tsx bench/gelu.ts [backend]`: the two GELU forms on a ViT-B MLP activation
 * [4096, 3072] of N(0, 3^2) values: time (median of 5 after 2 warm-ups) and max abs error
 * against a float64 GELU on every 97th value. Not a test.
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend.js';
import { geluFromFastOps } from '../src/layers/common/activations.js';
import { gelu64 } from '../test/helpers/float64_math.js';


const erfKernelGelu = (x: tf.Tensor) => tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))));

const choice = await selectBackend(process.argv[2] ?? 'wasm');
const x = tf.randomNormal([4096, 3072], 0, 3, 'float32', 1);
const xs = x.dataSync();
for (const [name, f] of [
  ['Erf kernel', erfKernelGelu],
  ['vectorized ops', geluFromFastOps],
] as const) {
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    const start = performance.now();
    const y = f(x);
    y.dataSync();
    if (i >= 2) times.push(performance.now() - start);
    if (i < 6) y.dispose();
    else {
      const ys = y.dataSync();
      let err = 0;
      for (let j = 0; j < xs.length; j += 97) err = Math.max(err, Math.abs(ys[j] - gelu64(xs[j])));
      y.dispose();
      times.sort((a, b) => a - b);
      console.log(`${choice.backend} ${name}: ${times[2].toFixed(0)} ms median, max abs error ${err.toExponential(1)}`);
    }
  }
}
x.dispose();
