/**
 * Converted weights against the checkpoint, for every fixture case (cpu backend):
 * - float32 weights load from disk and give IDENTICAL outputs to the .pth (image embedding,
 *   low-res logits and masks), and identical weights through tf.io.http from a loopback server
 *   (the browser path);
 * - the legacy .pth converts to the same bytes as the zip one; shards are cut like tfjs-converter's;
 * - float16 and uint8 stay within the bounds measured with scripts/convert_quality.ts (see
 *   converter/README.md): float16 embedding error <= 2e-2 and mask IoU >= 0.99; uint8 embedding
 *   error <= 0.5, mask IoU >= 0.9 (min) and >= 0.96 (mean).
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { convertCheckpoint, type ConvertResult } from '../converter/convert.js';
import type { WeightsDtype } from '../converter/quantize.js';
import { compareOutputs, disposeFixtureImage, identical, prepareFixtureImage, runOnFixture, type FixtureImage, type ModelOutputs } from '../scripts/convert_quality_lib.js';
import { samFromCheckpoint } from '../src/sam/load_checkpoint.js';
import type { SamModel } from '../src/sam/sam_model.js';
import { useBackend } from './helpers/backends.js';
import { assertSameWeights, fixtureConfig, loadConverted, makeTempDir, rejects, removeDir, timeSuite } from './helpers/convert_env.js';
import { fixtureCases, fixturePath } from './helpers/fixtures.js';
import { directoryHandler, startLocalServer } from './helpers/local_server.js';

/** Bounds for quantized weights vs float32: 2.5-5x the measured worst error / IoU loss (see converter/README.md). */
const BOUNDS = {
  float16: { embedding: 2e-2, minIoU: 0.99, meanIoU: 0.995 },
  uint8: { embedding: 0.5, minIoU: 0.9, meanIoU: 0.96 },
};
const SHARD = 64 * 1024;

