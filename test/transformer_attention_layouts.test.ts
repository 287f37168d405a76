/**
 * The two-way transformer's Attention in each compute layout ('perHead', 'blockDiagonal',
 * 'folded', and folded from the long side's projections registered once) against the
 * attention formula evaluated in float64 here, at the full-size
 * decoder's widths (embedding 256, 8 heads, internal dim 128) in both directions
 * (tokens -> image and image -> tokens). The tolerance comes from the float noise of the
 * reference's own layout ('perHead', one product per head) on the same inputs.
 */
import * as tf from '@tensorflow/tfjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { TransformerAttention, type TransformerAttentionLayout } from '../src/layers/index.js';
import { TEST_BACKENDS, useBackend } from './helpers/backends.js';
import { maxAbsDiff } from './helpers/compare.js';
import { forgetDerived, rememberProjection } from '../src/layers/derived_tensors.js';
import { packMatMulRhs } from '../src/layers/common/packed_matmul.js';

const E = 256;
const HEADS = 8;
const DOWNSAMPLE = 2;
const TOKENS = 7; // iou token + 4 mask tokens + a point and its padding
const IMAGE_TOKENS = 320;
const BATCH = 2;

/** softmax(q_h k_hᵀ / sqrt(hd)) v_h per head, then out_proj, in float64. */
function reference(w: Record<string, Float64Array>, q: Float64Array, k: Float64Array, v: Float64Array, nq: number, nk: number): Float64Array {
  const d = E / DOWNSAMPLE;
  const hd = d / HEADS;
  const project = (x: Float64Array, n: number, name: string, inDim: number, outDim: number) => {
    const out = new Float64Array(n * outDim);
    const kernel = w[`${name}.kernel`]; // [in, out]
    const bias = w[`${name}.bias`];
    for (let i = 0; i < n; i++) {
      for (let o = 0; o < outDim; o++) {
        let s = bias[o];
        for (let j = 0; j < inDim; j++) s += x[i * inDim + j] * kernel[j * outDim + o];
        out[i * outDim + o] = s;
      }
    }
    return out;
  };
  const qp = project(q, nq, 'q_proj', E, d);
  const kp = project(k, nk, 'k_proj', E, d);
  const vp = project(v, nk, 'v_proj', E, d);
  const heads = new Float64Array(nq * d);
  const scores = new Float64Array(nk);
  for (let h = 0; h < HEADS; h++) {
    for (let i = 0; i < nq; i++) {
      let max = -Infinity;
      for (let j = 0; j < nk; j++) {
        let s = 0;
        for (let c = h * hd; c < (h + 1) * hd; c++) s += qp[i * d + c] * kp[j * d + c];
        scores[j] = s / Math.sqrt(hd);
        max = Math.max(max, scores[j]);
      }
      let sum = 0;
      for (let j = 0; j < nk; j++) sum += (scores[j] = Math.exp(scores[j] - max));
      for (let c = h * hd; c < (h + 1) * hd; c++) {
        let s = 0;
        for (let j = 0; j < nk; j++) s += scores[j] * vp[j * d + c];
        heads[i * d + c] = s / sum;
      }
    }
  }
  return project(heads, nq, 'out_proj', d, E);
}

