/**
 * Results derived from long-lived tensors, registered by the code that owns them and looked
 * up by layers that would otherwise recompute them for every call. The mask decoder's image
 * side is the user: for prompts without a mask input the first two-way layer's keys are the
 * same for every prompt of an image, so `keys + keyPe` and the keys' transpose are computed
 * once per image (src/sam/decoder_image_side.ts) instead of once per prompt.
 *
 * Entries are keyed by the operands' dataId (shared by reshapes and clones, and a dataId's
 * values never change: a variable's assign gives it a new one) and checked against their
 * shapes, so a lookup returns either exactly what the computation would give or nothing.
 */
import * as tf from '@tensorflow/tfjs';
import { addTensors, transposeMatrix, view } from './tensor_utils.js';

type DataId = object;

interface Derived {
  shapes: string;
  value: tf.Tensor;
}

const transposes = new WeakMap<DataId, Derived>();
const sums = new WeakMap<DataId, Map<DataId, Derived>>();

const shapesOf = (...ts: tf.Tensor[]) => ts.map((t) => t.shape.join('x')).join(',');

function usable(d: Derived | undefined, shapes: string): d is Derived {
  return d !== undefined && d.shapes === shapes && !d.value.isDisposed;
}

/** Registers xT = x.transpose([1, 0]) (x 2-D); the caller keeps ownership of both. */
export function rememberTranspose(x: tf.Tensor2D, xT: tf.Tensor2D): void {
  transposes.set(x.dataId, { shapes: shapesOf(x), value: xT });
}

/** x.transpose([1, 0]), or a view of the registered one. */
export function transpose2d(x: tf.Tensor2D): tf.Tensor2D {
  const d = transposes.get(x.dataId);
  return usable(d, shapesOf(x)) ? view(d.value as tf.Tensor2D) : transposeMatrix(x);
}

/** Registers sum = a + b (same shapes as given here); the caller keeps ownership. */
export function rememberSum(a: tf.Tensor, b: tf.Tensor, sum: tf.Tensor): void {
  let byB = sums.get(a.dataId);
  if (!byB) sums.set(a.dataId, (byB = new Map()));
  byB.set(b.dataId, { shapes: shapesOf(a, b), value: sum });
}

/** tf.add(a, b), or a view of the registered sum. */
export function addRemembered(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  const d = sums.get(a.dataId)?.get(b.dataId);
  return usable(d, shapesOf(a, b)) ? view(d.value) : addTensors(a, b);
}

/** Drops the entries of a's dataId (the owner is about to dispose it). */
export function forgetDerived(a: tf.Tensor): void {
  transposes.delete(a.dataId);
  sums.delete(a.dataId);
}
