/**
 * The demo's Vite configuration. The page and its worker import the library's sources (src/)
 * directly. A few library modules are Node-only and reached only through dynamic imports on
 * Node code paths (decoding image files with jimp, writing files, the checkpoint file
 * source); in the browser bundle they are replaced by stubs that throw if ever called, so
 * neither jimp nor Node built-ins end up in the page.
 */
import { join } from 'node:path';
import type { InlineConfig, Plugin } from 'vite';
import { DEFAULT_SITE_DIR, DEMO_DIR, ROOT } from './paths.js';
import { createDemoApi, CROSS_ORIGIN_ISOLATION, type DemoServerOptions } from './server.js';

const STUB_ID = '\0sam-demo-node-only';
const NODE_BUILTINS = ['fs', 'fs/promises', 'path', 'os', 'url', 'crypto', 'zlib', 'stream', 'module', 'worker_threads', 'perf_hooks'];
/** Packages the library imports only in Node: Dawn's WebGPU for Node, the native tfjs backends. */
const NODE_ONLY_PACKAGES = ['webgpu', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'];

/** Node-only library modules and Node built-ins -> a stub module (browser bundle only). */
function nodeOnlyStubs(): Plugin {
  const nodeOnlyFiles = [
    join(ROOT, 'src', 'sam', 'preprocess', 'decode_image.ts'),
    join(ROOT, 'src', 'io', 'atomic_write.ts'),
    join(ROOT, 'src', 'backends', 'wasm_threads_node.ts'),
    join(ROOT, 'converter', 'file_source.ts'),
  ];
  return {
    name: 'sam-demo-node-only-stubs',
    enforce: 'pre',
    async resolveId(source, importer, options) {
      if (/^node:/.test(source) || NODE_BUILTINS.includes(source) || NODE_ONLY_PACKAGES.includes(source)) {
        return `${STUB_ID}:${source}`;
      }
      if (!importer || !/\.(js|ts)$/.test(source) || !source.startsWith('.')) return null;
      const resolved = await this.resolve(source, importer, { ...options, skipSelf: true });
      if (resolved && nodeOnlyFiles.includes(resolved.id.split('?')[0])) return `${STUB_ID}:${resolved.id}`;
      return null;
    },
    load(id) {
      if (!id.startsWith(STUB_ID)) return null;
      const what = id.slice(STUB_ID.length + 1).replace(ROOT, '');
      const msg = JSON.stringify(`${what} is Node-only and not part of the browser build`);
      // Every named import is a property of the default export (syntheticNamedExports): a
      // function that throws when called.
      return {
        code: `const fail = () => { throw new Error(${msg}); };\nexport default new Proxy({}, { get: () => fail });\n`,
        syntheticNamedExports: true,
      };
    },
  };
}

/** In dev mode (`npm run demo -- --dev`), Vite serves the page and this plugin the models and samples. */
function demoApi(options: DemoServerOptions): Plugin {
  return {
    name: 'sam-demo-api',
    configureServer(server) {
      const api = createDemoApi(options);
      server.middlewares.use((req, res, next) => {
        api(req, res).then((handled) => (handled ? undefined : next()), next);
      });
    },
  };
}

export interface DemoViteOptions {
  outDir?: string;
  /** Options of the model/sample routes in dev mode. */
  api?: DemoServerOptions;
  logLevel?: 'info' | 'warn' | 'error' | 'silent';
}

export function demoViteConfig(options: DemoViteOptions = {}): InlineConfig {
  return {
    configFile: false,
    root: DEMO_DIR,
    base: './',
    publicDir: false,
    cacheDir: join(ROOT, 'node_modules', '.vite-sam-demo'),
    logLevel: options.logLevel ?? 'info',
    clearScreen: false,
    plugins: [nodeOnlyStubs(), demoApi(options.api ?? {})],
    worker: { format: 'es', plugins: () => [nodeOnlyStubs()] },
    build: {
      outDir: options.outDir ?? DEFAULT_SITE_DIR,
      emptyOutDir: true,
      target: 'es2022',
      chunkSizeWarningLimit: 8000,
      reportCompressedSize: false,
    },
    server: { host: '127.0.0.1', fs: { allow: [ROOT] }, headers: { ...CROSS_ORIGIN_ISOLATION } },
    preview: { host: '127.0.0.1', headers: { ...CROSS_ORIGIN_ISOLATION } },
  };
}
