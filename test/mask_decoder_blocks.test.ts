/**
 * The mask decoder's cpu/wasm form of its last step (MaskDecoder.masksByBlocks: the upscaling
 * kept as transposed-convolution blocks, the hypernetwork product through a block-diagonal
 * matrix, the result rearranged in JavaScript) against the reference's form (masksUpscaled:
 * the upscaled image, then the product), on the fixture model's decoder: the same values, bit
 * for bit (every logit is the same sum in the same order), for one prompt and a batch, one
 * mask and three; no tensor left over. Where it runs, decode itself takes it (isCpuLikeBackend):
 * the parity suites check the masks against the reference's.
 */
import * as tf from '@tensorflow/tfjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { MaskDecoder } from '../src/layers/index.js';
import { isCpuLikeBackend } from '../src/layers/tensor_utils.js';
import { samConfigFromReferenceJson } from '../src/sam/config.js';
import { samFromCheckpoint } from '../src/sam/load_checkpoint.js';
import type { SamModel } from '../src/sam/sam_model.js';
import { TEST_BACKENDS, useBackend } from './helpers/backends.js';
import { fixtureCases, fixturePath, readJson } from './helpers/fixtures.js';

type MaskPaths = Record<'masksByBlocks' | 'masksUpscaled', (keys: tf.Tensor3D, h: number, w: number, hyperIn: tf.Tensor3D) => tf.Tensor4D>;

const caseName = fixtureCases()[0];

for (const backend of TEST_BACKENDS) {
  const test = suite(`mask decoder: logits from the upscaling's blocks (${caseName}, ${backend})`);
  const ctx: { model?: SamModel } = {};
  test.before(async () => {
    await useBackend(backend);
    ctx.model = await samFromCheckpoint(fixturePath(caseName, 'model.pth'), { config: samConfigFromReferenceJson(readJson(caseName, 'config.json')) });
  });
  test.after(() => ctx.model?.dispose());

  test('the same logits as the upscaled image times hyperIn, bit for bit; no tensor left over', () => {
    if (!isCpuLikeBackend()) return; // the blocks form runs on cpu/wasm only (it reads the result synchronously)
    const decoder = ctx.model!.maskDecoder as MaskDecoder;
    const paths = decoder as unknown as MaskPaths;
    const c = decoder.config.transformerDim;
    const g = ctx.model!.imgSize / 16; // the embedding grid
    for (const [b, count] of [[1, 3], [1, 1], [2, 3]]) {
      const start = tf.memory().numTensors;
      tf.tidy(() => {
        const keys = tf.randomNormal([b, g * g, c], 0, 1, 'float32', 10 * b + count) as tf.Tensor3D;
        const hyperIn = tf.randomNormal([b, count, c / 8], 0, 1, 'float32', 20 * b + count) as tf.Tensor3D;
        const want = paths.masksUpscaled.call(decoder, keys, g, g, hyperIn);
        const got = paths.masksByBlocks.call(decoder, keys, g, g, hyperIn);
        assert.equal(got.shape, want.shape, `[${b}, ${count}]: shape`);
        const [x, y] = [got.dataSync(), want.dataSync()];
        let differ = 0;
        for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) differ++;
        assert.is(differ, 0, `[${b} prompts, ${count} masks]: ${differ} of ${x.length} logits differ`);
        assert.ok(y.some((v) => v !== 0), 'premise: the logits are not all zero');
      });
      assert.is(tf.memory().numTensors, start, `[${b}, ${count}]: tensors left over`);
    }
  });

  test.run();
}
