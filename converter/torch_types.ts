/** Tensor data types of PyTorch checkpoints and their JS representation. */
import { CheckpointError } from './errors.js';

export type TorchDType =
  | 'float32'
  | 'float64'
  | 'float16'
  | 'bfloat16'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint8'
  | 'bool';

export const TORCH_DTYPES: readonly TorchDType[] = [
  'float32',
  'float64',
  'float16',
  'bfloat16',
  'int64',
  'int32',
  'int16',
  'int8',
  'uint8',
  'bool',
];

/**
 * Contiguous row-major data in the dtype's native typed array: Float32Array, Float64Array,
 * Uint16Array (raw bits of float16 / bfloat16), BigInt64Array, Int32Array, Int16Array, Int8Array,
 * Uint8Array (uint8, and bool as 0/1).
 */
export type TorchTensorData =
  | Float32Array
  | Float64Array
  | Uint16Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array;

export interface TorchTensor {
  dtype: TorchDType;
  shape: number[];
  data: TorchTensorData;
}

/** Tensors by name; Map insertion order is the checkpoint's order. */
export type StateDict = Map<string, TorchTensor>;

const ITEMSIZE: Record<TorchDType, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  bfloat16: 2,
  int64: 8,
  int32: 4,
  int16: 2,
  int8: 1,
  uint8: 1,
  bool: 1,
};

export function dtypeItemsize(dtype: TorchDType): number {
  return ITEMSIZE[dtype];
}

export function isTorchDType(v: unknown): v is TorchDType {
  return typeof v === 'string' && Object.prototype.hasOwnProperty.call(ITEMSIZE, v);
}

/** Number of elements of a shape (1 for a scalar). */
export function shapeNumel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * Views `buffer` (whose length is a multiple of the item size, offset 0) as the typed array of
 * `dtype`. Assumes a little-endian host, like every JS engine in practice.
 */
export function typedArrayFor(dtype: TorchDType, buffer: ArrayBuffer): TorchTensorData {
  switch (dtype) {
    case 'float32':
      return new Float32Array(buffer);
    case 'float64':
      return new Float64Array(buffer);
    case 'float16':
    case 'bfloat16':
      return new Uint16Array(buffer);
    case 'int64':
      return new BigInt64Array(buffer);
    case 'int32':
      return new Int32Array(buffer);
    case 'int16':
      return new Int16Array(buffer);
    case 'int8':
      return new Int8Array(buffer);
    case 'uint8':
    case 'bool':
      return new Uint8Array(buffer);
  }
}

/** The number a float16 bit pattern stands for (exact: subnormals, infinities and NaN included). */
export function float16BitsToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** float16 bits -> float32 bits (exact; NaN payloads kept). */
function float16ToFloat32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // subnormal: normalise the mantissa
  let e = 113;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/**
 * The tensor's values as float32. float16 and bfloat16 convert exactly; float64 and int64 round to
 * the nearest float32. A float32 tensor's own `data` is returned (no copy).
 */
export function toFloat32(t: TorchTensor): Float32Array {
  const d = t.data;
  switch (t.dtype) {
    case 'float32':
      return d as Float32Array;
    case 'float16': {
      const src = d as Uint16Array;
      const out = new Uint32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = float16ToFloat32Bits(src[i]);
      return new Float32Array(out.buffer);
    }
    case 'bfloat16': {
      const src = d as Uint16Array;
      const out = new Uint32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = src[i] << 16;
      return new Float32Array(out.buffer);
    }
    case 'int64': {
      const src = d as BigInt64Array;
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = Number(src[i]);
      return out;
    }
    case 'float64':
    case 'int32':
    case 'int16':
    case 'int8':
    case 'uint8':
    case 'bool':
      return Float32Array.from(d as ArrayLike<number>);
    default:
      throw new CheckpointError(`toFloat32: unknown dtype ${String((t as { dtype: unknown }).dtype)}`);
  }
}
