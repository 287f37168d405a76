/**
 * The heavy part of the image encoder's attention, in two layouts with identical maths:
 *
 * - 'batched' (WebGL, WebGPU, tfjs-node): one qkv matMul, then batched matMuls over the
 *   windows, for a group of heads at a time (headsPerPass). On WebGL one head: its
 *   [windows, N, N] scores, 4096 x 4096 for a global block, fit the texture limit (all
 *   heads at once would be 16 x 4096 x 4096 for ViT-H). Elsewhere as many heads as keep a
 *   pass's scores within ATTENTION_PASS_BYTES: every head of a windowed block at once, 4 of
 *   a global one, so WebGPU dispatches a few kernels per block instead of a dozen per head;
 *   with several heads a pass, q, k and v are laid out by part and head in one Transpose
 *   first. On GPU backends with their kernels the relative-position terms and the softmax
 *   are one SamRelPosSoftmax call (relPosSoftmax).
 * - 'matmul2d' (wasm, cpu): only untransposed 2-D matMuls, the form tfjs-wasm runs on
 *   XNNPACK (its batched or transposed matMul is a scalar loop, ~15x slower). On wasm with
 *   the SIMD matMul every head's q, k and v come from one product of the whole qkv kernel,
 *   stored by part and head (groupedQkvRuns); elsewhere per-head projection weights are
 *   split out of qkv once and cached. On wasm a head's windows go
 *   through the SIMD batched-product kernel (backends/wasm_kernels.ts) in one call per
 *   product, and a global head through one SamAttention call (fusedAttentionPays); on cpu
 *   they are split apart on the CPU side (splitAxis0), because slicing a large tensor
 *   copies all of it.
 *
 * Both add the decomposed relative-position terms (see rel_pos.ts) without 5-D tensors:
 * P = q · tableᵀ is one small matMul per axis (on GPU backends with their kernels one for
 * both tables), and a gather (or the GPU kernel) picks each query's entries of it.
 */
import * as tf from '@tensorflow/tfjs';
import { exactScale, relPosSoftmaxKernel } from '../../backends/gpu_rel_pos_softmax.js';
import { webglKernelsActive } from '../../backends/webgl_kernels.js';
import { webgpuKernelsActive } from '../../backends/webgpu_kernels.js';
import {
  attentionKernel,
  batchMatMulKernel,
  concatColumnsKernel,
  matMulPackedGroupsKernel,
  packMatMulRhsKernel,
  relPosAddKernel,
  sliceRowsKernel,
  softmaxKernel,
  threadCompetingKernelsActive,
  transpose2dKernel,
  wasmKernelsActive,
} from '../../backends/wasm_kernels.js';
import { matMul2d, matMulTransposedB, packedMatMulPays, packedWeightPays, packMatMulRhs } from '../common/packed_matmul.js';
import { addTensors, isCpuLikeBackend, softmaxLastAxis, splitAxis0, transposeMatrix } from '../tensor_utils.js';
import { linearResizeMatrix, relPosIndices } from './rel_pos.js';
import { windowPartition, windowUnpartition } from './window.js';

export type AttentionImplementation = 'auto' | 'batched' | 'matmul2d';

export function resolveAttentionImplementation(impl: AttentionImplementation): 'batched' | 'matmul2d' {
  if (impl !== 'auto') return impl;
  return isCpuLikeBackend() ? 'matmul2d' : 'batched';
}

/**
 * Encoders whose weights take more bytes than this run memory-lean on wasm: no per-head
 * projection cache (a copy of qkv) and no packed XNNPACK copy of each Linear kernel kept
 * between calls (see Linear.cacheKernel). Kept, those copies would double ViT-H's 2.4 GiB
 * of encoder weights past tfjs-wasm's 4 GiB heap (and ViT-L's 1.2 GiB close to it); dropped,
 * they are made again for each call, a few ms against seconds of work per block. ViT-B
 * (0.34 GiB) keeps them.
 */
export const LEAN_ENCODER_BYTES = 512 * 2 ** 20;

/** Projection weights of one head: [C, hd] kernels and [hd] biases. */
export interface HeadWeights {
  wq: tf.Tensor2D;
  wk: tf.Tensor2D;
  wv: tf.Tensor2D;
  bq: tf.Tensor1D | null;
  bk: tf.Tensor1D | null;
  bv: tf.Tensor1D | null;
  /** wq, wk, wv packed for the wasm SIMD matMul (packed_matmul.ts), where it ran at the split. */
  packed: { q: tf.Tensor3D; k: tf.Tensor3D; v: tf.Tensor3D } | null;
}

