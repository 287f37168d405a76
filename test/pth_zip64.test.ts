/**
 * A real ZIP64 checkpoint larger than 4 GiB (like the official 2.5 GB vit_h, only bigger), written
 * as a sparse file: entry sizes and offsets only fit in the ZIP64 fields. The lazy reader must find
 * the tensors behind the 4 GiB mark while reading only a few kilobytes. Skipped where the file
 * system cannot make sparse files.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileSource } from '../converter/file_source.js';
import { openCheckpoint } from '../converter/index.js';
import { CountingSource } from './helpers/pth_sources.js';
import { bytesOf, torchZipFile } from './helpers/pth_writer.js';

const HOLE = 4.5 * 2 ** 30; // bytes of zeros in storage '0'

test('a >4 GiB ZIP64 checkpoint: tensors past the 4 GiB mark load, reading only what they need', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pth-zip64-'));
  const path = join(dir, 'big.pth');
  try {
    const size = torchZipFile(
      path,
      {
        storages: [
          { key: '0', dtype: 'float32', bytes: new Uint8Array(0), hole: HOLE },
          { key: '1', dtype: 'float32', bytes: bytesOf(Float32Array.from([1, 2, 3, 4])) },
        ],
        tensors: [
          { name: 'huge', storage: '0', shape: [HOLE / 4] },
          { name: 'huge.last_row', storage: '0', offset: HOLE / 4 - 6, shape: [2, 3] },
          { name: 'tail', storage: '1', shape: [2, 2] },
        ],
      },
      { folder: 'sam_vit_h_4b8939', zip64: true },
    );
    const st = statSync(path);
    if (st.blocks * 512 > 64 * 2 ** 20) {
      console.log(`  (skipped: ${tmpdir()} does not keep sparse files)`);
      return;
    }
    assert.is(st.size, size);
    assert.ok(size > 2 ** 32);

    const source = new CountingSource(await FileSource.open(path));
    try {
      const ckpt = await openCheckpoint(source);
      assert.equal(ckpt.entries.map((e) => e.key), ['huge', 'huge.last_row', 'tail']);
      assert.is(ckpt.get('huge')!.numel, HOLE / 4);
      assert.is(ckpt.get('huge')!.byteLength, HOLE);
      source.reset();
      const tail = await ckpt.get('tail')!.load();
      assert.equal(Array.from(tail.data as Float32Array), [1, 2, 3, 4]);
      const last = await ckpt.get('huge.last_row')!.load();
      assert.equal(Array.from(last.data as Float32Array), [0, 0, 0, 0, 0, 0]);
      assert.ok(source.bytesRead < 200, `read ${source.bytesRead} bytes`);
      assert.ok(source.reads.some((r) => r.offset > 2 ** 32), 'reads beyond 4 GiB');
      await ckpt.close();
    } finally {
      await source.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
