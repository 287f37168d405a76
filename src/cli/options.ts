/** Options shared by the `sam-tfjs` commands, and their parsing. */
import type { Argv } from 'yargs';
import { DEFAULT_AMG_OPTIONS, resolveAmgOptions, type AutomaticMaskGeneratorOptions } from '../sam/amg_generator/options.js';
import { MODEL_TYPES, type ModelType } from '../sam/config.js';
import { parseShard, SHARD_INDEX_ENV, type Shard } from '../dataset/shard.js';
import { UsageError } from './errors.js';

export const BACKENDS = ['tfjs-node-gpu', 'tfjs-node', 'tensorflow', 'webgpu', 'wasm', 'cpu'] as const;

export interface ModelArgs {
  model?: string;
  config?: string;
  modelType?: ModelType;
  backend?: string;
}

export interface OutputArgs {
  json: boolean;
  quiet: boolean;
}

export interface RunArgs {
  shard?: string;
  retryFailed: boolean;
  allowFailures: boolean;
  prefetch: number;
  decodeWorkers: number;
}

/** The generator's numeric options, one flag each (grids and the output mode have no flag). */
export type AmgArgs = Omit<AutomaticMaskGeneratorOptions, 'pointsPerSide' | 'pointGrids' | 'outputMode'> & { pointsPerSide: number };

export function modelOptions<T>(y: Argv<T>) {
  return y
    .option('model', {
      alias: 'm',
      type: 'string',
      describe: 'the model: a converted weights folder (or its model.json) or a .pth checkpoint (default: $SAM_TFJS_MODEL)',
    })
    .option('config', { type: 'string', describe: "a custom checkpoint's architecture: its config.json (reference-style or SamConfig)" })
    .option('model-type', { choices: MODEL_TYPES, describe: 'preset architecture of a .pth (default: detected from its shapes)' })
    .option('backend', {
      choices: BACKENDS,
      describe: 'tfjs backend (default: $SAM_TFJS_BACKEND, else the best available: tfjs-node-gpu > webgpu on a GPU (the webgpu package) > tfjs-node > wasm > cpu)',
    })
    .group(['model', 'config', 'model-type', 'backend'], 'Model:');
}

export function outputOptions<T>(y: Argv<T>) {
  return y
    .option('json', { type: 'boolean', default: false, describe: 'machine-readable log: JSON lines on stdout (one event per line), no bar' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'print nothing but errors' })
    .group(['json', 'quiet', 'help'], 'Output:');
}

export function runOptions<T>(y: Argv<T>) {
  return y
    .option('shard', {
      type: 'string',
      describe:
        `do shard i of N (0-based) of the sorted image list: i/N, or auto/N to take i from ` +
        `${SHARD_INDEX_ENV.map((n) => `$${n}`).join(', ')} (default: $SAM_TFJS_SHARD, else everything)`,
    })
    .option('retry-failed', { type: 'boolean', default: false, describe: 'try again the images an earlier run recorded as failed' })
    .option('allow-failures', { type: 'boolean', default: false, describe: 'exit 0 (not 3) when some images could not be used' })
    .option('prefetch', { type: 'number', default: 3, describe: 'images read and decoded ahead of the model' })
    .option('decode-workers', { type: 'number', default: 1, describe: 'threads decoding images (0: on the main thread)' })
    .group(['shard', 'retry-failed', 'allow-failures', 'prefetch', 'decode-workers'], 'Run (folders):');
}

