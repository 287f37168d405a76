/**
 * Mask post-processing in JavaScript, for predict() on cpu/wasm: the reference's two bilinear
 * resizes (low-res -> S x S, crop to the resized image, -> original size) composed into one
 * separable map, applied to the downloaded low-res logits and thresholded as it is written.
 *
 * Both resizes are linear and act on each axis separately, so along one axis an output pixel
 * is a weighted sum of at most 3 neighbouring low-res pixels (an S-grid pixel reads 2 low-res
 * ones, an output pixel 2 adjacent S-grid ones). Per mask that is 2 passes of 2-3 taps: along
 * the columns of the h4 low-res rows, then along the rows into the H x W output, instead of
 * tfjs producing the S x S and H x W float images, a crop, a transpose, a threshold and a
 * 4-bytes-a-pixel download. Values agree with the two-step form up to float32 rounding: the
 * weights are the reference's (float32 lerp factors, see `bilinearTaps`), multiplied and summed
 * in float64.
 */

/** One axis of a bilinear resize (align_corners=False): per output index, 2 source indices and their weights. */
export interface AxisTaps {
  /** First source index of each output index. */
  start: Int32Array;
  /** Taps per output index (the same for all). */
  width: number;
  /** [out, width] weights of source indices start .. start + width - 1. */
  weights: Float64Array;
}

/**
 * PyTorch's bilinear taps for align_corners=False (`area_pixel_compute_source_index`):
 * src = scale * (dst + 0.5) - 0.5, clamped at 0, with scale = in / out rounded to float32
 * and src in double precision; the lerp factors are float32. The rounding matters: an error
 * of 1e-5 in src times the logits' slope (tens per pixel) is a 1e-4 logit error. With these
 * the fixtures' mask logits are reproduced from their low-res logits to ~7e-6 (float64 sums),
 * against ~1.5e-4 for exact taps. At the last input index both taps are that pixel: its
 * weights are summed into the left one and the right one (past the end) has weight 0.
 */
export function bilinearTaps(inSize: number, outSize: number): AxisTaps {
  const scale = Math.fround(inSize / outSize);
  const start = new Int32Array(outSize);
  const weights = new Float64Array(outSize * 2);
  for (let d = 0; d < outSize; d++) {
    const src = Math.max(scale * (d + 0.5) - 0.5, 0);
    const i0 = Math.min(Math.floor(src), inSize - 1);
    const lambda = Math.fround(src - i0);
    start[d] = i0;
    if (i0 < inSize - 1) {
      weights[2 * d] = Math.fround(1 - lambda);
      weights[2 * d + 1] = lambda;
    } else {
      // The right tap is the same pixel: its weight joins the left one.
      weights[2 * d] = Math.fround(1 - lambda) + lambda;
    }
  }
  return { start, width: 2, weights };
}

/**
 * Resize `inSize` -> `midSize`, keep the first `cropSize` indices, resize those to `outSize`:
 * one axis of the reference's post-processing as taps on the `inSize` grid.
 */
export function composedTaps(inSize: number, midSize: number, cropSize: number, outSize: number): AxisTaps {
  if (cropSize > midSize) throw new Error(`composedTaps: crop ${cropSize} is larger than the resized axis ${midSize}`);
  const first = bilinearTaps(inSize, midSize);
  const second = bilinearTaps(cropSize, outSize);
  // Span of each output's taps on the input grid, then the widest span.
  const lo = new Int32Array(outSize);
  let width = 1;
  for (let d = 0; d < outSize; d++) {
    let min = Infinity;
    let max = -Infinity;
    for (let j = 0; j < 2; j++) {
      if (second.weights[2 * d + j] === 0 && j > 0) continue;
      const m = second.start[d] + j;
      for (let k = 0; k < 2; k++) {
        if (first.weights[2 * m + k] === 0 && k > 0) continue;
        const i = first.start[m] + k;
        min = Math.min(min, i);
        max = Math.max(max, i);
      }
    }
    lo[d] = min;
    width = Math.max(width, max - min + 1);
  }
  const weights = new Float64Array(outSize * width);
  for (let d = 0; d < outSize; d++) {
    for (let j = 0; j < 2; j++) {
      const wj = second.weights[2 * d + j];
      if (wj === 0) continue;
      const m = second.start[d] + j;
      for (let k = 0; k < 2; k++) {
        const wk = first.weights[2 * m + k];
        if (wk === 0) continue;
        weights[d * width + first.start[m] + k - lo[d]] += wj * wk;
      }
    }
  }
  // Taps near the far edge would read past the input: shift them back (their extra weights are 0).
  for (let d = 0; d < outSize; d++) {
    const over = lo[d] + width - inSize;
    if (over <= 0) continue;
    for (let t = width - 1; t >= 0; t--) weights[d * width + t] = t >= over ? weights[d * width + t - over] : 0;
    lo[d] -= over;
  }
  return { start: lo, width, weights };
}

