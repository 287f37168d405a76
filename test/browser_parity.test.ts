/**
 * Parity with the reference PyTorch SAM on the browser backends: the stages of
 * scripts/parity_lib.ts (preprocessing, the image encoder and its intermediates, dense PE,
 * and for every prompt the prompt encoder, the mask decoder with all its tokens and the
 * selection, the post-processed mask logits and the boolean masks), run by the library's own
 * code in headless Chromium on (1) WebGL and (2) WebGPU, both on SwiftShader (software
 * Vulkan: the same float32 arithmetic on every machine), and (3) wasm as selectBackend starts
 * it (threaded on the cross-origin isolated page, with the SIMD kernels of
 * src/backends/wasm_kernels.ts), for every fixture case (discovered, not named). Each part of the decoder path is also measured on its own, from the
 * reference's inputs. On WebGL and WebGPU the page also checks the layer-norm kernels
 * (test/helpers/layer_norm_checks.ts).
 *
 * The page (test/browser_parity/main.ts, built with Vite) fetches each case folder from a
 * server on 127.0.0.1 that serves the fixtures as they are, loads model.pth with
 * `loadSam({ weights: bytes, config })` and reports every stage's max |difference| to the
 * reference. The bounds are parity_lib's, except for what the GPUs' own sin/cos do to the
 * positional encoding: measured and explained in test/browser_parity/tolerances.ts.
 *
 * By hand, with the table of every stage: `npx tsx test/browser_parity/run.ts --backend webgpu`.
 *
 * Needs Chromium: `apt-get install -y chromium` (or set CHROMIUM_PATH). Without it the test
 * fails and says so. WebGPU is not skipped when Chromium gives no adapter: it fails and says
 * why (with these flags, Chromium 156 gives a SwiftShader adapter headless on Linux).
 */
import { chromium, type Browser } from 'playwright-core';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { formatResults, summarizeResults } from '../scripts/parity_lib.js';
import { cachedBrowserParityPage } from './browser_parity/build.js';
import { CHROMIUM_FLAGS, findChromium, openParityPage, runInPage, startParityServer, withTimeout } from './browser_parity/harness.js';
import type { ParityWindow, RunResult } from './browser_parity/protocol.js';
import { browserTolerances, judge, MIN_MASK_IOU, type BrowserBackend } from './browser_parity/tolerances.js';
import { FIXTURES, fixtureCases } from './helpers/fixtures.js';
import { layerNormProblems } from './helpers/layer_norm_checks.js';
import { sinCosProblems } from './helpers/sin_cos_checks.js';
import { geluGpuProblems } from './helpers/gelu_gpu_checks.js';
import { relPosSoftmaxProblems } from './helpers/rel_pos_softmax_checks.js';
import type { LocalServer } from './helpers/local_server.js';

/** Per backend, for every case (measured: 50-140 s each on 2 shared cores; shader compilation and SwiftShader's execution). */
const RUN_TIMEOUT_MS = 300_000;
const BACKENDS: BrowserBackend[] = ['webgl', 'webgpu', 'wasm'];

const ctx: {
  setupError?: Error;
  executablePath?: string;
  server?: LocalServer;
  browsers: Browser[];
  runs: Map<BrowserBackend, Promise<RunResult>>;
  cases: string[];
  log: string[];
} = { browsers: [], runs: new Map(), cases: [], log: [] };

const test = suite('browser parity with the reference (Chromium: WebGL and WebGPU on SwiftShader, wasm)');

test.before(async () => {
  const t0 = Date.now();
  try {
    ctx.executablePath = findChromium();
    ctx.cases = fixtureCases();
    if (ctx.cases.length === 0) throw new Error(`no case folders in ${FIXTURES}`);
    const site = await withTimeout(cachedBrowserParityPage('error'), 180_000, () => 'vite build of the browser parity page');
    ctx.server = await startParityServer(site.dir, FIXTURES, ctx.cases);
    ctx.log.push(`setup ${((Date.now() - t0) / 1000).toFixed(1)} s (${site.cached ? 'page built earlier from the same sources' : 'vite build of the page'}); cases ${ctx.cases.join(', ')}`);
  } catch (e) {
    ctx.setupError = e as Error;
  }
});