/** Splits the qkv Linear ([C, 3C], columns ordered (q|k|v, head, d)) into per-head weights. */
export function splitHeadWeights(kernel: tf.Tensor2D, bias: tf.Tensor1D | null, numHeads: number): HeadWeights[] {
  // Rows of the transposed kernel are output columns: each head's block is contiguous.
  const blocks = tf.tidy(() =>
    splitAxis0(kernel.transpose([1, 0]) as tf.Tensor2D, 3 * numHeads).map((b) => b.transpose([1, 0]) as tf.Tensor2D),
  );
  const biases = bias ? splitAxis0(bias, 3 * numHeads) : null;
  const heads: HeadWeights[] = [];
  for (let h = 0; h < numHeads; h++) {
    const pick = (part: number) => part * numHeads + h;
    const [wq, wk, wv] = [blocks[pick(0)], blocks[pick(1)], blocks[pick(2)]];
    const pq = packMatMulRhs(wq);
    heads.push({
      wq,
      wk,
      wv,
      packed: pq ? { q: pq, k: packMatMulRhs(wk) as tf.Tensor3D, v: packMatMulRhs(wv) as tf.Tensor3D } : null,
      bq: biases ? biases[pick(0)] : null,
      bk: biases ? biases[pick(1)] : null,
      bv: biases ? biases[pick(2)] : null,
    });
  }
  return heads;
}

export function disposeHeadWeights(heads: HeadWeights[]): void {
  for (const h of heads) for (const t of [h.wq, h.wk, h.wv, h.bq, h.bk, h.bv, h.packed?.q, h.packed?.k, h.packed?.v]) t?.dispose();
}

/**
 * The whole qkv Linear for one product that gives every head's q, k and v (see
 * groupedQkvRuns): its kernel [C, 3C] packed for the SIMD matMul, its bias, and for the
 * windowed layout (which adds the bias after padding) the bias by part and head,
 * partBiases[part * heads + h] of [hd].
 */
export interface GroupedQkv {
  packed: tf.Tensor3D;
  bias: tf.Tensor1D | null;
  partBiases: tf.Tensor1D[] | null;
}

/** Where 'matmul2d' gets each head's q, k and v: a product per head and part, or one grouped product. */
export type HeadProjections = { perHead: HeadWeights[] } | { grouped: GroupedQkv };

/**
 * Whether 'matmul2d' takes every head's q, k and v [rows, hd] from one product of the whole
 * qkv kernel, its columns stored by part and head ([3 * heads, rows, hd],
 * matMulPackedGroupsKernel), instead of 3 * heads products of [C, hd] each, which pack the
 * same rows of x once per product: on wasm with the SIMD matMul running, hd a multiple of 8.
 * Each output is the same sum either way, so the values are the same bit for bit. ViT-B's
 * [4096, 768] x [768, 2304] (2 threads, fused multiply-adds, best / median of 5, 3 rounds
 * after a warm-up): 181-184 / 183-197 ms against 206-210 / 213-214 ms for the 36 products
 * of [768, 64] (scratch timing, .tmp/qkvall.mjs of that session).
 */
export function groupedQkvRuns(x: tf.Tensor, dim: number, numHeads: number): boolean {
  const hd = dim / numHeads;
  const rows = x.size / dim;
  return groupedQkvEnabled && x.dtype === 'float32' && hd % 8 === 0 && packedWeightPays(rows, dim, 3 * dim);
}

let groupedQkvEnabled = true;

/** For tests and benchmarks: whether 'matmul2d' may take q, k and v from one grouped product (groupedQkvRuns). */
export function setGroupedQkvEnabled(on: boolean): void {
  groupedQkvEnabled = on;
}

/** Relative-position inputs of one attention call. */
export interface RelPosTables {
  tableH: tf.Tensor2D; // [Lh, hd]
  tableW: tf.Tensor2D; // [Lw, hd]
  /**
   * The tables resized and transposed for queries and keys of these sizes (transposedRelTables,
   * for the batched layout), kept by their owner; or undefined: made for the call.
   */
  transposed?: (qSize: [number, number], kSize: [number, number]) => TransposedRelTables | undefined;
}

/**
 * A table resized to 2 * max(q, k) - 1 rows when needed, then transposed: [hd, L]. Where the
 * SIMD matMul would take the product of `rows` queries with it once its L columns are padded
 * with zeros to a multiple of 8 (its panel width), they are: [hd, L'] (the gather indices
 * never pick the padding).
 */
