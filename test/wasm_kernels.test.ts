/**
 * The SIMD kernels for tfjs-wasm (src/backends/wasm_kernels.ts, wasm_simd/kernels.wat):
 * - the committed binaries are the .wat source assembled;
 * - each kernel, run on a bare memory of either kind (shared, plain), against plain
 *   JavaScript: bitwise where the kernel does the same float32 operations (transpose,
 *   relative-position adds), within the float noise of the tfjs-op form elsewhere (GELU,
 *   layer norm), for lengths that exercise every remainder path, and without writing past
 *   its output;
 * - through tfjs on the wasm backend: registered, used by the layers, switchable, leak-free,
 *   and clear errors for wrong shapes.
 */
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { assembleKernels, generatedSource, GENERATED_PATH, WAT_PATH } from '../scripts/build_wasm_kernels.js';
import {
  addKernel,
  batchMatMulKernel,
  gemmHelperBlocks,
  gemmHelperThreads,
  geluKernel,
  layerNormKernel,
  relPosAddKernel,
  setGemmCallerJoins,
  setWasmKernelsEnabled,
  transpose2dKernel,
  wasmKernelsActive,
  windowUnpartitionKernel,
  concatColumnsKernel,
  sliceRowsKernel,
} from '../src/backends/wasm_kernels.js';
import { windowPartition, windowUnpartition } from '../src/layers/image_encoder/window.js';
import { gelu, geluFromFastOps } from '../src/layers/common/activations.js';
import { addTensors, splitAxis0 } from '../src/layers/tensor_utils.js';
import { LayerNorm } from '../src/layers/common/layer_norm.js';
import { useBackend } from './helpers/backends.js';
import { bareKernels } from './helpers/bare_kernels.js';
import { sameBits } from './helpers/compare.js';
import { FIXTURES, ROOT } from './helpers/fixtures.js';
import { gelu64, softmax64 } from './helpers/float64_math.js';
import { signedRandoms } from './helpers/random.js';

interface Exports {
  gelu(x: number, y: number, n: number, scratch: number): void;
  rel_pos_add(s: number, h: number, w: number, out: number, rows: number, kh: number, kw: number): void;
  transpose2d(x: number, out: number, rows: number, cols: number): void;
  layer_norm(x: number, weight: number, bias: number, out: number, rows: number, cols: number, eps: number): void;
  softmax_rows(x: number, h: number, w: number, out: number, rows: number, kh: number, kw: number, rel: number): void;
  gemm_batched(a: number, b: number, c: number, batch: number, m: number, n: number, k: number): void;
  add_rows(x: number, y: number, out: number, rows: number, cols: number, broadcast: number): void;
  window_partition(x: number, out: number, b: number, h: number, w: number, c: number, ws: number): void;
  window_unpartition(win: number, out: number, b: number, h: number, w: number, c: number, ws: number): void;
  copy_columns(x: number, out: number, rows: number, cols: number, outCols: number, at: number): void;
}

const source = suite('wasm kernels: source');

source('the committed binaries are kernels.wat assembled (npm run build:kernels)', async () => {
  const generated = generatedSource(await assembleKernels(readFileSync(WAT_PATH, 'utf8')));
  assert.ok(generated === readFileSync(GENERATED_PATH, 'utf8'), `${GENERATED_PATH} is stale: run npm run build:kernels`);
});

source.run();

