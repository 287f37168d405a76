/**
 * What the CLI and dataset tests share: a folder of test images made from the fixture photos
 * (flipped, cropped, resized, re-encoded as JPEG / BMP, in nested folders; optionally a corrupt
 * and an empty file), the fixture models, and running `node dist/src/cli/main.js` as a user does.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Jimp } from 'jimp';
import { fixtureCases, fixturePath, ROOT } from './fixtures.js';

/** The compiled CLI (tests run after `tsc`). */
export const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');

export function requireBuiltCli(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run 'npx tsc -p tsconfig.json' first (npm test does)`);
}

/** A fixture model: its checkpoint and config.json. */
export interface FixtureModel {
  name: string;
  pth: string;
  config: string;
  image: string;
}

export function fixtureModels(): FixtureModel[] {
  return fixtureCases().map((name) => ({
    name,
    pth: fixturePath(name, 'model.pth'),
    config: fixturePath(name, 'config.json'),
    image: fixturePath(name, 'image.png'),
  }));
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `sam-tfjs-${prefix}-`));
}

export interface ImageFolder {
  dir: string;
  /** Relative paths of the readable images, sorted as listImages sorts them. */
  good: string[];
  /** Relative paths of the corrupt / empty images. */
  bad: string[];
}

/**
 * Writes test images (small, to keep runs fast) made from every fixture photo. `count` good
 * images (at most 8); with `withBad`, also `broken.jpg` (not an image) and `empty.png` (0 bytes);
 * plus files that must be ignored (`notes.txt`, `.hidden/x.png`).
 */
export async function makeImageFolder(dir: string, options: { count?: number; withBad?: boolean } = {}): Promise<ImageFolder> {
  const photos = fixtureModels().map((m) => m.image);
  // jimp's chained method types do not line up in strict mode; the images are used loosely here.
  const a: any = await Jimp.read(photos[0]);
  const b: any = await Jimp.read(photos[1 % photos.length]);
  const small = (img: any, w: number): any => img.clone().resize({ w });
  const recipes: Array<[string, () => any]> = [
    ['a.png', () => small(a, 160)],
    ['b.jpg', () => small(b, 120)],
    ['nested/c.png', () => small(a, 140).flip({ horizontal: true })],
    ['nested/deeper/d.jpg', () => b.clone().crop({ x: 20, y: 40, w: 180, h: 200 }).resize({ w: 110 })],
    ['nested/e.png', () => a.clone().crop({ x: 100, y: 50, w: 250, h: 180 }).resize({ w: 150 })],
    ['z/f.bmp', () => small(b, 100).flip({ vertical: true })],
    ['A-upper.png', () => small(a, 130).flip({ horizontal: true, vertical: true })],
    ['g.jpeg', () => small(a, 170)],
  ];
  const n = Math.min(options.count ?? recipes.length, recipes.length);
  const good: string[] = [];
  for (const [name, make] of recipes.slice(0, n)) {
    const path = join(dir, ...name.split('/'));
    mkdirSync(dirname(path), { recursive: true });
    const img = make();
    const mime = name.endsWith('.png') ? 'image/png' : name.endsWith('.bmp') ? 'image/bmp' : 'image/jpeg';
    writeFileSync(path, await img.getBuffer(mime));
    good.push(name);
  }
  const bad: string[] = [];
  if (options.withBad) {
    writeFileSync(join(dir, 'broken.jpg'), Buffer.from('this is not a JPEG at all, just some text pretending to be one'));
    writeFileSync(join(dir, 'empty.png'), Buffer.alloc(0));
    bad.push('broken.jpg', 'empty.png');
  }
  writeFileSync(join(dir, 'notes.txt'), 'not an image\n');
  mkdirSync(join(dir, '.hidden'), { recursive: true });
  writeFileSync(join(dir, '.hidden', 'x.png'), await small(a, 50).getBuffer('image/png'));
  const cmp = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
  return { dir, good: good.sort(cmp), bad: bad.sort(cmp) };
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Environment of the CLI runs: single-threaded wasm (several processes share 2 cores; deterministic). */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, SAM_TFJS_WASM_THREADS: '1', ...extra };
  delete env.SAM_TFJS_SHARD;
  delete env.SAM_TFJS_MODEL;
  delete env.JOB_COMPLETION_INDEX;
  delete env.SLURM_ARRAY_TASK_ID;
  delete env.SAM_TFJS_SHARD_INDEX;
  for (const [k, v] of Object.entries(extra)) env[k] = v;
  return env;
}

/** Starts `node dist/src/cli/main.js ...args`. */
export function startCli(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [CLI, ...args], { env: cliEnv(options.env), cwd: options.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

/** Runs the CLI to the end. */
export function runCli(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): Promise<CliResult> {
  return startCli(args, options).done;
}

/** The JSON lines of a --json run's stdout. */
export function jsonEvents(stdout: string): Array<Record<string, any>> {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l);
      } catch {
        throw new Error(`stdout line is not JSON: ${l}`);
      }
    });
}

/** Model flags for a fixture model. */
export function modelArgs(m: FixtureModel, backend = 'wasm'): string[] {
  return ['--model', m.pth, '--config', m.config, '--backend', backend];
}

/** Small, fast generator settings for the fixture models (a few masks per image). */
export const FAST_AMG = ['--points-per-side', '4', '--pred-iou-thresh', '0.5', '--stability-score-thresh', '0.8'];

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
