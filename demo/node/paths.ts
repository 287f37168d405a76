/** Where the demo's pieces live, found from the repository root (works from sources and from dist/). */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'demo', 'index.html'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the repository root (package.json beside demo/index.html)');
    dir = up;
  }
  return dir;
}

/** The repository root. */
export const ROOT = findRoot();
/** The demo's sources (index.html, src/). */
export const DEMO_DIR = join(ROOT, 'demo');
/** Where `npm run demo` builds the page. */
export const DEFAULT_SITE_DIR = join(ROOT, 'dist', 'demo-site');
/** Converted weights the demo offers (each subfolder with a model.json). */
export const DEFAULT_WEIGHTS_DIR = join(ROOT, 'weights');
/** The reference fixtures ($SAM_FIXTURES, or shared/fixtures beside the repository). */
export const DEFAULT_FIXTURES_DIR = resolve(process.env.SAM_FIXTURES ?? join(ROOT, '..', 'shared', 'fixtures'));
