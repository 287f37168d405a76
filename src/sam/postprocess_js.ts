/**
 * Mask post-processing in JavaScript, for predict() and the automatic mask generator on
 * cpu/wasm: the reference's two bilinear resizes (low-res -> S x S, crop to the resized
 * image, -> original size) composed into one separable map, applied to the downloaded
 * low-res logits.
 *
 * Both resizes are linear and act on each axis separately, so along one axis an output pixel
 * is a weighted sum of at most 3 neighbouring low-res pixels (an S-grid pixel reads 2 low-res
 * ones, an output pixel 2 adjacent S-grid ones). Per mask that is 2 passes of 2-3 taps: along
 * the columns of the h4 low-res rows, then along the rows into the H x W output, instead of
 * tfjs producing the S x S and H x W float images, a crop, a transpose, a threshold and a
 * download. Masks and stability counts are decided from the low-res values where they can be
 * (MaskUpscaler.bands), so only pixels near a mask's edge are computed. Values agree with the
 * two-step form up to float32 rounding: the weights are the reference's (float32 lerp
 * factors, see `bilinearTaps`), multiplied and summed in float64. The pixels that are
 * computed are computed in WebAssembly SIMD where it runs (mask_rows_simd.ts), with the same
 * float operations.
 */
import { float32AtOrBelow, maskRowsSimd, type MaskRowsSimd } from './mask_rows_simd.js';

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
 * PyTorch's C++ source reads as if src were rounded to float32 too, but that reproduces the
 * fixtures (made by the reference) 20x worse (1.4e-4): these taps were chosen by that fit.
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
  if (low.length !== count * h4 * w4) throw new Error(`upscaleMasks: ${low.length} values are not ${count} masks of ${h4}x${w4}`);
  const up = new MaskUpscaler(lowSize, inputSize, originalSize, imgSize);
  const out: UpscaledMasks = { masks: [] };
  if (withLogits) out.logits = [];
  for (let m = 0; m < count; m++) {
    const src = low.subarray(m * h4 * w4, (m + 1) * h4 * w4);
    if (withLogits) {
      const r = up.logits(src, threshold);
      out.masks.push(r.mask);
      out.logits!.push(r.logits);
    } else {
      out.masks.push(up.mask(src, threshold));
    }
  }
  return out;
}

/**
 * The post-processing of one frame (low-res size, resized image inside the S x S input,
 * original size) for any number of masks: taps along both axes and scratch space, made once.
 */
export class MaskUpscaler {
  readonly lowSize: readonly [number, number];
  readonly outSize: readonly [number, number];
  private readonly rows: AxisTaps;
  private readonly cols: AxisTaps;
  private readonly runs: ColumnRuns;
  /** Output rows grouped by the low-res row their taps start at. */
  private readonly groups: RowGroups;
  /**
   * One mask's low-res rows resized along the columns, [h4, W], filled lazily: in the SIMD
   * module's memory while a mask is computed with it, else `ownWide`.
   */
  private wide: Float64Array;
  private ownWide: Float64Array | null = null;
  private readonly wideReady: Uint8Array;
  /** One output row's computed values. */
  private rowValues: Float32Array;
  private readonly ownRowValues: Float32Array;
  /** The SIMD rows for the mask being computed (3-tap rows only), or null: JavaScript. */
  private simd: MaskRowsSimd | null = null;
  /** Whether the wide rows and pixels to compute are queued for the SIMD module's helpers (mask()). */
  private queueing = false;

  constructor(lowSize: readonly [number, number], inputSize: readonly [number, number], originalSize: readonly [number, number], imgSize: number) {
    this.lowSize = [lowSize[0], lowSize[1]];
    this.outSize = [originalSize[0], originalSize[1]];
    this.rows = composedTaps(lowSize[0], imgSize, inputSize[0], originalSize[0]);
    this.cols = composedTaps(lowSize[1], imgSize, inputSize[1], originalSize[1]);
    this.runs = columnRuns(this.cols);
    this.groups = rowGroups(this.rows);
    this.wide = new Float64Array(0);
    this.wideReady = new Uint8Array(lowSize[0]);
    this.ownRowValues = this.rowValues = new Float32Array(originalSize[1]);
  }

