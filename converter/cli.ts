#!/usr/bin/env node
/**
 * Command line for the converter:
 *
 *   sam-tfjs-convert convert <checkpoint> [--dtype float16] [--out dir] ...
 *   sam-tfjs-convert download <vit_b|vit_l|vit_h> [--base-url URL] ...
 *
 * `convertCommand` and `downloadCommand` are yargs command modules, so a larger CLI can mount
 * them (`yargs().command(convertCommand)`); their handlers throw on failure, with `exitCode`
 * 2 on usage errors and 1 otherwise (see exitCodeFor). `main(argv)` runs them standalone and
 * returns the exit code: 0 ok, 1 failure, 2 usage error, 130 interrupted.
 */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import yargs, { type ArgumentsCamelCase, type Argv, type CommandModule } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { MODEL_TYPES, type ModelType } from '../src/sam/config.js';
import { CHECKPOINT_URL_ENV, DEFAULT_CHECKPOINT_BASE_URL, OFFICIAL_CHECKPOINTS } from './checkpoints.js';
import type { ConvertResult } from './convert.js';
import type { DownloadResult } from './download.js';
import { createProgress, formatBytes, type ProgressMode } from './progress.js';
import { WEIGHTS_DTYPES, type WeightsDtype } from './quantize.js';
import { DEFAULT_SHARD_SIZE_BYTES } from './tfjs_writer.js';

const PROGRESS_MODES: readonly ProgressMode[] = ['auto', 'bar', 'json', 'none'];

/** Wrong arguments (exit code 2). */
export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** The exit code for an error thrown by a command: 2 usage, 130 interrupted, else 1. */
export function exitCodeFor(e: unknown): number {
  if (e instanceof UsageError) return 2;
  if ((e as Error)?.name === 'AbortError' || (e as { code?: string })?.code === 'ABORT_ERR') return 130;
  return 1;
}

