/**
 * Choosing the tfjs backend at run time.
 *
 * Node: CUDA (`@tensorflow/tfjs-node-gpu`, backend 'tensorflow'), then WebGPU through Dawn
 * (the `webgpu` package) on a GPU adapter, then native CPU (`@tensorflow/tfjs-node`), then
 * 'wasm', then 'cpu'. These packages are optional peer dependencies: they are used when
 * installed and skipped otherwise. Browser: 'webgpu'
 * (when `@tensorflow/tfjs-backend-webgpu` is loaded by the page), 'webgl', 'wasm', 'cpu'.
 *
 * Override with the `backend` option or the SAM_TFJS_BACKEND environment variable
 * ('tfjs-node-gpu', 'tfjs-node', 'tensorflow', 'wasm', 'cpu', 'webgl', 'webgpu').
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { prepareWasmKernels, wasmFmaMode, wasmMatMulFused } from './backends/wasm_kernels.js';
import { browserWasmProvider, configureBrowserWasmThreads } from './backends/wasm_threads_browser.js';

export type BackendName = 'tfjs-node-gpu' | 'tfjs-node' | 'tensorflow' | 'wasm' | 'cpu' | 'webgl' | 'webgpu';

export interface BackendChoice {
  /** The tfjs backend now active ('tensorflow', 'wasm', 'cpu', 'webgl', 'webgpu'). */
  backend: string;
  /** What provides it, e.g. '@tensorflow/tfjs-node-gpu (CUDA)'. */
  provider: string;
  /** Why other candidates were skipped. */
  skipped: string[];
}

const isNode = typeof process !== 'undefined' && process.versions?.node !== undefined;

// Node-only modules, named through variables so that browser bundlers leave them out.
const WASM_THREADS_MODULE = './backends/wasm_threads_node.js';
const MASK_ROWS_WORKERS_MODULE = './sam/mask_rows_workers_node.js';
const DAWN_PACKAGE = 'webgpu';
const FS_MODULE = 'node:fs';

/** Imports an optional package by name; null when it is not installed or fails to load. */
async function importOptional(name: string): Promise<{ error?: string; ok: boolean }> {
  try {
    await import(/* @vite-ignore */ name);
    return { ok: true };
  } catch (e) {
    return { ok: false, error: (e as Error).message.split('\n')[0] };
  }
}

async function trySet(name: string): Promise<boolean> {
  try {
    return (await tf.setBackend(name)) && (await tf.ready(), tf.getBackend() === name);
  } catch {
    return false;
  }
}

