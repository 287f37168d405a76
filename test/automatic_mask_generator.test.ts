/**
 * SamAutomaticMaskGenerator against the reference: every `amg_*.json` of every fixture case,
 * on every test backend, with the file's own settings, from the case's image.png (and no
 * tensor left behind by any call). Plus the COCO RLE and binary outputs, option validation,
 * progress reports, the nothing-survives case that crashes the reference, and the two paths
 * of the stability filter.
 *
 * Tolerances. AMG outputs are discontinuous (thresholds, NMS), so records are matched by mask
 * IoU (>= 0.99, one-to-one) and, as the fixtures README suggests for a float32 port,
 * predicted_iou / stability_score must agree within 1e-3: about 1000x the float32-vs-float64
 * noise the fixtures measured for these scores (<= 3.6e-7), because this port's encoder and
 * decoder sum in another order; a stability score moves by 1/area per pixel that crosses a
 * cutoff. The count must match exactly: the fixtures put the thresholds >= 1.7e-3 away from
 * every candidate's score, far more than this port's noise. Masks may differ by a handful of
 * pixels (README: pixels whose logit is ~0 can flip with any change of summation order); area
 * then differs by at most those pixels and the box by at most one pixel per side. Point
 * coordinates, crop boxes and the record order must be equal. Measured (see the console lines
 * this test prints): every mask identical, scores within 7e-7, stability scores identical.
 * (A one-pixel flip was once seen on wasm while the Linear layer used a fused matMul.)
 */
import * as tf from '@tensorflow/tfjs';
import { readdirSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { calculateStabilityScore, cocoRleToString, cocoStringToCounts, rleToMask, type CocoRle, type Rle } from '../src/sam/amg/index.js';
import { modelFramePointsFloat32 } from '../src/sam/amg_generator/model_frame_points.js';
import { stabilityFilter } from '../src/sam/amg_generator/stability_filter.js';
import {
  DEFAULT_AMG_OPTIONS,
  SamAutomaticMaskGenerator,
  type AmgProgress,
  type AutomaticMaskGeneratorOptions,
  type MaskRecord,
} from '../src/sam/automatic_mask_generator.js';
import { samConfigFromReferenceJson } from '../src/sam/config.js';
import { samFromCheckpoint } from '../src/sam/load_checkpoint.js';
import type { BinaryMask } from '../src/sam/predictor.js';
import { decodeImage } from '../src/sam/preprocess/index.js';
import type { RgbImage } from '../src/sam/preprocess/image.js';
import type { SamModel } from '../src/sam/sam_model.js';
import { TEST_BACKENDS, useBackend } from './helpers/backends.js';
import { fixtureCases, fixturePath, readJson } from './helpers/fixtures.js';

/** Mask IoU at or above which two records are the same mask. */
const MATCH_IOU = 0.99;
/** predicted_iou / stability_score tolerance (fixtures README, see above). */
const SCORE_TOL = 1e-3;
/** Pixels a matched mask may differ by (logits ~0 that flip, see above). */
const MAX_FLIPPED_PIXELS = 10;

interface RefRecord {
  segmentation: Rle;
  segmentation_coco: CocoRle;
  area: number;
  bbox: number[];
  predicted_iou: number;
  point_coords: number[][];
  stability_score: number;
  crop_box: number[];
}

interface AmgFixture {
  settings: Record<string, unknown>;
  image_size: [number, number];
  crop_boxes_xyxy: number[][];
  point_grids: number[][][];
  records: RefRecord[];
}

const camel = (key: string) => key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** The reference's keyword arguments -> this port's options (every key is passed on; unknown ones would throw). */
function optionsFromSettings(settings: Record<string, unknown>): Partial<AutomaticMaskGeneratorOptions> {
  return Object.fromEntries(Object.entries(settings).map(([k, v]) => [camel(k), v])) as Partial<AutomaticMaskGeneratorOptions>;
}

function amgFiles(caseName: string): string[] {
  return readdirSync(fixturePath(caseName))
    .filter((f) => /^amg_.*\.json$/.test(f))
    .sort();
}

async function loadFixtureModel(caseName: string): Promise<SamModel> {
  return samFromCheckpoint(fixturePath(caseName, 'model.pth'), { config: samConfigFromReferenceJson(readJson(caseName, 'config.json')) });
}

function maskIou(a: Uint8Array, b: Uint8Array): { iou: number; differing: number } {
  let inter = 0;
  let union = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] !== 0;
    const y = b[i] !== 0;
    if (x && y) inter++;
    if (x || y) union++;
  }
  return { iou: union === 0 ? 1 : inter / union, differing: union - inter };
}