export interface UpscaledMasks {
  /** Per mask, H * W bytes: 1 where the logit is above the threshold. */
  masks: Uint8Array[];
  /** Per mask, the H * W logits (only with `withLogits`). */
  logits?: Float32Array[];
}

/**
 * low: `count` masks of [h4, w4] low-res logits, back to back. Returns each mask at the
 * original size, thresholded (strictly greater, compared in float32) and, with `withLogits`,
 * its logits. inputSize is the resized image's [h, w] inside the S x S encoder input.
 */
export function upscaleMasks(
  low: Float32Array,
  count: number,
  lowSize: readonly [number, number],
  inputSize: readonly [number, number],
  originalSize: readonly [number, number],
  imgSize: number,
  threshold: number,
  withLogits: boolean,
): UpscaledMasks {
  const [h4, w4] = lowSize;
  const [oh, ow] = originalSize;
  if (low.length !== count * h4 * w4) throw new Error(`upscaleMasks: ${low.length} values are not ${count} masks of ${h4}x${w4}`);
  const rows = composedTaps(h4, imgSize, inputSize[0], oh);
  const cols = composedTaps(w4, imgSize, inputSize[1], ow);
  const wide = new Float64Array(h4 * ow); // one mask's low-res rows resized along the columns
  const out: UpscaledMasks = { masks: [] };
  if (withLogits) out.logits = [];
  const runs = withLogits ? null : columnRuns(cols);
  for (let m = 0; m < count; m++) {
    const src = low.subarray(m * h4 * w4, (m + 1) * h4 * w4);
    const mask = new Uint8Array(oh * ow);
    if (runs) {
      thresholdUpscaled(src, w4, rows, cols, runs, threshold, wide, mask);
    } else {
      const logits = new Float32Array(oh * ow);
      for (let y = 0; y < h4; y++) resizeColumns(src, y, w4, cols, wide);
      for (let y = 0; y < oh; y++) resizeRow(wide, ow, rows, y, 0, ow, threshold, mask, logits);
      out.logits!.push(logits);
    }
    out.masks.push(mask);
  }
  return out;
}

/** Low-res row y of src [h, w] resized along the columns into wide[y] ([h, out]). */
function resizeColumns(src: Float32Array, y: number, w: number, taps: AxisTaps, wide: Float64Array): void {
  const n = taps.start.length;
  const tw = taps.width;
  const { start, weights } = taps;
  const row = y * w;
  const o = y * n;
  for (let x = 0; x < n; x++) {
    const s = row + start[x];
    let v = 0;
    for (let t = 0; t < tw; t++) v += weights[x * tw + t] * src[s + t];
    wide[o + x] = v;
  }
}

/**
 * Output row y, columns x0 .. x1 - 1, from the rows of wide ([h, w]) its taps read: thresholded
 * into mask and, when given, written to logits. The one place output values are computed.
 */
function resizeRow(wide: Float64Array, w: number, taps: AxisTaps, y: number, x0: number, x1: number, threshold: number, mask: Uint8Array, logits: Float32Array | null): void {
  const tw = taps.width;
  const base = taps.start[y] * w;
  const o = y * w;
  const wt = taps.weights;
  if (tw === 3) {
    const w0 = wt[3 * y];
    const w1 = wt[3 * y + 1];
    const w2 = wt[3 * y + 2];
    const r1 = base + w;
    const r2 = base + 2 * w;
    if (logits) {
      for (let x = x0; x < x1; x++) {
        const v = Math.fround(w0 * wide[base + x] + w1 * wide[r1 + x] + w2 * wide[r2 + x]);
        logits[o + x] = v;
        mask[o + x] = v > threshold ? 1 : 0;
      }
    } else {
      for (let x = x0; x < x1; x++) mask[o + x] = Math.fround(w0 * wide[base + x] + w1 * wide[r1 + x] + w2 * wide[r2 + x]) > threshold ? 1 : 0;
    }
    return;
  }
  for (let x = x0; x < x1; x++) {
    let v = 0;
    for (let t = 0; t < tw; t++) v += wt[y * tw + t] * wide[base + t * w + x];
    const f = Math.fround(v);
    if (logits) logits[o + x] = f;
    mask[o + x] = f > threshold ? 1 : 0;
  }
}

/** Output columns grouped by their first low-res column: run r covers x in [x0[r], x1[r]). */
interface ColumnRuns {
  first: Int32Array;
  x0: Int32Array;
  x1: Int32Array;
}