  /** One mask's H x W logits (float32) and its mask (logit > threshold). */
  logits(src: Float32Array, threshold: number): { logits: Float32Array; mask: Uint8Array } {
    const [oh, ow] = this.outSize;
    const mask = this.begin(src, true);
    const logits = new Float32Array(oh * ow);
    for (let y = 0; y < oh; y++) {
      this.needRows(src, y);
      this.computeRow(y, 0, ow);
      logits.set(this.rowValues, y * ow);
      if (this.simd) {
        this.thresholdRow(y, 0, ow, threshold, mask);
        continue;
      }
      const o = y * ow;
      for (let x = 0; x < ow; x++) mask[o + x] = +(this.rowValues[x] > threshold);
    }
    return { logits, mask: this.simd ? mask.slice() : mask };
  }

  /**
   * One mask thresholded (logit > threshold, float32), computing only pixels near its edge.
   * With the SIMD module's helper threads (mask_rows_workers_node.ts), those pixels are
   * queued as row pieces and computed by every thread at the end.
   */
  mask(src: Float32Array, threshold: number): Uint8Array {
    const ow = this.outSize[1];
    const mask = this.begin(src, true, true);
    const simd = this.simd;
    const queue = simd?.helpers && this.rows.width === 3 && this.cols.width === 3 ? simd : null;
    this.queueing = queue !== null;
    this.bands(
      src,
      [threshold],
      simd
        ? (y, x0, x1, band) => {
            if (band === 1) simd.fillMask(y * ow + x0, x1 - x0, 1);
          }
        : (y, x0, x1, band) => {
            if (band === 1) mask.fill(1, y * ow + x0, y * ow + x1);
          },
      queue
        ? (y, x0, x1) => {
            const { r0, r1, r2, w0, w1, w2 } = this.threeTaps(y);
            queue.addItem(y * ow + x0, x1 - x0, r0 + x0, r1 + x0, r2 + x0, w0, w1, w2);
          }
        : (y, x0, x1) => this.thresholdRow(y, x0, x1, threshold, mask),
    );
    this.queueing = false;
    queue?.runQueued(float32AtOrBelow(threshold));
    return simd ? mask.slice() : mask;
  }

  /**
   * One mask's pixel counts above `high` and above `low` (low < high, float32 comparisons):
   * the stability score's intersection and union.
   */
  stabilityCounts(src: Float32Array, high: number, low: number): { intersection: number; union: number } {
    const counts = { intersection: 0, union: 0 };
    this.begin(src, false);
    this.bands(
      src,
      [low, high],
      (_y, x0, x1, band) => {
        if (band >= 1) counts.union += x1 - x0;
        if (band === 2) counts.intersection += x1 - x0;
      },
      (y, x0, x1) => this.countRow(y, x0, x1, high, low, counts),
    );
    return counts;
  }

