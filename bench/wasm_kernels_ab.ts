/**
 * `npm run build && node dist/bench/wasm_kernels_ab.js [on,off,...]`: the ViT-B image encoder
 * (random weights) on wasm with the SIMD kernels of src/backends/wasm_kernels.ts on and off,
 * alternately in one process (default on,off,on,off,on,off), after one warm-up: the fairest
 * comparison on a machine whose speed drifts. Prints each run and the largest difference of
 * each embedding from the first one's.
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend.js';
import { setWasmKernelsEnabled } from '../src/backends/wasm_kernels.js';
import { presetConfig } from '../src/sam/config.js';
import { SamModel } from '../src/sam/sam_model.js';
import { randomizeWeights } from './random_weights.js';

const order = (process.argv[2] ?? 'on,off,on,off,on,off').split(',');
if (!order.every((o) => o === 'on' || o === 'off')) throw new Error('usage: wasm_kernels_ab.js [on|off,...]');
console.log((await selectBackend('wasm')).provider);
const model = new SamModel(presetConfig('vit_b'));
randomizeWeights(model, 1);
const input = tf.randomUniform([1, 1024, 1024, 3], -2, 2, 'float32', 4) as tf.Tensor4D;
const encode = () => {
  const start = performance.now();
  const e = model.embedImage(input);
  e.dataSync();
  return { e, ms: performance.now() - start };
};
encode().e.dispose(); // warm-up
let first: tf.Tensor | null = null;
const times: Record<string, number[]> = { on: [], off: [] };
for (const o of order) {
  setWasmKernelsEnabled(o === 'on');
  const { e, ms } = encode();
  times[o].push(ms);
  const diff = first ? tf.tidy(() => tf.max(tf.abs(tf.sub(e, first!))).dataSync()[0]) : 0;
  if (!first) first = e;
  else e.dispose();
  console.log(`kernels ${o.padEnd(3)} ${(ms / 1000).toFixed(2)} s   max diff from the first embedding ${diff.toExponential(1)}`);
}
for (const o of ['on', 'off']) if (times[o].length) console.log(`kernels ${o}: ${times[o].map((t) => (t / 1000).toFixed(1)).join(', ')} s`);
tf.dispose([input, first!]);
model.dispose();
