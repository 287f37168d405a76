/**
 * Multi-head self-attention of the ViT blocks, with decomposed relative position
 * embeddings (`Attention` in the reference's image_encoder.py).
 *
 * Weights: `qkv` (Linear C -> 3C), `proj` (Linear C -> C), and when `useRelPos` the tables
 * `rel_pos_h` [2*H-1, head_dim] and `rel_pos_w` [2*W-1, head_dim], where (H, W) is the
 * `inputSize` the block attends over (the window, or the whole token grid).
 */
import * as tf from '@tensorflow/tfjs';
import { packMatMulRhsKernel } from '../../backends/wasm_kernels.js';
import { Linear } from '../common/linear.js';
import { SamLayer, type LayerVariable } from '../sam_layer.js';
import {
  attentionBatched,
  attentionMatmul2d,
  disposeHeadWeights,
  groupedQkvRuns,
  resolveAttentionImplementation,
  splitHeadWeights,
  transposedRelTables,
  type AttentionImplementation,
  type TransposedRelTables,
  type GroupedQkv,
  type HeadProjections,
  type HeadWeights,
} from './attention_kernels.js';
import { isCpuLikeBackend, splitAxis0 } from '../tensor_utils.js';

export interface AttentionConfig {
  dim: number;
  numHeads: number;
  qkvBias: boolean;
  useRelPos: boolean;
  /** Token grid (H, W) the relative position tables are sized for. */
  inputSize: [number, number];
  name?: string;
}

export class Attention extends SamLayer {
  static className = 'sam.image_encoder.Attention';
  readonly config: Omit<AttentionConfig, 'name'>;
  readonly headDim: number;
  readonly scale: number;
  readonly qkv: Linear;
  readonly proj: Linear;
  private relPosH: LayerVariable | null = null;
  private relPosW: LayerVariable | null = null;
  /**
   * How the heavy ops are laid out ('auto': by backend, see attention_kernels.ts). The
   * weights and results are the same either way.
   */
  implementation: AttentionImplementation = 'auto';
  /**
   * Whether the 'matmul2d' layout keeps its per-head projections (or, for the grouped
   * product, qkv's packed kernel and split bias) between calls (a copy of qkv's weights) or
   * makes them anew each call (a few ms against seconds of attention). ImageEncoderViT turns
   * it off for models whose copies would crowd the wasm heap (ViT-L, ViT-H).
   */
  cacheHeadWeights = true;
  /** Per-head projections split out of qkv for the 'matmul2d' layout, with what they came from. */
  private headCache: { source: unknown[]; heads: HeadWeights[] } | null = null;
  /** The relative-position tables resized and transposed for the batched layout, with what they came from. */
  private tablesCache: { source: unknown[]; tables: TransposedRelTables } | null = null;
  /** qkv's bias by part and head for the grouped projection (groupedQkvRuns), with the bias it came from. */
  private partBiasCache: { source: unknown[]; biases: tf.Tensor1D[] } | null = null;

  constructor(config: AttentionConfig) {
    super({ name: config.name });
    const { name: _n, ...rest } = config;
    this.config = rest;
    if (config.dim % config.numHeads !== 0) {
      throw new Error(`Attention: dim ${config.dim} is not divisible by num_heads ${config.numHeads}`);
    }
    this.headDim = config.dim / config.numHeads;
    this.scale = this.headDim ** -0.5;
    this.qkv = this.addSublayer('qkv', new Linear({ inFeatures: config.dim, outFeatures: 3 * config.dim, bias: config.qkvBias }));
    this.proj = this.addSublayer('proj', new Linear({ inFeatures: config.dim, outFeatures: config.dim }));
  }

  override build(inputShape: tf.Shape): void {
    this.qkv.buildFor(inputShape);
    this.proj.buildFor(inputShape);
    if (this.config.useRelPos) {
      const [h, w] = this.config.inputSize;
      this.relPosH = this.addTorchWeight('rel_pos_h', [2 * h - 1, this.headDim]);
      this.relPosW = this.addTorchWeight('rel_pos_w', [2 * w - 1, this.headDim]);
    }
  }

  /** x: [B, H, W, C] -> [B, H, W, C]: each of the B maps is one attention window. */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return this.forward((Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor4D);
  }

  /**
   * Windowed attention of a whole grid: the same as the reference's window_partition (zero
   * padding), this attention on every window, window_unpartition and crop, laid out so that
   * no work is spent on the padding (see attention_kernels.ts). x: [B, H, W, C] -> [B, H, W, C].
   */
  callWindowed(x: tf.Tensor4D, windowSize: number): tf.Tensor4D {
    return this.forward(x, windowSize) as tf.Tensor4D;
  }

  private forward(x: tf.Tensor4D, windowSize?: number): tf.Tensor {
    const impl = resolveAttentionImplementation(this.implementation);
    if (impl !== 'matmul2d') return this.forwardWith(x, null, windowSize);
    if (groupedQkvRuns(x, this.config.dim, this.config.numHeads)) {
      const [grouped, transient] = this.groupedQkv(windowSize !== undefined);
      try {
        return this.forwardWith(x, { grouped }, windowSize);
      } finally {
        if (transient) {
          grouped.packed.dispose();
          tf.dispose(grouped.partBiases ?? []);
        }
      }
    }
    const heads = this.headWeights();
    try {
      return this.forwardWith(x, { perHead: heads }, windowSize);
    } finally {
      if (!this.cacheHeadWeights) disposeHeadWeights(heads);
    }
  }