  /**
   * Starts a mask: checks src, forgets the wide rows of the last one, and chooses SIMD or
   * JavaScript. With `withMask`, returns the zeroed mask to fill (in the SIMD memory: the
   * caller returns a copy); with `queued`, lays out room for threshold items where the SIMD
   * module has helper threads.
   */
  private begin(src: Float32Array, withMask: boolean, queued = false): Uint8Array {
    const [h4, w4] = this.lowSize;
    const [oh, ow] = this.outSize;
    if (src.length !== h4 * w4) throw new Error(`MaskUpscaler: ${src.length} values are not a ${h4}x${w4} mask`);
    this.wideReady.fill(0);
    this.queueing = false;
    this.simd = this.rows.width === 3 ? maskRowsSimd() : null;
    if (this.simd) {
      const columns = this.cols.width === 3 ? { start: this.cols.start, weights: this.cols.weights } : null;
      // false: its memory could not grow that far
      const bands = { groupFirst: this.groups.groupFirst, columnTaps: this.cols.width };
      // Room for the most pieces bands() computes in a row: every other one of MAX_SEGMENTS.
      const items = queued && this.simd.helpers ? oh * Math.ceil(MAX_SEGMENTS / 2) : 0;
      if (!this.simd.layout({ low: src, lowWidth: w4, wideRows: h4, rowLength: ow, maskRows: withMask ? oh : 0, columns, bands, items })) this.simd = null;
    }
    if (this.simd) {
      this.wide = this.simd.wide;
      this.rowValues = this.simd.floats;
      return this.simd.mask;
    }
    this.wide = this.ownWide ??= new Float64Array(h4 * ow);
    this.rowValues = this.ownRowValues;
    return withMask ? new Uint8Array(oh * ow) : new Uint8Array(0);
  }

  /** Makes sure the wide rows that output row y reads are computed. */
  private needRows(src: Float32Array, y: number): void {
    const first = this.rows.start[y];
    for (let t = 0; t < this.rows.width; t++) {
      if (this.wideReady[first + t]) continue;
      if (this.simd && this.cols.width === 3) {
        if (this.queueing) this.simd.queueWideRow(first + t);
        else this.simd.wideRow(first + t);
      } else {
        resizeColumns(src, first + t, this.lowSize[1], this.cols, this.wide);
      }
      this.wideReady[first + t] = 1;
    }
  }

  /**
   * rowValues[x0 .. x1 - 1] = output row y there (float32). thresholdRow and countRow fuse
   * the same sum (same order, same rounding) with their use of it, which saves a third of
   * the time where every pixel is computed; the tests hold all three to the same masks.
   */
  private computeRow(y: number, x0: number, x1: number): void {
    const wide = this.wide;
    const vals = this.rowValues;
    if (this.rows.width === 3) {
      const { r0, r1, r2, w0, w1, w2 } = this.threeTaps(y);
      if (this.simd) {
        this.simd.values(x0, x1 - x0, r0 + x0, r1 + x0, r2 + x0, w0, w1, w2);
        return;
      }
      for (let x = x0; x < x1; x++) vals[x] = w0 * wide[r0 + x] + w1 * wide[r1 + x] + w2 * wide[r2 + x];
      return;
    }
    const { start, width: tw, weights: wt } = this.rows;
    const w = this.outSize[1];
    const base = start[y] * w;
    for (let x = x0; x < x1; x++) {
      let v = 0;
      for (let t = 0; t < tw; t++) v += wt[y * tw + t] * wide[base + t * w + x];
      vals[x] = v;
    }
  }

  /** Where output row y reads (3-tap rows): the offsets of its wide rows and their weights. */
  private threeTaps(y: number): { r0: number; r1: number; r2: number; w0: number; w1: number; w2: number } {
    const w = this.outSize[1];
    const wt = this.rows.weights;
    const r0 = this.rows.start[y] * w;
    return { r0, r1: r0 + w, r2: r0 + 2 * w, w0: wt[3 * y], w1: wt[3 * y + 1], w2: wt[3 * y + 2] };
  }

  private thresholdRow(y: number, x0: number, x1: number, threshold: number, mask: Uint8Array): void {
    const o = y * this.outSize[1];
    // Branch-free compares (+bool): on ragged masks a branch per pixel mispredicts, ~3x slower.
    if (this.rows.width !== 3) {
      this.computeRow(y, x0, x1);
      for (let x = x0; x < x1; x++) mask[o + x] = +(this.rowValues[x] > threshold);
      return;
    }
    const wide = this.wide;
    const { r0, r1, r2, w0, w1, w2 } = this.threeTaps(y);
    if (this.simd) {
      // mask is the SIMD memory's
      this.simd.threshold(o + x0, x1 - x0, r0 + x0, r1 + x0, r2 + x0, w0, w1, w2, float32AtOrBelow(threshold));
      return;
    }
    for (let x = x0; x < x1; x++) mask[o + x] = +(Math.fround(w0 * wide[r0 + x] + w1 * wide[r1 + x] + w2 * wide[r2 + x]) > threshold);
  }

