/**
 * Mask post-processing in JavaScript (what predict() uses on cpu/wasm):
 * - from the fixtures' own low-res logits it reproduces the reference's mask logits to a few
 *   float32 roundings of their magnitude (taps computed exactly, not as PyTorch rounds them,
 *   are ~10x further off and fail);
 * - its composed taps agree with a pixel-by-pixel float64 evaluation of the two resizes and
 *   the crop, for landscape, portrait, shrinking and one-pixel-wide outputs;
 * - thresholding without logits (most pixels filled from the low-res bounds) gives exactly
 *   the masks that thresholding the computed logits gives, NaN and infinities included, and
 *   the stability counts the automatic mask generator uses are those of the computed logits.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { calculateStabilityScore, stabilityThresholds } from '../src/sam/amg/index.js';
import { bilinearTaps, composedTaps, MaskUpscaler, upscaleMasks } from '../src/sam/postprocess_js.js';
import { postprocessMask64, type UpscaleFrame } from './helpers/bilinear64.js';
import { fixtureCases, promptCases, readJson, readNpy } from './helpers/fixtures.js';
import { seeded } from './helpers/random.js';

/** Float32 spacing at the largest magnitude of `values`. */
function ulpOfMax(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]));
  return 2 ** (Math.floor(Math.log2(m)) - 23);
}

const test = suite('mask post-processing in JavaScript');

for (const caseName of fixtureCases()) {
  const prompts = readJson(caseName, 'prompts.json');
  for (const p of promptCases(caseName)) {
    test(`${caseName} ${p.name}: the reference's mask logits and masks from its low-res logits`, () => {
      const low = readNpy(caseName, 'prompts', p.name, 'low_res_logits.npy');
      const ref = readNpy(caseName, 'prompts', p.name, 'mask_logits.npy').data as Float32Array;
      const refMasks = readNpy(caseName, 'prompts', p.name, 'masks.npy').data as ArrayLike<number | boolean>;
      const [lh, lw] = low.shape.slice(-2);
      const count = (low.data as Float32Array).length / (lh * lw);
      const imgSize = 4 * lh; // low-res masks are a quarter of the encoder input
      const args = [low.data as Float32Array, count, [lh, lw], prompts.input_size, prompts.original_size, imgSize, 0] as const;
      const withLogits = upscaleMasks(...args, true);
      const masksOnly = upscaleMasks(...args, false);
      const hw = prompts.original_size[0] * prompts.original_size[1];
      // The reference rounds each resize's arithmetic to float32; 4 roundings of the largest logit.
      const tol = 4 * ulpOfMax(ref);
      let d = 0;
      for (let k = 0; k < count; k++) {
        const l = withLogits.logits![k];
        assert.is(l.length, hw);
        for (let i = 0; i < hw; i++) {
          d = Math.max(d, Math.abs(l[i] - ref[k * hw + i]));
          const want = Number(refMasks[k * hw + i]);
          if (masksOnly.masks[k][i] !== want && Math.abs(ref[k * hw + i]) > tol) assert.unreachable(`mask ${k} pixel ${i} is ${masksOnly.masks[k][i]}, reference ${want} (logit ${ref[k * hw + i]})`);
          if (withLogits.masks[k][i] !== masksOnly.masks[k][i]) assert.unreachable(`mask ${k} pixel ${i} differs with and without logits`);
        }
      }
      assert.ok(d <= tol, `mask logits max diff ${d} > ${tol}`);
    });
  }
}

const shapes: Array<UpscaleFrame & { name: string }> = [
  { name: 'landscape crop, upscaled', low: [16, 16], s: 64, input: [43, 64], original: [150, 225] },
  { name: 'portrait crop, upscaled', low: [16, 16], s: 64, input: [64, 37], original: [181, 104] },
  { name: 'no crop, shrunk below S', low: [16, 16], s: 64, input: [64, 64], original: [23, 23] },
  { name: 'one pixel wide', low: [8, 8], s: 32, input: [32, 2], original: [70, 1] },
  { name: 'the S x S input itself', low: [12, 12], s: 48, input: [48, 48], original: [48, 48] },
];
for (const sh of shapes) {
  test(`${sh.name}: composed taps agree with the two resizes evaluated pixel by pixel`, () => {
    const rand = seeded(7);
    const low = new Float32Array(2 * sh.low[0] * sh.low[1]).map((_, i) => (i < sh.low[0] * sh.low[1] ? 20 * (rand() - 0.5) : 1e3 * (rand() - 0.5)));
    const r = upscaleMasks(low, 2, sh.low, sh.input, sh.original, sh.s, 0, true);
    for (let k = 0; k < 2; k++) {
      const lowK = low.subarray(k * sh.low[0] * sh.low[1], (k + 1) * sh.low[0] * sh.low[1]);
      const expected = postprocessMask64(lowK, sh.low, sh.input, sh.original, sh.s);
      // Both sum in float64; ours is rounded once to float32 at the end.
      const tol = ulpOfMax(expected);
      for (let i = 0; i < expected.length; i++) {
        if (Math.abs(r.logits![k][i] - expected[i]) > tol) assert.unreachable(`mask ${k} pixel ${i}: ${r.logits![k][i]} against ${expected[i]}`);
      }
    }
  });
}

