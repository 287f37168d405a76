/**
 * The decoder's image side shared by every prompt without a mask input (cpu/wasm,
 * src/sam/decoder_image_side.ts and src/layers/derived_tensors.ts): decoding through it
 * gives exactly the values of the per-prompt computation where it only shares what the
 * prompts compute alike (block-diagonal layout); in the folded layout, where the first
 * layer's cross attentions start from the image's projections made once, within 4x the float
 * noise between two layouts of the per-prompt computation (the bound of
 * transformer_attention_layouts.test.ts); the first layer's keys + keyPe and (folded) the
 * image-side projections are really computed once per image, not per prompt; the kept tensors follow the embedding and the weights and are released, not
 * accumulated; without keepImageSide a decode keeps nothing.
 */
import * as tf from '@tensorflow/tfjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addRemembered, forgetDerived, projectionOf, rememberProjection, rememberSum } from '../src/layers/derived_tensors.js';
import type { TransformerAttentionLayout } from '../src/layers/index.js';
import { samConfigFromReferenceJson } from '../src/sam/config.js';
import { samFromCheckpoint } from '../src/sam/load_checkpoint.js';
import type { SamModel } from '../src/sam/sam_model.js';
import { TEST_BACKENDS, useBackend } from './helpers/backends.js';
import { maxAbsDiff } from './helpers/compare.js';
import { fixtureCases, fixturePath, readJson, readNpy } from './helpers/fixtures.js';

const caseName = fixtureCases()[0];

/** The decoder without the shared image side: prompt encoder, then src = embedding + dense per prompt. */
function unshared(model: SamModel, emb: tf.Tensor4D, coords: tf.Tensor3D, labels: tf.Tensor2D): tf.Tensor[] {
  return tf.tidy(() => {
    const { sparse, dense } = model.promptEncoder.embed({ points: { coords, labels } });
    const out = model.maskDecoder.decode({
      imageEmbeddings: emb,
      imagePe: model.promptEncoder.getDensePe(),
      sparsePromptEmbeddings: sparse,
      densePromptEmbeddings: dense,
      multimaskOutput: true,
    });
    return [out.masks, out.iouPred];
  });
}

function shared(model: SamModel, emb: tf.Tensor4D, coords: tf.Tensor3D, labels: tf.Tensor2D, keepImageSide = true): tf.Tensor[] {
  const r = model.decode({ imageEmbeddings: emb, pointCoords: coords, pointLabels: labels, multimaskOutput: true, keepImageSide });
  return [r.lowResLogits, r.iouPredictions];
}