function preparedTableT(table: tf.Tensor2D, qSize: number, kSize: number, rows: number): tf.Tensor2D {
  const maxRelDist = 2 * Math.max(qSize, kSize) - 1;
  const [len, hd] = table.shape;
  const t = len === maxRelDist ? table : tf.matMul(tf.tensor2d(linearResizeMatrix(len, maxRelDist), [maxRelDist, len]), table);
  const padded = Math.ceil(maxRelDist / 8) * 8;
  const tT = t.transpose([1, 0]) as tf.Tensor2D;
  return padded > maxRelDist && packedMatMulPays(rows, hd, padded) ? (tf.pad(tT, [[0, 0], [0, padded - maxRelDist]]) as tf.Tensor2D) : tT;
}

/** The tables resized and transposed, [hd, Lh] and [hd, Lw], and side by side, [hd, Lh + Lw]. */
export interface TransposedRelTables {
  tH: tf.Tensor2D;
  tW: tf.Tensor2D;
  joined: tf.Tensor2D;
}

/**
 * The tables resized to 2 * max(q, k) - 1 rows where needed and transposed, for the batched
 * layout (no padding), and the two side by side (one product gives both terms on GPU
 * backends): what a caller keeps as RelPosTables.transposed.
 */
export function transposedRelTables(tableH: tf.Tensor2D, tableW: tf.Tensor2D, qSize: [number, number], kSize: [number, number]): TransposedRelTables {
  return tf.tidy(() => {
    const tH = preparedTableT(tableH, qSize[0], kSize[0], 0);
    const tW = preparedTableT(tableW, qSize[1], kSize[1], 0);
    return { tH, tW, joined: tf.concat([tH, tW], 1) as tf.Tensor2D };
  });
}

/** Small cache of index arrays by shape (plain JS arrays, shared by every layer and head). */
const indexCache = new Map<string, Int32Array>();

function cached(key: string, make: () => Int32Array): Int32Array {
  let v = indexCache.get(key);
  if (!v) {
    if (indexCache.size >= 32) indexCache.delete(indexCache.keys().next().value as string);
    v = make();
    indexCache.set(key, v);
  }
  return v;
}

/**
 * Flat indices into P [R, L] (R = B * qh * qw query rows) that pick, for every query row and
 * key position along one axis, its relative-position column: rows of the result are queries,
 * columns the kSize key positions. `axis` 0 picks by the query's row y, 1 by its column x.
 */
function relGatherIndices(batch: number, qh: number, qw: number, kSize: number, L: number, axis: 0 | 1): Int32Array {
  return cached(`rel ${batch} ${qh} ${qw} ${kSize} ${L} ${axis}`, () => {
    const qSize = axis === 0 ? qh : qw;
    const rel = relPosIndices(qSize, kSize); // [qSize * kSize] rows of the table
    const n = qh * qw;
    const idx = new Int32Array(batch * n * kSize);
    for (let b = 0; b < batch; b++) {
      for (let y = 0; y < qh; y++) {
        for (let x = 0; x < qw; x++) {
          const r = b * n + y * qw + x;
          const pos = axis === 0 ? y : x;
          for (let k = 0; k < kSize; k++) idx[r * kSize + k] = r * L + rel[pos * kSize + k];
        }
      }
    }
    return idx;
  });
}

/**
 * values.flat[idx] as a [rows, cols] tensor. tfjs-wasm's Gather costs ~50 ns an element;
 * on cpu/wasm the values are read once and picked in JS instead (~1 ns an element).
 */
function gatherFlat(values: tf.Tensor2D, idx: Int32Array, rows: number, cols: number): tf.Tensor2D {
  if (!isCpuLikeBackend()) return tf.gather(values.reshape([-1]), tf.tensor1d(idx, 'int32')).reshape([rows, cols]) as tf.Tensor2D;
  const v = values.dataSync() as Float32Array;
  const out = new Float32Array(idx.length);
  for (let i = 0; i < idx.length; i++) out[i] = v[idx[i]];
  return tf.tensor2d(out, [rows, cols]);
}

/**
 * The products of unscaled queries q [R, hd] with the (resized, transposed) tables: pH [R,
 * Lh] and pW [R, Lw] (or more columns: padding), whose columns the relative-position indices
 * pick. The transposed tables come from `tables.transposed` where given for these sizes.
 */
function relPosProducts(q: tf.Tensor2D, tables: RelPosTables, qSize: [number, number], kSize: [number, number]): { pH: tf.Tensor2D; pW: tf.Tensor2D } {
  return tf.tidy(() => {
    const r = q.shape[0];
    const ready = tables.transposed?.(qSize, kSize);
    const tH = ready?.tH ?? preparedTableT(tables.tableH, qSize[0], kSize[0], r);
    const tW = ready?.tW ?? preparedTableT(tables.tableW, qSize[1], kSize[1], r);
    return { pH: matMul2d(q, tH), pW: matMul2d(q, tW) };
  });
}

