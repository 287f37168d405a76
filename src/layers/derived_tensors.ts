/**
 * Results derived from long-lived tensors, registered by the code that owns them and looked
 * up by layers that would otherwise recompute them for every call. The mask decoder's image
 * side is the user: for prompts without a mask input the first two-way layer's keys are the
 * same for every prompt of an image, so `keys + keyPe`, the keys' transpose and the image
 * side's projections in that layer's cross attentions are computed once per image
 * (src/sam/decoder_image_side.ts) instead of once per prompt.
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
/** x's dataId -> the projection's kernel dataId -> x W + b, and (transposed) its transpose. */
const projections = new WeakMap<DataId, Map<DataId, Derived & { bias: DataId | null; transposed: boolean }>>();
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

/** The weights of a projection (a Linear): y = x kernel + bias over the last axis. */
export interface ProjectionWeights {
  kernel(): tf.Tensor2D;
  biasVector(): tf.Tensor1D | null;
}

/** x as the rows [n, in] that a projection reads, for the shape check. */
const rowsOf = (x: tf.Tensor) => `${x.size / x.shape[x.shape.length - 1]}x${x.shape[x.shape.length - 1]}`;

/**
 * Registers y = x W + b of the projection `p` (x's rows [n, in] -> [n, out]), or with
 * `transposed` its transpose [out, n]; the caller keeps ownership. The entry is tied to the
 * weights' current values (their dataIds).
 */
export function rememberProjection(x: tf.Tensor, p: ProjectionWeights, y: tf.Tensor2D, transposed = false): void {
  let byKernel = projections.get(x.dataId);
  if (!byKernel) projections.set(x.dataId, (byKernel = new Map()));
  byKernel.set(p.kernel().dataId, { shapes: rowsOf(x), value: y, bias: p.biasVector()?.dataId ?? null, transposed });
}

/**
 * A view of the registered projection of x by `p` ([n, out], or [out, n] if `transposed`),
 * or null: the caller then computes in its own way.
 */
export function projectionOf(x: tf.Tensor, p: ProjectionWeights, transposed = false): tf.Tensor2D | null {
  const d = projections.get(x.dataId)?.get(p.kernel().dataId);
  if (!usable(d, rowsOf(x)) || d.transposed !== transposed || d.bias !== (p.biasVector()?.dataId ?? null)) return null;
  return view(d.value as tf.Tensor2D);
}

/** Drops the entries of a's dataId (the owner is about to dispose it). */
export function forgetDerived(a: tf.Tensor): void {
  transposes.delete(a.dataId);
  sums.delete(a.dataId);
  projections.delete(a.dataId);
}
