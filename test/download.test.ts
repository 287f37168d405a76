/**
 * `downloadCheckpoint` against a local HTTP server on 127.0.0.1 (never the real URL): a fixture
 * checkpoint served under a fake name with its MD5 given as the expected digest. A broken
 * connection resumes with Range; a server without Range support restarts; a corrupted file is
 * deleted and reported; a 404 is a clear error; every success ends in converted weights.
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { checkpointUrl, CHECKPOINT_URL_ENV, DownloadError, downloadCheckpoint, type DownloadOptions } from '../converter/download.js';
import { createProgress } from '../converter/progress.js';
import { useBackend } from './helpers/backends.js';
import { makeTempDir, rejects, removeDir } from './helpers/convert_env.js';
import { fixtureCases, fixturePath } from './helpers/fixtures.js';
import { fileHandler, startLocalServer, type FileServeOptions, type LocalServer } from './helpers/local_server.js';

const test = suite('download');
const caseName = fixtureCases()[0];
const NAME = 'sam_test_0123ab.pth';
const bytes = new Uint8Array(readFileSync(fixturePath(caseName, 'model.pth')));
const md5 = createHash('md5').update(bytes).digest('hex');
const ctx: { tmp?: string; start?: number; n: number } = { n: 0 };

test.before(async () => {
  await useBackend('cpu');
  ctx.start = tf.memory().numTensors;
  ctx.tmp = makeTempDir('download');
});
test.after(() => {
  if (ctx.tmp) removeDir(ctx.tmp);
  assert.is(tf.memory().numTensors, ctx.start, 'tensors leaked');
});

/** A fresh weights folder and the options to download the fixture into it from `server`. */
function setup(server: LocalServer, extra: Partial<DownloadOptions> = {}): { weightsDir: string; options: DownloadOptions; dest: string } {
  const weightsDir = join(ctx.tmp!, `w${ctx.n++}`);
  const options: DownloadOptions = {
    modelType: 'vit_b',
    baseUrl: `${server.url}/mirror/`,
    file: NAME,
    md5,
    weightsDir,
    retries: 2,
    retryDelayMs: 5,
    progress: 'none',
    convertOptions: { config: fixturePath(caseName, 'config.json') },
    ...extra,
  };
  return { weightsDir, options, dest: join(weightsDir, 'checkpoints', NAME) };
}

async function serve(options: FileServeOptions = {}): Promise<LocalServer> {
  const handler = fileHandler(`mirror/${NAME}`, bytes, options);
  return startLocalServer(handler, 20_000);
}

function assertConverted(weightsDir: string, dest: string): void {
  assert.ok(existsSync(join(weightsDir, 'vit_b', 'model.json')), 'converted into weights/<type>/');
  assert.ok(readFileSync(dest).equals(Buffer.from(bytes)), 'the checkpoint is intact');
  assert.not.ok(existsSync(`${dest}.part`));
}

test('a connection broken mid-file is resumed with a Range request and completes', async () => {
  const server = await serve({ breakFirstAfter: Math.floor(bytes.length / 2) });
  try {
    const { weightsDir, options, dest } = setup(server);
    const r = await downloadCheckpoint(options);
    assert.is(r.url, `${server.url}/mirror/${NAME}`);
    assert.ok(r.downloaded);
    assert.is(r.md5, md5);
    assert.is(r.bytes, bytes.length);
    assert.is(server.requests.length, 2);
    assert.is(server.requests[0].range, undefined);
    const m = /^bytes=(\d+)-$/.exec(server.requests[1].range ?? '');
    assert.ok(m, `resumed with a Range request (got ${server.requests[1].range})`);
    assert.ok(Number(m![1]) > 0 && Number(m![1]) <= bytes.length / 2, `resumed at ${m![1]}`);
    assertConverted(weightsDir, dest);
    assert.is(r.conversion!.outDir, join(weightsDir, 'vit_b'));
  } finally {
    await server.close();
  }
});

