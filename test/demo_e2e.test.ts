/**
 * The browser demo, end to end, in a real Chromium (Debian's `chromium`, driven by
 * playwright-core, headless, WebGL on SwiftShader): the test builds the page with Vite,
 * serves it on 127.0.0.1 with the tiny random fixture model, loads it, waits for the image
 * embedding computed on WebGL in the page's worker, then clicks, hovers, shift-clicks and
 * drags a box like a user, reads back the mask the page painted, and checks each against
 * the mask the library computes in Node (cpu backend) for the same image and prompt
 * (pixel IoU >= 0.99). It also exports the mask as PNG, runs "segment everything", and loads
 * an embedding computed in Node into a second page. Screenshots go to test-artifacts/.
 *
 * Needs Chromium: `apt-get install -y chromium` (or set CHROMIUM_PATH). Without it the test
 * fails and says so.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Jimp } from 'jimp';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildDemo } from '../demo/node/build.js';
import { ROOT } from '../demo/node/paths.js';
import { startDemoServer, type DemoServer } from '../demo/node/server.js';
import { SamAutomaticMaskGenerator } from '../src/sam/automatic_mask_generator.js';
import { samConfigFromReferenceJson } from '../src/sam/config.js';
import { encodeImageEmbedding } from '../src/sam/embedding.js';
import { samFromCheckpoint } from '../src/sam/load_checkpoint.js';
import { SamPredictor } from '../src/sam/predictor.js';
import type { SamModel } from '../src/sam/sam_model.js';
import { useBackend } from './helpers/backends.js';
import { FIXTURES, fixturePath, readJson } from './helpers/fixtures.js';

const CASE = 'tiny-a';
const CHROMIUM_CANDIDATES = process.env.CHROMIUM_PATH ? [process.env.CHROMIUM_PATH] : ['/usr/bin/chromium', '/usr/bin/chromium-browser'];
/** Headless Chromium with WebGL on SwiftShader (software). GPU compositing is off: on a
 * 2-core machine, compositing the page through SwiftShader competes with WebGL's shader
 * compilation and makes the first encoder run 5x slower; WebGL itself stays on SwiftShader. */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--disable-gpu-compositing',
];
const ARTIFACTS = join(ROOT, 'test-artifacts');
const MIN_IOU = 0.99;

type Point = { x: number; y: number; label: 0 | 1 };
type Box = [number, number, number, number];
type Painted =
  | { kind: 'none' }
  | { kind: 'result' | 'preview'; points: Point[]; box: Box | null; candidate: number; seq: number }
  | { kind: 'everything'; count: number; seq: number };

interface DemoWindow {
  samDemo: {
    state: string;
    backend: string | null;
    backendDetail: string | null;
    model: { test: boolean; fromCache: boolean } | null;
    image: { width: number; height: number; placeholder: boolean } | null;
    committed: number;
    result: { points: Point[]; box: Box | null; scores: number[]; selected: number } | null;
    painted: Painted;
    timings: { encode: number[]; warmup: number | null; decode: number[]; latency: number[]; embeddingLoad: number | null; everything: { ms: number; count: number } | null };
    maskLayerBits(): string;
    imageToClient(x: number, y: number): { x: number; y: number };
  };
}

const ctx: {
  setupError?: Error;
  tmp?: string;
  profile?: string;
  server?: DemoServer;
  browser?: BrowserContext;
  page?: Page;
  model?: SamModel;
  predictor?: SamPredictor;
  log: string[];
} = { log: [] };

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, fail) => {
      timer = setTimeout(() => fail(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
    }),
  ]);
}

function findChromium(): string {
  const found = CHROMIUM_CANDIDATES.find((p) => existsSync(p));
  if (!found) {
    throw new Error(
      `Chromium is not installed (looked for ${CHROMIUM_CANDIDATES.join(', ')}). The browser demo test needs it: ` +
        'install it with `apt-get install -y chromium` (Debian; CI does this in .ci/run), or set CHROMIUM_PATH to a Chromium binary.',
    );
  }
  return found;
}