  private forwardWith(x: tf.Tensor4D, heads: HeadProjections | null, windowSize?: number): tf.Tensor {
    const [b, h, w, c] = x.shape;
    return tf.tidy(() => {
      const tables = this.relPosH && this.relPosW ? { tableH: this.relPosH.read() as tf.Tensor2D, tableW: this.relPosW.read() as tf.Tensor2D } : null;
      // The batched layout keeps its transposed tables on GPU backends; 'matmul2d' (and
      // 'batched' on cpu/wasm) pads them for wasm's matMul as it goes.
      const rel = tables && !heads && !isCpuLikeBackend() ? { ...tables, transposed: (q: [number, number], k: [number, number]) => this.transposedTables(tables.tableH, tables.tableW, q, k) } : tables;
      const inp = { x, windowSize, numHeads: this.config.numHeads, scale: this.scale, rel };
      const out = heads ? attentionMatmul2d(inp, heads) : attentionBatched(inp, this.qkv.kernel(), this.qkv.biasVector());
      return this.run(this.proj, out.reshape([b, h, w, c]));
    });
  }

  /**
   * The tables resized and transposed for queries and keys of these sizes (the batched
   * layout's), made once and again only when the tables, sizes or backend change: 2
   * dispatches a pass of heads fewer on GPU backends.
   */
  private transposedTables(tableH: tf.Tensor2D, tableW: tf.Tensor2D, qSize: [number, number], kSize: [number, number]): TransposedRelTables {
    const source = [tf.getBackend(), tableH.dataId, tableW.dataId, ...qSize, ...kSize];
    const cached = this.tablesCache;
    if (cached && !cached.tables.joined.isDisposed && cached.source.every((v, i) => v === source[i])) return cached.tables;
    if (cached) tf.dispose(Object.values(cached.tables));
    const tables = transposedRelTables(tableH, tableW, qSize, kSize);
    for (const t of Object.values(tables)) tf.keep(t);
    this.tablesCache = { source, tables };
    return tables;
  }

  /**
   * qkv for one grouped product of every head (groupedQkvRuns), and whether it was made for
   * this call (the caller then disposes its packed kernel and biases): with
   * `cacheHeadWeights`, the Linear's kept packed kernel and the bias split once by part and
   * head (for the windowed layout only); without, both made for this call, so that a
   * memory-lean encoder keeps no second copy of qkv.
   */
  private groupedQkv(windowed: boolean): [GroupedQkv, boolean] {
    const kernel = this.qkv.kernel();
    const bias = this.qkv.biasVector();
    const parts = 3 * this.config.numHeads;
    const packed = this.cacheHeadWeights ? this.qkv.packedKernel() : null;
    if (!packed) {
      if (this.partBiasCache) tf.dispose(this.partBiasCache.biases); // kept while copies were
      this.partBiasCache = null;
      return [{ packed: packMatMulRhsKernel(kernel), bias, partBiases: windowed && bias ? splitAxis0(bias, parts) : null }, true];
    }
    if (this.headCache) disposeHeadWeights(this.headCache.heads); // the per-head form's, from another backend
    this.headCache = null;
    let partBiases: tf.Tensor1D[] | null = null;
    if (windowed && bias) {
      const source = [tf.getBackend(), bias.dataId];
      if (!this.partBiasCache || !this.partBiasCache.source.every((v, i) => v === source[i])) {
        if (this.partBiasCache) tf.dispose(this.partBiasCache.biases);
        this.partBiasCache = { source, biases: splitAxis0(bias, parts).map((t) => tf.keep(t)) };
      }
      partBiases = this.partBiasCache.biases;
    }
    return [{ packed, bias, partBiases }, false];
  }

  /**
   * The per-head projections: split once and re-split only when the weights change, or,
   * without `cacheHeadWeights`, split for this call (the caller disposes them).
   */
  private headWeights(): HeadWeights[] {
    const kernel = this.qkv.kernel();
    const bias = this.qkv.biasVector();
    if (!this.cacheHeadWeights) {
      if (this.headCache) disposeHeadWeights(this.headCache.heads);
      this.headCache = null;
      return splitHeadWeights(kernel, bias, this.config.numHeads);
    }
    const source = [tf.getBackend(), kernel.dataId, bias?.dataId];
    const cached = this.headCache;
    if (cached && cached.source.length === source.length && cached.source.every((v, i) => v === source[i])) return cached.heads;
    if (cached) disposeHeadWeights(cached.heads);
    const heads = splitHeadWeights(kernel, bias, this.config.numHeads);
    for (const hw of heads) for (const t of [hw.wq, hw.wk, hw.wv, hw.bq, hw.bk, hw.bv, hw.packed?.q, hw.packed?.k, hw.packed?.v]) if (t) tf.keep(t);
    this.headCache = { source, heads };
    return heads;
  }

  protected override disposeWeights(): number {
    if (this.headCache) disposeHeadWeights(this.headCache.heads);
    this.headCache = null;
    if (this.partBiasCache) tf.dispose(this.partBiasCache.biases);
    this.partBiasCache = null;
    if (this.tablesCache) tf.dispose(Object.values(this.tablesCache.tables));
    this.tablesCache = null;
    return super.disposeWeights();
  }

  override computeOutputShape(inputShape: tf.Shape): tf.Shape {
    return inputShape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.config };
  }
}
tf.serialization.registerClass(Attention);