for (const shared of [true, false]) {
  const bare = suite(`wasm kernels on a bare ${shared ? 'shared' : 'plain'} memory`);

  bare('gelu: every length 0..40 equals the 12-wide path, tails included, nothing written past n or the scratch', () => {
    const { k, alloc } = bareKernels<Exports>(shared);
    const scratch = alloc(12);
    const xs = signedRandoms(40, 3, 6);
    // Reference: each value alone, placed at the start of a block of 12 (the vector path).
    const one = (v: number) => {
      const x = alloc([v, ...new Array<number>(11).fill(0)]);
      const y = alloc(12);
      k.gelu(x.offset, y.offset, 12, scratch.offset);
      return y.values()[0];
    };
    const expected = Float32Array.from(xs, one);
    for (let n = 0; n <= 40; n++) {
      const x = alloc(xs.subarray(0, n));
      const y = alloc(n);
      k.gelu(x.offset, y.offset, n, scratch.offset);
      assert.ok(sameBits(y.values(), expected.subarray(0, n)), `n = ${n}`);
      assert.ok(y.guardIntact() && x.guardIntact() && scratch.guardIntact(), `n = ${n}: wrote past the arrays`);
    }
  });

  bare('gelu: special values', () => {
    const { k, alloc } = bareKernels<Exports>(shared);
    const xs = [NaN, Infinity, -Infinity, 0, -0, 1e4, -1e4, 30, -30, 1e-30, -1e-30];
    const x = alloc(xs);
    const y = alloc(xs.length);
    const scratch = alloc(12);
    k.gelu(x.offset, y.offset, xs.length, scratch.offset);
    const v = y.values();
    assert.ok(Number.isNaN(v[0]), 'NaN -> NaN');
    assert.is(v[1], Infinity);
    assert.is(Math.abs(v[2]), 0);
    assert.is(Math.abs(v[3]), 0);
    assert.ok(Object.is(v[4], -0), `GELU(-0) = ${v[4]}, not -0 (as PyTorch)`);
    assert.is(v[5], 1e4);
    assert.is(Math.abs(v[6]), 0);
    assert.is(v[7], 30);
    assert.is(Math.abs(v[8]), 0);
    for (const i of [9, 10]) assert.ok(Math.abs(v[i] - gelu64(xs[i])) <= 1e-37, `GELU(${xs[i]}) = ${v[i]}`);
  });

  bare('transpose2d: bitwise, every remainder of rows and columns, nothing written past the output', () => {
    const { k, alloc, reset } = bareKernels<Exports>(shared);
    for (const [rows, cols] of [[1, 1], [1, 9], [9, 1], [4, 4], [5, 3], [7, 70], [67, 5], [8, 64], [33, 129], [130, 67]]) {
      reset();
      const xs = signedRandoms(rows * cols, rows * 31 + cols);
      const x = alloc(xs);
      const out = alloc(rows * cols);
      k.transpose2d(x.offset, out.offset, rows, cols);
      const expected = new Float32Array(rows * cols);
      for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) expected[j * rows + i] = xs[i * cols + j];
      assert.ok(sameBits(out.values(), expected), `[${rows}, ${cols}]`);
      assert.ok(out.guardIntact(), `[${rows}, ${cols}]: wrote past the output`);
    }
  });

  bare('softmax_rows: against float64 softmax of the float32 sums (relative-position terms or not), every row length remainder, NaN rows, nothing written past the output', () => {
    const { k, alloc, reset } = bareKernels<Exports>(shared);
    // Rows of 4096 and 4099 values (a global head's keys; the tail): the sum in 64-value parts.
    for (const [rows, kh, kw] of [[1, 1, 1], [3, 1, 3], [2, 1, 4], [4, 1, 7], [3, 2, 3], [2, 3, 5], [3, 14, 14], [2, 1, 13], [2, 4, 64], [2, 64, 64], [2, 1, 4099]]) {
      for (const rel of [0, 1]) {
        reset();
        const n = kh * kw;
        const x = signedRandoms(rows * n, rows * 7 + n + rel, 8);
        const h = signedRandoms(rows * kh, n + 1, 3);
        const w = signedRandoms(rows * kw, n + 2, 3);
        const [xa, ha, wa, out] = [alloc(x), alloc(h), alloc(w), alloc(rows * n)];
        k.softmax_rows(xa.offset, ha.offset, wa.offset, out.offset, rows, kh, kw, rel);
        const got = out.values();
        let worst = 0;
        for (let r = 0; r < rows; r++) {
          // the values as the kernel sums them in float32: (x + h) + w
          const v = Array.from({ length: n }, (_, j) => (rel ? Math.fround(Math.fround(x[r * n + j] + h[r * kh + Math.floor(j / kw)]) + w[r * kw + (j % kw)]) : x[r * n + j]));
          softmax64(v).forEach((p, j) => (worst = Math.max(worst, Math.abs(got[r * n + j] - p))));
        }
        // exp within a few ulps, the sum and 1 / sum rounded in float32: ~1e-7 of values <= 1
        assert.ok(worst < 1e-6, `[${rows}, ${kh} x ${kw}] rel ${rel}: max error ${worst}`);
        assert.ok(out.guardIntact(), `[${rows}, ${kh} x ${kw}]: wrote past the output`);
      }
    }
    // A row with a NaN (in the vector part or the tail) is all NaN; the other rows are not touched by it.
    reset();
    const x = alloc([1, 2, NaN, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3, 4, NaN]);
    const out = alloc(15);
    k.softmax_rows(x.offset, 0, 0, out.offset, 3, 1, 5, 0);
    const v = out.values();
    assert.ok(v.subarray(0, 5).every(Number.isNaN) && v.subarray(10, 15).every(Number.isNaN), 'NaN rows');
    assert.ok(v.subarray(5, 10).every((t) => t > 0 && t < 1), 'the clean row');
  });

  bare('softmax_rows: a long row with a dominant value (a global head\'s 4096 keys): its large values within 4 ulps of float64 softmax', () => {
    // One running sum per lane would round each of ~1000 small terms against the dominant
    // one's ~1 (measured 11-12 ulps); in 64-value parts ~1.6 ulps. Values of 1/64 or more,
    // where exp's own error is under an ulp.
    const { k, alloc, reset } = bareKernels<Exports>(shared);
    const ulp = (v: number) => 2 ** (Math.floor(Math.log2(v)) - 23);
    for (const n of [4096, 4099]) {
      reset();
      const rows = 4;
      const x = signedRandoms(rows * n, n + 12, 8);
      for (let r = 0; r < rows; r++) x[r * n + ((r * 997) % n)] = 12;
      const [xa, out] = [alloc(x), alloc(rows * n)];
      k.softmax_rows(xa.offset, 0, 0, out.offset, rows, 1, n, 0);
      const got = out.values();
      let worst = 0;
      let checked = 0;
      for (let r = 0; r < rows; r++) {
        const want64 = softmax64(x.subarray(r * n, (r + 1) * n));
        for (let j = 0; j < n; j++) {
          const want = want64[j];
          if (want < 1 / 64) continue;
          checked++;
          worst = Math.max(worst, Math.abs(got[r * n + j] - want) / ulp(want));
        }
      }
      assert.ok(checked >= rows, `n = ${n}: only ${checked} values of 1/64 or more`);
      assert.ok(worst <= 4, `n = ${n}: ${worst.toFixed(2)} ulps from float64 softmax`);
    }
  });

  bare('softmax_rows: rows of 5 to 8 values, 4 at a time, equal the one-row path bit for bit (large spreads, -Infinity, in place), and leave NaN rows to it', () => {
    const { k, alloc, reset } = bareKernels<Exports>(shared);
    for (let n = 5; n <= 8; n++) {
      for (const rows of [4, 7, 9]) {
        reset();
        // comparable values (every exp counts in the sum), a row spread over ~200 (exponents
        // under -87 give 0), -Infinity, equal values
        const x = signedRandoms(rows * n, n * 10 + rows, 3);
        for (let j = 0; j < n; j++) x[3 * n + j] *= 40;
        x[1] = -Infinity;
        x[n + 2] = x[n + 3];
        const [xa, out] = [alloc(x), alloc(rows * n)];
        k.softmax_rows(xa.offset, 0, 0, out.offset, rows, 1, n, 0); // 4 rows at a time, the rest one by one
        const want = new Float32Array(rows * n);
        for (let r = 0; r < rows; r++) {
          const one = alloc(n);
          k.softmax_rows(xa.offset + r * n * 4, 0, 0, one.offset, 1, 1, n, 0); // one row: the one-row path
          want.set(one.values(), r * n);
        }
        assert.ok(sameBits(out.values(), want), `${rows} rows of ${n}: differs from the one-row path`);
        assert.ok(out.guardIntact(), `${rows} rows of ${n}: wrote past the output`);
        k.softmax_rows(xa.offset, 0, 0, xa.offset, rows, 1, n, 0); // in place
        assert.ok(sameBits(xa.values(), want), `${rows} rows of ${n}, in place: differs`);
      }
      // A NaN in one of 4 rows (first or last value): that row all NaN, the others as alone.
      for (const at of [0, n - 1]) {
        reset();
        const x = signedRandoms(4 * n, n, 5);
        x[2 * n + at] = NaN;
        const [xa, out] = [alloc(x), alloc(4 * n)];
        k.softmax_rows(xa.offset, 0, 0, out.offset, 4, 1, n, 0);
        const v = out.values();
        assert.ok(v.subarray(2 * n, 3 * n).every(Number.isNaN), `rows of ${n}: the NaN row`);
        for (const r of [0, 1, 3]) {
          const one = alloc(n);
          k.softmax_rows(xa.offset + r * n * 4, 0, 0, one.offset, 1, 1, n, 0);
          assert.ok(sameBits(v.subarray(r * n, (r + 1) * n), one.values()), `rows of ${n}, NaN at ${at}: row ${r} differs`);
        }
      }
    }
  });

  bare('window_partition / window_unpartition: the reference\'s windows (zero padding past the edges) and back, every remainder, nothing written past the outputs', () => {
    const { k, alloc, reset } = bareKernels<Exports>(shared);
    for (const [b, h, w, c, ws] of [[1, 4, 4, 3, 2], [1, 5, 7, 2, 3], [2, 6, 5, 4, 4], [1, 3, 3, 5, 4], [2, 14, 14, 8, 14], [1, 1, 1, 1, 1]]) {
      reset();
      const [nh, nw] = [Math.ceil(h / ws), Math.ceil(w / ws)];
      const x = signedRandoms(b * h * w * c, b * 100 + h * 10 + w, 4);
      const [xa, win, back] = [alloc(x), alloc(b * nh * nw * ws * ws * c), alloc(b * h * w * c)];
      k.window_partition(xa.offset, win.offset, b, h, w, c, ws);
      // windows[((bi * nh + wy) * nw + wx), r, q, :] = x[bi, wy * ws + r, wx * ws + q, :], or 0 outside
      const want = new Float32Array(b * nh * nw * ws * ws * c);
      for (let bi = 0; bi < b; bi++)
        for (let wy = 0; wy < nh; wy++)
          for (let wx = 0; wx < nw; wx++)
            for (let r = 0; r < ws; r++)
              for (let q = 0; q < ws; q++) {
                const [y, xx] = [wy * ws + r, wx * ws + q];
                if (y >= h || xx >= w) continue;
                const o = ((((bi * nh + wy) * nw + wx) * ws + r) * ws + q) * c;
                want.set(x.subarray(((bi * h + y) * w + xx) * c, ((bi * h + y) * w + xx + 1) * c), o);
              }
      const what = `[${b}, ${h}, ${w}, ${c}] in windows of ${ws}`;
      assert.ok(sameBits(win.values(), want), `${what}: partition`);
      assert.ok(win.guardIntact(), `${what}: partition wrote past its output`);
      k.window_unpartition(win.offset, back.offset, b, h, w, c, ws);
      assert.ok(sameBits(back.values(), x), `${what}: not back to x`);
      assert.ok(back.guardIntact(), `${what}: unpartition wrote past its output`);
    }
  });

  bare('copy_columns: each input\'s columns at its offset of every row, nothing else written', () => {
    const { k, alloc } = bareKernels<Exports>(shared);
    const [rows, widths] = [5, [3, 1, 4]];
    const outCols = widths.reduce((a, v) => a + v, 0);
    const out = alloc(rows * outCols);
    const xs = widths.map((cols, i) => signedRandoms(rows * cols, 7 + i, 3));
    let at = 0;
    widths.forEach((cols, i) => {
      k.copy_columns(alloc(xs[i]).offset, out.offset, rows, cols, outCols, at);
      at += cols;
    });
    const want = new Float32Array(rows * outCols);
    for (let r = 0; r < rows; r++) {
      let o = r * outCols;
      widths.forEach((cols, i) => {
        want.set(xs[i].subarray(r * cols, (r + 1) * cols), o);
        o += cols;
      });
    }
    assert.ok(sameBits(out.values(), want), 'columns out of place');
    assert.ok(out.guardIntact(), 'wrote past the output');
  });

  bare('rel_pos_add: bitwise (s + h) + w in float32, for key sides with and without a remainder of 4', () => {
    const { k, alloc, reset } = bareKernels<Exports>(shared);
    for (const [rows, kh, kw] of [[1, 1, 1], [3, 2, 5], [5, 14, 14], [4, 7, 64], [2, 3, 6]]) {
      reset();
      const s = signedRandoms(rows * kh * kw, 1, 10);
      const h = signedRandoms(rows * kh, 2, 3);
      const w = signedRandoms(rows * kw, 3, 3);
      const [sa, ha, wa, out] = [alloc(s), alloc(h), alloc(w), alloc(rows * kh * kw)];
      k.rel_pos_add(sa.offset, ha.offset, wa.offset, out.offset, rows, kh, kw);
      const expected = new Float32Array(rows * kh * kw);
      for (let r = 0; r < rows; r++)
        for (let i = 0; i < kh; i++)
          for (let j = 0; j < kw; j++) {
            const o = (r * kh + i) * kw + j;
            expected[o] = Math.fround(Math.fround(s[o] + h[r * kh + i]) + w[r * kw + j]);
          }
      assert.ok(sameBits(out.values(), expected), `[${rows}, ${kh}, ${kw}]`);
      assert.ok(out.guardIntact(), `[${rows}, ${kh}, ${kw}]: wrote past the output`);
    }
  });

  bare('add_rows: bitwise x + y in float32, y of x\'s shape or one row broadcast, every width remainder, nothing written past the output', () => {
    const { k, alloc, reset } = bareKernels<Exports>(shared);
    for (const [rows, cols] of [[1, 1], [3, 3], [2, 4], [5, 5], [4, 13], [3, 64]]) {
      for (const broadcast of [0, 1]) {
        reset();
        const x = signedRandoms(rows * cols, rows + cols, 10);
        const y = signedRandoms(broadcast ? cols : rows * cols, 2 * rows + cols, 10);
        const [xa, ya, out] = [alloc(x), alloc(y), alloc(rows * cols)];
        k.add_rows(xa.offset, ya.offset, out.offset, rows, cols, broadcast);
        const expected = new Float32Array(rows * cols);
        for (let i = 0; i < rows * cols; i++) expected[i] = Math.fround(x[i] + y[broadcast ? i % cols : i]);
        const what = `[${rows}, ${cols}]${broadcast ? ' + [cols]' : ''}`;
        assert.ok(sameBits(out.values(), expected), what);
        assert.ok(out.guardIntact(), `${what}: wrote past the output`);
      }
    }
  });

  bare('gemm_batched: bitwise the in-order float32 sums, every row and column remainder, nothing written past C', () => {
    const { k, alloc, reset } = bareKernels<Exports>(shared);
    // rows: strips of 6 (6, 9, 10, 11, 16), a strip of 4 after them (10, 11, 16), single rows after them (9, 11)
    for (const m of [1, 3, 4, 5, 6, 9, 10, 11, 16])
      for (const n of [1, 3, 4, 7, 8, 12, 13, 20])
        for (const kk of [1, 6]) {
          reset();
          const batch = 2;
          const a = signedRandoms(batch * m * kk, m * 100 + n * 10 + kk, 2);
          const b = signedRandoms(batch * kk * n, m + n + kk, 2);
          const [aa, ba, c] = [alloc(a), alloc(b), alloc(batch * m * n)];
          k.gemm_batched(aa.offset, ba.offset, c.offset, batch, m, n, kk);
          const expected = new Float32Array(batch * m * n);
          for (let t = 0; t < batch; t++)
            for (let i = 0; i < m; i++)
              for (let j = 0; j < n; j++) {
                let acc = 0;
                for (let q = 0; q < kk; q++) acc = Math.fround(acc + Math.fround(a[t * m * kk + i * kk + q] * b[t * kk * n + q * n + j]));
                expected[t * m * n + i * n + j] = acc;
              }
          assert.ok(sameBits(c.values(), expected), `batch ${batch} x [${m}, ${kk}] x [${kk}, ${n}]`);
          assert.ok(c.guardIntact(), `[${m}, ${kk}] x [${kk}, ${n}]: wrote past C`);
        }
  });

  bare('layer_norm: within float32 noise of a float64 layer norm, every width remainder', () => {
    const { k, alloc, reset } = bareKernels<Exports>(shared);
    for (const cols of [1, 3, 4, 5, 8, 63, 256, 257]) {
      reset();
      const rows = 6;
      const xs = signedRandoms(rows * cols, cols, 4).map((v, i) => v + (i % 3)); // offset rows: a mean to remove
      const g = signedRandoms(cols, 7, 2);
      const b = signedRandoms(cols, 8, 1);
      const [x, ga, ba, out] = [alloc(xs), alloc(g), alloc(b), alloc(rows * cols)];
      k.layer_norm(x.offset, ga.offset, ba.offset, out.offset, rows, cols, 1e-6);
      const v = out.values();
      for (let r = 0; r < rows; r++) {
        const row = Array.from(xs.subarray(r * cols, (r + 1) * cols));
        const mean = row.reduce((a, c) => a + c, 0) / cols;
        const variance = row.reduce((a, c) => a + (c - mean) ** 2, 0) / cols;
        const rstd = 1 / Math.sqrt(variance + 1e-6);
        for (let j = 0; j < cols; j++) {
          const normed = (row[j] - mean) * rstd;
          const e = normed * g[j] + b[j];
          // float32 rounding of the sums, the normalised value, and the scale-and-shift
          const tol = 2 ** -20 * (Math.abs(normed) + 1) * (Math.abs(g[j]) + 1) + 2 ** -22 * Math.abs(b[j]);
          assert.ok(Math.abs(v[r * cols + j] - e) <= tol, `cols ${cols} [${r}, ${j}]: ${v[r * cols + j]} vs ${e}`);
        }
      }
      assert.ok(out.guardIntact(), `cols ${cols}: wrote past the output`);
    }
  });

  bare.run();
}

