/**
 * The layers follow tfjs-layers' conventions: every class is registered under its
 * className, getConfig round-trips through fromConfig into an equivalent layer, and
 * computeOutputShape agrees with the shape `apply` produces. Also: preset configs, model
 * type detection from checkpoint shapes, and weights tracked through sublayers.
 */
import * as tf from '@tensorflow/tfjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as L from '../src/layers/index.js';
import { detectModelType, presetConfig, validateSamConfig } from '../src/sam/config.js';
import { SamModel } from '../src/sam/sam_model.js';
import { useBackend } from './helpers/backends.js';
import { fixtureCases, readJson } from './helpers/fixtures.js';
import { samConfigFromReferenceJson } from '../src/sam/config.js';

const test = suite('Keras-style layers');
test.before(() => useBackend('cpu'));

type Case = { layer: () => L.SamLayer; inputs: () => tf.Tensor[]; kwargs?: Record<string, unknown> };

const cases: Record<string, Case> = {
  Linear: { layer: () => new L.Linear({ inFeatures: 6, outFeatures: 4 }), inputs: () => [tf.randomNormal([2, 3, 6])] },
  LayerNorm: { layer: () => new L.LayerNorm({ numFeatures: 6, eps: 1e-6 }), inputs: () => [tf.randomNormal([2, 6])] },
  LayerNorm2d: { layer: () => new L.LayerNorm2d({ numFeatures: 4 }), inputs: () => [tf.randomNormal([1, 3, 3, 4])] },
  MLPBlock: { layer: () => new L.MLPBlock({ embeddingDim: 8, mlpDim: 16, act: 'gelu' }), inputs: () => [tf.randomNormal([1, 5, 8])] },
  Conv2d: { layer: () => new L.Conv2d({ inChannels: 3, outChannels: 5, kernelSize: 3, padding: 1 }), inputs: () => [tf.randomNormal([1, 6, 7, 3])] },
  ConvTranspose2d: { layer: () => new L.ConvTranspose2d({ inChannels: 4, outChannels: 2, kernelSize: 2, stride: 2 }), inputs: () => [tf.randomNormal([1, 3, 5, 4])] },
  PatchEmbed: { layer: () => new L.PatchEmbed({ patchSize: 4, inChans: 3, embedDim: 8 }), inputs: () => [tf.randomNormal([1, 8, 8, 3])] },
  Attention: {
    layer: () => new L.ImageEncoderAttention({ dim: 8, numHeads: 2, qkvBias: true, useRelPos: true, inputSize: [3, 3] }),
    inputs: () => [tf.randomNormal([2, 3, 3, 8])],
  },
  Block: {
    layer: () => new L.Block({ dim: 8, numHeads: 2, mlpDim: 16, qkvBias: true, normEps: 1e-6, useRelPos: true, windowSize: 2, inputSize: [5, 5] }),
    inputs: () => [tf.randomNormal([1, 5, 5, 8])],
  },
  PositionEmbeddingRandom: { layer: () => new L.PositionEmbeddingRandom({ numPosFeats: 4 }), inputs: () => [tf.randomUniform([3, 2])] },
  MLP: { layer: () => new L.MLP({ inputDim: 8, hiddenDim: 6, outputDim: 3, numLayers: 3 }), inputs: () => [tf.randomNormal([4, 8])] },
  TransformerAttention: {
    layer: () => new L.TransformerAttention({ embeddingDim: 8, numHeads: 2, downsampleRate: 2 }),
    inputs: () => [tf.randomNormal([1, 3, 8]), tf.randomNormal([1, 5, 8]), tf.randomNormal([1, 5, 8])],
  },
};

