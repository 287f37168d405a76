/**
 * The work/state folder of a resumable run. Node only.
 *
 *   <state>/manifest.json          what the run is (kind) and the settings it is pinned to
 *   <state>/done/<ab>/<key>.json   one file per finished image (its result, or a marker)
 *   <state>/failed/<ab>/<key>.json one file per image that could not be used, with the reason
 *
 * `<key>` is `imageKey(relative path)`; `<ab>` its first two hex digits (so no folder holds
 * more than ~1/256 of the files). Every file is written atomically (temporary file, then
 * rename), so a run killed at any moment leaves each file either complete or absent, and a
 * restarted run trusts every file it finds.
 */
import { mkdir, readdir, readFile, rm, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic_write.js';

export const STATE_FORMAT = 'sam-tfjs-run-state';

export interface StateManifest {
  format: typeof STATE_FORMAT;
  version: 1;
  /** What the run produces ('dataset', 'auto', 'embed'). */
  kind: string;
  /** Everything that changes the results; a run resumes only with identical settings. */
  settings: Record<string, unknown>;
  /**
   * What ran it (package version, backend). A resume on another one is allowed (e.g. moving a
   * run to a GPU machine) but warned about: results may then differ in the last float bits
   * from an uninterrupted run's.
   */
  environment?: Record<string, unknown>;
}

/** Resuming with other settings than the run being resumed (a usage error for the CLI). */
export class SettingsMismatchError extends Error {
  constructor(
    message: string,
    readonly differences: string[],
  ) {
    super(message);
    this.name = 'SettingsMismatchError';
  }
}

/** A failure record. */
export interface FailureRecord {
  file: string;
  error: string;
}

function flatten(value: unknown, prefix: string, out: Map<string, string>): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.set(prefix, JSON.stringify(value));
  }
}

/** The settings that differ, as `name: now X, before Y` lines. */
export function settingsDifferences(now: Record<string, unknown>, before: Record<string, unknown>): string[] {
  const a = new Map<string, string>();
  const b = new Map<string, string>();
  flatten(now, '', a);
  flatten(before, '', b);
  const keys = [...new Set([...a.keys(), ...b.keys()])].sort();
  return keys.filter((k) => a.get(k) !== b.get(k)).map((k) => `${k}: now ${a.get(k) ?? '(unset)'}, before ${b.get(k) ?? '(unset)'}`);
}

/** Another process is working in the same state folder right now. */
export class RunLockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunLockedError';
  }
}

interface LockInfo {
  pid: number;
  host: string;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const TMP_FILE = /^\..*\.tmp$/;
const STALE_TMP_MS = 60 * 60 * 1000;

export class RunState {
  private constructor(
    readonly dir: string,
    readonly manifest: StateManifest,
    /** True when the folder already held this run's manifest (a resume). */
    readonly resumed: boolean,
    /** How the environment differs from the one that started the run (`backend: now X, before Y`). */
    readonly environmentChanges: string[] = [],
  ) {}