const onWasm = suite('wasm kernels through tfjs (wasm backend)');
onWasm.before(() => useBackend('wasm'));
onWasm.after(() => setWasmKernelsEnabled(true));

onWasm('active on wasm, off when switched off, never on cpu', async () => {
  assert.ok(wasmKernelsActive());
  setWasmKernelsEnabled(false);
  assert.not.ok(wasmKernelsActive());
  setWasmKernelsEnabled(true);
  await useBackend('cpu');
  assert.not.ok(wasmKernelsActive());
  await useBackend('wasm');
});

onWasm('the layers use the kernels (tf.profile) and agree with the tfjs-op forms', async () => {
  const x = tf.randomNormal([3, 37, 64], 0, 3, 'float32', 5);
  const kernelsOf = async (f: () => tf.Tensor) => (await tf.profile(() => f())).kernels.map((k) => k.name);
  assert.equal(await kernelsOf(() => gelu(x)), ['SamGelu']);
  const ln = new LayerNorm({ numFeatures: 64, eps: 1e-6 });
  ln.apply(x); // builds
  (ln.getWeights()[0] as tf.Variable).assign(tf.randomNormal([64], 1, 0.5, 'float32', 6));
  (ln.getWeights()[1] as tf.Variable).assign(tf.randomNormal([64], 0, 0.5, 'float32', 7));
  assert.ok((await kernelsOf(() => ln.apply(x) as tf.Tensor)).includes('SamLayerNorm'));

  const withKernels = [gelu(x), ln.apply(x) as tf.Tensor];
  setWasmKernelsEnabled(false);
  const withOps = [geluFromFastOps(x), ln.apply(x) as tf.Tensor];
  setWasmKernelsEnabled(true);
  const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
  // Two approximations of the same GELU formula (see activations.test.ts for both against float64).
  assert.ok(maxDiff(withKernels[0], withOps[0]) < 2e-6, `gelu: ${maxDiff(withKernels[0], withOps[0])}`);
  assert.ok(maxDiff(withKernels[1], withOps[1]) < 2e-5, `layer norm: ${maxDiff(withKernels[1], withOps[1])}`);
  tf.dispose([x, ...withKernels, ...withOps]);
  ln.dispose();
});