const demo = (page: Page) => page.evaluate(() => {
  const d = (window as unknown as DemoWindow).samDemo;
  return { state: d.state, backend: d.backend, backendDetail: d.backendDetail, model: d.model, image: d.image, committed: d.committed, result: d.result, painted: d.painted, timings: d.timings };
});

/** Waits for the page to be ready (or fails with its state and any error it showed). */
async function waitReady(page: Page, timeout: number): Promise<void> {
  try {
    await page.waitForFunction(() => ['ready', 'error'].includes((window as unknown as DemoWindow).samDemo?.state), null, { timeout });
  } catch (e) {
    const s = await page.evaluate(() => ({ state: (window as unknown as DemoWindow).samDemo?.state, toast: document.getElementById('toast')?.textContent, note: document.getElementById('model-note')?.textContent }));
    throw new Error(`the page did not get ready within ${timeout / 1000} s: ${JSON.stringify(s)} (${(e as Error).message.split('\n')[0]})`);
  }
  const s = await page.evaluate(() => ({ state: (window as unknown as DemoWindow).samDemo.state, toast: document.getElementById('toast')?.textContent, note: document.getElementById('model-note')?.textContent }));
  if (s.state !== 'ready') throw new Error(`the page reports an error: ${JSON.stringify(s)}`);
}

/** The mask layer as painted in the page: 1 byte per pixel. */
async function readMaskLayer(page: Page): Promise<Uint8Array> {
  const b64 = await page.evaluate(() => (window as unknown as DemoWindow).samDemo.maskLayerBits());
  return new Uint8Array(Buffer.from(b64, 'base64'));
}

function iou(a: ArrayLike<number>, b: ArrayLike<number>): { iou: number; areaA: number; areaB: number } {
  assert.is(a.length, b.length, 'mask sizes differ');
  let inter = 0;
  let union = 0;
  let areaA = 0;
  let areaB = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ? 1 : 0;
    const y = b[i] ? 1 : 0;
    areaA += x;
    areaB += y;
    inter += x & y;
    union += x | y;
  }
  return { iou: union === 0 ? 1 : inter / union, areaA, areaB };
}

/** The library's mask in Node for what the page says it painted. */
async function nodeMask(p: Extract<Painted, { points: Point[] }>): Promise<{ data: Uint8Array; scores: number[]; best: number }> {
  const out = await ctx.predictor!.predict({
    pointCoords: p.points.length ? p.points.map((q) => [q.x, q.y]) : undefined,
    pointLabels: p.points.length ? p.points.map((q) => q.label) : undefined,
    box: p.box ?? undefined,
    multimaskOutput: true,
  });
  const best = out.scores.indexOf(Math.max(...out.scores));
  return { data: out.masks[p.candidate < 0 ? best : p.candidate].data, scores: out.scores, best };
}

/** Compares what the page shows now with Node's mask for the same prompt. */
async function expectPageMatchesNode(page: Page, what: string, kind: 'result' | 'preview'): Promise<number> {
  const painted = (await demo(page)).painted;
  assert.is(painted.kind, kind, `${what}: the page shows ${painted.kind}, expected ${kind}`);
  const layer = await readMaskLayer(page);
  const again = (await demo(page)).painted;
  assert.equal(again, painted, `${what}: the mask changed while it was read`);
  const ref = await nodeMask(painted as Extract<Painted, { points: Point[] }>);
  const r = iou(layer, ref.data);
  ctx.log.push(`${what}: IoU ${r.iou.toFixed(4)} (page ${r.areaA} px, node ${r.areaB} px)`);
  assert.ok(r.areaB > 100, `${what}: Node's mask is nearly empty (${r.areaB} px); the prompt is not a useful check`);
  assert.ok(r.iou >= MIN_IOU, `${what}: page mask vs Node mask IoU ${r.iou.toFixed(4)} < ${MIN_IOU} (page ${r.areaA} px, node ${r.areaB} px)`);
  return r.iou;
}

