/** Builds the demo page with Vite (programmatically; used by `npm run demo` and the e2e test). */
import { build } from 'vite';
import { DEFAULT_SITE_DIR } from './paths.js';
import { demoViteConfig } from './vite_config.js';

export async function buildDemo(options: { outDir?: string; logLevel?: 'info' | 'warn' | 'error' | 'silent' } = {}): Promise<string> {
  const outDir = options.outDir ?? DEFAULT_SITE_DIR;
  await build(demoViteConfig({ outDir, logLevel: options.logLevel ?? 'warn' }));
  return outDir;
}