onWasm('relPosAdd and transpose equal the tfjs ops bitwise; repeated calls leave no tensors', () => {
  const start = tf.memory().numTensors;
  for (let rep = 0; rep < 3; rep++) {
    tf.tidy(() => {
      const s = tf.randomNormal([2, 10, 5 * 6], 0, 1, 'float32', 1);
      const h = tf.randomNormal([20, 5], 0, 1, 'float32', 2);
      const w = tf.randomNormal([20, 6], 0, 1, 'float32', 3);
      const ops = tf.add(tf.add(s.reshape([20, 5, 6]), h.reshape([20, 5, 1])), w.reshape([20, 1, 6])).reshape([2, 10, 30]);
      const kern = relPosAddKernel(s, h, w);
      assert.equal(kern.shape, [2, 10, 30]);
      assert.ok(sameBits(kern.dataSync() as Float32Array, ops.dataSync() as Float32Array));
      const m = tf.randomNormal([37, 11], 0, 1, 'float32', 4) as tf.Tensor2D;
      const t = transpose2dKernel(m);
      assert.equal(t.shape, [11, 37]);
      assert.ok(sameBits(t.dataSync() as Float32Array, m.transpose().dataSync() as Float32Array));
      const m3 = tf.randomNormal([3, 6, 5], 0, 1, 'float32', 5) as tf.Tensor3D;
      const t3 = transpose2dKernel(m3);
      assert.equal(t3.shape, [3, 5, 6]);
      assert.ok(sameBits(t3.dataSync() as Float32Array, m3.transpose([0, 2, 1]).dataSync() as Float32Array));
      // XNNPACK's 2-D matMul sums in the same order here: bitwise equal
      const prod = batchMatMulKernel(m3, t3);
      assert.equal(prod.shape, [3, 6, 6]);
      const perMatrix = tf.stack(tf.unstack(m3).map((x, i) => tf.matMul(x, tf.unstack(t3)[i])));
      assert.ok(sameBits(prod.dataSync() as Float32Array, perMatrix.dataSync() as Float32Array));
      assert.equal(geluKernel(tf.zeros([0])).shape, [0]);
    });
  }
  assert.is(tf.memory().numTensors, start);
});