  private countRow(y: number, x0: number, x1: number, high: number, low: number, counts: { intersection: number; union: number }): void {
    let inter = 0;
    let union = 0;
    if (this.rows.width !== 3) {
      this.computeRow(y, x0, x1);
      for (let x = x0; x < x1; x++) {
        const v = this.rowValues[x];
        union += +(v > low);
        inter += +(v > high);
      }
    } else if (this.simd) {
      const { r0, r1, r2, w0, w1, w2 } = this.threeTaps(y);
      [union, inter] = this.simd.count(x1 - x0, r0 + x0, r1 + x0, r2 + x0, w0, w1, w2, float32AtOrBelow(low), float32AtOrBelow(high));
    } else {
      const wide = this.wide;
      const { r0, r1, r2, w0, w1, w2 } = this.threeTaps(y);
      for (let x = x0; x < x1; x++) {
        const v = Math.fround(w0 * wide[r0 + x] + w1 * wide[r1 + x] + w2 * wide[r2 + x]);
        union += +(v > low);
        inter += +(v > high);
      }
    }
    counts.intersection += inter;
    counts.union += union;
  }

  /**
   * Visits one mask's output pixels by bands of `cuts` (ascending thresholds; band b holds
   * values above b of them). An output pixel is a weighted sum, with non-negative weights
   * that sum to 1 (up to float32 rounding), of the low-res pixels its taps read. Where all of
   * those lie clearly inside one band, so does the pixel: `uniform` gets a run of pixels of
   * one row. Elsewhere (near an edge) `exact` computes them (the wide rows they read are
   * ready). The margin (1e-5 of the cut, plus 1e-30) covers the weights'
   * rounding with room to spare and keeps the computed band thin. The caller has begun src.
   */
  private bands(
    src: Float32Array,
    cuts: number[],
    uniform: (y: number, x0: number, x1: number, band: number) => void,
    exact: (y: number, x0: number, x1: number) => void,
  ): void {
    const runs = this.runs;
    const nRuns = runs.first.length;
    const above = cuts.map((c) => c + Math.abs(c) * 1e-5 + 1e-30);
    const below = cuts.map((c) => c - Math.abs(c) * 1e-5 - 1e-30);
    const { groupFirst, groupY } = this.groups;
    const { codes, stride } = this.simd && cuts.length <= 2 ? this.simd.bandCodes(above, below, this.rows.width) : this.bandCodes(src, above, below);
    // Segments of each group of output rows: their band, or -1 (compute); consecutive runs of
    // one state merged.
    const segBand = new Int32Array(nRuns);
    const segX0 = new Int32Array(nRuns);
    const segX1 = new Int32Array(nRuns);
    for (let g = 0; g < groupFirst.length; g++) {
      const row = g * stride;
      let nSeg = 0;
      let computes = false;
      for (let r = 0; r < nRuns; r++) {
        const band = codes[row + runs.first[r]];
        if (band < 0) computes = true;
        if (nSeg > 0 && segBand[nSeg - 1] === band) {
          segX1[nSeg - 1] = runs.x1[r];
        } else {
          segBand[nSeg] = band;
          segX0[nSeg] = runs.x0[r];
          segX1[nSeg] = runs.x1[r];
          nSeg++;
        }
      }
      if (nSeg > MAX_SEGMENTS) {
        // A ragged edge (noise): computing the whole row beats visiting many short pieces.
        nSeg = 1;
        computes = true;
        segBand[0] = -1;
        segX0[0] = 0;
        segX1[0] = this.outSize[1];
      }
      if (computes) this.needRows(src, groupY[g]);
      for (let yy = groupY[g]; yy < groupY[g + 1]; yy++) {
        for (let k = 0; k < nSeg; k++) {
          if (segBand[k] >= 0) {
            uniform(yy, segX0[k], segX1[k], segBand[k]);
          } else {
            exact(yy, segX0[k], segX1[k]);
          }
        }
      }
    }
  }

