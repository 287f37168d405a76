/**
 * The SIMD rows of the mask post-processing (src/sam/mask_rows_simd.ts, mask_rows.wat):
 * - the committed binary is mask_rows.wat assembled;
 * - masks, logits and stability counts made with it are bit for bit those of the JavaScript
 *   path (SIMD switched off; NaN where it gives NaN, whose sign bit may differ), for smooth,
 *   noisy and edge-valued (NaN, infinities, signed zeros, subnormals, values at the
 *   threshold) logits, thresholds that are not float32, row lengths with every remainder of
 *   4, and shapes whose taps are not 3 wide;
 * - the float32 threshold it compares with decides as the float64 one does;
 * - the module's memory grows for a larger mask and is reused for smaller ones; where it
 *   cannot grow or address a mask, JavaScript makes it.
 */
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MASK_ROWS_GENERATED_PATH, MASK_ROWS_WAT_PATH, maskRowsSource } from '../scripts/build_wasm_kernels.js';
import { setWasmKernelsEnabled } from '../src/backends/wasm_kernels.js';
import { stabilityThresholds } from '../src/sam/amg/index.js';
import { MASK_ROWS } from '../src/backends/wasm_simd/mask_rows_wasm.js';
import { float32AtOrBelow, maskRowsSimd, type MaskRowsExports } from '../src/sam/mask_rows_simd.js';
import { composedTaps, MaskUpscaler, upscaleMasks } from '../src/sam/postprocess_js.js';
import type { UpscaleFrame } from './helpers/bilinear64.js';
import { sameBits } from './helpers/compare.js';
import { seeded } from './helpers/random.js';

const test = suite('mask post-processing rows in WebAssembly SIMD');

/** f with SIMD off (switched back on after). */
function withSimdOff<T>(f: () => T): T {
  setWasmKernelsEnabled(false);
  try {
    return f();
  } finally {
    setWasmKernelsEnabled(true);
  }
}

/** f with SIMD on, then off. */
function bothWays<T>(f: () => T): { simd: T; js: T } {
  return { simd: f(), js: withSimdOff(f) };
}

function fields(lh: number, lw: number, seed: number): Float32Array[] {
  const rand = seeded(seed);
  const n = lh * lw;
  const smooth = new Float32Array(n).map((_, i) => 8 * (1 - Math.hypot(Math.floor(i / lw) - lh / 2, (i % lw) - lw / 3) / (lh / 3)));
  const noisy = new Float32Array(n).map(() => 8 * (rand() - 0.5));
  const edges = Float32Array.from(noisy);
  const at = (f: number) => Math.floor(f * n);
  edges[at(0.1)] = NaN;
  edges[at(0.3)] = Infinity;
  edges[at(0.5)] = -Infinity;
  edges[at(0.6)] = 0;
  edges[at(0.61)] = -0;
  edges[at(0.7)] = 1e-40;
  edges[at(0.71)] = -1e-40;
  const level = new Float32Array(n).fill(0.5); // every pixel's value near or at 0.5
  return [smooth, noisy, edges, level];
}

const shapes: Array<UpscaleFrame & { name: string }> = [
  { name: "SAM's shape, scaled down", low: [64, 64], s: 256, input: [171, 256], original: [375, 563] },
  { name: 'portrait, odd widths', low: [16, 16], s: 64, input: [64, 37], original: [181, 101] },
  { name: 'row lengths 1 to 7', low: [8, 8], s: 32, input: [32, 32], original: [41, 7] },
  { name: 'shrunk below S', low: [16, 16], s: 64, input: [64, 64], original: [23, 22] },
  { name: 'one pixel wide', low: [8, 8], s: 32, input: [32, 2], original: [70, 1] },
];

test('the committed binary is mask_rows.wat assembled (npm run build:kernels)', async () => {
  const generated = await maskRowsSource(readFileSync(MASK_ROWS_WAT_PATH, 'utf8'));
  assert.ok(generated === readFileSync(MASK_ROWS_GENERATED_PATH, 'utf8'), `${MASK_ROWS_GENERATED_PATH} is stale: run npm run build:kernels`);
});

