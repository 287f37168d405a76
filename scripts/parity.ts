/**
 * `npm run parity -- [fixtures dir] [--backend cpu|wasm|...]`: runs every fixture case on
 * every requested backend (default: cpu and wasm), prints each stage's max abs difference
 * (and mask IoU), and exits non-zero when any stage is out of tolerance.
 */
import * as tf from '@tensorflow/tfjs';
import { resolve } from 'node:path';
import { wasmKernelsActive } from '../src/backends/wasm_kernels.js';
import { selectBackend } from '../src/backend.js';
import { discoverCases, formatResults, runParityCase, summarizeResults } from './parity_lib.js';

const args = process.argv.slice(2);
const backends: string[] = [];
const positional: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--backend') backends.push(args[++i]);
  else positional.push(args[i]);
}
const fixtures = resolve(positional[0] ?? '../shared/fixtures');
tf.env().set('IS_TEST', true); // silence tfjs's "install tfjs-node" banner
let failures = 0;
const summary: string[] = [];
for (const backend of backends.length ? backends : ['cpu', 'wasm']) {
  const choice = await selectBackend(backend);
  const kernels = choice.backend === 'wasm' ? `; SIMD kernels ${wasmKernelsActive() ? 'on' : 'off'}` : '';
  console.log(`backend ${choice.backend}: ${choice.provider}${kernels}`);
  for (const caseName of discoverCases(fixtures)) {
    const results = await runParityCase(fixtures, caseName);
    console.log(formatResults(backend, results));
    summary.push(summarizeResults(backend, results));
    failures += results.filter((r) => !r.ok).length;
  }
}
console.log('\n| backend | case | stage | max abs difference vs the reference |\n|---|---|---|---|');
console.log(summary.join('\n'));
console.log(failures === 0 ? '\nall stages within tolerance' : `\n${failures} stage(s) out of tolerance`);
process.exit(failures === 0 ? 0 : 1);
