/**
 * The mask decoder's cpu/wasm form of its last step (MaskDecoder.masksByBlocks: the upscaling
 * kept as transposed-convolution blocks, the hypernetwork product on them through headScores
 * (the blocks of a row as heads: on wasm the per-head SIMD kernel, elsewhere a product with
 * the block-diagonal matrix), the result rearranged in JavaScript) against the reference's
 * form (masksUpscaled: the upscaled image, then the product):
 * - on the fixture model's decoder (C = 32), for one prompt and a batch (its keys split per
 *   prompt, as runTransformer leaves them on cpu/wasm), one mask and three: the same values
 *   bit for bit where both forms sum each logit's C/8 terms in order, one rounding each
 *   (cpu, unfused wasm), else (fused multiply-adds) within the rounding of two summation
 *   orders; no tensor left over;
 * - at ViT-B's width (C = 256, random weights), long enough for tfjs-cpu's blocked sums: bit
 *   for bit on unfused wasm, and elsewhere within the rounding of two summation orders of the
 *   same terms (2 gamma_n times the sum of their magnitudes, per logit).
 * Where it runs, decode itself takes it (isCpuLikeBackend): the parity suites check the masks
 * against the reference's.
 */
import * as tf from '@tensorflow/tfjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { gelu } from '../src/layers/common/activations.js';
import { MaskDecoder } from '../src/layers/index.js';
import { blocksToMasks } from '../src/layers/mask_decoder/mask_blocks.js';
import { wasmMatMulFused } from '../src/backends/wasm_kernels.js';
import { isCpuLikeBackend } from '../src/layers/tensor_utils.js';
import { samConfigFromReferenceJson } from '../src/sam/config.js';
import { samFromCheckpoint } from '../src/sam/load_checkpoint.js';
import type { SamModel } from '../src/sam/sam_model.js';
import { TEST_BACKENDS, useBackend } from './helpers/backends.js';
import { fixtureCases, fixturePath, readJson } from './helpers/fixtures.js';

interface MaskPaths {
  /** keys: a prompt's [1, h w, C] each */
  masksByBlocks(keys: tf.Tensor3D[], h: number, w: number, hyperIn: tf.Tensor3D): tf.Tensor4D;
  /** keys: [B, h w, C] */
  masksUpscaled(keys: tf.Tensor3D, h: number, w: number, hyperIn: tf.Tensor3D): tf.Tensor4D;
}

/** keys [B, h w, C] as the B tensors [1, h w, C] that masksByBlocks takes. */
const perPrompt = (keys: tf.Tensor3D) => tf.split(keys, keys.shape[0], 0) as tf.Tensor3D[];

/**
 * Compares the blocks form's logits with the reference form's: the number that differ, and
 * the largest difference in units of the bound of two summation orders of each logit's terms
 * (2 gamma_n times the sum of their magnitudes |upscaled| |hyperIn|ᵀ, n the terms of the
 * block-diagonal product, zeros included).
 */