for (const backend of TEST_BACKENDS) {
  const test = suite(`transformer attention layouts (${backend})`);
  test.before(() => useBackend(backend)); // (before hooks run in order)

  const layer = new TransformerAttention({ embeddingDim: E, numHeads: HEADS, downsampleRate: DOWNSAMPLE });
  const weights: Record<string, Float64Array> = {};
  test.before(() => {
    layer.buildFor([[null, null, E], [null, null, E], [null, null, E]]);
    // Random weights, scaled like a trained layer's (1/sqrt(fan_in)), biases included.
    layer.weights.forEach((variable, i) => {
      const shape = variable.shape as number[];
      const scale = shape.length === 2 ? 1 / Math.sqrt(shape[0]) : 0.1;
      variable.write(tf.randomNormal(shape, 0, scale, 'float32', 100 + i));
    });
    for (const [name, linear] of [['q_proj', layer.qProj], ['k_proj', layer.kProj], ['v_proj', layer.vProj], ['out_proj', layer.outProj]] as const) {
      weights[`${name}.kernel`] = Float64Array.from(linear.kernel().dataSync());
      weights[`${name}.bias`] = Float64Array.from(linear.biasVector()!.dataSync());
    }
  });

  const directions = {
    'tokens -> image': { nq: TOKENS, nk: IMAGE_TOKENS },
    'image -> tokens': { nq: IMAGE_TOKENS, nk: TOKENS },
  };
  for (const [direction, { nq, nk }] of Object.entries(directions)) {
    test(`${direction}: every layout (and folded from registered projections) matches the float64 formula within the per-head layout's noise`, async () => {
      const q = tf.randomNormal([BATCH, nq, E], 0, 1, 'float32', 1);
      const k = tf.randomNormal([BATCH, nk, E], 0, 1, 'float32', 2);
      // As in the decoder, keys and values differ by a positional encoding.
      const v = tf.add(k, tf.randomNormal([BATCH, nk, E], 0, 0.5, 'float32', 3));
      const [qd, kd, vd] = [q, k, v].map((t) => t.dataSync() as Float32Array);
      const expected = Array.from({ length: BATCH }, (_, b) =>
        reference(weights, Float64Array.from(qd.subarray(b * nq * E, (b + 1) * nq * E)), Float64Array.from(kd.subarray(b * nk * E, (b + 1) * nk * E)), Float64Array.from(vd.subarray(b * nk * E, (b + 1) * nk * E)), nq, nk),
      );
      const errors: Partial<Record<TransformerAttentionLayout, number>> = {};
      for (const layout of ['perHead', 'blockDiagonal', 'folded'] as const) {
        layer.layout = layout;
        // A first call may pack a projection's kernel for the wasm SIMD matMul, a copy the
        // layer keeps until it is disposed (packed_matmul.ts): count from the second.
        tf.dispose(layer.apply([q, k, v]) as tf.Tensor);
        const start = tf.memory().numTensors;
        const out = layer.apply([q, k, v]) as tf.Tensor;
        assert.equal(out.shape, [BATCH, nq, E]);
        const data = out.dataSync() as Float32Array;
        out.dispose();
        assert.is(tf.memory().numTensors, start, `${layout}: tensors left over`);
        errors[layout] = Math.max(...expected.map((e, b) => maxAbsDiff(data.subarray(b * nq * E, (b + 1) * nq * E), e)));
      }
      // Folded from the long side's projections registered once (derived_tensors.ts), as
      // decoder_image_side.ts registers an image's: one batch element at a time.
      layer.layout = 'folded';
      let projectedError = 0;
      for (let b = 0; b < BATCH; b++) {
        const [qb, kb, vb] = [q, k, v].map((t) => tf.tidy(() => tf.slice(t, [b, 0, 0], [1, -1, -1]).add(0)));
        const long = nk > nq ? [kb, vb] : [qb];
        const made: tf.Tensor[] = tf.tidy(() =>
          nk > nq
            ? [layer.kProj.apply(kb.reshape([nk, E])) as tf.Tensor2D, layer.vProj.apply(vb.reshape([nk, E])) as tf.Tensor2D]
            : [layer.qProj.apply(qb.reshape([nq, E])) as tf.Tensor2D],
        );
        if (nk > nq) {
          // The values also packed for the SIMD matMul, where it runs (as decoder_image_side.ts does).
          const packed = packMatMulRhs(made[1] as tf.Tensor2D);
          if (packed) made.push(packed);
          rememberProjection(kb, layer.kProj, made[0] as tf.Tensor2D);
          rememberProjection(vb, layer.vProj, made[1] as tf.Tensor2D, packed);
        } else {
          rememberProjection(qb, layer.qProj, made[0] as tf.Tensor2D);
        }
        tf.dispose(layer.apply([qb, kb, vb]) as tf.Tensor);
        const start = tf.memory().numTensors;
        let out: tf.Tensor | null = null;
        const info = await tf.profile(() => {
          out = layer.apply([qb, kb, vb]) as tf.Tensor;
          return out;
        });
        const longShape = JSON.stringify([nk > nq ? nk : nq, E]);
        const products = info.kernels.filter((kernel) => /MatMul|PackB|Transpose/.test(kernel.name));
        const readers = products.filter((kernel) => kernel.inputShapes.some((sh) => JSON.stringify(sh) === longShape));
        assert.ok(products.length > 0);
        assert.equal(readers.map((kernel) => kernel.name), [], 'no product reads the long side: its projections are looked up');
        projectedError = Math.max(projectedError, maxAbsDiff(out!.dataSync() as Float32Array, expected[b]));
        tf.dispose([out!]);
        assert.is(tf.memory().numTensors, start, 'projected: tensors left over');
        for (const t of long) forgetDerived(t);
        tf.dispose([qb, kb, vb, ...made]);
      }
      errors.folded = Math.max(errors.folded!, projectedError);
      layer.layout = 'auto';
      // Noise floor: the per-head layout's own float32 error (at least a few ulps of the output scale).
      const scale = Math.max(...expected.map((e) => e.reduce((m, x) => Math.max(m, Math.abs(x)), 0)));
      const noise = Math.max(errors.perHead!, 4 * 2 ** -23 * scale);
      for (const layout of ['blockDiagonal', 'folded'] as const) {
        assert.ok(errors[layout]! <= 4 * noise, `${layout}: max error ${errors[layout]!.toExponential(2)} > 4 x per-head noise ${noise.toExponential(2)}`);
      }
      assert.ok(projectedError <= 4 * noise, `folded from registered projections: max error ${projectedError.toExponential(2)} > 4 x per-head noise ${noise.toExponential(2)}`);
      tf.dispose([q, k, v]);
    });
  }

  test("'auto' folds for the decoder's 7 prompt tokens, not for many tokens", () => {
    assert.is(layer.resolvedLayout(TOKENS, 4096), 'folded');
    assert.is(layer.resolvedLayout(4096, TOKENS), 'folded');
    assert.is(layer.resolvedLayout(TOKENS, TOKENS), 'blockDiagonal'); // self-attention of the tokens
    assert.is(layer.resolvedLayout(20, 4096), 'blockDiagonal'); // 8 x 20 block rows > internal dim 128
  });

  test.after(() => {
    layer.dispose();
  });
  test.run();
}