for (const caseName of fixtureCases()) {
  const test = suite(`convert ${caseName}`);
  const ctx: {
    tmp?: string;
    start?: number;
    results: Map<string, ConvertResult>;
    image?: FixtureImage;
    pth?: SamModel;
    f32?: SamModel;
    outputs: Map<string, ModelOutputs>;
  } = { results: new Map(), outputs: new Map() };

  timeSuite(test);
  test.before(async () => {
    const t0 = Date.now();
    await useBackend('cpu');
    ctx.start = tf.memory().numTensors;
    ctx.tmp = makeTempDir('convert');
    const config = fixtureConfig(caseName);
    for (const dtype of ['float32', 'float16', 'uint8'] as WeightsDtype[]) {
      ctx.results.set(dtype, await convertCheckpoint({ input: fixturePath(caseName, 'model.pth'), config, outDir: join(ctx.tmp, dtype), dtype, shardSizeBytes: SHARD }));
    }
    ctx.results.set(
      'legacy',
      await convertCheckpoint({ input: fixturePath(caseName, 'model.legacy.pth'), config: fixturePath(caseName, 'config.json'), outDir: join(ctx.tmp, 'legacy'), shardSizeBytes: SHARD }),
    );
    ctx.pth = await samFromCheckpoint(fixturePath(caseName, 'model.pth'), { config });
    ctx.f32 = await loadConverted(ctx.results.get('float32')!.outDir);
    ctx.image = await prepareFixtureImage(fixturePath(caseName), config.imageEncoder.imgSize, config.pixelMean, config.pixelStd);
    if (process.env.SAM_TEST_TIMING) process.stderr.write(`\n    before: ${Date.now() - t0} ms\n`);
    ctx.outputs.set('float32', await runOnFixture(ctx.f32, ctx.image));
    if (process.env.SAM_TEST_TIMING) process.stderr.write(`\n    before+run: ${Date.now() - t0} ms\n`);
  });

  test.after(() => {
    if (ctx.image) disposeFixtureImage(ctx.image);
    ctx.pth?.dispose();
    ctx.f32?.dispose();
    if (ctx.tmp) removeDir(ctx.tmp);
    assert.is(tf.memory().numTensors, ctx.start, 'tensors leaked');
  });

  test('float32 from disk: identical weights and outputs (embedding, low-res logits, masks) to the .pth', async () => {
    assertSameWeights(ctx.pth!, ctx.f32!);
    const names = ['p1_point_multimask', 'p7_batch_boxes'];
    const fromPth = await runOnFixture(ctx.pth!, ctx.image!, names);
    const fromConverted = ctx.outputs.get('float32')!;
    const subset = { embedding: fromConverted.embedding, prompts: fromConverted.prompts.filter((p) => names.includes(p.name)) };
    assert.is(subset.prompts.length, 2);
    assert.ok(identical(fromPth, subset), 'outputs differ');
  });

  test('the browser path: tf.io.http against a loopback server gives identical weights and decoder outputs', async () => {
    const server = await startLocalServer(directoryHandler(ctx.results.get('float32')!.outDir));
    let model: SamModel | undefined;
    try {
      model = await loadConverted(tf.io.http(`${server.url}/model.json`));
      assertSameWeights(ctx.f32!, model);
      const shards = ctx.results.get('float32')!.shards;
      assert.equal(server.requests.map((r) => r.url).sort(), ['/model.json', ...shards.map((s) => `/${s}`)].sort());
      // identical weights make an identical encoder; run the decoder on the float32 embedding
      const ref = ctx.outputs.get('float32')!;
      const fromHttp = await runOnFixture(model, ctx.image!, ['p3_box', 'p5_point_mask_refine'], ref.embedding);
      assert.ok(identical(fromHttp, { embedding: ref.embedding, prompts: ref.prompts.filter((p) => fromHttp.prompts.some((q) => q.name === p.name)) }));
    } finally {
      model?.dispose();
      await server.close();
    }
  });

  test('the legacy .pth converts to the same weights, byte for byte', () => {
    const zip = ctx.results.get('float32')!;
    const legacy = ctx.results.get('legacy')!;
    const manifest = (r: ConvertResult) => JSON.parse(readFileSync(r.modelJsonPath, 'utf8')).weightsManifest;
    assert.equal(manifest(legacy), manifest(zip));
    for (const s of zip.shards) assert.ok(readFileSync(join(zip.outDir, s)).equals(readFileSync(join(legacy.outDir, s))), s);
  });

  test('shards are cut like tfjs-converter: group1-shard<i>of<n>.bin, all full but the last', () => {
    for (const [dtype, r] of ctx.results) {
      const files = readdirSync(r.outDir).sort();
      assert.equal(files, ['model.json', ...r.shards].sort(), dtype);
      const n = r.shards.length;
      assert.is(n, Math.ceil(r.totalBytes / SHARD));
      r.shards.forEach((s, i) => {
        assert.is(s, `group1-shard${i + 1}of${n}.bin`);
        assert.is(statSync(join(r.outDir, s)).size, i < n - 1 ? SHARD : r.totalBytes - SHARD * (n - 1));
      });
      const json = JSON.parse(readFileSync(r.modelJsonPath, 'utf8'));
      assert.is(json.format, 'sam-tfjs-weights');
      assert.equal(json.userDefinedMetadata.samConfig, fixtureConfig(caseName));
      assert.is(json.userDefinedMetadata.modelType, null);
      const perValue = { float32: 4, legacy: 4, float16: 2, uint8: 1 }[dtype]!;
      const values = json.weightsManifest[0].weights.reduce((sum: number, w: { shape: number[] }) => sum + w.shape.reduce((a, b) => a * b, 1), 0);
      assert.is(values * perValue, r.totalBytes);
      for (const w of json.weightsManifest[0].weights) {
        assert.is(w.dtype, 'float32');
        if (dtype === 'float16') assert.equal(w.quantization, { dtype: 'float16', original_dtype: 'float32' });
        else if (dtype === 'uint8') assert.equal(Object.keys(w.quantization).sort(), ['dtype', 'min', 'original_dtype', 'scale']);
        else assert.is(w.quantization, undefined);
      }
    }
  });

  for (const dtype of ['float16', 'uint8'] as const) {
    test(`${dtype}: embedding error and mask IoU against float32 within bounds`, async () => {
      const model = await loadConverted(ctx.results.get(dtype)!.outDir);
      try {
        const q = compareOutputs(ctx.outputs.get('float32')!, await runOnFixture(model, ctx.image!));
        const b = BOUNDS[dtype];
        assert.ok(q.maxAbsEmbedding > 0, 'quantization changed nothing?');
        assert.ok(q.maxAbsEmbedding <= b.embedding, `max abs embedding error ${q.maxAbsEmbedding} > ${b.embedding}`);
        assert.ok(q.minMaskIoU >= b.minIoU, `min mask IoU ${q.minMaskIoU} < ${b.minIoU}`);
        assert.ok(q.meanMaskIoU >= b.meanIoU, `mean mask IoU ${q.meanMaskIoU} < ${b.meanIoU}`);
      } finally {
        model.dispose();
      }
    });
  }

  test.run();
}