interface Comparison {
  matched: number;
  /** Matched records whose mask differs from the reference's by some pixels. */
  notIdentical: number;
  worstIou: number;
  differingPixels: number;
  maxDiffIou: number;
  maxDiffStability: number;
}

/**
 * Matches our records one-to-one to the reference's by mask IoU, checks every field, and that
 * the order is the reference's.
 */
function compareRecords(ours: MaskRecord[], ref: RefRecord[], what: string): Comparison {
  assert.is(ours.length, ref.length, `${what}: number of masks`);
  const refMasks = ref.map((r) => rleToMask(r.segmentation));
  const ourMasks = ours.map((r) => rleToMask(r.segmentation as Rle));
  const used = new Uint8Array(ref.length);
  const out: Comparison = { matched: 0, notIdentical: 0, worstIou: 1, differingPixels: 0, maxDiffIou: 0, maxDiffStability: 0 };
  for (let i = 0; i < ours.length; i++) {
    // The expected partner is the record at the same place; look further only if it is not.
    let best = -1;
    let bestCmp = { iou: -1, differing: 0 };
    const tryRef = (j: number) => {
      if (used[j]) return;
      const c = maskIou(ourMasks[i], refMasks[j]);
      if (c.iou > bestCmp.iou) {
        best = j;
        bestCmp = c;
      }
    };
    tryRef(i);
    if (bestCmp.iou < MATCH_IOU) for (let j = 0; j < ref.length; j++) if (j !== i) tryRef(j);
    assert.ok(best >= 0 && bestCmp.iou >= MATCH_IOU, `${what}: our record ${i} matches no reference mask (best IoU ${bestCmp.iou})`);
    used[best] = 1;
    out.matched++;
    out.worstIou = Math.min(out.worstIou, bestCmp.iou);
    out.differingPixels += bestCmp.differing;
    const o = ours[i];
    const r = ref[best];
    out.maxDiffIou = Math.max(out.maxDiffIou, Math.abs(o.predictedIou - r.predicted_iou));
    out.maxDiffStability = Math.max(out.maxDiffStability, Math.abs(o.stabilityScore - r.stability_score));
    assert.ok(Math.abs(o.predictedIou - r.predicted_iou) <= SCORE_TOL, `${what} record ${i}: predicted_iou ${o.predictedIou} vs ${r.predicted_iou}`);
    assert.ok(
      Math.abs(o.stabilityScore - r.stability_score) <= SCORE_TOL,
      `${what} record ${i}: stability_score ${o.stabilityScore} vs ${r.stability_score}`,
    );
    assert.equal(o.pointCoords, r.point_coords, `${what} record ${i}: point_coords`);
    assert.equal(o.cropBox, r.crop_box, `${what} record ${i}: crop_box`);
    assert.equal((o.segmentation as Rle).size, r.segmentation.size, `${what} record ${i}: size`);
    const flipped = bestCmp.differing;
    assert.ok(flipped <= MAX_FLIPPED_PIXELS, `${what} record ${i}: ${flipped} pixels differ from the reference mask`);
    if (flipped === 0) {
      assert.is(o.area, r.area, `${what} record ${i}: area`);
      assert.equal(o.bbox, r.bbox, `${what} record ${i}: bbox`);
    } else {
      out.notIdentical++;
      assert.ok(Math.abs(o.area - r.area) <= flipped, `${what} record ${i}: area ${o.area} vs ${r.area}`);
      const xyxy = (b: number[]) => [b[0], b[1], b[0] + b[2], b[1] + b[3]];
      const [a, b] = [xyxy(o.bbox), xyxy(r.bbox)];
      assert.ok(a.every((v, k) => Math.abs(v - b[k]) <= 1), `${what} record ${i}: bbox ${o.bbox} vs ${r.bbox}`);
    }
    assert.is(best, i, `${what}: our record ${i} is the reference's record ${best} (order differs)`);
  }
  return out;
}

