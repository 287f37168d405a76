/** `sam-tfjs merge <shard files..>`: joins the shard outputs of a `dataset --shard` run into one dataset. */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { EXIT_OK, setCommandExitCode } from '../errors.js';
import { outputOptions, type OutputArgs } from '../options.js';
import { Reporter } from '../output.js';

export interface MergeArgs extends OutputArgs {
  inputs: string[];
  out: string;
  allowPartial: boolean;
}

export async function runMergeCommand(args: MergeArgs): Promise<number> {
  const { mergeDatasets } = await import('../../dataset/merge.js');
  const reporter = new Reporter({ json: args.json, quiet: args.quiet });
  const t0 = performance.now();
  const r = await mergeDatasets(args.inputs, args.out, { allowPartial: args.allowPartial });
  const seconds = (performance.now() - t0) / 1000;
  if (r.missingShards.length > 0) reporter.warn(`shard(s) ${r.missingShards.join(', ')} missing: the dataset is partial`);
  reporter.event('summary', { command: 'merge', status: 'ok', exitCode: EXIT_OK, ...r, seconds });
  reporter.result(`merge: ${r.shards} file(s), ${r.images} images, ${r.annotations} annotations, ${r.failedImages} failed image(s) -> ${r.output}`);
  return EXIT_OK;
}

export const mergeCommand: CommandModule<object, MergeArgs> = {
  command: 'merge <inputs..>',
  describe: "join the shard files of a 'dataset --shard' run into one dataset (the same as an unsharded run's)",
  builder: (y) =>
    outputOptions(
      y
        .positional('inputs', { type: 'string', array: true, demandOption: true, describe: 'the shard files (ds.shard-0-of-N.json ...)' })
        .option('out', { alias: ['o', 'output'], type: 'string', demandOption: true, describe: 'the merged dataset' })
        .option('allow-partial', { type: 'boolean', default: false, describe: 'merge even if some shards are missing' }),
    )
      .example('$0 merge ds.shard-*-of-8.json --out ds.json', 'all 8 shards -> ds.json')
      .epilogue('Images keep their ids (positions in the global sorted list); annotations are renumbered from 1 in image order.') as unknown as Argv<MergeArgs>,
  handler: async (argv: ArgumentsCamelCase<MergeArgs>) => {
    setCommandExitCode(await runMergeCommand(argv));
  },
};