test.after(async () => {
  // Whatever a failed test left running ends here: both runs, then the browsers and the server.
  await Promise.allSettled(ctx.runs.values());
  await Promise.allSettled(ctx.browsers.map((b) => b.close()));
  await ctx.server?.close().catch(() => {});
  if (ctx.log.length) console.log(`\n  browser parity:\n    ${ctx.log.join('\n    ')}`);
});

/**
 * One backend, every case, in a Chromium of its own: a browser's GPU work (WebGL's and
 * WebGPU's alike) runs in its one GPU process, so two browsers let the two backends' shader
 * compilation and SwiftShader execution share the machine's cores (measured: 20-25% less wall
 * time than one after the other on 2 cores).
 */
async function runBackend(backend: BrowserBackend): Promise<RunResult> {
  const browser = await withTimeout(
    chromium.launch({ executablePath: ctx.executablePath, headless: true, args: CHROMIUM_FLAGS, timeout: 60_000 }),
    90_000,
    () => `starting Chromium for ${backend}`,
  );
  ctx.browsers.push(browser);
  const page = await openParityPage(browser, ctx.server!.url);
  try {
    if (backend === 'webgpu') {
      // Not a skip: this Chromium gives a SwiftShader adapter with these flags, and WebGPU is
      // one of the backends the parity requirement names. No adapter is a failure, with the reason.
      const probe = await page.evaluate(() => (window as unknown as ParityWindow).samParity!.probeWebGpu());
      if (!probe.ok) throw new Error(`WebGPU cannot run in Chromium ${browser.version()} (flags: ${CHROMIUM_FLAGS.join(' ')}): ${probe.detail}`);
    }
    const t0 = Date.now();
    const out = await runInPage(page, { backend, flags: {}, cases: ctx.cases.map((name) => ({ name, tolerances: browserTolerances(backend, name) })) }, RUN_TIMEOUT_MS);
    const times = out.timings.map((c) => `${c.caseName}: load ${(c.loadMs / 1000).toFixed(1)} s, encoder ${(c.encoderMs / 1000).toFixed(1)} s, prompts ${(c.promptsMs / 1000).toFixed(1)} s`);
    ctx.log.push(`${backend}: ${((Date.now() - t0) / 1000).toFixed(1)} s in Chromium ${browser.version()} (${times.join('; ')})`);
    ctx.log.push(`${backend}: ${out.backend.detail}; sin/cos kernel max error ${out.backend.sinCos.withinPi.toExponential(2)} on [-pi, pi], ${out.backend.sinCos.upTo32.toExponential(2)} on [-32, 32]; flags ${JSON.stringify(out.backend.flags)}`);
    return out;
  } finally {
    await page.close().catch(() => {});
  }
}

/** The run of `backend`; the first call starts both (concurrently). */
function resultOf(backend: BrowserBackend): Promise<RunResult> {
  if (ctx.setupError) throw ctx.setupError;
  if (ctx.runs.size === 0) {
    for (const b of BACKENDS) {
      const p = runBackend(b);
      p.catch(() => {}); // awaited by its own test; no unhandled rejection while the other test runs
      ctx.runs.set(b, p);
    }
  }
  return ctx.runs.get(backend)!;
}

