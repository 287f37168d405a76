/**
 * Building blocks of the automatic mask generator (src/sam/amg) against the reference fixtures
 * (units/units.json and every case's amg_*.json) and hand-computed cases.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import {
  areaFromRle,
  batchedMaskToBox,
  batchedNms,
  boxArea,
  boxAreas,
  boxXyxyToXywh,
  buildAllLayerPointGrids,
  buildPointGrid,
  calculateStabilityScore,
  calculateStabilityScoreTensor,
  calculateStabilityScoreTf,
  calculateStabilityScoreTfAsync,
  cocoRleToString,
  cocoStringToCounts,
  cocoStringToRle,
  generateCropBoxes,
  isBoxNearCropEdge,
  maskToBoxXYXY,
  maskToRle,
  maskToRleUncropped,
  removeSmallRegions,
  rleToBoxXYXY,
  rleToCocoRle,
  rleToMask,
  uncropBoxesXYXY,
  uncropMask,
  uncropPoints,
  type Rle,
} from '../src/sam/amg/index.js';
import { fixtureCases, fixturePath, readJson, readNpy } from './helpers/fixtures.js';

const units = readJson('units', 'units.json');

/** Row-major 0/1 mask from rows of 0/1 (or '#' / '.' strings). */
function maskFromRows(rows: (readonly number[] | string)[]): { mask: Uint8Array; h: number; w: number } {
  const h = rows.length;
  const w = rows[0].length;
  const mask = new Uint8Array(h * w);
  rows.forEach((row, y) => {
    for (let x = 0; x < w; x++) {
      const v = typeof row === 'string' ? (row[x] === '#' || row[x] === '1' ? 1 : 0) : row[x];
      mask[y * w + x] = v ? 1 : 0;
    }
  });
  return { mask, h, w };
}

/** Deterministic PRNG (mulberry32) for the randomised equivalence checks. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomMask(rand: () => number, h: number, w: number, p: number): Uint8Array {
  const m = new Uint8Array(h * w);
  for (let i = 0; i < m.length; i++) m[i] = rand() < p ? 1 : 0;
  return m;
}

/** Plain (pixel by pixel, obviously correct) reference for the box of a mask. */
function naiveBox(mask: Uint8Array, h: number, w: number): number[] {
  let x0 = Infinity, y0 = Infinity, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (mask[y * w + x]) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    }
  }
  return x1 < 0 ? [0, 0, 0, 0] : [x0, y0, x1, y1];
}

// ---------------------------------------------------------------- point grids / crop boxes

test('buildAllLayerPointGrids equals numpy exactly (units.json)', () => {
  for (const c of units.build_all_layer_point_grids) {
    const grids = buildAllLayerPointGrids(c.n_per_side, c.n_layers, c.scale_per_layer);
    assert.is(grids.length, c.result.length);
    grids.forEach((g, i) => {
      assert.equal(Array.from(g), (c.result[i] as number[][]).flat(), `n=${c.n_per_side} layer ${i}`);
    });
  }
  // Layer 0 is buildPointGrid(n_per_side) itself.
  assert.equal(Array.from(buildPointGrid(3)), (units.build_all_layer_point_grids[1].result[0] as number[][]).flat());
  assert.throws(() => buildAllLayerPointGrids(2, 2, 2)); // layer 2 would have 0 points per side
});

test('generateCropBoxes equals the reference (units.json)', () => {
  for (const c of units.generate_crop_boxes) {
    const { cropBoxes, layerIdxs } = generateCropBoxes(c.im_size, c.n_layers, c.overlap_ratio);
    assert.equal(cropBoxes, c.crop_boxes_xyxy, `${c.im_size} n_layers=${c.n_layers}`);
    assert.equal(layerIdxs, c.layer_idxs);
  }
});

// ---------------------------------------------------------------- RLE, COCO strings, boxes

