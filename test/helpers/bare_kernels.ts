/** The SIMD kernels module (src/backends/wasm_simd/kernels.wat) on a bare memory, for tests that call its exports directly. */
import { KERNELS_PLAIN_MEMORY, KERNELS_SHARED_MEMORY } from '../../src/backends/wasm_simd/kernels_wasm.js';

/** The value every allocated float starts as, and the guard floats after each array keep. */
export const SENTINEL = Math.fround(12345.678);
const GUARD = 16; // floats after each array, which no kernel may touch
const START = 1024 + 4; // deliberately not 16-byte aligned

/**
 * The module on a fresh memory (shared or plain), its exports typed as E, with a bump
 * allocator of float32 arrays in it: each array is followed by guard floats, so a test can
 * check that nothing was written past it.
 */
export function bareKernels<E>(shared: boolean) {
  const memory = new WebAssembly.Memory(shared ? { initial: 64, maximum: 65536, shared: true } : { initial: 64 });
  const bytes = Buffer.from(shared ? KERNELS_SHARED_MEMORY : KERNELS_PLAIN_MEMORY, 'base64');
  const k = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports as unknown as E;
  let top = START;
  const alloc = (values: ArrayLike<number> | number) => {
    const n = typeof values === 'number' ? values : values.length;
    const offset = top;
    const view = new Float32Array(memory.buffer, offset, n + GUARD);
    view.fill(SENTINEL);
    if (typeof values !== 'number') view.set(values);
    top += (n + GUARD) * 4 + 4;
    return {
      offset,
      values: () => Float32Array.from(new Float32Array(memory.buffer, offset, n)),
      guardIntact: () => new Float32Array(memory.buffer, offset + n * 4, GUARD).every((v) => v === SENTINEL),
    };
  };
  return { k, alloc, reset: () => (top = START) };
}
