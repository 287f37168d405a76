/**
 * `node dist/bench/decode_batch.js [B] [backend]`: one decoder pass on B point prompts (the
 * automatic mask generator's pass size is 7) with a full-size ViT-B decoder, random weights
 * and a random image embedding: wall time of 4 passes after 2 warm-ups, and per prompt.
 * Not a test; compare runs made in one sitting.
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend.js';
import { presetConfig } from '../src/sam/config.js';
import { SamModel } from '../src/sam/sam_model.js';
import { randomizeWeights } from './random_weights.js';

const b = Number(process.argv[2] ?? 7);
if (!(b >= 1)) throw new Error('usage: decode_batch.js [B >= 1] [backend]');
const choice = await selectBackend(process.argv[3] ?? 'wasm');
const model = new SamModel(presetConfig('vit_b'));
randomizeWeights(model, 1);
const embedding = tf.randomNormal([1, 64, 64, 256], 0, 1, 'float32', 2) as tf.Tensor4D;
const pointCoords = tf.randomUniform([b, 1, 2], 0, 1000, 'float32', 3) as tf.Tensor3D;
const pointLabels = tf.ones([b, 1]) as tf.Tensor2D;
const pass = () => {
  const r = model.decode({ imageEmbeddings: embedding, pointCoords, pointLabels, multimaskOutput: true });
  r.iouPredictions.dataSync();
  tf.dispose([r.lowResLogits, r.iouPredictions]);
};
pass();
pass();
const times: number[] = [];
for (let i = 0; i < 4; i++) {
  const start = performance.now();
  pass();
  times.push(performance.now() - start);
}
console.log(`${choice.backend}, ${b} prompts a pass: ${times.map((t) => t.toFixed(0)).join(' ')} ms; best ${(Math.min(...times) / b).toFixed(1)} ms a prompt`);
tf.dispose([embedding, pointCoords, pointLabels]);
model.dispose();
