/**
 * Loading a PyTorch state dict into the layers by name: each weight knows its state-dict
 * key, PyTorch shape and layout transform (see SamLayer.torchParams). Mismatches are
 * reported by name: missing keys, unexpected keys, shape mismatches.
 */
import * as tf from '@tensorflow/tfjs';
import type { TorchParam } from '../layers/sam_layer.js';

/** A state-dict entry as float32 values in PyTorch's row-major layout. */
export interface Float32Entry {
  shape: number[];
  values: Float32Array;
}

export interface StateDictReport {
  missing: string[];
  unexpected: string[];
  /** `key: checkpoint [..] vs model [..]` */
  shapeMismatches: string[];
}

export class StateDictMismatchError extends Error {
  readonly report: StateDictReport;

  constructor(report: StateDictReport, context: string) {
    const lines: string[] = [];
    const list = (title: string, items: string[]) => {
      if (items.length === 0) return;
      const shown = items.slice(0, 20).map((k) => `    ${k}`);
      if (items.length > 20) shown.push(`    ... and ${items.length - 20} more`);
      lines.push(`  ${title} (${items.length}):`, ...shown);
    };
    list('missing keys', report.missing);
    list('unexpected keys', report.unexpected);
    list('shape mismatches', report.shapeMismatches);
    super(`${context}: the checkpoint does not match the model\n${lines.join('\n')}`);
    this.name = 'StateDictMismatchError';
    this.report = report;
  }
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/** Compares checkpoint keys and shapes with the model's parameters. */
export function compareStateDict(params: Map<string, TorchParam>, shapes: Map<string, number[]>): StateDictReport {
  const missing: string[] = [];
  const shapeMismatches: string[] = [];
  for (const [key, p] of params) {
    const shape = shapes.get(key);
    if (!shape) missing.push(key);
    else if (!sameShape(shape, p.torchShape)) shapeMismatches.push(`${key}: checkpoint [${shape.join(', ')}] vs model [${p.torchShape.join(', ')}]`);
  }
  const unexpected = [...shapes.keys()].filter((k) => !params.has(k));
  return { missing, unexpected, shapeMismatches };
}

/**
 * Assigns one state-dict entry to its weight (rearranged into the tfjs layout).
 * The caller has checked the shape.
 */
export function assignTorchParam(param: TorchParam, entry: Float32Entry): void {
  tf.tidy(() => {
    const t = tf.tensor(entry.values, entry.shape, 'float32');
    const v = param.fromTorch ? param.fromTorch(t) : t;
    param.variable.write(v.reshape(param.variable.shape as number[]));
  });
}

/**
 * Loads a whole state dict. Every model parameter must be present with the right shape and
 * no key may be left over; otherwise a StateDictMismatchError lists all problems and
 * nothing is written.
 */
export function loadStateDict(params: Map<string, TorchParam>, entries: Map<string, Float32Entry>, context = 'loading SAM weights'): void {
  const shapes = new Map([...entries].map(([k, e]) => [k, e.shape]));
  const report = compareStateDict(params, shapes);
  if (report.missing.length || report.unexpected.length || report.shapeMismatches.length) {
    throw new StateDictMismatchError(report, context);
  }
  for (const [key, param] of params) assignTorchParam(param, entries.get(key) as Float32Entry);
}
