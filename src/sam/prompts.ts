/**
 * Checking and normalising the prompts of `predict`, with errors that say what was wrong.
 * Prompts outside the image are valid (the reference accepts them).
 */
import * as tf from '@tensorflow/tfjs';

/** Points as [[x, y], ...] or flat [x0, y0, x1, y1, ...] (pixels of the original image). */
export type PointsInput = ReadonlyArray<readonly number[]> | ArrayLike<number> | tf.Tensor;
export type LabelsInput = ArrayLike<number> | tf.Tensor;
/** A box as [x0, y0, x1, y1]. */
export type BoxInput = ArrayLike<number> | tf.Tensor;
/** Low-res mask logits, 4g x 4g values (a previous prediction's `lowResLogits[i]`). */
export type MaskInput = ArrayLike<number> | tf.Tensor;

/**
 * A prompt tensor's values, read synchronously (the synchronous APIs: predictTensors,
 * predictBatchTensors). Some backends cannot (WebGPU in Node): then a clear error.
 */
function readSync(t: tf.Tensor, what: string): ArrayLike<number> {
  try {
    return t.dataSync() as ArrayLike<number>;
  } catch (e) {
    throw new Error(
      `${what}: this backend (${tf.getBackend()}) cannot read a tensor synchronously (${(e as Error).message}); ` +
        'give the prompt as an array, or use the asynchronous predict / predictBatch, which read tensors with await',
    );
  }
}

/** Flattens numbers from arrays, nested arrays or tensors. */
export function flatNumbers(input: unknown, what: string): number[] {
  if (input instanceof tf.Tensor) return Array.from(readSync(input, what));
  if (Array.isArray(input) && input.length > 0 && Array.isArray(input[0])) return (input as number[][]).flat();
  if (Array.isArray(input) || ArrayBuffer.isView(input)) return Array.from(input as ArrayLike<number>, Number);
  throw new Error(`${what}: expected an array of numbers or a tensor, got ${input === null ? 'null' : typeof input}`);
}

function checkFinite(values: number[], what: string): void {
  const bad = values.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v));
  if (bad >= 0) throw new Error(`${what}: value ${bad} is ${values[bad]}; coordinates must be finite numbers`);
}

function checkPointsTensorShape(points: tf.Tensor, what: string): void {
  if (points.shape[points.rank - 1] !== 2) throw new Error(`${what}: a points tensor must be [N, 2], got [${points.shape}]`);
}

/** Points -> flat [x0, y0, ...]; checks that every point has two finite coordinates. */
export function checkPoints(points: PointsInput, what = 'pointCoords'): number[] {
  if (Array.isArray(points) && points.length > 0 && Array.isArray(points[0])) {
    const bad = (points as number[][]).findIndex((p) => p.length !== 2);
    if (bad >= 0) throw new Error(`${what}: point ${bad} has ${(points as number[][])[bad].length} values; each point is [x, y]`);
  }
  if (points instanceof tf.Tensor) checkPointsTensorShape(points, what);
  const flat = flatNumbers(points, what);
  if (flat.length === 0) throw new Error(`${what}: no points given (omit pointCoords instead)`);
  if (flat.length % 2 !== 0) throw new Error(`${what}: ${flat.length} numbers cannot be [x, y] pairs`);
  checkFinite(flat, what);
  return flat;
}

/** Labels: one per point, each 1 (foreground), 0 (background) or -1 (ignored / padding). */
export function checkLabels(labels: LabelsInput | undefined, numPoints: number, what = 'pointLabels'): number[] {
  if (labels === undefined) throw new Error(`${what}: labels are required with pointCoords (1 = foreground, 0 = background)`);
  const flat = flatNumbers(labels, what);
  if (flat.length !== numPoints) throw new Error(`${what}: ${flat.length} labels for ${numPoints} points`);
  const bad = flat.findIndex((l) => l !== 1 && l !== 0 && l !== -1);
  if (bad >= 0) throw new Error(`${what}: label ${bad} is ${flat[bad]}; labels must be 1 (foreground), 0 (background) or -1 (ignore)`);
  return flat;
}

/** A box [x0, y0, x1, y1] with x0 <= x1 and y0 <= y1. */
export function checkBox(box: BoxInput, what = 'box'): number[] {
  const flat = flatNumbers(box, what);
  if (flat.length !== 4) throw new Error(`${what}: expected [x0, y0, x1, y1], got ${flat.length} numbers`);
  checkFinite(flat, what);
  const [x0, y0, x1, y1] = flat;
  if (x1 < x0) throw new Error(`${what}: x1 (${x1}) < x0 (${x0}); boxes are [x0, y0, x1, y1] with the top-left corner first`);
  if (y1 < y0) throw new Error(`${what}: y1 (${y1}) < y0 (${y0}); boxes are [x0, y0, x1, y1] with the top-left corner first`);
  return flat;
}

/** A mask tensor must be [h, w] low-res logits, with leading 1-dims allowed. */
function checkMaskTensorShape(mask: tf.Tensor, size: [number, number], what: string): void {
  const core = mask.shape.filter((d, i) => !(d === 1 && i < mask.rank - 2));
  if (core.length !== 2 || core[0] !== size[0] || core[1] !== size[1]) {
    throw new Error(`${what}: expected ${size[0]}x${size[1]} low-res logits, got a tensor of shape [${mask.shape}]`);
  }
}

/**
 * A prompt value given as a tensor, read asynchronously: GPU backends in Node (WebGPU through
 * Dawn) cannot read synchronously, and in browsers a synchronous read stalls the page. Other
 * values are returned as they are.
 */
export async function readPromptTensor<T>(input: T | tf.Tensor): Promise<T | Float32Array> {
  return input instanceof tf.Tensor ? Float32Array.from(await input.data()) : input;
}

/** `readPromptTensor` for points, whose tensor shape is checked first (the values lose it). */
export async function readPointsInput(points: PointsInput, what = 'pointCoords'): Promise<PointsInput> {
  if (points instanceof tf.Tensor) checkPointsTensorShape(points, what);
  return readPromptTensor(points);
}

/** `readPromptTensor` for a mask input, whose tensor shape is checked first. */
export async function readMaskInput(mask: MaskInput, size: [number, number], what = 'maskInput'): Promise<MaskInput> {
  if (mask instanceof tf.Tensor) checkMaskTensorShape(mask, size, what);
  return readPromptTensor(mask);
}

/** Low-res mask logits of exactly size x size values (leading 1-dims allowed). */
export function checkMaskInput(mask: MaskInput, size: [number, number], what = 'maskInput'): Float32Array {
  if (mask instanceof tf.Tensor) checkMaskTensorShape(mask, size, what);
  const flat = mask instanceof tf.Tensor ? Float32Array.from(readSync(mask, what)) : Float32Array.from(flatNumbers(mask, what));
  if (flat.length !== size[0] * size[1]) {
    throw new Error(
      `${what}: expected ${size[0]}x${size[1]} = ${size[0] * size[1]} low-res logits (a previous prediction's lowResLogits), got ${flat.length} values`,
    );
  }
  if (flat.some((v) => Number.isNaN(v))) throw new Error(`${what}: holds NaN`);
  return flat;
}
