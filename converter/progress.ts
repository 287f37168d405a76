/**
 * Progress reporting for the CLI on stderr: a redrawn bar when stderr is a terminal, JSON lines
 * (`{"event":"progress",...}`) for machines, or nothing. Node only.
 */

export type ProgressMode = 'auto' | 'bar' | 'json' | 'none';

export interface ProgressSink {
  /** A new task: `total` units (bytes or items) when known, starting at `initial`. */
  start(label: string, total?: number, initial?: number, unit?: 'bytes' | 'items'): void;
  update(done: number, total?: number): void;
  /** Ends the task (clears the bar); an optional line is printed after it. */
  end(message?: string): void;
  /** A one-off message (printed on its own line, or as a JSON event). */
  note(message: string, fields?: Record<string, unknown>): void;
}

interface Writable {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export const silentProgress: ProgressSink = { start() {}, update() {}, end() {}, note() {} };

const MiB = 1024 * 1024;

export function formatBytes(n: number): string {
  if (n >= 1024 * MiB) return `${(n / (1024 * MiB)).toFixed(2)} GiB`;
  if (n >= MiB) return `${(n / MiB).toFixed(1)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

function formatDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--:--';
  const m = Math.floor(s / 60);
  const sec = Math.floor(s % 60);
  return m >= 60 ? `${Math.floor(m / 60)}:${String(m % 60).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}

class BarProgress implements ProgressSink {
  private label = '';
  private total?: number;
  private done = 0;
  private initial = 0;
  private unit: 'bytes' | 'items' = 'bytes';
  private started = 0;
  private lastDraw = 0;
  private drawn = false;
  constructor(private readonly out: Writable) {}

  start(label: string, total?: number, initial = 0, unit: 'bytes' | 'items' = 'bytes'): void {
    this.label = label;
    this.total = total;
    this.done = initial;
    this.initial = initial;
    this.unit = unit;
    this.started = Date.now();
    this.lastDraw = 0;
    this.draw(true);
  }

  update(done: number, total?: number): void {
    this.done = done;
    if (total !== undefined) this.total = total;
    this.draw(false);
  }

  end(message?: string): void {
    if (this.drawn) this.out.write('\r\x1b[K');
    this.drawn = false;
    if (message) this.out.write(`${message}\n`);
  }

  note(message: string): void {
    if (this.drawn) this.out.write('\r\x1b[K');
    this.out.write(`${message}\n`);
    this.draw(true);
  }

  private draw(force: boolean): void {
    const now = Date.now();
    if (!force && now - this.lastDraw < 100 && this.done !== this.total) return;
    this.lastDraw = now;
    const fmt = (n: number) => (this.unit === 'bytes' ? formatBytes(n) : String(n));
    const elapsed = (now - this.started) / 1000;
    const rate = elapsed > 0 ? (this.done - this.initial) / elapsed : 0;
    let line: string;
    if (this.total) {
      const frac = Math.min(1, this.done / this.total);
      const width = Math.max(10, Math.min(30, (this.out.columns ?? 80) - 60));
      const fill = Math.round(frac * width);
      const eta = rate > 0 ? (this.total - this.done) / rate : NaN;
      line = `${this.label} [${'#'.repeat(fill)}${'-'.repeat(width - fill)}] ${(frac * 100).toFixed(1).padStart(5)}% ${fmt(this.done)}/${fmt(this.total)}`;
      if (this.unit === 'bytes') line += ` ${formatBytes(rate)}/s ETA ${formatDuration(eta)}`;
    } else {
      line = `${this.label} ${fmt(this.done)}${this.unit === 'bytes' ? ` ${formatBytes(rate)}/s` : ''}`;
    }
    this.out.write(`\r\x1b[K${line}`);
    this.drawn = true;
  }
}

class JsonProgress implements ProgressSink {
  private label = '';
  private total?: number;
  private last = 0;
  constructor(private readonly out: Writable) {}
  private emit(obj: Record<string, unknown>): void {
    this.out.write(`${JSON.stringify(obj)}\n`);
  }
  start(label: string, total?: number, initial = 0, unit: 'bytes' | 'items' = 'bytes'): void {
    this.label = label;
    this.total = total;
    this.last = Date.now();
    this.emit({ event: 'start', label, total: total ?? null, done: initial, unit });
  }
  update(done: number, total?: number): void {
    if (total !== undefined) this.total = total;
    const now = Date.now();
    if (now - this.last < 1000 && done !== this.total) return;
    this.last = now;
    this.emit({ event: 'progress', label: this.label, done, total: this.total ?? null });
  }
  end(message?: string): void {
    this.emit({ event: 'end', label: this.label, ...(message ? { message } : {}) });
  }
  note(message: string, fields: Record<string, unknown> = {}): void {
    this.emit({ event: 'note', message, ...fields });
  }
}

/** A sink for the mode: 'auto' draws a bar on a terminal and stays silent otherwise. */
export function createProgress(mode: ProgressMode = 'auto', out: Writable = process.stderr): ProgressSink {
  if (mode === 'none') return silentProgress;
  if (mode === 'json') return new JsonProgress(out);
  if (mode === 'bar' || out.isTTY) return new BarProgress(out);
  return silentProgress;
}