test('raw exports: every length 0..21 at unaligned offsets, the JavaScript formula, nothing touched outside the output', () => {
  const bytes = Uint8Array.from(Buffer.from(MASK_ROWS, 'base64'));
  const ex = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as MaskRowsExports;
  const mem = new Uint8Array(ex.memory.buffer);
  const dv = new DataView(ex.memory.buffer);
  const rand = seeded(21);
  const specials = [NaN, Infinity, -Infinity, 0, -0, 1e-310, 3.4e38];
  const value = () => (rand() < 0.1 ? specials[Math.floor(rand() * specials.length)] : 20 * (rand() - 0.5));
  // rows (float64) at 1000 + 3, 3000 + 5, 5000 + 7 (unaligned); outputs at 8000 + 1
  const [r0, r1, r2, out] = [1003, 3005, 5007, 8001];
  const [w0, w1, w2] = [Math.fround(rand()), Math.fround(rand()), Math.fround(rand())];
  const sum = (i: number) => Math.fround(w0 * dv.getFloat64(r0 + 8 * i, true) + w1 * dv.getFloat64(r1 + 8 * i, true) + w2 * dv.getFloat64(r2 + 8 * i, true));
  const untouchedOutside = (from: number, to: number) => {
    for (let i = out - 16; i < out + 200; i++) if ((i < from || i >= to) && mem[i] !== 0xa5) return false;
    return true;
  };
  for (let n = 0; n <= 21; n++) {
    for (let i = 0; i < 24; i++) for (const r of [r0, r1, r2]) dv.setFloat64(r + 8 * i, value(), true);
    const t = float32AtOrBelow(0.1);
    mem.fill(0xa5, out - 16, out + 200);
    ex.threshold3(out, r0, r1, r2, n, w0, w1, w2, t);
    for (let i = 0; i < n; i++) assert.is(mem[out + i], +(sum(i) > 0.1), `threshold3 n=${n} i=${i}`);
    assert.ok(untouchedOutside(out, out + n), `threshold3 n=${n} wrote outside its output`);
    mem.fill(0xa5, out - 16, out + 200);
    ex.values3(out, r0, r1, r2, n, w0, w1, w2);
    for (let i = 0; i < n; i++) {
      const v = dv.getFloat32(out + 4 * i, true);
      assert.ok(Object.is(v, sum(i)) || (Number.isNaN(v) && Number.isNaN(sum(i))), `values3 n=${n} i=${i}`);
    }
    assert.ok(untouchedOutside(out, out + 4 * n), `values3 n=${n} wrote outside its output`);
    mem.fill(0xa5, out - 16, out + 200);
    const [low, high] = [float32AtOrBelow(-1), float32AtOrBelow(2.5)];
    ex.count3(out, r0, r1, r2, n, w0, w1, w2, low, high);
    let [cl, ch] = [0, 0];
    for (let i = 0; i < n; i++) [cl, ch] = [cl + +(sum(i) > -1), ch + +(sum(i) > 2.5)];
    assert.equal([dv.getInt32(out, true), dv.getInt32(out + 4, true)], [cl, ch], `count3 n=${n}`);
    assert.ok(untouchedOutside(out, out + 8), `count3 n=${n} wrote outside its counts`);
    // wide rows: a float32 source row of n + 2 values, taps start[x] <= n - 1
    const [src, start, weights] = [9001, 10003, 11005];
    for (let i = 0; i < n + 2; i++) dv.setFloat32(src + 4 * i, value(), true);
    for (let x = 0; x < n; x++) {
      dv.setInt32(start + 4 * x, Math.floor(rand() * n), true);
      for (let k = 0; k < 3; k++) dv.setFloat64(weights + 24 * x + 8 * k, rand(), true);
    }
    mem.fill(0xa5, out - 16, out + 200);
    ex.wide_row3(out, src, start, weights, n);
    for (let x = 0; x < n; x++) {
      const s0 = dv.getInt32(start + 4 * x, true);
      const w = (k: number) => dv.getFloat64(weights + 24 * x + 8 * k, true);
      const f = (k: number) => dv.getFloat32(src + 4 * (s0 + k), true);
      const want = w(0) * f(0) + w(1) * f(1) + w(2) * f(2);
      const got = dv.getFloat64(out + 8 * x, true);
      assert.ok(Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want)), `wide_row3 n=${n} x=${x}`);
    }
    assert.ok(untouchedOutside(out, out + 8 * n), `wide_row3 n=${n} wrote outside its output`);
  }
});

test('the module runs here (Node has WebAssembly SIMD) and is off when switched off', () => {
  assert.ok(maskRowsSimd() !== null);
  setWasmKernelsEnabled(false);
  try {
    assert.is(maskRowsSimd(), null);
  } finally {
    setWasmKernelsEnabled(true);
  }
  // SAM's own post-processing has 3-tap rows and columns, the case the module computes.
  assert.is(composedTaps(256, 1024, 683, 1500).width, 3);
  assert.is(composedTaps(256, 1024, 1024, 2250).width, 3);
});