test('taps: weights are non-negative, sum to 1, and stay inside the input', () => {
  for (const [inSize, mid, crop, out] of [[256, 1024, 683, 1500], [256, 1024, 1024, 2250], [64, 256, 171, 40], [16, 64, 3, 1]]) {
    for (const [kind, t] of [['bilinear', bilinearTaps(inSize, out)], ['composed', composedTaps(inSize, mid, crop, out)]] as const) {
      for (let d = 0; d < out; d++) {
        let sum = 0;
        for (let k = 0; k < t.width; k++) {
          const wgt = t.weights[d * t.width + k];
          assert.ok(wgt >= 0, `${kind}: negative weight`);
          if (wgt > 0) assert.ok(t.start[d] + k < inSize, `${kind}: tap ${k} of ${d} reads past the input`);
          sum += wgt;
        }
        assert.ok(Math.abs(sum - 1) < 1e-6, `${kind}: weights of ${d} sum to ${sum}`);
        assert.ok(t.start[d] >= 0, `${kind}: taps of ${d} start before the input`);
        // Composed taps are read without looking at their weights: every one must be inside.
        if (kind === 'composed') assert.ok(t.start[d] + t.width <= inSize, `composed taps of ${d} leave the input`);
      }
    }
  }
  // SAM's own shape: an S-grid pixel reads 2 low-res pixels, an output pixel 3.
  assert.is(composedTaps(256, 1024, 683, 1500).width, 3);
});

test('masks without logits are exactly the thresholded logits (smooth, noisy, edge values, thresholds)', () => {
  const [lh, lw] = [32, 32];
  const rand = seeded(11);
  const smooth = new Float32Array(lh * lw).map((_, i) => 8 * (1 - Math.hypot(Math.floor(i / lw) - 12, (i % lw) - 15) / 9));
  const noisy = new Float32Array(lh * lw).map(() => 8 * (rand() - 0.5));
  const edges = Float32Array.from(smooth);
  edges[5 * lw + 5] = NaN;
  edges[20 * lw + 7] = Infinity;
  edges[25 * lw + 30] = -Infinity;
  edges[10 * lw + 10] = 0;
  edges[10 * lw + 11] = -0;
  edges[11 * lw + 10] = 1e-40;
  const all = new Float32Array(3 * lh * lw);
  [smooth, noisy, edges].forEach((m, k) => all.set(m, k * lh * lw));
  for (const threshold of [0, 0.5, -1, 3]) {
    const args = [all, 3, [lh, lw], [96, 128], [150, 230], 128, threshold] as const;
    const a = upscaleMasks(...args, true);
    const b = upscaleMasks(...args, false);
    for (let k = 0; k < 3; k++) {
      let ones = 0;
      for (let i = 0; i < a.masks[k].length; i++) {
        if (a.masks[k][i] !== (a.logits![k][i] > threshold ? 1 : 0)) assert.unreachable(`threshold ${threshold}: mask ${k} pixel ${i} is not its logit > threshold`);
        if (a.masks[k][i] !== b.masks[k][i]) assert.unreachable(`threshold ${threshold}: mask ${k} pixel ${i} differs without logits`);
        ones += b.masks[k][i];
      }
      assert.ok(ones > 0 && ones < b.masks[k].length, `threshold ${threshold}: mask ${k} is all ${ones ? 1 : 0}`);
    }
  }
});

test('stability counts without logits are those of the computed logits', () => {
  const [lh, lw] = [32, 32];
  const rand = seeded(5);
  const fields = [
    new Float32Array(lh * lw).map((_, i) => 6 * (1 - Math.hypot(Math.floor(i / lw) - 16, (i % lw) - 10) / 11)),
    new Float32Array(lh * lw).map(() => 6 * (rand() - 0.5)),
    new Float32Array(lh * lw).fill(-3), // never above the low cutoff: score NaN
  ];
  fields[0][3 * lw + 4] = NaN;
  const up = new MaskUpscaler([lh, lw], [80, 128], [150, 230], 128);
  for (const [maskThreshold, offset] of [[0, 1], [0.3, 0.5]]) {
    const { high, low } = stabilityThresholds(maskThreshold, offset);
    fields.forEach((f, k) => {
      const { logits } = up.logits(f, maskThreshold);
      let intersection = 0;
      let union = 0;
      for (const v of logits) {
        if (v > low) union++;
        if (v > high) intersection++;
      }
      assert.equal(up.stabilityCounts(f, high, low), { intersection, union }, `field ${k}, offset ${offset}`);
      const score = Math.fround(intersection / union);
      assert.equal(Array.from(calculateStabilityScore(logits, 1, maskThreshold, offset)), [score]);
      assert.is(Number.isNaN(score), k === 2);
    });
  }
});

test('bad sizes are refused with the sizes in the message', () => {
  assert.throws(() => upscaleMasks(new Float32Array(10), 1, [4, 4], [16, 16], [20, 20], 16, 0, false), /10 values are not 1 masks of 4x4/);
  assert.throws(() => composedTaps(16, 64, 65, 10), /crop 65 is larger than the resized axis 64/);
});

test.run();
