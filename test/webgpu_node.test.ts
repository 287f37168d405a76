/**
 * The library on WebGPU in Node, through the optional `webgpu` package (Dawn): backend
 * selection, every parity stage of every fixture case (scripts/parity_lib.ts, same bounds as
 * on cpu / wasm), SamPredictor from the PNG with tensor prompts, modelFingerprint, the
 * layer-norm kernels of src/backends/webgpu_kernels.ts, and the CLI's `--backend webgpu`
 * (the same mask file as with wasm). On
 * this backend a synchronous read throws (tfjs-backend-webgpu reads synchronously through
 * OffscreenCanvas, which Node lacks), so this also checks that those paths read
 * asynchronously.
 *
 * It runs in a child process (test/helpers/webgpu_node_main.ts): the backend is chosen once
 * per process, and Dawn finds its Vulkan driver through the environment. With
 * VK_ICD_FILENAMES or VK_DRIVER_FILES set, that driver is used (a GPU's); otherwise
 * SwiftShader's, which Debian's Chromium ships (the browser tests install Chromium). Without
 * either the test fails and says what to install.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { StageResult } from '../scripts/parity_lib.js';
import { modelFingerprint } from '../src/dataset/fingerprint.js';
import { samConfigFromReferenceJson } from '../src/sam/config.js';
import { samFromCheckpoint } from '../src/sam/load_checkpoint.js';
import { useBackend } from './helpers/backends.js';
import { FIXTURES, fixtureCases, fixturePath, readJson, ROOT } from './helpers/fixtures.js';
import { layerNormProblems, type LayerNormCheck } from './helpers/layer_norm_checks.js';
import { sinCosProblems, type SinCosCheck } from './helpers/sin_cos_checks.js';
import { geluGpuProblems, type GeluGpuCheck } from './helpers/gelu_gpu_checks.js';
import { relPosSoftmaxProblems, type RelPosSoftmaxCheck } from './helpers/rel_pos_softmax_checks.js';
import { batchOfImagesProblems, type BatchOfImagesCheck } from './helpers/batch_of_images_checks.js';

/** SwiftShader's Vulkan driver as Debian's chromium package installs it. */
const SWIFTSHADER_ICD = ['/usr/lib/chromium/vk_swiftshader_icd.json', '/usr/lib/chromium-browser/vk_swiftshader_icd.json'];
/** Measured: 70-75 s on 2 shared cores with SwiftShader (shader compilation and software execution); 217 and 221 s in a later session, ~170 s of it the layer-norm checks on 70000 rows; with those on 2500 rows (layer_norm_checks.ts) the whole file took 83 s. */
const CHILD_TIMEOUT_MS = 400_000;

interface ChildRun {
  code: number | null;
  lines: Array<Record<string, any>>;
  stderr: string;
}

function vulkanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? tmpdir() };
  if (env.VK_ICD_FILENAMES || env.VK_DRIVER_FILES) return env;
  const icd = SWIFTSHADER_ICD.find((p) => existsSync(p));
  if (!icd) {
    throw new Error(
      `no Vulkan driver for Dawn: looked for SwiftShader's (${SWIFTSHADER_ICD.join(', ')}). Install Debian's chromium ` +
        '(`apt-get install -y chromium`, which ships it), or set VK_ICD_FILENAMES to a Vulkan driver\'s ICD file.',
    );
  }
  // Dawn loads the Vulkan loader (libvulkan.so.1) by name; a machine without Debian's
  // libvulkan1 (chromium does not depend on it) has the copy chromium ships beside the driver.
  const dir = dirname(icd);
  const libraryPath = existsSync(join(dir, 'libvulkan.so.1')) ? [dir, env.LD_LIBRARY_PATH].filter(Boolean).join(':') : env.LD_LIBRARY_PATH;
  return { ...env, VK_ICD_FILENAMES: icd, ...(libraryPath ? { LD_LIBRARY_PATH: libraryPath } : {}) };
}

function runChild(): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'dist', 'test', 'helpers', 'webgpu_node_main.js'), FIXTURES], { env: vulkanEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      const lines = stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, any>);
      resolve({ code, lines, stderr });
    });
  });
}

const test = suite('WebGPU in Node (Dawn): parity, predictor and fingerprint');
const ctx: { run?: ChildRun } = {};

test.before(async () => {
  ctx.run = await runChild();
});

const pick = (key: string) => ctx.run!.lines.filter((l) => key in l).map((l) => l[key]);

