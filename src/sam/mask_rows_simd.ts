/**
 * The hot loop of the mask post-processing on cpu/wasm (MaskUpscaler in postprocess_js.ts)
 * in WebAssembly SIMD: an output row computed from 3 rows of the "wide" image, then
 * thresholded, counted against two thresholds, or stored as float32 logits; and the
 * decision of which pixels need computing at all (MaskUpscaler.bands' band codes: branch-free
 * min/max, where the JavaScript's compares mispredict on noisy masks and took longer than the
 * computing) (../backends/wasm_simd/mask_rows.wat).
 *
 * The module has its own memory, so it runs on every backend (and without tfjs); with helper
 * threads (mask_rows_workers_node.ts) a second instance runs on a shared memory. It holds
 * one mask at a time: its low-res logits, the column taps, the wide rows, and the mask
 * being made (bytes) or one row of logits. MaskUpscaler lays them out when it starts a mask
 * (`layout`) and copies the finished mask out. A mask is computed synchronously from start
 * to end, so one instance serves every MaskUpscaler. The memory keeps the size of the
 * largest mask made (8 MB for a 1500 x 2250 mask from 256 x 256 logits). The float
 * operations are JavaScript's, in the same order, so masks, counts and logits are the same
 * as without it, bit for bit (NaN where JavaScript gives NaN; its sign bit may differ; see
 * test/mask_rows_simd.test.ts). With noise-like masks, where every pixel is computed, it is
 * ~3x faster than the JavaScript loop (bench/postprocess.ts). Off with
 * setWasmKernelsEnabled(false) or SAM_TFJS_WASM_KERNELS=0; where WebAssembly SIMD is
 * missing, JavaScript does the work.
 */
import { decodeBase64, float32Bits, wasmKernelsEnabled } from '../backends/simd_common.js';
import { MASK_ROWS } from '../backends/wasm_simd/mask_rows_wasm.js';

/** The module's exports (mask_rows.wat); pointers are byte offsets into `memory`. */
export interface MaskRowsExports {
  memory: WebAssembly.Memory;
  threshold3(out: number, r0: number, r1: number, r2: number, n: number, w0: number, w1: number, w2: number, t: number): void;
  count3(counts: number, r0: number, r1: number, r2: number, n: number, w0: number, w1: number, w2: number, low: number, high: number): void;
  threshold_items(items: number, first: number, last: number, t: number): void;
  fill_bytes(out: number, value: number, n: number): void;
  wide_rows(list: number, first: number, last: number, wide: number, low: number, lowWidth: number, start: number, weights: number, n: number): void;
  values3(out: number, r0: number, r1: number, r2: number, n: number, w0: number, w1: number, w2: number): void;
  wide_row3(out: number, src: number, start: number, weights: number, n: number): void;
  band_codes(
    low: number, h4: number, w4: number, cw: number, stride: number, colMin: number, colMax: number,
    first: number, ng: number, rw: number, codes: number, a0: number, a1: number, b0: number, b1: number,
  ): void;
}

const WASM_PAGE = 65536;
/** Bytes 0-15 of the memory: the counts of count3. */
const COUNTS_AT = 0;

/**
 * The largest float32 at or below t: for a float32 v, v > t exactly when v > that (and both
 * are false for NaN), so the module can compare in float32 what JavaScript compares in
 * float64.
 */
export function float32AtOrBelow(t: number): number {
  const f = Math.fround(t);
  if (!(f > t)) return f; // exact, below, or NaN
  // The next float32 down, through its bits (scratch arrays: this runs per computed row).
  floatBits[0] = f;
  if (f > 0) intBits[0]--;
  else if (f === 0) intBits[0] = 0x80000001 | 0; // the negative float32 closest to 0
  else intBits[0]++;
  return floatBits[0];
}
const floatBits = new Float32Array(1);
const intBits = new Int32Array(floatBits.buffer);

