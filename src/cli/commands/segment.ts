/** `sam-tfjs segment <image>`: masks for point / box prompts -> PNG mask, overlay, cut-out and a JSON record. */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { EXIT_OK, setCommandExitCode, UsageError } from '../errors.js';
import { loadModelFromArgs } from '../model.js';
import { list, modelOptions, outputOptions, parseBox, parsePoint, type ModelArgs, type OutputArgs } from '../options.js';
import { Reporter } from '../output.js';

export interface SegmentArgs extends ModelArgs, OutputArgs {
  image: string;
  point?: string | string[];
  box?: string | string[];
  multimask: boolean;
  out: string;
  embedding?: string;
  name?: string;
}

export async function runSegmentCommand(args: SegmentArgs): Promise<number> {
  const reporter = new Reporter({ json: args.json, quiet: args.quiet });
  const points = list(args.point).map(parsePoint);
  const boxes = list(args.box);
  if (boxes.length > 1) throw new UsageError('give at most one --box');
  const box = boxes.length === 1 ? parseBox(boxes[0]) : undefined;
  if (points.length === 0 && !box) throw new UsageError('give a prompt: --point x,y[,label] (repeatable) and/or --box x1,y1,x2,y2');
  const { segmentToFiles } = await import('../../dataset/segment.js');
  const model = await loadModelFromArgs(args, reporter);
  try {
    const t0 = performance.now();
    const { record, json } = await segmentToFiles(model, {
      image: args.image,
      outDir: args.out,
      points,
      box,
      multimask: args.multimask,
      embedding: args.embedding,
      name: args.name,
    });
    const ms = Math.round(performance.now() - t0);
    reporter.event('summary', { command: 'segment', status: 'ok', exitCode: EXIT_OK, json, ms, ...record });
    for (const m of record.masks) {
      reporter.result(
        `mask ${m.index}${m.index === record.best && record.masks.length > 1 ? ' (best)' : ''}: score ${m.score.toFixed(4)}, area ${m.area}, ` +
          `bbox [${m.bbox.join(', ')}] -> ${m.files.mask}`,
      );
    }
    reporter.result(`record: ${json}`);
    return EXIT_OK;
  } finally {
    model.dispose();
  }
}

export const segmentCommand: CommandModule<object, SegmentArgs> = {
  command: 'segment <image>',
  describe: 'segment what points and/or a box point at: PNG mask, overlay, RGBA cut-out and a JSON record (score, bbox, area, COCO RLE)',
  builder: (y) =>
    outputOptions(
      modelOptions(
        y
          .positional('image', { type: 'string', demandOption: true, describe: 'the image' })
          .option('point', { alias: 'p', type: 'string', describe: 'a point prompt x,y[,label] in image pixels (label 1 foreground = default, 0 background); repeatable' })
          .option('box', { alias: 'b', type: 'string', describe: 'a box prompt x1,y1,x2,y2 in image pixels' })
          .option('multimask', { type: 'boolean', default: false, describe: 'return all three candidate masks (for ambiguous prompts) instead of one' })
          .option('out', { alias: ['o', 'output'], type: 'string', default: '.', describe: 'output folder' })
          .option('name', { type: 'string', describe: "base name of the files (default: the image's name without extension)" })
          .option('embedding', { type: 'string', describe: "the image's embedding from 'sam-tfjs embed' (skips the image encoder)" }),
      ),
    )
      .example('$0 segment photo.jpg -m weights/vit_h --point 500,375', 'photo.mask.png, photo.overlay.png, photo.cutout.png, photo.json')
      .example('$0 segment photo.jpg -m weights/vit_b --point 500,375 --point 620,400,0', 'one foreground and one background point')
      .example('$0 segment photo.jpg -m weights/vit_b --box 425,600,700,875 --out out/', 'a box')
      .example('$0 segment photo.jpg -m weights/vit_b --point 500,375 --multimask', 'three candidates: photo.mask-0.png ...') as unknown as Argv<SegmentArgs>,
  handler: async (argv: ArgumentsCamelCase<SegmentArgs>) => {
    setCommandExitCode(await runSegmentCommand(argv));
  },
};