for (const sh of shapes) {
  test(`${sh.name}: masks and logits with SIMD are those of JavaScript, bit for bit`, () => {
    const [lh, lw] = sh.low;
    const fs = fields(lh, lw, sh.original[1]);
    const all = new Float32Array(fs.length * lh * lw);
    fs.forEach((f, k) => all.set(f, k * lh * lw));
    for (const threshold of [0, 0.5, 0.1, -1e-50, 3.3, -Infinity]) {
      for (const withLogits of [true, false]) {
        const r = bothWays(() => upscaleMasks(all, fs.length, sh.low, sh.input, sh.original, sh.s, threshold, withLogits));
        for (let k = 0; k < fs.length; k++) {
          const a = r.simd.masks[k];
          const b = r.js.masks[k];
          assert.is(a.length, sh.original[0] * sh.original[1]);
          for (let i = 0; i < a.length; i++) {
            if (a[i] !== b[i]) assert.unreachable(`threshold ${threshold}, logits ${withLogits}: field ${k} pixel ${i} is ${a[i]} with SIMD, ${b[i]} without`);
          }
          if (withLogits) assert.ok(sameBits(r.simd.logits![k], r.js.logits![k]), `threshold ${threshold}: field ${k}'s logits differ`);
        }
      }
    }
  });

  test(`${sh.name}: stability counts with SIMD are those of JavaScript`, () => {
    const [lh, lw] = sh.low;
    const up = new MaskUpscaler(sh.low, sh.input, sh.original, sh.s);
    for (const [maskThreshold, offset] of [[0, 1], [0.3, 0.45], [0.5, 0]]) {
      const { high, low } = stabilityThresholds(maskThreshold, offset);
      fields(lh, lw, 3).forEach((f, k) => {
        const r = bothWays(() => up.stabilityCounts(f, high, low));
        assert.equal(r.simd, r.js, `field ${k}, threshold ${maskThreshold}, offset ${offset}`);
      });
    }
  });
}

test('band codes: the band of every group of output rows and low-res column, as the rule in float64 decides it', () => {
  const simd = maskRowsSimd()!;
  const rand = seeded(33);
  const specials = [NaN, Infinity, -Infinity, 0, -0, 1e-40, -1e-40];
  for (const [h4, w4, cw, rw] of [[9, 13, 3, 3], [12, 8, 2, 3], [7, 17, 4, 2], [5, 4, 3, 3], [6, 5, 1, 1]]) {
    for (const cuts of [[0], [0.3], [-1.5, 2.25], [1e-30, 0.1]]) {
      const above = cuts.map((c) => c + Math.abs(c) * 1e-5 + 1e-30);
      const below = cuts.map((c) => c - Math.abs(c) * 1e-5 - 1e-30);
      // Values right at the float32 neighbours of the margins, around the cuts, specials, spread.
      const at = [...above, ...below].flatMap((m) => [Math.fround(m), float32AtOrBelow(m), -float32AtOrBelow(-m)]);
      const value = () => {
        const u = rand();
        if (u < 0.05) return specials[Math.floor(rand() * specials.length)];
        if (u < 0.4) return at[Math.floor(rand() * at.length)];
        if (u < 0.6) return cuts[Math.floor(rand() * cuts.length)] + 1e-3 * (rand() - 0.5);
        return 6 * (rand() - 0.5);
      };
      const low = Float32Array.from({ length: h4 * w4 }, value);
      // Mostly smooth stretches, so that every band shows up: runs of a repeated value.
      for (let i = 1; i < low.length; i++) if (rand() < 0.5) low[i] = low[i - 1];
      const groupFirst = Int32Array.from({ length: 2 * h4 }, () => Math.floor(rand() * (h4 - rw + 1)));
      assert.ok(simd.layout({ low, lowWidth: w4, wideRows: h4, rowLength: 8, maskRows: 0, columns: null, bands: { groupFirst, columnTaps: cw } }));
      const { codes, stride } = simd.bandCodes(above, below, rw);
      assert.ok(stride >= w4 && stride % 4 === 0);
      for (let g = 0; g < groupFirst.length; g++) {
        for (let j = 0; j + cw <= w4; j++) {
          let mn = Infinity;
          let mx = -Infinity;
          for (let t = 0; t < rw; t++) {
            for (let k = 0; k < cw; k++) {
              mn = Math.min(mn, low[(groupFirst[g] + t) * w4 + j + k]);
              mx = Math.max(mx, low[(groupFirst[g] + t) * w4 + j + k]);
            }
          }
          let want = -1;
          if (mn > -Infinity && mx < Infinity) {
            let b = 0;
            while (b < cuts.length && mn > above[b]) b++;
            if (b === cuts.length || mx < below[b]) want = b;
          }
          assert.is(codes[g * stride + j], want, `${h4}x${w4} taps ${cw}x${rw}, cuts ${cuts}: group ${g} column ${j} (min ${mn}, max ${mx})`);
        }
      }
    }
  }
});

