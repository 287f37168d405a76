/**
 * The positional encodings' sin and cos through a GPU backend's `SamSinCos` kernel
 * (src/backends/gpu_sin_cos.ts) against the tfjs-op form it replaces (polynomialSinCos, which
 * sinCosFeatures runs with the kernels switched off) and
 * against float64 sin / cos: run by the WebGPU-in-Node child (webgpu_node_main.ts) and the
 * browser parity page (test/browser_parity/main.ts) on the active backend, judged by their
 * tests with `sinCosProblems`.
 */
import * as tf from '@tensorflow/tfjs';
import { sinCosFeatures } from '../../src/layers/prompt_encoder/sin_cos.js';
import { kernelAndOps, spreadValues, type KernelCheckResult } from './gpu_kernel_runs.js';

/** Errors over the finite inputs against float64 sin / cos of the float32 inputs. */
export interface SinCosCheck extends KernelCheckResult {
  shape: number[];
  /** NaN in, NaN out; +-Infinity in, NaN out (as the op form). */
  nonFinite: boolean;
}

/**
 * Inputs over |x| <= 64 (SAM's encodings stay within ~40), quadrant boundaries, and a NaN and
 * infinities, in shapes from one row to a 64 x 64 grid's 128 frequencies, and an empty one.
 * `setKernels` switches the backend's kernels (off: the op form). Reads asynchronously.
 */
export async function sinCosChecks(setKernels: (on: boolean) => void): Promise<SinCosCheck[]> {
  const results: SinCosCheck[] = [];
  const special = [0, Math.PI / 4, Math.PI / 2, Math.PI, (3 * Math.PI) / 2, -Math.PI / 4, -Math.PI / 2, 20.420352, NaN, Infinity, -Infinity];
  const shapes = [[1, 7], [2, 128], [64, 64, 128], [3, 0]];
  for (const shape of shapes) {
    const values = spreadValues(shape, special, -64, 64);
    const size = values.length;
    const x = tf.tensor(values, shape, 'float32');
    try {
      const { kernels, outShape, kernel, ops, leaked, leakedData } = await kernelAndOps(() => sinCosFeatures(x), setKernels);
      const cols = shape[shape.length - 1];
      let kernelError = 0;
      let opsError = 0;
      let differ = 0;
      let nonFinite = true;
      for (let i = 0; i < size; i++) {
        const at = Math.floor(i / cols) * 2 * cols + (i % cols);
        const v = values[i];
        for (const [j, exact] of [[at, Math.sin(v)], [at + cols, Math.cos(v)]]) {
          if (!(Object.is(kernel[j], ops[j]) || (Number.isNaN(kernel[j]) && Number.isNaN(ops[j])))) differ++;
          if (Number.isFinite(v)) {
            kernelError = Math.max(kernelError, Math.abs(kernel[j] - exact));
            opsError = Math.max(opsError, Math.abs(ops[j] - exact));
          } else if (!Number.isNaN(kernel[j])) nonFinite = false;
        }
      }
      results.push({ shape, kernelError, opsError, differ, outputs: 2 * size, kernels, outShape, nonFinite, leaked, leakedData });
    } finally {
      x.dispose();
    }
  }
  return results;
}

/**
 * What is wrong with a run's checks (empty: nothing): one `SamSinCos` call a time, the last
 * axis doubled; errors within twice the op form's plus 1e-7 and never above 2e-7 (the
 * bound test/sin_cos.test.ts holds the op form to on cpu); NaN for NaN and infinities; no
 * tensor or backend buffer left.
 */
export function sinCosProblems(results: SinCosCheck[]): string[] {
  const problems: string[] = [];
  if (results.length !== 4) problems.push(`${results.length} sin/cos results, expected 4`);
  for (const r of results) {
    const what = JSON.stringify(r.shape);
    if (JSON.stringify(r.kernels) !== JSON.stringify(['SamSinCos'])) problems.push(`${what}: kernels ${r.kernels.join(', ')}`);
    const expected = [...r.shape.slice(0, -1), 2 * r.shape[r.shape.length - 1]];
    if (JSON.stringify(r.outShape) !== JSON.stringify(expected)) problems.push(`${what}: output shape ${JSON.stringify(r.outShape)}, expected ${JSON.stringify(expected)}`);
    if (!(r.kernelError <= 2 * r.opsError + 1e-7) || !(r.kernelError <= 2e-7)) problems.push(`${what}: error ${r.kernelError} against the ops' ${r.opsError}`);
    if (!r.nonFinite) problems.push(`${what}: a NaN or infinite input did not give NaN`);
    if (r.leaked !== 0 || r.leakedData !== 0) problems.push(`${what}: ${r.leaked} tensors and ${r.leakedData} backend buffers left`);
  }
  return problems;
}
