/**
 * Bad input and unwritable output: every case fails with a clear message and leaves neither the
 * output directory nor a temporary directory behind (also when it fails half-way: an abort, a
 * value float16 cannot hold).
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConvertError, convertCheckpoint } from '../converter/convert.js';
import { CheckpointError, loadStateDict } from '../converter/index.js';
import { QuantizationError } from '../converter/quantize.js';
import { StateDictMismatchError } from '../src/sam/state_dict.js';
import { useBackend } from './helpers/backends.js';
import { assertNothingLeft, fixtureConfig, makeTempDir, rejects, removeDir, stateDictToSynth } from './helpers/convert_env.js';
import { fixtureCases, fixturePath } from './helpers/fixtures.js';
import { torchZip } from './helpers/pth_writer.js';

const test = suite('convert: bad input, unwritable output');
const ctx: { tmp?: string; start?: number } = {};
const caseName = fixtureCases()[0];
const otherCase = fixtureCases().find((c) => c !== caseName);

test.before(async () => {
  await useBackend('cpu');
  ctx.start = tf.memory().numTensors;
  ctx.tmp = makeTempDir('convert-errors');
});
test.after(() => {
  if (ctx.tmp) removeDir(ctx.tmp);
  assert.is(tf.memory().numTensors, ctx.start, 'tensors leaked');
});

const out = (name: string) => join(ctx.tmp!, 'weights', name);

test('a file that is not a checkpoint: says what it is', async () => {
  const png = await rejects(() => convertCheckpoint({ input: fixturePath(caseName, 'image.png'), outDir: out('png') }), /not a PyTorch checkpoint/, /PNG image/);
  assert.instance(png, CheckpointError);
  assertNothingLeft(out('png'));
  const text = join(ctx.tmp!, 'notes.pth');
  writeFileSync(text, 'these are not the weights you are looking for\n');
  await rejects(() => convertCheckpoint({ input: text, outDir: out('text') }), /not a PyTorch checkpoint/, /text file/);
  assertNothingLeft(out('text'));
  await rejects(() => convertCheckpoint({ input: join(ctx.tmp!, 'missing.pth'), outDir: out('missing') }), /cannot open checkpoint .*missing\.pth/);
  assertNothingLeft(out('missing'));
});

test('a truncated zip or legacy checkpoint: "truncated", nothing written', async () => {
  for (const file of ['model.pth', 'model.legacy.pth']) {
    const bytes = readFileSync(fixturePath(caseName, file));
    const cut = join(ctx.tmp!, `cut-${file}`);
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    await rejects(() => convertCheckpoint({ input: cut, config: fixtureConfig(caseName), outDir: out(file) }), /truncated/, /download or save it again|cut short/);
    assertNothingLeft(out(file));
  }
});

test('a checkpoint of another model: missing and unexpected keys named', async () => {
  const other = torchZip(
    stateDictToSynth(
      new Map([
        ['backbone.conv1.weight', { dtype: 'float32', shape: [4, 3, 3, 3], data: new Float32Array(108) }],
        ['head.fc.bias', { dtype: 'float32', shape: [10], data: new Float32Array(10) }],
      ]),
    ),
  );
  const file = join(ctx.tmp!, 'resnet.pth');
  writeFileSync(file, other);
  const e = await rejects(
    () => convertCheckpoint({ input: file, config: fixtureConfig(caseName), outDir: out('resnet') }),
    /does not match the model/,
    /missing keys \(\d+\):[\s\S]*image_encoder\.patch_embed\.proj\.weight/,
    /unexpected keys \(2\):[\s\S]*backbone\.conv1\.weight[\s\S]*head\.fc\.bias/,
  );
  assert.instance(e, StateDictMismatchError);
  assertNothingLeft(out('resnet'));
  // without a config, it cannot even tell the architecture
  await rejects(() => convertCheckpoint({ input: file, outDir: out('resnet') }), /do not match vit_b, vit_l or vit_h/, /--config/);
  assertNothingLeft(out('resnet'));
});

test('the right keys with the wrong architecture: shape mismatches named', async () => {
  if (!otherCase) return;
  await rejects(
    () => convertCheckpoint({ input: fixturePath(caseName, 'model.pth'), config: fixtureConfig(otherCase), outDir: out('mixed') }),
    /shape mismatches \(\d+\):[\s\S]*image_encoder\.patch_embed\.proj\.weight: checkpoint \[\d+, 3, 16, 16\] vs model/,
  );
  assertNothingLeft(out('mixed'));
});

test('an output that cannot be written: a path under a regular file (fails as root too)', async () => {
  const file = join(ctx.tmp!, 'a-file');
  writeFileSync(file, 'x');
  const target = join(file, 'weights', 'tiny');
  const e = await rejects(() => convertCheckpoint({ input: fixturePath(caseName, 'model.pth'), config: fixtureConfig(caseName), outDir: target }), /cannot (use|write) the output directory/, /ENOTDIR/);
  assert.instance(e, ConvertError);
  assert.is(readFileSync(file, 'utf8'), 'x');
  assert.equal(readdirSync(ctx.tmp!).filter((n) => n.startsWith('.')), []);
});

test('an output that exists as a file, or as a folder of other things, is never replaced', async () => {
  const file = out('is-a-file');
  mkdirSync(join(ctx.tmp!, 'weights'), { recursive: true });
  writeFileSync(file, 'keep me');
  await rejects(
    () => convertCheckpoint({ input: fixturePath(caseName, 'model.pth'), config: fixtureConfig(caseName), outDir: file, overwrite: true }),
    /exists and is not a directory/,
  );
  assert.is(readFileSync(file, 'utf8'), 'keep me');
  const dir = out('my-project');
  mkdirSync(dir);
  writeFileSync(join(dir, 'notes.txt'), 'keep me too');
  await rejects(
    () => convertCheckpoint({ input: fixturePath(caseName, 'model.pth'), config: fixtureConfig(caseName), outDir: dir, overwrite: true }),
    /not replacing .*my-project: it holds files other than model\.json/,
  );
  assert.equal(readdirSync(dir), ['notes.txt']);
});

test('aborted half-way: the partial output and the folders created for it are removed', async () => {
  const controller = new AbortController();
  const target = join(ctx.tmp!, 'deep', 'er', 'tiny');
  let seen = 0;
  await rejects(
    () =>
      convertCheckpoint({
        input: fixturePath(caseName, 'model.pth'),
        config: fixtureConfig(caseName),
        outDir: target,
        shardSizeBytes: 1024,
        signal: controller.signal,
        onProgress: (p) => {
          seen = p.done;
          if (p.done === 50) controller.abort();
        },
      }),
    /abort/i,
  );
  assert.is(seen, 50);
  assertNothingLeft(target);
  assert.not.ok(existsSync(join(ctx.tmp!, 'deep')), 'the parent folders made for the output are removed again');
});

test('a value float16 cannot hold fails the conversion mid-way, naming the tensor, nothing left', async () => {
  const sd = await loadStateDict(fixturePath(caseName, 'model.pth'));
  const keys = [...sd.keys()];
  const victim = keys[Math.floor(keys.length / 2)];
  const t = sd.get(victim)!;
  const values = Float32Array.from(t.data as Float32Array);
  values[0] = 1e6;
  sd.set(victim, { ...t, data: values });
  const file = join(ctx.tmp!, 'huge.pth');
  writeFileSync(file, torchZip(stateDictToSynth(sd)));
  const target = out('huge');
  let written = 0;
  const e = await rejects(
    () => convertCheckpoint({ input: file, config: fixtureConfig(caseName), outDir: target, dtype: 'float16', shardSizeBytes: 512, onProgress: (p) => (written = p.done) }),
    new RegExp(`${victim.replace(/\./g, '\\.')}: value 1000000 is outside the float16 range`),
  );
  assert.instance(e, QuantizationError);
  assert.ok(written > 10, 'it failed after writing shards');
  assertNothingLeft(target);
  // the same file converts fine to float32 and uint8
  const ok = await convertCheckpoint({ input: file, config: fixtureConfig(caseName), outDir: target, dtype: 'uint8' });
  assert.ok(existsSync(ok.modelJsonPath));
});

test('bad options are refused before anything is read', async () => {
  const base = { input: fixturePath(caseName, 'model.pth'), config: fixtureConfig(caseName), outDir: out('opts') };
  await rejects(() => convertCheckpoint({ ...base, dtype: 'int4' as never }), /unknown dtype 'int4'/);
  await rejects(() => convertCheckpoint({ ...base, shardSizeBytes: 0 }), /shardSizeBytes must be a positive whole number/);
  await rejects(() => convertCheckpoint({ ...base, outDir: undefined, name: '../up' }), /invalid name/);
  await rejects(() => convertCheckpoint({ ...base, config: join(ctx.tmp!, 'nope.json') }), /cannot read the config/);
  assertNothingLeft(out('opts'));
});

test.run();
