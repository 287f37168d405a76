/**
 * The mask post-processing's helper threads (src/sam/mask_rows_workers_node.ts): with them,
 * masks are byte for byte those of JavaScript alone (SIMD off) for smooth, noisy and
 * edge-valued logits and several thresholds; the helpers really take blocks of the
 * computed pixels; the shared memory grows for a larger mask; stopped, masks are made on
 * the calling thread again (the same masks).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { setWasmKernelsEnabled } from '../src/backends/wasm_kernels.js';
import { maskRowsSimd } from '../src/sam/mask_rows_simd.js';
import { maskRowHelperBlocks, startMaskRowHelpers, stopMaskRowHelpers } from '../src/sam/mask_rows_workers_node.js';
import { upscaleMasks } from '../src/sam/postprocess_js.js';
import { seeded } from './helpers/random.js';

const test = suite('mask post-processing on helper threads');

function fields(lh: number, lw: number, seed: number): Float32Array {
  const rand = seeded(seed);
  const n = lh * lw;
  const smooth = Array.from({ length: n }, (_, i) => 8 * (1 - Math.hypot(Math.floor(i / lw) - lh / 2, (i % lw) - lw / 3) / (lh / 3)));
  const noisy = Array.from({ length: n }, () => 8 * (rand() - 0.5));
  const edges = noisy.map((v, i) => (i % 97 === 0 ? [NaN, Infinity, -Infinity, 0, -0, 1e-40][(i / 97) % 6] : v));
  return Float32Array.from([...smooth, ...noisy, ...edges]);
}

function jsMasks(low: Float32Array, sh: Shape, threshold: number): Uint8Array[] {
  setWasmKernelsEnabled(false);
  try {
    return upscaleMasks(low, 3, sh.low, sh.input, sh.original, sh.s, threshold, false).masks;
  } finally {
    setWasmKernelsEnabled(true);
  }
}

interface Shape {
  low: [number, number];
  s: number;
  input: [number, number];
  original: [number, number];
}

const shapes: Shape[] = [
  { low: [64, 64], s: 256, input: [171, 256], original: [375, 563] },
  { low: [16, 16], s: 64, input: [64, 37], original: [181, 101] },
  { low: [32, 32], s: 128, input: [128, 128], original: [700, 900] },
];

test('started: the helpers run blocks, and masks are those of JavaScript byte for byte', async () => {
  stopMaskRowHelpers(); // (an earlier selectBackend in this process may have started some)
  assert.is(await startMaskRowHelpers(2), 2);
  assert.ok(maskRowsSimd()?.helpers, 'masks use the instance with helpers');
  const before = maskRowHelperBlocks();
  for (const sh of shapes) {
    const low = fields(sh.low[0], sh.low[1], sh.original[0]);
    for (const threshold of [0, 0.5, -1e-50, 3.3]) {
      const got = upscaleMasks(low, 3, sh.low, sh.input, sh.original, sh.s, threshold, false).masks;
      const want = jsMasks(low, sh, threshold);
      for (let k = 0; k < 3; k++) {
        const a = got[k];
        const b = want[k];
        assert.is(a.length, b.length);
        for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) assert.unreachable(`${sh.original}, threshold ${threshold}: mask ${k} pixel ${i} is ${a[i]}, JavaScript's ${b[i]}`);
      }
    }
  }
  assert.ok(maskRowHelperBlocks() > before, 'the helpers took no blocks');
});

test('a larger mask after smaller ones (the shared memory grows), and earlier masks stay as they were', () => {
  const small = shapes[1];
  const large: Shape = { low: [64, 64], s: 256, input: [256, 200], original: [1400, 1100] };
  const lowSmall = fields(small.low[0], small.low[1], 1);
  const lowLarge = fields(large.low[0], large.low[1], 2);
  const first = upscaleMasks(lowSmall, 3, small.low, small.input, small.original, small.s, 0, false).masks;
  const copy = first.map((m) => m.slice());
  const got = upscaleMasks(lowLarge, 3, large.low, large.input, large.original, large.s, 0, false).masks;
  const want = jsMasks(lowLarge, large, 0);
  for (let k = 0; k < 3; k++) assert.ok(got[k].every((v, i) => v === want[k][i]), `large mask ${k} differs`);
  for (let k = 0; k < 3; k++) assert.ok(first[k].every((v, i) => v === copy[k][i]), `an earlier mask ${k} changed`);
});

test('stopped: masks are made on the calling thread, the same ones', () => {
  stopMaskRowHelpers();
  assert.not.ok(maskRowsSimd()?.helpers, 'back to the instance without helpers');
  const sh = shapes[0];
  const low = fields(sh.low[0], sh.low[1], 5);
  const before = maskRowHelperBlocks();
  const got = upscaleMasks(low, 3, sh.low, sh.input, sh.original, sh.s, 0, false).masks;
  const want = jsMasks(low, sh, 0);
  for (let k = 0; k < 3; k++) assert.ok(got[k].every((v, i) => v === want[k][i]), `mask ${k} differs`);
  assert.is(before, 0, 'no helpers counted once stopped');
});

test('SAM_TFJS_MASK_THREADS=0 starts none', async () => {
  const saved = process.env.SAM_TFJS_MASK_THREADS;
  process.env.SAM_TFJS_MASK_THREADS = '0';
  try {
    assert.is(await startMaskRowHelpers(), 0);
    assert.not.ok(maskRowsSimd()?.helpers);
  } finally {
    if (saved === undefined) delete process.env.SAM_TFJS_MASK_THREADS;
    else process.env.SAM_TFJS_MASK_THREADS = saved;
  }
});

test.run();
