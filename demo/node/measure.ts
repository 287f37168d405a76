/**
 * Measures the demo the way demo/README.md reports it: headless Chromium (WebGL on SwiftShader
 * unless the machine has a GPU Chromium uses), the page used as a person would, timings read
 * from the page's own measurements.
 *
 *   npx tsx demo/node/measure.ts [--backend webgl] [--case tiny-a] [--everything 16] [--gpu-compositing]
 *
 * Builds the page into a temporary folder, serves it on 127.0.0.1, loads the test model and
 * its image, opens the image a second time (an encoder run with compiled shaders), clicks a
 * point, then hovers 25 positions one after the other, waiting for each preview to be
 * painted, and prints the timings as JSON.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { buildDemo } from './build.js';
import { startDemoServer } from './server.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'webgl' },
    case: { type: 'string', default: 'tiny-a' },
    everything: { type: 'string' },
    'gpu-compositing': { type: 'boolean', default: false },
    chromium: { type: 'string', default: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium' },
  },
});

type Demo = {
  samDemo: {
    state: string;
    backendDetail: string;
    committed: number;
    painted: { kind: string; points?: Array<{ x: number; y: number }> };
    timings: Record<string, unknown> & { encode: number[]; decode: number[]; latency: number[] };
    imageToClient(x: number, y: number): { x: number; y: number };
  };
};

const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const p90 = (a: number[]) => [...a].sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(a.length * 0.9))];

const tmp = mkdtempSync(join(tmpdir(), 'sam-demo-measure-'));
const site = await buildDemo({ outDir: join(tmp, 'site'), logLevel: 'error' });
const server = await startDemoServer({ siteDir: site, testModels: [values.case] });
const args = ['--headless', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
args.push('--use-angle=swiftshader', '--enable-unsafe-swiftshader');
if (!values['gpu-compositing']) args.push('--disable-gpu-compositing');
const browser = await chromium.launchPersistentContext(join(tmp, 'profile'), { executablePath: values.chromium, headless: true, args, viewport: { width: 1366, height: 820 } });
try {
  const page = browser.pages()[0] ?? (await browser.newPage());
  const sample = `/samples/${values.case}.png`;
  const t0 = Date.now();
  await page.goto(`${server.url}/?backend=${values.backend}&model=/models/test/${values.case}/&image=${sample}`);
  await page.waitForFunction(() => (window as unknown as Demo).samDemo?.state === 'ready', null, { timeout: 600_000 });
  const readyMs = Date.now() - t0;
  await page.selectOption('#sample-select', sample);
  await page.waitForFunction(() => (window as unknown as Demo).samDemo.timings.encode.length === 2 && (window as unknown as Demo).samDemo.state === 'ready', null, { timeout: 600_000 });
  const at = (x: number, y: number) => page.evaluate(([a, b]) => (window as unknown as Demo).samDemo.imageToClient(a, b), [x, y] as const);
  let p = await at(235, 120);
  await page.mouse.click(p.x, p.y);
  await page.waitForFunction(() => (window as unknown as Demo).samDemo.committed >= 1, null, { timeout: 600_000 });
  const before = await page.evaluate(() => (window as unknown as Demo).samDemo.timings.decode.length);
  for (let i = 0; i < 26; i++) {
    const [x, y] = [40 + ((i * 37) % 350), 40 + ((i * 53) % 220)];
    p = await at(x, y);
    await page.mouse.move(p.x, p.y);
    await page.waitForFunction(
      ([a, b]) => {
        const q = (window as unknown as Demo).samDemo.painted;
        return q.kind === 'preview' && !!q.points && Math.abs(q.points[1].x - a) < 1.5 && Math.abs(q.points[1].y - b) < 1.5;
      },
      [x, y] as const,
      { timeout: 600_000 },
    );
  }
  const t = await page.evaluate(() => (window as unknown as Demo).samDemo.timings);
  const decode = t.decode.slice(before + 1); // the first 2-point decode compiles shaders
  const latency = t.latency.slice(-25);
  let everything: unknown = null;
  if (values.everything) {
    await page.mouse.move(5, 5);
    await page.fill('#pps', values.everything);
    await page.click('#everything');
    await page.waitForFunction(() => (window as unknown as Demo).samDemo.painted.kind === 'everything' && (window as unknown as Demo).samDemo.state === 'ready', null, { timeout: 600_000 });
    everything = (await page.evaluate(() => (window as unknown as Demo).samDemo.timings)).everything;
  }
  const round = (v: unknown) => (typeof v === 'number' ? Math.round(v) : v);
  console.log(
    JSON.stringify(
      {
        backend: await page.evaluate(() => (window as unknown as Demo).samDemo.backendDetail),
        pageReadyMs: readyMs,
        download: t.download,
        buildMs: round(t.build),
        encoderFirstMs: round(t.encode[0]),
        encoderSecondMs: round(t.encode[1]),
        decoderWarmupMs: round(t.warmup),
        longestUiFrameWhileEncodingMs: round(t.longestFrameDuringEncode),
        firstTwoPointDecodeMs: round(t.decode[before]),
        decodePerPrompt: { n: decode.length, medianMs: round(median(decode)), p90Ms: round(p90(decode)), minMs: round(Math.min(...decode)) },
        promptToScreen: { medianMs: round(median(latency)), p90Ms: round(p90(latency)) },
        everything,
      },
      null,
      1,
    ),
  );
} finally {
  await browser.close();
  await server.close();
  rmSync(tmp, { recursive: true, force: true });
}
