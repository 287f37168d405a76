/**
 * Splitting the sorted image list between N processes or machines.
 *
 * Shard i of N (0-based) takes the images at positions i, i + N, i + 2N, ... of the global
 * sorted list: deterministic, disjoint, covering everything, and balanced even when one
 * subfolder holds all the large images. Image ids come from the global position, so every
 * shard numbers its images as an unsharded run would and `mergeDatasets` can join them.
 *
 * `auto/N` takes i from the environment of a batch system:
 * - Kubernetes indexed Job: JOB_COMPLETION_INDEX (0-based);
 * - Slurm job array: SLURM_ARRAY_TASK_ID (minus SLURM_ARRAY_TASK_MIN, so `--array=1-4` works too);
 * - or SAM_TFJS_SHARD_INDEX.
 */

export interface Shard {
  /** 0-based. */
  index: number;
  count: number;
}

/** Environment variables read by `auto`, in order. */
export const SHARD_INDEX_ENV = ['SAM_TFJS_SHARD_INDEX', 'JOB_COMPLETION_INDEX', 'SLURM_ARRAY_TASK_ID'] as const;

/** Thrown for a malformed or out-of-range shard spec (a usage error for the CLI). */
export class ShardSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ShardSpecError';
  }
}

function parseWhole(text: string, what: string): number {
  if (!/^\d+$/.test(text.trim())) throw new ShardSpecError(`${what} must be a whole number, got '${text}'`);
  return Number(text.trim());
}

/** The shard index from the environment (see SHARD_INDEX_ENV); null when none is set. */
export function shardIndexFromEnv(env: Record<string, string | undefined> = process.env): { index: number; from: string } | null {
  for (const name of SHARD_INDEX_ENV) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    let index = parseWhole(v, `$${name}`);
    if (name === 'SLURM_ARRAY_TASK_ID' && env.SLURM_ARRAY_TASK_MIN) index -= parseWhole(env.SLURM_ARRAY_TASK_MIN, '$SLURM_ARRAY_TASK_MIN');
    return { index, from: name };
  }
  return null;
}

/**
 * Parses `i/N` (0 <= i < N) or `auto/N`. With `auto` the index comes from the environment
 * (JOB_COMPLETION_INDEX, SLURM_ARRAY_TASK_ID, SAM_TFJS_SHARD_INDEX).
 */
export function parseShard(spec: string, env: Record<string, string | undefined> = process.env): Shard {
  const m = /^\s*([^/\s]+)\s*\/\s*([^/\s]+)\s*$/.exec(spec);
  if (!m) throw new ShardSpecError(`invalid shard '${spec}': expected i/N (e.g. 0/4) or auto/N`);
  const count = parseWhole(m[2], 'the number of shards N');
  if (count < 1) throw new ShardSpecError(`invalid shard '${spec}': N must be at least 1`);
  let index: number;
  if (m[1].toLowerCase() === 'auto') {
    const found = shardIndexFromEnv(env);
    if (!found) {
      throw new ShardSpecError(`--shard auto/${count}: none of ${SHARD_INDEX_ENV.map((n) => `$${n}`).join(', ')} is set`);
    }
    index = found.index;
    if (index < 0 || index >= count) {
      throw new ShardSpecError(`--shard auto/${count}: $${found.from} gives shard ${index}, outside 0..${count - 1}`);
    }
  } else {
    index = parseWhole(m[1], 'the shard index i');
    if (index >= count) throw new ShardSpecError(`invalid shard '${spec}': the index must be within 0..${count - 1} (0-based)`);
  }
  return { index, count };
}

/** Positions in the global list that belong to `shard` (all of them when null). */
export function shardPositions(total: number, shard: Shard | null | undefined): number[] {
  const out: number[] = [];
  const start = shard ? shard.index : 0;
  const step = shard ? shard.count : 1;
  for (let i = start; i < total; i += step) out.push(i);
  return out;
}

/** `name.json` -> `name.shard-2-of-8.json` (the file a shard writes). */
export function shardFileName(path: string, shard: Shard | null | undefined): string {
  if (!shard) return path;
  const tag = `shard-${shard.index}-of-${shard.count}`;
  const m = /^(.*?)(\.[^./\\]+)?$/.exec(path)!;
  return `${m[1]}.${tag}${m[2] ?? ''}`;
}
