/**
 * `sam-tfjs dataset` / `merge` as a user runs them (`node dist/src/cli/main.js`, after tsc), on
 * a fixture model and a folder of test images with a corrupt and an empty file:
 * - an uninterrupted run logs and skips the bad images, exits 3, counts them;
 * - its annotations decode to the masks the library's generator returns for the same images;
 * - a run killed with SIGKILL at several points (and left with half-written temporaries)
 *   and restarted each time ends with the same bytes, and never redoes a finished image;
 * - SIGINT (among the kills) stops after the current image with exit code 130;
 * - shards run as separate processes and merged give the unsharded file, ids included;
 * - resuming with other settings is refused (exit 2); --retry-failed retries failures.
 */
import { copyFileSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cocoStringToRle, rleToMask } from '../src/sam/amg/index.js';
import type { CocoRle } from '../src/sam/amg/types.js';
import type { CocoDataset } from '../src/dataset/coco.js';
import {
  cliEnv,
  FAST_AMG,
  fixtureModels,
  jsonEvents,
  makeImageFolder,
  modelArgs,
  requireBuiltCli,
  runCli,
  sleep,
  startCli,
  tempDir,
  type ImageFolder,
} from './helpers/cli_env.js';
import { ROOT } from './helpers/fixtures.js';

const test = suite('sam-tfjs dataset (subprocess)');
const model = fixtureModels()[0];
const ctx: { dir: string; folder: ImageFolder; reference: Buffer; refPath: string } = {} as never;

const datasetArgs = (out: string, extra: string[] = []) => ['dataset', ctx.folder.dir, '--out', out, ...modelArgs(model), ...FAST_AMG, ...extra];