async function clientOf(page: Page, x: number, y: number): Promise<{ x: number; y: number }> {
  return page.evaluate(([px, py]) => (window as unknown as DemoWindow).samDemo.imageToClient(px, py), [x, y] as const);
}

async function waitCommitted(page: Page, count: number): Promise<void> {
  await page.waitForFunction((n) => (window as unknown as DemoWindow).samDemo.committed >= n && (window as unknown as DemoWindow).samDemo.painted.kind === 'result', count, { timeout: 30_000 });
}

const test = suite('browser demo end to end (Chromium, WebGL on SwiftShader)');

test.before(async () => {
  try {
    const executablePath = findChromium();
    ctx.tmp = mkdtempSync(join(tmpdir(), 'sam-demo-e2e-'));
    ctx.profile = join(ctx.tmp, 'profile');
    mkdirSync(ctx.profile);
    const t0 = Date.now();
    const site = await withTimeout(buildDemo({ outDir: join(ctx.tmp, 'site'), logLevel: 'error' }), 180_000, 'vite build of the demo');
    ctx.log.push(`vite build: ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    // The reference side: the library in Node on the cpu backend, from the PNG file.
    await useBackend('cpu');
    ctx.model = await samFromCheckpoint(fixturePath(CASE, 'model.pth'), { config: samConfigFromReferenceJson(readJson(CASE, 'config.json')) });
    ctx.predictor = new SamPredictor(ctx.model);
    await ctx.predictor.setImage(fixturePath(CASE, 'image.png'));
    const embedding = ctx.predictor.getImageEmbedding();
    const embeddingBytes = await encodeImageEmbedding(embedding);
    embedding.embedding.dispose();

    ctx.server = await startDemoServer({
      siteDir: site,
      host: '127.0.0.1',
      port: 0,
      fixturesDir: FIXTURES,
      weightsDir: join(ctx.tmp, 'no-weights'),
      testModels: [CASE],
      extraFiles: { [`/e2e/${CASE}.samemb`]: { body: embeddingBytes, type: 'application/octet-stream' } },
    });
    ctx.browser = await withTimeout(
      chromium.launchPersistentContext(ctx.profile, {
        executablePath,
        headless: true,
        args: CHROMIUM_FLAGS,
        viewport: { width: 1280, height: 800 },
        timeout: 60_000,
      }),
      90_000,
      'starting Chromium',
    );
    ctx.page = ctx.browser.pages()[0] ?? (await ctx.browser.newPage());
    ctx.page.setDefaultTimeout(30_000);
    ctx.page.on('pageerror', (e) => ctx.log.push(`page error: ${e.message}`));
  } catch (e) {
    ctx.setupError = e as Error;
  }
});

test.after(async () => {
  await ctx.browser?.close().catch(() => {});
  await ctx.server?.close().catch(() => {});
  ctx.predictor?.dispose();
  ctx.model?.dispose();
  if (ctx.tmp) rmSync(ctx.tmp, { recursive: true, force: true });
  if (ctx.log.length) console.log(`\n  demo e2e:\n    ${ctx.log.join('\n    ')}`);
});

/** A test body with a time limit (a hung page fails the test; `after` still closes everything). */
function timed(ms: number, body: () => Promise<void>): () => Promise<void> {
  return () => withTimeout(body(), ms, 'this test');
}

function setup(): { page: Page; server: DemoServer } {
  if (ctx.setupError) throw ctx.setupError;
  return { page: ctx.page!, server: ctx.server! };
}

test('the page computes the embedding on WebGL and a click gives the library mask', timed(180_000, async () => {
  const { page, server } = setup();
  const t0 = Date.now();
  await page.goto(`${server.url}/?backend=webgl&model=/models/test/${CASE}/&image=/samples/${CASE}.png`);
  await waitReady(page, 120_000);
  const s = await demo(page);
  ctx.log.push(`page ready in ${((Date.now() - t0) / 1000).toFixed(1)} s; encoder ${s.timings.encode[0]?.toFixed(0)} ms, decoder warm-up ${s.timings.warmup?.toFixed(0)} ms; ${s.backendDetail}`);
  assert.is(s.backend, 'webgl', `the page ran on ${s.backend}, not webgl`);
  assert.ok(s.model?.test, 'the tiny model is labelled as a test model');
  assert.equal(s.image, { width: 427, height: 285, placeholder: false });
  assert.ok(await page.locator('#model-badge').textContent().then((t) => /RANDOM TEST MODEL/.test(t ?? '')), 'the UI labels the random test model');

  const p = await clientOf(page, 235, 120);
  await page.mouse.move(p.x - 20, p.y - 10);
  await page.mouse.move(p.x, p.y, { steps: 4 });
  await page.mouse.click(p.x, p.y);
  await waitCommitted(page, 1);
  const r = (await demo(page)).result!;
  assert.is(r.points.length, 1);
  assert.ok(Math.abs(r.points[0].x - 235) < 1.5 && Math.abs(r.points[0].y - 120) < 1.5, `click landed at ${JSON.stringify(r.points[0])}`);
  const ref = await nodeMask({ kind: 'result', points: r.points, box: null, candidate: -1, seq: 0 });
  for (let i = 0; i < 3; i++) assert.ok(Math.abs(r.scores[i] - ref.scores[i]) < 1e-3, `score ${i}: page ${r.scores[i]} vs node ${ref.scores[i]}`);
  assert.is(r.selected, ref.best, 'the page shows the best-scoring candidate');
  await expectPageMatchesNode(page, 'click (235, 120)', 'result');
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, 'demo-e2e-click.png') });
}));

test('hover previews, shift-click and a dragged box match the library too', timed(180_000, async () => {
  const { page } = setup();
  // Hover: the preview is the committed point plus the cursor.
  const h = await clientOf(page, 120, 200);
  await page.mouse.move(h.x, h.y, { steps: 6 });
  await page.waitForFunction(() => {
    const p = (window as unknown as DemoWindow).samDemo.painted;
    return p.kind === 'preview' && p.points.length === 2;
  });
  // Stop moving, let the last preview land.
  await page.waitForFunction(() => {
    const p = (window as unknown as DemoWindow).samDemo.painted;
    return p.kind === 'preview' && Math.abs(p.points[1].x - 120) < 1.5 && Math.abs(p.points[1].y - 200) < 1.5;
  });
  await expectPageMatchesNode(page, 'hover preview (+ (120, 200))', 'preview');

  // Shift-click: a background point.
  const b = await clientOf(page, 300, 60);
  await page.mouse.move(b.x, b.y, { steps: 3 });
  await page.keyboard.down('Shift');
  await page.mouse.click(b.x, b.y);
  await page.keyboard.up('Shift');
  await waitCommitted(page, 2);
  await page.mouse.move(5, 5); // leave the image: the committed mask shows again
  await page.waitForFunction(() => (window as unknown as DemoWindow).samDemo.painted.kind === 'result');
  const r = (await demo(page)).result!;
  assert.equal(r.points.map((q) => q.label), [1, 0], 'shift-click adds a background point');
  await expectPageMatchesNode(page, 'fg + shift-click bg', 'result');

  // Drag a box (points stay): box + points.
  const a0 = await clientOf(page, 150, 70);
  const a1 = await clientOf(page, 330, 230);
  await page.mouse.move(a0.x, a0.y);
  await page.mouse.down();
  await page.mouse.move(a1.x, a1.y, { steps: 8 });
  await page.mouse.up();
  await waitCommitted(page, 3);
  await page.mouse.move(5, 5);
  await page.waitForFunction(() => (window as unknown as DemoWindow).samDemo.painted.kind === 'result' && (window as unknown as DemoWindow).samDemo.result?.box !== null);
  const rb = (await demo(page)).result!;
  assert.ok(rb.box && Math.abs(rb.box[0] - 150) < 1.5 && Math.abs(rb.box[3] - 230) < 1.5, `box ${JSON.stringify(rb.box)}`);
  await expectPageMatchesNode(page, 'points + dragged box', 'result');

  // Undo removes the box, Escape clears everything.
  await page.keyboard.press('Control+z');
  await waitCommitted(page, 4);
  assert.is((await demo(page)).result!.box, null, 'undo removed the box');
  await page.screenshot({ path: join(ARTIFACTS, 'demo-e2e-prompts.png') });

  const t = (await demo(page)).timings;
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  ctx.log.push(`decoder per prompt in the page (worker, incl. upscaling + readback): median ${med(t.decode).toFixed(0)} ms over ${t.decode.length}; prompt -> mask on screen median ${med(t.latency).toFixed(0)} ms`);
}));

test('the selected mask exports as a PNG equal to the painted mask', timed(180_000, async () => {
  const { page } = setup();
  const painted = (await demo(page)).painted;
  assert.is(painted.kind, 'result');
  const ref = await nodeMask(painted as Extract<Painted, { points: Point[] }>);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-mask')]);
  assert.match(download.suggestedFilename(), /-mask\.png$/);
  const png = await Jimp.fromBuffer(readFileSync((await download.path())!));
  assert.is(png.bitmap.width, 427);
  assert.is(png.bitmap.height, 285);
  const bits = new Uint8Array(427 * 285);
  for (let i = 0; i < bits.length; i++) bits[i] = png.bitmap.data[4 * i] > 127 ? 1 : 0;
  const r = iou(bits, ref.data);
  assert.ok(r.iou >= MIN_IOU, `exported mask vs Node mask IoU ${r.iou}`);

  // The cut-out: the image's pixels where the mask is set, transparent elsewhere, cropped to the mask.
  const [cut] = await Promise.all([page.waitForEvent('download'), page.click('#export-cutout')]);
  assert.match(cut.suggestedFilename(), /-cutout\.png$/);
  const cpng = await Jimp.fromBuffer(readFileSync((await cut.path())!));
  let x0 = 427, y0 = 285, x1 = -1, y1 = -1, area = 0;
  for (let y = 0; y < 285; y++) {
    for (let x = 0; x < 427; x++) {
      if (!bits[y * 427 + x]) continue;
      area++;
      x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
    }
  }
  assert.is(cpng.bitmap.width, x1 - x0 + 1, 'cut-out width = mask bounding box');
  assert.is(cpng.bitmap.height, y1 - y0 + 1, 'cut-out height = mask bounding box');
  let opaque = 0;
  for (let i = 0; i < cpng.bitmap.width * cpng.bitmap.height; i++) if (cpng.bitmap.data[4 * i + 3] > 0) opaque++;
  assert.is(opaque, area, 'cut-out opaque pixels = mask area');
}));

test('segment everything runs the automatic mask generator on WebGL', timed(180_000, async () => {
  const { page } = setup();
  await page.fill('#pps', '8');
  await page.click('#everything');
  await page.waitForFunction(() => (window as unknown as DemoWindow).samDemo.painted.kind === 'everything' && (window as unknown as DemoWindow).samDemo.state === 'ready', null, {
    timeout: 120_000,
  });
  const s = await demo(page);
  const count = (s.painted as { count: number }).count;
  const note = await page.locator('#everything-note').textContent();
  assert.ok(count > 0, `no masks (${note})`);
  // The page takes the thresholds from the test model's metadata (the fixture's settings).
  const settings = readJson(CASE, 'amg_grid8.json').settings;
  assert.is(Number(await page.inputValue('#iou-thresh')), settings.pred_iou_thresh);
  assert.is(Number(await page.inputValue('#stability-thresh')), settings.stability_score_thresh);
  const generator = new SamAutomaticMaskGenerator(ctx.model!, {
    pointsPerSide: 8,
    predIouThresh: settings.pred_iou_thresh,
    stabilityScoreThresh: settings.stability_score_thresh,
  });
  const ref = await generator.generate(fixturePath(CASE, 'image.png'));
  ctx.log.push(`segment everything (8x8 points): page ${count} masks in ${s.timings.everything?.ms.toFixed(0)} ms, Node ${ref.length}`);
  assert.ok(Math.abs(count - ref.length) <= Math.max(1, Math.round(ref.length * 0.1)), `page found ${count} masks, Node ${ref.length}`);
  const layer = await readMaskLayer(page);
  const union = new Uint8Array(layer.length);
  for (const m of ref) {
    const d = (m.segmentation as { data: Uint8Array }).data;
    for (let i = 0; i < d.length; i++) union[i] |= d[i];
  }
  const r = iou(layer, union);
  assert.ok(r.iou >= 0.95, `union of generated masks: page vs Node IoU ${r.iou}`);
  await page.screenshot({ path: join(ARTIFACTS, 'demo-e2e-everything.png') });
  await page.keyboard.press('Escape');
}));

test('an embedding computed in Node loads into the page (no encoder run there)', timed(180_000, async () => {
  const { page, server } = setup();
  const t0 = Date.now();
  await page.goto(`${server.url}/?backend=webgl&model=/models/test/${CASE}/&embedding=/e2e/${CASE}.samemb&image=/samples/${CASE}.png`);
  await waitReady(page, 60_000);
  await page.waitForFunction(() => (window as unknown as DemoWindow).samDemo.image?.placeholder === false);
  const s = await demo(page);
  ctx.log.push(`embedding page ready in ${((Date.now() - t0) / 1000).toFixed(1)} s (weights from the browser cache: ${s.model?.fromCache})`);
  assert.equal(s.timings.encode, [], 'the page must not run the encoder');
  assert.ok(s.timings.embeddingLoad !== null);
  assert.ok(s.model?.fromCache, 'the second load takes the weights from the browser cache');
  const p = await clientOf(page, 100, 180);
  await page.mouse.click(p.x, p.y);
  await waitCommitted(page, 1);
  await page.mouse.move(5, 5);
  await page.waitForFunction(() => (window as unknown as DemoWindow).samDemo.painted.kind === 'result');
  await expectPageMatchesNode(page, 'click on a Node-made embedding', 'result');
}));

test('on wasm the page is cross-origin isolated, runs a thread per core of a small machine, and a click gives the library mask', timed(180_000, async () => {
  const { page, server } = setup();
  await page.goto(`${server.url}/?backend=wasm&model=/models/test/${CASE}/&image=/samples/${CASE}.png`);
  await waitReady(page, 120_000);
  const s = await demo(page);
  const env = await page.evaluate(() => ({ isolated: globalThis.crossOriginIsolated, cores: navigator.hardwareConcurrency }));
  ctx.log.push(`wasm page: ${s.backendDetail}; encoder ${s.timings.encode[0]?.toFixed(0)} ms; ${env.cores} logical cores`);
  assert.is(s.backend, 'wasm', `the page ran on ${s.backend}, not wasm`);
  assert.ok(env.isolated, 'the demo server makes the page cross-origin isolated (COOP/COEP)');
  // tfjs alone would use half the logical cores; a small machine gets all of them
  const expected = env.cores <= 4 ? env.cores : Math.max(1, Math.floor(env.cores / 2));
  assert.ok(s.backendDetail?.includes(`${expected} thread`), `expected ${expected} wasm threads: ${s.backendDetail}`);
  const p = await clientOf(page, 235, 120);
  await page.mouse.click(p.x, p.y);
  await waitCommitted(page, 1);
  await expectPageMatchesNode(page, 'click (235, 120) on wasm', 'result');
}));

test.run();