/** relH [R, kh] and relW [R, kw] for unscaled queries q [R, hd] (rows: B x qh x qw). */
export function relPosTerms(
  q: tf.Tensor2D,
  tables: RelPosTables,
  batch: number,
  qSize: [number, number],
  kSize: [number, number],
): { relH: tf.Tensor2D; relW: tf.Tensor2D } {
  return tf.tidy(() => {
    const [qh, qw] = qSize;
    const [kh, kw] = kSize;
    const r = q.shape[0];
    const { pH, pW } = relPosProducts(q, tables, qSize, kSize);
    const relH = gatherFlat(pH, relGatherIndices(batch, qh, qw, kh, pH.shape[1], 0), r, kh);
    const relW = gatherFlat(pW, relGatherIndices(batch, qh, qw, kw, pW.shape[1], 1), r, kw);
    return { relH, relW };
  });
}

/** Whether the GPU backends' SamRelPosSoftmax takes the attention's relative-position terms and softmax (gpu_rel_pos_softmax.ts). */
function relPosSoftmaxKernelActive(dtype: tf.DataType): boolean {
  return dtype === 'float32' && (webgpuKernelsActive() || webglKernelsActive());
}

/**
 * softmax(scores * scale + relH + relW) for `batch` windows of n = side[0] x side[1] queries
 * and keys, the terms from the unscaled queries q [batch * n, hd]: scores [batch, n, n] of
 * the unscaled queries where the scale goes into the GPU kernel (scaleInKernel: a power of
 * two), else of the queries already scaled (scale 1 here). On GPU backends with their kernels one SamRelPosSoftmax of the products of
 * q with both tables (one matMul) and the index tables (7 dispatches fewer); else the
 * products, gathers, adds and softmax.
 */
export function relPosSoftmax(scores: tf.Tensor3D, q: tf.Tensor2D, tables: RelPosTables, batch: number, side: [number, number], scale: number): tf.Tensor3D {
  const [sh, sw] = side;
  if (relPosSoftmaxKernelActive(scores.dtype)) {
    return tf.tidy(() => {
      const t = tables.transposed?.(side, side) ?? transposedRelTables(tables.tableH, tables.tableW, side, side);
      const p = tf.matMul(q, t.joined) as tf.Tensor2D; // [rows, Lh + Lw]: q tH, then q tW
      const idxH = tf.tensor2d(relPosIndices(sh, sh), [sh, sh], 'int32');
      const idxW = tf.tensor2d(relPosIndices(sw, sw), [sw, sw], 'int32');
      return relPosSoftmaxKernel(scores.reshape([-1, sh * sw]) as tf.Tensor2D, p, t.tH.shape[1], idxH, idxW, scale).reshape(scores.shape) as tf.Tensor3D;
    });
  }
  if (scale !== 1) throw new Error('relPosSoftmax: scores of unscaled queries need the GPU kernel'); // callers scale q first elsewhere
  return tf.tidy(() => {
    const rel = relPosTerms(q, tables, batch, side, side);
    const n = sh * sw;
    return tf.softmax(addRelPos(scores, rel.relH.reshape([batch, n, sh]), rel.relW.reshape([batch, n, sw]), sh, sw)) as tf.Tensor3D;
  });
}

/** Whether scaled scores come from q kᵀ times the scale inside SamRelPosSoftmax (a power of two, so the same values) rather than from scaled queries. */
export function scaleInKernel(rel: boolean, dtype: tf.DataType, scale: number): boolean {
  return rel && relPosSoftmaxKernelActive(dtype) && exactScale(scale);
}

/**
 * One-hot rows [batch * kh * kw, kh + kw] marking each key's row and column inside its
 * window: appended to the keys, they make q_aug . k_aug = q . k + relH[ky] + relW[kx].
 */
function keyPositionOneHot(batch: number, kh: number, kw: number): tf.Tensor2D {
  const n = kh * kw;
  const width = kh + kw;
  const values = new Float32Array(batch * n * width);
  for (let r = 0; r < batch * n; r++) {
    const j = r % n;
    values[r * width + Math.floor(j / kw)] = 1;
    values[r * width + kh + (j % kw)] = 1;
  }
  return tf.tensor2d(values, [batch * n, width]);
}

/**
 * Scores [.., N, kh*kw] plus relH [.., N, kh] and relW [.., N, kw], broadcast over the other
 * axis. On wasm one SIMD pass (tfjs-wasm's broadcast adds are two slower passes).
 */
function addRelPos(scores: tf.Tensor, relH: tf.Tensor, relW: tf.Tensor, kh: number, kw: number): tf.Tensor {
  if (threadCompetingKernelsActive() && [scores, relH, relW].every((t) => t.dtype === 'float32')) return relPosAddKernel(scores, relH.reshape([-1, kh]), relW.reshape([-1, kw]));
  const lead = scores.shape.slice(0, -1);
  const s = scores.reshape([...lead, kh, kw]);
  return tf.add(tf.add(s, relH.reshape([...lead, kh, 1])), relW.reshape([...lead, 1, kw])).reshape(scores.shape);
}