test('RLE, COCO string, area and boxes (units.json rle)', () => {
  for (const c of units.rle) {
    const [h, w] = c.rle.size as [number, number];
    let mask: Uint8Array;
    if (c.mask_rows) {
      mask = maskFromRows(c.mask_rows).mask;
    } else {
      // Rectangles [r0, r1, c0, c1) set to one.
      mask = new Uint8Array(h * w);
      for (const [r0, r1, c0, c1] of c.mask_true_rects_rc) {
        for (let y = r0; y < r1; y++) for (let x = c0; x < c1; x++) mask[y * w + x] = 1;
      }
    }
    const rle = maskToRle(mask, h, w);
    assert.equal(rle, c.rle, `rle ${h}x${w}`);
    assert.is(cocoRleToString(rle.counts), c.coco_counts);
    assert.equal(rleToCocoRle(rle), { size: [h, w], counts: c.coco_counts });
    assert.equal(cocoStringToCounts(c.coco_counts), c.rle.counts);
    assert.equal(cocoStringToRle({ size: [h, w], counts: c.coco_counts }), c.rle);
    assert.is(areaFromRle(rle), c.area);
    assert.equal(rleToMask(c.rle), mask);
    if (c.box_xyxy) {
      assert.equal(maskToBoxXYXY(mask, h, w), c.box_xyxy);
      assert.equal(rleToBoxXYXY(c.rle), c.box_xyxy);
      assert.equal(boxXyxyToXywh(c.box_xyxy), c.box_xywh);
    }
  }
});

test('COCO strings: negative deltas, multi-character values and large counts round-trip', () => {
  // Hand-checked encodings: 0 -> '0'; 15 fits one group -> 48 + 15 = '?'; 31 = 0b11111 has
  // bit 0x10 (the sign bit of a last group) set, so a second group follows: (31 | 0x20) + 48
  // = 'o', then 0 -> '0'.
  assert.is(cocoRleToString([0]), '0');
  assert.is(cocoRleToString([31]), 'o0');
  assert.is(cocoRleToString([15]), '?');
  // index 3: 5 - counts[1] (7) = -2 -> low 5 bits 30 (0x1e has the sign bit) -> 'N'.
  assert.is(cocoRleToString([1, 7, 2, 5]), '172N');
  const counts = [0, 5, 1000000, 3, 2 ** 33, 1, 7, 123456789, 0, 1];
  assert.equal(cocoStringToCounts(cocoRleToString(counts)), counts);
  const rand = rng(7);
  for (let t = 0; t < 50; t++) {
    const cs = Array.from({ length: 1 + Math.floor(rand() * 40) }, () => Math.floor(rand() * (rand() < 0.3 ? 5e6 : 40)));
    assert.equal(cocoStringToCounts(cocoRleToString(cs)), cs);
  }
  assert.throws(() => cocoStringToCounts('o')); // ends inside a count
});

test('RLE / box round trips on random masks, uncropped RLE equals RLE of the uncropped mask', () => {
  const rand = rng(1234);
  for (let t = 0; t < 200; t++) {
    const h = 1 + Math.floor(rand() * 17);
    const w = 1 + Math.floor(rand() * 17);
    const p = [0, 0.05, 0.5, 0.95, 1][t % 5];
    const mask = randomMask(rand, h, w, p);
    const rle = maskToRle(mask, h, w);
    assert.equal(rleToMask(rle), mask);
    assert.ok(rle.counts.slice(1).every((c) => c > 0));
    assert.is(rle.counts.reduce((a, b) => a + b, 0), h * w);
    assert.is(areaFromRle(rle), mask.reduce((a, b) => a + b, 0));
    const box = naiveBox(mask, h, w);
    assert.equal(maskToBoxXYXY(mask, h, w), box);
    assert.equal(rleToBoxXYXY(rle), box);
    assert.equal(cocoStringToCounts(cocoRleToString(rle.counts)), rle.counts);

    const origH = h + Math.floor(rand() * 5);
    const origW = w + Math.floor(rand() * 5);
    const x0 = Math.floor(rand() * (origW - w + 1));
    const y0 = Math.floor(rand() * (origH - h + 1));
    const crop = [x0, y0, x0 + w, y0 + h];
    const full = uncropMask(mask, crop, origH, origW);
    assert.equal(maskToRleUncropped(mask, crop, origH, origW), maskToRle(full, origH, origW));
  }
  const masks = new Uint8Array([0, 0, 0, 0, /* */ 0, 1, 1, 0, /* */ 1, 0, 0, 0]);
  assert.equal(Array.from(batchedMaskToBox(masks, 3, 2, 2)), [0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0]);
});

