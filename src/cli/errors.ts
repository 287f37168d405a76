/**
 * Exit codes of `sam-tfjs`:
 *
 *   0    success
 *   1    failure: the command could not do its work (model or image unreadable, disk full,
 *        the model failing on every image, ...)
 *   2    usage error: unknown command or option, bad value, a resume with other settings
 *        than the run being resumed, shard files that do not belong together
 *   3    completed with failures: a folder run finished, but some images could not be read
 *        or processed; they are logged, counted in the summary, recorded (`--retry-failed`
 *        tries them again) and left out of the outputs (--allow-failures turns this into 0)
 *   130  interrupted by SIGINT (Ctrl-C), 143 by SIGTERM: the run stopped after the image in
 *        progress; the same command continues it
 */
import { exitCodeFor as converterExitCodeFor, UsageError } from '../../converter/cli.js';

export { UsageError };

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_COMPLETED_WITH_FAILURES = 3;
export const EXIT_INTERRUPTED = 130;
export const EXIT_TERMINATED = 143;

/** Errors that mean the command line asked for something impossible. */
const USAGE_ERRORS = ['UsageError', 'SettingsMismatchError', 'ShardSpecError', 'MergeError'];

/** The exit code for an error a command threw. */
export function exitCodeFor(e: unknown): number {
  // By name, so that this module stays light (the classes live with the code that throws them).
  const name = (e as Error)?.name;
  if (e instanceof UsageError || USAGE_ERRORS.includes(name)) return EXIT_USAGE;
  const code = (e as { exitCode?: unknown })?.exitCode;
  if (typeof code === 'number' && Number.isInteger(code)) return code;
  return converterExitCodeFor(e);
}

/** An error carrying its exit code. */
export class ExitError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'ExitError';
  }
}

let commandExitCode = EXIT_OK;

/** Set by a command handler: the exit code of a command that did not throw (e.g. 3 or 130). */
export function setCommandExitCode(code: number): void {
  commandExitCode = code;
}

/** Reads and resets the code a handler set. */
export function takeCommandExitCode(): number {
  const code = commandExitCode;
  commandExitCode = EXIT_OK;
  return code;
}
