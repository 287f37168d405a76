/**
 * The demo's local HTTP server: the built page, converted weights from `weights/`, the small
 * random test models converted from the reference fixtures on first request, and the fixture
 * images as samples. Plain `node:http`, bound to 127.0.0.1 by default.
 *
 *   GET /api/models                  what the page can load (JSON, see ModelEntry / DemoCatalog)
 *   GET /models/weights/<dir>/<file> converted weights found in weights/<dir>/
 *   GET /models/test/<case>/<file>   a fixture's model converted in memory (random test model)
 *   GET /samples/<case>.png          a fixture's image
 *   GET /<anything else>             the built page (static files)
 *
 * Every response has a Content-Length (the page shows download progress) and an ETag; weights
 * and page files are revalidated (`no-cache`), hashed assets are immutable, so the browser
 * caches what it downloaded.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { DEFAULT_FIXTURES_DIR, DEFAULT_WEIGHTS_DIR } from './paths.js';
import { convertFixtureModel, type ConvertedWeights } from './test_weights.js';

/** One loadable model as the page lists it. */
export interface ModelEntry {
  id: string;
  label: string;
  /** URL of the folder holding model.json. */
  url: string;
  /** A random test model (not trained). */
  test: boolean;
  modelType: string | null;
  /** Bytes of the shards, when known. */
  bytes?: number;
  /** An image that suits the model (test models: the fixture's image). */
  sample?: string;
}

export interface DemoCatalog {
  models: ModelEntry[];
  samples: Array<{ id: string; label: string; url: string }>;
  /** Shown when weights/ holds no converted weights. */
  hint?: string;
}

export interface DemoServerOptions {
  /** The built page (vite build output); omitted in dev mode, where Vite serves the page. */
  siteDir?: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Folder of converted weights (default: weights/ of the repository). */
  weightsDir?: string;
  /** Reference fixtures (default: $SAM_FIXTURES or ../shared/fixtures). */
  fixturesDir?: string;
  /** Fixture cases offered as random test models (default ['tiny-a', 'tiny-b'], those present). */
  testModels?: string[];
  /** More files to serve at fixed paths (tests use this for an embedding computed in Node). */
  extraFiles?: Record<string, { body: Uint8Array; type: string }>;
}

export const NO_WEIGHTS_HINT =
  'No converted SAM weights in weights/. Get ViT-B (375 MB) with `npx sam-tfjs download vit_b` ' +
  '(or convert a checkpoint you have with `npx sam-tfjs convert <checkpoint.pth>`), then reload. ' +
  'Until then the page runs a tiny random test model.';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.samemb': 'application/octet-stream',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

const contentType = (path: string) => TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';

/** Resolves `rel` inside `base`; null when it would leave it. */
function inside(base: string, rel: string): string | null {
  const full = resolve(base, '.' + sep + normalize(rel).replace(/^([/\\])+/, ''));
  return full === base || full.startsWith(base + sep) ? full : null;
}

function send(req: IncomingMessage, res: ServerResponse, status: number, body: Uint8Array | string, type: string, headers: Record<string, string> = {}): void {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(bytes.byteLength), ...headers });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

function sendCached(req: IncomingMessage, res: ServerResponse, body: Uint8Array, type: string, etag: string, cacheControl: string): void {
  const headers = { ETag: etag, 'Cache-Control': cacheControl, 'Access-Control-Allow-Origin': '*' };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  send(req, res, 200, body, type, headers);
}

