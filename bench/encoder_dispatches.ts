/**
 * `node dist/bench/encoder_dispatches.js [backend] [image size] [model]`: the tfjs kernel
 * calls of one windowed and one global encoder block (the model's widths and heads, random
 * weights, a two-block encoder: block 0 windowed, block 1 global) under `tf.profile`, and how
 * many of them are dispatches (reshapes, identities and op wrappers aside), by kernel name,
 * after a call that fills the layers' caches. Default: webgpu, 256 pixels (on SwiftShader a
 * 1024-pixel block takes minutes), vit_b. On GPU backends, where dispatching from JavaScript is
 * most of a pass, this counts what a change removes; it does not time anything. WebGPU in
 * Node needs Dawn's Vulkan driver in the environment (see the README).
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend.js';
import { presetConfig, type ModelType } from '../src/sam/config.js';
import { SamModel } from '../src/sam/sam_model.js';
import { randomizeWeights } from './random_weights.js';

const backend = process.argv[2] ?? 'webgpu';
const size = Number(process.argv[3] ?? 256);
const modelType = (process.argv[4] ?? 'vit_b') as ModelType;
if (!(size >= 16 && size % 16 === 0)) throw new Error('usage: encoder_dispatches.js [backend] [image size, a multiple of 16] [vit_b|vit_l|vit_h]');
tf.env().set('IS_TEST', true);
await selectBackend(backend);
const config = presetConfig(modelType);
config.imageEncoder = { ...config.imageEncoder, depth: 2, globalAttnIndexes: [1], imgSize: size };
config.promptEncoder = { ...config.promptEncoder, imageEmbeddingSize: [size / 16, size / 16], inputImageSize: [size, size] };
const model = new SamModel(config);
randomizeWeights(model, 1234);
const encoder = model.imageEncoder;
const x = tf.randomNormal([1, size, size, 3], 0, 1, 'float32', 7);
const tokens = encoder.embedPatches(x as tf.Tensor4D);
const notDispatch = (name: string) => ['Reshape', 'Identity', 'ExpandDims'].includes(name) || name.endsWith('__op');
for (const block of encoder.blocks) {
  const warm = block.apply(tokens) as tf.Tensor;
  await warm.data();
  warm.dispose();
}
for (const [i, block] of encoder.blocks.entries()) {
  const info = await tf.profile(async () => {
    const y = block.apply(tokens) as tf.Tensor;
    await y.data();
    y.dispose();
  });
  const names = info.kernels.map((k) => k.name);
  const dispatches = names.filter((n) => !notDispatch(n));
  const byName = new Map<string, number>();
  for (const n of dispatches) byName.set(n, (byName.get(n) ?? 0) + 1);
  console.log(`block ${i} (${block.config.windowSize > 0 ? 'windowed' : 'global'}): ${names.length} kernel calls, ${dispatches.length} dispatches`);
  console.log(`  ${[...byName].sort((a, b) => b[1] - a[1]).map(([n, c]) => `${n} ${c}`).join(', ')}`);
}
tf.dispose([x, tokens]);
model.dispose();