const misc = suite('convert: names, overwrite, tfjs dequantization');
const state: { tmp?: string; start?: number } = {};
timeSuite(misc);
misc.before(async () => {
  await useBackend('cpu');
  state.start = tf.memory().numTensors;
  state.tmp = makeTempDir('convert-misc');
});
misc.after(() => {
  if (state.tmp) removeDir(state.tmp);
  assert.is(tf.memory().numTensors, state.start, 'tensors leaked');
});

misc('default output: <weightsDir>/<file stem> for a custom model, one 4 MiB shard at most', async () => {
  const caseName = fixtureCases()[0];
  const weightsDir = join(state.tmp!, 'weights');
  const r = await convertCheckpoint({ input: fixturePath(caseName, 'model.legacy.pth'), config: fixtureConfig(caseName), weightsDir });
  assert.is(r.outDir, join(weightsDir, 'model.legacy'));
  assert.equal(r.shards, ['group1-shard1of1.bin']);
  const named = await convertCheckpoint({ input: fixturePath(caseName, 'model.pth'), config: fixtureConfig(caseName), weightsDir, name: 'tiny' });
  assert.is(named.outDir, join(weightsDir, 'tiny'));
  assert.equal(readdirSync(weightsDir).sort(), ['model.legacy', 'tiny']);
});

misc('overwrite replaces converted weights; without it an existing output is refused', async () => {
  const caseName = fixtureCases()[0];
  const outDir = join(state.tmp!, 'over');
  const first = await convertCheckpoint({ input: fixturePath(caseName, 'model.pth'), config: fixtureConfig(caseName), outDir, dtype: 'uint8' });
  const before = readFileSync(first.modelJsonPath, 'utf8');
  await rejects(
    () => convertCheckpoint({ input: fixturePath(caseName, 'model.pth'), config: fixtureConfig(caseName), outDir }),
    /already exists; pass overwrite/,
  );
  assert.is(readFileSync(first.modelJsonPath, 'utf8'), before, 'the existing output was touched');
  const second = await convertCheckpoint({ input: fixturePath(caseName, 'model.pth'), config: fixtureConfig(caseName), outDir, overwrite: true, shardSizeBytes: 1 << 18 });
  assert.is(second.dtype, 'float32');
  assert.equal(readdirSync(outDir).sort(), ['model.json', ...second.shards].sort());
  assert.equal(readdirSync(state.tmp!).filter((n) => n.startsWith('.')), []);
});

misc('quantized shards decode with tf.io.decodeWeights to the values the converter meant', async () => {
  const caseName = fixtureCases()[0];
  const config = fixtureConfig(caseName);
  const ref = await convertCheckpoint({ input: fixturePath(caseName, 'model.pth'), config, outDir: join(state.tmp!, 'q32') });
  const q8 = await convertCheckpoint({ input: fixturePath(caseName, 'model.pth'), config, outDir: join(state.tmp!, 'q8'), dtype: 'uint8', shardSizeBytes: 4096 });
  const read = (r: ConvertResult) => {
    const json = JSON.parse(readFileSync(r.modelJsonPath, 'utf8'));
    const buffers = r.shards.map((s) => Uint8Array.prototype.slice.call(readFileSync(join(r.outDir, s))).buffer as ArrayBuffer);
    return { specs: json.weightsManifest[0].weights, named: tf.io.decodeWeights(buffers, json.weightsManifest[0].weights) };
  };
  const a = read(ref);
  const b = read(q8);
  try {
    let zeros = 0;
    for (const spec of b.specs) {
      const x = a.named[spec.name].dataSync();
      const y = b.named[spec.name].dataSync();
      const { min, scale } = spec.quantization;
      for (let i = 0; i < x.length; i++) {
        // within half a step (the nudged range may clip the extreme values by up to half a step too)
        if (Math.abs(x[i] - y[i]) > scale * 0.5 * (1 + 1e-6) + 1e-7) assert.unreachable(`${spec.name}[${i}]: ${x[i]} -> ${y[i]} (scale ${scale})`);
        if (x[i] === 0) {
          zeros++;
          assert.is(y[i], 0, `${spec.name}: zero must stay exactly zero`);
        }
      }
      if (min <= 0 && min + 255 * scale >= 0) assert.is(Math.round(-min / scale) * scale + min, 0, `${spec.name}: zero is not on the grid`);
    }
    assert.ok(b.specs.length > 100 && zeros >= 0);
  } finally {
    tf.dispose([...Object.values(a.named), ...Object.values(b.named)]);
  }
});

misc.run();
