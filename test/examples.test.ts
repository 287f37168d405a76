/** The README's example (examples/quickstart.ts) runs as a user runs it and writes what it says. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeImage } from '../src/sam/preprocess/decode_image.js';
import { FIXTURES, ROOT } from './helpers/fixtures.js';

test('examples/quickstart runs and writes its outputs', async () => {
  const out = mkdtempSync(join(tmpdir(), 'sam-tfjs-example-'));
  try {
    const script = existsSync(join(ROOT, 'dist', 'examples', 'quickstart.js')) ? ['dist/examples/quickstart.js'] : ['--import', 'tsx', 'examples/quickstart.ts'];
    const r = spawnSync(process.execPath, [...script, out], { cwd: ROOT, env: { ...process.env, SAM_FIXTURES: FIXTURES }, encoding: 'utf8', timeout: 240_000 });
    assert.is(r.status, 0, `exit ${r.status}: ${r.stderr}`);
    assert.match(r.stdout, /scores: .* -> mask \d/);
    assert.match(r.stdout, /automatic masks: \d+/);
    const mask = await decodeImage(join(out, 'mask.png'));
    const image = await decodeImage(join(FIXTURES, readdirCase(), 'image.png'));
    assert.equal([mask.width, mask.height], [image.width, image.height]);
    const records = JSON.parse(readFileSync(join(out, 'masks.json'), 'utf8'));
    assert.ok(records.length > 0 && typeof records[0].segmentation.counts === 'string');
    for (const f of ['cutout.png', 'overlay.png', 'image.samemb']) assert.ok(existsSync(join(out, f)), `${f} missing`);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

function readdirCase(): string {
  return JSON.parse(readFileSync(join(FIXTURES, 'index.json'), 'utf8')).cases[0].name;
}

test.run();