function compareLogits(decoder: MaskDecoder, keys: tf.Tensor3D, g: number, hyperIn: tf.Tensor3D, got: Float32Array, want: Float32Array): { differ: number; worst: number } {
  return tf.tidy(() => {
    const [up0, ln, up3] = decoder.outputUpscaling;
    const [b, count, c8] = hyperIn.shape;
    const c = keys.shape[2];
    const apply = (layer: { apply(x: tf.Tensor): unknown }, x: tf.Tensor) => layer.apply(x) as tf.Tensor;
    const upscaled = gelu(apply(up3, gelu(apply(ln, apply(up0, keys.reshape([b, g, g, c])))))).reshape([b, -1, c8]) as tf.Tensor3D;
    // [B, count, pixels]
    const magnitudes = tf.matMul(tf.abs(hyperIn), tf.abs(upscaled), false, true).dataSync();
    const n = 4 * c8;
    const gamma = (n * 2 ** -24) / (1 - n * 2 ** -24);
    let differ = 0;
    let worst = 0;
    for (let i = 0; i < got.length; i++) {
      if (got[i] === want[i]) continue;
      differ++;
      worst = Math.max(worst, Math.abs(got[i] - want[i]) / (2 * gamma * magnitudes[i]));
    }
    assert.is(magnitudes.length, got.length, 'premise: a magnitude per logit');
    return { differ, worst };
  });
}

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
    // The first call packs the transposed convolutions' kernels for the wasm SIMD matMul,
    // which the layers keep (as Linear does): count tensors from the second call on.
    tf.tidy(() => paths.masksByBlocks.call(decoder, [tf.zeros([1, g * g, c]) as tf.Tensor3D], g, g, tf.zeros([1, 1, c / 8]) as tf.Tensor3D));
    for (const [b, count] of [[1, 3], [1, 1], [2, 3]]) {
      const start = tf.memory().numTensors;
      tf.tidy(() => {
        const keys = tf.randomNormal([b, g * g, c], 0, 1, 'float32', 10 * b + count) as tf.Tensor3D;
        const hyperIn = tf.randomNormal([b, count, c / 8], 0, 1, 'float32', 20 * b + count) as tf.Tensor3D;
        const want = paths.masksUpscaled.call(decoder, keys, g, g, hyperIn);
        const got = paths.masksByBlocks.call(decoder, perPrompt(keys), g, g, hyperIn);
        assert.equal(got.shape, want.shape, `[${b}, ${count}]: shape`);
        const [x, y] = [got.dataSync() as Float32Array, want.dataSync() as Float32Array];
        const { differ, worst } = compareLogits(decoder, keys, g, hyperIn, x, y);
        if (!(tf.getBackend() === 'wasm' && wasmMatMulFused())) assert.is(differ, 0, `[${b} prompts, ${count} masks]: ${differ} of ${x.length} logits differ`);
        assert.ok(worst <= 1, `[${b} prompts, ${count} masks]: a logit differs by ${worst.toFixed(2)}x the bound of two summation orders`);
        assert.ok(y.some((v) => v !== 0), 'premise: the logits are not all zero');
      });
      assert.is(tf.memory().numTensors, start, `[${b}, ${count}]: tensors left over`);
    }
  });

  test('at ViT-B\'s width: bit for bit on unfused wasm, else within the rounding of two summation orders', () => {
    if (!isCpuLikeBackend()) return;
    const [c, g] = [256, 32];
    const decoder = new MaskDecoder({ transformerDim: c, transformer: { depth: 2, embeddingDim: c, numHeads: 8, mlpDim: 2048 }, numMultimaskOutputs: 3, iouHeadDepth: 3, iouHeadHiddenDim: 256 });
    decoder.buildFor([]);
    let seed = 40;
    for (const [key, p] of decoder.torchParams()) {
      tf.tidy(() => {
        const shape = p.variable.shape as number[];
        const norm = key.includes('output_upscaling.1');
        p.variable.write(shape.length === 1 ? (norm && key.endsWith('weight') ? tf.ones(shape) : tf.randomNormal(shape, 0, 0.02, 'float32', seed++)) : tf.randomNormal(shape, 0, 1 / Math.sqrt(shape[0]), 'float32', seed++));
      });
    }
    const paths = decoder as unknown as MaskPaths;
    const exact = tf.getBackend() === 'wasm' && !wasmMatMulFused();
    const keys = tf.randomNormal([1, g * g, c], 0, 1, 'float32', 3) as tf.Tensor3D;
    const hyperIn = tf.randomNormal([1, 3, c / 8], 0, 1, 'float32', 4) as tf.Tensor3D;
    tf.dispose(paths.masksUpscaled.call(decoder, keys, g, g, hyperIn)); // packs and keeps the convolutions' kernels (wasm)
    const start = tf.memory().numTensors;
    tf.tidy(() => {
      const want = paths.masksUpscaled.call(decoder, keys, g, g, hyperIn).dataSync() as Float32Array;
      const got = paths.masksByBlocks.call(decoder, perPrompt(keys), g, g, hyperIn).dataSync() as Float32Array;
      const { differ, worst } = compareLogits(decoder, keys, g, hyperIn, got, want);
      if (exact) assert.is(differ, 0, `${differ} of ${got.length} logits differ`);
      assert.ok(worst <= 1, `a logit differs by ${worst.toFixed(2)}x the bound of two summation orders`);
      assert.ok(want.some((v) => Math.abs(v) > 1e-3), 'premise: the logits are not all ~0');
    });
    assert.is(tf.memory().numTensors, start, 'tensors left over');
    tf.dispose([keys, hyperIn]);
    decoder.dispose();
  });

  test.run();
}

{
  const test = suite('mask decoder: blocksToMasks lays a product on blocks out as masks');
  test('a 3 x 5 grid, kernels 2 and 3, two masks: each logit where its pixel is', () => {
    const l = { h: 3, w: 5, k0: 2, k3: 3, count: 2 };
    const rows = l.h * l.w * l.k0 * l.k0;
    const cols = l.k3 * l.k3 * l.count;
    const v = Float32Array.from({ length: rows * cols }, (_, i) => i);
    const [gh, gw] = [l.h * l.k0 * l.k3, l.w * l.k0 * l.k3];
    const out = new Float32Array(l.count * gh * gw).fill(-1);
    blocksToMasks(v, out, l);
    // Pixel (Y, X) of mask m: Y = (y k0 + dh) k3 + dh3, X = (x k0 + dw) k3 + dw3, read from
    // row (y, x, dh, dw), column (dh3, dw3, m) of the product.
    for (let m = 0; m < l.count; m++)
      for (let Y = 0; Y < gh; Y++)
        for (let X = 0; X < gw; X++) {
          const [y, dh, dh3] = [Math.floor(Y / (l.k0 * l.k3)), Math.floor(Y / l.k3) % l.k0, Y % l.k3];
          const [x, dw, dw3] = [Math.floor(X / (l.k0 * l.k3)), Math.floor(X / l.k3) % l.k0, X % l.k3];
          const row = ((y * l.w + x) * l.k0 + dh) * l.k0 + dw;
          const col = (dh3 * l.k3 + dw3) * l.count + m;
          assert.is(out[(m * gh + Y) * gw + X], v[row * cols + col], `mask ${m}, pixel (${Y}, ${X})`);
        }
  });
  test('sizes that do not match the layout throw', () => {
    const l = { h: 2, w: 2, k0: 2, k3: 2, count: 3 };
    assert.throws(() => blocksToMasks(new Float32Array(16 * 12 - 1), new Float32Array(3 * 64), l), /do not match the layout/);
    assert.throws(() => blocksToMasks(new Float32Array(16 * 12 + 1), new Float32Array(3 * 64), l), /do not match the layout/);
    assert.throws(() => blocksToMasks(new Float32Array(16 * 12), new Float32Array(3 * 64 + 1), l), /do not match the layout/);
    assert.throws(() => blocksToMasks(new Float32Array(16 * 16), new Float32Array(3 * 64), l), /do not match the layout/);
  });
  test.run();
}
