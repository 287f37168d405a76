/** Loading the model the command line names (`--model`, `--config`, `--model-type`, `--backend`). */
import { existsSync } from 'node:fs';
import type { SamModel } from '../sam/sam_model.js';
import { UsageError } from './errors.js';
import type { ModelArgs } from './options.js';
import type { Reporter } from './output.js';

/** Loads the model; its backend is chosen first (see selectBackend). */
export async function loadModelFromArgs(args: ModelArgs, reporter: Reporter): Promise<SamModel> {
  const weights = args.model ?? process.env.SAM_TFJS_MODEL;
  if (!weights) {
    throw new UsageError('give the model with --model (a converted weights folder, its model.json, or a .pth checkpoint) or $SAM_TFJS_MODEL');
  }
  if (!/^https?:\/\//i.test(weights) && !existsSync(weights)) throw new Error(`the model ${weights} does not exist`);
  const tf = await import('@tensorflow/tfjs');
  tf.enableProdMode(); // no "install tfjs-node" banner; no debug checks
  const { loadSam } = await import('../sam/load.js');
  let config;
  if (args.config) {
    const { readSamConfigFile } = await import('../../converter/convert.js');
    config = await readSamConfigFile(args.config);
  }
  const t0 = performance.now();
  const model = await loadSam({ weights, config, modelType: args.modelType, backend: args.backend });
  const ms = Math.round(performance.now() - t0);
  const backend = model.info.backend;
  reporter.event('model', { source: weights, modelType: model.info.modelType ?? null, backend: backend?.backend, provider: backend?.provider, ms });
  reporter.note(`model ${weights} loaded in ${(ms / 1000).toFixed(1)} s on ${backend?.provider ?? tf.getBackend()}`);
  return model;
}
