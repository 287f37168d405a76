/**
 * LayerNorm through a GPU backend's layer-norm kernels (src/backends/webgpu_kernels.ts,
 * webgl_kernels.ts) against its tfjs-op form, both against float64: run by the WebGPU-in-Node
 * child (webgpu_node_main.ts) and the browser parity page (test/browser_parity/main.ts) on the
 * active backend, judged by their tests with `layerNormProblems`.
 */
import * as tf from '@tensorflow/tfjs';
import { LayerNorm } from '../../src/layers/common/layer_norm.js';
import { setLayerNormRowsPerDispatchDim } from '../../src/backends/webgpu_kernels.js';

export interface LayerNormCheck {
  shape: number[];
  /** With the kernels: the largest error against float64 of `apply` and `applyToSum`, and the kernels they ran. */
  kernel: { one: number; sum: number; kernels: string[] };
  /** With tfjs ops (the kernels switched off): the same errors. */
  ops: { one: number; sum: number };
  /** Tensors, and the backend's data buffers (a kernel's own intermediates), left after three calls of each. */
  leaked: number;
  leakedData: number;
}

/** x (+ y) normalised over the last axis in float64. */
function layerNorm64(x: Float32Array, y: Float32Array | null, w: Float32Array, b: Float32Array, cols: number, eps: number): Float64Array {
  const out = new Float64Array(x.length);
  const v = (i: number) => x[i] + (y ? y[i] : 0);
  for (let r = 0; r < x.length / cols; r++) {
    let mean = 0;
    for (let c = 0; c < cols; c++) mean += v(r * cols + c);
    mean /= cols;
    let variance = 0;
    for (let c = 0; c < cols; c++) variance += (v(r * cols + c) - mean) ** 2;
    const scale = 1 / Math.sqrt(variance / cols + eps);
    for (let c = 0; c < cols; c++) out[r * cols + c] = (v(r * cols + c) - mean) * scale * w[c] + b[c];
  }
  return out;
}

/** Rows past which the WebGPU kernel's dispatch wraps into y during the checks (65535 otherwise). */
export const CHECK_ROWS_PER_DISPATCH_DIM = 1000;

/**
 * `apply` and `applyToSum` with the kernels (switched on and off by `setKernels`) and with
 * tfjs ops, on shapes from a handful of values to more rows than one WebGPU dispatch
 * dimension holds, odd ones included: the WebGPU kernel wraps its rows into the dispatch's y
 * dimension past CHECK_ROWS_PER_DISPATCH_DIM here (65535 in use, which at 70000 rows took
 * ~15 s a call on SwiftShader), so 2500 rows run the wrap with a part-filled last y row.
 * Reads asynchronously (WebGPU in Node cannot read synchronously).
 */
export async function layerNormChecks(setKernels: (on: boolean) => void): Promise<LayerNormCheck[]> {
  setLayerNormRowsPerDispatchDim(CHECK_ROWS_PER_DISPATCH_DIM);
  try {
    return await checkShapes(setKernels);
  } finally {
    setLayerNormRowsPerDispatchDim(null);
  }
}

async function checkShapes(setKernels: (on: boolean) => void): Promise<LayerNormCheck[]> {
  const results: LayerNormCheck[] = [];
  const shapes: Array<[number[], number]> = [[[3, 5], 1e-5], [[2, 37, 64], 1e-6], [[4096, 256], 1e-5], [[2500, 8], 1e-5], [[1, 7, 768], 1e-6], [[0, 4], 1e-5]];
  for (const [shape, eps] of shapes) {
    const cols = shape[shape.length - 1];
    const ln = new LayerNorm({ numFeatures: cols, eps });
    const x = tf.randomNormal(shape, 0.5, 2, 'float32', 1);
    const y = tf.randomNormal(shape, -1, 1, 'float32', 2);
    try {
      tf.dispose(ln.apply(x) as tf.Tensor);
      const [w, b] = ln.getWeights() as tf.Variable[];
      tf.tidy(() => {
        w.assign(tf.randomNormal([cols], 1, 0.5, 'float32', 3));
        b.assign(tf.randomNormal([cols], 0, 0.5, 'float32', 4));
      });
      const [xv, yv, wv, bv] = (await Promise.all([x.data(), y.data(), w.data(), b.data()])) as Float32Array[];
      const errorOf = async (t: tf.Tensor, ref: Float64Array) => {
        const v = (await t.data()) as Float32Array;
        t.dispose();
        return v.reduce((m, a, i) => Math.max(m, Math.abs(a - ref[i])), 0);
      };
      const one = layerNorm64(xv, null, wv, bv, cols, eps);
      const sum = layerNorm64(xv, yv, wv, bv, cols, eps);
      const kernelsOf = async (f: () => tf.Tensor) =>
        (
          await tf.profile(async () => {
            const t = f();
            await t.data();
            t.dispose();
          })
        ).kernels.map((k) => k.name);
      const before = tf.memory().numTensors;
      const dataBefore = tf.engine().backend.numDataIds();
      for (let i = 0; i < 3; i++) tf.dispose([ln.apply(x) as tf.Tensor, ln.applyToSum(x, y)]);
      const leaked = tf.memory().numTensors - before;
      const leakedData = tf.engine().backend.numDataIds() - dataBefore;
      const kernels = [...(await kernelsOf(() => ln.apply(x) as tf.Tensor)), ...(await kernelsOf(() => ln.applyToSum(x, y)))];
      const kernel = { one: await errorOf(ln.apply(x) as tf.Tensor, one), sum: await errorOf(ln.applyToSum(x, y), sum), kernels };
      setKernels(false);
      try {
        results.push({ shape, kernel, ops: { one: await errorOf(ln.apply(x) as tf.Tensor, one), sum: await errorOf(ln.applyToSum(x, y), sum) }, leaked, leakedData });
      } finally {
        setKernels(true);
      }
    } finally {
      tf.dispose([x, y]);
      ln.dispose();
    }
  }
  return results;
}

/**
 * What is wrong with a run's checks (empty: nothing): each call one kernel, `SamLayerNorm`
 * then `SamAddLayerNorm`; errors within twice the op form's own (the order of the sums
 * differs) plus 1e-7 (the empty tensor's are 0: it checks the kernels ran, and left nothing);
 * no tensor or backend buffer left.
 */
export function layerNormProblems(results: LayerNormCheck[]): string[] {
  const problems: string[] = [];
  if (results.length !== 6) problems.push(`${results.length} layer-norm results, expected 6`);
  for (const r of results) {
    const what = JSON.stringify(r.shape);
    if (JSON.stringify(r.kernel.kernels) !== JSON.stringify(['SamLayerNorm', 'SamAddLayerNorm'])) problems.push(`${what}: kernels ${r.kernel.kernels.join(', ')}`);
    for (const k of ['one', 'sum'] as const) {
      if (!(r.kernel[k] <= 2 * r.ops[k] + 1e-7)) problems.push(`${what} ${k}: error ${r.kernel[k]} against the ops' ${r.ops[k]}`);
    }
    if (r.leaked !== 0 || r.leakedData !== 0) problems.push(`${what}: ${r.leaked} tensors and ${r.leakedData} backend buffers left`);
  }
  return problems;
}