function doneParts(stateDir: string): number {
  const done = join(stateDir, 'done');
  if (!existsSync(done)) return 0;
  return readdirSync(done).reduce((n, d) => n + readdirSync(join(done, d)).filter((f) => f.endsWith('.json') && !f.startsWith('.')).length, 0);
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 60000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** The images whose part is on disk (each finished image's part names its file). */
function donePartFiles(stateDir: string): Set<string> {
  const done = join(stateDir, 'done');
  const names = new Set<string>();
  if (!existsSync(done)) return names;
  for (const d of readdirSync(done)) {
    for (const f of readdirSync(join(done, d))) {
      if (f.endsWith('.json') && !f.startsWith('.')) names.add(JSON.parse(readFileSync(join(done, d, f), 'utf8')).file_name as string);
    }
  }
  return names;
}

const doneFiles = (stdout: string) =>
  jsonEvents(stdout)
    .filter((e) => e.event === 'image' && e.status === 'done')
    .map((e) => e.file as string);

test.before(async () => {
  requireBuiltCli();
  ctx.dir = tempDir('dataset-cli');
  ctx.folder = await makeImageFolder(join(ctx.dir, 'images'), { count: 6, withBad: true });
});
test.after(() => rmSync(ctx.dir, { recursive: true, force: true }));

test('an uninterrupted run: bad images are logged with their reason and skipped, exit 3, counted', async () => {
  ctx.refPath = join(ctx.dir, 'ref', 'ds.json');
  const r = await runCli(datasetArgs(ctx.refPath));
  assert.is(r.code, 3, `exit code 3 = completed with failures\n${r.stderr}`);
  assert.match(r.stderr, /skipped broken\.jpg: cannot decode image broken\.jpg: unrecognised content/);
  assert.match(r.stderr, /skipped empty\.png: cannot decode image empty\.png: the file is empty/);
  assert.match(r.stdout, /dataset: 6 of 8 image\(s\) done, 2 failed/);
  ctx.reference = readFileSync(ctx.refPath);
  const ds: CocoDataset = JSON.parse(ctx.reference.toString('utf8'));
  assert.equal(ds.images.map((i) => i.file_name), ctx.folder.good);
  // Ids from the position in the sorted list of every image (bad ones included).
  const all = [...ctx.folder.good, ...ctx.folder.bad].sort((a, b) => (a < b ? -1 : 1));
  assert.equal(ds.images.map((i) => i.id), ctx.folder.good.map((f) => all.indexOf(f) + 1));
  assert.equal(
    ds.info.failed_images.map((f) => f.file_name),
    ['broken.jpg', 'empty.png'],
  );
  assert.ok(ds.annotations.length > 0);
  assert.equal(ds.annotations.map((a) => a.id), ds.annotations.map((_, i) => i + 1));
  for (const a of ds.annotations) {
    assert.is(a.category_id, 1);
    assert.is(typeof a.segmentation.counts, 'string');
    for (const k of ['bbox', 'area', 'predicted_iou', 'stability_score', 'point_coords', 'crop_box']) assert.ok(k in a, k);
  }
  // Run again with --json: nothing to do, the same file, a machine-readable summary; --allow-failures gives 0.
  const again = await runCli(datasetArgs(ctx.refPath, ['--json', '--allow-failures']));
  assert.is(again.code, 0, again.stderr);
  assert.is(again.stderr, '', 'with --json stderr stays empty');
  const events = jsonEvents(again.stdout);
  const summary = events.find((e) => e.event === 'summary')!;
  assert.equal(
    { status: summary.status, succeeded: summary.succeeded, failed: summary.failed, processedNow: summary.processedNow, alreadyDone: summary.alreadyDone },
    { status: 'completed_with_failures', succeeded: 6, failed: 2, processedNow: 0, alreadyDone: 6 },
  );
  assert.equal(summary.failures.map((f: { file: string }) => f.file), ['broken.jpg', 'empty.png']);
  assert.ok(readFileSync(ctx.refPath).equals(ctx.reference), 'a rerun changed the dataset');
});

test('annotations decode to the masks the library generator returns for the same images', async () => {
  const ds: CocoDataset = JSON.parse(ctx.reference.toString('utf8'));
  const options = { pointsPerSide: 4, predIouThresh: 0.5, stabilityScoreThresh: 0.8 };
  const script = join(ROOT, 'dist', 'test', 'helpers', 'amg_records_main.js');
  const paths = ds.images.map((i) => join(ctx.folder.dir, i.file_name));
  const child = spawn(process.execPath, [script, model.pth, model.config, 'wasm', JSON.stringify(options), ...paths], { env: cliEnv() });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const code = await new Promise((r) => child.on('close', r));
  assert.is(code, 0, err);
  const library = JSON.parse(out) as Record<string, Array<{ segmentation: CocoRle; predictedIou: number; stabilityScore: number; bbox: number[]; area: number }>>;
  for (const img of ds.images) {
    const records = library[join(ctx.folder.dir, img.file_name)];
    const anns = ds.annotations.filter((a) => a.image_id === img.id);
    assert.is(anns.length, records.length, `${img.file_name}: number of masks`);
    anns.forEach((a, k) => {
      const ours = rleToMask(cocoStringToRle(a.segmentation));
      const theirs = rleToMask(cocoStringToRle(records[k].segmentation));
      assert.equal(a.segmentation.size, [img.height, img.width]);
      assert.ok(Buffer.from(ours).equals(Buffer.from(theirs)), `${img.file_name} mask ${k} differs`);
      assert.is(a.predicted_iou, records[k].predictedIou);
      assert.is(a.stability_score, records[k].stabilityScore);
      assert.equal(a.bbox, records[k].bbox);
      assert.is(a.area, records[k].area);
    });
  }
});

test('killed (SIGKILL, SIGINT, SIGKILL) at several points and restarted: the same bytes, nothing finished redone', async () => {
  const out = join(ctx.dir, 'killed', 'ds.json');
  const state = `${out}.parts`;
  const processed: string[] = [];
  let processedByInterruptedRun = 0;
  for (const [atLeast, signal] of [
    [1, 'SIGKILL'],
    [3, 'SIGINT'],
    [5, 'SIGKILL'],
  ] as const) {
    // The SIGINT run is a plain (human) one, to check what it tells the user.
    const before = donePartFiles(state);
    const { child, done } = startCli(datasetArgs(out, signal === 'SIGKILL' ? ['--json'] : []));
    await waitFor(`${atLeast} finished image(s)`, () => doneParts(state) >= atLeast);
    const atSignal = doneParts(state);
    child.kill(signal);
    const r = await done;
    if (doneParts(state) < ctx.folder.good.length) assert.ok(!existsSync(out), 'no dataset file before every image is done');
    if (signal === 'SIGKILL') {
      assert.ok(r.signal === 'SIGKILL' || r.code === 3, `killed, or (on a very slow machine) finished before the kill: ${r.signal} ${r.code}`);
      // What this run finished: the parts that appeared. Its stdout can miss the last one (a
      // kill between writing a part and reporting it), but must not report any other image.
      const appeared = [...donePartFiles(state)].filter((f) => !before.has(f));
      for (const f of doneFiles(r.stdout)) assert.ok(appeared.includes(f), `${f} was reported done but had been done before, or left no part`);
      processed.push(...appeared);
    } else {
      // SIGINT: the image in progress is finished, then a clean stop with exit code 130.
      assert.is(r.code, 130, `exit code after SIGINT\n${r.stderr}`);
      // At most the image in progress when the signal arrived was finished after it (+1 for one
      // that may have ended between counting and signalling).
      assert.ok(doneParts(state) <= atSignal + 2, 'only the image in progress was finished after the signal');
      assert.match(r.stderr, /SIGINT: stopping after the image in progress/);
      const note = /interrupted: (\d+) of 8 image\(s\) done.*? \((\d+) now in .*run the same command again to continue/.exec(r.stderr);
      assert.ok(note, r.stderr);
      assert.is(Number(note![1]), doneParts(state));
      processedByInterruptedRun = Number(note![2]);
    }
  }
  // What a kill in the middle of a write leaves: temporaries next to the parts and the output.
  const someDone = join(state, 'done', readdirSync(join(state, 'done'))[0]);
  writeFileSync(join(someDone, '.0123456789abcdef0123456789abcdef.json.a1b2c3.tmp'), '{"file_name":"half-writ');
  writeFileSync(join(ctx.dir, 'killed', '.ds.json.d4e5f6.tmp'), '{"info":{"desc');
  const last = await runCli(datasetArgs(out, ['--json']));
  assert.is(last.code, 3, last.stderr);
  processed.push(...doneFiles(last.stdout));
  const start = jsonEvents(last.stdout).find((e) => e.event === 'start')!;
  assert.ok(start.alreadyDone >= 5 && start.resumed === true, JSON.stringify(start));
  assert.is(new Set(processed).size, processed.length, 'an image was processed twice');
  assert.is(processed.length + processedByInterruptedRun, ctx.folder.good.length, 'every image processed exactly once over all runs');
  assert.ok(readFileSync(out).equals(ctx.reference), 'the resumed dataset differs from the uninterrupted one');
  assert.ok(!existsSync(join(ctx.dir, 'killed', '.ds.json.d4e5f6.tmp')), 'the leftover temporary output was removed');
});

test('2 shards as separate processes (one from $JOB_COMPLETION_INDEX) + merge = the unsharded dataset', async () => {
  const out = join(ctx.dir, 'shards', 'ds.json');
  const runs = await Promise.all([
    runCli(datasetArgs(out, ['--shard', '0/2', '--quiet'])),
    runCli(datasetArgs(out, ['--shard', 'auto/2', '--quiet']), { env: { JOB_COMPLETION_INDEX: '1' } }),
  ]);
  runs.forEach((r, i) => assert.is(r.code, 3, `shard ${i}: exit ${r.code} (each shard holds a bad image)\n${r.stderr}`));
  const files = [0, 1].map((i) => join(ctx.dir, 'shards', `ds.shard-${i}-of-2.json`));
  files.forEach((f) => assert.ok(existsSync(f), f));
  const merged = join(ctx.dir, 'shards', 'merged.json');
  const m = await runCli(['merge', files[1], files[0], '--out', merged]);
  assert.is(m.code, 0, m.stderr);
  assert.match(m.stdout, /merge: 2 file\(s\), 6 images/);
  assert.ok(readFileSync(merged).equals(ctx.reference), 'merged shards differ from the unsharded dataset');
  // A missing shard is a usage error.
  const partial = await runCli(['merge', files[0], '--out', join(ctx.dir, 'shards', 'partial.json')]);
  assert.is(partial.code, 2);
  assert.match(partial.stderr, /shard\(s\) 1 of 2 missing/);
});

test('resuming with other settings is refused (exit 2); --retry-failed retries the failed images', async () => {
  const r = await runCli(datasetArgs(ctx.refPath, ['--points-per-side', '5']).filter((a, i, all) => !(a === '4' && all[i - 1] === '--points-per-side') && !(a === '--points-per-side' && all[i + 1] === '4')));
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, /cannot resume the run in .*ds\.json\.parts: it was started with other settings:\n\s+amg\.points_per_side: now 5, before 4/);
  assert.ok(readFileSync(ctx.refPath).equals(ctx.reference));

  // broken.jpg becomes readable: an earlier failure is not retried (see the first test's rerun) unless asked.
  copyFileSync(join(ctx.folder.dir, ctx.folder.good[0]), join(ctx.folder.dir, 'broken.jpg'));
  const retry = await runCli(datasetArgs(ctx.refPath, ['--json', '--retry-failed']));
  assert.is(retry.code, 3, 'empty.png still fails');
  const summary = jsonEvents(retry.stdout).find((e) => e.event === 'summary')!;
  assert.equal([summary.processedNow, summary.succeeded, summary.failed], [1, 7, 1]);
  const ds: CocoDataset = JSON.parse(readFileSync(ctx.refPath, 'utf8'));
  assert.ok(ds.images.some((i) => i.file_name === 'broken.jpg'));
  assert.equal(ds.info.failed_images.map((f) => f.file_name), ['empty.png']);
});

test.run();