  /**
   * The band of each group of output rows and run of output columns, from the min and max of
   * the low-res pixels their taps read: codes[g * stride + first column of run r] with stride
   * w4 here, as MaskRowsSimd.bandCodes gives them (its stride w4 rounded up to 4; it computes
   * every column, the same way).
   */
  private bandCodes(src: Float32Array, above: number[], below: number[]): { codes: Int32Array; stride: number } {
    const [h4, w4] = this.lowSize;
    const runs = this.runs;
    const nRuns = runs.first.length;
    const { groupFirst } = this.groups;
    // Per low-res row and run: min and max of the low-res pixels the run's columns read.
    const runMin = new Float64Array(h4 * nRuns);
    const runMax = new Float64Array(h4 * nRuns);
    const cw = this.cols.width;
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
    const codes = new Int32Array(groupFirst.length * w4);
    const rw = this.rows.width;
    for (let g = 0; g < groupFirst.length; g++) {
      const first = groupFirst[g];
      for (let r = 0; r < nRuns; r++) {
        let mn = Infinity;
        let mx = -Infinity;
        for (let t = 0; t < rw; t++) {
          mn = Math.min(mn, runMin[(first + t) * nRuns + r]);
          mx = Math.max(mx, runMax[(first + t) * nRuns + r]);
        }
        // NaN, and infinities (0 x Inf in a zero-weight tap), are computed as they come.
        let band = -1;
        if (mn > -Infinity && mx < Infinity) {
          let b = 0;
          while (b < above.length && mn > above[b]) b++;
          if (b === above.length || mx < below[b]) band = b;
        }
        codes[g * w4 + runs.first[r]] = band;
      }
    }
    return { codes, stride: w4 };
  }
}

/** Above this many pieces per output row, MaskUpscaler computes the whole row. */
const MAX_SEGMENTS = 32;

/** Low-res row y of src [h, w] resized along the columns into wide[y] ([h, out]). */
function resizeColumns(src: Float32Array, y: number, w: number, taps: AxisTaps, wide: Float64Array): void {
  const n = taps.start.length;
  const tw = taps.width;
  const { start, weights } = taps;
  const row = y * w;
  const o = y * n;
  if (tw === 3) {
    for (let x = 0; x < n; x++) {
      const s = row + start[x];
      wide[o + x] = weights[3 * x] * src[s] + weights[3 * x + 1] * src[s + 1] + weights[3 * x + 2] * src[s + 2];
    }
    return;
  }
  for (let x = 0; x < n; x++) {
    const s = row + start[x];
    let v = 0;
    for (let t = 0; t < tw; t++) v += weights[x * tw + t] * src[s + t];
    wide[o + x] = v;
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

/** Output rows grouped by their first low-res row: group g covers y in [groupY[g], groupY[g + 1]). */
interface RowGroups {
  groupFirst: Int32Array;
  groupY: Int32Array;
}

function rowGroups(rows: AxisTaps): RowGroups {
  const first: number[] = [];
  const y0: number[] = [];
  const n = rows.start.length;
  for (let y = 0; y < n; y++) {
    if (first.length && rows.start[y] === first[first.length - 1]) continue;
    first.push(rows.start[y]);
    y0.push(y);
  }
  y0.push(n);
  return { groupFirst: Int32Array.from(first), groupY: Int32Array.from(y0) };
}