test('a partial file from an earlier run resumes; a server without Range support restarts from zero', async () => {
  const broken = await serve({ breakFirstAfter: 100_000 });
  const s = setup(broken, { retries: 0 });
  const e = await rejects(() => downloadCheckpoint(s.options), /the connection broke after|connection ended/, /run again to resume/);
  assert.is((e as DownloadError).kind, 'network');
  await broken.close();
  const partial = statSync(`${s.dest}.part`).size;
  assert.ok(partial > 0 && partial < bytes.length);
  assert.not.ok(existsSync(join(s.weightsDir, 'vit_b')));

  // a later run against a server that honours Range continues where it stopped
  const ranged = await serve();
  try {
    const r = await downloadCheckpoint({ ...s.options, baseUrl: `${ranged.url}/mirror/`, retries: 2 });
    assert.is(r.resumedFrom, partial);
    assert.equal(ranged.requests.map((q) => q.range), [`bytes=${partial}-`]);
    assertConverted(s.weightsDir, s.dest);
  } finally {
    await ranged.close();
  }

  // the same situation with a server that ignores Range (answers 200 with everything)
  const again = setup(broken, { retries: 0 });
  mkdirSync(join(again.weightsDir, 'checkpoints'), { recursive: true });
  writeFileSync(`${again.dest}.part`, bytes.subarray(0, 12345));
  const plain = await serve({ range: false });
  try {
    const r = await downloadCheckpoint({ ...again.options, baseUrl: `${plain.url}/mirror/`, retries: 1 });
    assert.is(plain.requests.length, 1);
    assert.is(plain.requests[0].range, 'bytes=12345-');
    assert.is(r.bytes, bytes.length);
    assertConverted(again.weightsDir, again.dest);
  } finally {
    await plain.close();
  }
});

test('a corrupted download fails the checksum, is deleted, and nothing is converted', async () => {
  const corrupted = bytes.slice();
  corrupted[corrupted.length >> 1] ^= 0xff;
  const server = await serve({ body: corrupted });
  try {
    const { weightsDir, options, dest } = setup(server);
    const e = await rejects(() => downloadCheckpoint(options), /checksum mismatch/, new RegExp(`expected ${md5}`), /deleted/);
    assert.is((e as DownloadError).kind, 'checksum');
    assert.not.ok(existsSync(dest));
    assert.not.ok(existsSync(`${dest}.part`));
    assert.not.ok(existsSync(join(weightsDir, 'vit_b')));
    assert.equal(readdirSync(join(weightsDir, 'checkpoints')), []);
  } finally {
    await server.close();
  }
});

test('HTTP 404: a clear error at once (no retries), nothing kept', async () => {
  const server = await serve();
  try {
    const { weightsDir, options, dest } = setup(server, { file: 'sam_vit_x_000000.pth' });
    const e = await rejects(() => downloadCheckpoint(options), /HTTP 404/, /sam_vit_x_000000\.pth/, /check the model type and the URL base/);
    assert.is((e as DownloadError).status, 404);
    assert.is(server.requests.length, 1);
    assert.not.ok(existsSync(join(weightsDir, 'checkpoints', 'sam_vit_x_000000.pth.part')));
    assert.not.ok(existsSync(dest));
    assert.not.ok(existsSync(join(weightsDir, 'vit_b')));
  } finally {
    await server.close();
  }
});

test('a verified file is not fetched again; a complete .part is verified after a 416', async () => {
  const server = await serve();
  try {
    const s = setup(server, { convert: false });
    mkdirSync(join(s.weightsDir, 'checkpoints'), { recursive: true });
    writeFileSync(`${s.dest}.part`, bytes);
    const first = await downloadCheckpoint(s.options);
    assert.equal(server.requests.map((q) => q.range), [`bytes=${bytes.length}-`]);
    assert.ok(first.downloaded && first.conversion === undefined);
    const lines: string[] = [];
    const second = await downloadCheckpoint({ ...s.options, convert: true, keepCheckpoint: false, progress: createProgress('json', { write: (l: string) => lines.push(l) }) });
    assert.is(server.requests.length, 1, 'no second request');
    assert.not.ok(second.downloaded);
    assert.not.ok(existsSync(s.dest), 'keepCheckpoint: false removes the .pth after converting');
    assert.ok(existsSync(join(s.weightsDir, 'vit_b', 'model.json')));
    const events = lines.map((l) => JSON.parse(l));
    assert.ok(events.some((ev) => ev.event === 'progress' && ev.done === ev.total && ev.total > 100), 'conversion progress as JSON lines');
  } finally {
    await server.close();
  }
});

test('URLs: official by default, a mirror from the option or $SAM_TFJS_CHECKPOINT_URL', () => {
  assert.is(checkpointUrl('vit_b', undefined, undefined, {}), 'https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth');
  assert.is(checkpointUrl('vit_h', undefined, undefined, { [CHECKPOINT_URL_ENV]: 'http://127.0.0.1:9/m' }), 'http://127.0.0.1:9/m/sam_vit_h_4b8939.pth');
  assert.is(checkpointUrl('vit_l', 'http://127.0.0.1:9/a/', undefined, { [CHECKPOINT_URL_ENV]: 'http://127.0.0.1:9/m' }), 'http://127.0.0.1:9/a/sam_vit_l_0b3195.pth');
});

test.run();