  /**
   * Opens (or starts) the state folder of a run. Throws SettingsMismatchError when it belongs
   * to a run with other settings or of another kind.
   */
  static async open(dir: string, kind: string, settings: Record<string, unknown>, environment?: Record<string, unknown>): Promise<RunState> {
    const manifest: StateManifest = { format: STATE_FORMAT, version: 1, kind, settings, ...(environment ? { environment } : {}) };
    const path = join(dir, 'manifest.json');
    let existing: StateManifest | null = null;
    try {
      existing = JSON.parse(await readFile(path, 'utf8'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new Error(`${path} is unreadable (${(e as Error).message}); delete the folder ${dir} to start over`);
      }
    }
    if (existing) {
      if (existing.format !== STATE_FORMAT || existing.kind !== kind) {
        throw new SettingsMismatchError(
          `${dir} holds the state of another kind of run (${existing.kind ?? existing.format}), not of '${kind}': choose another output or delete it`,
          [],
        );
      }
      const diffs = settingsDifferences(settings, existing.settings ?? {});
      if (diffs.length > 0) {
        throw new SettingsMismatchError(
          `cannot resume the run in ${dir}: it was started with other settings:\n  ${diffs.join('\n  ')}\n` +
            'Run it again with the settings it was started with, or choose another output (or delete that folder) to start over.',
          diffs,
        );
      }
      await removeStaleTemporaries(dir);
      const changes = environment && existing.environment ? settingsDifferences(environment, existing.environment) : [];
      return new RunState(dir, existing, true, changes);
    }
    await mkdir(dir, { recursive: true });
    await writeFileAtomic(path, `${JSON.stringify(manifest, null, 2)}\n`);
    return new RunState(dir, manifest, false);
  }

  donePath(key: string): string {
    return join(this.dir, 'done', key.slice(0, 2), `${key}.json`);
  }

  failedPath(key: string): string {
    return join(this.dir, 'failed', key.slice(0, 2), `${key}.json`);
  }

  /** Keys of the finished images. */
  doneKeys(): Promise<Set<string>> {
    return listKeys(join(this.dir, 'done'));
  }

  /** Keys of the images recorded as failed. */
  failedKeys(): Promise<Set<string>> {
    return listKeys(join(this.dir, 'failed'));
  }

  async writeDone(key: string, content: string): Promise<void> {
    await writeFileAtomic(this.donePath(key), content);
  }

  async readDone(key: string): Promise<string> {
    return readFile(this.donePath(key), 'utf8');
  }

  async writeFailed(key: string, record: FailureRecord): Promise<void> {
    await writeFileAtomic(this.failedPath(key), `${JSON.stringify(record)}\n`);
  }

  async readFailed(key: string): Promise<FailureRecord> {
    return JSON.parse(await readFile(this.failedPath(key), 'utf8'));
  }

  async clearFailed(key: string): Promise<void> {
    await rm(this.failedPath(key), { force: true });
  }

  /**
   * Marks the folder as in use by this process. Throws RunLockedError when a live process on
   * this machine holds it; a lock of a dead process (killed) is taken over; a lock from another
   * machine cannot be checked and is taken over with a warning (returned).
   */
  async lock(): Promise<string | null> {
    const path = join(this.dir, 'lock.json');
    let warning: string | null = null;
    try {
      const held = JSON.parse(await readFile(path, 'utf8')) as LockInfo;
      if (held.host === hostname()) {
        if (held.pid !== process.pid && isAlive(held.pid)) {
          throw new RunLockedError(`another run (process ${held.pid}) is working on ${this.dir}; wait for it or stop it first`);
        }
      } else {
        warning = `${this.dir} was last used by a run on ${held.host} (process ${held.pid}); if that run is still going, stop one of them`;
      }
    } catch (e) {
      if (e instanceof RunLockedError) throw e;
    }
    await writeFileAtomic(path, JSON.stringify({ pid: process.pid, host: hostname() } satisfies LockInfo));
    return warning;
  }

  /** Releases the lock taken by `lock()`. */
  async unlock(): Promise<void> {
    const path = join(this.dir, 'lock.json');
    try {
      const held = JSON.parse(await readFile(path, 'utf8')) as LockInfo;
      if (held.pid === process.pid && held.host === hostname()) await rm(path, { force: true });
    } catch {
      // no lock
    }
  }

  /** Deletes the whole state folder. */
  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function listKeys(dir: string): Promise<Set<string>> {
  const keys = new Set<string>();
  let shards: string[];
  try {
    shards = await readdir(dir);
  } catch {
    return keys;
  }
  for (const s of shards) {
    let names: string[];
    try {
      names = await readdir(join(dir, s));
    } catch {
      continue;
    }
    for (const n of names) if (n.endsWith('.json') && !n.startsWith('.')) keys.add(n.slice(0, -5));
  }
  return keys;
}

/** Temporary files of writes that a killed process left (older than an hour, so nothing in flight). */
async function removeStaleTemporaries(dir: string): Promise<void> {
  const now = Date.now();
  for (const sub of ['done', 'failed']) {
    let shards: string[];
    try {
      shards = await readdir(join(dir, sub));
    } catch {
      continue;
    }
    for (const s of shards) {
      const names = await readdir(join(dir, sub, s)).catch(() => [] as string[]);
      for (const n of names) {
        if (!TMP_FILE.test(n)) continue;
        const p = join(dir, sub, s, n);
        const st = await stat(p).catch(() => null);
        if (st && now - st.mtimeMs > STALE_TMP_MS) await unlink(p).catch(() => {});
      }
    }
  }
}
