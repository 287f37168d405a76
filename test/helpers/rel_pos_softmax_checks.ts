/**
 * The encoder's attention probabilities with the relative-position terms through a GPU
 * backend's `SamRelPosSoftmax` (src/backends/gpu_rel_pos_softmax.ts, as the batched layout
 * calls it: relPosSoftmax in attention_kernels.ts) against the tfjs-op form it replaces
 * (Multiply, Gathers, Adds, Softmax) and against float64: run by the WebGPU-in-Node child
 * (webgpu_node_main.ts) and the browser parity page (test/browser_parity/main.ts) on the
 * active backend, judged by their tests with `relPosSoftmaxProblems`.
 */
import * as tf from '@tensorflow/tfjs';
import { exactScale } from '../../src/backends/gpu_rel_pos_softmax.js';
import { setLayerNormRowsPerDispatchDim } from '../../src/backends/webgpu_kernels.js';
import { relPosSoftmax, scaleInKernel, transposedRelTables } from '../../src/layers/image_encoder/attention_kernels.js';
import { relPosIndices } from '../../src/layers/image_encoder/rel_pos.js';
import { CHECK_ROWS_PER_DISPATCH_DIM } from './layer_norm_checks.js';
import { kernelAndOps, spreadValues, type KernelCheckResult } from './gpu_kernel_runs.js';

/** Errors against a float64 softmax of the float32 scores and products. */
export interface RelPosSoftmaxCheck extends KernelCheckResult {
  what: string;
  /** The scores' shape, which the output should have. */
  wantShape: number[];
}

interface Case {
  what: string;
  batch: number;
  side: [number, number];
  hd: number;
  /** Rows of the tables (2 * side - 1, or other lengths: resized first). */
  tableRows: [number, number];
  scale: number;
  /** Calls for the leak count (3); the large case has none (~15 s a call on SwiftShader; the others count for it). */
  leakRuns?: number;
  /** Run on WebGPU only (its rows of 4096 take another workgroup size; on WebGL the same program as the others). */
  webgpuOnly?: boolean;
}

const CASES: Case[] = [
  { what: 'windows of 3 x 5, scale 1/4', batch: 4, side: [3, 5], hd: 8, tableRows: [5, 9], scale: 0.25 },
  { what: 'windows of 14 x 14 (ViT), scale 1/8', batch: 2, side: [14, 14], hd: 16, tableRows: [27, 27], scale: 0.125 },
  { what: 'windows of 7 x 7, tables resized from 9 rows, scale 0.3 (not a power of two: queries scaled first)', batch: 3, side: [7, 7], hd: 8, tableRows: [9, 9], scale: 0.3 },
  { what: `windows of 5 x 5, ${48 * 25} rows (past ${CHECK_ROWS_PER_DISPATCH_DIM} the WebGPU dispatch wraps into y), scale 1`, batch: 48, side: [5, 5], hd: 8, tableRows: [9, 9], scale: 1 },
  { what: 'a global window of 64 x 64 (rows of 4096: 256 threads a row on WebGPU), scale 1/8', batch: 1, side: [64, 64], hd: 8, tableRows: [127, 127], scale: 0.125, leakRuns: 0, webgpuOnly: true },
];

const casesFor = (backend: string) => CASES.filter((c) => !c.webgpuOnly || backend === 'webgpu');

/** softmax over rows of n of (s * scale + p[idxH]) + p[lh + idxW] in float64 (p's rows of `cols`). */
function exact(s: Float32Array, p: Float32Array, c: Case, lh: number, cols: number): Float64Array {
  const [qh, qw] = c.side;
  const n = qh * qw;
  const idxH = relPosIndices(qh, qh);
  const idxW = relPosIndices(qw, qw);
  const out = new Float64Array(s.length);
  const v = new Float64Array(n);
  for (let r = 0; r < s.length / n; r++) {
    const query = r % n;
    const [qy, qx] = [Math.floor(query / qw), query % qw];
    let max = -Infinity;
    for (let j = 0; j < n; j++) {
      const [ky, kx] = [Math.floor(j / qw), j % qw];
      v[j] = s[r * n + j] * c.scale + p[r * cols + idxH[qy * qh + ky]] + p[r * cols + lh + idxW[qx * qw + kx]];
      max = Math.max(max, v[j]);
    }
    let sum = 0;
    for (let j = 0; j < n; j++) sum += Math.exp(v[j] - max);
    for (let j = 0; j < n; j++) out[r * n + j] = Math.exp(v[j] - max) / sum;
  }
  return out;
}

/**
 * Each case with the kernels (switched on and off by `setKernels`) and with tfjs ops:
 * scores over [-8, 8], queries and tables over [-1, 1]. Reads asynchronously.
 */
