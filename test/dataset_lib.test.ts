/**
 * The training-data library (src/dataset) in process: the prefetch queue's bound and order,
 * shards (including auto from Kubernetes / Slurm variables), the image list, output names,
 * amg.py's CSV format, the dataset file's streaming layout, the state folder's settings
 * check, and `buildDataset` on the fixture models: the same masks as the generator, the same
 * file again on a rerun, no tensor growth per image, and merge equal to an unsharded run.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  amgSettings,
  annotationMask,
  buildDataset,
  DatasetWriter,
  imageKey,
  listImages,
  mergeDatasets,
  MergeError,
  metadataCsv,
  METADATA_CSV_HEADER,
  modelFingerprint,
  outputNames,
  parseShard,
  prefetch,
  pyFloat,
  readDataset,
  RunLockedError,
  runImages,
  RunState,
  SettingsMismatchError,
  shardFileName,
  shardPositions,
  ShardSpecError,
  type CocoAnnotation,
  type DatasetInfo,
} from '../src/dataset/index.js';
import { ImageDecoder } from '../src/dataset/decoder.js';
import { ProgressBar, Reporter } from '../src/cli/output.js';
import { decodeImage } from '../src/sam/preprocess/decode_image.js';
import { cocoStringToRle, rleToMask } from '../src/sam/amg/index.js';
import { SamAutomaticMaskGenerator, type MaskRecord } from '../src/sam/automatic_mask_generator.js';
import { samConfigFromReferenceJson } from '../src/sam/config.js';
import { samFromCheckpoint } from '../src/sam/load_checkpoint.js';
import type { CocoRle } from '../src/sam/amg/types.js';
import type { SamModel } from '../src/sam/sam_model.js';
import { useBackend } from './helpers/backends.js';
import { fixtureModels, makeImageFolder, tempDir } from './helpers/cli_env.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
const queue = suite('prefetch queue');

queue('hands items out in order, never holding more than `depth` loading or waiting', async () => {
  for (const depth of [1, 2, 3]) {
    const started: number[] = [];
    let maxAhead = 0;
    const items = Array.from({ length: 12 }, (_, i) => i);
    // Loads finish out of order (later items faster), the consumer is slow.
    const load = async (i: number) => {
      started.push(i);
      await sleep(2 + ((11 - i) % 4) * 3);
      return i * 10;
    };
    const got: number[] = [];
    for await (const r of prefetch(items, load, { depth })) {
      assert.is(r.value, r.item * 10);
      assert.is(r.index, r.item);
      got.push(r.item);
      // While the consumer works on an item, the next ones load: up to `depth` of them, never more.
      const ahead = () => started.length - got.length;
      assert.ok(ahead() <= depth, `depth ${depth}: ${ahead()} loading or waiting when item ${r.item} is taken`);
      await sleep(8);
      assert.ok(ahead() <= depth, `depth ${depth}: ${ahead()} loading or waiting while item ${r.item} is worked on`);
      maxAhead = Math.max(maxAhead, ahead());
    }
    assert.equal(got, items, `depth ${depth}: order`);
    assert.equal(started, items, `depth ${depth}: loads start in order`);
    assert.is(maxAhead, depth, `depth ${depth}: the queue is used up to its bound`);
  }
});

queue('reads ahead while the consumer works', async () => {
  // When the consumer starts on item k, the loads of the next items have started already
  // (and by the time it finishes, item k+1 is loaded): the model never waits for the disk.
  const started: number[] = [];
  const finished = new Set<number>();
  let n = 0;
  for await (const r of prefetch([0, 1, 2, 3, 4, 5], async (i) => {
    started.push(i);
    await sleep(5);
    finished.add(i);
  }, { depth: 3 })) {
    const next = r.item + 1;
    if (next < 6) assert.ok(started.includes(next), `item ${next} not started while ${r.item} is worked on`);
    await sleep(30); // the work on item k
    if (next < 6) assert.ok(finished.has(next), `item ${next} not loaded after ${r.item} was worked on`);
    n++;
  }
  assert.is(n, 6);
});

queue('a failed load is handed out in its place; the queue goes on', async () => {
  const out: Array<[number, number | undefined, string | undefined]> = [];
  for await (const r of prefetch([0, 1, 2, 3], async (i) => {
    if (i === 1) throw new Error('bad image');
    if (i === 2) return Promise.reject(new Error('also bad'));
    return i;
  })) {
    out.push([r.item, r.value, (r.error as Error | undefined)?.message]);
  }
  assert.equal(out, [
    [0, 0, undefined],
    [1, undefined, 'bad image'],
    [2, undefined, 'also bad'],
    [3, 3, undefined],
  ]);
});

queue('leaving early stops further loads; an abort signal stops starting new ones', async () => {
  const started: number[] = [];
  const items = Array.from({ length: 20 }, (_, i) => i);
  for await (const r of prefetch(items, async (i) => (started.push(i), i), { depth: 2 })) {
    if (r.item === 3) break;
  }
  await sleep(5);
  assert.ok(started.length <= 6, `started ${started.length} loads for 4 items taken (depth 2)`);
  const controller = new AbortController();
  const started2: number[] = [];
  const taken: number[] = [];
  for await (const r of prefetch(items, async (i) => (started2.push(i), i), { depth: 2, signal: controller.signal })) {
    taken.push(r.item);
    if (r.item === 1) controller.abort();
  }
  assert.ok(started2.length <= 4 && taken.length <= 4, `after the abort: ${started2.length} started, ${taken.length} taken`);
  assert.throws(() => prefetch([1], async () => 1, { depth: 0 }), /depth/);
});

queue.run();

// ---------------------------------------------------------------------------------------------
const pure = suite('shards, image lists, names, CSV, dataset layout');

pure('shards: i/N, auto/N from Kubernetes / Slurm, positions, file names', () => {
  assert.equal(parseShard('2/8', {}), { index: 2, count: 8 });
  assert.equal(parseShard(' 0 / 1 ', {}), { index: 0, count: 1 });
  assert.equal(parseShard('auto/4', { JOB_COMPLETION_INDEX: '3' }), { index: 3, count: 4 });
  assert.equal(parseShard('auto/4', { SLURM_ARRAY_TASK_ID: '2' }), { index: 2, count: 4 });
  assert.equal(parseShard('auto/4', { SLURM_ARRAY_TASK_ID: '4', SLURM_ARRAY_TASK_MIN: '1' }), { index: 3, count: 4 });
  assert.equal(parseShard('AUTO/2', { SAM_TFJS_SHARD_INDEX: '1', JOB_COMPLETION_INDEX: '0' }), { index: 1, count: 2 });
  for (const bad of ['8/8', '-1/4', '1/0', 'a/4', '1', '1/2/3', 'auto/x']) {
    assert.throws(() => parseShard(bad, {}), (e: unknown) => e instanceof ShardSpecError, bad);
  }
  assert.throws(() => parseShard('auto/4', {}), /JOB_COMPLETION_INDEX/);
  assert.throws(() => parseShard('auto/4', { JOB_COMPLETION_INDEX: '4' }), /outside 0\.\.3/);
  assert.equal(shardPositions(10, { index: 1, count: 3 }), [1, 4, 7]);
  assert.equal(shardPositions(3, null), [0, 1, 2]);
  // Every position in exactly one shard.
  const all = [0, 1, 2, 3].flatMap((i) => shardPositions(11, { index: i, count: 4 })).sort((a, b) => a - b);
  assert.equal(all, Array.from({ length: 11 }, (_, i) => i));
  assert.is(shardFileName('out/ds.json', { index: 2, count: 8 }), 'out/ds.shard-2-of-8.json');
  assert.is(shardFileName('out.v1/ds', { index: 0, count: 2 }), 'out.v1/ds.shard-0-of-2');
  assert.is(shardFileName('ds.json', null), 'ds.json');
});

pure('listImages: recursive, code-unit order, hidden and non-image files skipped, exclusions', async () => {
  const dir = tempDir('list');
  try {
    for (const f of ['b.png', 'B.JPG', 'a/z.jpeg', 'a/b/c.tif', 'é.png', 'x.txt', '.h.png', '.hid/y.png', 'out/skip.png']) {
      mkdirSync(join(dir, ...f.split('/').slice(0, -1)), { recursive: true });
      writeFileSync(join(dir, ...f.split('/')), 'x');
    }
    assert.equal(await listImages(dir, { exclude: [join(dir, 'out')] }), ['B.JPG', 'a/b/c.tif', 'a/z.jpeg', 'b.png', 'é.png']);
    assert.equal(await listImages(dir, { recursive: false }), ['B.JPG', 'b.png', 'é.png']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

pure('output names: the stem (as amg.py), the full name where stems collide', () => {
  const names = outputNames(['a.png', 'a.jpg', 'b.png', 'd/c.png', 'd/c.jpeg.png', 'noext']);
  assert.equal(Object.fromEntries(names), { 'a.png': 'a.png', 'a.jpg': 'a.jpg', 'b.png': 'b', 'd/c.png': 'd/c', 'd/c.jpeg.png': 'd/c.jpeg', noext: 'noext' });
  assert.is(imageKey('a/b.png').length, 32);
  assert.is.not(imageKey('a/b.png'), imageKey('a/b.PNG'));
});

pure("pyFloat is Python's str(float); metadata.csv is amg.py's", () => {
  const cases: Array<[number, string]> = [
    [40, '40.0'],
    [0, '0.0'],
    [93.625, '93.625'],
    [0.9462890625, '0.9462890625'],
    [0.6263172626495361, '0.6263172626495361'],
    [1e-5, '1e-05'],
    [1.5e-7, '1.5e-07'],
    [0.0001, '0.0001'],
    [123456789012345680, '1.2345678901234568e+17'],
    [1e16, '1e+16'],
    [9999999999999998, '9999999999999998.0'],
    [-2.5, '-2.5'],
    [NaN, 'nan'],
    [Infinity, 'inf'],
  ];
  for (const [x, s] of cases) assert.is(pyFloat(x), s, String(x));
  const rec = (i: number): MaskRecord => ({
    segmentation: { size: [4, 4], counts: '04' },
    area: 12 + i,
    bbox: [1, 2, 3, 4],
    predictedIou: 0.9462890625,
    pointCoords: [[40, 13.375]],
    stabilityScore: 1,
    cropBox: [0, 0, 427, 285],
  });
  assert.is(
    metadataCsv([rec(0), rec(1)]),
    `${METADATA_CSV_HEADER}\n0,12,1,2,3,4,40.0,13.375,0.9462890625,1.0,0,0,427,285\n1,13,1,2,3,4,40.0,13.375,0.9462890625,1.0,0,0,427,285`,
  );
  assert.is(metadataCsv([]), METADATA_CSV_HEADER);
});

pure('dataset files: one record per line, streamed back; empty sections', async () => {
  const dir = tempDir('coco');
  try {
    const info = { description: 'd', format: 'sam-tfjs-coco', version: 1, images_listed: 2, image_list_sha256: 'x', settings: {}, failed_images: [] } as DatasetInfo;
    const ann = (id: number, imageId: number): CocoAnnotation => ({
      id,
      image_id: imageId,
      category_id: 1,
      segmentation: { size: [2, 2], counts: '0401' },
      area: 0,
      bbox: [0, 0, 0, 0],
      iscrowd: 0,
      predicted_iou: 0.5,
      stability_score: 1,
      point_coords: [[0.5, 1]],
      crop_box: [0, 0, 2, 2],
    });
    const w = new DatasetWriter(join(dir, 'a.json'));
    await w.begin(info);
    await w.image({ id: 1, file_name: 'x.png', width: 2, height: 2 });
    await w.image({ id: 2, file_name: 'y,z.png', width: 2, height: 2 });
    await w.annotation(ann(1, 1));
    await w.annotation(ann(2, 2));
    await w.commit();
    const text = readFileSync(join(dir, 'a.json'), 'utf8');
    const whole = JSON.parse(text);
    assert.equal(await readDataset(join(dir, 'a.json')), { info: whole.info, categories: whole.categories, images: whole.images, annotations: whole.annotations });
    assert.is(whole.annotations.length, 2);
    assert.is(text.split('\n').length, 10, 'header, "images", 2 images, "],", "annotations", 2 annotations, end, trailing newline');
    const e = new DatasetWriter(join(dir, 'empty.json'));
    await e.begin(info);
    await e.commit();
    assert.equal(await readDataset(join(dir, 'empty.json')), { ...JSON.parse(readFileSync(join(dir, 'empty.json'), 'utf8')) });
    // A plain COCO file (other layout) is read whole.
    writeFileSync(join(dir, 'plain.json'), JSON.stringify(whole, null, 2));
    assert.equal((await readDataset(join(dir, 'plain.json'))).annotations, whole.annotations);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

pure('a state folder refuses other settings, naming what differs', async () => {
  const root = tempDir('state');
  const dir = join(root, 'run.parts');
  try {
    const s1 = await RunState.open(dir, 'dataset', { amg: { points_per_side: 4 }, model: 'm1' }, { backend: 'wasm' });
    assert.is(s1.resumed, false);
    await s1.writeDone('abcd', '{}');
    const s2 = await RunState.open(dir, 'dataset', { amg: { points_per_side: 4 }, model: 'm1' }, { backend: 'cpu' });
    assert.is(s2.resumed, true);
    assert.equal([...(await s2.doneKeys())], ['abcd']);
    assert.equal(s2.environmentChanges, ['backend: now "cpu", before "wasm"']);
    try {
      await RunState.open(dir, 'dataset', { amg: { points_per_side: 8 }, model: 'm1' });
      assert.unreachable('should refuse');
    } catch (e) {
      assert.instance(e, SettingsMismatchError);
      assert.match((e as Error).message, /amg\.points_per_side: now 8, before 4/);
    }
    try {
      await RunState.open(dir, 'embed', { amg: { points_per_side: 4 }, model: 'm1' });
      assert.unreachable('should refuse');
    } catch (e) {
      assert.instance(e, SettingsMismatchError);
    }
    // The lock: a live process on this machine holds it -> refused; a dead one's is taken over; another machine's -> warning.
    const lockPath = join(dir, 'lock.json');
    writeFileSync(lockPath, JSON.stringify({ pid: process.ppid, host: hostname() }));
    try {
      await s2.lock();
      assert.unreachable('a live holder must block');
    } catch (e) {
      assert.instance(e, RunLockedError);
    }
    writeFileSync(lockPath, JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname() }));
    assert.is(await s2.lock(), null);
    assert.equal(JSON.parse(readFileSync(lockPath, 'utf8')).pid, process.pid);
    await s2.unlock();
    assert.not.ok(existsSync(lockPath));
    writeFileSync(lockPath, JSON.stringify({ pid: 1, host: 'elsewhere' }));
    assert.match((await s2.lock()) ?? '', /last used by a run on elsewhere/);
    await s2.unlock();
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

pure('runImages: processing errors are recorded (relative paths); many in a row give up without recording them', async () => {
  const dir = tempDir('runner');
  try {
    for (const f of ['a.png', 'b.png', 'c/d.png', 'e.png']) {
      mkdirSync(join(dir, 'in', ...f.split('/').slice(0, -1)), { recursive: true });
      writeFileSync(join(dir, 'in', ...f.split('/')), readFileSync(fixtureModels()[0].image));
    }
    const files = await listImages(join(dir, 'in'));
    const state = await RunState.open(join(dir, 'state'), 'test', {});
    const summary = await runImages(
      {
        root: join(dir, 'in'),
        files,
        state,
        process: async (task) => {
          if (task.file === 'b.png') throw new Error(`cannot handle ${task.path}`);
          return { marker: '{}' };
        },
      },
      { decodeWorkers: 0 },
    );
    assert.equal([summary.succeeded, summary.failed, summary.remaining, summary.interrupted], [3, 1, 0, false]);
    assert.equal(summary.failures, [{ file: 'b.png', error: 'cannot handle b.png' }]);
    const state2 = await RunState.open(join(dir, 'state2'), 'test', {});
    let error: unknown;
    try {
      await runImages({ root: join(dir, 'in'), files, state: state2, process: async () => Promise.reject(new Error('out of memory')) }, { maxConsecutiveErrors: 3, decodeWorkers: 0 });
    } catch (e) {
      error = e;
    }
    assert.match((error as Error)?.message ?? '', /giving up: the last 3 images all failed while being processed/);
    assert.is((await state2.failedKeys()).size, 0, 'systemic failures are not recorded against the images');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

pure('the image decoder (a worker thread when built, else the main thread) gives decodeImage\'s pixels and errors', async () => {
  const dir = tempDir('decoder');
  const decoder = new ImageDecoder({ workers: 1 });
  try {
    const path = fixtureModels()[0].image;
    const [a, b] = await Promise.all([decoder.decode(path), decodeImage(path)]);
    assert.equal([a.width, a.height, a.channels], [b.width, b.height, 3]);
    assert.ok(Buffer.from(a.data).equals(Buffer.from(b.data)));
    writeFileSync(join(dir, 'bad.png'), 'nope');
    try {
      await decoder.decode(join(dir, 'bad.png'));
      assert.unreachable('a corrupt file must fail');
    } catch (e) {
      assert.match((e as Error).message, /cannot decode image .*bad\.png/);
    }
  } finally {
    await decoder.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

pure('the progress bar: images/s and ETA on a terminal, nothing otherwise', () => {
  let text = '';
  const tty = { isTTY: true, columns: 200, write: (s: string) => ((text += s), true) };
  const r = new Reporter({ stderr: tty, stdout: tty });
  assert.ok(r.interactive);
  r.startBar('dataset', 10);
  const bar = (r as unknown as { bar: ProgressBar }).bar;
  (bar as unknown as { started: number }).started = Date.now() - 4000;
  r.updateBar(4, 1, 0);
  assert.match(text, /dataset 5\/10 \[#+\.+\]\s+50%\s+1\.\d+ img\/s\s+ETA 0:0\d\s+elapsed 0:0\d\s+1 failed/);
  r.stopBar();
  let piped = '';
  const pipe = { isTTY: false, write: (s: string) => ((piped += s), true) };
  const q = new Reporter({ stderr: pipe, stdout: pipe });
  q.startBar('dataset', 10);
  q.updateBar(1, 0);
  q.stopBar();
  assert.is(piped, '');
  const j = new Reporter({ json: true, stderr: tty, stdout: pipe });
  assert.not.ok(j.interactive);
  j.event('image', { file: 'a.png' });
  assert.is(piped, '{"event":"image","file":"a.png"}\n');
});

pure.run();

// ---------------------------------------------------------------------------------------------
const build = suite('buildDataset on the fixture models (wasm)');
const ctx: { model?: SamModel; dir?: string; good?: string[] } = {};
const AMG = { pointsPerSide: 4, predIouThresh: 0.5, stabilityScoreThresh: 0.8 };

build.before(async () => {
  await useBackend('wasm');
  const m = fixtureModels()[0];
  ctx.model = await samFromCheckpoint(m.pth, { config: samConfigFromReferenceJson(JSON.parse(readFileSync(m.config, 'utf8'))) });
  ctx.dir = tempDir('build');
  const folder = await makeImageFolder(join(ctx.dir, 'images'), { count: 4, withBad: true });
  ctx.good = folder.good;
});
build.after(() => {
  ctx.model?.dispose();
  if (ctx.dir) rmSync(ctx.dir, { recursive: true, force: true });
});

build('masks equal the generator\'s, no tensor left per image, the same bytes on a rerun, shards merge to the same file', async () => {
  const model = ctx.model!;
  const images = join(ctx.dir!, 'images');
  const out = join(ctx.dir!, 'ds.json');
  const tensorsAfterImage: number[] = [];
  const r = await buildDataset(model, {
    input: images,
    out,
    amg: AMG,
    decodeWorkers: 0,
    onEvent: (e) => {
      if (e.type === 'image-done' || e.type === 'image-failed') tensorsAfterImage.push(tf.memory().numTensors);
    },
  });
  assert.is(r.succeeded, 4);
  assert.is(r.failed, 2);
  assert.is(r.output, out);
  // Memory-stable: the tensor count is the same after every image (the first image may build
  // constants the encoder caches).
  const steady = tensorsAfterImage.slice(1);
  assert.ok(steady.every((n) => n === steady[0]), `tensors after each image: ${tensorsAfterImage.join(', ')}`);

  const ds = await readDataset(out);
  assert.equal(ds.images.map((i) => i.file_name), ctx.good);
  assert.equal(ds.info.failed_images.map((f) => f.file_name), ['broken.jpg', 'empty.png']);
  assert.equal(ds.categories, [{ id: 1, name: 'object', supercategory: 'object' }]);
  assert.equal(ds.annotations.map((a) => a.id), ds.annotations.map((_, i) => i + 1));
  const generator = new SamAutomaticMaskGenerator(model, { ...AMG, outputMode: 'coco_rle' });
  assert.equal(ds.info.settings, { amg: amgSettings(generator.options), model: await modelFingerprint(model) });
  for (const img of ds.images) {
    const records = await generator.generate(join(images, img.file_name));
    const anns = ds.annotations.filter((a) => a.image_id === img.id);
    assert.is(anns.length, records.length, img.file_name);
    anns.forEach((a, k) => {
      const rec = records[k];
      assert.equal(a.segmentation, rec.segmentation as CocoRle);
      assert.equal(annotationMask(a).data, rleToMask(cocoStringToRle(rec.segmentation as CocoRle)));
      assert.is(a.predicted_iou, rec.predictedIou);
      assert.is(a.stability_score, rec.stabilityScore);
      assert.equal(a.bbox, rec.bbox);
      assert.equal(a.point_coords, rec.pointCoords);
      assert.equal(a.crop_box, rec.cropBox);
      assert.is(a.area, rec.area);
    });
  }
  const bytes = readFileSync(out);

  // A rerun does nothing but reassemble: the same bytes.
  const again = await buildDataset(model, { input: images, out, amg: AMG, decodeWorkers: 0 });
  assert.is(again.processedNow, 0);
  assert.is(again.resumed, true);
  assert.ok(readFileSync(out).equals(bytes), 'rerun changed the file');

  // Two shards (reusing nothing), merged: the unsharded file, ids included.
  const shardFiles: string[] = [];
  for (const index of [1, 0]) {
    const shard = { index, count: 2 };
    const file = shardFileName(join(ctx.dir!, 'sh', 'ds.json'), shard);
    const s = await buildDataset(model, { input: images, out: file, amg: AMG, shard, decodeWorkers: 0 });
    assert.is(s.inShard, 3);
    shardFiles.push(file);
  }
  const merged = join(ctx.dir!, 'merged.json');
  const m = await mergeDatasets(shardFiles, merged);
  assert.is(m.images, 4);
  assert.ok(readFileSync(merged).equals(bytes), 'merged shards differ from the unsharded dataset');
  try {
    await mergeDatasets([shardFiles[0]], join(ctx.dir!, 'partial.json')); // shard 1 only
    assert.unreachable('a missing shard must be an error');
  } catch (e) {
    assert.instance(e, MergeError);
    assert.match((e as Error).message, /shard\(s\) 0 of 2 missing/);
  }
  try {
    await mergeDatasets([shardFiles[0], shardFiles[0]], join(ctx.dir!, 'twice.json'));
    assert.unreachable('a shard twice must be an error');
  } catch (e) {
    assert.instance(e, MergeError);
  }
});

build.run();