/** What one mask needs in the module's memory. */
export interface MaskRowsLayout {
  /** The low-res mask [h4, w4], copied in. */
  low: Float32Array;
  /** Its row length w4. */
  lowWidth: number;
  /** Wide rows: h4 of `rowLength` float64. */
  wideRows: number;
  /** Output row length W. */
  rowLength: number;
  /** Output rows H, when the mask itself is made here (`mask`), else 0. */
  maskRows: number;
  /** 3-tap column taps (start [W], weights [W, 3]) for wideRow, or null: the caller fills `wide`. */
  columns: { start: Int32Array; weights: Float64Array } | null;
  /**
   * For bandCodes: the first low-res row of each group of output rows, and the width of the
   * column taps (how far past a row's end band_codes reads).
   */
  bands: { groupFirst: Int32Array; columnTaps: number };
  /** Room for this many threshold items (addItem), 0 for none. */
  items?: number;
}

/**
 * Threads that share a job with the calling thread (Node: mask_rows_workers_node.ts), on the
 * memory of the MaskRowsSimd they were made with: `count` entries of a list, in blocks the
 * threads claim; returns when all are done.
 * - JOB_ITEMS, args [items, t32 as float32 bits]: threshold_items over the item list;
 * - JOB_WIDE_ROWS, args [list, wide, low, lowWidth, start, weights, n]: wide_rows.
 */
export interface MaskRowHelpers {
  readonly count: number;
  run(exports: MaskRowsExports, kind: MaskRowJob, args: readonly number[], count: number): void;
  /** Blocks the helpers have run since they started (for tests). */
  blocksRun(): number;
}

export const JOB_ITEMS = 0;
export const JOB_WIDE_ROWS = 1;
export type MaskRowJob = typeof JOB_ITEMS | typeof JOB_WIDE_ROWS;


/** Bytes of a threshold item (mask_rows.wat's threshold_items). */
const ITEM_BYTES = 48;

/**
 * The largest float32 at or below t (see float32AtOrBelow) and the smallest at or above: for
 * a float32 v, v < t exactly when v < float32AtOrAbove(t).
 */
export function float32AtOrAbove(t: number): number {
  return -float32AtOrBelow(-t);
}

export class MaskRowsSimd {
  private readonly exports: MaskRowsExports;
  private at = { low: 0, start: 0, weights: 0, wide: 0, floats: 0, mask: 0, colMin: 0, colMax: 0, first: 0, codes: 0, items: 0, rows: 0 };
  private itemRoom = 0;
  private itemCount = 0;
  /** Wide rows queued for runQueued (their low-res row indices). */
  private rowList = new Int32Array(0);
  private rowCount = 0;
  private itemInts = new Int32Array(0);
  private itemFloats = new Float64Array(0);
  private lowWidth = 0;
  private lowRows = 0;
  private groups = 0;
  private columnTaps = 0;
  /** Row length of band_codes' arrays: the low-res width rounded up to 4. */
  private stride = 0;
  private rowLength = 0;
  /** One mask's wide rows [h4, W] (float64). Views are valid until the next `layout`. */
  wide = new Float64Array(0);
  /** One output row as float32 (values). */
  floats = new Float32Array(0);
  /** The mask [H, W] as bytes, zeroed by `layout` (empty unless maskRows > 0). */
  mask = new Uint8Array(0);
  private counts = new Int32Array(0);

  /** Threads to share threshold items with (null: the calling thread computes them). */
  readonly helpers: MaskRowHelpers | null;

  constructor(exports: MaskRowsExports, helpers: MaskRowHelpers | null = null) {
    this.exports = exports;
    this.helpers = helpers;
  }

