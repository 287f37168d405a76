/**
 * SamPredictor against the reference, through the public API and from the PNG: every
 * prompt case of every fixture (p7 through the batched form, like the reference's
 * predict_torch), plus input validation, embeddings out and back in, and tensor hygiene.
 */
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { compareMasks, maxAbsDiff, NOISE_FACTOR, readNoise } from '../scripts/parity_lib.js';
import { parseNpy } from '../src/io/npy.js';
import { samConfigFromReferenceJson } from '../src/sam/config.js';
import { samFromCheckpoint } from '../src/sam/load_checkpoint.js';
import { SamPredictor, type Prediction } from '../src/sam/predictor.js';
import type { SamModel } from '../src/sam/sam_model.js';
import { TEST_BACKENDS, useBackend } from './helpers/backends.js';
import { fixtureCases, fixturePath, readJson } from './helpers/fixtures.js';

const npy = (caseName: string, ...p: string[]) => parseNpy(readFileSync(fixturePath(caseName, ...p)));

async function loadFixtureModel(caseName: string): Promise<SamModel> {
  return samFromCheckpoint(fixturePath(caseName, 'model.pth'), { config: samConfigFromReferenceJson(readJson(caseName, 'config.json')) });
}

function concat(arrays: ArrayLike<number>[]): Float32Array {
  const out = new Float32Array(arrays.reduce((n, a) => n + a.length, 0));
  let o = 0;
  for (const a of arrays) {
    out.set(a, o);
    o += a.length;
  }
  return out;
}

for (const backend of TEST_BACKENDS) {
  for (const caseName of fixtureCases()) {
    const test = suite(`predictor parity ${caseName} (${backend})`);
    const ctx: { model?: SamModel; predictor?: SamPredictor } = {};
    test.before(async () => {
      await useBackend(backend);
      ctx.model = await loadFixtureModel(caseName);
      ctx.predictor = new SamPredictor(ctx.model);
      await ctx.predictor.setImage(fixturePath(caseName, 'image.png'));
    });
    test.after(() => {
      ctx.predictor?.dispose();
      ctx.model?.dispose();
    });
    const noise = readNoise(fixturePath(caseName));
    const prompts = readJson(caseName, 'prompts.json');

    test('setImage from the PNG gives the reference embedding', async () => {
      const e = ctx.predictor!.getImageEmbedding();
      const nchw = e.embedding.transpose([0, 3, 1, 2]);
      const d = maxAbsDiff(await nchw.data(), npy(caseName, 'image_embedding.npy').data as Float32Array);
      nchw.dispose();
      assert.ok(d <= NOISE_FACTOR * noise.imageEmbedding, `embedding max diff ${d}`);
      assert.equal(e.originalSize, prompts.original_size);
      assert.equal(e.inputSize, prompts.input_size);
      tf.dispose(e.embedding);
    });

    for (const p of prompts.prompts) {
      test(`${p.name} (${p.api})`, async () => {
        const predictor = ctx.predictor!;
        const maskInput = p.mask_input ? (npy(caseName, 'prompts', p.name, 'mask_input.npy').data as Float32Array) : undefined;
        let results: Prediction[];
        if (p.api === 'predict_torch') {
          results = await predictor.predictBatch({ boxes: p.boxes, multimaskOutput: p.multimask_output, returnLogits: true });
          // The same batch decoded one prompt per pass (the decoder's memory bound) gives the same values.
          const model = ctx.model!;
          const saved = model.maxDecodeBytes;
          model.maxDecodeBytes = 1;
          try {
            assert.is(model.decodeChunkSize(), 1);
            const single = await predictor.predictBatch({ boxes: p.boxes, multimaskOutput: p.multimask_output, returnLogits: true });
            const dSplit = maxAbsDiff(concat(single.flatMap((r) => r.lowResLogits)), concat(results.flatMap((r) => r.lowResLogits)));
            assert.ok(dSplit <= noise.lowResLogits, `one prompt per pass: low-res logits differ by ${dSplit}`);
            assert.equal(single.flatMap((r) => r.scores).map(Math.fround), results.flatMap((r) => r.scores).map(Math.fround));
          } finally {
            model.maxDecodeBytes = saved;
          }
        } else {
          results = [
            await predictor.predict({
              pointCoords: p.point_coords ?? undefined,
              pointLabels: p.point_labels ?? undefined,
              box: p.box ?? undefined,
              maskInput,
              multimaskOutput: p.multimask_output,
              returnLogits: true,
            }),
          ];
        }
        const low = concat(results.flatMap((r) => r.lowResLogits));
        const scores = results.flatMap((r) => r.scores);
        const logits = concat(results.flatMap((r) => r.logits!));
        const masks = concat(results.flatMap((r) => r.masks.map((m) => m.data)));
        const dir = ['prompts', p.name];
        const dLow = maxAbsDiff(low, npy(caseName, ...dir, 'low_res_logits.npy').data as Float32Array);
        const dIou = maxAbsDiff(scores, npy(caseName, ...dir, 'iou_predictions.npy').data as Float32Array);
        const refLogits = npy(caseName, ...dir, 'mask_logits.npy').data as Float32Array;
        const dLogits = maxAbsDiff(logits, refLogits);
        assert.ok(dLow <= NOISE_FACTOR * noise.lowResLogits, `low-res logits max diff ${dLow}`);
        assert.ok(dIou <= NOISE_FACTOR * noise.iouPredictions, `iou max diff ${dIou}`);
        assert.ok(dLogits <= NOISE_FACTOR * noise.maskLogits, `mask logits max diff ${dLogits}`);
        const cmp = compareMasks('masks', logits, npy(caseName, ...dir, 'masks.npy'), refLogits, NOISE_FACTOR * noise.maskLogits, 0);
        assert.ok(cmp.ok, `masks: IoU ${cmp.iou}, ${cmp.flipped} pixels flipped away from the threshold`);
        // The binary masks returned are exactly logits > 0.
        for (let i = 0; i < masks.length; i++) if (masks[i] !== (logits[i] > 0 ? 1 : 0)) assert.unreachable(`mask pixel ${i} disagrees with its logit`);
        const [h, w] = prompts.original_size;
        for (const r of results) for (const m of r.masks) assert.equal([m.height, m.width], [h, w]);
      });
    }

    test('low-res logits feed back as maskInput', async () => {
      const predictor = ctx.predictor!;
      const first = await predictor.predict({ pointCoords: [[50, 60]], pointLabels: [1] });
      const best = first.scores.indexOf(Math.max(...first.scores));
      const again = await predictor.predict({ pointCoords: [[50, 60]], pointLabels: [1], maskInput: first.lowResLogits[best], multimaskOutput: false });
      assert.is(again.masks.length, 1);
      assert.is(again.lowResLogits[0].length, first.lowResLogits[0].length);
    });

    test.run();
  }
}