function check(backend: BrowserBackend, out: RunResult): void {
  assert.is(out.backend.backend, backend);
  ctx.log.push(...summarizeResults(backend, out.results).split('\n'));
  for (const c of ctx.cases) {
    const n = out.results.filter((r) => r.caseName === c).length;
    assert.ok(n > 20, `${backend} ${c}: only ${n} stages ran`);
  }
  const { failed, explained } = judge(out.results);
  if (explained.length) {
    const masks = explained.filter((r) => r.kind === 'masks');
    const worst = (kind: string) => Math.max(0, ...explained.filter((r) => r.kind === kind).map((r) => r.maxAbsDiff / r.tolerance));
    ctx.log.push(
      `${backend}: ${explained.length} stages take this backend's own PE, which is off by its sin/cos (see tolerances.ts): up to ` +
        `${worst('lowResLogits').toFixed(0)}x the logit bound, ${worst('iouPredictions').toFixed(0)}x the IoU-prediction bound; ` +
        `masks min IoU ${Math.min(...masks.map((r) => r.iou ?? 0)).toFixed(5)} (>= ${MIN_MASK_IOU} required), ${masks.reduce((a, r) => a + (r.flipped ?? 0), 0)} pixels flipped in all`,
    );
  }
  assert.is(failed.length, 0, `out of tolerance on ${backend}:\n${formatResults(backend, failed)}`);
}

test('WebGL (SwiftShader): every stage of every case within tolerance', async () => {
  const out = await resultOf('webgl');
  check('webgl', out);
  assert.match(out.backend.detail, /SwiftShader/i, `WebGL does not run on SwiftShader: ${out.backend.detail}`);
  // SwiftShader renders to float32 textures; float16 ones would not meet any of the bounds.
  assert.is(out.backend.flags.WEBGL_RENDER_FLOAT32_ENABLED, true, 'WebGL renders to float16 textures here, not float32');
});

test('WebGL and WebGPU: LayerNorm runs as one kernel call, within twice the tfjs-op form\'s error of float64', async () => {
  for (const backend of ['webgl', 'webgpu'] as const) {
    const out = await resultOf(backend);
    assert.ok(out.backend.layerNorm, `${backend}: no layer-norm results`);
    assert.equal(layerNormProblems(out.backend.layerNorm!), [], `${backend}: layer norm`);
  }
});

test('WebGL and WebGPU: the encodings\' sin and cos run as one SamSinCos call, as accurate as the tfjs-op form', async () => {
  for (const backend of ['webgl', 'webgpu'] as const) {
    const out = await resultOf(backend);
    assert.ok(out.backend.sinCosKernel, `${backend}: no sin/cos results`);
    assert.equal(sinCosProblems(out.backend.sinCosKernel!), [], `${backend}: SamSinCos`);
  }
});

test('WebGL and WebGPU: GELU runs as one SamGelu call, as accurate as the tfjs-op form', async () => {
  for (const backend of ['webgl', 'webgpu'] as const) {
    const out = await resultOf(backend);
    assert.ok(out.backend.geluKernel, `${backend}: no GELU results`);
    assert.equal(geluGpuProblems(out.backend.geluKernel!), [], `${backend}: SamGelu`);
  }
});

test('WebGL and WebGPU: the encoder\'s attention probabilities with their relative-position terms run as one SamRelPosSoftmax call, as accurate as the tfjs-op form', async () => {
  for (const backend of ['webgl', 'webgpu'] as const) {
    const out = await resultOf(backend);
    assert.ok(out.backend.relPosSoftmaxKernel, `${backend}: no SamRelPosSoftmax results`);
    assert.equal(relPosSoftmaxProblems(out.backend.relPosSoftmaxKernel!, backend), [], `${backend}: SamRelPosSoftmax`);
  }
});

test('WebGPU (SwiftShader): every stage of every case within tolerance', async () => {
  const out = await resultOf('webgpu');
  check('webgpu', out);
  assert.match(out.backend.detail, /swiftshader/i, `WebGPU does not run on SwiftShader: ${out.backend.detail}`);
});

test('wasm (threaded, SIMD kernels, as selectBackend starts it): every stage of every case within tolerance', async () => {
  const out = await resultOf('wasm');
  check('wasm', out);
  // the parity server makes the page cross-origin isolated: tfjs-wasm runs threaded, and the kernels run
  assert.match(out.backend.detail, /\(\d+ threads?\) · SIMD kernels on/, `wasm did not start threaded with the kernels: ${out.backend.detail}`);
});

test.run();
