#!/usr/bin/env node
/**
 * `sam-tfjs`: Segment Anything on the command line.
 *
 *   sam-tfjs segment <image> --point x,y[,label] --box x1,y1,x2,y2 [--multimask]
 *   sam-tfjs auto <image|folder> [amg.py's flags] [--convert-to-rle]
 *   sam-tfjs embed <image|folder>
 *   sam-tfjs dataset <folder> --out ds.json [--shard i/N] [--previews]
 *   sam-tfjs merge <shard files..> --out ds.json
 *   sam-tfjs convert <checkpoint> / download <model>
 *
 * Exit codes: 0 ok, 1 failure, 2 usage error, 3 completed with failures (some images could
 * not be used), 130 interrupted (SIGINT), 143 terminated (SIGTERM). See src/cli/README.md.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { convertCommand, downloadCommand, isMainModule } from '../../converter/cli.js';
import { autoCommand } from './commands/auto.js';
import { datasetCommand } from './commands/dataset.js';
import { embedCommand } from './commands/embed.js';
import { mergeCommand } from './commands/merge.js';
import { segmentCommand } from './commands/segment.js';
import { exitCodeFor, takeCommandExitCode, UsageError } from './errors.js';

function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      try {
        return JSON.parse(readFileSync(p, 'utf8')).version ?? 'unknown';
      } catch {
        return 'unknown';
      }
    }
    dir = dirname(dir);
  }
  return 'unknown';
}

export const EXIT_CODES_TEXT =
  'Exit codes: 0 ok; 1 failure; 2 usage error (also: resuming with other settings); 3 completed, but some images ' +
  'could not be used (see the log; --allow-failures gives 0); 130 interrupted by Ctrl-C, 143 by SIGTERM (run the ' +
  'same command again to continue).';

/** Runs the CLI on `argv` (without node and the script); resolves to the exit code. */
export async function main(argv: string[] = hideBin(process.argv)): Promise<number> {
  const json = argv.includes('--json');
  const parser = yargs(argv)
    .scriptName('sam-tfjs')
    .usage('$0 <command> [options]\n\nSegment Anything (SAM) on TensorFlow.js: prompt images, generate masks and COCO datasets, convert checkpoints.')
    .command(segmentCommand)
    .command(autoCommand)
    .command(embedCommand)
    .command(datasetCommand)
    .command(mergeCommand)
    .command(convertCommand)
    .command(downloadCommand)
    .demandCommand(1, 'give a command: segment, auto, embed, dataset, merge, convert or download')
    .recommendCommands()
    .strict()
    .help()
    .alias('h', 'help')
    .version(packageVersion())
    .exitProcess(false)
    .wrap(Math.min(120, process.stdout.columns || 100))
    .example('$0 segment photo.jpg -m weights/vit_b --point 500,375', 'mask, overlay, cut-out and JSON of what the point shows')
    .example('$0 dataset photos/ -m weights/vit_h -o photos.coco.json', 'a folder -> a COCO dataset of automatic masks')
    .example('$0 <command> --help', "a command's options")
    .epilogue(`${EXIT_CODES_TEXT}\nWith --json, stdout carries JSON lines only (one event per line); notes and the progress bar go to stderr.`)
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    });
  try {
    await parser.parseAsync();
    return takeCommandExitCode();
  } catch (e) {
    const code = exitCodeFor(e);
    const message = (e as Error)?.message ?? String(e);
    if (json) process.stdout.write(`${JSON.stringify({ event: 'error', exitCode: code, message })}\n`);
    if (code === 2) process.stderr.write(`sam-tfjs: ${message}\nRun 'sam-tfjs --help' (or 'sam-tfjs <command> --help') for usage.\n`);
    else if (code === 130) process.stderr.write('sam-tfjs: interrupted\n');
    else process.stderr.write(`sam-tfjs: error: ${message}\n`);
    return code;
  }
}

/** Waits until what was written to stdout / stderr is handed to the OS. */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (!stream.writable) return resolve();
    stream.write('', () => resolve());
  });
}

if (isMainModule(import.meta.url)) {
  main().then(async (code) => {
    await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
    // Exit explicitly: tfjs-wasm's thread pool would otherwise keep the process alive.
    process.exit(code);
  });
}
