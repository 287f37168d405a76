/**
 * Results derived from long-lived tensors, registered by the code that owns them and looked
 * up by layers that would otherwise recompute them for every call. The mask decoder's image
 * side is the user: for prompts without a mask input the first two-way layer's keys are the
 * same for every prompt of an image, so `keys + keyPe` and the image side's projections in
 * that layer's cross attentions are computed once per image
 * (src/sam/decoder_image_side.ts) instead of once per prompt.
 *
 * Entries are keyed by the operands' dataId (shared by reshapes and clones, and a dataId's
 * values never change: a variable's assign gives it a new one) and checked against their
 * shapes, so a lookup returns either exactly what the computation would give or nothing.
 */
import * as tf from '@tensorflow/tfjs';
import { addTensors, view } from './tensor_utils.js';

type DataId = object;

interface Derived {
  shapes: string;
  value: tf.Tensor;
}

/** x's dataId -> the projection's kernel dataId -> x W + b, and maybe its copy packed for the SIMD matMul. */
const projections = new WeakMap<DataId, Map<DataId, Derived & { bias: DataId | null; packed: tf.Tensor3D | null }>>();
const sums = new WeakMap<DataId, Map<DataId, Derived>>();

const shapesOf = (...ts: tf.Tensor[]) => ts.map((t) => t.shape.join('x')).join(',');

function usable(d: Derived | undefined, shapes: string): d is Derived {
  return d !== undefined && d.shapes === shapes && !d.value.isDisposed;
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
 * Registers y = x W + b of the projection `p` (x's rows [n, in] -> [n, out]) and, where the
 * SIMD matMul runs, y packed as its right-hand side (packMatMulRhs); the caller keeps
 * ownership. The entry is tied to the weights' current values (their dataIds).
 */
export function rememberProjection(x: tf.Tensor, p: ProjectionWeights, y: tf.Tensor2D, packed: tf.Tensor3D | null = null): void {
  let byKernel = projections.get(x.dataId);
  if (!byKernel) projections.set(x.dataId, (byKernel = new Map()));
  byKernel.set(p.kernel().dataId, { shapes: rowsOf(x), value: y, bias: p.biasVector()?.dataId ?? null, packed });
}

/**
 * The registered projection of x by `p`: a view of y [n, out] and y packed (or null), or
 * null: the caller then computes in its own way.
 */
export function projectionOf(x: tf.Tensor, p: ProjectionWeights): { y: tf.Tensor2D; packed: tf.Tensor3D | null } | null {
  const d = projections.get(x.dataId)?.get(p.kernel().dataId);
  if (!usable(d, rowsOf(x)) || d.bias !== (p.biasVector()?.dataId ?? null)) return null;
  return { y: view(d.value as tf.Tensor2D), packed: d.packed && !d.packed.isDisposed ? d.packed : null };
}

/** Drops the entries of a's dataId (the owner is about to dispose it). */
export function forgetDerived(a: tf.Tensor): void {
  sums.delete(a.dataId);
  projections.delete(a.dataId);
}
