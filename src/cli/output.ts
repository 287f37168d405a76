/**
 * What the CLI prints, and where.
 *
 * - Normal mode: results and the final summary on stdout; notes, warnings, failed images and
 *   the progress bar on stderr. The bar (images done / total, images/s, ETA) is drawn only
 *   when stderr is a terminal.
 * - `--json`: stdout carries only JSON lines, one event object per line
 *   (`{"event":"start",...}`, `{"event":"image",...}`, `{"event":"summary",...}`, and
 *   `{"event":"error","exitCode":n,"message":...}` on failure); stderr stays empty except for
 *   a failure's one-line message. No bar.
 * - `--quiet`: nothing but errors (on stderr).
 */

export interface Stream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ReporterOptions {
  json?: boolean;
  quiet?: boolean;
  stdout?: Stream;
  stderr?: Stream;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}

export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return '- img/s';
  return perSecond >= 1 ? `${perSecond.toFixed(2)} img/s` : `${(1 / perSecond).toFixed(1)} s/img`;
}

/** A redrawn one-line bar: `label  12/100 [#####.....] 12% 1.50 img/s ETA 0:59  2 failed`. */
export class ProgressBar {
  private total = 0;
  private failed = 0;
  private partial = 0;
  private counted = 0;
  private started = 0;
  private lastDraw = 0;
  private drawn = false;

  constructor(
    private readonly out: Stream,
    private readonly label: string,
  ) {}

  /** `total` images to do now. */
  start(total: number): void {
    this.total = total;
    this.started = Date.now();
    this.draw(true);
  }

  /** `done` finished and `failed` failed so far (this run); `partial` of the image in progress (0..1). */
  update(done: number, failed: number, partial = 0): void {
    const changed = done + failed !== this.counted;
    this.failed = failed;
    this.partial = partial;
    this.counted = done + failed;
    this.draw(changed); // redrawn at once when an image ends, at most 10 times a second otherwise
  }

  /** Clears the line for other output (the bar comes back at the next update). */
  clear(): void {
    if (this.drawn) this.out.write('\r\x1b[K');
    this.drawn = false;
  }

  stop(): void {
    this.clear();
  }

  private draw(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const elapsed = (now - this.started) / 1000;
    const progressed = this.counted + this.partial;
    const rate = elapsed > 0 ? progressed / elapsed : 0;
    const eta = rate > 0 ? (this.total - progressed) / rate : NaN;
    const frac = this.total > 0 ? Math.min(1, progressed / this.total) : 1;
    const width = 24;
    const filled = Math.round(frac * width);
    const failed = this.failed > 0 ? `  ${this.failed} failed` : '';
    let line =
      `${this.label} ${this.counted}/${this.total} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}%` +
      `  ${formatRate(rate)}  ETA ${formatDuration(eta)}  elapsed ${formatDuration(elapsed)}${failed}`;
    const cols = this.out.columns ?? 100;
    if (line.length > cols - 1) line = line.slice(0, cols - 1);
    this.out.write(`\r\x1b[K${line}`);
    this.drawn = true;
  }
}

export class Reporter {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly stdout: Stream;
  readonly stderr: Stream;
  private bar: ProgressBar | null = null;

  constructor(options: ReporterOptions = {}) {
    this.json = !!options.json;
    this.quiet = !!options.quiet;
    this.stdout = options.stdout ?? process.stdout;
    this.stderr = options.stderr ?? process.stderr;
  }

  /** Whether a progress bar is drawn (stderr is a terminal, not --json / --quiet). */
  get interactive(): boolean {
    return !this.json && !this.quiet && !!this.stderr.isTTY;
  }

  /** A machine-readable event (JSON line on stdout; only with --json). */
  event(event: string, fields: Record<string, unknown> = {}): void {
    if (this.json) this.stdout.write(`${JSON.stringify({ event, ...fields })}\n`);
  }

  /** A human note on stderr (not with --json / --quiet). */
  note(text: string): void {
    if (this.json || this.quiet) return;
    this.bar?.clear();
    this.stderr.write(`${text}\n`);
  }

  /** A warning: on stderr, or as a `warning` event with --json. */
  warn(text: string): void {
    if (this.json) return this.event('warning', { message: text });
    if (this.quiet) return;
    this.bar?.clear();
    this.stderr.write(`${text}\n`);
  }

  /** A result line on stdout (not with --json / --quiet). */
  result(text: string): void {
    if (this.json || this.quiet) return;
    this.bar?.clear();
    this.stdout.write(`${text}\n`);
  }

  /** An error message (always shown; as an `error` event too with --json). */
  error(message: string, exitCode: number): void {
    this.bar?.clear();
    this.event('error', { exitCode, message });
    this.stderr.write(`sam-tfjs: ${exitCode === 2 ? '' : 'error: '}${message}\n`);
  }

  startBar(label: string, total: number): void {
    if (!this.interactive) return;
    this.bar = new ProgressBar(this.stderr, label);
    this.bar.start(total);
  }

  updateBar(done: number, failed: number, partial = 0): void {
    this.bar?.update(done, failed, partial);
  }

  stopBar(): void {
    this.bar?.stop();
    this.bar = null;
  }
}
