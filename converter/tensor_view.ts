/** Turning the bytes under a strided tensor view into a contiguous row-major TorchTensor. */
import { type TorchDType, type TorchTensor, dtypeItemsize, shapeNumel, typedArrayFor } from './torch_types.js';

export interface StridedView {
  dtype: TorchDType;
  shape: readonly number[];
  /** In elements. */
  stride: readonly number[];
}

/** Whether the strides are those of a row-major contiguous tensor (size-1 dims ignored). */
export function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expected = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expected) return false;
    expected *= shape[i];
  }
  return true;
}

function swapBytes(bytes: Uint8Array, itemsize: number): void {
  if (itemsize === 1) return;
  for (let i = 0; i < bytes.length; i += itemsize) {
    for (let a = i, b = i + itemsize - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}

/**
 * `bytes` starts at the view's first element (storage offset already applied) and covers every
 * element the view touches. Returns freshly allocated, contiguous data (never a view of `bytes`).
 */
export function materialize(view: StridedView, bytes: Uint8Array, bigEndian = false): TorchTensor {
  const { dtype, shape, stride } = view;
  const itemsize = dtypeItemsize(dtype);
  const numel = shapeNumel(shape);
  const out = new Uint8Array(numel * itemsize);
  if (numel > 0) {
    if (isContiguous(shape, stride)) {
      out.set(bytes.subarray(0, out.length));
    } else {
      gather(shape, stride, itemsize, bytes, out);
    }
  }
  if (bigEndian) swapBytes(out, itemsize);
  return { dtype, shape: [...shape], data: typedArrayFor(dtype, out.buffer) };
}

function gather(shape: readonly number[], stride: readonly number[], itemsize: number, src: Uint8Array, out: Uint8Array): void {
  const nd = shape.length;
  const inner = shape[nd - 1];
  const innerStride = stride[nd - 1] * itemsize;
  const runBytes = inner * itemsize;
  const idx = new Array<number>(nd - 1).fill(0);
  const outer = shapeNumel(shape) / inner;
  let o = 0;
  let base = 0; // byte offset of idx in src
  for (let r = 0; r < outer; r++) {
    if (innerStride === itemsize) {
      out.set(src.subarray(base, base + runBytes), o);
      o += runBytes;
    } else {
      for (let j = 0, p = base; j < inner; j++, p += innerStride) {
        for (let b = 0; b < itemsize; b++) out[o++] = src[p + b];
      }
    }
    // next index of the outer dims (row-major), updating base incrementally
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]++;
      base += stride[d] * itemsize;
      if (idx[d] < shape[d]) break;
      base -= idx[d] * stride[d] * itemsize;
      idx[d] = 0;
    }
  }
}