async function sendFile(req: IncomingMessage, res: ServerResponse, path: string, cacheControl: string): Promise<boolean> {
  let st;
  try {
    st = statSync(path);
  } catch {
    return false;
  }
  if (!st.isFile()) return false;
  const etag = `W/"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, { ETag: etag, 'Cache-Control': cacheControl, 'Access-Control-Allow-Origin': '*' });
    res.end();
    return true;
  }
  sendCached(req, res, await readFile(path), contentType(path), etag, cacheControl);
  return true;
}

function listWeights(weightsDir: string): ModelEntry[] {
  if (!existsSync(weightsDir)) return [];
  const dirs = [''].concat(
    readdirSync(weightsDir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort(),
  );
  const out: ModelEntry[] = [];
  for (const d of dirs) {
    const jsonPath = join(weightsDir, d, 'model.json');
    if (!existsSync(jsonPath)) continue;
    try {
      const json = JSON.parse(readFileSync(jsonPath, 'utf8'));
      const meta = json.userDefinedMetadata ?? {};
      if (!meta.samConfig || !Array.isArray(json.weightsManifest)) continue;
      let bytes = 0;
      for (const g of json.weightsManifest) for (const p of g.paths) bytes += statSync(join(weightsDir, d, p)).size;
      const name = d || 'weights';
      const url = `/models/weights/${d ? encodeURIComponent(d) + '/' : ''}`;
      out.push({ id: `weights:${name}`, label: `${name}${meta.modelType ? ` (${meta.modelType})` : ''}`, url, test: !!meta.testModel, modelType: meta.modelType ?? null, bytes });
    } catch {
      // Not readable as converted weights: not offered.
    }
  }
  return out;
}


/**
 * The demo's routes as a request handler: resolves true when it answered. Used by the
 * standalone server below and, in dev mode, as Vite middleware.
 */
export function createDemoApi(options: DemoServerOptions = {}): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  const weightsDir = resolve(options.weightsDir ?? DEFAULT_WEIGHTS_DIR);
  const fixturesDir = resolve(options.fixturesDir ?? DEFAULT_FIXTURES_DIR);
  const testCases = (options.testModels ?? ['tiny-a', 'tiny-b']).filter((c) => existsSync(join(fixturesDir, c, 'model.pth')) && existsSync(join(fixturesDir, c, 'config.json')));
  const converted = new Map<string, Promise<{ weights: ConvertedWeights; json: Uint8Array; etag: string }>>();
  const testModel = (name: string) => {
    let p = converted.get(name);
    if (!p) {
      p = convertFixtureModel(join(fixturesDir, name), name).then((weights) => {
        const json = Buffer.from(JSON.stringify(weights.modelJson));
        const hash = createHash('sha256').update(json);
        for (const s of weights.shards.values()) hash.update(s);
        return { weights, json, etag: `"${hash.digest('hex').slice(0, 24)}"` };
      });
      p.catch(() => converted.delete(name));
      converted.set(name, p);
    }
    return p;
  };

  return async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);

    if (path === '/api/models') {
      const real = listWeights(weightsDir);
      const catalog: DemoCatalog = {
        models: [
          ...real,
          ...testCases.map((c) => ({
            id: `test:${c}`,
            label: `${c}: random test model (not trained)`,
            url: `/models/test/${c}/`,
            test: true,
            modelType: null,
            sample: `/samples/${c}.png`,
          })),
        ],
        samples: testCases.map((c) => ({ id: c, label: `${c} fixture image`, url: `/samples/${c}.png` })),
      };
      if (!real.some((m) => !m.test)) catalog.hint = NO_WEIGHTS_HINT;
      send(req, res, 200, JSON.stringify(catalog), TYPES['.json'], { 'Cache-Control': 'no-store' });
      return true;
    }

    let m = /^\/models\/test\/([\w.-]+)\/(model\.json|[\w.-]+\.bin)$/.exec(path);
    if (m) {
      if (!testCases.includes(m[1])) return send(req, res, 404, `no test model ${m[1]}`, TYPES['.txt']), true;
      const t = await testModel(m[1]);
      if (m[2] === 'model.json') {
        sendCached(req, res, t.json, TYPES['.json'], t.etag, 'no-cache');
      } else {
        const shard = t.weights.shards.get(m[2]);
        if (!shard) return send(req, res, 404, `no shard ${m[2]}`, TYPES['.txt']), true;
        sendCached(req, res, shard, TYPES['.bin'], `${t.etag.slice(0, -1)}-${m[2]}"`, 'no-cache');
      }
      return true;
    }

    m = /^\/models\/weights\/(.+)$/.exec(path);
    if (m) {
      const file = inside(weightsDir, m[1]);
      if (!file || !(await sendFile(req, res, file, 'no-cache'))) send(req, res, 404, 'not found', TYPES['.txt']);
      return true;
    }

    m = /^\/samples\/([\w.-]+)\.png$/.exec(path);
    if (m) {
      if (!testCases.includes(m[1]) || !(await sendFile(req, res, join(fixturesDir, m[1], 'image.png'), 'no-cache'))) send(req, res, 404, 'not found', TYPES['.txt']);
      return true;
    }

    const extra = options.extraFiles?.[path];
    if (extra) {
      send(req, res, 200, extra.body, extra.type, { 'Cache-Control': 'no-store' });
      return true;
    }
    return false;
  };
}

/**
 * Makes the page cross-origin isolated, so that it has SharedArrayBuffer and tfjs-wasm can
 * run its threaded build (src/backends/wasm_threads_browser.ts). Everything the page loads
 * comes from this server; cross-origin weights URLs need CORS headers (as they do anyway).
 */
export const CROSS_ORIGIN_ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
} as const;

export interface DemoServer {
  /** e.g. http://127.0.0.1:5173 */
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

/** Serves the built page and the demo's routes. */
export async function startDemoServer(options: DemoServerOptions = {}): Promise<DemoServer> {
  const api = createDemoApi(options);
  const siteDir = options.siteDir ? resolve(options.siteDir) : null;
  const server = createServer((req, res) => {
    for (const [name, value] of Object.entries(CROSS_ORIGIN_ISOLATION)) res.setHeader(name, value);
    (async () => {
      if (await api(req, res)) return;
      if (siteDir && (req.method === 'GET' || req.method === 'HEAD')) {
        let path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
        if (path.endsWith('/')) path += 'index.html';
        const file = inside(siteDir, path);
        const immutable = path.startsWith('/assets/');
        if (file && (await sendFile(req, res, file, immutable ? 'public, max-age=31536000, immutable' : 'no-cache'))) return;
      }
      send(req, res, 404, 'not found', TYPES['.txt']);
    })().catch((e: Error) => {
      if (!res.headersSent) send(req, res, 500, `demo server error: ${e.message}`, TYPES['.txt']);
      else res.destroy(e);
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', fail);
      ok();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    server,
    close: () =>
      new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      }),
  };
}