export async function relPosSoftmaxChecks(setKernels: (on: boolean) => void): Promise<RelPosSoftmaxCheck[]> {
  const results: RelPosSoftmaxCheck[] = [];
  setLayerNormRowsPerDispatchDim(CHECK_ROWS_PER_DISPATCH_DIM);
  try {
    for (const c of casesFor(tf.getBackend())) {
      const [qh, qw] = c.side;
      const n = qh * qw;
      const rows = c.batch * n;
      const s = tf.tensor3d(spreadValues([c.batch, n, n], [], -8, 8).map((v, i) => v * Math.cos(i)), [c.batch, n, n]);
      const q = tf.tensor2d(spreadValues([rows, c.hd], [], -1, 1).map((v, i) => v * Math.sin(i * 0.7)), [rows, c.hd]);
      const tables = {
        tableH: tf.tensor2d(spreadValues([c.tableRows[0], c.hd], [], -1, 1).map((v, i) => v * Math.cos(i * 1.3)), [c.tableRows[0], c.hd]),
        tableW: tf.tensor2d(spreadValues([c.tableRows[1], c.hd], [], -1, 1).map((v, i) => v * Math.sin(i * 0.3)), [c.tableRows[1], c.hd]),
      };
      const probs = () =>
        tf.tidy(() => {
          const inKernel = scaleInKernel(true, 'float32', c.scale);
          return relPosSoftmax(inKernel ? s : (tf.mul(s, c.scale) as tf.Tensor3D), q, tables, c.batch, c.side, inKernel ? c.scale : 1);
        });
      try {
        const { kernels, outShape, kernel, ops, leaked, leakedData } = await kernelAndOps(probs, setKernels, c.leakRuns ?? 3);
        // The products the kernel reads, as the layer makes them (tables resized and transposed, then q tᵀ).
        const t = transposedRelTables(tables.tableH, tables.tableW, c.side, c.side);
        const p = tf.matMul(q, t.joined) as tf.Tensor2D; // q tH, then q tW
        const want = exact((await s.data()) as Float32Array, (await p.data()) as Float32Array, c, t.tH.shape[1], p.shape[1]);
        tf.dispose([t.tH, t.tW, t.joined, p]);
        let kernelError = 0;
        let opsError = 0;
        let differ = 0;
        for (let i = 0; i < want.length; i++) {
          if (kernel[i] !== ops[i]) differ++;
          kernelError = Math.max(kernelError, Math.abs(kernel[i] - want[i]));
          opsError = Math.max(opsError, Math.abs(ops[i] - want[i]));
        }
        results.push({ what: c.what, kernelError, opsError, differ, outputs: want.length, kernels, outShape, wantShape: [c.batch, n, n], leaked, leakedData });
      } finally {
        tf.dispose([s, q, tables.tableH, tables.tableW]);
      }
    }
  } finally {
    setLayerNormRowsPerDispatchDim(null);
  }
  return results;
}

/**
 * What is wrong with a run's checks (empty: nothing): one `SamRelPosSoftmax` call and none of
 * the op form's Softmax, Gathers, Adds (nor the Multiply where the scale is a power of two);
 * the scores' shape; errors within twice the op form's plus 1e-7; nothing left.
 */
export function relPosSoftmaxProblems(results: RelPosSoftmaxCheck[], backend: 'webgl' | 'webgpu'): string[] {
  const problems: string[] = [];
  const cases = casesFor(backend);
  if (JSON.stringify(results.map((r) => r.what)) !== JSON.stringify(cases.map((c) => c.what))) problems.push(`results for ${results.map((r) => r.what).join('; ')}, expected ${cases.map((c) => c.what).join('; ')}`);
  for (const [i, r] of results.entries()) {
    const count = (name: string) => r.kernels.filter((k) => k === name).length;
    if (count('SamRelPosSoftmax') !== 1) problems.push(`${r.what}: ${count('SamRelPosSoftmax')} SamRelPosSoftmax calls (kernels ${r.kernels.join(', ')})`);
    // A scale that is not a power of two still multiplies the queries first.
    const opForm = ['Softmax', 'GatherV2', 'Add', ...(exactScale(cases[i]?.scale ?? 1) ? ['Multiply'] : [])];
    const left = r.kernels.filter((k) => opForm.includes(k));
    if (left.length > 0) problems.push(`${r.what}: the op form's ${left.join(', ')} ran`);
    if (JSON.stringify(r.outShape) !== JSON.stringify(r.wantShape)) problems.push(`${r.what}: output shape ${JSON.stringify(r.outShape)}`);
    if (!(r.kernelError <= 2 * r.opsError + 1e-7)) problems.push(`${r.what}: error ${r.kernelError} against the ops' ${r.opsError}`);
    if (r.leaked !== 0 || r.leakedData !== 0) problems.push(`${r.what}: ${r.leaked} tensors and ${r.leakedData} backend buffers left`);
  }
  return problems;
}