test('the child process ran to its end on the webgpu backend, provided by Dawn', () => {
  const r = ctx.run!;
  assert.is(r.code, 0, `exit code ${r.code}; stderr:\n${r.stderr.slice(-3000)}`);
  const [choice] = ctx.run!.lines.filter((l) => 'backend' in l);
  assert.is(choice?.backend, 'webgpu');
  assert.match(String(choice?.provider), /Dawn/);
});

test('every parity stage of every fixture case is within its bound', () => {
  const results = pick('parity').flat() as StageResult[];
  const cases = fixtureCases();
  for (const c of cases) assert.ok(results.some((r) => r.caseName === c && r.stage === 'image_embedding'), `no results for case ${c}`);
  const bad = results.filter((r) => !r.ok);
  assert.equal(bad.map((r) => `${r.caseName} ${r.stage}: ${r.maxAbsDiff} > ${r.tolerance}`), []);
  assert.ok(results.length >= 40 * cases.length, `only ${results.length} stages reported`);
});

test('SamPredictor with tensor prompts gives the reference masks and mask logits', () => {
  const [logits] = pick('predictLogits');
  const [masks] = pick('predict');
  assert.ok(logits && masks, 'no predictor results');
  assert.ok(logits.maxAbsDiff <= logits.tolerance, `mask logits differ by ${logits.maxAbsDiff} (bound ${logits.tolerance})`);
  assert.ok(masks.ok, `masks: IoU ${masks.iou}, ${masks.flipped} pixels flipped away from the threshold`);
});

test('modelFingerprint on webgpu equals the one on cpu', async () => {
  const [fp] = pick('fingerprint');
  assert.ok(fp, 'no fingerprint');
  await useBackend('cpu');
  const model = await samFromCheckpoint(fixturePath(fp.caseName, 'model.pth'), { config: samConfigFromReferenceJson(readJson(fp.caseName, 'config.json')) });
  try {
    assert.is(fp.value, await modelFingerprint(model));
  } finally {
    model.dispose();
  }
});

test('LayerNorm runs as one WebGPU kernel, within twice the tfjs-op form\'s error of float64, also past a dispatch dimension\'s workgroups', () => {
  assert.equal(layerNormProblems(pick('layerNorm') as LayerNormCheck[]), []);
});

test('the encodings\' sin and cos run as one WebGPU kernel (SamSinCos), as accurate as the tfjs-op form', () => {
  assert.equal(sinCosProblems(pick('sinCos') as SinCosCheck[]), []);
});

test('GELU runs as one WebGPU kernel (SamGelu), as accurate as the tfjs-op form', () => {
  assert.equal(geluGpuProblems(pick('gelu') as GeluGpuCheck[]), []);
});

test('the encoder\'s attention probabilities with their relative-position terms run as one WebGPU kernel (SamRelPosSoftmax), as accurate as the tfjs-op form', () => {
  assert.equal(relPosSoftmaxProblems(pick('relPosSoftmax') as RelPosSoftmaxCheck[], 'webgpu'), []);
});

test('the encoder\'s attention on a batch of 2 images gives each image\'s values alone (head-major layout, SamRelPosSoftmax over both)', () => {
  assert.equal(batchOfImagesProblems(pick('batchOfImages') as BatchOfImagesCheck[]), []);
});

test('no tensors are left behind', () => {
  assert.equal(pick('tensorsLeft'), [0]);
});

function segment(backend: string, outDir: string): Promise<{ code: number | null; stderr: string }> {
  const caseName = fixtureCases()[0];
  const args = [join(ROOT, 'dist', 'src', 'cli', 'main.js'), 'segment', fixturePath(caseName, 'image.png'), '--model', fixturePath(caseName, 'model.pth'),
    '--config', fixturePath(caseName, 'config.json'), '--backend', backend, '--point', '60,40', '--out', outDir];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: vulkanEnv() });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

test('the CLI with --backend webgpu writes the same mask as with wasm', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sam-tfjs-webgpu-cli-'));
  try {
    for (const backend of ['webgpu', 'wasm']) {
      const r = await segment(backend, join(dir, backend));
      assert.is(r.code, 0, `${backend}: exit ${r.code}\n${r.stderr.slice(-2000)}`);
      if (backend === 'webgpu') assert.match(r.stderr, /on webgpu \(Dawn\)/);
    }
    const [a, b] = ['webgpu', 'wasm'].map((d) => readFileSync(join(dir, d, 'image.mask.png')));
    assert.ok(a.equals(b), 'the mask PNGs differ');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
