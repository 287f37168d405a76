/**
 * Preprocessing parity with the reference (src/sam/preprocess):
 * ResizeLongestSide (shape, coords, boxes, Pillow bilinear apply_image), Sam.preprocess
 * (normalise + pad) and image decoding.
 */
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync, inflateSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs';
import { Jimp } from 'jimp';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  applyBoxes,
  applyBoxesTorch,
  applyCoords,
  applyCoordsTorch,
  applyImage,
  decodeImage,
  getPreprocessShape,
  preprocess,
  preprocessImage,
  resizeUint8Bilinear,
  type Uint8Image,
} from '../src/sam/preprocess/index.js';
import { parseNpy, type NpyArray } from '../src/io/npy.js';
import { fixtureCases, fixturePath, readJson } from './helpers/fixtures.js';

const CASES = fixtureCases();

/**
 * Reads a fixture .npy from a plain Uint8Array copy of the file: `parseNpy` slices its input and
 * views `.buffer`, which for a Node Buffer (whose slice is a view) is the whole file, header included.
 */
function readNpy(...parts: string[]): NpyArray {
  return parseNpy(new Uint8Array(readFileSync(fixturePath(...parts))));
}
const UNITS = readJson('units', 'units.json');

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.is(a.length, b.length, 'lengths differ');
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Exact element-wise equality, with the first mismatch in the message. */
function assertSame(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assert.is(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) {
      assert.unreachable(`${what}: value ${i} is ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Minimal PNG reader / writer (independent of jimp/pngjs) to cross-check decodeImage.

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, body: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(body.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), body])), 0);
  return Buffer.concat([head, body, crc]);
}

/** 8-bit PNG of colour type 0 (gray), 2 (RGB), 4 (gray+alpha) or 6 (RGBA); filter 0 on every row. */
function encodePng(width: number, height: number, colorType: 0 | 2 | 4 | 6, pixels: Uint8Array): Buffer {
  const channels = { 0: 1, 2: 3, 4: 2, 6: 4 }[colorType];
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = colorType;
  const raw = Buffer.alloc(height * (1 + width * channels));
  for (let y = 0; y < height; y++) {
    raw.set(pixels.subarray(y * width * channels, (y + 1) * width * channels), y * (1 + width * channels) + 1);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(raw)),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

/** Decodes a non-interlaced 8-bit RGB PNG (the fixtures' format) with zlib and the five PNG filters. */
function decodeRgbPng(file: Buffer): Uint8Image {
  let pos = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  while (pos < file.length) {
    const len = file.readUInt32BE(pos);
    const type = file.toString('latin1', pos + 4, pos + 8);
    const body = file.subarray(pos + 8, pos + 8 + len);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0);
      height = body.readUInt32BE(4);
      assert.is(body[8], 8, 'bit depth');
      assert.is(body[9], 2, 'colour type RGB');
      assert.is(body[12], 0, 'not interlaced');
    } else if (type === 'IDAT') idat.push(body);
    pos += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const bpp = 3;
  const stride = width * bpp;
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? out[y * stride + i - bpp] : 0;
      const b = y > 0 ? out[(y - 1) * stride + i] : 0;
      const c = i >= bpp && y > 0 ? out[(y - 1) * stride + i - bpp] : 0;
      let pred = 0;
      if (filter === 1) pred = a;
      else if (filter === 2) pred = b;
      else if (filter === 3) pred = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a);
        const pb = Math.abs(p - b);
        const pc = Math.abs(p - c);
        pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else if (filter !== 0) throw new Error(`bad PNG filter ${filter}`);
      out[y * stride + i] = (line[i] + pred) & 0xff;
    }
  }
  return { data: out, width, height, channels: 3 };
}

// ---------------------------------------------------------------------------------------------
// 1. get_preprocess_shape

test('getPreprocessShape matches every units.json get_preprocess_shape entry (round half up)', () => {
  assert.ok(UNITS.get_preprocess_shape.length > 0);
  for (const e of UNITS.get_preprocess_shape) {
    assert.equal(getPreprocessShape(e.oldh, e.oldw, e.long_side_length), e.result_hw, JSON.stringify(e));
  }
  // The exact .5 case the README warns about: 257 * 0.5 = 128.5 -> 129, not 128.
  assert.equal(getPreprocessShape(384, 257, 192), [192, 129]);
  assert.throws(() => getPreprocessShape(0, 10, 1024), /positive integer/);
  assert.throws(() => getPreprocessShape(10.5, 10, 1024), /positive integer/);
});

test('getPreprocessShape gives every fixture case its input_size', () => {
  for (const c of CASES) {
    const meta = readJson(c, 'image_meta.json');
    assert.equal(getPreprocessShape(meta.original_size[0], meta.original_size[1], meta.img_size), meta.input_size, c);
  }
});

// ---------------------------------------------------------------------------------------------
// 2. apply_coords / apply_boxes

test('applyCoords / applyBoxes (float64) equal units.json exactly', () => {
  const pc = UNITS.apply_coords;
  assertSame(applyCoords(pc.coords, pc.original_size, pc.target_length), pc.result.flat(), 'apply_coords');
  assertSame(applyCoords(pc.coords.flat(), pc.original_size, pc.target_length), pc.result.flat(), 'apply_coords (flat input)');
  const pb = UNITS.apply_boxes;
  assertSame(applyBoxes(pb.boxes, pb.original_size, pb.target_length), pb.result.flat(), 'apply_boxes');
  assertSame(applyBoxes(new Float64Array(pb.boxes.flat()), pb.original_size, pb.target_length), pb.result.flat(), 'apply_boxes (typed)');
  assert.throws(() => applyCoords([1, 2, 3], [10, 10], 20), /multiple of 2/);
  assert.throws(() => applyBoxes([[1, 2, 3]], [10, 10], 20), /row 0/);
  assert.is(applyCoords([], [10, 10], 20).length, 0);
});

test('prompts.json model_frame_inputs: numpy path (p1..p6) float64-exact, torch path (p7) float32-exact', () => {
  let checked = 0;
  let torchDiffersFromNumpy = 0;
  for (const c of CASES) {
    const pj = readJson(c, 'prompts.json');
    const size: [number, number] = pj.original_size;
    const L: number = readJson(c, 'config.json').image_encoder.img_size;
    for (const p of pj.prompts) {
      const mf = p.model_frame_inputs;
      const what = `${c}/${p.name}`;
      if (p.api === 'predict') {
        if (p.point_coords) {
          assertSame(applyCoords(p.point_coords, size, L), mf.point_coords.flat(), `${what} point_coords`);
          checked++;
        }
        if (p.box) {
          assertSame(applyBoxes([p.box], size, L), mf.box, `${what} box`);
          checked++;
        }
      } else if (p.api === 'predict_torch') {
        if (p.boxes) {
          const t = applyBoxesTorch(p.boxes, size, L);
          assertSame(t, mf.boxes.flat(), `${what} boxes`);
          const viaNumpy = Float32Array.from(applyBoxes(p.boxes, size, L));
          for (let i = 0; i < t.length; i++) if (t[i] !== viaNumpy[i]) torchDiffersFromNumpy++;
          checked++;
        }
        if (p.point_coords) {
          assertSame(applyCoordsTorch(p.point_coords, size, L), mf.point_coords.flat(), `${what} point_coords`);
          checked++;
        }
      } else {
        assert.unreachable(`${what}: unknown api ${p.api}`);
      }
    }
  }
  assert.ok(checked >= 2 * CASES.length, `checked ${checked} prompt inputs`);
  // Informational: how many p7 values the float32 torch path changes vs numpy-then-float32.
  console.log(`  model_frame_inputs: ${checked} prompt inputs exact; torch vs numpy path differ in ${torchDiffersFromNumpy} float32 values`);
});

test('applyCoordsTorch rounds like torch: float32 input and float32 ratio', () => {
  // 0.1 is not a float32: torch first casts it (0.100000001...), then multiplies by fround(256/427).
  const r = applyCoordsTorch([0.1, 0.1], [285, 427], 256);
  assert.is(r[0], Math.fround(Math.fround(0.1) * Math.fround(256 / 427)));
  assert.is(r[1], Math.fround(Math.fround(0.1) * Math.fround(171 / 285)));
});

// ---------------------------------------------------------------------------------------------
// 3. Pillow bilinear resize

async function decodeFixturePng(...parts: string[]): Promise<Uint8Image> {
  return decodeImage(fixturePath(...parts));
}

test('applyImage equals units.json apply_image (PIL bilinear) exactly', async () => {
  const u = UNITS.apply_image;
  const src = await decodeFixturePng(u.input);
  const expected = await decodeFixturePng(u.output);
  const out = applyImage(src, u.target_length);
  assert.equal([out.height, out.width], u.output_hw);
  assert.is(maxAbsDiff(out.data, expected.data), 0);
});

test('applyImage(image.png) is identical to resized_image.png for every case', async () => {
  for (const c of CASES) {
    const meta = readJson(c, 'image_meta.json');
    const src = await decodeFixturePng(c, 'image.png');
    const expected = await decodeFixturePng(c, 'resized_image.png');
    const out = applyImage(src, meta.img_size);
    assert.equal([out.height, out.width], meta.input_size, c);
    assert.equal([expected.height, expected.width], meta.input_size, c);
    const d = maxAbsDiff(out.data, expected.data);
    console.log(`  ${c}: ${src.width}x${src.height} -> ${out.width}x${out.height}, max abs diff ${d}`);
    assert.is(d, 0, c);
  }
});

/** Deterministic test pattern, generated identically by the Python script that produced PILLOW_CASES. */
function pattern(w: number, h: number, c: number): Uint8Array {
  const out = new Uint8Array(w * h * c);
  let i = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ch = 0; ch < c; ch++) out[i++] = (x * 37 + y * 91 + ch * 53 + ((x * y * 7) ^ (ch * 29))) & 255;
    }
  }
  return out;
}

/**
 * Outputs of Pillow 9.4.0 `Image.frombytes(mode, (w, h), pattern).resize((outW, outH), Image.BILINEAR)`
 * (mode 'RGB' for 3 channels, 'L' for 1), base64 of the raw bytes. They cover what the fixtures
 * do not: upscaling in both directions, one side up and one down, a dimension left unchanged (that
 * pass is skipped) and a 1-pixel-high source. (When these were made, 307 further random cases,
 * 1..1500 px, up/down/mixed, RGB and L, were also compared with Pillow: all identical.)
 */
const PILLOW_CASES: { channels: number; w: number; h: number; outW: number; outH: number; expected: string }[] = [
  { channels: 3, w: 7, h: 5, outW: 17, outH: 11, expected: 'AFKkBFaoFGa4I3XHMoTWQZPlUaPHYLJtb8ETftAijd8xnbJBrFhQuw1fyhxu2ix+3jCCEWO1FWezJXawNYWsRJS4VKLGZKmwdKRpg58igK4wfLw+hJ1NlFpbpCRqszJ4w0GHyEWLOozeP5DPUJ+dYa1pcrttg8h5lLh3pYJetktGhFhTUmVfRmdsV2B4aVyEemmQi3aekHqhY57waKLae7CKjb06mMo4odZDrblQwGdc0hRohR90Nyx/IEeHMm+NRZKTWJSeapeqb5itjVOlklacpmN6uW9ZnHpddoRnaX9xfWl7kFKEdFyOWGaZV4CTa6eCf8J0kpJ/pmKJrFWMtghavAte0RZq5iF3oSqBTDKLJUaTOmyZT5GfZJmoeaGyjrmfo993uPFWzY9g4i5p6BJsazGDcTSHiD2Snkaeg1mlYG2sVYKzbJm7grHDmJSzr3ajqX2QkKF8fbhtk4Z2qlZ/sEeCIFutJ12wP2O7VmvFZYjKc6fNhb7UncfdtdHozY6+5EyUxUKCfWOCQn+DWn6NcX2WeHyZMoR5OYZ8UouFa5GOhI2RnYeTpYuhmJq8i6nZpIW7vWGer2OJhYN7ZJtwfYV1lnB7nWl9W60uY68wfbM4l7c/sohBzFFCwTxZhVaLSXC+ZHu1foaujZyVlLtwnsxRuJBT0lVV2kNWbL4QdL8SjsMZqcYgxIYh3zsizB08fjt3L1mzSnezZZW0f7OamtFsteBF0JVF6kpG8jRG' },
  { channels: 3, w: 13, h: 6, outW: 4, outH: 15, expected: 'NYepk35cUGuoh59bPoujjnxgV3Spg51kY5mKeXJycpercZeJh6dxZGiEjbqtX5GukIhxa3SIiq+hbYafj1p6e4aIe5SPhXmAi0CIiZKKc35+lXVyemSmkIqSfHhtjIubaYfEl4GZhXFcgqHDdY2gloKSinlzg5fCiohlk4WGjoiXiIKzlYNEkIeBjJGrinKhgntvjoSTeo2NiG6GbnKZjIGkZ4luhmlraXCkjICoYohnhWhk' },
  { channels: 3, w: 9, h: 8, outW: 9, outH: 3, expected: 'UGa4fYZ3baeSmm5lYnt3en51p16STY+kepzAaWZpfIB2j3KRd53IrmOZcrFnsF6HbaptgG6HaX9ye25wf6eAVH+qol2VaptVuHCUjcVuVYpy' },
  { channels: 3, w: 6, h: 10, outW: 14, outH: 10, expected: 'AFKkBVepFWe5JXfJNYfZRZfpVaevZLZSdMYYhNYolOY4pIhItCpYuQtdW63/YbLgdMCEh88nmtwzrek/wKtM0klawQtnZhhzCyV/Hk+JMXmUN4eXtghavQxe0xds6SN5kSuDOTONK1CUQHebVpSibJysgqS2mMuMrvJjtf9VEWO1GWW5MmzES3PPZJfSfbvUlszcrtLox73f4HCu+SN9pEWBT2iGM3OHbL4Qdb8SkcMarcchyXkh5SoityVLZkSKOGOzVIO0cKK0jMGEqOFVsetFxxlrrSNsXkFtD19vLnupTZjkbLP2is30qcTiyHKu5yF7mD99SV1+L2d/InTGLX3FT5jDcbPBk8uLteJWjbNDQmBAGjpPPG2BXqCygLt5otZArd8tfc8hibIgrlob0wMXijZIQWp5QoqrZqDdi5rssF2y1R95jDV1Q0xwK1Nv2Cp8wTB5e0RxNVdpXYaYhbTGrZqs1Ftt2EFTkm+BTJ6wdLFxnMUyqcsdM4XXQYvVbJ3Ol6/Hwm2E7StBzjFJjFt1bYahmLHMw933gJ2yPVxuJ0dX' },
  { channels: 1, w: 11, h: 7, outW: 5, outH: 16, expected: 'HmavQlQtb55QXViIbnZ2gZ1EmI6WfnN9jatfoWOLiXebdHlYnoaRYlWmhZdugJCYhp2bgKN4uICGjnWMZY15cWBjeYl/dWJjnI+OYlujlJc=' },
  { channels: 3, w: 20, h: 1, outW: 3, outH: 4, expected: 'Y4CEcnuEc4SDY4CEcnuEc4SDY4CEcnuEc4SDY4CEcnuEc4SD' },
];

test('resizeUint8Bilinear matches Pillow on upscaling, mixed and identity-dimension resizes', () => {
  for (const k of PILLOW_CASES) {
    const src = { data: pattern(k.w, k.h, k.channels), width: k.w, height: k.h, channels: k.channels };
    const out = resizeUint8Bilinear(src, k.outW, k.outH);
    const expected = new Uint8Array(Buffer.from(k.expected, 'base64'));
    assert.equal([out.width, out.height, out.channels], [k.outW, k.outH, k.channels]);
    assert.is(maxAbsDiff(out.data, expected), 0, `${k.w}x${k.h}x${k.channels} -> ${k.outW}x${k.outH}`);
  }
});

test('resizeUint8Bilinear: same size is a copy; bad sizes are refused', () => {
  const src = { data: pattern(5, 4, 3), width: 5, height: 4, channels: 3 };
  const out = resizeUint8Bilinear(src, 5, 4);
  assert.ok(out.data !== src.data);
  assert.equal(Array.from(out.data), Array.from(src.data));
  assert.throws(() => resizeUint8Bilinear(src, 0, 4), /positive integers/);
  assert.throws(() => resizeUint8Bilinear({ ...src, width: 6 }, 3, 3), /expected 6x4x3/);
});

// ---------------------------------------------------------------------------------------------
// 4. normalise + pad (tfjs)

test('preprocessImage equals preprocessed.npy for every case (NHWC vs NCHW)', async () => {
  await tf.setBackend('cpu');
  for (const c of CASES) {
    const cfg = readJson(c, 'config.json');
    const S: number = cfg.image_encoder.img_size;
    const resized = await decodeFixturePng(c, 'resized_image.png');
    const ref = readNpy(c, 'preprocessed.npy');
    assert.equal(ref.shape, [1, 3, S, S], c);
    const x = preprocessImage(resized, { imgSize: S, pixelMean: cfg.pixel_mean, pixelStd: cfg.pixel_std });
    assert.equal(x.shape, [1, S, S, 3]);
    assert.is(x.dtype, 'float32');
    const got = x.dataSync();
    x.dispose();
    const refData = ref.data as Float32Array;
    let max = 0;
    let padNonZero = 0;
    for (let ch = 0; ch < 3; ch++) {
      for (let y = 0; y < S; y++) {
        for (let xx = 0; xx < S; xx++) {
          const v = got[(y * S + xx) * 3 + ch];
          max = Math.max(max, Math.abs(v - refData[(ch * S + y) * S + xx]));
          if ((y >= resized.height || xx >= resized.width) && v !== 0) padNonZero++;
        }
      }
    }
    console.log(`  ${c}: preprocessed max abs diff ${max}`);
    // Tolerance 1e-5 (the README's suggestion): torch computes fround(fround(x - mean32) / std32);
    // the tfjs cpu backend computes each op in float64 and rounds into float32, which for one
    // subtraction / division of float32 operands is the same correctly rounded result, so the
    // measured difference is 0. Other backends (wasm, webgl) may round differently, by up to about
    // one float32 ulp of |values| <= ~2.7 (~2.4e-7), far below 1e-5.
    assert.ok(max <= 1e-5, `${c}: max abs diff ${max}`);
    assert.is(padNonZero, 0, `${c}: padding must be exact zeros`);
  }
});

test('preprocess (resize + normalise + pad) from image.png equals preprocessed.npy', async () => {
  await tf.setBackend('cpu');
  for (const c of CASES) {
    const cfg = readJson(c, 'config.json');
    const meta = readJson(c, 'image_meta.json');
    const S: number = cfg.image_encoder.img_size;
    const image = await decodeFixturePng(c, 'image.png');
    const r = preprocess(image, { imgSize: S, pixelMean: cfg.pixel_mean, pixelStd: cfg.pixel_std });
    assert.equal(r.originalSize, meta.original_size);
    assert.equal(r.inputSize, meta.input_size);
    const ref = tf.tidy(() => tf.transpose(tf.tensor4d(readNpy(c, 'preprocessed.npy').data as Float32Array, [1, 3, S, S]), [0, 2, 3, 1]));
    const d = maxAbsDiff(r.input.dataSync(), ref.dataSync());
    r.input.dispose();
    ref.dispose();
    assert.ok(d <= 1e-5, `${c}: ${d}`);
  }
});

test('preprocessImage: defaults, tensor input, errors, no tensor leaks', async () => {
  await tf.setBackend('cpu');
  const img = { data: pattern(6, 4, 3), width: 6, height: 4, channels: 3 };
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) preprocessImage(img, { imgSize: 8 }).dispose();
  const t = tf.tensor3d(Int32Array.from(img.data), [4, 6, 3], 'int32');
  const fromTensor = preprocessImage(t, { imgSize: 8 });
  const fromArray = preprocessImage(img, { imgSize: 8 });
  assert.is(maxAbsDiff(fromTensor.dataSync(), fromArray.dataSync()), 0);
  // Default statistics: pixel (0, 0) channel 0 is pattern value 0 -> (0 - 123.675) / 58.395 in float32.
  assert.is(fromArray.dataSync()[0], Math.fround(Math.fround(-Math.fround(123.675)) / Math.fround(58.395)));
  assert.ok(!t.isDisposed, 'the input tensor belongs to the caller');
  fromTensor.dispose();
  fromArray.dispose();
  t.dispose();
  for (let i = 0; i < 3; i++) preprocess(img, { imgSize: 8 }).input.dispose();
  assert.is(tf.memory().numTensors, before, 'tensors leaked');
  assert.throws(() => preprocessImage(img, { imgSize: 5 }), /larger than img_size/);
  assert.throws(() => preprocessImage(img, { imgSize: 8, pixelMean: [1, 2] }), /pixel_mean has 2/);
  assert.is(tf.memory().numTensors, before, 'tensors leaked on errors');
});

// ---------------------------------------------------------------------------------------------
// 5. decodeImage

const TMP = mkdtempSync(join(tmpdir(), 'sam-preprocess-'));
test.after(() => rmSync(TMP, { recursive: true, force: true }));

test('decodeImage(image.png) has the original size and the pixels of an independent PNG decode', async () => {
  for (const c of CASES) {
    const meta = readJson(c, 'image_meta.json');
    for (const name of ['image.png', 'resized_image.png']) {
      const path = fixturePath(c, name);
      const img = await decodeImage(path);
      const ref = decodeRgbPng(readFileSync(path));
      assert.is(img.channels, 3);
      assert.equal([img.width, img.height], [ref.width, ref.height]);
      assert.is(maxAbsDiff(img.data, ref.data), 0, `${c}/${name}`);
      if (name === 'image.png') assert.equal([img.height, img.width], meta.original_size);
      // Same result from the bytes.
      const fromBytes = await decodeImage(new Uint8Array(readFileSync(path)));
      assert.is(maxAbsDiff(fromBytes.data, img.data), 0);
    }
  }
});

test('decodeImage converts grayscale, gray+alpha and RGBA to RGB (alpha dropped, not composited)', async () => {
  const w = 3;
  const h = 2;
  const gray = Uint8Array.from([0, 50, 100, 150, 200, 255]);
  const g = await decodeImage(encodePng(w, h, 0, gray));
  assert.equal(Array.from(g.data), Array.from(gray).flatMap((v) => [v, v, v]));
  const la = Uint8Array.from(Array.from(gray).flatMap((v, i) => [v, i * 40]));
  const gla = await decodeImage(encodePng(w, h, 4, la));
  assert.equal(Array.from(gla.data), Array.from(gray).flatMap((v) => [v, v, v]));
  const rgba = pattern(w, h, 4);
  for (let i = 3; i < rgba.length; i += 4) rgba[i] = i % 3 === 0 ? 0 : 128; // transparent / half
  const r = await decodeImage(encodePng(w, h, 6, rgba));
  assert.equal([r.width, r.height, r.channels], [w, h, 3]);
  const expected: number[] = [];
  for (let i = 0; i < rgba.length; i += 4) expected.push(rgba[i], rgba[i + 1], rgba[i + 2]);
  assert.equal(Array.from(r.data), expected);
});

/** JPEG bytes with an EXIF APP1 segment (big-endian TIFF, IFD0 holding only Orientation) after SOI. */
function withExifOrientation(jpeg: Buffer, orientation: number): Buffer {
  const tiff = Buffer.alloc(8 + 2 + 12 + 4);
  tiff.write('MM', 0, 'latin1');
  tiff.writeUInt16BE(42, 2);
  tiff.writeUInt32BE(8, 4);
  tiff.writeUInt16BE(1, 8); // one entry
  tiff.writeUInt16BE(0x0112, 10); // Orientation
  tiff.writeUInt16BE(3, 12); // SHORT
  tiff.writeUInt32BE(1, 14); // count
  tiff.writeUInt16BE(orientation, 18);
  tiff.writeUInt32BE(0, 22); // no next IFD
  const payload = Buffer.concat([Buffer.from('Exif\0\0', 'latin1'), tiff]);
  const head = Buffer.from([0xff, 0xe1, 0, 0]);
  head.writeUInt16BE(payload.length + 2, 2);
  assert.is(jpeg.readUInt16BE(0), 0xffd8, 'SOI');
  return Buffer.concat([jpeg.subarray(0, 2), head, payload, jpeg.subarray(2)]);
}

test('decodeImage applies the JPEG EXIF orientation (6 = rotate 90 degrees clockwise)', async () => {
  // 32 x 16: left half red, right half blue.
  const w = 32;
  const h = 16;
  const img = new Jimp({ width: w, height: h, color: 0x000000ff });
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 4;
      img.bitmap.data[o] = x < 16 ? 255 : 0;
      img.bitmap.data[o + 2] = x < 16 ? 0 : 255;
    }
  }
  const jpeg = await img.getBuffer('image/jpeg', { quality: 95 });
  const plain = await decodeImage(jpeg);
  assert.equal([plain.width, plain.height], [w, h]);
  const rotated = await decodeImage(withExifOrientation(jpeg, 6));
  assert.equal([rotated.width, rotated.height], [h, w]);
  const px = (im: Uint8Image, x: number, y: number) => Array.from(im.data.subarray((y * im.width + x) * 3, (y * im.width + x) * 3 + 3));
  const isRed = (p: number[]) => p[0] > 200 && p[2] < 60;
  const isBlue = (p: number[]) => p[2] > 200 && p[0] < 60;
  assert.ok(isRed(px(plain, 4, 8)) && isBlue(px(plain, 27, 8)), 'plain JPEG: red left, blue right');
  // Rotated clockwise, the left (red) half becomes the top.
  assert.ok(isRed(px(rotated, 8, 4)) && isBlue(px(rotated, 8, 27)), `rotated: red top, blue bottom`);
});

test('decodeImage errors: missing file, directory, empty file, garbage, truncated PNG', async () => {
  const missing = join(TMP, 'nope.png');
  await assert_rejects(() => decodeImage(missing), /cannot read image .*nope\.png: no such file/);
  const dir = join(TMP, 'a-dir');
  mkdirSync(dir);
  await assert_rejects(() => decodeImage(dir), /cannot read image .*a-dir: it is a directory/);
  const empty = join(TMP, 'empty.png');
  writeFileSync(empty, new Uint8Array(0));
  await assert_rejects(() => decodeImage(empty), /cannot decode image .*empty\.png: the file is empty, supported formats are PNG, JPEG/);
  const garbage = join(TMP, 'garbage.png');
  writeFileSync(garbage, Buffer.from('this is not an image at all, just some text\n'.repeat(20)));
  await assert_rejects(() => decodeImage(garbage), /cannot decode image .*garbage\.png: .*supported formats are PNG, JPEG, BMP, GIF, TIFF/);
  const truncated = join(TMP, 'truncated.png');
  writeFileSync(truncated, readFileSync(fixturePath(CASES[0], 'image.png')).subarray(0, 200));
  await assert_rejects(() => decodeImage(truncated), /cannot decode image .*truncated\.png: .*supported formats/);
  await assert_rejects(() => decodeImage(new Uint8Array([1, 2, 3])), /cannot decode image <3 bytes>/);
});

async function assert_rejects(fn: () => Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await fn();
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    assert.match(msg, re);
    return;
  }
  assert.unreachable(`expected a rejection matching ${re}`);
}

test.run();