/**
 * softmax(scores + the relative-position terms) over the last axis (see addRelPos). On wasm
 * one SIMD kernel does both, in one pass over the scores for the adds and the max (the
 * terms added in the same order as addRelPos), on the helper threads too: against
 * relPosAddKernel then tfjs's softmax (XNNPACK, on the calling thread alone here), a global
 * head's [4096, 4096] 22.6-24.5 ms against 29.9-30.8 ms best, a head's 25 windows 1.75-2.03
 * against 1.90-2.78 ms (scratch timings, 3 runs of 7).
 */
function softmaxWithRelPos(scores: tf.Tensor, rel: { relH: tf.Tensor; relW: tf.Tensor } | null, kh: number, kw: number): tf.Tensor {
  if (!rel) return softmaxLastAxis(scores);
  if (threadCompetingKernelsActive() && [scores, rel.relH, rel.relW].every((t) => t.dtype === 'float32')) {
    return softmaxKernel(scores, { relH: rel.relH.reshape([-1, kh]), relW: rel.relW.reshape([-1, kw]) });
  }
  return tf.softmax(addRelPos(scores, rel.relH, rel.relW, kh, kw));
}

let attentionKernelEnabled = true;

/** For tests and benchmarks: whether large attentions may take the one-kernel form (fusedAttentionPays). */
export function setAttentionKernelEnabled(on: boolean): void {
  attentionKernelEnabled = on;
}

/**
 * Whether a window's attention (n queries and keys, head width hd) runs as one SamAttention
 * call (backends/wasm_kernels.ts: a block of query rows at a time, its scores kept in cache)
 * rather than q kᵀ, softmax and p v as three kernels with [n, n] tensors between them. Only
 * where those three would be SamMatMul, SamSoftmax and SamMatMul, whose operations it runs,
 * so the values are the same bit for bit. A global head of ViT-B ([4096, 64], 2 threads,
 * fused multiply-adds): 4.0 ms less in each of two runs (medians of 40 paired differences,
 * against 101.6 and 106.7 ms; a scratch timing). The ViT-B encoder, the two forms
 * alternately in one process, 7 rounds: 1.2 s less (median of the paired differences,
 * which ranged from -1.4 to +2.6 s, on 19-21 s). Its two [4096, 4096] tensors are never
 * made, though the wasm heap's peak, set elsewhere, did not drop (1035 against 1003 MiB).
 */
function fusedAttentionPays(n: number, hd: number): boolean {
  return attentionKernelEnabled && packedMatMulPays(n, hd, n) && packedMatMulPays(n, n, hd) && threadCompetingKernelsActive();
}

export interface AttentionInputs {
  /**
   * Tokens [B, H, W, C]. Without `windowSize` every image of the batch is one attention
   * window (B may already count windows). With it, x is the whole unpadded grid and the
   * windows are formed after the projections: a zero-padded token projects to exactly the
   * bias, so projecting first and padding after gives the reference's values while skipping
   * the padding's share of the qkv matMul, and `proj` then runs on the cropped grid only.
   */
  x: tf.Tensor4D;
  windowSize?: number;
  numHeads: number;
  scale: number;
  rel: RelPosTables | null;
}

/** Where the attention rows are: `batch` windows of n = side[0] x side[1] tokens. */
interface Layout {
  batch: number;
  side: [number, number];
  paddedHW: [number, number];
}

function layoutOf(inp: AttentionInputs): Layout {
  const [b, h, w] = inp.x.shape;
  const ws = inp.windowSize;
  if (!ws) return { batch: b, side: [h, w], paddedHW: [h, w] };
  const hp = Math.ceil(h / ws) * ws;
  const wp = Math.ceil(w / ws) * ws;
  return { batch: (b * hp * wp) / (ws * ws), side: [ws, ws], paddedHW: [hp, wp] };
}

/** Projected tokens [B*H*W, d] (bias not yet added) -> attention rows [batch * n, d] plus bias. */
function toAttentionRows(y: tf.Tensor2D, bias: tf.Tensor1D | null, inp: AttentionInputs): tf.Tensor2D {
  const ws = inp.windowSize;
  let rows = y;
  if (ws) {
    const [b, h, w] = inp.x.shape;
    const d = y.shape[1];
    rows = windowPartition(y.reshape([b, h, w, d]) as tf.Tensor4D, ws).windows.reshape([-1, d]) as tf.Tensor2D;
  }
  return bias ? addTensors(rows, bias) : rows;
}

