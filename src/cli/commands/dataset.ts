/** `sam-tfjs dataset <folder>`: a folder of images -> one COCO dataset of automatic masks. */
import { stat } from 'node:fs/promises';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { shardFileName } from '../../dataset/shard.js';
import { setCommandExitCode, UsageError } from '../errors.js';
import { loadModelFromArgs } from '../model.js';
import { amgFromArgs, amgOptions, checkRunArgs, modelOptions, outputOptions, runOptions, shardFromArgs, type AmgArgs, type ModelArgs, type OutputArgs, type RunArgs } from '../options.js';
import { Reporter } from '../output.js';
import { finishRun, reportEvents, reportImageProgress, trapInterrupts } from '../run.js';

export interface DatasetArgs extends ModelArgs, OutputArgs, RunArgs, AmgArgs {
  input: string;
  out: string;
  previews: boolean;
  previewsDir?: string;
  keepParts: boolean;
}

/** Runs the command; resolves to its exit code (throws on usage errors and failures). */
export async function runDatasetCommand(args: DatasetArgs): Promise<number> {
  const reporter = new Reporter({ json: args.json, quiet: args.quiet });
  const amg = amgFromArgs(args);
  const shard = shardFromArgs(args);
  checkRunArgs(args);
  const info = await stat(args.input).catch(() => null);
  if (!info) throw new Error(`no such folder: ${args.input}`);
  if (!info.isDirectory()) throw new UsageError(`dataset needs a folder of images, and ${args.input} is a file (use 'sam-tfjs auto' for one image)`);
  const out = shardFileName(args.out, shard);
  const previewsDir = args.previewsDir ?? (args.previews ? `${out.replace(/\.json$/i, '')}.previews` : null);

  const { buildDataset, defaultStateDir } = await import('../../dataset/build.js');
  const model = await loadModelFromArgs(args, reporter);
  const interrupts = trapInterrupts(reporter);
  const t0 = performance.now();
  try {
    const result = await buildDataset(model, {
      input: args.input,
      out,
      amg,
      shard,
      previewsDir,
      retryFailed: args.retryFailed,
      prefetch: args.prefetch,
      decodeWorkers: args.decodeWorkers,
      removeState: !args.keepParts,
      signal: interrupts.signal,
      onEvent: reportImageProgress(reporter, reportEvents(reporter, 'dataset')),
    });
    return finishRun(reporter, 'dataset', result, {
      seconds: (performance.now() - t0) / 1000,
      interrupts,
      allowFailures: args.allowFailures,
      output: result.output,
      extra: { annotations: result.annotations, resumed: result.resumed, stateDir: defaultStateDir(out), previews: previewsDir },
      resumeHint: `Progress is kept in ${defaultStateDir(out)}; run the same command again to continue.`,
    });
  } finally {
    interrupts.dispose();
    model.dispose();
  }
}

export const datasetCommand: CommandModule<object, DatasetArgs> = {
  command: 'dataset <input>',
  describe: 'a folder of images (recursively) -> one COCO dataset of automatic masks (resumable, shardable)',
  builder: (y) =>
    outputOptions(
      runOptions(
        amgOptions(
          modelOptions(
            y
              .positional('input', { type: 'string', demandOption: true, describe: 'the folder of images (PNG, JPEG, BMP, GIF, TIFF; searched recursively)' })
              .option('out', { alias: ['o', 'output'], type: 'string', demandOption: true, describe: 'the dataset JSON to write (progress is kept in <out>.parts/)' })
              .option('previews', { type: 'boolean', default: false, describe: 'also write an overlay PNG of every image\'s masks (into <out>.previews/)' })
              .option('previews-dir', { type: 'string', describe: 'where the previews go (implies --previews)' })
              .option('keep-parts', { type: 'boolean', default: true, describe: 'keep <out>.parts/ after a complete run without failures (--no-keep-parts deletes it)' }),
          ),
        ),
      ),
    )
      .example('$0 dataset photos/ --model weights/vit_h --out photos.coco.json', 'every image under photos/ -> one COCO file')
      .example('$0 dataset photos/ -m weights/vit_b -o ds.json --points-per-side 16 --previews', 'fewer points; overlay previews in ds.previews/')
      .example('$0 dataset photos/ -m weights/vit_h -o ds.json --shard 2/8', 'the third of 8 shards -> ds.shard-2-of-8.json')
      .example('$0 dataset photos/ -m weights/vit_h -o ds.json --shard auto/8', 'shard index from $JOB_COMPLETION_INDEX or $SLURM_ARRAY_TASK_ID')
      .example('$0 merge ds.shard-*-of-8.json --out ds.json', 'join the shards')
      .epilogue(
        'Kill it at any moment (Ctrl-C stops after the current image): the same command continues where it stopped and ' +
          'writes the same file as an uninterrupted run. Image ids are 1 + the position in the sorted list of all images; ' +
          'images that cannot be read are logged, recorded and left out (exit code 3, or 0 with --allow-failures).',
      ) as unknown as Argv<DatasetArgs>,
  handler: async (argv: ArgumentsCamelCase<DatasetArgs>) => {
    setCommandExitCode(await runDatasetCommand(argv));
  },
};
