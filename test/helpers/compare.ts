/** Numeric comparison helpers for the parity tests. */
import * as tf from '@tensorflow/tfjs';
import type { NpyArray } from '../../src/io/npy.js';

export function shapeOf(t: tf.Tensor | NpyArray): number[] {
  return [...t.shape];
}

/** Max |a - b| over all elements; throws if the shapes differ. */
export function maxAbsDiff(actual: tf.Tensor | ArrayLike<number>, expected: NpyArray | ArrayLike<number>, expectedShape?: number[]): number {
  const a = actual instanceof tf.Tensor ? actual.dataSync() : actual;
  const e = 'data' in (expected as NpyArray) && 'shape' in (expected as NpyArray) ? (expected as NpyArray).data : (expected as ArrayLike<number>);
  if (actual instanceof tf.Tensor && 'shape' in (expected as NpyArray)) {
    const es = (expected as NpyArray).shape;
    if (actual.shape.join(',') !== es.join(',')) throw new Error(`shape [${actual.shape}] != expected [${es}]`);
  }
  if (expectedShape && actual instanceof tf.Tensor && actual.shape.join(',') !== expectedShape.join(',')) {
    throw new Error(`shape [${actual.shape}] != expected [${expectedShape}]`);
  }
  if (a.length !== e.length) throw new Error(`${a.length} values != expected ${e.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(Number(a[i]) - Number(e[i]));
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Same float32 bits everywhere (any NaN matching any NaN), and the same length. */
export function sameBits(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && a.every((v, i) => Object.is(v, b[i]) || (Number.isNaN(v) && Number.isNaN(b[i])));
}

/** Reference array (NCHW or any layout) as a tensor. */
export function npyTensor(a: NpyArray): tf.Tensor {
  return tf.tensor(a.data as Float32Array, a.shape, 'float32');
}
