/**
 * Image-encoder building blocks against the reference's function-level fixtures
 * (units/units.json): get_rel_pos (with and without the interpolation branch),
 * add_decomposed_rel_pos and window_partition with padding.
 */
import * as tf from '@tensorflow/tfjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addDecomposedRelPos, getRelPos } from '../src/layers/image_encoder/rel_pos.js';
import { windowPartition, windowUnpartition } from '../src/layers/image_encoder/window.js';
import { TEST_BACKENDS, useBackend } from './helpers/backends.js';
import { maxAbsDiff, npyTensor } from './helpers/compare.js';
import { readJson, readNpy } from './helpers/fixtures.js';

const units = readJson('units', 'units.json');
const file = (p: string) => readNpy(...p.split('/'));

for (const backend of TEST_BACKENDS) {
  const test = suite(`image encoder units (${backend})`);
  test.before(() => useBackend(backend));

  for (const c of units.get_rel_pos.cases as Array<{ q_size: number; k_size: number; interpolated: boolean; output: string }>) {
    test(`get_rel_pos q=${c.q_size} k=${c.k_size}${c.interpolated ? ' (interpolated)' : ''}`, () => {
      const table = npyTensor(file(units.get_rel_pos.rel_pos)) as tf.Tensor2D;
      const out = getRelPos(c.q_size, c.k_size, table);
      // Gathering is exact; the interpolation sums two float32 products like the
      // reference, so at most an ulp or two of values below 1 can differ.
      const tol = c.interpolated ? 1e-6 : 0;
      assert.ok(maxAbsDiff(out, file(c.output)) <= tol, `max diff ${maxAbsDiff(out, file(c.output))}`);
      tf.dispose([table, out]);
    });
  }

  test('add_decomposed_rel_pos', () => {
    const f = units.add_decomposed_rel_pos.files;
    const [q, attnIn, rh, rw] = [f.q, f.attn_in, f.rel_pos_h, f.rel_pos_w].map((p: string) => npyTensor(file(p)));
    const out = addDecomposedRelPos(
      attnIn as tf.Tensor3D,
      q as tf.Tensor3D,
      rh as tf.Tensor2D,
      rw as tf.Tensor2D,
      units.add_decomposed_rel_pos.q_size,
      units.add_decomposed_rel_pos.k_size,
    );
    // Sums of 4-term dot products in another order: float32 rounding only (~1e-7 here).
    const d = maxAbsDiff(out, file(f.attn_out));
    assert.ok(d <= 1e-6, `max diff ${d}`);
    tf.dispose([q, attnIn, rh, rw, out]);
  });

  test('window_partition pads and partitions row-major; unpartition inverts it', () => {
    const w = units.window_partition;
    const x = npyTensor(file(w.input)) as tf.Tensor4D;
    const { windows, paddedHW } = windowPartition(x, w.window_size);
    assert.equal(paddedHW, w.pad_hw);
    assert.equal(windows.shape, w.output_shape);
    assert.is(maxAbsDiff(windows, file(w.output)), 0);
    const back = windowUnpartition(windows, w.window_size, paddedHW, [x.shape[1], x.shape[2]]);
    assert.is(maxAbsDiff(back, file(w.input)), 0);
    tf.dispose([x, windows, back]);
  });

  test.run();
}
