/**
 * `sam-tfjs` as a user runs it (`node dist/src/cli/main.js`, after tsc) on a fixture model:
 * help, usage errors (exit 2), failures (exit 1), `segment` (mask / overlay / cut-out PNGs and
 * the JSON record, with points, a box, multimask, and from a saved embedding), `auto` in both
 * of amg.py's output modes (PNGs + metadata.csv; COCO RLE JSON in the SA-1B layout), `embed`,
 * and `convert` (mounted from the converter) whose weights give the same masks as the .pth.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Jimp } from 'jimp';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { pyFloat, METADATA_CSV_HEADER, type Sa1bImageJson, type SegmentRecord } from '../src/dataset/index.js';
import { cocoStringToRle, rleToMask } from '../src/sam/amg/index.js';
import { fixtureModels, jsonEvents, makeImageFolder, modelArgs, requireBuiltCli, runCli, tempDir, FAST_AMG, type ImageFolder } from './helpers/cli_env.js';

const model = fixtureModels()[0];
const ctx: { dir: string; folder: ImageFolder } = {} as never;

/** The pixels of a PNG as 0/1 (any channel > 127), and its bit depth / colour type. */
async function readMaskPng(path: string): Promise<{ width: number; height: number; data: Uint8Array; colorType: number; bitDepth: number }> {
  const bytes = readFileSync(path);
  const img = await Jimp.read(bytes);
  const { width, height, data } = img.bitmap;
  const mask = new Uint8Array(width * height);
  for (let i = 0; i < mask.length; i++) mask[i] = data[4 * i] > 127 ? 1 : 0;
  return { width, height, data: mask, bitDepth: bytes[24], colorType: bytes[25] };
}

const maskOfRle = (seg: { size: [number, number]; counts: string }) => rleToMask(cocoStringToRle(seg));

const cli = suite('sam-tfjs (subprocess)');

cli.before(async () => {
  requireBuiltCli();
  ctx.dir = tempDir('cli');
  ctx.folder = await makeImageFolder(join(ctx.dir, 'images'), { count: 3, withBad: true });
});
cli.after(() => rmSync(ctx.dir, { recursive: true, force: true }));

cli('--help: every command, with examples and the exit codes', async () => {
  const main = await runCli(['--help']);
  assert.is(main.code, 0);
  for (const c of ['segment <image>', 'auto <input>', 'embed <input>', 'dataset <input>', 'merge <inputs..>', 'convert <checkpoint>', 'download <model>']) {
    assert.ok(main.stdout.includes(`sam-tfjs ${c}`), c);
  }
  assert.match(main.stdout, /Exit codes: 0 ok; 1 failure; 2 usage error.*3 completed/s);
  const auto = await runCli(['auto', '--help']);
  assert.is(auto.code, 0);
  // amg.py's flags, with the generator's defaults.
  for (const [flag, def] of [
    ['points-per-side', '32'],
    ['points-per-batch', '64'],
    ['pred-iou-thresh', '0.88'],
    ['stability-score-thresh', '0.95'],
    ['stability-score-offset', '1'],
    ['box-nms-thresh', '0.7'],
    ['crop-n-layers', '0'],
    ['crop-nms-thresh', '0.7'],
    ['crop-overlap-ratio', '0.3413333333333333'],
    ['crop-n-points-downscale-factor', '1'],
    ['min-mask-region-area', '0'],
  ]) {
    assert.match(auto.stdout, new RegExp(`--${flag}\\s[^]*?\\[default: ${def.replace('.', '\\.')}\\]`), flag);
  }
  assert.match(auto.stdout, /--convert-to-rle/);
  assert.match(auto.stdout, /Examples:/);
  const convert = await runCli(['convert', '--help']);
  assert.is(convert.code, 0);
  assert.match(convert.stdout, /sam-tfjs convert <checkpoint>/);
});

