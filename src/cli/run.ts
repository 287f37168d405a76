/** Glue between the folder jobs of src/dataset and the terminal: signals, progress, summaries, exit codes. */
import { join } from 'node:path';
import type { RunEvent, RunSummary } from '../dataset/runner.js';
import { EXIT_COMPLETED_WITH_FAILURES, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED } from './errors.js';
import { formatRate, type Reporter } from './output.js';

export interface Interrupts {
  signal: AbortSignal;
  /** The signal that stopped the run, if any. */
  received(): 'SIGINT' | 'SIGTERM' | null;
  dispose(): void;
}

/**
 * SIGINT (Ctrl-C) and SIGTERM (what Kubernetes and Slurm send before killing) stop the run
 * after the image in progress; a second one exits at once (every file is written atomically,
 * so that is safe too).
 */
export function trapInterrupts(reporter: Reporter): Interrupts {
  const controller = new AbortController();
  let got: 'SIGINT' | 'SIGTERM' | null = null;
  const handler = (sig: 'SIGINT' | 'SIGTERM') => {
    if (got) {
      reporter.note(`${sig} again: stopping now; run the same command again to continue`);
      process.exit(sig === 'SIGINT' ? EXIT_INTERRUPTED : EXIT_TERMINATED);
    }
    got = sig;
    reporter.event('stopping', { signal: sig });
    reporter.note(`${sig}: stopping after the image in progress (${sig === 'SIGINT' ? 'Ctrl-C' : 'the signal'} again stops at once)`);
    controller.abort(Object.assign(new Error('interrupted'), { name: 'AbortError' }));
  };
  const onInt = () => handler('SIGINT');
  const onTerm = () => handler('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return {
    signal: controller.signal,
    received: () => got,
    dispose() {
      process.removeListener('SIGINT', onInt);
      process.removeListener('SIGTERM', onTerm);
    },
  };
}

/** Turns the job's events into the bar, JSON events and notes. */
export function reportEvents(reporter: Reporter, label: string): (e: RunEvent) => void {
  return (e) => {
    switch (e.type) {
      case 'start': {
        reporter.event('start', {
          command: label,
          images: e.images,
          inShard: e.inShard,
          alreadyDone: e.alreadyDone,
          previouslyFailed: e.previouslyFailed,
          todo: e.todo,
          shard: e.shard,
          resumed: e.resumed,
        });
        if (e.images === 0) reporter.warn('no images found (looked for .png, .jpg, .jpeg, .bmp, .gif, .tif, .tiff files; hidden ones are skipped)');
        if (e.environmentChanges.length > 0) {
          reporter.warn(
            `resuming on another setup than the run started on (${e.environmentChanges.join('; ')}): ` +
              'masks of the images done now may differ in the last bits from an uninterrupted run',
          );
        }
        const parts = [`${e.resumed ? 'resuming: ' : ''}${e.inShard} image(s)${e.shard ? ` in shard ${e.shard.index}/${e.shard.count} (of ${e.images})` : ''}`];
        if (e.alreadyDone > 0) parts.push(`${e.alreadyDone} done earlier`);
        if (e.previouslyFailed > 0) parts.push(`${e.previouslyFailed} failed earlier (skipped; --retry-failed tries them again)`);
        parts.push(`${e.todo} to do`);
        reporter.note(parts.join(', '));
        reporter.startBar(label, e.todo);
        break;
      }
      case 'image-progress':
        break;
      case 'image-done':
        reporter.event('image', { file: e.file, status: 'done', ms: Math.round(e.ms), ...e.detail });
        reporter.updateBar(e.processed, e.failed);
        break;
      case 'image-failed':
        reporter.event('image', { file: e.file, status: 'failed', stage: e.stage, error: e.error });
        reporter.warn(`skipped ${e.file}: ${e.error}`);
        reporter.updateBar(e.processed, e.failed);
        break;
      case 'stopping':
        break;
      case 'warning':
        reporter.warn(e.message);
        break;
    }
  };
}