/** Kernels by name and input shapes in one run of f (its outputs disposed). */
async function kernelCounts(f: () => tf.Tensor[]): Promise<Map<string, number>> {
  const info = await tf.profile(() => tf.dispose(f()));
  const counts = new Map<string, number>();
  for (const k of info.kernels) {
    const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

for (const backend of TEST_BACKENDS) {
  const test = suite(`decoder image side (${caseName}, ${backend})`);
  const ctx: { model?: SamModel; emb?: tf.Tensor4D; coords?: tf.Tensor3D; labels?: tf.Tensor2D } = {};
  test.before(async () => {
    await useBackend(backend);
    ctx.model = await samFromCheckpoint(fixturePath(caseName, 'model.pth'), { config: samConfigFromReferenceJson(readJson(caseName, 'config.json')) });
    const e = readNpy(caseName, 'image_embedding.npy');
    ctx.emb = tf.tensor(e.data as Float32Array, e.shape).transpose([0, 2, 3, 1]) as tf.Tensor4D;
    // Three prompts of one point (and its padding point), in the model frame.
    ctx.coords = tf.tensor3d([[[40, 50], [0, 0]], [[200, 120], [0, 0]], [[128, 128], [0, 0]]]);
    ctx.labels = tf.tensor2d([[1, -1], [1, -1], [1, -1]]);
  });
  test.after(() => {
    ctx.model?.dispose();
    tf.dispose([ctx.emb!, ctx.coords!, ctx.labels!]);
  });

  const attentions = (m: SamModel) => {
    const t = m.maskDecoder.transformer;
    return [...t.layers.flatMap((l) => [l.selfAttn, l.crossAttnTokenToImage, l.crossAttnImageToToken]), t.finalAttnTokenToImage];
  };

  /**
   * Per output (low-res logits, IoU predictions): the bound of a shared decode against the
   * per-prompt one in `layout`. Exact where nothing is projected once (block-diagonal); with
   * the projections, 4x the float noise between the per-prompt decode in that layout and in
   * the reference's per-head layout.
   */
  const bounds = (model: SamModel, emb: tf.Tensor4D, coords: tf.Tensor3D, labels: tf.Tensor2D, layout: TransformerAttentionLayout): number[] => {
    if (layout === 'blockDiagonal') return [0, 0];
    const decodeIn = (l: TransformerAttentionLayout) => {
      for (const a of attentions(model)) a.layout = l;
      return unshared(model, emb, coords, labels);
    };
    const [mine, perHead] = [decodeIn(layout), decodeIn('perHead')];
    for (const a of attentions(model)) a.layout = layout;
    const noise = mine.map((t, i) => maxAbsDiff(t, perHead[i].dataSync()));
    tf.dispose([...mine, ...perHead]);
    assert.ok(noise[0] > 0, 'the two layouts should differ by float noise');
    return noise.map((n) => 4 * n);
  };

  for (const layout of ['auto', 'folded', 'blockDiagonal'] as TransformerAttentionLayout[]) {
    test(`layout ${layout}: the values of per-prompt src (${layout === 'blockDiagonal' ? 'exactly' : 'within the float noise'}): made, reused, made for one call`, () => {
      const { model, emb, coords, labels } = ctx as Required<typeof ctx>;
      try {
        const bound = bounds(model, emb, coords, labels, layout);
        for (const a of attentions(model)) a.layout = layout;
        const expected = unshared(model, emb, coords, labels);
        for (let call = 0; call < 3; call++) {
          const got = shared(model, emb, coords, labels, call < 2); // made and kept, then reused; made for one call
          const err = got.map((t, i) => maxAbsDiff(t, expected[i].dataSync()));
          assert.ok(err[0] <= bound[0], `call ${call}: low-res logits off by ${err[0]} (bound ${bound[0]})`);
          assert.ok(err[1] <= bound[1], `call ${call}: IoU predictions off by ${err[1]} (bound ${bound[1]})`);
          tf.dispose(got);
        }
        tf.dispose(expected);
      } finally {
        for (const a of attentions(model)) a.layout = 'auto';
      }
    });
  }

  test('first-layer keys + keyPe and (folded) the image-side projections are made once per image', async () => {
    const { model, emb, coords, labels } = ctx as Required<typeof ctx>;
    for (const a of attentions(model)) a.layout = 'folded';
    try {
      tf.dispose(shared(model, emb, coords, labels)); // builds the image side
      const [, g1, g2, c] = emb.shape;
      const addKey = `Add [[1,${g1 * g2},${c}],[1,${g1 * g2},${c}]]`;
      // Kernels of products (and packings) that read the image side [(1,) g², C]: tfjs's
      // matMuls on cpu (not their op wrappers, which tf.profile lists too), the SIMD kernel on wasm.
      const image = `${g1 * g2},${c}]`;
      const products = (counts: Map<string, number>) =>
        [...counts].filter(([key]) => /MatMul|PackB/.test(key) && !key.includes('__op') && key.includes(image)).reduce((n, [, v]) => n + v, 0);
      const without = await kernelCounts(() => unshared(model, emb, coords, labels));
      const withShared = await kernelCounts(() => shared(model, emb, coords, labels));
      const prompts = coords.shape[0];
      assert.is(withShared.get(addKey), (without.get(addKey) ?? 0) - prompts, 'keys + keyPe');
      // The first layer's token-to-image scores and values and image-to-token scores.
      assert.is(products(withShared), products(without) - 3 * prompts, 'products with the image');
    } finally {
      for (const a of attentions(model)) a.layout = 'auto';
    }
  });

  test('the cache follows the embedding and the weights, and is released', () => {
    const { model, emb, coords, labels } = ctx as Required<typeof ctx>;
    model.releaseDecoderImageSide(emb);
    const none = tf.memory().numTensors;
    tf.dispose(shared(model, emb, coords, labels));
    const start = tf.memory().numTensors;
    // src, src + PE and the first layer's 3 image-side projections (and the values packed, on wasm)
    const entry = start - none;
    assert.ok(entry === 5 || entry === 6, `the image side holds ${entry} tensors`);
    for (let i = 0; i < 3; i++) tf.dispose(shared(model, emb, coords, labels));
    assert.is(tf.memory().numTensors, start, 'repeated decodes');
    // Another image replaces the entry (as many tensors either way).
    const other = tf.tidy(() => tf.mul(emb, -0.5)) as tf.Tensor4D;
    const [bound] = bounds(model, other, coords, labels, 'auto');
    const got = shared(model, other, coords, labels);
    const expected = unshared(model, other, coords, labels);
    assert.ok(maxAbsDiff(got[0], expected[0].dataSync()) <= bound, 'another embedding');
    const before = got[0].dataSync().slice();
    tf.dispose([...got, ...expected]);
    assert.is(tf.memory().numTensors, start + 1, 'the old entry is released'); // + `other`
    // Without keepImageSide nothing stays after the call; releasing the kept entry frees it.
    model.releaseDecoderImageSide(other);
    const released = tf.memory().numTensors;
    assert.is(released, start + 1 - entry, 'released');
    tf.dispose(shared(model, emb, coords, labels, false));
    assert.is(tf.memory().numTensors, released, 'a call without keepImageSide keeps nothing');
    // New no-mask weights are picked up (a variable's assign gives it a new dataId).
    const table = model.promptEncoder.noMaskEmbed.table();
    const saved = table.clone();
    try {
      model.promptEncoder.noMaskEmbed.weights[0].write(tf.tidy(() => tf.add(saved, 0.25)));
      const got2 = shared(model, other, coords, labels);
      const expected2 = unshared(model, other, coords, labels);
      assert.ok(maxAbsDiff(got2[0], expected2[0].dataSync()) <= bound, 'new weights');
      assert.ok(maxAbsDiff(got2[0], before) > 100 * bound, 'the no-mask embedding matters');
      tf.dispose([...got2, ...expected2]);
    } finally {
      model.promptEncoder.noMaskEmbed.weights[0].write(saved);
      saved.dispose();
    }
    // New weights of a projection made once are picked up too.
    const vProj = model.maskDecoder.transformer.layers[0].crossAttnTokenToImage.vProj;
    const kernel = vProj.weights[0];
    const savedKernel = kernel.read().clone();
    try {
      const stale = shared(model, other, coords, labels);
      kernel.write(tf.tidy(() => tf.mul(savedKernel, -1.5)));
      const got3 = shared(model, other, coords, labels);
      const expected3 = unshared(model, other, coords, labels);
      assert.ok(maxAbsDiff(got3[0], expected3[0].dataSync()) <= bound, 'new projection weights');
      assert.ok(maxAbsDiff(got3[0], stale[0].dataSync()) > 100 * bound, 'the projection weights matter');
      tf.dispose([...stale, ...got3, ...expected3]);
    } finally {
      kernel.write(savedKernel);
      savedKernel.dispose();
      other.dispose();
    }
  });

  test.run();
}

const memo = suite('derived tensors: lookups return the registered result or compute it');
memo('shape-checked, tied to the weights, released with their owner', async () => {
  await useBackend('cpu');
  const a = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
  const b = tf.tensor2d([[10, 20, 30], [40, 50, 60]]);
  const sum = tf.tensor2d([[-1, -1, -1], [-1, -1, -1]]); // deliberately not a + b: shows it is used
  rememberSum(a, b, sum);
  assert.equal(addRemembered(a, b).arraySync(), sum.arraySync());
  assert.equal(addRemembered(a.reshape([1, 2, 3]), b.reshape([1, 2, 3])).arraySync(), [[[11, 22, 33], [44, 55, 66]]], 'other shapes compute');
  assert.equal(addRemembered(b, a).arraySync(), [[11, 22, 33], [44, 55, 66]], 'operand order is part of the key');
  // A projection: found for x under any shape with its rows, for those weights only.
  let [kernel, bias] = [tf.tensor2d([[1], [0], [0]]), tf.tensor1d([0.5])];
  const weights = { kernel: () => kernel, biasVector: () => bias };
  const y = tf.tensor2d([[7], [8]]); // deliberately not a W + b
  rememberProjection(a, weights, y);
  assert.equal(projectionOf(a.reshape([1, 2, 3]), weights)?.y.arraySync(), [[7], [8]]);
  assert.is(projectionOf(a.reshape([3, 2]), weights), null, 'other rows');
  bias = tf.tensor1d([1]);
  assert.is(projectionOf(a, weights), null, 'new bias values');
  [kernel, bias] = [tf.tensor2d([[1], [0], [0]]), tf.tensor1d([0.5])];
  assert.is(projectionOf(a, weights), null, 'new kernel values');
  sum.dispose();
  assert.equal(addRemembered(a, b).arraySync(), [[11, 22, 33], [44, 55, 66]], 'a disposed result is not used');
  forgetDerived(a);
  assert.is(projectionOf(a, { kernel: () => kernel, biasVector: () => bias }), null);
  tf.dispose([a, b, y, kernel, bias]);
});
memo.run();