onWasm('GELU, layer norm and relative-position adds on the helper threads: the values of the same kernels run on pieces below the split size, bit for bit', () => {
  if (gemmHelperThreads() === 0) return; // tfjs-wasm's single-threaded build: nothing is shared
  const start = tf.memory().numTensors;
  // Sizes over the split (2^16 values) that leave partial blocks: GELU's tail of n % 12 values
  // (here 7) stays on the calling thread; rows of 768 and of 14 x 14.
  const x = tf.randomNormal([5 * 24576 + 12 * 31 + 7], 0, 3, 'float32', 21);
  const rowsX = tf.randomNormal([203, 768], 0.2, 2, 'float32', 22);
  const [weight, bias] = [tf.randomNormal([768], 1, 0.3, 'float32', 23), tf.randomNormal([768], 0, 0.3, 'float32', 24)] as tf.Tensor1D[];
  const s = tf.randomNormal([2, 347, 14 * 14], 0, 1, 'float32', 25);
  const [h, w] = [tf.randomNormal([694, 14], 0, 1, 'float32', 26), tf.randomNormal([694, 14], 0, 1, 'float32', 27)];
  const whole = () => [geluKernel(x), layerNormKernel(rowsX, weight, bias, 1e-6), relPosAddKernel(s, h, w)];
  // Each piece is under the split size, so runs on the calling thread alone.
  const byPieces = () =>
    tf.tidy(() => {
      const g = tf.concat(tf.split(x, [61626, 61626, 7]).map((p) => geluKernel(p)));
      const ln = tf.concat(tf.split(rowsX, 7).map((p) => layerNormKernel(p, weight, bias, 1e-6)));
      const sizes = [300, 300, 94];
      const [hs, ws] = [tf.split(h, sizes), tf.split(w, sizes)];
      const rp = tf.concat(tf.split(s.reshape([694, 196]), sizes).map((p, i) => relPosAddKernel(p, hs[i], ws[i])));
      return [g, ln, rp.reshape(s.shape)];
    });
  const expected = byPieces();
  for (const joins of [true, false]) {
    setGemmCallerJoins(joins);
    const before = gemmHelperBlocks();
    let got: tf.Tensor[];
    try {
      got = whole();
    } finally {
      setGemmCallerJoins(true);
    }
    // blocks: GELU 5 + 1 (the last partial), layer norm ceil(203 / 32), adds ceil(694 / 125)
    if (!joins) assert.is(gemmHelperBlocks() - before, 6 + 7 + 6, 'blocks run by the helpers');
    ['GELU', 'layer norm', 'relative-position adds'].forEach((name, i) => {
      assert.equal(got[i].shape, expected[i].shape, name);
      assert.ok(sameBits(got[i].dataSync() as Float32Array, expected[i].dataSync() as Float32Array), `${name}${joins ? '' : ' (helpers only)'} differs from the single-thread kernel`);
    });
    tf.dispose(got);
  }
  tf.dispose([x, rowsX, weight, bias, s, h, w, ...expected]);
  assert.is(tf.memory().numTensors, start, 'tensors leaked');
});

