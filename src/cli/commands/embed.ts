/** `sam-tfjs embed <image|folder>`: image embeddings saved as .samemb files, for prompting later. */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { setCommandExitCode } from '../errors.js';
import { loadModelFromArgs } from '../model.js';
import { checkRunArgs, modelOptions, outputOptions, runOptions, shardFromArgs, type ModelArgs, type OutputArgs, type RunArgs } from '../options.js';
import { Reporter } from '../output.js';
import { finishPerImageRun, reportEvents, trapInterrupts } from '../run.js';

export interface EmbedArgs extends ModelArgs, OutputArgs, RunArgs {
  input: string;
  out: string;
}

export async function runEmbedCommand(args: EmbedArgs): Promise<number> {
  const reporter = new Reporter({ json: args.json, quiet: args.quiet });
  const shard = shardFromArgs(args);
  checkRunArgs(args);
  const { EMBED_STATE_DIR, embedImages } = await import('../../dataset/embed.js');
  const model = await loadModelFromArgs(args, reporter);
  const interrupts = trapInterrupts(reporter);
  const t0 = performance.now();
  try {
    const result = await embedImages(model, {
      input: args.input,
      out: args.out,
      shard,
      retryFailed: args.retryFailed,
      prefetch: args.prefetch,
      decodeWorkers: args.decodeWorkers,
      signal: interrupts.signal,
      onEvent: reportEvents(reporter, 'embed'),
    });
    return finishPerImageRun(reporter, 'embed', result, {
      t0,
      interrupts,
      allowFailures: args.allowFailures,
      out: args.out,
      stateDir: EMBED_STATE_DIR,
    });
  } finally {
    interrupts.dispose();
    model.dispose();
  }
}

export const embedCommand: CommandModule<object, EmbedArgs> = {
  command: 'embed <input>',
  describe: 'compute image embeddings (.samemb files) of an image or a folder, to prompt them later without the encoder',
  builder: (y) =>
    outputOptions(
      runOptions(
        modelOptions(
          y
            .positional('input', { type: 'string', demandOption: true, describe: 'an image, or a folder of images (searched recursively)' })
            .option('out', {
              alias: ['o', 'output'],
              type: 'string',
              demandOption: true,
              describe: 'output folder (<out>/<name>.samemb per image), or for one image a file name ending in .samemb',
            }),
        ),
      ),
    )
      .example('$0 embed photo.jpg --model weights/vit_h --out photo.samemb', 'one embedding')
      .example('$0 embed photos/ -m weights/vit_h -o embeddings/', 'embeddings/<name>.samemb for every image (resumable)')
      .example('$0 segment photo.jpg --embedding photo.samemb -m weights/vit_h --point 500,375', 'prompt it later: only the decoder runs') as unknown as Argv<EmbedArgs>,
  handler: async (argv: ArgumentsCamelCase<EmbedArgs>) => {
    setCommandExitCode(await runEmbedCommand(argv));
  },
};