test('amg_*.json records: COCO strings, area and bbox from the decoded mask', () => {
  let nRecords = 0;
  for (const caseName of fixtureCases()) {
    for (const name of ['amg_grid8.json', 'amg_crop1.json']) {
      if (!existsSync(fixturePath(caseName, name))) continue;
      const amg = readJson(caseName, name);
      const s = amg.settings;
      // Crop boxes and point grids of the run.
      const [imH, imW] = amg.records[0].segmentation.size as [number, number];
      const { cropBoxes, layerIdxs } = generateCropBoxes([imH, imW], s.crop_n_layers, s.crop_overlap_ratio);
      assert.equal(cropBoxes, amg.crop_boxes_xyxy, `${caseName}/${name} crop boxes`);
      assert.equal(layerIdxs, amg.crop_layer_idxs);
      const grids = buildAllLayerPointGrids(s.points_per_side, s.crop_n_layers, s.crop_n_points_downscale_factor);
      assert.equal(grids.map((g) => Array.from(g)), (amg.point_grids as number[][][]).map((g) => g.flat()));

      for (const [k, r] of (amg.records as any[]).entries()) {
        const where = `${caseName}/${name} record ${k}`;
        const rle: Rle = r.segmentation;
        const [h, w] = rle.size;
        assert.is(cocoRleToString(rle.counts), r.segmentation_coco.counts, where);
        assert.equal(cocoStringToCounts(r.segmentation_coco.counts), rle.counts, where);
        const mask = rleToMask(rle);
        assert.equal(maskToRle(mask, h, w), rle, where);
        const area = mask.reduce((a, b) => a + b, 0);
        assert.is(area, r.area, where);
        assert.is(areaFromRle(rle), r.area, where);
        assert.equal(boxXyxyToXywh(maskToBoxXYXY(mask, h, w)), r.bbox, where);
        assert.equal(boxXyxyToXywh(rleToBoxXYXY(rle)), r.bbox, where);
        // The record's point is a grid point of its crop layer, scaled to the crop and uncropped.
        const [cx, cy, cw, ch] = r.crop_box as number[];
        const crop = [cx, cy, cx + cw, cy + ch];
        const ci = cropBoxes.findIndex((b) => b.every((v, j) => v === crop[j]));
        assert.ok(ci >= 0, `${where}: crop box`);
        const g = grids[layerIdxs[ci]];
        const scaled = new Float64Array(g.length);
        for (let i = 0; i < g.length; i += 2) {
          scaled[i] = g[i] * cw;
          scaled[i + 1] = g[i + 1] * ch;
        }
        const pts = uncropPoints(scaled, crop);
        const [[px, py]] = r.point_coords as number[][];
        let found = false;
        for (let i = 0; i < pts.length && !found; i += 2) found = pts[i] === px && pts[i + 1] === py;
        assert.ok(found, `${where}: point ${px},${py}`);
        nRecords++;
      }
    }
  }
  assert.ok(nRecords > 100, `only ${nRecords} records checked`);
});

// ---------------------------------------------------------------- stability score

test('calculateStabilityScore equals the reference float32 values exactly (units.json)', () => {
  const c = units.calculate_stability_score;
  const npy = readNpy(c.logits);
  const logits = npy.data as Float32Array;
  const n = npy.shape[0];
  for (const [offset, expected] of Object.entries(c.results as Record<string, number[]>)) {
    const got = calculateStabilityScore(logits, n, c.mask_threshold, Number(offset));
    // Both sides are a float32 quotient of two exact integer counts: bit-identical, so the
    // comparison is exact (the JSON values are float64 renderings of the float32 results).
    assert.equal(Array.from(got), expected.map(Math.fround), `offset ${offset}`);
  }
});