for (const [name, c] of Object.entries(cases)) {
  test(`${name}: registered, getConfig round trip, computeOutputShape`, () => {
    const start = tf.memory().numTensors;
    const layer = c.layer();
    const cls = layer.constructor as unknown as tf.serialization.SerializableConstructor<L.SamLayer> & { className: string };
    assert.ok(tf.serialization.SerializationMap.getMap().classNameMap[cls.className], `${cls.className} is not registered`);
    const inputs = c.inputs();
    const out = layer.apply(inputs.length === 1 ? inputs[0] : inputs, c.kwargs) as tf.Tensor;
    const expected = layer.computeOutputShape(inputs.length === 1 ? inputs[0].shape : inputs.map((t) => t.shape)) as number[];
    assert.equal(out.shape, expected);
    const config = layer.getConfig();
    const [ctor, fromConfig] = tf.serialization.SerializationMap.getMap().classNameMap[cls.className];
    assert.is(ctor, cls as unknown);
    const clone = fromConfig(ctor, config) as unknown as L.SamLayer;
    assert.equal(clone.getConfig(), config);
    // Same weights -> same output.
    const cloneOut = clone.apply(inputs.length === 1 ? inputs[0] : inputs, c.kwargs) as tf.Tensor;
    clone.setWeights(layer.getWeights());
    const again = clone.apply(inputs.length === 1 ? inputs[0] : inputs, c.kwargs) as tf.Tensor;
    assert.equal(Array.from(again.dataSync()), Array.from(out.dataSync()));
    tf.dispose([...inputs, out, cloneOut, again]);
    layer.dispose();
    clone.dispose();
    assert.is(tf.memory().numTensors, start, 'layers leave no tensors after dispose');
  });
}

test('sublayer weights are tracked: the model reports every state-dict parameter as a weight', () => {
  for (const caseName of fixtureCases()) {
    const config = samConfigFromReferenceJson(readJson(caseName, 'config.json'));
    const model = new SamModel(config);
    const params = model.torchParams();
    const manifest = readJson(caseName, 'state_dict_manifest.json');
    const keys: string[] = manifest.tensors.map((e: { key: string }) => e.key);
    assert.equal([...params.keys()].sort(), [...keys].sort());
    const weights = [...model.imageEncoder.weights, ...model.promptEncoder.weights, ...model.maskDecoder.weights];
    assert.is(weights.length, params.size);
    // Element counts in PyTorch's layout (ConvTranspose2d keeps its bias tiled over the kernel positions).
    const count = [...params.values()].reduce((n, p) => n + p.torchShape.reduce((a, b) => a * b, 1), 0);
    assert.is(count, manifest.num_elements);
    for (const [key, p] of params) assert.ok(weights.includes(p.variable), `${key} is not among the layers' weights`);
    model.dispose();
  }
});

test('presets: the official hyper-parameters, valid, and detected back from checkpoint shapes', () => {
  const expect = { vit_b: [768, 12, 12, [2, 5, 8, 11]], vit_l: [1024, 24, 16, [5, 11, 17, 23]], vit_h: [1280, 32, 16, [7, 15, 23, 31]] } as const;
  for (const [type, [dim, depth, heads, globals]] of Object.entries(expect)) {
    const c = presetConfig(type as 'vit_b');
    validateSamConfig(c);
    assert.equal([c.imageEncoder.embedDim, c.imageEncoder.depth, c.imageEncoder.numHeads, c.imageEncoder.globalAttnIndexes], [dim, depth, heads, globals]);
    assert.equal([c.imageEncoder.imgSize, c.imageEncoder.windowSize, c.imageEncoder.outChans, c.maskDecoder.transformer.mlpDim], [1024, 14, 256, 2048]);
    const shapes = new Map<string, number[]>([['image_encoder.patch_embed.proj.weight', [dim, 3, 16, 16]]]);
    for (let i = 0; i < depth; i++) shapes.set(`image_encoder.blocks.${i}.norm1.weight`, [dim]);
    assert.is(detectModelType(shapes), type);
    shapes.set(`image_encoder.blocks.${depth}.norm1.weight`, [dim]);
    assert.is(detectModelType(shapes), null, 'an extra block is not a preset');
  }
  assert.throws(() => presetConfig('vit_x' as 'vit_b'), /unknown model type 'vit_x'/);
});

test('invalid configs are refused with the reason', () => {
  const c = presetConfig('vit_b');
  c.promptEncoder.embedDim = 128;
  assert.throws(() => new SamModel(c), /promptEncoder.embedDim 128 must equal imageEncoder.outChans 256/);
  const d = presetConfig('vit_b');
  d.imageEncoder.globalAttnIndexes = [12];
  assert.throws(() => validateSamConfig(d), /globalAttnIndexes has 12/);
});

test.run();