/** The generator flags: the names, defaults and help of the reference's scripts/amg.py. */
const AMG_FLAGS: Array<[flag: string, key: keyof AmgArgs, help: string]> = [
  ['points-per-side', 'pointsPerSide', 'Generate masks by sampling a grid over the image with this many points to a side.'],
  ['points-per-batch', 'pointsPerBatch', 'How many input points to process simultaneously in one batch.'],
  ['pred-iou-thresh', 'predIouThresh', 'Exclude masks with a predicted score from the model that is lower than this threshold.'],
  ['stability-score-thresh', 'stabilityScoreThresh', 'Exclude masks with a stability score lower than this threshold.'],
  ['stability-score-offset', 'stabilityScoreOffset', 'Larger values perturb the mask more when measuring stability score.'],
  ['box-nms-thresh', 'boxNmsThresh', 'The overlap threshold for excluding a duplicate mask.'],
  [
    'crop-n-layers',
    'cropNLayers',
    'If >0, mask generation is run on smaller crops of the image to generate more masks. The value sets how many different scales to crop at.',
  ],
  ['crop-nms-thresh', 'cropNmsThresh', 'The overlap threshold for excluding duplicate masks across different crops.'],
  ['crop-overlap-ratio', 'cropOverlapRatio', 'Larger numbers mean image crops will overlap more.'],
  ['crop-n-points-downscale-factor', 'cropNPointsDownscaleFactor', 'The number of points-per-side in each layer of crop is reduced by this factor.'],
  [
    'min-mask-region-area',
    'minMaskRegionArea',
    'Disconnected mask regions or holes with area smaller than this value in pixels are removed by postprocessing.',
  ],
];

export function amgOptions<T>(y: Argv<T>) {
  let out: Argv<T> = y;
  for (const [flag, key, help] of AMG_FLAGS) {
    out = out.option(flag, { type: 'number', default: DEFAULT_AMG_OPTIONS[key] as number, describe: help }) as Argv<T>;
  }
  return out.group(
    AMG_FLAGS.map(([f]) => f),
    'AMG Settings:',
  );
}

/** The generator options of parsed flags, validated (bad values are usage errors). */
export function amgFromArgs(args: AmgArgs): Partial<Omit<AutomaticMaskGeneratorOptions, 'outputMode'>> {
  const options = Object.fromEntries(AMG_FLAGS.map(([, key]) => [key, args[key]])) as Partial<AutomaticMaskGeneratorOptions>;
  try {
    resolveAmgOptions(options);
  } catch (e) {
    const flagOf = (text: string) => AMG_FLAGS.reduce((t, [flag, key]) => t.split(key).join(`--${flag}`), text);
    throw new UsageError(flagOf((e as Error).message.replace(/^SamAutomaticMaskGenerator: /, '')));
  }
  return options;
}

/** The shard to do: --shard, else $SAM_TFJS_SHARD, else none. */
export function shardFromArgs(args: { shard?: string }): Shard | null {
  const spec = args.shard ?? process.env.SAM_TFJS_SHARD;
  if (spec === undefined || spec === '') return null;
  return parseShard(spec);
}

export function checkRunArgs(args: RunArgs): void {
  if (!Number.isInteger(args.prefetch) || args.prefetch < 1) throw new UsageError(`--prefetch must be a whole number >= 1 (got ${args.prefetch})`);
  if (!Number.isInteger(args.decodeWorkers) || args.decodeWorkers < 0) {
    throw new UsageError(`--decode-workers must be a whole number >= 0 (got ${args.decodeWorkers})`);
  }
}

function numbers(text: string, what: string, counts: number[], example: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  const values = parts.map(Number);
  if (!counts.includes(parts.length) || parts.some((p) => p === '') || values.some((v) => !Number.isFinite(v))) {
    throw new UsageError(`invalid ${what} '${text}': expected ${example}`);
  }
  return values;
}

/** `x,y` or `x,y,label` (label 1 foreground, the default, or 0 background). */
export function parsePoint(text: string): [number, number, number] {
  const v = numbers(text, '--point', [2, 3], 'x,y or x,y,label (label 1 = foreground, 0 = background)');
  const label = v.length === 3 ? v[2] : 1;
  if (label !== 0 && label !== 1) throw new UsageError(`invalid --point '${text}': the label must be 1 (foreground) or 0 (background)`);
  return [v[0], v[1], label];
}

/** `x1,y1,x2,y2`. */
export function parseBox(text: string): [number, number, number, number] {
  const v = numbers(text, '--box', [4], 'x1,y1,x2,y2');
  if (v[2] < v[0] || v[3] < v[1]) throw new UsageError(`invalid --box '${text}': x2 must be >= x1 and y2 >= y1`);
  return [v[0], v[1], v[2], v[3]];
}

/** A repeatable string option as a list (yargs gives one value or an array). */
export function list(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}
