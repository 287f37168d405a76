/**
 * Builds the browser parity page (index.html + main.ts) with Vite, programmatically.
 *
 * The page imports the library's sources (src/, scripts/parity_lib.ts) as the demo's page
 * does, so it takes the demo's Vite configuration (demo/node/vite_config.ts), whose plugin
 * replaces the library's Node-only modules and Node built-ins by stubs that throw if called
 * (they are reached only on Node code paths): one list of Node-only modules for both pages.
 * Only the root, output and cache folders differ, and the bundle is not minified (readable
 * stack traces when a stage throws; the build is also a little faster).
 *
 * The build takes 15-20 s on 2 cores, so `cachedBrowserParityPage` keeps the last one in
 * node_modules/.cache, keyed by the content of everything that goes into it.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { build, type InlineConfig } from 'vite';
import { demoViteConfig } from '../../demo/node/vite_config.js';
import { ROOT } from '../helpers/fixtures.js';

export const PAGE_DIR = join(ROOT, 'test', 'browser_parity');
const CACHE_DIR = join(ROOT, 'node_modules', '.cache', 'sam-browser-parity');

type LogLevel = 'info' | 'warn' | 'error' | 'silent';

export function browserParityViteConfig(outDir: string, logLevel: LogLevel = 'warn'): InlineConfig {
  const base = demoViteConfig({ outDir, logLevel });
  return {
    ...base,
    root: PAGE_DIR,
    cacheDir: join(ROOT, 'node_modules', '.vite-sam-browser-parity'),
    build: { ...base.build, outDir, emptyOutDir: true, minify: false },
  };
}

/** Builds the page into `outDir` (index.html + assets/). */
export async function buildBrowserParityPage(outDir: string, logLevel: LogLevel = 'warn'): Promise<string> {
  await build(browserParityViteConfig(outDir, logLevel));
  return outDir;
}

/**
 * Everything the bundle is made of: the page, the library's sources it imports, the Vite
 * configuration, and the installed packages (through the lockfile). The Node side of the
 * test (harness.ts, tolerances.ts, run.ts) is not part of it.
 */
const INPUTS = [
  'src',
  'converter',
  'scripts',
  'test/browser_parity/index.html',
  'test/browser_parity/main.ts',
  'test/browser_parity/protocol.ts',
  'test/browser_parity/build.ts',
  'test/helpers', // the kernels' checks the page runs (layer_norm_checks.ts, ...)
  'demo/node',
  'package-lock.json',
  'package.json',
];

function inputsHash(): string {
  const hash = createHash('sha256');
  const add = (path: string) => {
    const st = statSync(path);
    if (st.isDirectory()) {
      for (const name of readdirSync(path).sort()) add(join(path, name));
    } else {
      hash.update(relative(ROOT, path)).update('\0').update(readFileSync(path)).update('\0');
    }
  };
  for (const p of INPUTS) if (existsSync(join(ROOT, p))) add(join(ROOT, p));
  return hash.digest('hex').slice(0, 16);
}

/**
 * The built page: the cached build when its inputs have not changed, else a new build, kept
 * for the next run. Set SAM_BROWSER_PARITY_REBUILD=1 to always build.
 */
export async function cachedBrowserParityPage(logLevel: LogLevel = 'warn'): Promise<{ dir: string; cached: boolean }> {
  const dir = join(CACHE_DIR, inputsHash());
  if (existsSync(join(dir, 'index.html'))) {
    if (!process.env.SAM_BROWSER_PARITY_REBUILD) return { dir, cached: true };
    rmSync(dir, { recursive: true, force: true });
  }
  mkdirSync(CACHE_DIR, { recursive: true });
  // Built beside, then renamed into place: a concurrent run never sees half a build.
  const tmp = `${dir}.tmp-${process.pid}-${Date.now()}`;
  try {
    await buildBrowserParityPage(tmp, logLevel);
    renameSync(tmp, dir);
  } catch (e) {
    // Another run renamed the same build into place first: use that one.
    if (!existsSync(join(dir, 'index.html'))) throw e;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  // Builds of other sources, untouched for a day, go (a concurrent run may still serve a recent one).
  for (const old of readdirSync(CACHE_DIR)) {
    const path = join(CACHE_DIR, old);
    if (path !== dir && Date.now() - statSync(path).mtimeMs > 24 * 3600_000) rmSync(path, { recursive: true, force: true });
  }
  return { dir, cached: false };
}