/**
 * The output encodings are plain JavaScript on the same records, whatever the backend; they are
 * checked on one backend (wasm, the fast one) to keep the cpu run short.
 */
const ENCODING_BACKEND: string = (TEST_BACKENDS as readonly string[]).includes('wasm') ? 'wasm' : TEST_BACKENDS[0];

const cases = fixtureCases().filter((c) => amgFiles(c).length > 0);

for (const backend of TEST_BACKENDS) {
  for (const caseName of cases) {
    const files = amgFiles(caseName);
    const test = suite(`automatic mask generator parity ${caseName} (${backend})`);
    // `warm`: the model has run once. The image encoder keeps a few constant tensors it builds
    // on its first call (72 for tiny-a, 36 for tiny-b), so tensor counts are compared from then on.
    const ctx: { model?: SamModel; image?: RgbImage; warm?: boolean } = {};
    test.before(async () => {
      await useBackend(backend);
      ctx.model = await loadFixtureModel(caseName);
      ctx.image = await decodeImage(fixturePath(caseName, 'image.png'));
    });
    test.after(() => ctx.model?.dispose());

    for (const file of files) {
      test(`${file}: same masks, scores, boxes, points and order as the reference`, async () => {
        const fx = readJson<AmgFixture>(caseName, file);
        const gen = new SamAutomaticMaskGenerator(ctx.model!, optionsFromSettings(fx.settings));
        // The grids the generator built are the reference's (float64, exactly).
        assert.is(gen.pointGrids.length, fx.point_grids.length, 'number of point grids');
        gen.pointGrids.forEach((g, l) => assert.equal(Array.from(g), fx.point_grids[l].flat(), `point grid ${l}`));

        const tensorsBefore = tf.memory().numTensors;
        const t0 = performance.now();
        const records = await gen.generate(ctx.image!);
        const ms = performance.now() - t0;
        if (ctx.warm) assert.is(tf.memory().numTensors, tensorsBefore, 'tensors left behind by generate');
        ctx.warm = true;
        const cmp = compareRecords(records, fx.records, `${caseName}/${file}`);
        console.log(
          `  [amg] ${caseName}/${file} (${backend}): ${records.length} masks, generate ${ms.toFixed(0)} ms; ` +
            `worst mask IoU ${cmp.worstIou}, ${cmp.notIdentical} masks not identical (${cmp.differingPixels} pixels), ` +
            `max |d predicted_iou| ${cmp.maxDiffIou.toExponential(2)}, max |d stability| ${cmp.maxDiffStability.toExponential(2)}`,
        );
      });

      if (backend === ENCODING_BACKEND) {
        test(`${file}: coco_rle output gives the fixture's COCO strings`, async () => {
          const fx = readJson<AmgFixture>(caseName, file);
          const gen = new SamAutomaticMaskGenerator(ctx.model!, { ...optionsFromSettings(fx.settings), outputMode: 'coco_rle' });
          const records = await gen.generate(ctx.image!);
          assert.is(records.length, fx.records.length);
          let identical = 0;
          records.forEach((r, i) => {
            const seg = r.segmentation as CocoRle;
            const ref = fx.records[i];
            assert.equal(seg.size, ref.segmentation_coco.size);
            // Our own masks encode to these strings and back ...
            const counts = cocoStringToCounts(seg.counts);
            assert.is(cocoRleToString(counts), seg.counts);
            // ... and a mask equal to the reference's gives the reference's string.
            if (counts.join() === ref.segmentation.counts.join()) {
              identical++;
              assert.is(seg.counts, ref.segmentation_coco.counts, `COCO counts of record ${i}`);
            }
          });
          // Masks may differ by a few pixels (see the parity test); nearly all must be identical.
          assert.ok(identical >= records.length - Math.max(1, Math.floor(records.length / 20)), `${identical} of ${records.length} identical`);
          if (identical < records.length) console.log(`  [amg] ${caseName}/${file} coco: ${records.length - identical} masks differ from the reference`);
        });
      }
    }

    if (backend === ENCODING_BACKEND) {
      test('memory bounds: decoder passes of 3 prompts and post-processing of 2 masks at a time give the reference records', async () => {
        const fx = readJson<AmgFixture>(caseName, files[0]);
        const model = ctx.model!;
        const gen = new SamAutomaticMaskGenerator(model, optionsFromSettings(fx.settings));
        const saved = model.maxDecodeBytes;
        model.maxDecodeBytes = 3 * model.decodeBytesPerPrompt();
        const s = model.imgSize;
        const [h, w] = fx.image_size;
        gen.postprocessChunkBytes = 2 * 4 * Math.max(s * s, h * w);
        try {
          assert.is(model.decodeChunkSize(), 3);
          const before = tf.memory().numTensors;
          const records = await gen.generate(ctx.image!);
          assert.is(tf.memory().numTensors, before, 'tensors left behind');
          compareRecords(records, fx.records, `${caseName}/${files[0]} in small passes`);
        } finally {
          model.maxDecodeBytes = saved;
        }
      });

      test('binary_mask output: H x W row-major 0/1 masks, the reference masks', async () => {
        const fx = readJson<AmgFixture>(caseName, files[0]);
        const gen = new SamAutomaticMaskGenerator(ctx.model!, { ...optionsFromSettings(fx.settings), outputMode: 'binary_mask' });
        const records = await gen.generate(ctx.image!);
        assert.is(records.length, fx.records.length);
        const [h, w] = fx.image_size;
        records.forEach((r, i) => {
          const m = r.segmentation as BinaryMask;
          assert.equal([m.height, m.width], [h, w]);
          assert.ok(m.data instanceof Uint8Array);
          let area = 0;
          for (let p = 0; p < m.data.length; p++) area += m.data[p];
          assert.is(area, r.area);
          assert.ok(maskIou(m.data, rleToMask(fx.records[i].segmentation)).iou >= MATCH_IOU);
        });
      });
    }

    if (caseName === cases[0]) {
      test('nothing passes the thresholds with crop layers: [] (the reference crashes); progress; no tensors left', async () => {
        const before = tf.memory().numTensors;
        const gen = new SamAutomaticMaskGenerator(ctx.model!, {
          pointsPerSide: 4,
          pointsPerBatch: 5,
          cropNLayers: 1,
          cropNPointsDownscaleFactor: 2,
          predIouThresh: 1,
          stabilityScoreThresh: 1,
          minMaskRegionArea: 10,
        });
        const reports: AmgProgress[] = [];
        assert.equal(await gen.generate(ctx.image!, { onProgress: (p) => void reports.push(p) }), []);
        assert.is(tf.memory().numTensors, before, 'tensors left behind');
        // The whole image: 16 points in 4 batches of 5; 4 crops of 2 x 2 points, one batch each.
        assert.equal(
          reports.map((p) => [p.batchesDone, p.cropsDone]),
          [
            [1, 0],
            [2, 0],
            [3, 0],
            [4, 1],
            [5, 2],
            [6, 3],
            [7, 4],
            [8, 5],
          ],
        );
        reports.forEach((p) => assert.equal([p.totalBatches, p.totalCrops], [8, 5]));
      });
    }

    if (caseName === cases[0] && backend === ENCODING_BACKEND) {
      test('a 3 x 1 image with crop layers (some crops are empty) works', async () => {
        const tiny: RgbImage = { data: new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255]), width: 3, height: 1, channels: 3 };
        const gen = new SamAutomaticMaskGenerator(ctx.model!, { pointsPerSide: 2, cropNLayers: 1, predIouThresh: 0, stabilityScoreThresh: 0 });
        const reports: AmgProgress[] = [];
        const records = await gen.generate(tiny, { onProgress: (p) => void reports.push(p) });
        for (const r of records) {
          assert.equal((r.segmentation as BinaryMask).data.length, 3);
          assert.ok(r.bbox[0] + r.bbox[2] <= 2 && r.bbox[1] + r.bbox[3] <= 0);
        }
        const last = reports[reports.length - 1];
        assert.equal([last.cropsDone, last.batchesDone], [last.totalCrops, last.totalBatches]);
      });
    }

    test.run();
  }
}

