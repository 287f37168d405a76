/**
 * Locating the reference fixtures (`../shared/fixtures`, or $SAM_FIXTURES) and reading their files.
 * Cases are discovered from the folders that hold a config.json, never named in code.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseNpy, type NpyArray } from '../../src/io/npy.js';

/** Repository root: this file lives in test/helpers (source) or dist/test/helpers (compiled). */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the repository root (package.json)');
    dir = up;
  }
  return dir;
}

export const ROOT = repoRoot();

export const FIXTURES = resolve(process.env.SAM_FIXTURES ?? join(ROOT, '..', 'shared', 'fixtures'));

/** Names of the case folders (those with a config.json), sorted. */
export function fixtureCases(dir: string = FIXTURES): string[] {
  if (!existsSync(dir)) {
    throw new Error(`fixtures not found at ${dir}: clone the project beside shared/ or set SAM_FIXTURES`);
  }
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(dir, d.name, 'config.json')))
    .map((d) => d.name)
    .sort();
}

export function fixturePath(...parts: string[]): string {
  return join(FIXTURES, ...parts);
}

export function readJson<T = any>(...parts: string[]): T {
  return JSON.parse(readFileSync(fixturePath(...parts), 'utf8')) as T;
}

export function readNpy(...parts: string[]): NpyArray {
  return parseNpy(readFileSync(fixturePath(...parts)));
}

/** Prompt folders of a case, discovered from prompts.json. */
export function promptCases(caseName: string): any[] {
  return readJson(caseName, 'prompts.json').prompts;
}
