/** The generator settings a run is pinned to, in the reference's snake_case spelling. */
import type { ResolvedAmgOptions } from '../sam/automatic_mask_generator.js';

const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * Every generator option that changes the masks (not `outputMode`, which only changes their
 * encoding), with snake_case keys as the reference's keyword arguments.
 */
export function amgSettings(options: Readonly<ResolvedAmgOptions>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) {
    if (k === 'outputMode') continue;
    out[snake(k)] = v instanceof Float64Array ? Array.from(v) : Array.isArray(v) ? v.map((g) => Array.from(g as ArrayLike<number>)) : v;
  }
  return out;
}
