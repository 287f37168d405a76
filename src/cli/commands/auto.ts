/** `sam-tfjs auto <image|folder>`: automatic masks written as the reference's scripts/amg.py writes them. */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { setCommandExitCode } from '../errors.js';
import { loadModelFromArgs } from '../model.js';
import { amgFromArgs, amgOptions, checkRunArgs, modelOptions, outputOptions, runOptions, shardFromArgs, type AmgArgs, type ModelArgs, type OutputArgs, type RunArgs } from '../options.js';
import { Reporter } from '../output.js';
import { finishPerImageRun, reportEvents, reportImageProgress, trapInterrupts } from '../run.js';

export interface AutoArgs extends ModelArgs, OutputArgs, RunArgs, AmgArgs {
  input: string;
  out: string;
  convertToRle: boolean;
}

export async function runAutoCommand(args: AutoArgs): Promise<number> {
  const reporter = new Reporter({ json: args.json, quiet: args.quiet });
  const amg = amgFromArgs(args);
  const shard = shardFromArgs(args);
  checkRunArgs(args);
  const { AUTO_STATE_DIR, generateMaskFiles } = await import('../../dataset/auto.js');
  const model = await loadModelFromArgs(args, reporter);
  const interrupts = trapInterrupts(reporter);
  const t0 = performance.now();
  try {
    const result = await generateMaskFiles(model, {
      input: args.input,
      outDir: args.out,
      amg,
      convertToRle: args.convertToRle,
      shard,
      retryFailed: args.retryFailed,
      prefetch: args.prefetch,
      decodeWorkers: args.decodeWorkers,
      signal: interrupts.signal,
      onEvent: reportImageProgress(reporter, reportEvents(reporter, 'auto')),
    });
    return finishPerImageRun(reporter, 'auto', result, {
      t0,
      interrupts,
      allowFailures: args.allowFailures,
      out: args.out,
      stateDir: AUTO_STATE_DIR,
    });
  } finally {
    interrupts.dispose();
    model.dispose();
  }
}

export const autoCommand: CommandModule<object, AutoArgs> = {
  command: 'auto <input>',
  describe: "automatic masks of an image or a folder, as the reference's scripts/amg.py writes them (PNGs + metadata.csv, or COCO RLE JSON)",
  builder: (y) =>
    outputOptions(
      runOptions(
        amgOptions(
          modelOptions(
            y
              .positional('input', { type: 'string', demandOption: true, describe: 'an image, or a folder of images (searched recursively)' })
              .option('out', {
                alias: ['o', 'output'],
                type: 'string',
                demandOption: true,
                describe: 'output folder: <out>/<name>/{0.png,1.png,...,metadata.csv} per image, or <out>/<name>.json with --convert-to-rle',
              })
              .option('convert-to-rle', {
                type: 'boolean',
                default: false,
                describe: 'Save masks as COCO RLEs in one JSON per image (SA-1B layout: {image, annotations}) instead of as a folder of PNGs.',
              }),
          ),
        ),
      ),
    )
      .example('$0 auto photo.jpg --model weights/vit_h --out masks/', 'masks/photo/0.png ... and masks/photo/metadata.csv')
      .example('$0 auto photos/ -m weights/vit_b -o masks/ --convert-to-rle', 'masks/<name>.json per image (COCO RLE, SA-1B layout)')
      .example('$0 auto photos/ -m sam.pth -o masks/ --points-per-side 16 --crop-n-layers 1', 'fewer points, one crop layer')
      .epilogue(
        'Flags and defaults are those of the reference\'s scripts/amg.py (--crop-overlap-ratio takes a fraction here). ' +
          'A folder run is resumable: run the same command again after an interruption.',
      ) as unknown as Argv<AutoArgs>,
  handler: async (argv: ArgumentsCamelCase<AutoArgs>) => {
    setCommandExitCode(await runAutoCommand(argv));
  },
};
