/**
 * `npm run build && node dist/bench/browser_wasm.js [runs]`: wasm in headless Chromium on a
 * cross-origin isolated page, started as tfjs does by itself and as selectBackend does
 * (one thread per logical core on machines with at most 4), alternately: the thread count
 * and the speed of a [4096, 768] x [768, 768] matMul for each. Needs Chromium
 * (CHROMIUM_PATH, default /usr/bin/chromium). Not a test: compare the two in one sitting.
 */
import { build } from 'esbuild';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CROSS_ORIGIN_ISOLATION } from '../demo/node/server.js';

const runs = Number(process.argv[2] ?? 2);
const here = dirname(fileURLToPath(import.meta.url));
const wasmDir = join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
const tmp = mkdtempSync(join(tmpdir(), 'sam-browser-wasm-'));
try {
  const bundle = join(tmp, 'page.js');
  await build({
    entryPoints: [join(here, 'browser_wasm_page.js')],
    bundle: true,
    outfile: bundle,
    format: 'esm',
    platform: 'browser',
    logLevel: 'error',
    // Node-only modules the library reaches only on Node code paths
    external: ['webgpu', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', 'node:*', 'fs', 'path', 'os', 'url', 'module', 'worker_threads', 'crypto', 'zlib', 'stream'],
  });
  const server = createServer((req, res) => {
    for (const [name, value] of Object.entries(CROSS_ORIGIN_ISOLATION)) res.setHeader(name, value);
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path.startsWith('/wasm/') && /^[\w.-]+\.wasm$/.test(path.slice(6))) {
      res.writeHead(200, { 'Content-Type': 'application/wasm' }).end(readFileSync(join(wasmDir, path.slice(6))));
    } else if (path === '/page.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(readFileSync(bundle));
    } else {
      res.writeHead(200, { 'Content-Type': 'text/html' }).end('<!doctype html><script type="module" src="/page.js"></script>');
    }
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox', '--headless'] });
  try {
    for (let i = 0; i < runs; i++) {
      for (const mode of ['tfjs', 'library']) {
        const page = await browser.newPage();
        await page.goto(`${url}?mode=${mode}`);
        await page.waitForFunction(() => (globalThis as { benchResult?: object }).benchResult, null, { timeout: 180_000 });
        console.log(JSON.stringify(await page.evaluate(() => (globalThis as { benchResult?: object }).benchResult)));
        await page.close();
      }
    }
  } finally {
    await browser.close();
    server.close();
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