  /**
   * Lays out a mask's data (growing the memory as needed), copies in its inputs, makes fresh
   * views. False when the memory cannot grow that far (its 4 GB address space, a browser's
   * limit): the caller then uses JavaScript. Nothing changes then.
   */
  layout(l: MaskRowsLayout): boolean {
    const w = l.rowLength;
    let end = 16;
    const take = (bytes: number) => {
      const start = end;
      end = Math.ceil((end + bytes) / 16) * 16; // in float64: layouts can pass 2^31 bytes
      return start;
    };
    const stride = Math.ceil(l.lowWidth / 4) * 4;
    const ng = l.bands.groupFirst.length;
    const at = {
      // band_codes reads up to stride + columnTaps values from the last row's start
      low: take(4 * (l.low.length + stride + l.bands.columnTaps)),
      start: take(l.columns ? 4 * w : 0),
      weights: take(l.columns ? 24 * w : 0),
      wide: take(8 * l.wideRows * w),
      floats: take(4 * w),
      mask: take(l.maskRows * w),
      colMin: take(4 * l.wideRows * stride),
      colMax: take(4 * l.wideRows * stride),
      first: take(4 * ng),
      codes: take(4 * ng * stride),
      items: take(ITEM_BYTES * (l.items ?? 0)),
      rows: take(l.items ? 4 * l.wideRows : 0),
    };
    // The module addresses 32 bits, and computes the end of a region as an i32 sum.
    if (end > 2 ** 32 - 16) return false;
    const memory = this.exports.memory;
    if (end > memory.buffer.byteLength) {
      try {
        memory.grow(Math.ceil((end - memory.buffer.byteLength) / WASM_PAGE));
      } catch {
        return false;
      }
    }
    const buffer = memory.buffer;
    this.at = at;
    this.lowWidth = l.lowWidth;
    this.lowRows = l.wideRows;
    this.groups = ng;
    this.columnTaps = l.bands.columnTaps;
    this.stride = stride;
    this.rowLength = w;
    new Float32Array(buffer, at.low, l.low.length).set(l.low);
    new Int32Array(buffer, at.first, ng).set(l.bands.groupFirst);
    if (l.columns) {
      new Int32Array(buffer, at.start, w).set(l.columns.start);
      new Float64Array(buffer, at.weights, 3 * w).set(l.columns.weights);
    }
    this.wide = new Float64Array(buffer, at.wide, l.wideRows * w);
    this.floats = new Float32Array(buffer, at.floats, w);
    this.mask = new Uint8Array(buffer, at.mask, l.maskRows * w);
    this.exports.fill_bytes(at.mask, 0, l.maskRows * w);
    this.counts = new Int32Array(buffer, COUNTS_AT, 2);
    this.itemRoom = l.items ?? 0;
    this.itemCount = 0;
    this.itemInts = new Int32Array(buffer, at.items, (ITEM_BYTES / 4) * this.itemRoom);
    this.itemFloats = new Float64Array(buffer, at.items, (ITEM_BYTES / 8) * this.itemRoom);
    this.rowList = new Int32Array(buffer, at.rows, l.items ? l.wideRows : 0);
    this.rowCount = 0;
    return true;
  }

  /** Queues wide row y (wideRow) for runQueued; layouts with items only. */
  queueWideRow(y: number): void {
    if (this.rowCount >= this.rowList.length) throw new Error(`MaskRowsSimd: more than the ${this.rowList.length} wide rows laid out`);
    this.rowList[this.rowCount++] = y;
  }

  /**
   * Queues threshold(o, n, a, b, c, w0, w1, w2, ·) as an item of the layout's list, for
   * runItems. The items of one mask write disjoint bytes.
   */
  addItem(o: number, n: number, a: number, b: number, c: number, w0: number, w1: number, w2: number): void {
    const i = this.itemCount;
    if (i >= this.itemRoom) throw new Error(`MaskRowsSimd: more than the ${this.itemRoom} threshold items laid out`);
    const at = this.at;
    const ints = this.itemInts;
    const base = (ITEM_BYTES / 4) * i;
    ints[base] = at.mask + o;
    ints[base + 1] = at.wide + 8 * a;
    ints[base + 2] = at.wide + 8 * b;
    ints[base + 3] = at.wide + 8 * c;
    ints[base + 4] = n;
    const floats = this.itemFloats;
    const f = (ITEM_BYTES / 8) * i;
    floats[f + 3] = w0;
    floats[f + 4] = w1;
    floats[f + 5] = w2;
    this.itemCount = i + 1;
  }

  /**
   * Computes the queued wide rows, then runs the queued items against t32 (see threshold),
   * on the helpers too where there are; empties both lists.
   */
  runQueued(t32: number): void {
    const [rows, items] = [this.rowCount, this.itemCount];
    this.rowCount = 0;
    this.itemCount = 0;
    const at = this.at;
    if (rows > 0) {
      const args = [at.rows, at.wide, at.low, this.lowWidth, at.start, at.weights, this.rowLength];
      if (this.helpers) this.helpers.run(this.exports, JOB_WIDE_ROWS, args, rows);
      else this.exports.wide_rows(at.rows, 0, rows, at.wide, at.low, this.lowWidth, at.start, at.weights, this.rowLength);
    }
    if (items > 0) {
      if (this.helpers) this.helpers.run(this.exports, JOB_ITEMS, [at.items, float32Bits(t32)], items);
      else this.exports.threshold_items(at.items, 0, items, t32);
    }
  }