test('calculateStabilityScore: hand-computed counts and 0/0 = NaN', () => {
  // Mask 0: logits > 1: {2, 3} (2); > -1: {0.5, 2, 3, -0.5} (4) -> 0.5.
  // Mask 1: nothing above -1 -> 0 / 0 = NaN.  Mask 2: 1 is not > 1 (strict): 0 / 4 = 0.
  const logits = new Float32Array([0.5, 2, 3, -0.5, -5, -1, -2, -3, 1, 1, 1, 1]);
  const got = calculateStabilityScore(logits, 3, 0, 1);
  assert.is(got[0], 0.5);
  assert.ok(Number.isNaN(got[1]));
  assert.is(got[2], 0);
  // Thresholds are float32: 0.1 + 0.2 is 0.30000000000000004 in float64 but float32(0.3) =
  // 0.30000001192... here, so a logit of float32(0.3) is not above the high threshold.
  const v = Math.fround(0.3);
  assert.is(calculateStabilityScore(new Float32Array([v, 5]), 1, 0.1, 0.2)[0], 0.5);
  assert.is(calculateStabilityScore(new Float32Array(0), 0, 0, 1).length, 0);
  assert.throws(() => calculateStabilityScore(new Float32Array(5), 2, 0, 1));
});

test('tfjs stability score equals the typed-array version and leaks no tensors', async () => {
  await tf.setBackend('cpu');
  await tf.ready();
  const c = units.calculate_stability_score;
  const npy = readNpy(c.logits);
  const logits = npy.data as Float32Array;
  const before = tf.memory().numTensors;
  const t = tf.tensor3d(logits, npy.shape as [number, number, number], 'float32');
  for (const offset of [1, 0.5, 2]) {
    const expected = Array.from(calculateStabilityScore(logits, npy.shape[0], c.mask_threshold, offset));
    assert.equal(Array.from(calculateStabilityScoreTf(t, c.mask_threshold, offset)), expected);
    assert.equal(Array.from(await calculateStabilityScoreTfAsync(t, c.mask_threshold, offset)), expected);
    const st = calculateStabilityScoreTensor(t, c.mask_threshold, offset);
    assert.equal(st.shape, [npy.shape[0]]);
    assert.equal(Array.from(st.dataSync()), expected);
    st.dispose();
  }
  // 0 / 0 -> NaN on the tfjs side too; a 4-D batch [2, 1, H, W] gives 2 scores.
  const hand = tf.tensor4d([0.5, 2, 3, -0.5, -5, -1, -2, -3], [2, 1, 2, 2]);
  const got = calculateStabilityScoreTf(hand, 0, 1);
  assert.is(got[0], 0.5);
  assert.ok(Number.isNaN(got[1]));
  const gotT = calculateStabilityScoreTensor(hand, 0, 1);
  assert.equal(gotT.shape, [2, 1]);
  assert.ok(Number.isNaN(gotT.dataSync()[1]));
  gotT.dispose();
  hand.dispose();
  t.dispose();
  assert.is(tf.memory().numTensors, before, 'tensors leaked');
});

// ---------------------------------------------------------------- small regions

test('removeSmallRegions equals the reference (units.json)', () => {
  const c = units.remove_small_regions;
  const input = readNpy(c.input);
  const [h, w] = input.shape;
  const mask = input.data as Uint8Array;
  for (const mode of ['holes', 'islands'] as const) {
    const r = c.results[mode];
    const out = removeSmallRegions(mask, h, w, r.area_thresh, mode);
    assert.is(out.changed, r.changed, mode);
    assert.equal(out.mask, readNpy(r.output).data as Uint8Array, mode);
  }
});