async function tryCandidate(candidate: BackendName, skipped: string[], automatic = false): Promise<BackendChoice | null> {
  switch (candidate) {
    case 'tfjs-node-gpu':
    case 'tfjs-node': {
      if (!isNode) {
        skipped.push(`${candidate}: only in Node`);
        return null;
      }
      const pkg = `@tensorflow/${candidate}`;
      const loaded = await importOptional(pkg);
      if (!loaded.ok) {
        skipped.push(`${candidate}: ${pkg} is not installed or failed to load (${loaded.error})`);
        return null;
      }
      if (await trySet('tensorflow')) {
        return { backend: 'tensorflow', provider: candidate === 'tfjs-node-gpu' ? `${pkg} (CUDA)` : `${pkg} (native CPU)`, skipped };
      }
      skipped.push(`${candidate}: the 'tensorflow' backend did not start`);
      return null;
    }
    case 'tensorflow':
      return (await tryCandidate('tfjs-node-gpu', skipped)) ?? tryCandidate('tfjs-node', skipped);
    case 'wasm': {
      const mt = isNode ? ((await import(/* @vite-ignore */ WASM_THREADS_MODULE)) as typeof import('./backends/wasm_threads_node.js')) : null;
      // Relaxed SIMD (the kernels' fused multiply-adds) unless switched off: Node 22+ has it;
      // Node 20 has it behind V8's flag, which this turns on (simd_common.ts, WasmFmaMode).
      if (mt && wasmFmaMode() !== 'off') {
        const relaxed = mt.enableRelaxedSimd();
        if (!relaxed && wasmFmaMode() === 'on') skipped.push('wasm: SAM_TFJS_WASM_FMA=1, but this engine has no relaxed SIMD; matMuls without fused multiply-adds');
      }
      await prepareWasmKernels();
      if (mt) {
        const plan = mt.planWasmThreads();
        if (mt.registerThreadedWasm(plan)) {
          if (await trySet('wasm')) {
            const helpers = await mt.startWasmGemmHelpers(plan.helpers);
            if (helpers < plan.helpers) skipped.push(`wasm: ${plan.helpers - helpers} of the SIMD kernels' ${plan.helpers} helper threads did not start; with tfjs's pool on ${mt.wasmThreadsInUse()} thread(s), fewer threads do the work (SAM_TFJS_GEMM_THREADS=0 gives tfjs's pool every thread)`);
            const fused = wasmMatMulFused() ? ', fused multiply-adds' : '';
            const gemm = helpers > 0 ? `; SIMD kernels on ${helpers + 1} threads${fused}` : fused ? `; matMul kernel${fused}` : '';
            return { backend: 'wasm', provider: `@tensorflow/tfjs-backend-wasm (threaded SIMD, tfjs ops on ${mt.wasmThreadsInUse()} thread${mt.wasmThreadsInUse() === 1 ? '' : 's'}${gemm})`, skipped };
          }
          skipped.push('wasm: the threaded build did not start; using the single-threaded one');
          mt.restoreStockWasm();
        }
      }
      const started = isNode ? null : configureBrowserWasmThreads();
      let ok: boolean;
      try {
        ok = await trySet('wasm');
      } finally {
        started?.();
      }
      if (ok) return { backend: 'wasm', provider: isNode ? `@tensorflow/tfjs-backend-wasm${wasmMatMulFused() ? ' (matMul kernel, fused multiply-adds)' : ''}` : browserWasmProvider(), skipped };
      skipped.push('wasm: not registered or failed to start');
      return null;
    }
    case 'webgpu': {
      if (automatic && isNode) {
        const noDevice = await linuxWithoutGpuDevice();
        if (noDevice) {
          skipped.push(`webgpu: ${noDevice}`);
          return null;
        }
      }
      const why = await prepareWebGpu();
      if (why) {
        skipped.push(`webgpu: ${why}`);
        return null;
      }
      if (automatic && isNode) {
        // Chosen by default in Node only on a GPU: a software Vulkan driver (SwiftShader,
        // lavapipe) is far slower than wasm. Asking for 'webgpu' by name takes any adapter.
        const adapter = await describeGpuAdapter();
        if (!adapter.found || adapter.software) {
          skipped.push(`webgpu: ${adapter.found ? `only a software adapter (${adapter.name}); ask for it with backend 'webgpu'` : 'Dawn found no GPU adapter'}`);
          return null;
        }
      }
      if (await trySet('webgpu')) return { backend: 'webgpu', provider: isNode ? 'webgpu (Dawn) + @tensorflow/tfjs-backend-webgpu' : '@tensorflow/tfjs-backend-webgpu', skipped };
      skipped.push('webgpu: the backend did not start (no usable GPU adapter?)');
      return null;
    }
    default: {
      if (await trySet(candidate)) return { backend: candidate, provider: `@tensorflow/tfjs ${candidate} backend`, skipped };
      skipped.push(`${candidate}: not registered or failed to start`);
      return null;
    }
  }
}

/**
 * Makes WebGPU available to tfjs: in Node through the `webgpu` package (Google's Dawn), which
 * provides `navigator.gpu`; in both, by loading `@tensorflow/tfjs-backend-webgpu`. Both are
 * optional packages. Returns why it cannot, or null.
 */
async function prepareWebGpu(): Promise<string | null> {
  const g = globalThis as unknown as { navigator?: { gpu?: unknown } };
  if (isNode && !g.navigator?.gpu) {
    let dawn: { create: (flags: string[]) => unknown; globals: object };
    try {
      dawn = (await import(/* @vite-ignore */ DAWN_PACKAGE)) as typeof dawn;
    } catch (e) {
      return `the 'webgpu' package (Dawn for Node) is not installed (${(e as Error).message.split('\n')[0]})`;
    }
    Object.assign(globalThis, dawn.globals);
    const nav = (g.navigator ?? {}) as { gpu?: unknown };
    nav.gpu = dawn.create([]);
    if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: nav, configurable: true, writable: true });
  }
  if (!g.navigator?.gpu) return 'this environment has no navigator.gpu';
  if (!tf.findBackendFactory('webgpu')) {
    const loaded = await importOptional('@tensorflow/tfjs-backend-webgpu');
    if (!loaded.ok) return `@tensorflow/tfjs-backend-webgpu is not installed (${loaded.error})`;
  }
  return null;
}