function columnRuns(cols: AxisTaps): ColumnRuns {
  const first: number[] = [];
  const x0: number[] = [];
  const x1: number[] = [];
  const n = cols.start.length;
  for (let x = 0; x < n; x++) {
    const j = cols.start[x];
    if (first.length && j === first[first.length - 1]) {
      x1[x1.length - 1] = x + 1;
      continue;
    }
    if (first.length && j < first[first.length - 1]) throw new Error('columnRuns: taps must move right along the row');
    first.push(j);
    x0.push(x);
    x1.push(x + 1);
  }
  return { first: Int32Array.from(first), x0: Int32Array.from(x0), x1: Int32Array.from(x1) };
}

/**
 * Masks only (no logits): an output pixel is a weighted sum, with non-negative weights that
 * sum to 1 (up to float32 rounding), of the low-res pixels its taps read. Where all of them
 * are clearly above the threshold, the pixel is 1; clearly below, 0. So only pixels near the
 * mask's edge are computed (with resizeRow, as with logits: the masks are the same either
 * way); the rest are filled a run at a time. The margin (1e-5 of the threshold, plus 1e-30)
 * covers the weights' rounding: far more than needed, and still a thin band.
 */
function thresholdUpscaled(
  src: Float32Array,
  w4: number,
  rows: AxisTaps,
  cols: AxisTaps,
  runs: ColumnRuns,
  threshold: number,
  wide: Float64Array,
  mask: Uint8Array,
): void {
  const h4 = src.length / w4;
  const ow = cols.start.length;
  const oh = rows.start.length;
  const nRuns = runs.first.length;
  const margin = Math.abs(threshold) * 1e-5 + 1e-30;
  const hi = threshold + margin;
  const lo = threshold - margin;
  // Per low-res row and run: min and max of the low-res pixels the run's columns read.
  const runMin = new Float64Array(h4 * nRuns);
  const runMax = new Float64Array(h4 * nRuns);
  const cw = cols.width;
  for (let i = 0; i < h4; i++) {
    for (let r = 0; r < nRuns; r++) {
      const s = i * w4 + runs.first[r];
      let mn = src[s];
      let mx = src[s];
      for (let t = 1; t < cw; t++) {
        mn = Math.min(mn, src[s + t]);
        mx = Math.max(mx, src[s + t]);
      }
      runMin[i * nRuns + r] = mn;
      runMax[i * nRuns + r] = mx;
    }
  }
  const wideReady = new Uint8Array(h4);
  // Segments of one group of output rows (those whose taps start at the same low-res row):
  // state 1 = all above, 0 = all below, 2 = compute; consecutive runs of one state merged.
  const segState = new Uint8Array(nRuns);
  const segX0 = new Int32Array(nRuns);
  const segX1 = new Int32Array(nRuns);
  const rw = rows.width;
  let y = 0;
  while (y < oh) {
    const first = rows.start[y];
    let yEnd = y + 1;
    while (yEnd < oh && rows.start[yEnd] === first) yEnd++;
    let nSeg = 0;
    for (let r = 0; r < nRuns; r++) {
      let mn = Infinity;
      let mx = -Infinity;
      for (let t = 0; t < rw; t++) {
        mn = Math.min(mn, runMin[(first + t) * nRuns + r]);
        mx = Math.max(mx, runMax[(first + t) * nRuns + r]);
      }
      // NaN, and infinities (0 x Inf in a zero-weight tap), are computed as they come.
      const state = mn > hi && mx < Infinity ? 1 : mx < lo && mn > -Infinity ? 0 : 2;
      if (nSeg > 0 && segState[nSeg - 1] === state) {
        segX1[nSeg - 1] = runs.x1[r];
      } else {
        segState[nSeg] = state;
        segX0[nSeg] = runs.x0[r];
        segX1[nSeg] = runs.x1[r];
        nSeg++;
      }
    }
    let needsWide = false;
    for (let k = 0; k < nSeg; k++) if (segState[k] === 2) needsWide = true;
    if (needsWide) {
      for (let t = 0; t < rw; t++) {
        if (!wideReady[first + t]) {
          resizeColumns(src, first + t, w4, cols, wide);
          wideReady[first + t] = 1;
        }
      }
    }
    for (let yy = y; yy < yEnd; yy++) {
      for (let k = 0; k < nSeg; k++) {
        if (segState[k] === 1) mask.fill(1, yy * ow + segX0[k], yy * ow + segX1[k]);
        else if (segState[k] === 2) resizeRow(wide, ow, rows, yy, segX0[k], segX1[k], threshold, mask, null);
      }
    }
    y = yEnd;
  }
}
