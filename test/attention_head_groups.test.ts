/**
 * The 'batched' attention layout runs a group of heads per pass (headsPerPass). Every
 * grouping, down to one head per pass and with a smaller last group, gives the same values,
 * with and without windows (padded) and relative positions; and the 2-D-matMul layout agrees.
 * A batch of images gives each image's values alone (the head-major layout keeps images apart).
 */
import * as tf from '@tensorflow/tfjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  ATTENTION_PASS_BYTES,
  attentionBatched,
  attentionMatmul2d,
  disposeHeadWeights,
  headsPerPass,
  splitHeadWeights,
} from '../src/layers/image_encoder/attention_kernels.js';
import { TEST_BACKENDS, useBackend } from './helpers/backends.js';
import { batchOfImagesChecks, batchOfImagesProblems } from './helpers/batch_of_images_checks.js';
import { randomAttention } from './helpers/random_attention.js';

const MIB = 2 ** 20;

async function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const m = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))));
  const [d] = await m.data();
  m.dispose();
  return d;
}

const counts = suite('attention heads per pass');
counts('as many heads as fit the pass budget; one on WebGL', () => {
  assert.is(headsPerPass(12, 1, 4096, ATTENTION_PASS_BYTES, 'cpu'), 4); // a global ViT block: 64 MiB a head
  assert.is(headsPerPass(16, 1, 4096, ATTENTION_PASS_BYTES, 'cpu'), 4);
  assert.is(headsPerPass(12, 25, 196, ATTENTION_PASS_BYTES, 'cpu'), 12); // windowed: 3.7 MiB a head
  assert.is(headsPerPass(12, 1, 4096, ATTENTION_PASS_BYTES, 'webgl'), 1);
  assert.is(headsPerPass(12, 1, 4096, 1 * MIB, 'cpu'), 1); // never fewer than one
  assert.is(headsPerPass(3, 1, 64, 2 * 64 * 64 * 4, 'cpu'), 2);
});
counts.run();

for (const backend of TEST_BACKENDS) {
  const test = suite(`attention head groups (${backend})`);
  test.before(() => useBackend(backend));

  const c = 24;
  const numHeads = 3;
  for (const windowSize of [0, 4]) {
    test(`${windowSize ? `windows of ${windowSize} (padded)` : 'global'}: every grouping gives the same values`, async () => {
      const start = tf.memory().numTensors;
      const a = randomAttention({ images: 1, h: 10, w: 9, c, numHeads, windowSize, seed: 1 });
      const { kernel, bias, windows, n } = a;
      const inp = a.inputs();
      // Scores of one head: windows x n x n float32 values.
      const headBytes = windows * n * n * 4;
      const all = attentionBatched(inp, kernel, bias, numHeads * headBytes);
      const values = await all.data(); // asynchronous reads: this suite also runs on WebGPU in Node
      for (const perPass of [1, 2]) {
        assert.is(headsPerPass(numHeads, windows, n, perPass * headBytes), perPass);
        const grouped = attentionBatched(inp, kernel, bias, perPass * headBytes);
        assert.equal(grouped.shape, all.shape);
        if (backend === 'cpu') {
          assert.equal(Array.from(await grouped.data()), Array.from(values), `${perPass} head(s) per pass`);
        } else {
          // tfjs-wasm multiplies a batch of one on XNNPACK and larger batches in its own loop
          // (GPUs tile by shape): the same products summed in another order (a head or
          // column out of place would be off by O(1)).
          const d = await maxAbsDiff(grouped, all);
          assert.ok(d <= 1e-5, `${perPass} head(s) per pass: differs by ${d}`);
        }
        grouped.dispose();
      }
      // The 2-D layout: the same maths, summed in another order.
      const heads = splitHeadWeights(kernel, bias, numHeads);
      const flat = attentionMatmul2d(inp, { perHead: heads });
      const d = await maxAbsDiff(flat, all);
      assert.ok(d <= 1e-5, `matmul2d layout differs by ${d}`);
      disposeHeadWeights(heads);
      a.dispose();
      tf.dispose([all, flat]);
      assert.is(tf.memory().numTensors, start);
    });
  }

  test('a batch of 2 images gives each image\'s values alone (global and windowed; all heads in a pass, or one)', async () => {
    const start = tf.memory().numTensors;
    assert.equal(batchOfImagesProblems(await batchOfImagesChecks()), []);
    assert.is(tf.memory().numTensors, start);
  });
  test.run();
}