  /**
   * MaskUpscaler.bands' decision for every group of output rows and low-res column, for one
   * or two cuts (ascending): codes[g * stride + j] is the band of the output pixels of group
   * g whose column taps start at low-res column j, or -1 where they are computed. `above`
   * and `below` are the cuts' float64 margins; rowTaps is the width of the row taps.
   */
  bandCodes(above: readonly number[], below: readonly number[], rowTaps: number): { codes: Int32Array; stride: number } {
    if (above.length < 1 || above.length > 2 || below.length !== above.length) throw new Error('bandCodes: one or two cuts');
    const at = this.at;
    const two = above.length === 2;
    this.exports.band_codes(
      at.low, this.lowRows, this.lowWidth, this.columnTaps, this.stride, at.colMin, at.colMax, at.first, this.groups, rowTaps, at.codes,
      float32AtOrBelow(above[0]), two ? float32AtOrBelow(above[1]) : Infinity,
      float32AtOrAbove(below[0]), two ? float32AtOrAbove(below[1]) : Infinity,
    );
    return { codes: new Int32Array(this.exports.memory.buffer, at.codes, this.groups * this.stride), stride: this.stride };
  }

  /** mask[o .. o + n) = value (in the module: see fill_bytes). */
  fillMask(o: number, n: number, value: number): void {
    this.exports.fill_bytes(this.at.mask + o, value, n);
  }

  /** wide row y from low-res row y and the column taps of the layout. */
  wideRow(y: number): void {
    const at = this.at;
    this.exports.wide_row3(at.wide + 8 * y * this.rowLength, at.low + 4 * y * this.lowWidth, at.start, at.weights, this.rowLength);
  }

  /**
   * mask[o + i] = float32(w0 wide[a + i] + w1 wide[b + i] + w2 wide[c + i]) > t for i < n,
   * where t32 = float32AtOrBelow(t). a, b, c index `wide`, o indexes `mask`.
   */
  threshold(o: number, n: number, a: number, b: number, c: number, w0: number, w1: number, w2: number, t32: number): void {
    const at = this.at.wide;
    this.exports.threshold3(this.at.mask + o, at + 8 * a, at + 8 * b, at + 8 * c, n, w0, w1, w2, t32);
  }

  /** floats[x0 + i] = float32(w0 wide[a + i] + w1 wide[b + i] + w2 wide[c + i]) for i < n. */
  values(x0: number, n: number, a: number, b: number, c: number, w0: number, w1: number, w2: number): void {
    const at = this.at.wide;
    this.exports.values3(this.at.floats + 4 * x0, at + 8 * a, at + 8 * b, at + 8 * c, n, w0, w1, w2);
  }

  /** [count above low32, count above high32] of those n values (thresholds as in `threshold`). */
  count(n: number, a: number, b: number, c: number, w0: number, w1: number, w2: number, low32: number, high32: number): [number, number] {
    const at = this.at.wide;
    this.exports.count3(COUNTS_AT, at + 8 * a, at + 8 * b, at + 8 * c, n, w0, w1, w2, low32, high32);
    return [this.counts[0], this.counts[1]];
  }
}

/** undefined: not tried yet; null: cannot run here. */
let instance: MaskRowsSimd | null | undefined;
/** The instance on a shared memory with helper threads, while they run (mask_rows_workers_node.ts). */
let shared: MaskRowsSimd | null = null;

/** Makes `simd` (on a shared memory, with its helpers) the instance masks use, or with null goes back to the module's own. */
export function setSharedMaskRows(simd: MaskRowsSimd | null): void {
  shared = simd;
}

/** The module's one instance (with helper threads where they run), or null where it is switched off or cannot run. */
export function maskRowsSimd(): MaskRowsSimd | null {
  if (!wasmKernelsEnabled()) return null;
  if (shared) return shared;
  if (instance === undefined) {
    instance = null;
    try {
      if (typeof WebAssembly !== 'undefined') {
        const bytes = decodeBase64(MASK_ROWS);
        // ~1 KB: small enough for a synchronous compile on a browser's main thread.
        if (WebAssembly.validate(bytes)) instance = new MaskRowsSimd(new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as MaskRowsExports);
      }
    } catch {
      instance = null; // JavaScript does the work
    }
  }
  return instance;
}