/** '4194304', '4MB', '512KiB', '1.5M' -> bytes (K/M/G are powers of 1024, as tfjs's "4MB" shards). */
export function parseByteSize(text: string | number): number {
  if (typeof text === 'number') {
    if (Number.isSafeInteger(text) && text > 0) return text;
    throw new UsageError(`invalid size ${text}: a positive whole number of bytes is expected`);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$/i.exec(text);
  if (!m) throw new UsageError(`invalid size '${text}': expected bytes or a number with K, M or G (e.g. 4MB)`);
  const unit = (m[2] ?? 'b').toLowerCase()[0];
  const bytes = Number(m[1]) * ({ b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 } as Record<string, number>)[unit];
  if (!Number.isSafeInteger(bytes) || bytes < 1) throw new UsageError(`invalid size '${text}': not a positive whole number of bytes`);
  return bytes;
}

interface OutputArgs {
  json: boolean;
  quiet: boolean;
  progress: ProgressMode;
}

export interface ConvertArgs extends OutputArgs {
  checkpoint: string;
  out?: string;
  name?: string;
  weightsDir: string;
  dtype: WeightsDtype;
  shardSize: string;
  modelType?: ModelType;
  config?: string;
  overwrite: boolean;
  stateDictKey?: string;
}

export interface DownloadArgs extends OutputArgs {
  model: ModelType;
  baseUrl?: string;
  weightsDir: string;
  checkpointsDir?: string;
  out?: string;
  dtype: WeightsDtype;
  shardSize: string;
  overwrite: boolean;
  convert: boolean;
  keepCheckpoint: boolean;
  config?: string;
  file?: string;
  md5?: string;
  retries: number;
  retryDelay: number;
}

function outputOptions<T>(y: Argv<T>) {
  return y
    .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON on stdout' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'print nothing but errors' })
    .option('progress', {
      choices: PROGRESS_MODES,
      default: 'auto' as ProgressMode,
      describe: 'progress on stderr: auto (a bar on a terminal, else none), bar, json (JSON lines), none',
    });
}

function weightOptions<T>(y: Argv<T>) {
  return y
    .option('dtype', { choices: WEIGHTS_DTYPES, default: 'float32' as WeightsDtype, describe: 'how values are stored: float32 (exact), float16 or uint8 (affine per tensor)' })
    .option('shard-size', { type: 'string', default: '4MB', describe: `shard file size, bytes or with K/M/G (K = 1024; the default 4MB is ${DEFAULT_SHARD_SIZE_BYTES} bytes, as tfjs-converter)` })
    .option('weights-dir', { type: 'string', default: 'weights', describe: 'folder the output goes into (as <weights-dir>/<name>)' })
    .option('out', { alias: 'o', type: 'string', describe: 'output directory (instead of <weights-dir>/<name>)' })
    .option('overwrite', { type: 'boolean', default: false, describe: 'replace an existing output directory' })
    .option('config', { type: 'string', describe: 'architecture of a custom model: a config.json (reference-style or SamConfig)' });
}

/** Runs with SIGINT turned into an abort (so partial output is cleaned up) and the cpu backend. */
async function withAbortOnSigint<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const tf = await import('@tensorflow/tfjs');
  tf.env().set('IS_TEST', true); // no "install tfjs-node" banner on stderr
  if (tf.getBackend() !== 'cpu') await tf.setBackend('cpu');
  await tf.ready();
  const controller = new AbortController();
  const onSigint = () => controller.abort(Object.assign(new Error('interrupted'), { name: 'AbortError' }));
  process.once('SIGINT', onSigint);
  try {
    return await run(controller.signal);
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

function summary(r: ConvertResult): string {
  return (
    `wrote ${r.outDir}: ${r.weightCount} weights, ${formatBytes(r.totalBytes)} ${r.dtype} in ${r.shards.length} shard(s)` +
    ` (model ${r.modelType ?? 'custom'}, from ${r.source.format}${r.source.naming === 'transformers' ? ' with transformers names' : ''})`
  );
}

function resultJson(r: ConvertResult) {
  return { outDir: r.outDir, modelJson: r.modelJsonPath, modelType: r.modelType, dtype: r.dtype, shards: r.shards.length, weights: r.weightCount, bytes: r.totalBytes, source: r.source };
}

export async function runConvert(argv: ConvertArgs): Promise<ConvertResult> {
  const shardSizeBytes = parseByteSize(argv.shardSize);
  const progress = createProgress(argv.quiet ? 'none' : argv.progress);
  const { convertCheckpoint } = await import('./convert.js'); // tfjs and the model load only now (fast --help)
  const result = await withAbortOnSigint(async (signal) => {
    progress.start(`converting ${argv.checkpoint}`, undefined, 0, 'items');
    try {
      return await convertCheckpoint({
        input: argv.checkpoint,
        outDir: argv.out,
        weightsDir: argv.weightsDir,
        name: argv.name,
        dtype: argv.dtype,
        shardSizeBytes,
        config: argv.config,
        modelType: argv.modelType,
        overwrite: argv.overwrite,
        stateDictKey: argv.stateDictKey,
        signal,
        onProgress: (p) => progress.update(p.done, p.total),
      });
    } finally {
      progress.end();
    }
  });
  if (argv.json) process.stdout.write(`${JSON.stringify(resultJson(result))}\n`);
  else if (!argv.quiet) process.stdout.write(`${summary(result)}\n`);
  return result;
}

export async function runDownload(argv: DownloadArgs): Promise<DownloadResult> {
  const shardSizeBytes = parseByteSize(argv.shardSize);
  if (argv.file && !argv.md5) throw new UsageError('--file needs --md5 (the digest the renamed file must match)');
  if (!Number.isInteger(argv.retries) || argv.retries < 0) throw new UsageError(`--retries must be a whole number >= 0 (got ${argv.retries})`);
  const progress = createProgress(argv.quiet ? 'none' : argv.progress);
  const { downloadCheckpoint } = await import('./download.js');
  const result = await withAbortOnSigint((signal) =>
    downloadCheckpoint({
      modelType: argv.model,
      baseUrl: argv.baseUrl,
      weightsDir: argv.weightsDir,
      checkpointsDir: argv.checkpointsDir,
      file: argv.file,
      md5: argv.md5,
      convert: argv.convert,
      keepCheckpoint: argv.keepCheckpoint,
      retries: argv.retries,
      retryDelayMs: argv.retryDelay,
      progress,
      signal,
      convertOptions: {
        outDir: argv.out,
        weightsDir: argv.weightsDir,
        dtype: argv.dtype,
        shardSizeBytes,
        overwrite: argv.overwrite,
        config: argv.config,
      },
    }),
  );
  if (argv.json) {
    process.stdout.write(
      `${JSON.stringify({
        checkpoint: result.checkpointKept ? result.path : null,
        url: result.url,
        md5: result.md5,
        bytes: result.bytes,
        downloaded: result.downloaded,
        resumedFrom: result.resumedFrom,
        conversion: result.conversion ? resultJson(result.conversion) : null,
      })}\n`,
    );
  } else if (!argv.quiet) {
    const what = result.downloaded ? `downloaded ${result.url}${result.resumedFrom ? ` (resumed at ${formatBytes(result.resumedFrom)})` : ''}` : `using ${result.path} (already downloaded)`;
    process.stdout.write(`${what}: ${formatBytes(result.bytes)}, MD5 ${result.md5} ok${result.checkpointKept ? ` -> ${result.path}` : ''}\n`);
    if (result.conversion) process.stdout.write(`${summary(result.conversion)}\n`);
  }
  return result;
}

export const convertCommand: CommandModule<object, ConvertArgs> = {
  command: 'convert <checkpoint>',
  describe: 'convert a SAM checkpoint (.pth zip/legacy, or .safetensors with official or transformers names) into tfjs weights',
  builder: (y) =>
    outputOptions(
      weightOptions(
        y
          .positional('checkpoint', { type: 'string', demandOption: true, describe: 'the checkpoint file' })
          .option('name', { type: 'string', describe: 'output folder name (default: the model type, else the file stem)' })
          .option('model-type', { choices: MODEL_TYPES, describe: 'the preset architecture (default: detected from the shapes)' })
          .option('state-dict-key', { type: 'string', describe: "where the state dict is in a wrapped .pth (e.g. 'model')" }),
      ),
    )
      .example('$0 convert sam_vit_b_01ec64.pth', 'write weights/vit_b/ (model.json + 4 MiB float32 shards)')
      .example('$0 convert sam_vit_h_4b8939.pth --dtype float16 --name vit_h_f16', 'half-size weights in weights/vit_h_f16/')
      .example('$0 convert model.safetensors --out public/sam', 'a transformers checkpoint, into a web folder')
      .example('$0 convert tiny.pth --config config.json --dtype uint8', 'a custom architecture, 8-bit') as unknown as Argv<ConvertArgs>,
  handler: async (argv: ArgumentsCamelCase<ConvertArgs>) => {
    await runConvert(argv);
  },
};

export const downloadCommand: CommandModule<object, DownloadArgs> = {
  command: 'download <model>',
  describe: 'download an official checkpoint (resumable, MD5-checked) and convert it into weights/<model>/',
  builder: (y) =>
    outputOptions(
      weightOptions(
        y
          .positional('model', { choices: MODEL_TYPES, demandOption: true, describe: 'which checkpoint' })
          .option('base-url', {
            type: 'string',
            describe: `URL base of the .pth files (default: $${CHECKPOINT_URL_ENV}, else ${DEFAULT_CHECKPOINT_BASE_URL})`,
          })
          .option('checkpoints-dir', { type: 'string', describe: 'where the .pth is kept (default: <weights-dir>/checkpoints)' })
          .option('convert', { type: 'boolean', default: true, describe: 'convert after downloading (--no-convert: only download)' })
          .option('keep-checkpoint', { type: 'boolean', default: true, describe: 'keep the .pth after converting' })
          .option('retries', { type: 'number', default: 5, describe: 'failed attempts in a row before giving up (the .part file stays for a later resume)' })
          .option('retry-delay', { type: 'number', default: 1000, describe: 'milliseconds before the first retry (doubling)', hidden: true })
          .option('file', { type: 'string', describe: 'another file name on a mirror (needs --md5)' })
          .option('md5', { type: 'string', describe: 'the MD5 the file must match (with --file)' }),
      ),
    )
      .example('$0 download vit_b', `fetch ${OFFICIAL_CHECKPOINTS.vit_b.file} and write weights/vit_b/`)
      .example('$0 download vit_h --dtype float16', 'the largest model, stored as float16')
      .example(`${CHECKPOINT_URL_ENV}=https://mirror.example/sam/ $0 download vit_l`, 'from a mirror')
      .example('$0 download vit_b --no-convert --json', 'only download; print the result as JSON') as unknown as Argv<DownloadArgs>,
  handler: async (argv: ArgumentsCamelCase<DownloadArgs>) => {
    await runDownload(argv);
  },
};

/** Runs the CLI on `argv` (without node and the script); resolves to the exit code. */
export async function main(argv: string[] = hideBin(process.argv)): Promise<number> {
  const parser = yargs(argv)
    .scriptName('sam-tfjs-convert')
    .usage('$0 <command> [options]\n\nConvert Segment Anything checkpoints into TensorFlow.js weights.')
    .command(convertCommand)
    .command(downloadCommand)
    .demandCommand(1, 'give a command: convert or download')
    .strict()
    .help()
    .alias('h', 'help')
    .version(false)
    .exitProcess(false)
    .wrap(Math.min(110, process.stdout.columns || 100))
    .epilogue('Exit codes: 0 ok, 1 failure, 2 usage error, 130 interrupted. See converter/README.md.')
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    });
  try {
    await parser.parseAsync();
    return 0;
  } catch (e) {
    const code = exitCodeFor(e);
    const message = (e as Error)?.message ?? String(e);
    if (code === 2) process.stderr.write(`sam-tfjs-convert: ${message}\nRun 'sam-tfjs-convert --help' (or '<command> --help') for usage.\n`);
    else if (code === 130) process.stderr.write('sam-tfjs-convert: interrupted (partial weights removed; a partial download stays as .part to resume)\n');
    else process.stderr.write(`sam-tfjs-convert: error: ${message}\n`);
    return code;
  }
}

/** Whether the module at `moduleUrl` is the script node was started with (symlinks resolved, as npm's bin links are). */
export function isMainModule(moduleUrl: string): boolean {
  try {
    return !!process.argv[1] && moduleUrl === pathToFileURL(realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
}

if (isMainModule(import.meta.url)) {
  main().then((code) => {
    process.exitCode = code;
  });
}