/** Attention rows [batch * n, C] -> tokens [B*H*W, C] (windows joined, padding cropped). */
function fromAttentionRows(o: tf.Tensor2D, inp: AttentionInputs, layout: Layout): tf.Tensor2D {
  const ws = inp.windowSize;
  if (!ws) return o;
  const [b, h, w] = inp.x.shape;
  const c = o.shape[1];
  return windowUnpartition(o.reshape([layout.batch, ws, ws, c]) as tf.Tensor4D, ws, layout.paddedHW, [h, w]).reshape([b * h * w, c]) as tf.Tensor2D;
}

/**
 * 'matmul2d': per head, 2-D matMuls only. `projections` give each head's q, k and v: per-head
 * weights (splitHeadWeights) or the whole qkv for one grouped product (groupedQkvRuns).
 * Returns the attention output before `proj`, [B*H*W, C].
 */
export function attentionMatmul2d(inp: AttentionInputs, projections: HeadProjections): tf.Tensor2D {
  const [b, h, w, c] = inp.x.shape;
  const layout = layoutOf(inp);
  const [sh, sw] = layout.side;
  const n = sh * sw;
  const nh = inp.numHeads;
  const hd = c / nh;
  const x2d = inp.x.reshape([b * h * w, c]) as tf.Tensor2D;
  // Grouped: every head's q, k and v [3 * heads, B*H*W, hd] (the bias added here unless windowed).
  const grouped = 'grouped' in projections ? projections.grouped : null;
  const parts = grouped ? matMulPackedGroupsKernel(x2d, grouped.packed, 3 * nh, inp.windowSize ? undefined : (grouped.bias ?? undefined)) : null;
  const perHead = 'perHead' in projections ? projections.perHead : null;
  // part 0, 1, 2 (q, k, v) of head `head`, in the attention rows' layout, bias added
  const project = (head: number, part: 0 | 1 | 2): tf.Tensor2D => {
    if (parts && grouped) {
      const y = sliceRowsKernel(parts, part * nh + head, 1).reshape([b * h * w, hd]) as tf.Tensor2D;
      return inp.windowSize ? toAttentionRows(y, grouped.partBiases?.[part * nh + head] ?? null, inp) : y;
    }
    const hw = perHead![head];
    const [wt, bias, packed] = part === 0 ? [hw.wq, hw.bq, hw.packed?.q] : part === 1 ? [hw.wk, hw.bk, hw.packed?.k] : [hw.wv, hw.bv, hw.packed?.v];
    return inp.windowSize ? toAttentionRows(matMul2d(x2d, wt, null, packed), bias, inp) : matMul2d(x2d, wt, bias, packed);
  };
  // Small windows on wasm (with up to 2 threads, see KERNEL_OVER_THREADED_OPS_MAX_THREADS):
  // every window of a head in one call of the SIMD batched-product kernel per product
  // (backends/wasm_kernels.ts), the relative-position terms added in one pass, one softmax
  // over all windows.
  const windowKernels = n <= 1024 && layout.batch > 1 && inp.x.dtype === 'float32' && threadCompetingKernelsActive();
  // Small windows elsewhere (cpu): fold the relative-position terms into the q.k product
  // (keys get one-hot position columns, queries their relH / relW values), so scores need no
  // broadcast adds, which run slowly on short rows; and run one softmax over all windows.
  // Large (global) attention: plain q.k, then the adds (cheap there, and the augmented
  // product would cost more than they do).
  const augmented = !windowKernels && inp.rel !== null && n <= 1024 && layout.batch > 1;
  const oneHot = augmented ? keyPositionOneHot(layout.batch, sh, sw) : null;
  const outs = Array.from({ length: nh }, (_, head) =>
    tf.tidy(() => {
      const q = project(head, 0);
      const k = project(head, 1);
      const v = project(head, 2);
      const rel = inp.rel ? relPosTerms(q, inp.rel, layout.batch, layout.side, layout.side) : null;
      const qs = tf.mul(q, inp.scale) as tf.Tensor2D;
      if (windowKernels) {
        const asWindows = (t: tf.Tensor2D) => t.reshape([layout.batch, n, hd]) as tf.Tensor3D;
        const scores = batchMatMulKernel(asWindows(qs), transpose2dKernel(asWindows(k))); // [windows, n, n]
        const probs = softmaxWithRelPos(scores, rel, sh, sw) as tf.Tensor3D;
        return batchMatMulKernel(probs, asWindows(v)).reshape([layout.batch * n, hd]) as tf.Tensor2D;
      }
      const vs = splitAxis0(v, layout.batch);
      let probs: tf.Tensor2D[];
      if (augmented && rel && oneHot) {
        const qa = splitAxis0(tf.concat([qs, rel.relH, rel.relW], 1) as tf.Tensor2D, layout.batch);
        const ka = splitAxis0(tf.concat([k, oneHot], 1) as tf.Tensor2D, layout.batch);
        const scores = tf.concat(qa.map((qw, i) => tf.matMul(qw, transposeMatrix(ka[i]))), 0) as tf.Tensor2D;
        probs = splitAxis0(tf.softmax(scores) as tf.Tensor2D, layout.batch);
      } else {
        const qsw = splitAxis0(qs, layout.batch);
        const ks = splitAxis0(k, layout.batch);
        const rhs = rel ? splitAxis0(rel.relH, layout.batch) : null;
        const rws = rel ? splitAxis0(rel.relW, layout.batch) : null;
        if (qs.dtype === 'float32' && fusedAttentionPays(n, q.shape[1])) {
          const perWindow = qsw.map((qw, i) =>
            attentionKernel(qw, packMatMulRhsKernel(ks[i], true), packMatMulRhsKernel(vs[i]), rhs && rws ? { relH: rhs[i], relW: rws[i] } : undefined),
          );
          return perWindow.length === 1 ? perWindow[0] : (tf.concat(perWindow, 0) as tf.Tensor2D);
        }
        probs = qsw.map((qw, i) => {
          const s = matMulTransposedB(qw, ks[i], transposeMatrix); // [n, n]
          return softmaxWithRelPos(s, rhs && rws ? { relH: rhs[i], relW: rws[i] } : null, sh, sw) as tf.Tensor2D;
        });
      }
      const perWindow = probs.map((p, i) => matMul2d(p, vs[i]));
      return perWindow.length === 1 ? perWindow[0] : (tf.concat(perWindow, 0) as tf.Tensor2D);
    }),
  );
  oneHot?.dispose();
  parts?.dispose();
  // The heads side by side ([N, C]); on wasm one copy a row of each (tfjs-wasm's Concat is ~6x slower).
  const joined = outs.length === 1 ? outs[0] : outs[0].dtype === 'float32' && wasmKernelsActive() ? concatColumnsKernel(outs) : (tf.concat(outs, 1) as tf.Tensor2D);
  if (outs.length > 1) tf.dispose(outs);
  x2d.dispose();
  const out = tf.tidy(() => fromAttentionRows(joined, inp, layout));
  if (out !== joined) joined.dispose();
  return out;
}