/**
 * On Linux, why there is certainly no GPU for Dawn: no GPU device node (/dev/dri/renderD*,
 * /dev/nvidia*, /dev/dxg under WSL). Checked before loading Dawn, whose Vulkan probing
 * otherwise prints warnings on machines without one. Null elsewhere, or when one exists.
 */
async function linuxWithoutGpuDevice(): Promise<string | null> {
  if (process.platform !== 'linux') return null;
  const { existsSync, readdirSync } = (await import(/* @vite-ignore */ FS_MODULE)) as typeof import('node:fs');
  const list = (dir: string) => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  };
  const found = list('/dev/dri').some((f) => f.startsWith('renderD')) || list('/dev').some((f) => /^nvidia\d+$/.test(f)) || existsSync('/dev/dxg');
  return found ? null : 'no GPU device (/dev/dri/renderD*, /dev/nvidia*, /dev/dxg)';
}

/** The adapter navigator.gpu gives, and whether it is a software one. */
async function describeGpuAdapter(): Promise<{ found: boolean; software: boolean; name: string }> {
  type Info = { vendor?: string; architecture?: string; device?: string; description?: string; isFallbackAdapter?: boolean };
  type Adapter = { info?: Info; isFallbackAdapter?: boolean };
  const gpu = (globalThis as unknown as { navigator: { gpu: { requestAdapter(o: object): Promise<Adapter | null> } } }).navigator.gpu;
  let adapter: Adapter | null = null;
  try {
    // The adapter tfjs-backend-webgpu will ask for (its WEBGPU_USE_LOW_POWER_GPU flag is off by default).
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch {
    adapter = null;
  }
  if (!adapter) return { found: false, software: false, name: '' };
  const info = adapter.info ?? {};
  const name = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ');
  const software = !!(info.isFallbackAdapter || adapter.isFallbackAdapter) || /swiftshader|llvmpipe|lavapipe|software/i.test(name);
  return { found: true, software, name };
}

/**
 * Candidates in order of preference for this environment. In Node, WebGPU (the optional
 * `webgpu` package, Dawn) comes after CUDA and is taken only on a GPU adapter.
 */
export function defaultBackendOrder(): BackendName[] {
  return isNode ? ['tfjs-node-gpu', 'webgpu', 'tfjs-node', 'wasm', 'cpu'] : ['webgpu', 'webgl', 'wasm', 'cpu'];
}

/**
 * In Node, on the backends whose masks are post-processed in JavaScript (cpu, wasm), starts
 * the mask post-processing's helper threads (sam/mask_rows_workers_node.ts) once.
 */
async function withMaskHelpers(choice: BackendChoice): Promise<BackendChoice> {
  if (isNode && (choice.backend === 'cpu' || choice.backend === 'wasm')) {
    const m = (await import(/* @vite-ignore */ MASK_ROWS_WORKERS_MODULE)) as typeof import('./sam/mask_rows_workers_node.js');
    await m.startMaskRowHelpers();
  }
  return choice;
}

/**
 * Activates the requested backend (or SAM_TFJS_BACKEND, or the best available one) and
 * reports what was chosen. An explicitly requested backend that cannot start is an error.
 */
export async function selectBackend(requested?: BackendName | string): Promise<BackendChoice> {
  const fromEnv = isNode ? process.env.SAM_TFJS_BACKEND : undefined;
  const wanted = requested ?? (fromEnv && fromEnv.length > 0 ? fromEnv : undefined);
  const skipped: string[] = [];
  if (wanted) {
    const known: string[] = ['tfjs-node-gpu', 'tfjs-node', 'tensorflow', 'wasm', 'cpu', 'webgl', 'webgpu'];
    if (!known.includes(wanted)) {
      throw new Error(`unknown backend '${wanted}': expected one of ${known.join(', ')}`);
    }
    const choice = await tryCandidate(wanted as BackendName, skipped);
    if (!choice) throw new Error(`backend '${wanted}' is not available here: ${skipped.join('; ')}`);
    return withMaskHelpers(choice);
  }
  for (const candidate of defaultBackendOrder()) {
    const choice = await tryCandidate(candidate, skipped, true);
    if (choice) return withMaskHelpers(choice);
  }
  throw new Error(`no tfjs backend could start: ${skipped.join('; ')}`);
}
