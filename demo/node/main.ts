/**
 * `npm run demo`: builds the page and serves it on http://127.0.0.1:5173/.
 *
 *   npm run demo                      build, then serve the built page
 *   npm run demo -- --dev             Vite dev server (hot reload) with the same routes
 *   npm run demo -- --port 8080 --host 0.0.0.0 --weights path/to/weights --no-build
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildDemo } from './build.js';
import { DEFAULT_FIXTURES_DIR, DEFAULT_SITE_DIR, DEFAULT_WEIGHTS_DIR } from './paths.js';
import { NO_WEIGHTS_HINT, createDemoApi, startDemoServer, type DemoCatalog, type DemoServerOptions } from './server.js';
import { demoViteConfig } from './vite_config.js';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.PORT ?? '5173' },
    host: { type: 'string', default: '127.0.0.1' },
    dev: { type: 'boolean', default: false },
    'no-build': { type: 'boolean', default: false },
    weights: { type: 'string', default: DEFAULT_WEIGHTS_DIR },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log('usage: npm run demo -- [--port 5173] [--host 127.0.0.1] [--dev] [--no-build] [--weights weights/]');
  process.exit(0);
}

const port = Number(values.port);
const apiOptions: DemoServerOptions = { weightsDir: resolve(values.weights), fixturesDir: DEFAULT_FIXTURES_DIR };

async function describeModels(): Promise<void> {
  // Ask our own handler what the page will offer, without a network round trip.
  const catalog = await new Promise<DemoCatalog>((ok, fail) => {
    const chunks: Buffer[] = [];
    const res = {
      writeHead: () => res,
      end: (b?: Uint8Array) => {
        if (b) chunks.push(Buffer.from(b));
        try {
          ok(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch (e) {
          fail(e);
        }
      },
    };
    createDemoApi(apiOptions)({ method: 'GET', url: '/api/models', headers: {} } as never, res as never).catch(fail);
  });
  const real = catalog.models.filter((m) => !m.test);
  console.log(real.length ? `converted weights: ${real.map((m) => m.label).join(', ')}` : NO_WEIGHTS_HINT);
  const tests = catalog.models.filter((m) => m.test).map((m) => m.label);
  if (tests.length) console.log(`random test models (from the fixtures): ${tests.join(', ')}`);
  else if (!real.length) console.log(`no fixtures at ${DEFAULT_FIXTURES_DIR} either: the page will ask for a weights URL`);
}

async function main(): Promise<void> {
  await describeModels();
  if (values.dev) {
    const { createServer } = await import('vite');
    const config = demoViteConfig({ api: apiOptions });
    const server = await createServer({ ...config, server: { ...config.server, host: values.host, port, strictPort: false } });
    await server.listen();
    server.printUrls();
    return;
  }
  if (!values['no-build'] || !existsSync(join(DEFAULT_SITE_DIR, 'index.html'))) {
    const t0 = Date.now();
    console.log('building the demo (vite)…');
    await buildDemo({ outDir: DEFAULT_SITE_DIR, logLevel: 'warn' });
    console.log(`built into ${DEFAULT_SITE_DIR} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  const server = await startDemoServer({ ...apiOptions, siteDir: DEFAULT_SITE_DIR, host: values.host, port });
  console.log(`\n  SAM demo: ${server.url}/\n  (Ctrl+C to stop)\n`);
  const stop = () => {
    void server.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
