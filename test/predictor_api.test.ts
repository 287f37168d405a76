/**
 * The predictor as users call it: accepted image inputs, clear errors for bad input,
 * prompts outside the image, embeddings out and back in (also through a file), mask
 * outputs, loadSam, and no tensor leaks over repeated calls.
 */
import * as tf from '@tensorflow/tfjs';
import { Jimp } from 'jimp';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeImageEmbedding, encodeImageEmbedding, loadImageEmbedding, saveImageEmbedding } from '../src/sam/embedding.js';
import { samConfigFromReferenceJson } from '../src/sam/config.js';
import { loadSam } from '../src/sam/load.js';
import { samFromCheckpoint } from '../src/sam/load_checkpoint.js';
import { cutout, encodePng, maskBBox, maskToCocoRle, overlay } from '../src/sam/mask_output/index.js';
import { cocoStringToRle, rleToMask } from '../src/sam/amg/index.js';
import { SamPredictor } from '../src/sam/predictor.js';
import type { SamModel } from '../src/sam/sam_model.js';
import { useBackend } from './helpers/backends.js';
import { fixtureCases, fixturePath, readJson } from './helpers/fixtures.js';

const caseName = fixtureCases()[0];
const imagePath = fixturePath(caseName, 'image.png');
const config = samConfigFromReferenceJson(readJson(caseName, 'config.json'));
const test = suite(`predictor API (${caseName}, cpu)`);
const ctx: { model?: SamModel; predictor?: SamPredictor; tmp?: string } = {};

test.before(async () => {
  await useBackend('cpu');
  ctx.model = await samFromCheckpoint(fixturePath(caseName, 'model.pth'), { config });
  ctx.predictor = new SamPredictor(ctx.model);
  await ctx.predictor.setImage(imagePath);
  ctx.tmp = mkdtempSync(join(tmpdir(), 'sam-tfjs-test-'));
});
test.after(() => {
  ctx.predictor?.dispose();
  ctx.model?.dispose();
  if (ctx.tmp) rmSync(ctx.tmp, { recursive: true, force: true });
});

