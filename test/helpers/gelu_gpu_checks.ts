/**
 * GELU through a GPU backend's `SamGelu` kernel (src/backends/gpu_gelu.ts) against the
 * tfjs-op form it replaces and against float64 GELU: run by the WebGPU-in-Node child
 * (webgpu_node_main.ts) and the browser parity page (test/browser_parity/main.ts) on the
 * active backend, judged by their tests with `geluGpuProblems`.
 */
import * as tf from '@tensorflow/tfjs';
import { gelu } from '../../src/layers/common/activations.js';
import { gelu64 } from './float64_math.js';
import { kernelAndOps, spreadValues, type KernelCheckResult } from './gpu_kernel_runs.js';

/** Errors over the finite inputs against float64 GELU of the float32 inputs; `differ` counts NaN as equal to NaN. */
export interface GeluGpuCheck extends KernelCheckResult {
  shape: number[];
  /** Non-finite inputs whose output is not the op form's. */
  nonFiniteMismatch: number;
}

/**
 * Inputs over [-12, 12] (past where GELU's tail underflows) with 0, -0, NaN and infinities,
 * in shapes from a few values to more workgroups than one dispatch dimension holds
 * ([70000, 64]), and an empty one. Reads asynchronously.
 */
export async function geluGpuChecks(setKernels: (on: boolean) => void): Promise<GeluGpuCheck[]> {
  const results: GeluGpuCheck[] = [];
  const special = [0, -0, NaN, Infinity, -Infinity, 30, -30, 1e-30, -1e-30];
  for (const shape of [[2, 3, 5], [4096, 256], [70000, 64], [0, 3]]) {
    const values = spreadValues(shape, special, -12, 12);
    const size = values.length;
    const x = tf.tensor(values, shape, 'float32');
    try {
      const { kernels, outShape, kernel, ops, leaked, leakedData } = await kernelAndOps(() => gelu(x), setKernels);
      let kernelError = 0;
      let opsError = 0;
      let differ = 0;
      let nonFiniteMismatch = 0;
      const same = (a: number, b: number) => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b)) || a === b;
      for (let i = 0; i < size; i++) {
        if (!same(kernel[i], ops[i])) differ++;
        if (Number.isFinite(values[i])) {
          const exact = gelu64(values[i]);
          kernelError = Math.max(kernelError, Math.abs(kernel[i] - exact));
          opsError = Math.max(opsError, Math.abs(ops[i] - exact));
        } else if (!same(kernel[i], ops[i])) nonFiniteMismatch++;
      }
      results.push({ shape, kernelError, opsError, differ, outputs: size, nonFiniteMismatch, kernels, outShape, leaked, leakedData });
    } finally {
      x.dispose();
    }
  }
  return results;
}

/**
 * What is wrong with a run's checks (empty: nothing): one `SamGelu` call, x's shape; errors
 * within twice the op form's plus 1e-7; non-finite inputs as the op form; nothing left.
 */
export function geluGpuProblems(results: GeluGpuCheck[]): string[] {
  const problems: string[] = [];
  if (results.length !== 4) problems.push(`${results.length} GELU results, expected 4`);
  for (const r of results) {
    const what = JSON.stringify(r.shape);
    if (JSON.stringify(r.kernels) !== JSON.stringify(['SamGelu'])) problems.push(`${what}: kernels ${r.kernels.join(', ')}`);
    if (JSON.stringify(r.outShape) !== what) problems.push(`${what}: output shape ${JSON.stringify(r.outShape)}`);
    if (!(r.kernelError <= 2 * r.opsError + 1e-7)) problems.push(`${what}: error ${r.kernelError} against the ops' ${r.opsError}`);
    if (r.nonFiniteMismatch !== 0) problems.push(`${what}: ${r.nonFiniteMismatch} non-finite inputs differ from the op form`);
    if (r.leaked !== 0 || r.leakedData !== 0) problems.push(`${what}: ${r.leaked} tensors and ${r.leakedData} backend buffers left`);
  }
  return problems;
}
