/**
 * What this library's two WebAssembly SIMD modules share, the tfjs-wasm kernels
 * (wasm_kernels.ts) and the mask post-processing rows (src/sam/mask_rows_simd.ts): the
 * base64 decoding of their binaries, a float32's bits for their helper jobs' int32
 * arguments, and their switch. On by default; off with
 * SAM_TFJS_WASM_KERNELS=0 or setWasmKernelsEnabled(false), for comparisons. Off, the same
 * work runs as tfjs ops or JavaScript, with the same values up to float rounding (the
 * post-processing: the same values).
 */
const envValue = typeof process !== 'undefined' ? process.env?.SAM_TFJS_WASM_KERNELS : undefined;
let enabled = envValue !== '0';

/** Switches the SIMD kernels on or off (on by default, off with SAM_TFJS_WASM_KERNELS=0). */
export function setWasmKernelsEnabled(on: boolean): void {
  enabled = on;
}

/** Whether the SIMD kernels are switched on (they may still be unavailable: no SIMD). */
export function wasmKernelsEnabled(): boolean {
  return enabled;
}

/**
 * Fused multiply-adds in the wasm products (SamMatMul, SamBatchMatMul, SamHeadScores, SamHeadValues) and the polynomial steps of GELU and softmax's exp, through relaxed SIMD:
 * - 'auto' (default): where the engine has relaxed SIMD (Node 22+, Chrome and Edge 114+), and
 *   in Node 20, where selectBackend('wasm') first turns on V8's
 *   --experimental-wasm-relaxed-simd flag for the process (Node 20 then runs what Node 22 runs);
 * - 'on' (SAM_TFJS_WASM_FMA=1): the same, and selectBackend says so when the engine has none;
 * - 'off' (SAM_TFJS_WASM_FMA=0): never (nor is V8's flag set); the kernels' values are then
 *   tfjs-wasm's bit for bit.
 * Read when the kernels first run on a backend.
 */
export type WasmFmaMode = 'auto' | 'on' | 'off';
const fmaEnv = typeof process !== 'undefined' ? process.env?.SAM_TFJS_WASM_FMA : undefined;
let fmaMode: WasmFmaMode = fmaEnv === '0' ? 'off' : fmaEnv === '1' ? 'on' : 'auto';

/** Sets the mode of fused multiply-adds (see WasmFmaMode); before the wasm backend starts. */
export function setWasmFmaMode(mode: WasmFmaMode): void {
  fmaMode = mode;
}

export function wasmFmaMode(): WasmFmaMode {
  return fmaMode;
}

/** A module binary from its base64 text (Node or browser). */
export function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  if (typeof Buffer !== 'undefined') return Uint8Array.from(Buffer.from(b64, 'base64'));
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** A float32's bits as an int32 (the helper threads' job arguments are int32). */
export function float32Bits(v: number): number {
  bitsF32[0] = v;
  return bitsI32[0];
}
const bitsF32 = new Float32Array(1);
const bitsI32 = new Int32Array(bitsF32.buffer);
