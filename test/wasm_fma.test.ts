/**
 * The wasm matMul kernel with fused multiply-adds (relaxed SIMD; SAM_TFJS_WASM_FMA, see
 * src/backends/simd_common.ts). The rest of the suite runs the kernel unfused, checked bit for
 * bit against tfjs-wasm (test/helpers/backends.ts); here a process of its own starts the wasm
 * backend with SAM_TFJS_WASM_FMA=1 (test/helpers/wasm_fma_child.ts) and reports:
 * - the matMul kernels' products (SamMatMul, SamBatchMatMul) against fused in-order sums
 *   computed in JavaScript, bit for bit, split over the helper threads and not;
 * - SamAttention bit for bit its three kernels (its products with rows packed, as the fused
 *   kernel packs them);
 * - parity with the reference on every fixture case with every product the kernel can take
 *   sent through it (the global attention through SamAttention), within the parity suite's tolerances.
 * The JavaScript reference (helpers/fma.ts) is checked first on values a twice-rounded sum gets wrong.
 * Fresh processes also check the default: selectBackend('wasm') turns relaxed SIMD on (in
 * Node 20 through V8's flag) unless SAM_TFJS_WASM_FMA=0, which leaves V8 as it is.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fmaVariant } from '../scripts/build_wasm_kernels.js';
import { readFileSync } from 'node:fs';
import { fmaf32 } from './helpers/fma.js';
import { FIXTURES, fixtureCases, ROOT } from './helpers/fixtures.js';
import type { FmaChildReport } from './helpers/wasm_fma_child.js';

const test = suite('fused multiply-adds in the wasm matMul kernel');

test('the JavaScript reference rounds a * b + c once', () => {
  const x = 1 + 2 ** -12; // x * x = 1 + 2^-11 + 2^-24 exactly
  assert.is(fmaf32(x, x, -(1 + 2 ** -11)), 2 ** -24);
  assert.is(Math.fround(Math.fround(x * x) - (1 + 2 ** -11)), 0, 'premise: the product rounded first loses 2^-24');
  // 1 + 2^-11 + 2^-24 + 2^-60: just above a float32 midpoint, so it rounds up. Through a
  // double it lands on the midpoint itself and then rounds to even (down).
  assert.is(fmaf32(x, x, 2 ** -60), 1 + 2 ** -11 + 2 ** -23);
  assert.is(Math.fround(x * x + 2 ** -60), 1 + 2 ** -11, 'premise: rounding through a double gets this one wrong');
  assert.is(fmaf32(-x, x, -(2 ** -60)), -(1 + 2 ** -11 + 2 ** -23));
  assert.is(fmaf32(3, 0.5, 0.25), 1.75);
  assert.is(fmaf32(2 ** 100, 2 ** 100, 1), Infinity);
});

test('the fused variant changes only the products\' accumulations and the polynomial steps of GELU and softmax\'s exp', () => {
  const wat = readFileSync(join(ROOT, 'src/backends/wasm_simd/kernels.wat'), 'utf8');
  const fused = fmaVariant(wat);
  assert.is((fused.match(/f32x4\.relaxed_madd/g) ?? []).length, 83 + 33 + 6 + 12);
  const unfused = fused
    .replace(/\(f32x4\.relaxed_madd (\(local\.get \$\w+\)) (\(local\.get \$\w+\)|\(v128\.const f32x4 [^)]+\)) (\(v128\.const f32x4 [^)]+\))\)/g, '(f32x4.add (f32x4.mul $1 $2) $3)')
    .replace(/\(f32x4\.relaxed_madd \(local\.get \$s\) (\(local\.get \$b\d\)|\(v128\.load offset=\d+ \(local\.get \$p\)\)) \(local\.get (\$c\d\d)\)\)/g, '(f32x4.add (local.get $2) (f32x4.mul (local.get $s) $1))')
    .replace(
      /\(f32x4\.extract_lane 0 \(f32x4\.relaxed_madd \(f32x4\.splat (\(f32\.load \(local\.get \$pa\)\))\) \(f32x4\.splat (\(f32\.load \(local\.get \$pb\)\))\) \(f32x4\.splat \(local\.get \$acc\)\)\)\)/g,
      '(f32.add (local.get $acc) (f32.mul $1 $2))',
    );
  assert.is(unfused, wat, 'something besides the accumulations and the polynomial steps changed');
  const panel1x8 = wat.indexOf('(func $panel1x8');
  const broken = wat.slice(0, panel1x8) + wat.slice(panel1x8).replace('(f32x4.add (local.get $c01)', '(f32x4.sub (local.get $c01)');
  assert.throws(() => fmaVariant(broken), /expected 83 accumulations/);
  const gelu = wat.indexOf('(func $gelu12');
  const brokenGelu = wat.slice(0, gelu) + wat.slice(gelu).replace('(f32x4.add (f32x4.mul (local.get $p1) (local.get $t1))', '(f32x4.sub (f32x4.mul (local.get $p1) (local.get $t1))');
  assert.throws(() => fmaVariant(brokenGelu), /expected 33 polynomial steps in \$gelu12/);
  const softmax = wat.indexOf('(func (export "softmax_rows")');
  const brokenSoftmax = wat.slice(0, softmax) + wat.slice(softmax).replace('(f32x4.add (f32x4.mul (local.get $q) (local.get $r))', '(f32x4.sub (f32x4.mul (local.get $q) (local.get $r))');
  assert.throws(() => fmaVariant(brokenSoftmax), /expected 12 polynomial steps in softmax_rows/);
});

/**
 * This process's environment less the settings that change the wasm setup (threads, helper
 * threads, the kernels): the children below check the default setup, whatever the suite runs with.
 */
function defaultWasmEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const v of ['SAM_TFJS_WASM_THREADS', 'SAM_TFJS_GEMM_THREADS', 'SAM_TFJS_WASM_KERNELS']) delete env[v];
  return env;
}

/** In a fresh process with this SAM_TFJS_WASM_FMA (unset: the default 'auto'), what selectBackend('wasm') leaves. */
function fmaDefaults(env: string | undefined): { relaxedBefore: boolean; relaxedAfter: boolean; fused: boolean; fuses: boolean; provider: string } {
  const script = `
    import { selectBackend } from './dist/src/backend.js';
    import { relaxedSimdAvailable, relaxedMaddFuses, wasmMatMulFused } from './dist/src/backends/wasm_kernels.js';
    const relaxedBefore = relaxedSimdAvailable();
    const { provider } = await selectBackend('wasm');
    console.log(JSON.stringify({ relaxedBefore, relaxedAfter: relaxedSimdAvailable(), fused: wasmMatMulFused(), fuses: relaxedMaddFuses(), provider }));`;
  const childEnv = defaultWasmEnv();
  delete childEnv.SAM_TFJS_WASM_FMA;
  if (env !== undefined) childEnv.SAM_TFJS_WASM_FMA = env;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, env: childEnv, encoding: 'utf8', timeout: 120_000 });
  assert.is(r.status, 0, `the child process failed (${r.signal ?? r.status}):\n${r.stderr.slice(-3000)}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
}

test('by default (auto) selectBackend turns relaxed SIMD on, in Node 20 through V8\'s flag; SAM_TFJS_WASM_FMA=0 leaves the engine as it is', () => {
  const auto = fmaDefaults(undefined);
  assert.ok(auto.relaxedAfter, `relaxed SIMD is not on after selectBackend('wasm') in Node ${process.version}`);
  assert.is(auto.fused, auto.fuses, 'the kernels in use are not the fused variant on a CPU that fuses');
  assert.is(/fused multiply-adds/.test(auto.provider), auto.fuses, `provider: ${auto.provider}`);
  const off = fmaDefaults('0');
  assert.is(off.fused, false, 'SAM_TFJS_WASM_FMA=0 still fused');
  assert.is(off.relaxedAfter, off.relaxedBefore, 'SAM_TFJS_WASM_FMA=0 changed V8\'s flags');
  assert.not.match(off.provider, /fused/);
});

test('in a process with SAM_TFJS_WASM_FMA=1: fused in-order sums bit for bit, and parity on every fixture case', () => {
  const child = join(ROOT, 'dist/test/helpers/wasm_fma_child.js');
  const r = spawnSync(process.execPath, [child], {
    cwd: ROOT,
    env: { ...defaultWasmEnv(), SAM_TFJS_WASM_FMA: '1', SAM_FIXTURES: FIXTURES },
    encoding: 'utf8',
    timeout: 300_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  assert.is(r.status, 0, `the child process failed (${r.signal ?? r.status}):\n${r.stderr.slice(-3000)}`);
  const report = JSON.parse(last) as FmaChildReport;
  assert.ok(report.relaxedSimd, `relaxed SIMD could not be turned on in Node ${process.version}`);
  assert.ok(report.helpers >= 1, 'no helper thread started');
  assert.is(report.kernelFused, report.fuses, 'the kernel in use is not the fused variant');
  if (report.fuses) {
    assert.match(report.provider, /fused multiply-adds/);
    assert.ok(report.differsFromTfjs, 'fused sums equal to tfjs-wasm\'s on every product: the fused kernel did not run');
  }
  assert.is(report.productsChecked, 48 + 4 + 6);
  // The fused kernel packs rows of A (6-row tiles) for 32 columns or more: two threads' areas of
  // 60 rows of the deepest product packed (k = 256).
  if (report.fuses) assert.ok(report.packedRowsScratch >= 2 * 60 * 256 * 4, `packed rows' scratch: ${report.packedRowsScratch} bytes`);
  assert.equal(report.productMismatches, [], `products that differ from the in-order ${report.fuses ? 'fused' : ''} sums`);
  assert.is(report.attentionChecked, 6);
  assert.equal(report.attentionMismatches, [], 'SamAttention differs from its three kernels');
  // With the calling thread out: 300 and 1029 rows in 60-row blocks (5 and 18), 3 products
  // each (the smaller products are not split), 25 products of the batch, and the head scores
  // of 4096 rows in blocks of floor(12 * 2048 / 56) = 438 rows (10).
  assert.is(report.helperBlocks, 3 * (5 + 18) + 25 + 10, 'blocks the helpers ran');
  const cases = fixtureCases();
  assert.is(report.parity.length, cases.length);
  for (const p of report.parity) {
    assert.ok(p.stages > 20, `${p.caseName}: only ${p.stages} stages ran`);
    assert.is(p.failed, '', `${p.caseName}: out of tolerance with the fused kernel:\n${p.failed}`);
    assert.ok(p.kernelCalls > 10, `${p.caseName}: SamMatMul ran ${p.kernelCalls} times`);
    assert.ok(p.attentionCalls > 0, `${p.caseName}: the global attention did not take SamAttention`);
  }
  // GELU's fused variant: within 2x the Erf form's error of float64 GELU, as the plain one (activations.test.ts).
  assert.ok(report.gelu.kernelRan, 'the GELU kernel did not run');
  const geluNoise = Math.max(report.gelu.erfFormError, 2 ** -23);
  assert.ok(report.gelu.kernelError <= 2 * geluNoise, `fused GELU error ${report.gelu.kernelError.toExponential(2)} > 2 x Erf-form error ${geluNoise.toExponential(2)}`);
  // Softmax with its exp's steps fused: within 2x the plain variant's error of float64 softmax
  // on the same values (as GELU above); the 4-rows-at-a-time path still equals the one-row path.
  assert.is(report.softmax.rowsChecked, 9 + 6 + 40 + 13 + 8 + 7 + 5);
  const softmaxNoise = Math.max(report.softmax.plainError, 2 ** -24);
  assert.ok(report.softmax.kernelError <= 2 * softmaxNoise, `fused softmax error ${report.softmax.kernelError.toExponential(2)} > 2 x the plain variant's ${softmaxNoise.toExponential(2)}`);
  assert.equal(report.softmax.shortPathMismatches, [], 'rows of 5 to 8 values 4 at a time differ from the one-row path');
  assert.is(report.leakedTensors, 0, 'tensors leaked');
});

test.run();