test('float32AtOrBelow: a float32 is above it exactly when it is above the float64 threshold', () => {
  const rand = seeded(9);
  const ts = [0, -0, 0.1, -0.1, 1e-50, -1e-50, 1e-40, 3.4e38, 3.5e38, -3.5e38, Infinity, -Infinity, NaN, 1 / 3, -2 / 3, 2 ** -149, -(2 ** -149)];
  for (let i = 0; i < 200; i++) ts.push((rand() - 0.5) * 10 ** Math.floor(rand() * 20 - 10));
  const vs = [0, -0, NaN, Infinity, -Infinity, 2 ** -149, -(2 ** -149), 3.4028234663852886e38];
  for (const t of ts) {
    const t32 = float32AtOrBelow(t);
    assert.ok(Number.isNaN(t) ? Number.isNaN(t32) : t32 === Math.fround(t32) && !(t32 > t), `float32AtOrBelow(${t}) = ${t32}`);
    const centres = [Math.fround(t), t32, ...vs];
    const near: number[] = [];
    const bits = new Float32Array(1);
    const u = new Int32Array(bits.buffer);
    for (const v of centres) {
      near.push(v);
      if (!Number.isFinite(v)) continue;
      bits[0] = v;
      const u0 = u[0];
      for (const d of [-2, -1, 0, 1, 2]) {
        u[0] = u0 + d;
        near.push(bits[0]);
      }
    }
    for (const v of near) assert.is(v > t32, v > t, `${v} > ${t}`);
  }
});

test("the module's memory grows for a larger mask and serves smaller ones after it", () => {
  const small = { low: [16, 16] as [number, number], s: 64, input: [43, 64] as [number, number], original: [150, 225] as [number, number] };
  const large = { low: [64, 64] as [number, number], s: 256, input: [256, 256] as [number, number], original: [1200, 1100] as [number, number] };
  const run = (sh: typeof small) => {
    const f = fields(sh.low[0], sh.low[1], 5)[1];
    return bothWays(() => upscaleMasks(f, 1, sh.low, sh.input, sh.original, sh.s, 0, true));
  };
  const same = (r: ReturnType<typeof run>) => r.simd.masks[0].every((v, i) => v === r.js.masks[0][i]) && sameBits(r.simd.logits![0], r.js.logits![0]);
  let previous: ReturnType<typeof run> | null = null;
  for (const sh of [small, large, small, large]) {
    const r = run(sh);
    assert.ok(same(r), `${sh.original}: masks or logits differ`);
    // Results are copies, not views of the module's memory: the next mask leaves them be.
    if (previous) assert.ok(same(previous), 'an earlier mask changed');
    previous = r;
  }
});

test("where the module's memory cannot grow, JavaScript makes the mask (the same one)", () => {
  const sh = { low: [32, 32] as [number, number], s: 128, input: [128, 128] as [number, number], original: [2100, 2300] as [number, number] };
  const f = fields(sh.low[0], sh.low[1], 8)[1];
  const js = withSimdOff(() => upscaleMasks(f, 1, sh.low, sh.input, sh.original, sh.s, 0, false));
  const grow = WebAssembly.Memory.prototype.grow;
  let refused = 0;
  WebAssembly.Memory.prototype.grow = function (): number {
    refused++;
    throw new RangeError('WebAssembly.Memory.grow(): Maximum memory size exceeded');
  };
  try {
    // Larger than any mask made before in this file: the module would have to grow.
    const r = upscaleMasks(f, 1, sh.low, sh.input, sh.original, sh.s, 0, false);
    assert.ok(refused > 0, 'the module did not try to grow');
    assert.ok(r.masks[0].every((v, i) => v === js.masks[0][i]), 'masks differ');
  } finally {
    WebAssembly.Memory.prototype.grow = grow;
  }
});

test('a layout past the 32-bit address space is refused (JavaScript then makes the mask), not mis-addressed', () => {
  const simd = maskRowsSimd()!;
  // 70000 x 70000 bytes of mask: 4.9 GB, more than the module can address.
  assert.is(simd.layout({ low: new Float32Array(16), lowWidth: 4, wideRows: 4, rowLength: 70000, maskRows: 70000, columns: null, bands: { groupFirst: new Int32Array(1), columnTaps: 3 } }), false);
  // The refused layout left the module usable.
  const sh = shapes[1];
  const f = fields(sh.low[0], sh.low[1], 2)[1];
  const r = bothWays(() => upscaleMasks(f, 1, sh.low, sh.input, sh.original, sh.s, 0, true));
  assert.ok(r.simd.masks[0].every((v, i) => v === r.js.masks[0][i]) && sameBits(r.simd.logits![0], r.js.logits![0]));
});

test.run();
