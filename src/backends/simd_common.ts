/**
 * What this library's two WebAssembly SIMD modules share, the tfjs-wasm kernels
 * (wasm_kernels.ts) and the mask post-processing rows (src/sam/mask_rows_simd.ts): the
 * base64 decoding of their binaries, and their switch. On by default; off with
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

/** A module binary from its base64 text (Node or browser). */
export function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  if (typeof Buffer !== 'undefined') return Uint8Array.from(Buffer.from(b64, 'base64'));
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
