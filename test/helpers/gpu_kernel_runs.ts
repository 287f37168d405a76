/**
 * What the GPU kernels' checks (sin_cos_checks.ts, gelu_gpu_checks.ts) measure of one input:
 * a function of it run through the backend's kernels, then through tfjs ops (the kernels
 * switched off), read asynchronously (WebGPU in Node cannot read synchronously).
 */
import * as tf from '@tensorflow/tfjs';

/** `shape`'s values: `special` first, then evenly spread over [lo, hi]. */
export function spreadValues(shape: number[], special: number[], lo: number, hi: number): Float32Array {
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = i < special.length ? special[i] : lo + ((hi - lo) * i) / Math.max(1, size - 1);
  return values;
}

/**
 * What every kernel check reports (sin_cos_checks.ts, gelu_gpu_checks.ts,
 * rel_pos_softmax_checks.ts add their own fields): the largest errors of the kernel and of
 * the op form against float64, how many outputs differ from the op form's, the kernels a
 * call ran, the output's shape, and the tensors and backend buffers left after the repeated
 * calls (kernelAndOps).
 */
export interface KernelCheckResult {
  kernelError: number;
  opsError: number;
  differ: number;
  outputs: number;
  kernels: string[];
  outShape: number[];
  leaked: number;
  leakedData: number;
}

export interface KernelRun {
  /** The kernels one call ran (tf.profile), and its output's shape and values. */
  kernels: string[];
  outShape: number[];
  kernel: Float32Array;
  /** The output with the kernels switched off: the tfjs-op form. */
  ops: Float32Array;
  /** Tensors, and the backend's data buffers (a kernel's own intermediates), left after `repeats` (3) calls. */
  leaked: number;
  leakedData: number;
}

async function read(t: tf.Tensor): Promise<Float32Array> {
  const v = (await t.data()) as Float32Array;
  t.dispose();
  return v;
}

/** f() with the kernels on (switched by `setKernels`), then off; `repeats` calls for the leak count (0 for inputs too large to run often on SwiftShader). */
export async function kernelAndOps(f: () => tf.Tensor, setKernels: (on: boolean) => void, repeats = 3): Promise<KernelRun> {
  const profile = await tf.profile(async () => {
    const t = f();
    await t.data();
    t.dispose();
  });
  const before = tf.memory().numTensors;
  const dataBefore = tf.engine().backend.numDataIds();
  for (let i = 0; i < repeats; i++) f().dispose();
  const leaked = tf.memory().numTensors - before;
  const leakedData = tf.engine().backend.numDataIds() - dataBefore;
  const out = f();
  const outShape = out.shape;
  const kernel = await read(out);
  setKernels(false);
  try {
    return { kernels: profile.kernels.map((k) => k.name), outShape, kernel, ops: await read(f()), leaked, leakedData };
  } finally {
    setKernels(true);
  }
}
