/**
 * Multithreaded wasm in browsers.
 *
 * tfjs-backend-wasm runs its threaded SIMD build only where the page (or worker) is
 * cross-origin isolated, i.e. served with
 *   Cross-Origin-Opener-Policy: same-origin
 *   Cross-Origin-Embedder-Policy: require-corp
 * (SharedArrayBuffer exists only there; the demo's server sends both). It then sizes its
 * thread pool to half the logical cores, assuming two hardware threads per core: one thread
 * on a 2-core machine, two on a 4-core laptop. On such small machines (at most
 * SMALL_MACHINE_CORES logical cores) this module asks for one thread per logical core
 * instead; larger machines keep tfjs's choice. It must run before the wasm backend starts
 * (selectBackend calls it).
 */
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { wasmThreadsInUse } from './wasm_kernels.js';

export const SMALL_MACHINE_CORES = 4;

/** Whether a start has the doubled core count in place (two overlapping starts must not double it twice). */
let shadowing = false;

interface BrowserGlobals {
  crossOriginIsolated?: boolean;
  navigator?: { hardwareConcurrency?: number };
}

/**
 * Prepares tfjs-wasm's thread count for this browser before the backend starts, and returns
 * a function to call once it has started (or null where tfjs's default stands: not isolated,
 * so no threads at all; or a large machine, half its cores).
 *
 * The threaded build's C++ side sizes its pool from the logical core count it reads at start
 * (halved), whatever setThreadsCount asked for, and reads it from
 * navigator.hardwareConcurrency. So for the start only (tfjs-wasm's download and
 * instantiation), that property reads twice the cores (an own property shadowing the
 * prototype's getter); the returned function puts back what was there.
 */
export function configureBrowserWasmThreads(
  g: BrowserGlobals = globalThis as BrowserGlobals,
  setThreads: (n: number) => void = setThreadsCount,
): (() => void) | null {
  if (!g.crossOriginIsolated || typeof SharedArrayBuffer === 'undefined' || !g.navigator) return null;
  const nav = g.navigator;
  const cores = nav.hardwareConcurrency ?? 0;
  if (cores < 2 || cores > SMALL_MACHINE_CORES) return null;
  if (shadowing) return null; // another start is under way and has already asked
  setThreads(cores);
  const own = Object.getOwnPropertyDescriptor(nav, 'hardwareConcurrency'); // a page's own shim, if any
  try {
    Object.defineProperty(nav, 'hardwareConcurrency', { value: 2 * cores, configurable: true });
  } catch {
    return null; // not redefinable here: tfjs's default stands
  }
  shadowing = true;
  return () => {
    if (own) Object.defineProperty(nav, 'hardwareConcurrency', own);
    else delete (nav as { hardwareConcurrency?: number }).hardwareConcurrency;
    shadowing = false;
  };
}

/** What the started wasm backend runs on, for BackendChoice.provider. */
export function browserWasmProvider(g: BrowserGlobals = globalThis as BrowserGlobals): string {
  if (!g.crossOriginIsolated) return '@tensorflow/tfjs-backend-wasm (1 thread: the page is not cross-origin isolated)';
  const threads = wasmThreadsInUse();
  return `@tensorflow/tfjs-backend-wasm (${threads} thread${threads === 1 ? '' : 's'})`;
}