cli('usage errors exit with 2 (before loading anything), naming the problem', async () => {
  const img = join(ctx.folder.dir, ctx.folder.good[0]);
  const cases: Array<[string[], RegExp]> = [
    [[], /give a command/],
    [['segment', img, '--nope', '1', ...modelArgs(model)], /Unknown argument: nope/],
    [['segment', img, '--point', '1', ...modelArgs(model)], /invalid --point '1'/],
    [['segment', img, ...modelArgs(model)], /give a prompt/],
    [['auto', img, '--out', ctx.dir, '--points-per-side', '0', ...modelArgs(model)], /--points-per-side must be an integer >= 1/],
    [['dataset', ctx.folder.dir, '--out', join(ctx.dir, 'x.json'), '--shard', '2/2', ...modelArgs(model)], /index must be within 0\.\.1/],
    [['segment', img, '--point', '1,2', '--backend', 'nope'], /Invalid values/],
    [['dataset', img, '--out', join(ctx.dir, 'x.json'), ...modelArgs(model)], /needs a folder/],
  ];
  for (const [args, message] of cases) {
    const r = await runCli(args);
    assert.is(r.code, 2, `${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
  }
  // With --json the error is also an event on stdout.
  const j = await runCli(['segment', img, '--point', 'x,y', '--json', ...modelArgs(model)]);
  assert.is(j.code, 2);
  assert.equal(jsonEvents(j.stdout).map((e) => [e.event, e.exitCode]), [['error', 2]]);
});

cli('failures exit with 1: a missing model, an unreadable image', async () => {
  const img = join(ctx.folder.dir, ctx.folder.good[0]);
  const noModel = await runCli(['segment', img, '--point', '10,10', '--model', join(ctx.dir, 'nope.pth')]);
  assert.is(noModel.code, 1, noModel.stderr);
  assert.match(noModel.stderr, /error: the model .*nope\.pth does not exist/);
  const bad = await runCli(['segment', join(ctx.folder.dir, 'broken.jpg'), '--point', '10,10', '--out', join(ctx.dir, 'bad'), ...modelArgs(model)]);
  assert.is(bad.code, 1, bad.stderr);
  assert.match(bad.stderr, /error: cannot decode image .*broken\.jpg/);
  const auto = await runCli(['auto', join(ctx.folder.dir, 'empty.png'), '--out', join(ctx.dir, 'bad'), ...modelArgs(model), ...FAST_AMG]);
  assert.is(auto.code, 1, auto.stderr);
  assert.match(auto.stderr, /the file is empty/);
});

cli('segment: points -> mask, overlay, cut-out PNGs and a JSON record; multimask with a box; from a saved embedding', async () => {
  const file = ctx.folder.good[0]; // a.png-like fixture crop
  const img = join(ctx.folder.dir, file);
  const stem = file.replace(/\.[^.]+$/, '').split('/').pop()!;
  const out = join(ctx.dir, 'seg');
  const r = await runCli(['segment', img, '--point', '60,40', '--point', '5,5,0', '--out', out, ...modelArgs(model)]);
  assert.is(r.code, 0, r.stderr);
  const record: SegmentRecord = JSON.parse(readFileSync(join(out, `${stem}.json`), 'utf8'));
  assert.is(record.masks.length, 1);
  assert.equal(record.prompt, { point_coords: [[60, 40], [5, 5]], point_labels: [1, 0], box: null, multimask_output: false });
  const m = record.masks[0];
  assert.ok(m.score > 0 && m.area > 0, JSON.stringify(m));
  const png = await readMaskPng(m.files.mask);
  assert.equal([png.bitDepth, png.colorType], [8, 0], '8-bit grayscale mask');
  assert.equal([png.width, png.height], [record.image.width, record.image.height]);
  assert.ok(Buffer.from(png.data).equals(Buffer.from(maskOfRle(m.segmentation))), 'the PNG mask is the RLE mask');
  assert.is(png.data.reduce((a, b) => a + b, 0), m.area);
  const cut = await Jimp.read(m.files.cutout!);
  assert.equal([cut.bitmap.width, cut.bitmap.height], [m.bbox[2] + 1, m.bbox[3] + 1], 'cut-out cropped to the box');
  const over = await Jimp.read(m.files.overlay);
  assert.equal([over.bitmap.width, over.bitmap.height], [record.image.width, record.image.height]);
  assert.match(r.stdout, /mask 0: score [\d.]+, area \d+, bbox \[/);

  const multi = await runCli(['segment', img, '--box', '20,10,120,90', '--multimask', '--out', out, '--name', 'multi', '--json', ...modelArgs(model)]);
  assert.is(multi.code, 0, multi.stderr);
  const summary = jsonEvents(multi.stdout).find((e) => e.event === 'summary')!;
  assert.is(summary.masks.length, 3);
  const scores = summary.masks.map((x: { score: number }) => x.score);
  assert.is(summary.best, scores.indexOf(Math.max(...scores)));
  for (let i = 0; i < 3; i++) for (const kind of ['mask', 'overlay']) assert.ok(existsSync(join(out, `multi.${kind}-${i}.png`)), `multi.${kind}-${i}.png`);

  // embed, then segment from the embedding: the same mask and score as from the image.
  const emb = join(ctx.dir, 'emb');
  const e = await runCli(['embed', ctx.folder.dir, '--out', emb, '--json', '--decode-workers', '0', ...modelArgs(model)]);
  assert.is(e.code, 3, `two bad images: completed with failures\n${e.stderr}`);
  const embFiles = ctx.folder.good.map((f) => join(emb, `${f.replace(/\.[^.]+$/, '')}.samemb`));
  embFiles.forEach((f) => assert.ok(existsSync(f), f));
  assert.is(readFileSync(embFiles[0]).subarray(0, 8).toString('latin1'), 'SAMEMB01');
  const fromEmb = await runCli(['segment', img, '--embedding', embFiles[0], '--point', '60,40', '--point', '5,5,0', '--out', join(ctx.dir, 'seg-emb'), ...modelArgs(model)]);
  assert.is(fromEmb.code, 0, fromEmb.stderr);
  const r2: SegmentRecord = JSON.parse(readFileSync(join(ctx.dir, 'seg-emb', `${stem}.json`), 'utf8'));
  assert.equal(r2.masks[0].segmentation, m.segmentation);
  assert.is(r2.masks[0].score, m.score);
  // An embedding of another image is refused.
  const wrong = await runCli(['segment', img, '--embedding', embFiles[1], '--point', '10,10', '--out', join(ctx.dir, 'seg-emb'), ...modelArgs(model)]);
  assert.is(wrong.code, 1);
  assert.match(wrong.stderr, /the embedding .* is of a \d+x\d+ image/);
});

cli("auto: amg.py's PNG folders + metadata.csv, and --convert-to-rle JSON (SA-1B layout), with the same masks", async () => {
  const out = join(ctx.dir, 'auto');
  const r = await runCli(['auto', ctx.folder.dir, '--out', out, '--decode-workers', '0', ...modelArgs(model), ...FAST_AMG]);
  assert.is(r.code, 3, `two bad images\n${r.stderr}`);
  assert.match(r.stderr, /skipped broken\.jpg/);
  for (const f of ctx.folder.good) {
    const dir = join(out, ...f.replace(/\.[^.]+$/, '').split('/'));
    const csv = readFileSync(join(dir, 'metadata.csv'), 'utf8');
    const lines = csv.split('\n');
    assert.is(lines[0], METADATA_CSV_HEADER);
    assert.ok(!csv.endsWith('\n'), 'amg.py writes no final newline');
    const pngs = readdirSync(dir).filter((n) => n.endsWith('.png'));
    assert.is(pngs.length, lines.length - 1, `${f}: one PNG per row`);
  }
  // One image again, as COCO RLE: the same masks, the same numbers as the CSV.
  const file = ctx.folder.good[0];
  const rle = join(ctx.dir, 'auto-rle');
  const j = await runCli(['auto', join(ctx.folder.dir, file), '--out', rle, '--convert-to-rle', ...modelArgs(model), ...FAST_AMG]);
  assert.is(j.code, 0, j.stderr);
  const stem = file.replace(/\.[^.]+$/, '');
  const sa1b: Sa1bImageJson = JSON.parse(readFileSync(join(rle, `${stem}.json`), 'utf8'));
  assert.equal(Object.keys(sa1b), ['image', 'annotations']);
  assert.equal(Object.keys(sa1b.image), ['image_id', 'width', 'height', 'file_name']);
  assert.is(sa1b.image.file_name, file);
  const csvRows = readFileSync(join(out, stem, 'metadata.csv'), 'utf8').split('\n').slice(1);
  assert.is(sa1b.annotations.length, csvRows.length);
  assert.ok(sa1b.annotations.length > 0);
  for (const [i, a] of sa1b.annotations.entries()) {
    assert.is(a.id, i);
    const expected = [i, a.area, ...a.bbox, ...a.point_coords[0].map(pyFloat), pyFloat(a.predicted_iou), pyFloat(a.stability_score), ...a.crop_box].join(',');
    assert.is(csvRows[i], expected, `row ${i}`);
    const png = await readMaskPng(join(out, stem, `${i}.png`));
    assert.equal([png.bitDepth, png.colorType], [8, 0]);
    assert.ok(Buffer.from(png.data).equals(Buffer.from(maskOfRle(a.segmentation))), `mask ${i}: PNG and RLE differ`);
  }
});

cli('convert (mounted from the converter): its weights give the same masks as the .pth', async () => {
  const weights = join(ctx.dir, 'weights');
  const c = await runCli(['convert', model.pth, '--config', model.config, '--out', weights]);
  assert.is(c.code, 0, c.stderr);
  assert.ok(existsSync(join(weights, 'model.json')));
  const img = join(ctx.folder.dir, ctx.folder.good[0]);
  const stem = ctx.folder.good[0].replace(/\.[^.]+$/, '');
  const r = await runCli(['segment', img, '--point', '60,40', '--point', '5,5,0', '--out', join(ctx.dir, 'seg-conv'), '--model', weights, '--backend', 'wasm']);
  assert.is(r.code, 0, r.stderr);
  const a: SegmentRecord = JSON.parse(readFileSync(join(ctx.dir, 'seg', `${stem}.json`), 'utf8'));
  const b: SegmentRecord = JSON.parse(readFileSync(join(ctx.dir, 'seg-conv', `${stem}.json`), 'utf8'));
  assert.equal(b.masks[0].segmentation, a.masks[0].segmentation);
  assert.is(b.masks[0].score, a.masks[0].score);
});

cli.run();

