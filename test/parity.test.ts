/**
 * Parity with the reference PyTorch SAM for every fixture case (discovered, not named) on
 * the cpu and wasm backends: checkpoint formats, preprocessing, the image encoder and its
 * intermediates, dense PE, prompt encoder, mask decoder and post-processed masks. The
 * stages and their tolerances are defined once, in scripts/parity_lib.ts, which
 * `npm run parity` also runs.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { formatResults, runParityCase } from '../scripts/parity_lib.js';
import { TEST_BACKENDS, useBackend } from './helpers/backends.js';
import { FIXTURES, fixtureCases } from './helpers/fixtures.js';

const cases = fixtureCases();

for (const backend of TEST_BACKENDS) {
  const test = suite(`parity with the reference (${backend})`);
  test.before(() => useBackend(backend));

  test('the fixtures hold at least one case', () => {
    assert.ok(cases.length > 0, `no case folders in ${FIXTURES}`);
  });

  for (const caseName of cases) {
    test(`${caseName}: every stage within tolerance`, async () => {
      const results = await runParityCase(FIXTURES, caseName);
      const failed = results.filter((r) => !r.ok);
      assert.ok(results.length > 20, `only ${results.length} stages ran`);
      assert.is(failed.length, 0, `out of tolerance:\n${formatResults(backend, failed)}`);
    });
  }

  test.run();
}

// The attention layout WebGL / WebGPU / tfjs-node use ('batched'), checked here on cpu; and
// the wasm/cpu layout ('matmul2d') is what the suites above run.
const batched = suite('parity with the reference (cpu, batched attention layout)');
batched.before(() => useBackend('cpu'));
for (const caseName of cases) {
  batched(`${caseName}: every stage within tolerance`, async () => {
    const results = await runParityCase(FIXTURES, caseName, { attention: 'batched' });
    const failed = results.filter((r) => !r.ok);
    assert.is(failed.length, 0, `out of tolerance:\n${formatResults('cpu', failed)}`);
  });
}
batched.run();
