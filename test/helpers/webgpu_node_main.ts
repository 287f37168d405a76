/**
 * The library on WebGPU in Node (the `webgpu` package, Dawn), in its own process: the backend
 * must be chosen before anything runs, and Dawn reads its Vulkan driver from the environment.
 * Prints one JSON line per result for test/webgpu_node.test.ts:
 *  - {backend, provider}: what selectBackend('webgpu') chose;
 *  - {parity}: scripts/parity_lib.ts's stages for every fixture case;
 *  - {predict}: SamPredictor from the PNG with tensor prompts (read asynchronously; a
 *    synchronous read throws on this backend), its masks against the reference's;
 *  - {fingerprint}: modelFingerprint (an asynchronous read of the weights);
 *  - {layerNorm}: LayerNorm through the WebGPU kernels (src/backends/webgpu_kernels.ts)
 *    against the tfjs-op form and a float64 evaluation, and the kernels tf.profile saw;
 *  - {sinCos}: the encodings' sin and cos through SamSinCos, the same way (sin_cos_checks.ts);
 *  - {gelu}: GELU through SamGelu, the same way (gelu_gpu_checks.ts);
 *  - {relPosSoftmax}: the encoder's attention probabilities through SamRelPosSoftmax, the
 *    same way (rel_pos_softmax_checks.ts);
 *  - {batchOfImages}: the encoder's attention on a batch of 2 images against each alone
 *    (batch_of_images_checks.ts);
 *  - {tensorsLeft}: tensors left after all of it.
 *
 *   node dist/test/helpers/webgpu_node_main.js <fixtures dir>
 */
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { selectBackend } from '../../src/backend.js';
import { modelFingerprint } from '../../src/dataset/fingerprint.js';
import { parseNpy } from '../../src/io/npy.js';
import { samConfigFromReferenceJson } from '../../src/sam/config.js';
import { samFromCheckpoint } from '../../src/sam/load_checkpoint.js';
import { SamPredictor } from '../../src/sam/predictor.js';
import { setWebGpuKernelsEnabled } from '../../src/backends/webgpu_kernels.js';
import { layerNormChecks } from './layer_norm_checks.js';
import { sinCosChecks } from './sin_cos_checks.js';
import { geluGpuChecks } from './gelu_gpu_checks.js';
import { relPosSoftmaxChecks } from './rel_pos_softmax_checks.js';
import { batchOfImagesChecks } from './batch_of_images_checks.js';
import { compareMasks, discoverCases, maxAbsDiff, NOISE_FACTOR, readNoise, runParityCase } from '../../scripts/parity_lib.js';

const say = (x: unknown) => process.stdout.write(`${JSON.stringify(x)}\n`);

async function run(): Promise<void> {
  const fixtures = process.argv[2];
  tf.env().set('IS_TEST', true);
  const choice = await selectBackend('webgpu');
  say({ backend: choice.backend, provider: choice.provider });
  const start = tf.memory().numTensors;
  const cases = discoverCases(fixtures);
  for (const caseName of cases) say({ parity: await runParityCase(fixtures, caseName) });

  const caseName = cases[0];
  const dir = join(fixtures, caseName);
  const model = await samFromCheckpoint(join(dir, 'model.pth'), { config: samConfigFromReferenceJson(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))) });
  const predictor = new SamPredictor(model);
  try {
    await predictor.setImage(join(dir, 'image.png'));
    // The first prompt with points and no mask input, as tensors.
    const prompts = JSON.parse(readFileSync(join(dir, 'prompts.json'), 'utf8')).prompts as Array<Record<string, any>>;
    const p = prompts.find((q) => q.point_coords && !q.mask_input && !q.box && !q.boxes);
    if (!p) throw new Error(`${caseName}: no point prompt in prompts.json`);
    const coords = tf.tensor2d(p.point_coords as number[][]);
    const labels = tf.tensor1d(p.point_labels as number[]);
    const out = await predictor.predict({ pointCoords: coords, pointLabels: labels, multimaskOutput: p.multimask_output, returnLogits: true });
    tf.dispose([coords, labels]);
    const npy = (...f: string[]) => parseNpy(readFileSync(join(dir, 'prompts', p.name, ...f)));
    const ours = new Float32Array(out.logits!.reduce((n, l) => n + l.length, 0));
    out.logits!.reduce((at, l) => (ours.set(l, at), at + l.length), 0);
    const tol = NOISE_FACTOR * readNoise(dir).maskLogits;
    const refLogits = npy('mask_logits.npy').data as Float32Array;
    say({ predictLogits: { caseName, prompt: p.name, maxAbsDiff: maxAbsDiff(ours, refLogits), tolerance: tol } });
    say({ predict: { caseName, prompt: p.name, ...compareMasks(`${p.name} masks (predictor)`, ours, npy('masks.npy'), refLogits, tol, model.config.maskThreshold) } });
    say({ fingerprint: { caseName, value: await modelFingerprint(model) } });
  } finally {
    predictor.dispose();
    model.dispose();
  }
  for (const r of await layerNormChecks(setWebGpuKernelsEnabled)) say({ layerNorm: r });
  for (const r of await sinCosChecks(setWebGpuKernelsEnabled)) say({ sinCos: r });
  for (const r of await geluGpuChecks(setWebGpuKernelsEnabled)) say({ gelu: r });
  for (const r of await relPosSoftmaxChecks(setWebGpuKernelsEnabled)) say({ relPosSoftmax: r });
  for (const r of await batchOfImagesChecks()) say({ batchOfImages: r });
  say({ tensorsLeft: tf.memory().numTensors - start });
}


run().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${(e as Error).stack}\n`);
    process.exit(1);
  },
);
