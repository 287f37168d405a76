/** What ran a job (package version, tfjs backend): recorded in a run's manifest, compared on resume with a warning. */
import * as tf from '@tensorflow/tfjs';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedVersion: string | null = null;

/** This package's version (from its package.json). */
export function packageVersion(): string {
  if (cachedVersion !== null) return cachedVersion;
  cachedVersion = 'unknown';
  try {
    let dir = dirname(fileURLToPath(import.meta.url));
    for (let i = 0; i < 6; i++) {
      const p = join(dir, 'package.json');
      if (existsSync(p)) {
        const pkg = JSON.parse(readFileSync(p, 'utf8'));
        if (pkg.name === 'sam-tfjs') {
          cachedVersion = String(pkg.version);
          break;
        }
      }
      dir = dirname(dir);
    }
  } catch {
    // keep 'unknown'
  }
  return cachedVersion;
}

export interface RunEnvironment extends Record<string, unknown> {
  /** `sam-tfjs@<version>`. */
  tool: string;
  /** The active tfjs backend. */
  backend: string;
}

export function runEnvironment(): RunEnvironment {
  return { tool: `sam-tfjs@${packageVersion()}`, backend: tf.getBackend() };
}