test('removeSmallRegions: hand-computed cases', () => {
  // A one-pixel hole is filled below area 2, kept at area 1 (size 1 < 1 is false).
  const ring = maskFromRows(['#####', '#####', '##.##', '#####', '#####']);
  const filled = removeSmallRegions(ring.mask, 5, 5, 2, 'holes');
  assert.ok(filled.changed);
  assert.equal(Array.from(filled.mask), new Array(25).fill(1));
  const same = removeSmallRegions(ring.mask, 5, 5, 1, 'holes');
  assert.not.ok(same.changed);
  assert.is(same.mask, ring.mask); // unchanged: the input itself

  // Background touching the border is a "hole" too: 16 outer pixels + 1 inner one.
  const box = maskFromRows(['.....', '.###.', '.#.#.', '.###.', '.....']);
  assert.equal(removeSmallRegions(box.mask, 5, 5, 2, 'holes').mask, maskFromRows(['.....', '.###.', '.###.', '.###.', '.....']).mask);
  assert.equal(Array.from(removeSmallRegions(box.mask, 5, 5, 17, 'holes').mask), new Array(25).fill(1));

  // 8-connectivity: the diagonal is one island of 3 (three islands of 1 with 4-connectivity).
  const diag = maskFromRows(['#....', '.#..#', '..#..']);
  const islands = removeSmallRegions(diag.mask, 3, 5, 2, 'islands');
  assert.ok(islands.changed);
  assert.equal(islands.mask, maskFromRows(['#....', '.#...', '..#..']).mask);

  // All islands small: the largest is kept (and the mask still counts as changed).
  const two = maskFromRows(['##...#', '......', '......']);
  const largest = removeSmallRegions(two.mask, 3, 6, 5, 'islands');
  assert.ok(largest.changed);
  assert.equal(largest.mask, maskFromRows(['##....', '......', '......']).mask);

  // Tie between equally large islands: OpenCV numbers components by the first 2x2 block (block
  // rows of two pixel rows) holding one of their pixels, so the pixel at row 1, column 0
  // (block 0) is label 1 and wins over the one at row 0, column 4 (block 2) though the latter
  // comes first in pixel raster order.
  const tie = maskFromRows(['....#.', '#.....', '......', '......']);
  assert.equal(removeSmallRegions(tie.mask, 4, 6, 5, 'islands').mask, maskFromRows(['......', '#.....', '......', '......']).mask);

  // Nothing to label: unchanged.
  const empty = new Uint8Array(12);
  assert.not.ok(removeSmallRegions(empty, 3, 4, 10, 'islands').changed);
  assert.not.ok(removeSmallRegions(new Uint8Array(12).fill(1), 3, 4, 10, 'holes').changed);
});

// ---------------------------------------------------------------- NMS and box helpers

test('batchedNms: score order, stable ties, strict threshold, categories', () => {
  const sq = [0, 0, 10, 10];
  // Non-overlapping boxes come back by descending score.
  assert.equal(batchedNms([[0, 0, 1, 1], [5, 5, 6, 6], [10, 10, 11, 11]], [0.1, 0.9, 0.5], [0, 0, 0], 0.5), [1, 2, 0]);
  // Identical boxes with equal scores: the lower index is visited first and suppresses the other.
  assert.equal(batchedNms([sq, sq, [20, 20, 30, 30]], [0.5, 0.5, 0.2], [0, 0, 0], 0.7), [0, 2]);
  assert.equal(batchedNms([[20, 20, 30, 30], sq, sq], [0.2, 0.5, 0.5], [0, 0, 0], 0.7), [1, 0]);
  // IoU exactly 0.5 (50 / 100) is not > 0.5: both kept; suppressed below that threshold.
  const half = [0, 0, 10, 5];
  assert.equal(batchedNms([sq, half], [0.9, 0.8], [0, 0], 0.5), [0, 1]);
  assert.equal(batchedNms([sq, half], [0.9, 0.8], [0, 0], 0.49), [0]);
  // float32 IoU against a float64 threshold: 70/100 -> float32 0.699999988 is not > 0.7 (kept),
  // 30/100 -> float32 0.300000012 IS > 0.3 (suppressed), as in torchvision's float kernel.
  assert.equal(batchedNms([sq, [0, 0, 10, 7]], [0.9, 0.8], [0, 0], 0.7), [0, 1]);
  assert.equal(batchedNms([sq, [0, 0, 10, 3]], [0.9, 0.8], [0, 0], 0.3), [0]);
  // Categories: a box of another category is never suppressed.
  assert.equal(batchedNms([sq, sq, sq], [0.9, 0.8, 0.7], [0, 1, 0], 0.5), [0, 1]);
  // Suppressed boxes suppress nothing: A-B IoU 80/120, B-C 80/120, A-C 60/140 = 0.43.
  assert.equal(batchedNms([sq, [2, 0, 12, 10], [4, 0, 14, 10]], [0.9, 0.8, 0.7], [0, 0, 0], 0.6), [0, 2]);
  // Two empty boxes: IoU 0/0 = NaN suppresses nothing.
  assert.equal(batchedNms([[5, 5, 5, 5], [5, 5, 5, 5]], [0.9, 0.8], [0, 0], 0.1), [0, 1]);
  // Flat typed input, scores compared as float32 (1/3 and its float32 rounding tie -> index order).
  const flat = new Float32Array([0, 0, 10, 10, 0, 0, 10, 10]);
  assert.equal(batchedNms(flat, [Math.fround(1 / 3), 1 / 3], new Int32Array(2), 0.5), [0]);
  assert.equal(batchedNms([], [], [], 0.5), []);
});

