/** Shared pieces of the converter tests: temp folders, loading converted weights, leftovers checks, the CLI. */
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { samConfigFromReferenceJson, type SamConfig } from '../../src/sam/config.js';
import type { SamModel } from '../../src/sam/sam_model.js';
import { loadConvertedSam } from '../../src/sam/tfjs_weights.js';
import type { TorchTensor } from '../../converter/torch_types.js';
import { readJson, ROOT } from './fixtures.js';
import { bytesOf, type SynthCheckpoint, type SynthDType } from './pth_writer.js';

export function makeTempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `sam-${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export function fixtureConfig(caseName: string): SamConfig {
  return samConfigFromReferenceJson(readJson(caseName, 'config.json'));
}

/** Loads converted weights (the tests then check that nothing is left over). */
export async function loadConverted(source: string | tf.io.IOHandler): Promise<SamModel> {
  return loadConvertedSam(source);
}

/** Every weight of two models is bit-identical. */
export function assertSameWeights(a: SamModel, b: SamModel): void {
  const pa = a.torchParams();
  const pb = b.torchParams();
  assert.equal([...pa.keys()].sort(), [...pb.keys()].sort());
  for (const [k, p] of pa) {
    const x = p.variable.read().dataSync();
    const y = pb.get(k)!.variable.read().dataSync();
    assert.is(x.length, y.length, k);
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) assert.unreachable(`${k}[${i}]: ${x[i]} != ${y[i]}`);
  }
}

/** The output directory is absent and no temporary sibling (`.<name>.*`) was left next to it. */
export function assertNothingLeft(outDir: string): void {
  assert.not.ok(existsSync(outDir), `${outDir} should not exist`);
  const parent = dirname(outDir);
  if (!existsSync(parent)) return;
  const leftovers = readdirSync(parent).filter((n) => n.startsWith(`.${basename(outDir)}.`));
  assert.equal(leftovers, [], `temporary leftovers in ${parent}`);
}

/** How to run the CLI: the compiled JS when the tests run compiled (npm test), else the TS through tsx. */
export function cliCommand(): { cmd: string; args: string[] } {
  const here = fileURLToPath(import.meta.url);
  const compiled = join(ROOT, 'dist', 'converter', 'cli.js');
  if (here.includes(`${join(ROOT, 'dist')}`) && existsSync(compiled)) return { cmd: process.execPath, args: [compiled] };
  return { cmd: process.execPath, args: ['--import', 'tsx', join(ROOT, 'converter', 'cli.ts')] };
}

/** Asserts that `run` rejects with an error whose message matches every pattern; returns the error. */
export async function rejects(run: () => Promise<unknown>, ...patterns: RegExp[]): Promise<Error> {
  let error: unknown;
  try {
    await run();
  } catch (e) {
    error = e;
  }
  if (error === undefined) throw new Error(`expected an error matching ${patterns.join(', ')}, but none was thrown`);
  const message = (error as Error)?.message ?? String(error);
  for (const p of patterns) assert.match(message, p, `message ${JSON.stringify(message)} does not match ${p}`);
  return error as Error;
}

/** With SAM_TEST_TIMING=1, prints how long each test of the suite (and its before hook) takes. */
export function timeSuite(test: { before: { each: (fn: (s: any) => void) => void }; after: { each: (fn: (s: any) => void) => void } }): void {
  if (!process.env.SAM_TEST_TIMING) return;
  let t = 0;
  test.before.each(() => {
    t = Date.now();
  });
  test.after.each((s: { __test__: string }) => {
    process.stderr.write(`\n    ${s.__test__}: ${Date.now() - t} ms\n`);
  });
}

/** A state dict as a synthetic torch checkpoint description (one storage per tensor), for pth_writer. */
export function stateDictToSynth(sd: Map<string, TorchTensor>): SynthCheckpoint {
  const entries = [...sd];
  return {
    storages: entries.map(([, t], i) => ({ key: String(i), dtype: t.dtype as SynthDType, bytes: bytesOf(t.data) })),
    tensors: entries.map(([name, t], i) => ({ name, storage: String(i), shape: [...t.shape] })),
  };
}
