/**
 * Bit-exact replica of Pillow's `Image.resize(size, Image.BILINEAR)` for 8-bit images
 * (libImaging/Resample.c), which is what the reference's `ResizeLongestSide.apply_image`
 * runs (torchvision `resize(to_pil_image(img), (h, w))` -> `img.resize((w, h), BILINEAR)`).
 *
 * The algorithm, per dimension (`precomputeCoeffs`):
 * - scale = (in1 - in0) / outSize with the source box [in0, in1) = [0, inSize);
 *   filterscale = max(scale, 1): when DOWNSCALING the triangle filter is widened by the
 *   scale factor (antialiasing), when upscaling it is the plain triangle of support 1.
 * - output sample `i` is centred on `center = in0 + (i + 0.5) * scale` and reads source
 *   samples [xmin, xmin + count) with xmin = int(center - support + 0.5) clamped to >= 0,
 *   end = int(center + support + 0.5) clamped to <= inSize.
 * - weights w_j = tri((j + xmin - center + 0.5) / filterscale), normalised by their sum,
 *   then turned into fixed point with 22 fractional bits, rounding half away from zero.
 * Each pass accumulates `2^21 + sum(pixel * weight)` in a 32-bit int, shifts right by 22 and
 * clips to 0..255, so the intermediate image is uint8 too.
 *
 * The image (`resize`): the HORIZONTAL pass runs first, only over the source rows the vertical
 * pass will read; then the VERTICAL pass. A pass is skipped when that dimension keeps its size
 * (the default box is the whole image); if both are skipped the image is copied.
 *
 * Channels are resampled independently, which matches Pillow for "L", "RGB" (stored as RGBX)
 * and "RGBX"; Pillow resizes "RGBA"/"LA" in premultiplied form instead, which this does not do.
 */
import { checkUint8Image, type Uint8Image } from './image.js';

/** Fractional bits of Pillow's fixed-point coefficients: 32 - 8 - 2. */
const PRECISION_BITS = 22;
const HALF = 1 << (PRECISION_BITS - 1);

/** Support (half width) of Pillow's bilinear (triangle) filter before widening. */
const BILINEAR_SUPPORT = 1.0;

function triangle(x: number): number {
  if (x < 0.0) x = -x;
  return x < 1.0 ? 1.0 - x : 0.0;
}

/** Resampling weights of one dimension, in Pillow's fixed-point form. */
export interface ResampleCoeffs {
  /** Stride of `weights` (max taps per output sample). */
  ksize: number;
  /** For output sample i: first source index `start[i]` and tap count `count[i]`. */
  start: Int32Array;
  count: Int32Array;
  /** `weights[i * ksize + j]`: fixed-point weight (22 fractional bits) of source `start[i] + j`. */
  weights: Int32Array;
}

/**
 * Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the bilinear filter.
 * `in0`, `in1` are the source box edges (C floats in Pillow; integers here), normally 0 and inSize.
 */
export function precomputeCoeffs(inSize: number, in0: number, in1: number, outSize: number): ResampleCoeffs {
  const scale = (Math.fround(in1) - Math.fround(in0)) / outSize;
  const filterscale = scale < 1.0 ? 1.0 : scale;
  const support = BILINEAR_SUPPORT * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  const ss = 1.0 / filterscale;
  for (let i = 0; i < outSize; i++) {
    const center = in0 + (i + 0.5) * scale;
    // (int) casts truncate toward zero, as in C.
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0.0;
    for (let x = 0; x < xmax; x++) {
      const v = triangle((x + xmin - center + 0.5) * ss);
      w[x] = v;
      ww += v;
    }
    for (let x = 0; x < xmax; x++) {
      const k = ww !== 0.0 ? w[x] / ww : w[x];
      // normalize_coeffs_8bpc: (int)(+-0.5 + k * 2^22)
      weights[i * ksize + x] = k < 0 ? Math.trunc(-0.5 + k * (1 << PRECISION_BITS)) : Math.trunc(0.5 + k * (1 << PRECISION_BITS));
    }
    start[i] = xmin;
    count[i] = xmax;
  }
  return { ksize, start, count, weights };
}

/** Pillow's clip8: fixed-point accumulator -> uint8 (arithmetic shift, then clamp). */
function clip8(acc: number): number {
  const v = acc >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Horizontal pass over source rows [rowFirst, rowFirst + rows): output is outW x rows. */
function resampleHorizontal(src: Uint8Image, rowFirst: number, rows: number, outW: number, c: ResampleCoeffs): Uint8Image {
  const { data, width, channels } = src;
  const out = new Uint8Array(outW * rows * channels);
  for (let y = 0; y < rows; y++) {
    const rowBase = (y + rowFirst) * width * channels;
    const outBase = y * outW * channels;
    for (let xx = 0; xx < outW; xx++) {
      const xmin = c.start[xx];
      const n = c.count[xx];
      const kBase = xx * c.ksize;
      for (let ch = 0; ch < channels; ch++) {
        let acc = HALF;
        let p = rowBase + xmin * channels + ch;
        for (let x = 0; x < n; x++, p += channels) acc += data[p] * c.weights[kBase + x];
        out[outBase + xx * channels + ch] = clip8(acc);
      }
    }
  }
  return { data: out, width: outW, height: rows, channels };
}

/** Vertical pass; `rowShift` is subtracted from the coefficient rows (source already cropped). */
function resampleVertical(src: Uint8Image, outH: number, c: ResampleCoeffs, rowShift: number): Uint8Image {
  const { data, width, channels } = src;
  const rowLen = width * channels;
  const out = new Uint8Array(outH * rowLen);
  for (let yy = 0; yy < outH; yy++) {
    const ymin = c.start[yy] - rowShift;
    const n = c.count[yy];
    const kBase = yy * c.ksize;
    const outBase = yy * rowLen;
    for (let i = 0; i < rowLen; i++) {
      let acc = HALF;
      let p = ymin * rowLen + i;
      for (let y = 0; y < n; y++, p += rowLen) acc += data[p] * c.weights[kBase + y];
      out[outBase + i] = clip8(acc);
    }
  }
  return { data: out, width, height: outH, channels };
}

/**
 * `PIL.Image.resize((outW, outH), Image.BILINEAR)` of an 8-bit image (any channel count,
 * channels independent). Returns a new image; the input is not modified.
 */
export function resizeUint8Bilinear(src: Uint8Image, outW: number, outH: number): Uint8Image {
  checkUint8Image(src, 'resizeUint8Bilinear');
  if (!Number.isInteger(outW) || !Number.isInteger(outH) || outW <= 0 || outH <= 0) {
    throw new Error(`resizeUint8Bilinear: output size must be positive integers, got ${outW}x${outH}`);
  }
  const { width, height } = src;
  const needHorizontal = outW !== width;
  const needVertical = outH !== height;
  if (!needHorizontal && !needVertical) {
    return { data: src.data.slice(), width, height, channels: src.channels };
  }
  const vert = precomputeCoeffs(height, 0, height, outH);
  let img = src;
  let rowShift = 0;
  if (needHorizontal) {
    // Only the rows the vertical pass reads: [first used row, last used row].
    const rowFirst = vert.start[0];
    const rowLast = vert.start[outH - 1] + vert.count[outH - 1];
    const horiz = precomputeCoeffs(width, 0, width, outW);
    img = resampleHorizontal(src, rowFirst, rowLast - rowFirst, outW, horiz);
    rowShift = rowFirst;
  }
  if (needVertical) img = resampleVertical(img, outH, vert, rowShift);
  return img;
}
