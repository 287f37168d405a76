/**
 * Peak memory of the converter on a full-size ViT-B checkpoint (random weights, ~375 MB):
 *
 *   npx tsc -p . && node dist/scripts/convert_memory.js [--keep]
 *
 * Writes a random vit_b checkpoint (torch zip format, the official key names and shapes) into a
 * temporary folder, then runs each measurement in a fresh process under `/usr/bin/time -v`
 * (its "Maximum resident set size"), also sampling process.memoryUsage().rss inside:
 *   baseline  node + tfjs + the model's parameter specs, nothing read
 *   convert   convertCheckpoint to float32 / float16 / uint8 (4 MiB shards)
 *   load      samFromCheckpoint: the whole model in memory, for comparison
 * and deletes the folder afterwards (unless --keep). Prints a markdown table.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(import.meta.url);
const MiB = 1024 * 1024;

async function child(mode: string, ckpt: string, out: string): Promise<void> {
  let peak = 0;
  const sample = () => {
    peak = Math.max(peak, process.memoryUsage().rss);
  };
  const timer = setInterval(sample, 5);
  const tf = await import('@tensorflow/tfjs');
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
  const t0 = Date.now();
  if (mode === 'baseline') {
    const { samParamSpecs } = await import('../converter/convert.js');
    const { presetConfig } = await import('../src/sam/config.js');
    samParamSpecs(presetConfig('vit_b'));
  } else if (mode === 'load') {
    const { samFromCheckpoint } = await import('../src/sam/load_checkpoint.js');
    const model = await samFromCheckpoint(ckpt, { onProgress: sample });
    sample();
    model.dispose();
  } else {
    const { convertCheckpoint } = await import('../converter/convert.js');
    await convertCheckpoint({ input: ckpt, outDir: join(out, mode), dtype: mode as 'float32', onProgress: sample });
  }
  sample();
  clearInterval(timer);
  process.stdout.write(`${JSON.stringify({ mode, sampledPeakRss: peak, ms: Date.now() - t0 })}\n`);
}

/** xorshift32 normal-ish values (sum of uniforms), scaled like trained weights. */
function fillRandom(buf: Float32Array, state: { s: number }): void {
  let s = state.s;
  for (let i = 0; i < buf.length; i++) {
    let acc = 0;
    for (let k = 0; k < 3; k++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      acc += (s >>> 0) / 4294967296;
    }
    buf[i] = (acc - 1.5) * 0.04;
  }
  state.s = s;
}

async function makeCheckpoint(path: string): Promise<number> {
  const tf = await import('@tensorflow/tfjs');
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
  const { samParamSpecs } = await import('../converter/convert.js');
  const { presetConfig } = await import('../src/sam/config.js');
  const { torchZipFile } = await import('../test/helpers/pth_writer.js');
  const { readZipDirectory } = await import('../converter/zip.js');
  const { FileSource } = await import('../converter/file_source.js');
  const specs = [...samParamSpecs(presetConfig('vit_b')).values()];
  const numel = (s: number[]) => s.reduce((a, b) => a * b, 1);
  // storages left as holes, filled with random values below (the writer keeps data in memory otherwise)
  torchZipFile(
    path,
    {
      storages: specs.map((s, i) => ({ key: String(i), dtype: 'float32' as const, bytes: new Uint8Array(0), hole: numel(s.torchShape) * 4 })),
      tensors: specs.map((s, i) => ({ name: s.key, storage: String(i), shape: s.torchShape })),
    },
    { folder: 'sam_vit_b_random' },
  );
  const source = await FileSource.open(path);
  const dir = await readZipDirectory(source);
  await source.close();
  const fd = openSync(path, 'r+');
  const state = { s: 2463534242 };
  const chunk = new Float32Array(1 << 20);
  try {
    for (const e of dir.entries) {
      if (!/\/data\/\d+$/.test(e.name)) continue;
      const header = Buffer.alloc(30);
      readSync(fd, header, 0, 30, e.localHeaderOffset);
      let at = e.localHeaderOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
      let left = e.uncompressedSize;
      while (left > 0) {
        const n = Math.min(left, chunk.byteLength);
        fillRandom(chunk, state);
        writeSync(fd, new Uint8Array(chunk.buffer, 0, n), 0, n, at);
        at += n;
        left -= n;
      }
    }
  } finally {
    closeSync(fd);
  }
  return specs.reduce((n, s) => n + numel(s.torchShape), 0);
}

function measure(mode: string, ckpt: string, out: string): { mode: string; maxRss: number; sampledPeakRss: number; ms: number } {
  const r = spawnSync('/usr/bin/time', ['-v', process.execPath, ...process.execArgv, here, '--child', mode, ckpt, out], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${mode} failed (${r.status}):\n${r.stderr}`);
  const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
  const line = JSON.parse(r.stdout.trim().split('\n').pop()!);
  return { mode, maxRss: m ? Number(m[1]) * 1024 : NaN, sampledPeakRss: line.sampledPeakRss, ms: line.ms };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child') return child(args[1], args[2], args[3]);
  if (!existsSync('/usr/bin/time')) throw new Error('needs /usr/bin/time (GNU time) for -v');
  const tmp = mkdtempSync(join(tmpdir(), 'sam-memory-'));
  try {
    const ckpt = join(tmp, 'sam_vit_b_random.pth');
    const params = await makeCheckpoint(ckpt);
    const size = statSync(ckpt).size;
    console.log(`checkpoint: ${params} parameters, ${(size / MiB).toFixed(1)} MiB (${size} bytes)`);
    const rows = ['baseline', 'float32', 'float16', 'uint8', 'load'].map((mode) => measure(mode, ckpt, join(tmp, 'out')));
    const base = rows[0].maxRss;
    console.log('\n| run | peak RSS (/usr/bin/time -v) | above baseline | sampled peak RSS | time |');
    console.log('|---|---|---|---|---|');
    for (const r of rows) {
      const what = r.mode === 'baseline' ? 'baseline (node + tfjs + param specs)' : r.mode === 'load' ? 'samFromCheckpoint (whole model in memory)' : `convert to ${r.mode}`;
      console.log(
        `| ${what} | ${(r.maxRss / MiB).toFixed(0)} MiB | ${r.mode === 'baseline' ? '-' : `${((r.maxRss - base) / MiB).toFixed(0)} MiB`} | ` +
          `${(r.sampledPeakRss / MiB).toFixed(0)} MiB | ${(r.ms / 1000).toFixed(1)} s |`,
      );
    }
  } finally {
    if (!args.includes('--keep')) rmSync(tmp, { recursive: true, force: true });
    else console.log(`kept ${tmp}`);
  }
}

await main();
