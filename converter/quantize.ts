/**
 * Weight quantization in tfjs's own formats, so that `tf.io.decodeWeights` (and every tfjs
 * loader) dequantises the converted weights without any code of ours:
 *
 * - float16: IEEE half precision, rounded to nearest, ties to even (what numpy's
 *   `astype(np.float16)` does). Manifest entry: `quantization: { dtype: 'float16' }`.
 * - uint8: affine per tensor, `value = q * scale + min`, computed like tfjs-converter's
 *   `quantization.quantize_weights` (python/tensorflowjs/quantization.py): the range
 *   [min, max] of the tensor is cut into 255 steps and, when it contains zero, shifted
 *   ("nudged") so that zero falls exactly on a step and dequantises to exactly 0; values are
 *   rounded half to even. A constant tensor is stored as zeros with scale 1 and min = the
 *   constant. Manifest entry: `quantization: { dtype: 'uint8', min, scale }`.
 *
 * Arithmetic is done in float64 (JS numbers), like tfjs-converter under NumPy 2 where the
 * float64 min / scale promote the computation.
 */

export type WeightsDtype = 'float32' | 'float16' | 'uint8';

export const WEIGHTS_DTYPES: readonly WeightsDtype[] = ['float32', 'float16', 'uint8'];

/** Bytes per stored value. */
export function storedBytesPerValue(dtype: WeightsDtype): number {
  return dtype === 'float32' ? 4 : dtype === 'float16' ? 2 : 1;
}

/** The `quantization` field of a tfjs weights-manifest entry (original_dtype as tfjs-converter writes it). */
export type ManifestQuantization =
  | { dtype: 'float16'; original_dtype: 'float32' }
  | { dtype: 'uint8'; min: number; scale: number; original_dtype: 'float32' };

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Rounds half to even (numpy's `np.round`). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // half up
  if (r - x === 0.5 && r % 2 !== 0) return r - 1;
  return r;
}

/** float32 bits -> float16 bits, round to nearest even; overflow gives +-Infinity, NaN stays NaN. */
export function float32BitsToFloat16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15; // biased half exponent
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // subnormal half (or zero): value = m * 2^(exp-150), half unit = 2^-24
    if (e < -10) return sign; // below half of the smallest subnormal: rounds to zero
    const m = mant | 0x800000;
    const shift = 14 - e; // 14..24
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (h & 1) === 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++; // a carry may reach Infinity (0x7c00): correct
  return sign | h;
}

/** The float16 bits of a number (after rounding it to float32, as a Float32Array value would be). */
export function numberToFloat16Bits(v: number): number {
  f32[0] = v;
  return float32BitsToFloat16Bits(u32[0]);
}

export class QuantizationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QuantizationError';
  }
}

/**
 * float32 values -> float16 bits. Throws QuantizationError (naming `what`) when a finite value
 * is too large for float16 (|x| > 65504 rounds to Infinity), which would silently break a model.
 */
export function quantizeFloat16(values: Float32Array, what = 'tensor', out: Uint16Array = new Uint16Array(values.length)): Uint16Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i];
    const h = float32BitsToFloat16Bits(b);
    if ((h & 0x7fff) === 0x7c00 && ((b >>> 23) & 0xff) !== 0xff) {
      throw new QuantizationError(`${what}: value ${values[i]} is outside the float16 range (|x| <= 65504); use dtype float32 or uint8`);
    }
    out[i] = h;
  }
  return out;
}

export interface Uint8Quantized {
  data: Uint8Array;
  min: number;
  scale: number;
}

/** Affine uint8 quantization of one tensor, as tfjs-converter computes it (see the file comment). */
export function quantizeUint8(values: Float32Array, what = 'tensor', out: Uint8Array = new Uint8Array(values.length)): Uint8Quantized {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) throw new QuantizationError(`${what}: cannot quantize a non-finite value (${v}) to uint8; use dtype float32 or float16`);
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (values.length === 0) return { data: out, min: 0, scale: 1 };
  if (lo === hi) {
    out.fill(0);
    return { data: out, min: lo, scale: 1 };
  }
  const qmax = 255;
  const scale = (hi - lo) / qmax;
  let min = lo;
  let max = hi;
  if (lo <= 0 && 0 <= hi) {
    const zeroPoint = roundHalfEven((0 - lo) / scale);
    min = -zeroPoint * scale;
    max = qmax * scale + min;
  }
  for (let i = 0; i < values.length; i++) {
    let v = values[i];
    if (v < min) v = min;
    else if (v > max) v = max;
    out[i] = roundHalfEven((v - min) / scale);
  }
  return { data: out, min, scale };
}

/** Stores float32 values in the given dtype: the bytes to write and the manifest's quantization field. */
export function encodeWeight(
  values: Float32Array,
  dtype: WeightsDtype,
  what = 'tensor',
): { bytes: Uint8Array; quantization?: ManifestQuantization } {
  switch (dtype) {
    case 'float32':
      return { bytes: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
    case 'float16': {
      const h = quantizeFloat16(values, what);
      return { bytes: new Uint8Array(h.buffer), quantization: { dtype: 'float16', original_dtype: 'float32' } };
    }
    case 'uint8': {
      const q = quantizeUint8(values, what);
      return { bytes: q.data, quantization: { dtype: 'uint8', min: q.min, scale: q.scale, original_dtype: 'float32' } };
    }
    default:
      throw new QuantizationError(`unknown weights dtype '${String(dtype)}': expected one of ${WEIGHTS_DTYPES.join(', ')}`);
  }
}
