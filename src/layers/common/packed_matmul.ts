/**
 * 2-D matMuls through the wasm SIMD matMul kernel where it runs (backends/wasm_kernels.ts,
 * SamMatMul), else through tfjs.
 *
 * The kernel multiplies by a right-hand side packed in panels of 8 columns ([n / 8, k, 8]);
 * its values are tfjs-wasm's (XNNPACK's) bit for bit, or with fused multiply-adds (relaxed
 * SIMD, see wasmMatMulFused) the in-order fused sums; with its helper threads it runs faster
 * than XNNPACK on tfjs-wasm's threads (bench/wasm_kernels.ts). Weights are packed once
 * and kept by their owners (PackedWeight); activations are packed per product (a copy of
 * k x n floats, ~1% of the product's time).
 */
import * as tf from '@tensorflow/tfjs';
import { gemmHelperThreads, matMulPackedKernel, packMatMulRhsKernel, wasmKernelsActive, wasmThreadsInUse } from '../../backends/wasm_kernels.js';

/**
 * Whether a product with n output columns goes through the SIMD kernel: wasm with the
 * kernels on, n a multiple of 8, and as many threads for the kernel as tfjs-wasm's matMul
 * would use (on fewer, XNNPACK's threads win).
 */
export function packedMatMulActive(n: number): boolean {
  return n % 8 === 0 && wasmKernelsActive() && gemmHelperThreads() + 1 >= wasmThreadsInUse();
}

/**
 * Products up to this size (m * k * n multiply-adds) whose right-hand side is not a kept
 * packed weight (for those see packedWeightPays) stay on XNNPACK; above it the SIMD
 * kernel takes them, sharing those of more than 60 rows with its helper threads (2^21 is
 * where SamMatMul starts to split). Where the kernel runs with helpers, tfjs's pool keeps
 * only the calling thread (planWasmThreads in wasm_threads_node.ts), so XNNPACK runs on one
 * thread: measured with
 * `node dist/bench/wasm_kernels.js` (2 threads, best / median of 7, XNNPACK against ours,
 * fused then unfused): [7, 256] x [256, 2048] (3.7M) 0.5 / 0.6 against 0.4 / 0.5 ms, 0.3 /
 * 0.3 against 0.3 / 0.3; [4900, 64] x [64, 32] 1.1 / 1.2 against 0.5 / 0.5, 0.8 / 0.9
 * against 0.5 / 0.5; [256, 256] x [256, 256] 2.7 / 3.2 against 0.6 / 0.8, 1.3 / 1.4 against
 * 0.9 / 1.0; the decoder's [4096, 256] x [256, 56] (packed per call) 6.3 / 6.8 against 2.8 /
 * 3.0, 4.8 / 4.8 against 2.4 / 2.6. (With tfjs's pool on 2 threads as well, XNNPACK's won
 * below about 2^24.)
 */
export const PACKED_MATMUL_MIN_WORK = 2 ** 21;

let minWork = PACKED_MATMUL_MIN_WORK;

/**
 * For tests: the size from which products take the kernel (null: PACKED_MATMUL_MIN_WORK).
 * 0 sends every product it can take through it, e.g. to check parity with the small fixture
 * models, whose products are all under the default.
 */
export function setPackedMatMulMinWork(work: number | null): void {
  minWork = work ?? PACKED_MATMUL_MIN_WORK;
}

/** Whether an [m, k] x [k, n] product goes through the SIMD kernel (packedMatMulActive, and large enough). */
export function packedMatMulPays(m: number, k: number, n: number): boolean {
  return m * k * n > minWork && packedMatMulActive(n);
}

/**
 * Whether a product by a weight packed once and kept (PackedWeight: a Linear layer's kernel)
 * goes through the SIMD kernel: at any size where it runs. With nothing to pack per call it
 * beats tfjs-wasm's fused matMul (XNNPACK on the calling thread) on the decoder's small
 * products, whose time is mostly per-call overhead: [7, 256] x [256, 256] + bias 59.8
 * against 115.5 us, [7, 256] x [256, 128] 29.4 against 55.9, [1, 256] x [256, 256] 17.3
 * against 27.7, [1, 32] x [32, 32] 4.5 against 41.7 (fused multiply-adds; unfused 69.5
 * against 127.7, 51.5 against 172.6, 20.8 against 37.5 us, the same values bit for bit;
 * means of 500 calls, a scratch timing).
 */
export function packedWeightPays(m: number, k: number, n: number): boolean {
  return m * k * n > 0 && packedMatMulActive(n);
}

/** a [m, k] x b [k, n] (+ bias [n]) -> [m, n]; `packed` is b already packed (packMatMulRhs). */
export function matMul2d(a: tf.Tensor2D, b: tf.Tensor2D, bias?: tf.Tensor1D | null, packed?: tf.Tensor3D | null): tf.Tensor2D {
  const [m, k] = a.shape;
  const n = b.shape[1];
  if (a.dtype === 'float32' && (packed ? packedWeightPays(m, k, n) : packedMatMulPays(m, k, n))) {
    if (packed) return matMulPackedKernel(a, packed, bias ?? undefined);
    return tf.tidy(() => matMulPackedKernel(a, packMatMulRhsKernel(b), bias ?? undefined));
  }
  return bias ? (tf.fused.matMul({ a, b, bias }) as tf.Tensor2D) : (tf.matMul(a, b) as tf.Tensor2D);
}

/** a [m, k] x bᵀ, b given as [n, k] -> [m, n] (e.g. q kᵀ). `transposeB` makes bᵀ where the kernel does not run. */
export function matMulTransposedB(a: tf.Tensor2D, b: tf.Tensor2D, transposeB: (b: tf.Tensor2D) => tf.Tensor2D): tf.Tensor2D {
  const [m, k] = a.shape;
  const n = b.shape[0];
  if (a.dtype === 'float32' && packedMatMulPays(m, k, n)) return tf.tidy(() => matMulPackedKernel(a, packMatMulRhsKernel(b, true)));
  return tf.matMul(a, transposeB(b)) as tf.Tensor2D;
}

/** b [k, n] packed for matMul2d, or null where the kernel does not run for it. */
export function packMatMulRhs(b: tf.Tensor2D): tf.Tensor3D | null {
  return b.dtype === 'float32' && packedMatMulActive(b.shape[1]) ? packMatMulRhsKernel(b) : null;
}

/**
 * The packed copy of a weight, made on first use and made again when the weight's values
 * change (a new dataId). The owner disposes it with its weights.
 */
export class PackedWeight {
  private source: object | null = null;
  private packed: tf.Tensor3D | null = null;

  /** The packed copy of w for a product with m rows, or null where that product does not go through the kernel (packedWeightPays). */
  get(w: tf.Tensor2D, m: number): tf.Tensor3D | null {
    const [k, n] = w.shape;
    if (w.dtype !== 'float32' || !packedWeightPays(m, k, n)) return null;
    if (this.packed && !this.packed.isDisposed && this.source === w.dataId) return this.packed;
    this.dispose();
    this.packed = tf.keep(packMatMulRhsKernel(w));
    this.source = w.dataId;
    return this.packed;
  }

  dispose(): void {
    this.packed?.dispose();
    this.packed = null;
    this.source = null;
  }
}