onWasm('adds: addTensors takes the kernel for large float32 adds (same shape or a bias), with the values of tf.add, shared with the helpers; leak-free', async () => {
  const start = tf.memory().numTensors;
  const kernelsOf = async (f: () => tf.Tensor) => {
    const info = await tf.profile(() => f());
    tf.dispose(info.result as tf.Tensor);
    return info.kernels.map((k) => k.name);
  };
  const big = tf.randomNormal([1, 130, 129, 5], 0, 2, 'float32', 31); // 83850 values: over the split, rows of 5
  const same = tf.randomNormal([1, 130, 129, 5], 0, 2, 'float32', 32);
  const bias = tf.randomNormal([5], 0, 2, 'float32', 33);
  const small = tf.randomNormal([7, 5], 0, 2, 'float32', 34);
  const helpers = gemmHelperThreads() > 0;
  assert.equal(await kernelsOf(() => addTensors(big, same)), [helpers ? 'SamAdd' : 'Add']);
  assert.equal(await kernelsOf(() => addTensors(big, bias)), [helpers ? 'SamAdd' : 'Add']);
  assert.equal(await kernelsOf(() => addTensors(small, bias)), ['Add'], 'small adds stay with tfjs');
  for (const joins of [true, false]) {
    setGemmCallerJoins(joins);
    const before = gemmHelperBlocks();
    try {
      for (const [a, b, what] of [[big, same, 'same shape'], [big, bias, 'bias'], [small, bias, 'small bias']] as const) {
        tf.tidy(() => assert.ok(sameBits(addKernel(a, b).dataSync() as Float32Array, tf.add(a, b).dataSync() as Float32Array), `${what}${joins ? '' : ' (helpers only)'}: differs from tf.add`));
      }
    } finally {
      setGemmCallerJoins(true);
    }
    // 16770 rows of 5 in blocks of 4915 rows (24576 values): 4 blocks each for the two large adds
    if (!joins && helpers) assert.is(gemmHelperBlocks() - before, 8, 'blocks run by the helpers');
  }
  tf.tidy(() => {
    assert.throws(() => addKernel(big, tf.zeros([4])), /neither a's shape/);
    assert.throws(() => addKernel(tf.zeros([2, 3]), tf.zeros([3, 2])), /neither a's shape/);
    assert.throws(() => addKernel(tf.zeros([2, 3], 'int32'), tf.zeros([3], 'int32')), /float32/);
  });
  tf.dispose([big, same, bias, small]);
  assert.is(tf.memory().numTensors, start, 'tensors leaked');
});

onWasm('windowPartition / windowUnpartition and the heads\' concat take the copy kernels, with the values of the tfjs ops; leak-free', async () => {
  const start = tf.memory().numTensors;
  for (const [shape, ws] of [[[1, 9, 11, 6], 4], [[2, 8, 8, 3], 4], [[1, 14, 14, 5], 14]] as const) {
    tf.tidy(() => {
      const x = tf.randomNormal([...shape], 0, 1, 'float32', ws) as tf.Tensor4D;
      const mine = windowPartition(x, ws);
      const back = windowUnpartition(mine.windows, ws, mine.paddedHW, [shape[1], shape[2]]);
      setWasmKernelsEnabled(false);
      const ops = windowPartition(x, ws);
      const opsBack = windowUnpartition(ops.windows, ws, ops.paddedHW, [shape[1], shape[2]]);
      setWasmKernelsEnabled(true);
      assert.equal(mine.windows.shape, ops.windows.shape);
      assert.equal(mine.paddedHW, ops.paddedHW);
      assert.ok(sameBits(mine.windows.dataSync() as Float32Array, ops.windows.dataSync() as Float32Array), `${shape} / ${ws}: windows differ`);
      assert.ok(sameBits(back.dataSync() as Float32Array, opsBack.dataSync() as Float32Array) && sameBits(back.dataSync() as Float32Array, x.dataSync() as Float32Array), `${shape} / ${ws}: not back to x`);
      const xs = [3, 1, 5].map((cols, i) => tf.randomNormal([7, cols], 0, 1, 'float32', i) as tf.Tensor2D);
      assert.ok(sameBits(concatColumnsKernel(xs).dataSync() as Float32Array, tf.concat(xs, 1).dataSync() as Float32Array), 'columns differ from tf.concat');
    });
  }
  const x = tf.zeros([1, 9, 11, 6]) as tf.Tensor4D;
  const profiled = await tf.profile(() => tf.tidy(() => windowUnpartition(windowPartition(x, 4).windows, 4, [12, 12], [9, 11])));
  tf.dispose(profiled.result as tf.Tensor);
  const names = profiled.kernelNames;
  assert.ok(names.includes('SamWindowPartition') && names.includes('SamWindowUnpartition'), `kernels: ${names.join(', ')}`);
  x.dispose();
  assert.is(tf.memory().numTensors, start, 'tensors leaked');
});

onWasm('splitAxis0 takes SamSliceRows: each part the rows tf.slice gives, bit for bit; leak-free', async () => {
  const start = tf.memory().numTensors;
  for (const [shape, parts] of [[[6], 3], [[4, 3, 5], 2], [[7, 33, 8], 7], [[5, 2], 1]] as const) {
    tf.tidy(() => {
      const x = tf.randomNormal([...shape], 0, 1, 'float32', parts);
      const got = splitAxis0(x, parts);
      assert.is(got.length, parts);
      const rows = shape[0] / parts;
      got.forEach((part, i) => {
        const want = tf.slice(x, [i * rows, ...shape.slice(1).map(() => 0)], [rows, ...shape.slice(1)]);
        assert.equal(part.shape, want.shape);
        assert.ok(sameBits(part.dataSync() as Float32Array, want.dataSync() as Float32Array), `${shape} / ${parts}: part ${i} differs`);
      });
      // rows from the middle, and none
      const mid = sliceRowsKernel(x, 1, shape[0] - 2);
      assert.ok(sameBits(mid.dataSync() as Float32Array, tf.slice(x, 1, shape[0] - 2).dataSync() as Float32Array), `${shape}: middle rows differ`);
      assert.equal(sliceRowsKernel(x, shape[0], 0).shape, [0, ...shape.slice(1)]);
    });
  }
  const x = tf.zeros([4, 3]);
  const profiled = await tf.profile(() => tf.tidy(() => tf.stack(splitAxis0(x, 2))));
  tf.dispose(profiled.result as tf.Tensor);
  assert.ok(profiled.kernelNames.includes('SamSliceRows'), `kernels: ${profiled.kernelNames.join(', ')}`);
  x.dispose();
  assert.is(tf.memory().numTensors, start, 'tensors leaked');
});

onWasm('wrong shapes and dtypes get clear errors', () => {
  tf.tidy(() => {
    assert.throws(() => relPosAddKernel(tf.zeros([4, 30]), tf.zeros([4, 5]), tf.zeros([4, 5])), /do not match relH/);
    assert.throws(() => layerNormKernel(tf.zeros([2, 8]), tf.zeros([4]), tf.zeros([8]), 1e-6), /need 8 values/);
    assert.throws(() => transpose2dKernel(tf.zeros([2, 3, 4, 5]) as unknown as tf.Tensor2D), /2-D tensor/);
    assert.throws(() => batchMatMulKernel(tf.zeros([2, 3, 4]) as tf.Tensor3D, tf.zeros([2, 5, 4]) as tf.Tensor3D), /do not make a batch/);
    assert.throws(() => geluKernel(tf.zeros([3], 'int32')), /float32/);
    assert.throws(() => windowUnpartitionKernel(tf.zeros([3, 4, 4, 2]) as tf.Tensor4D, 4, [8, 8]), /not the windows of size 4/);
    assert.throws(() => concatColumnsKernel([tf.zeros([3, 2]) as tf.Tensor2D, tf.zeros([4, 2]) as tf.Tensor2D]), /same rows/);
    assert.throws(() => sliceRowsKernel(tf.zeros([3, 2]), 2, 2), /rows \[2, 4\) are not rows of \[3,2\]/);
    assert.throws(() => sliceRowsKernel(tf.zeros([3, 2]), -1, 1), /not rows of/);
    assert.throws(() => sliceRowsKernel(tf.scalar(1), 0, 0), /not rows of/);
    // The kernels check for themselves (a direct runKernel that would write past its output),
    // before they allocate anything
    const [scores, relH, relW, a, b, x, w9, w8] = [[4, 30], [4, 5], [4, 7], [1, 2, 3], [1, 4, 2], [2, 8], [9], [8]].map((s) => tf.zeros(s));
    const start = tf.memory().numTensors;
    assert.throws(() => tf.engine().runKernel('SamRelPosAdd', { scores, relH, relW }), /do not match relH/);
    assert.throws(() => tf.engine().runKernel('SamBatchMatMul', { a, b }), /do not make a batch/);
    assert.throws(() => tf.engine().runKernel('SamLayerNorm', { x, weight: w9, bias: w8 }, { eps: 1e-6 }), /need 8 values/);
    assert.throws(() => tf.engine().runKernel('SamSliceRows', { x }, { begin: 1, size: 2 }), /not rows of/);
    assert.is(tf.memory().numTensors, start, 'no output was allocated');
    tf.fill([1000], 1).dispose(); // the heap is intact
  });
});

onWasm.run();

const configs = suite('parity on the other wasm configurations (child processes)');

/** Runs the parity script on wasm with these environment variables; its output. */
function parityOnWasm(env: Record<string, string>): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'scripts', 'parity.js'), FIXTURES, '--backend', 'wasm'], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 300_000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}`.split('\n').filter((l) => !l.startsWith('function GROWABLE')).join('\n') };
}

configs('tfjs\'s single-threaded build (plain memory, as in browsers without isolation): kernels on, every stage within the bounds', () => {
  const { status, out } = parityOnWasm({ SAM_TFJS_WASM_THREADS: '1' });
  // The stock build (not "threaded SIMD"); its matMul kernel fused or not, as the engine allows.
  assert.match(out, /backend wasm: @tensorflow\/tfjs-backend-wasm( \(matMul kernel, fused multiply-adds\))?; SIMD kernels on/);
  assert.match(out, /all stages within tolerance/);
  assert.is(status, 0, out.slice(-2000));
});

configs('kernels switched off (tfjs ops on wasm, as without SIMD): every stage within the bounds', () => {
  const { status, out } = parityOnWasm({ SAM_TFJS_WASM_KERNELS: '0' });
  assert.match(out, /backend wasm: .*threaded SIMD.*; SIMD kernels off/);
  assert.match(out, /all stages within tolerance/);
  assert.is(status, 0, out.slice(-2000));
});

configs.run();