/**
 * Most bytes of attention scores one 'batched' pass may hold (and less where the GPU binds
 * less in one buffer): 256 MiB is 4 heads of a global block's 4096 x 4096.
 */
export const ATTENTION_PASS_BYTES = 256 * 2 ** 20;

/**
 * Heads per 'batched' pass for `windows` windows of n tokens: 1 on WebGL (the texture
 * limit), else as many as keep the pass's float32 scores [heads * windows, n, n] within
 * `passBytes` (ATTENTION_PASS_BYTES) and the device's largest storage binding; at least 1.
 */
export function headsPerPass(numHeads: number, windows: number, n: number, passBytes = ATTENTION_PASS_BYTES, backend = tf.getBackend()): number {
  if (backend === 'webgl') return 1;
  let budget = passBytes;
  if (backend === 'webgpu') {
    const limits = (tf.backend() as unknown as { device?: { limits?: { maxStorageBufferBindingSize?: number } } }).device?.limits;
    if (limits?.maxStorageBufferBindingSize) budget = Math.min(budget, limits.maxStorageBufferBindingSize);
  }
  return Math.max(1, Math.min(numHeads, Math.floor(budget / (windows * n * n * 4))));
}

/**
 * 'batched': one qkv matMul, then batched matMuls over the windows, a group of heads per
 * pass (headsPerPass). Returns the attention output before `proj`, [B*H*W, C].
 *
 * With more than one head a pass, q, k and v are first laid out by part and head, [3 *
 * heads * windows, n, hd], in one Transpose (for windows, from the padded token grid, the
 * window partition in the same Transpose), so that a pass's heads of a part are one Slice of
 * consecutive rows; the passes' outputs, stacked by head, go back to tokens in one Transpose
 * (for windows, with the un-partition). With one head a pass (WebGL) each part's columns are
 * one Slice of the tokens' rows as they are. Copies only: the same values either way.
 */