async function rejects(fn: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await fn();
  } catch (e) {
    assert.match((e as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected an error matching ${pattern}`);
}

test('predict before setImage is a clear error', async () => {
  const p = new SamPredictor(ctx.model!);
  await rejects(() => p.predict({ pointCoords: [[1, 2]], pointLabels: [1] }), /call setImage/);
});

test('an image set while a prediction downloads does not change that prediction', async () => {
  const p = new SamPredictor(ctx.model!);
  const e = ctx.predictor!.getImageEmbedding();
  p.setImageEmbedding(e);
  const expected = await p.predict({ pointCoords: [[50, 60]], pointLabels: [1] }); // also a warm-up
  p.resetImage();
  const start = tf.memory().numTensors;
  p.setImageEmbedding(e);
  const pending = p.predict({ pointCoords: [[50, 60]], pointLabels: [1] });
  // Another image of another size, set before the first prediction has been read back.
  p.setImageEmbedding({ ...e, originalSize: [e.originalSize[0] + 40, e.originalSize[1] + 10] });
  const got = await pending;
  for (let i = 0; i < expected.masks.length; i++) {
    assert.equal([got.masks[i].height, got.masks[i].width], e.originalSize);
    assert.equal(Array.from(got.masks[i].data), Array.from(expected.masks[i].data));
  }
  // Letting the image go releases the decoder's per-image tensors too (decoder_image_side.ts).
  p.resetImage();
  assert.is(tf.memory().numTensors, start);
  e.embedding.dispose();
});

test('bad prompts are clear errors', async () => {
  const p = ctx.predictor!;
  await rejects(() => p.predict({ pointCoords: [[NaN, 2]], pointLabels: [1] }), /finite/);
  await rejects(() => p.predict({ pointCoords: [[1, 2, 3]], pointLabels: [1] }), /each point is \[x, y\]/);
  await rejects(() => p.predict({ pointCoords: [1, 2, 3], pointLabels: [1] }), /pairs/);
  await rejects(() => p.predict({ pointCoords: [[1, 2]] }), /labels are required/);
  await rejects(() => p.predict({ pointCoords: [[1, 2]], pointLabels: [2] }), /1 \(foreground\), 0 \(background\) or -1/);
  await rejects(() => p.predict({ pointCoords: [[1, 2]], pointLabels: [1, 0] }), /2 labels for 1 points/);
  await rejects(() => p.predict({ box: [50, 10, 20, 40] }), /x1 \(20\) < x0 \(50\)/);
  await rejects(() => p.predict({ box: [1, 2, 3] }), /\[x0, y0, x1, y1\]/);
  await rejects(() => p.predict({ maskInput: new Float32Array(10) }), /low-res logits/);
  await rejects(() => p.predict({ maskInput: tf.zeros([1, 32, 32]) }), /expected 64x64|expected \d+x\d+ low-res logits/);
  await rejects(() => p.predictBatch({ boxes: [[0, 0, 5, 5]], pointCoords: [[[1, 1]], [[2, 2]]], pointLabels: [[1], [1]] }), /same non-zero count/);
});

test('prompts given as tensors are read asynchronously and predict the same as arrays', async () => {
  // GPU backends in Node (WebGPU through Dawn) cannot read a tensor synchronously: a tensor
  // prompt whose dataSync throws must still work, through predict and predictBatch.
  const noSync = <T extends tf.Tensor>(t: T): T => {
    t.dataSync = () => {
      throw new Error('dataSync called on a prompt tensor');
    };
    return t;
  };
  const p = new SamPredictor(ctx.model!);
  const e = ctx.predictor!.getImageEmbedding();
  p.setImageEmbedding(e);
  const prompt = { pointCoords: [[50, 60], [20, 30]], pointLabels: [1, 0], box: [10, 10, 90, 80], multimaskOutput: false };
  const first = await p.predict(prompt);
  const fromArrays = await p.predict({ ...prompt, maskInput: first.lowResLogits[0] });
  const start = tf.memory().numTensors;
  const low = p.lowResSize;
  const tensors = {
    pointCoords: noSync(tf.tensor2d(prompt.pointCoords)),
    pointLabels: noSync(tf.tensor1d(prompt.pointLabels)),
    box: noSync(tf.tensor1d(prompt.box)),
    maskInput: noSync(tf.tensor3d(first.lowResLogits[0], [1, low[0], low[1]])),
  };
  const pending = p.predict({ ...tensors, multimaskOutput: false });
  // Another image of another size, set while the prompts are read: the prediction is still the first image's.
  p.setImageEmbedding({ ...e, originalSize: [e.originalSize[0] + 40, e.originalSize[1] + 10] });
  const fromTensors = await pending;
  assert.equal([fromTensors.masks[0].height, fromTensors.masks[0].width], e.originalSize);
  p.setImageEmbedding(e);
  assert.equal(fromTensors.scores, fromArrays.scores);
  assert.equal(Array.from(fromTensors.masks[0].data), Array.from(fromArrays.masks[0].data));
  assert.equal(Array.from(fromTensors.lowResLogits[0]), Array.from(fromArrays.lowResLogits[0]));
  const batch = await p.predictBatch({ boxes: [prompt.box], maskInputs: [tensors.maskInput], multimaskOutput: false });
  const batchArrays = await p.predictBatch({ boxes: [prompt.box], maskInputs: [first.lowResLogits[0]], multimaskOutput: false });
  assert.equal(batch[0].scores, batchArrays[0].scores);
  assert.equal(Array.from(batch[0].lowResLogits[0]), Array.from(batchArrays[0].lowResLogits[0]));
  // Tensors of the wrong shape are still refused by their shape, before any read.
  await rejects(() => p.predict({ maskInput: noSync(tf.zeros([2, low[0], low[1]])) }), /low-res logits, got a tensor of shape \[2,/);
  // The synchronous variant cannot read such a tensor: a clear error, not the backend's.
  assert.throws(() => p.predictTensors({ pointCoords: tensors.pointCoords, pointLabels: [1, 0] }), /cannot read a tensor synchronously.*give the prompt as an array/);
  const threeWide = noSync(tf.tensor2d([[1, 2, 3], [4, 5, 6]]));
  await rejects(() => p.predict({ pointCoords: threeWide, pointLabels: [1, 1, 1] }), /a points tensor must be \[N, 2\], got \[2,3\]/);
  threeWide.dispose();
  tf.dispose(Object.values(tensors));
  await p.predict(prompt); // the decoder's per-image tensors for the image set again, as at the start
  assert.is(tf.memory().numTensors, start + 1, 'only the refused mask tensor (the caller\'s) is left');
  p.dispose();
  e.embedding.dispose();
});

test('unreadable, empty and unsupported image files are clear errors', async () => {
  const p = new SamPredictor(ctx.model!);
  const empty = join(ctx.tmp!, 'empty.png');
  writeFileSync(empty, new Uint8Array(0));
  const text = join(ctx.tmp!, 'notes.png');
  writeFileSync(text, 'this is not an image');
  await rejects(() => p.setImage(join(ctx.tmp!, 'missing.jpg')), /cannot read image .*no such file/);
  await rejects(() => p.setImage(empty), /cannot decode image .*empty/);
  await rejects(() => p.setImage(text), /cannot decode image .*supported formats are PNG, JPEG/);
  await rejects(() => p.setImage({ data: new Uint8Array(5), width: 2, height: 2, channels: 3 }), /needs 12 bytes/);
  await rejects(() => p.setImage(tf.zeros([4, 4]) as unknown as tf.Tensor3D), /\[H, W, C\]/);
  assert.is(p.isImageSet, false);
});

test('prompts outside the image are valid and give masks of the image size', async () => {
  const [h, w] = ctx.predictor!.originalSize;
  const r = await ctx.predictor!.predict({ pointCoords: [[-40, -10], [w + 100, h + 50]], pointLabels: [1, 0], box: [-20, -20, w + 20, h + 20] });
  assert.is(r.masks.length, 3);
  for (const m of r.masks) assert.equal([m.width, m.height, m.data.length], [w, h, w * h]);
  assert.ok(r.scores.every(Number.isFinite));
});

test('every image input form gives the same embedding as the file', async () => {
  const ref = ctx.predictor!.getImageEmbedding();
  const refData = ref.embedding.dataSync();
  const jimp = await Jimp.read(imagePath);
  const { width, height, data } = jimp.bitmap;
  const rgba = new Uint8Array(data);
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) rgb.set(rgba.subarray(4 * i, 4 * i + 3), 3 * i);
  const inputs = {
    buffer: readFileSync(imagePath),
    jimp,
    tensor: tf.tensor3d(rgb, [height, width, 3], 'int32'),
    rgba: { data: rgba, width, height, channels: 4 },
  };
  const p = new SamPredictor(ctx.model!);
  for (const [name, input] of Object.entries(inputs)) {
    await p.setImage(input);
    const e = p.getImageEmbedding();
    const d = e.embedding.dataSync();
    let same = d.length === refData.length;
    for (let i = 0; same && i < d.length; i++) same = d[i] === refData[i];
    assert.ok(same, `${name} input gives another embedding`);
    e.embedding.dispose();
  }
  p.dispose();
  inputs.tensor.dispose();
  ref.embedding.dispose();
});

test('grayscale input becomes RGB by replication', async () => {
  const g = new Uint8Array(40 * 30).map((_, i) => (i * 7) % 256);
  const rgb = new Uint8Array(40 * 30 * 3).map((_, i) => g[Math.floor(i / 3)]);
  const p = new SamPredictor(ctx.model!);
  await p.setImage({ data: g, width: 40, height: 30, channels: 1 });
  const a = p.getImageEmbedding();
  await p.setImage({ data: rgb, width: 40, height: 30, channels: 3 });
  const b = p.getImageEmbedding();
  assert.equal(Array.from(a.embedding.dataSync()), Array.from(b.embedding.dataSync()));
  tf.dispose([a.embedding, b.embedding]);
  p.dispose();
});

test('an embedding taken out, saved and loaded back gives identical predictions', async () => {
  const prompt = { pointCoords: [[200, 100]], pointLabels: [1] };
  const before = await ctx.predictor!.predict(prompt);
  const e = ctx.predictor!.getImageEmbedding();
  const file = join(ctx.tmp!, 'image.samemb');
  await saveImageEmbedding(file, e);
  const bytes = await encodeImageEmbedding(e);
  const decoded = decodeImageEmbedding(bytes);
  const loaded = await loadImageEmbedding(file);
  const p = new SamPredictor(ctx.model!);
  for (const emb of [decoded, loaded]) {
    p.setImageEmbedding(emb);
    const after = await p.predict(prompt);
    assert.equal(after.scores, before.scores);
    assert.equal(Array.from(after.lowResLogits[0]), Array.from(before.lowResLogits[0]));
    assert.equal(Array.from(after.masks[2].data), Array.from(before.masks[2].data));
    emb.embedding.dispose();
  }
  assert.throws(() => decodeImageEmbedding(bytes.subarray(0, bytes.length - 8)), /truncated/);
  assert.throws(() => decodeImageEmbedding(new TextEncoder().encode('hello world, not an embedding')), /not a sam-tfjs image embedding/);
  const wrong = { ...e, embedding: tf.zeros([1, 8, 8, 4]) as tf.Tensor4D };
  assert.throws(() => p.setImageEmbedding(wrong), /not made by this model/);
  tf.dispose([e.embedding, wrong.embedding]);
  p.dispose();
});

test('mask outputs: PNG, cut-out, overlay, box, COCO RLE', async () => {
  const r = await ctx.predictor!.predict({ box: [100, 60, 300, 200], multimaskOutput: false });
  const mask = r.masks[0];
  const image = await Jimp.read(imagePath);
  const pixels = { data: new Uint8Array(image.bitmap.data), width: image.bitmap.width, height: image.bitmap.height, channels: 4 };
  // PNG of the mask decodes back to the same mask.
  const { maskToImage } = await import('../src/sam/mask_output/index.js');
  const png = await encodePng(maskToImage(mask));
  const back = await Jimp.fromBuffer(Buffer.from(png));
  for (let i = 0; i < mask.data.length; i++) if ((back.bitmap.data[4 * i] === 255 ? 1 : 0) !== mask.data[i]) assert.unreachable(`PNG pixel ${i} differs`);
  // Box: x/y/w/h of the set pixels (inclusive indices).
  const [x, y, w, h] = maskBBox(mask);
  let minX = Infinity, minY = Infinity, maxX = -1, maxY = -1;
  for (let i = 0; i < mask.data.length; i++) {
    if (!mask.data[i]) continue;
    const px = i % mask.width, py = Math.floor(i / mask.width);
    minX = Math.min(minX, px); maxX = Math.max(maxX, px); minY = Math.min(minY, py); maxY = Math.max(maxY, py);
  }
  assert.equal([x, y, w, h], [minX, minY, maxX - minX, maxY - minY]);
  // Cut-out: opaque exactly on the mask, with the image's colours.
  const cut = cutout(pixels, mask);
  for (let i = 0; i < mask.data.length; i++) {
    if ((cut.data[4 * i + 3] === 255 ? 1 : 0) !== mask.data[i]) assert.unreachable(`cut-out alpha ${i} differs`);
    if (mask.data[i] && cut.data[4 * i] !== pixels.data[4 * i]) assert.unreachable(`cut-out colour ${i} differs`);
  }
  const cropped = cutout(pixels, mask, { crop: true });
  assert.equal([cropped.width, cropped.height], [w + 1, h + 1]);
  // Overlay: unchanged outside the mask, blended inside.
  const ov = overlay(pixels, mask, { colors: [[255, 0, 0]], alpha: 0.5 });
  for (let i = 0; i < mask.data.length; i++) {
    const expectR = mask.data[i] ? Math.round(0.5 * pixels.data[4 * i] + 127.5) : pixels.data[4 * i];
    if (ov.data[4 * i] !== expectR) assert.unreachable(`overlay pixel ${i}: ${ov.data[4 * i]} != ${expectR}`);
  }
  // COCO RLE decodes to the same mask (column-major runs).
  const rle = maskToCocoRle(mask);
  assert.equal(rle.size, [mask.height, mask.width]);
  const decoded = rleToMask(cocoStringToRle(rle));
  assert.equal(Array.from(decoded), Array.from(mask.data));
});

test('loadSam: a .pth with its config, and clear errors', async () => {
  const model = await loadSam({ weights: fixturePath(caseName, 'model.pth'), config, backend: 'cpu' });
  assert.is(model.info.backend?.backend, 'cpu');
  const p = new SamPredictor(model);
  await p.setImage(imagePath);
  const a = await p.predict({ pointCoords: [[200, 100]], pointLabels: [1] });
  const b = await ctx.predictor!.predict({ pointCoords: [[200, 100]], pointLabels: [1] });
  assert.equal(a.scores, b.scores);
  p.dispose();
  model.dispose();
  await rejects(() => loadSam({ weights: join(ctx.tmp!, 'nope.pth') }), /weights not found|cannot|no such file/i);
  await rejects(() => loadSam({ weights: fixturePath(caseName, 'model.pth'), backend: 'cpu' }), /do not match vit_b, vit_l or vit_h/);
  await rejects(() => loadSam({ weights: fixturePath(caseName, 'model.pth'), backend: 'no-such-backend' }), /unknown backend/);
});

test('repeated setImage / predict / predictBatch leave no tensors behind', async () => {
  const p = new SamPredictor(ctx.model!);
  await p.setImage(imagePath); // warm-up: the first call may build kernels
  await p.predict({ pointCoords: [[10, 10]], pointLabels: [1] });
  await p.setImage(imagePath); // as each round ends: a new image, nothing decoded for it yet
  const start = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    await p.setImage(imagePath);
    await p.predict({ pointCoords: [[10 + i, 10]], pointLabels: [1], returnLogits: true });
    await p.predict({ box: [5, 5, 100, 100], maskInput: new Float32Array(64 * 64), multimaskOutput: false });
    await p.predictBatch({ boxes: [[0, 0, 50, 50], [10, 10, 80, 90]] });
    const t = p.predictTensors({ pointCoords: [[3, 3]], pointLabels: [1] });
    tf.dispose(Object.values(t));
    const e = p.getImageEmbedding();
    p.setImageEmbedding(e);
    e.embedding.dispose();
  }
  assert.is(tf.memory().numTensors, start);
  p.dispose();
  assert.is(tf.memory().numTensors, start - 1);
});

test('repeated forward passes of the model leave no tensors behind', () => {
  const model = ctx.model!;
  const s = model.imgSize;
  const x = tf.randomNormal([1, s, s, 3]) as tf.Tensor4D;
  const start = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    const coords = tf.tensor3d([[[5 + i, 5]]]);
    const labels = tf.tensor2d([[1]]);
    const emb = model.embedImage(x);
    const out = model.decode({ imageEmbeddings: emb, pointCoords: coords, pointLabels: labels, multimaskOutput: true });
    const post = model.postprocessMasks(out.lowResLogits, [s, s], [100, 120]);
    tf.dispose([coords, labels, emb, out.lowResLogits, out.iouPredictions, post]);
  }
  assert.is(tf.memory().numTensors, start);
  x.dispose();
});

test.run();
