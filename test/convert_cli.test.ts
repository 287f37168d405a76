/**
 * The converter CLI as a user runs it: a subprocess on dist/converter/cli.js when the tests run
 * compiled (npm test), else on converter/cli.ts through tsx. Exit codes 0 / 1 / 2, --help with
 * examples, --json output, and `download` against a loopback server (URL base from the
 * environment, as a mirror would be configured).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { CHECKPOINT_URL_ENV } from '../converter/download.js';
import { assertNothingLeft, cliCommand, makeTempDir, removeDir, timeSuite } from './helpers/convert_env.js';
import { fixtureCases, fixturePath, ROOT } from './helpers/fixtures.js';
import { fileHandler, startLocalServer } from './helpers/local_server.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const { cmd, args: pre } = cliCommand();
  return new Promise((resolve) => {
    execFile(cmd, [...pre, ...args], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const test = suite('converter CLI');
const caseName = fixtureCases()[0];
const ctx: { tmp?: string } = {};
timeSuite(test);
test.before(() => {
  ctx.tmp = makeTempDir('cli');
});
test.after(() => {
  if (ctx.tmp) removeDir(ctx.tmp);
});

test('--help with examples (exit 0); usage errors exit 2 with a hint', async () => {
  const [help, convertHelp, none, badDtype, badShard, badModel, unknown] = await Promise.all([
    cli(['--help']),
    cli(['convert', '--help']),
    cli([]),
    cli(['convert', 'x.pth', '--dtype', 'int4']),
    cli(['convert', 'x.pth', '--shard-size', '4QB']),
    cli(['download', 'vit_z']),
    cli(['convert', 'x.pth', '--frobnicate']),
  ]);
  assert.is(help.code, 0, help.stderr);
  assert.match(help.stdout, /convert <checkpoint>/);
  assert.match(help.stdout, /download <model>/);
  assert.is(convertHelp.code, 0);
  assert.match(convertHelp.stdout, /Examples:/);
  assert.match(convertHelp.stdout, /--dtype/);
  assert.match(convertHelp.stdout, /sam_vit_b_01ec64\.pth/);
  for (const [r, pattern] of [
    [none, /give a command|Not enough/],
    [badDtype, /Invalid values[\s\S]*dtype/],
    [badShard, /invalid size '4QB'/],
    [badModel, /Invalid values[\s\S]*vit_z/],
    [unknown, /Unknown argument: frobnicate/],
  ] as [Run, RegExp][]) {
    assert.is(r.code, 2, `${pattern}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.match(r.stderr, /--help/);
  }
});

test('convert: writes the weights, --json result on stdout; failures exit 1 and leave nothing', async () => {
  const out = join(ctx.tmp!, 'weights', 'tiny');
  const taken = join(ctx.tmp!, 'weights', 'taken');
  mkdirSync(taken, { recursive: true });
  writeFileSync(join(taken, 'model.json'), '{}');
  const args = (dir: string) => ['convert', fixturePath(caseName, 'model.pth'), '--config', fixturePath(caseName, 'config.json'), '--out', dir, '--dtype', 'float16', '--shard-size', '64KB'];
  const [ok, exists, png] = await Promise.all([
    cli([...args(out), '--json']),
    cli(args(taken)),
    cli(['convert', fixturePath(caseName, 'image.png'), '--out', join(ctx.tmp!, 'weights', 'png')]),
  ]);
  assert.is(ok.code, 0, ok.stderr);
  const result = JSON.parse(ok.stdout);
  assert.is(result.outDir, out);
  assert.is(result.dtype, 'float16');
  assert.is(result.shards, Math.ceil(result.bytes / 65536));
  assert.equal(readdirSync(out).length, result.shards + 1);
  assert.is(ok.stderr, '', 'no progress or banner on stderr when it is not a terminal');
  assert.is(exists.code, 1);
  assert.match(exists.stderr, /already exists; pass overwrite \(--overwrite\)/);
  assert.is(png.code, 1);
  assert.match(png.stderr, /error: not a PyTorch checkpoint .* PNG image/);
  assertNothingLeft(join(ctx.tmp!, 'weights', 'png'));
  const replaced = await cli([...args(taken), '--overwrite', '--quiet']);
  assert.is(replaced.code, 0, replaced.stderr);
  assert.is(replaced.stdout, '');
  assert.equal(readdirSync(taken).sort(), readdirSync(out).sort());
});

test('download: from a mirror in $SAM_TFJS_CHECKPOINT_URL, MD5-checked, converted; a 404 exits 1', async () => {
  const name = 'sam_test_4242aa.pth';
  const bytes = new Uint8Array(readFileSync(fixturePath(caseName, 'model.pth')));
  const md5 = createHash('md5').update(bytes).digest('hex');
  const server = await startLocalServer(fileHandler(`m/${name}`, bytes, { breakFirstAfter: 50_000 }), 30_000);
  try {
    const weightsDir = join(ctx.tmp!, 'dl');
    const common = ['download', 'vit_b', '--weights-dir', weightsDir, '--config', fixturePath(caseName, 'config.json'), '--md5', md5, '--retry-delay', '5'];
    const ok = await cli([...common, '--file', name, '--json'], { [CHECKPOINT_URL_ENV]: `${server.url}/m/` });
    assert.is(ok.code, 0, ok.stderr);
    const r = JSON.parse(ok.stdout);
    assert.equal([r.md5, r.bytes, r.downloaded, r.url], [md5, bytes.length, true, `${server.url}/m/${name}`]);
    assert.is(r.conversion.outDir, join(weightsDir, 'vit_b'));
    assert.ok(existsSync(join(weightsDir, 'vit_b', 'model.json')));
    assert.ok(existsSync(join(weightsDir, 'checkpoints', name)));
    assert.match(server.requests[1].range ?? '', /^bytes=\d+-$/);

    const missing = await cli([...common, '--file', 'nope.pth', '--base-url', `${server.url}/m`]);
    assert.is(missing.code, 1);
    assert.match(missing.stderr, /HTTP 404/);
    assert.not.ok(existsSync(join(weightsDir, 'checkpoints', 'nope.pth.part')));
  } finally {
    await server.close();
  }
});

test.run();