/** Progress inside an image (for long images): keeps the bar moving. */
export function reportImageProgress(reporter: Reporter, handler: (e: RunEvent) => void): (e: RunEvent) => void {
  let processed = 0;
  let failed = 0;
  return (e) => {
    if (e.type === 'image-done' || e.type === 'image-failed') {
      processed = e.processed;
      failed = e.failed;
    }
    if (e.type === 'image-progress') reporter.updateBar(processed, failed, e.fraction);
    handler(e);
  };
}

/** Prints the summary of a folder run and returns its exit code. */
export function finishRun(
  reporter: Reporter,
  command: string,
  summary: RunSummary,
  options: { seconds: number; interrupts: Interrupts; allowFailures: boolean; output?: string | null; extra?: Record<string, unknown>; resumeHint: string },
): number {
  reporter.stopBar();
  const signal = options.interrupts.received();
  const interrupted = summary.interrupted || summary.remaining > 0;
  let exitCode = EXIT_OK;
  let status: string;
  if (interrupted) {
    exitCode = signal === 'SIGTERM' ? EXIT_TERMINATED : EXIT_INTERRUPTED;
    status = 'interrupted';
  } else if (summary.failed > 0) {
    exitCode = options.allowFailures ? EXIT_OK : EXIT_COMPLETED_WITH_FAILURES;
    status = 'completed_with_failures';
  } else {
    status = 'ok';
  }
  const rate = summary.processedNow / Math.max(options.seconds, 1e-9);
  const counts =
    `${summary.succeeded} of ${summary.inShard} image(s) done` +
    (summary.failed > 0 ? `, ${summary.failed} failed` : '') +
    (summary.remaining > 0 ? `, ${summary.remaining} remaining` : '') +
    ` (${summary.processedNow} now in ${options.seconds.toFixed(1)} s, ${formatRate(rate)}` +
    (summary.alreadyDone > 0 ? `; ${summary.alreadyDone} done earlier` : '') +
    ')';
  if (interrupted) {
    reporter.note(`interrupted: ${counts}. ${options.resumeHint}`);
  } else if (summary.failed > 0 && !reporter.json) {
    reporter.warn(`${summary.failed} image(s) could not be used and are left out:`);
    for (const f of summary.failures.slice(0, 20)) reporter.warn(`  ${f.file}: ${f.error}`);
    if (summary.failures.length > 20) reporter.warn(`  ... and ${summary.failures.length - 20} more`);
  }
  reporter.event('summary', {
    command,
    status,
    exitCode,
    images: summary.images,
    inShard: summary.inShard,
    succeeded: summary.succeeded,
    failed: summary.failed,
    remaining: summary.remaining,
    processedNow: summary.processedNow,
    failedNow: summary.failedNow,
    alreadyDone: summary.alreadyDone,
    seconds: Math.round(options.seconds * 1000) / 1000,
    output: interrupted ? null : (options.output ?? null),
    failures: summary.failures,
    ...options.extra,
  });
  if (!interrupted) reporter.result(`${command}: ${counts}${options.output ? ` -> ${options.output}` : ''}`);
  return exitCode;
}

/**
 * The end of a command that writes files per image (`auto`, `embed`): given one image, its
 * failure is the command's error; otherwise finishRun, listing the outputs for one image only
 * (a folder's would make the summary line as long as the folder).
 */
export function finishPerImageRun(
  reporter: Reporter,
  command: string,
  result: RunSummary & { folder: boolean; outputs: Map<string, string> },
  options: { t0: number; interrupts: Interrupts; allowFailures: boolean; out: string; stateDir: string },
): number {
  if (!result.folder && result.failed > 0) throw new Error(result.failures[0].error);
  return finishRun(reporter, command, result, {
    seconds: (performance.now() - options.t0) / 1000,
    interrupts: options.interrupts,
    allowFailures: options.allowFailures,
    output: options.out,
    extra: result.folder ? {} : { outputs: Object.fromEntries(result.outputs) },
    resumeHint: `Progress is kept in ${join(options.out, options.stateDir)}; run the same command again to continue.`,
  });
}
