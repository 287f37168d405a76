/** The backends every parity test runs on in Node. */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend.js';
import { setWasmFmaMode } from '../../src/backends/simd_common.js';

// The suite checks the wasm kernels bit for bit against tfjs-wasm's own ops, so the matMul
// kernel runs without fused multiply-adds here, where selectBackend would otherwise use them
// (Node 22+ natively, Node 20 through V8's flag); test/wasm_fma.test.ts checks the fused
// kernel, and the default's choice, in processes of their own.
// SAM_TFJS_WASM_FMA, when set, still decides.
if (process.env.SAM_TFJS_WASM_FMA === undefined) setWasmFmaMode('off');

/**
 * cpu and wasm by default; $SAM_TEST_BACKENDS (comma-separated) runs the backend-parametrised
 * suites elsewhere, e.g. `SAM_TEST_BACKENDS=webgpu` in Node with the `webgpu` package (Dawn)
 * on a machine with a GPU, or with a software Vulkan driver (VK_ICD_FILENAMES).
 */
export const TEST_BACKENDS: readonly string[] = process.env.SAM_TEST_BACKENDS
  ? process.env.SAM_TEST_BACKENDS.split(',').map((b) => b.trim()).filter(Boolean)
  : ['cpu', 'wasm'];

/**
 * Activates a backend the way the library does (so 'wasm' is the multithreaded build in
 * Node, as users get it) and fails loudly if it does not start.
 */
export async function useBackend(name: string): Promise<void> {
  tf.env().set('IS_TEST', true); // no "install tfjs-node" banner in test logs
  const choice = await selectBackend(name);
  if (choice.backend !== name || tf.getBackend() !== name) throw new Error(`backend '${name}' did not start (active: ${tf.getBackend()})`);
}