/** A small seeded PRNG (mulberry32) giving floats in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const paths = suite('stability filter on the backend against the JavaScript stability score');

paths('same scores (NaN included), kept rows and masks on every backend', async () => {
  for (const backend of TEST_BACKENDS) {
    await useBackend(backend);
    // 6 masks of 7 x 9: values on and around the cutoffs (-1, 0, 1), one mask never above -1.
    const k = 6;
    const hw = 7 * 9;
    const values = new Float32Array(k * hw);
    const rand = mulberry32(7);
    const special = [-1, 0, 1, Math.fround(1 + 1e-7), -Math.fround(1 - 1e-7), 1e-30];
    for (let i = 0; i < values.length; i++) values[i] = rand() < 0.2 ? special[i % special.length] : (rand() - 0.4) * 6;
    values.fill(-5, 3 * hw, 4 * hw);
    const logits = tf.tensor4d(values, [1, k, 7, 9]);
    const scores = calculateStabilityScore(values, k, 0, 1);
    for (const threshold of [0, 0.5]) {
      const a = await stabilityFilter(logits, { maskThreshold: 0, offset: 1, threshold });
      assert.equal(Array.from(a.stability), Array.from(scores), `${backend}: scores`);
      assert.ok(Number.isNaN(a.stability[3]));
      const rows = [...scores.keys()].filter((j) => !(threshold > 0) || scores[j] >= Math.fround(threshold));
      assert.equal(a.rows, rows);
      assert.is(a.rows.includes(3), threshold === 0, 'a NaN score passes only a disabled filter');
      const masks = rows.flatMap((j) => Array.from(values.subarray(j * hw, (j + 1) * hw), (v) => (v > 0 ? 1 : 0)));
      assert.equal(Array.from(a.masks), masks, `${backend}: masks`);
    }
    logits.dispose();
  }
});

paths.run();

const points = suite('model-frame points: the reference\'s float64 (x + 0.5) / S through a float32 prompt encoder');

points('reaches fround((x + 0.5) / S) for power-of-two S, and is never worse than fround(x)', () => {
  const rand = mulberry32(11);
  for (const s of [256, 1024, 192, 1000]) {
    const xs = new Float64Array(20000);
    for (let i = 0; i < xs.length; i++) xs[i] = rand() * s;
    xs[0] = 0;
    xs[1] = s - 0.5;
    const out = modelFramePointsFloat32(xs, s);
    const port = (c: number) => Math.fround(Math.fround(c + 0.5) / s);
    let adjusted = 0;
    for (let i = 0; i < xs.length; i++) {
      const exact = (xs[i] + 0.5) / s;
      if (out[i] !== Math.fround(xs[i])) adjusted++;
      if ((s & (s - 1)) === 0) assert.is(port(out[i]), Math.fround(exact), `S ${s}: x ${xs[i]}`);
      assert.ok(Math.abs(port(out[i]) - exact) <= Math.abs(port(Math.fround(xs[i])) - exact));
      assert.ok(Math.abs(out[i] - xs[i]) <= 1e-5 * Math.max(1, xs[i]));
    }
    assert.ok(adjusted > 0, `S ${s}: some values need a neighbour`);
  }
});

points.run();

const options = suite('automatic mask generator options');
const noModel = null as unknown as SamModel;

options('defaults are the reference defaults', () => {
  const gen = new SamAutomaticMaskGenerator(noModel);
  assert.equal(
    { ...gen.options },
    {
      pointsPerSide: 32,
      pointsPerBatch: 64,
      predIouThresh: 0.88,
      stabilityScoreThresh: 0.95,
      stabilityScoreOffset: 1.0,
      boxNmsThresh: 0.7,
      cropNLayers: 0,
      cropNmsThresh: 0.7,
      cropOverlapRatio: 512 / 1500,
      cropNPointsDownscaleFactor: 1,
      pointGrids: null,
      minMaskRegionArea: 0,
      outputMode: 'binary_mask',
    },
  );
  assert.equal({ ...DEFAULT_AMG_OPTIONS, pointGrids: null }, { ...gen.options });
  assert.is(gen.pointGrids.length, 1);
  assert.is(gen.pointGrids[0].length, 32 * 32 * 2);
  const layered = new SamAutomaticMaskGenerator(noModel, { pointsPerSide: 16, cropNLayers: 2, cropNPointsDownscaleFactor: 2 });
  assert.equal(
    layered.pointGrids.map((g) => g.length / 2),
    [256, 64, 16],
  );
});

options('explicit point grids replace pointsPerSide', () => {
  const gen = new SamAutomaticMaskGenerator(noModel, { pointGrids: [[[0.5, 0.5]], [0.25, 0.25, 0.75, 0.75]], cropNLayers: 1 });
  assert.is(gen.options.pointsPerSide, null);
  assert.equal(
    gen.pointGrids.map((g) => Array.from(g)),
    [
      [0.5, 0.5],
      [0.25, 0.25, 0.75, 0.75],
    ],
  );
  const explicitNull = new SamAutomaticMaskGenerator(noModel, { pointsPerSide: null, pointGrids: [[[0.1, 0.9]]] });
  assert.equal(Array.from(explicitNull.pointGrids[0]), [0.1, 0.9]);
});

const invalid: [string, Partial<AutomaticMaskGeneratorOptions> | Record<string, unknown>, RegExp][] = [
  ['both pointsPerSide and pointGrids', { pointsPerSide: 8, pointGrids: [[[0.5, 0.5]]] }, /exactly one of pointsPerSide and pointGrids/],
  ['neither', { pointsPerSide: null }, /exactly one of pointsPerSide and pointGrids/],
  ['pointsPerSide 0', { pointsPerSide: 0 }, /pointsPerSide must be an integer >= 1/],
  ['pointsPerSide 2.5', { pointsPerSide: 2.5 }, /pointsPerSide must be an integer >= 1/],
  ['pointsPerBatch 0', { pointsPerBatch: 0 }, /pointsPerBatch must be an integer >= 1/],
  ['predIouThresh 1.5', { predIouThresh: 1.5 }, /predIouThresh must be a number in \[0, 1\]/],
  ['predIouThresh NaN', { predIouThresh: NaN }, /predIouThresh must be a number in \[0, 1\]/],
  ['stabilityScoreThresh -0.1', { stabilityScoreThresh: -0.1 }, /stabilityScoreThresh must be a number in \[0, 1\]/],
  ['stabilityScoreOffset -1', { stabilityScoreOffset: -1 }, /stabilityScoreOffset must be a finite number >= 0/],
  ['boxNmsThresh 2', { boxNmsThresh: 2 }, /boxNmsThresh must be a number in \[0, 1\]/],
  ['cropNmsThresh "0.7"', { cropNmsThresh: '0.7' as unknown as number }, /cropNmsThresh must be a number in \[0, 1\]/],
  ['cropNLayers -1', { cropNLayers: -1 }, /cropNLayers must be an integer >= 0/],
  ['cropOverlapRatio 1.5', { cropOverlapRatio: 1.5 }, /cropOverlapRatio must be a number in \[0, 1\]/],
  ['cropNPointsDownscaleFactor 0', { cropNPointsDownscaleFactor: 0 }, /cropNPointsDownscaleFactor must be an integer >= 1/],
  ['too few points in the last layer', { pointsPerSide: 3, cropNLayers: 2, cropNPointsDownscaleFactor: 2 }, /leaves no points in the last crop layer/],
  ['minMaskRegionArea -5', { minMaskRegionArea: -5 }, /minMaskRegionArea must be a finite number >= 0/],
  ['unknown outputMode', { outputMode: 'png' as 'binary_mask' }, /unknown outputMode 'png'/],
  ['snake_case key', { points_per_side: 8 }, /unknown option 'points_per_side'/],
  ['too few point grids', { pointGrids: [[[0.5, 0.5]]], cropNLayers: 1 }, /pointGrids has 1 grid\(s\) but cropNLayers 1 needs 2/],
  ['grid point outside [0, 1]', { pointGrids: [[[0.5, 1.5]]] }, /pointGrids\[0\] holds 1.5/],
  ['odd flat grid', { pointGrids: [[0.5, 0.5, 0.5]] }, /pointGrids\[0\] has 3 values/],
  ['empty grid', { pointGrids: [[]] }, /pointGrids\[0\] has no points/],
];
for (const [name, opts, message] of invalid) {
  options(`invalid: ${name}`, () => {
    assert.throws(() => new SamAutomaticMaskGenerator(noModel, opts as Partial<AutomaticMaskGeneratorOptions>), message);
  });
}

options.run();
