/**
 * The Node side of the browser parity check, shared by test/browser_parity.test.ts and the
 * manual runner (run.ts): Chromium's flags, the server of the page and the fixtures, and
 * driving the page.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join, normalize, sep } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { CROSS_ORIGIN_ISOLATION } from '../../demo/node/server.js';
import { decodeImage } from '../../src/sam/preprocess/decode_image.js';
import { startLocalServer, type LocalServer } from '../helpers/local_server.js';
import type { ParityWindow, RunRequest, RunResult } from './protocol.js';

export const CHROMIUM_CANDIDATES = process.env.CHROMIUM_PATH ? [process.env.CHROMIUM_PATH] : ['/usr/bin/chromium', '/usr/bin/chromium-browser'];

/**
 * Headless Chromium with both GPU APIs on SwiftShader, Chromium's CPU implementation of
 * Vulkan: WebGL through ANGLE's SwiftShader backend, WebGPU through Dawn on SwiftShader
 * (`--use-webgpu-adapter=swiftshader`, so that a machine with a GPU tests the same thing).
 * On Linux, Chromium exposes WebGPU only with `--enable-unsafe-webgpu` (without it there is
 * no adapter). GPU compositing is off (the page is composited in software) so that it does
 * not compete with the shaders for the CPU.
 */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--no-first-run',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--enable-unsafe-webgpu',
  '--use-webgpu-adapter=swiftshader',
  '--disable-gpu-compositing',
];

export function findChromium(): string {
  const found = CHROMIUM_CANDIDATES.find((p) => existsSync(p));
  if (!found) {
    throw new Error(
      `Chromium is not installed (looked for ${CHROMIUM_CANDIDATES.join(', ')}). The browser parity test needs it: ` +
        'install it with `apt-get install -y chromium` (Debian), or set CHROMIUM_PATH to a Chromium binary.',
    );
  }
  return found;
}

export function withTimeout<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, fail) => {
      timer = setTimeout(() => fail(new Error(`${what()}: no answer within ${ms / 1000} s`)), ms);
    }),
  ]);
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
};

/** tfjs-backend-wasm's binaries, served under /tfjs-wasm/ (the page's setWasmPaths). */
const WASM_DIR = join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');

/** Every response makes the page cross-origin isolated, as the demo's server does: wasm runs threaded there, as users get it. */
function sendBytes(res: ServerResponse, status: number, body: Uint8Array | string, type: string, headers: Record<string, string> = {}): void {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(bytes.byteLength), 'Cache-Control': 'no-store', ...CROSS_ORIGIN_ISOLATION, ...headers });
  res.end(bytes);
}

/** A file inside `dir` (never outside it), or null. */
function fileInside(dir: string, rel: string): string | null {
  const path = normalize(join(dir, rel));
  if (!path.startsWith(dir + sep)) return null;
  try {
    return statSync(path).isFile() ? path : null;
  } catch {
    return null;
  }
}

type Decoded = Map<string, { data: Uint8Array; width: number; height: number }>;

/**
 * The page (`site`), the fixture case folders (`/fixtures/<case>/<file>`, only the given
 * cases) and each case's image.png decoded by the library in Node (`/decoded/<case>.rgb`,
 * sizes in X-Image-Width / X-Image-Height).
 */
function handler(site: string, fixturesDir: string, cases: string[], decoded: Decoded) {
  return (req: IncomingMessage, res: ServerResponse) => {
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      return sendBytes(res, 400, 'bad path', 'text/plain');
    }
    if (req.method !== 'GET') return sendBytes(res, 405, 'GET only', 'text/plain');
    let m = /^\/fixtures\/([^/]+)\/(.+)$/.exec(path);
    if (m) {
      const file = cases.includes(m[1]) ? fileInside(join(fixturesDir, m[1]), m[2]) : null;
      if (!file) return sendBytes(res, 404, 'not found', 'text/plain');
      return sendBytes(res, 200, readFileSync(file), TYPES[extname(file)] ?? 'application/octet-stream');
    }
    m = /^\/tfjs-wasm\/(tfjs-backend-wasm[\w-]*\.wasm)$/.exec(path);
    if (m) {
      const file = fileInside(WASM_DIR, m[1]);
      if (!file) return sendBytes(res, 404, 'not found', 'text/plain');
      return sendBytes(res, 200, readFileSync(file), TYPES['.wasm']);
    }
    m = /^\/decoded\/([^/]+)\.rgb$/.exec(path);
    if (m) {
      const img = decoded.get(m[1]);
      if (!img) return sendBytes(res, 404, 'not found', 'text/plain');
      return sendBytes(res, 200, img.data, 'application/octet-stream', { 'X-Image-Width': String(img.width), 'X-Image-Height': String(img.height) });
    }
    const file = fileInside(site, path.endsWith('/') ? `${path}index.html` : path);
    if (!file) return sendBytes(res, 404, 'not found', 'text/plain');
    sendBytes(res, 200, readFileSync(file), TYPES[extname(file)] ?? 'application/octet-stream');
  };
}

/** Serves the built page and the fixtures on 127.0.0.1 (a random port); closes itself after `lifetimeMs`. */
export async function startParityServer(site: string, fixturesDir: string, cases: string[], lifetimeMs = 15 * 60_000): Promise<LocalServer> {
  const decoded: Decoded = new Map();
  for (const c of cases) decoded.set(c, await decodeImage(join(fixturesDir, c, 'image.png')));
  return startLocalServer(handler(site, fixturesDir, cases, decoded), lifetimeMs);
}

/** Opens the page in a new tab and waits for it to be ready; page errors are in the thrown message. */
export async function openParityPage(browser: Browser, url: string): Promise<Page> {
  const page = await browser.newPage();
  page.setDefaultTimeout(60_000);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(`${url}/`);
  try {
    await page.waitForFunction(() => !!(window as unknown as ParityWindow).samParity, null, { timeout: 30_000 });
  } catch {
    await page.close().catch(() => {});
    throw new Error(`the parity page did not start: ${errors.join('; ') || 'no error reported'}`);
  }
  return page;
}

/** Runs a request in the page; on a timeout or a page error, says which stage it was at. */
export async function runInPage(page: Page, request: RunRequest, timeoutMs: number): Promise<RunResult> {
  let current = 'starting';
  const poll = setInterval(() => {
    page
      .evaluate(() => (window as unknown as ParityWindow).samParity?.current ?? '?')
      .then((s) => (current = s))
      .catch(() => {});
  }, 1000);
  try {
    return await withTimeout(
      page.evaluate((r) => (window as unknown as ParityWindow).samParity!.run(r), request),
      timeoutMs,
      () => `${request.backend} parity run`,
    );
  } catch (e) {
    throw new Error(`${request.backend} parity run failed at "${current}": ${(e as Error).message.split('\n')[0]}`);
  } finally {
    clearInterval(poll);
  }
}