test('isBoxNearCropEdge (atol inclusive, image edges excluded)', () => {
  const orig = [0, 0, 400, 200];
  const crop = [100, 0, 300, 200];
  // Boxes in crop coordinates; + (100, 0) in the image frame.
  const boxes = [
    [0, 50, 50, 100], // x0 = 100 = crop x0, image x0 is 0 (100 away) -> near
    [5, 50, 50, 100], // x0 = 105, 5 from the crop edge -> near
    [30, 0, 150, 50], // y0 = 0 is the crop edge AND the image edge -> not; others >= 30 away
    [30, 30, 180, 150], // x1 = 280, exactly 20 from 300 -> near (inclusive)
    [30, 30, 179, 150], // x1 = 279, 21 away -> not near
  ];
  assert.equal(Array.from(isBoxNearCropEdge(boxes, crop, orig)), [1, 1, 0, 1, 0]);
  assert.equal(Array.from(isBoxNearCropEdge(boxes, crop, orig, 25)), [1, 1, 0, 1, 1]);
  // Right crop of the image: x1 at 400 is the image edge too.
  assert.equal(Array.from(isBoxNearCropEdge(new Int32Array([150, 30, 200, 100, 0, 30, 50, 100]), [200, 0, 400, 200], orig)), [0, 1]);
});

test('uncrop helpers and box areas', () => {
  assert.equal(uncropBoxesXYXY([[1, 2, 3, 4], [0, 0, 5, 5]], [10, 20, 50, 60]), [[11, 22, 13, 24], [10, 20, 15, 25]]);
  const flat = uncropBoxesXYXY(new Int32Array([1, 2, 3, 4]), [10, 20, 50, 60]);
  assert.ok(flat instanceof Int32Array);
  assert.equal(Array.from(flat), [11, 22, 13, 24]);
  assert.equal(uncropPoints([[0.5, 1.25]], [10, 20, 50, 60]), [[10.5, 21.25]]);
  assert.equal(Array.from(uncropPoints(new Float64Array([0.5, 1.25, 2, 3]), [10, 20, 50, 60])), [10.5, 21.25, 12, 23]);

  // A 2 x 3 crop at x0=1, y0=2 of a 5 x 6 image.
  const crop = new Uint8Array([1, 0, 1, 0, 1, 1]);
  const full = uncropMask(crop, [1, 2, 4, 4], 5, 6);
  // prettier-ignore
  assert.equal(Array.from(full), [
    0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0,
    0, 1, 0, 1, 0, 0,
    0, 0, 1, 1, 0, 0,
    0, 0, 0, 0, 0, 0,
  ]);
  assert.is(uncropMask(crop, [0, 0, 3, 2], 2, 3), crop); // whole image: returned as is
  assert.throws(() => uncropMask(crop, [4, 2, 7, 4], 5, 6));

  assert.is(boxArea([1, 2, 4, 6]), 12);
  assert.equal(Array.from(boxAreas([[0, 0, 427, 285], [0, 0, 256, 185]])), [121695, 47360]);
});

test.run();