export function attentionBatched(inp: AttentionInputs, qkvKernel: tf.Tensor2D, qkvBias: tf.Tensor1D | null, passBytes = ATTENTION_PASS_BYTES): tf.Tensor2D {
  const [b, h, w, c] = inp.x.shape;
  const layout = layoutOf(inp);
  const n = layout.side[0] * layout.side[1];
  const bw = layout.batch;
  const nh = inp.numHeads;
  const hd = c / nh;
  const group = headsPerPass(nh, bw, n, passBytes);
  const headMajor = group > 1;
  // headMajor: [3 * nh * bw, n, hd], rows ordered (part, head, window); else [bw * n, 3C]
  const qkv = tf.tidy(() => {
    const x2d = inp.x.reshape([b * h * w, c]) as tf.Tensor2D;
    if (!headMajor) return inp.windowSize ? toAttentionRows(tf.matMul(x2d, qkvKernel), qkvBias, inp) : (tf.fused.matMul({ a: x2d, b: qkvKernel, bias: qkvBias ?? undefined }) as tf.Tensor2D);
    if (!inp.windowSize) {
      const y = tf.fused.matMul({ a: x2d, b: qkvKernel, bias: qkvBias ?? undefined });
      return y.reshape([b * h * w, 3 * nh, hd]).transpose([1, 0, 2]).reshape([3 * nh * bw, n, hd]);
    }
    // Windows: project, pad (a padding token projects to the bias alone, added after), then
    // [B * nH, ws, nW, ws, 3 heads, hd] -> [3 heads, B * nH, nW, ws, ws, hd] (windows in
    // windowPartition's order), then the bias by part and head.
    const ws = inp.windowSize;
    const [hp, wp] = layout.paddedHW;
    let y = tf.matMul(x2d, qkvKernel).reshape([b, h, w, 3 * c]);
    if (hp > h || wp > w) y = tf.pad(y, [[0, 0], [0, hp - h], [0, wp - w], [0, 0]]);
    const parts = y.reshape([(b * hp) / ws, ws, wp / ws, ws, 3 * nh, hd]).transpose([4, 0, 2, 1, 3, 5]);
    const biased = qkvBias ? tf.add(parts, qkvBias.reshape([3 * nh, 1, 1, 1, 1, hd])) : parts;
    return biased.reshape([3 * nh * bw, n, hd]);
  });
  const outs: tf.Tensor[] = [];
  for (let head = 0; head < nh; head += group) {
    const g = Math.min(group, nh - head);
    outs.push(
      tf.tidy(() => {
        // Heads [head, head + g) of one part (q, k or v), as [g * bw, n, hd]: batch rows
        // ordered (head, window), so each head's windows are a run of bw batches.
        const heads = (part: number): tf.Tensor3D =>
          headMajor
            ? (qkv.slice([(part * nh + head) * bw, 0, 0], [g * bw, n, hd]) as tf.Tensor3D)
            : (qkv.slice([0, part * c + head * hd], [bw * n, hd]).reshape([bw, n, hd]) as tf.Tensor3D); // g = 1
        const q = heads(0);
        // On GPU backends with their kernels the scale goes into SamRelPosSoftmax (a power of two: the same values)
        const inKernel = scaleInKernel(inp.rel !== null, q.dtype, inp.scale);
        const s: tf.Tensor3D = tf.matMul(inKernel ? q : (tf.mul(q, inp.scale) as tf.Tensor3D), heads(1), false, true); // [g * bw, n, n]
        const probs = inp.rel ? relPosSoftmax(s, q.reshape([g * bw * n, hd]) as tf.Tensor2D, inp.rel, g * bw, layout.side, inKernel ? inp.scale : 1) : (tf.softmax(s) as tf.Tensor3D);
        return tf.matMul(probs, heads(2)); // [g * bw, n, hd]
      }),
    );
  }
  qkv.dispose();
  const out = tf.tidy(() => {
    if (!headMajor) return fromAttentionRows(tf.concat(outs.map((o) => o.reshape([bw * n, hd])), 1) as tf.Tensor2D, inp, layout);
    const stacked = outs.length === 1 ? outs[0] : tf.concat(outs, 0); // [nh * bw, n, hd], rows (head, window)
    if (!inp.windowSize) return stacked.reshape([nh, b * h * w, hd]).transpose([1, 0, 2]).reshape([b * h * w, c]) as tf.Tensor2D;
    // [heads, B * nH, nW, ws, ws, hd] -> [B * nH, ws, nW, ws, heads, hd]: the padded grid; then the crop
    const ws = inp.windowSize;
    const [hp, wp] = layout.paddedHW;
    const grid = stacked.reshape([nh, (b * hp) / ws, wp / ws, ws, ws, hd]).transpose([1, 3, 2, 4, 0, 5]).reshape([b, hp, wp, c]);
    return (hp > h || wp > w ? tf.slice(grid, [0, 0, 0, 0], [b, h, w, c]) : grid).reshape([b * h * w, c]) as tf.Tensor2D;
  });
  tf.dispose(outs);
  return out;
}
