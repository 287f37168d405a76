/**
 * Multithreaded wasm in Node.
 *
 * tfjs-backend-wasm ships a threaded SIMD build (XNNPACK on a pthreadpool), but switches
 * it off in Node (tfjs issue #3830) and, when on, sizes its pool to half the logical
 * cores (assuming two hardware threads per core), which is one thread on a 2-vCPU
 * machine. Emscripten's pthreads do work in Node (worker_threads), so this module starts
 * the threaded build itself and registers it as the 'wasm' backend:
 *
 * - the worker script tfjs embeds as a string is written once to a temporary file, since
 *   Node workers cannot start from the Blob URL tfjs uses in browsers;
 * - the main script is given to the workers as a file path (they `importScripts` it);
 * - the core count the C++ side reads at start-up is reported as twice the wanted number
 *   of threads, so that its halving yields exactly that number (at most 8, the pool size
 *   the build pre-creates).
 *
 * Everything else (kernels, memory, the BackendWasm class) is tfjs's own. Opt out with
 * SAM_TFJS_WASM_THREADS=1.
 *
 * Where this library's SIMD kernels run (wasm_kernels.ts), the threads are theirs: tfjs's
 * pool keeps only the calling thread and the others are the kernels' helper threads
 * (gemm_workers_node.ts), which run the large matMuls and elementwise kernels. With both
 * pools, XNNPACK's workers, which spin-wait between ops, held the second core the helpers
 * needed between the decoder's many small tfjs ops (see planWasmThreads).
 */
import * as tf from '@tensorflow/tfjs';
import { BackendWasm, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { existsSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { startGemmHelpers } from './gemm_workers_node.js';
import { relaxedSimdAvailable, sharedKernelsAvailable } from './wasm_kernels.js';

/** The emscripten module as tfjs's BackendWasm expects it (with the `tfjs` bridge). */
type WasmModule = Record<string, any>;

const MAX_THREADS = 8;

function wasmPackageDir(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
}

/** Writes tfjs's embedded pthread worker script to a file Node's Worker can load. */
function workerScriptPath(dir: string): string {
  const require = createRequire(import.meta.url);
  const { wasmWorkerContents } = require(join(dir, 'wasm-out/tfjs-backend-wasm-threaded-simd.worker.js')) as { wasmWorkerContents: string };
  // tfjs escapes newlines the same way before making its Blob (they sit inside string literals).
  const source = wasmWorkerContents.replace(/\n/g, '\\n');
  const version = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version as string;
  const path = join(tmpdir(), `sam-tfjs-wasm-worker-${version}-${source.length}.cjs`);
  if (!existsSync(path) || readFileSync(path, 'utf8') !== source) {
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, source);
    renameSync(tmp, path);
  }
  return path;
}

/** Number of threads to use: SAM_TFJS_WASM_THREADS, else the logical cores (max 8). */
export function defaultWasmThreads(): number {
  const env = Number(process.env.SAM_TFJS_WASM_THREADS);
  if (Number.isInteger(env) && env >= 1) return Math.min(env, MAX_THREADS);
  return Math.max(1, Math.min(cpus().length, MAX_THREADS));
}

/**
 * How the wasm threads are used: `threads` in all (defaultWasmThreads), of which `pool` run
 * tfjs-wasm's ops (its XNNPACK pthreadpool, the calling thread included) and `helpers` are
 * the SIMD kernels' helper threads.
 */
export interface WasmThreadPlan {
  threads: number;
  pool: number;
  helpers: number;
}

/**
 * With the SIMD kernels (SIMD, not switched off) and 2+ threads: tfjs's pool keeps only the
 * calling thread and the rest are helpers (SAM_TFJS_GEMM_THREADS to set their number), since
 * the kernels run every product above 2^21 multiply-adds and the large elementwise ops,
 * threaded. Against both pools (tfjs's of 2, 1 helper), on this 2-core machine (`npm run
 * bench -- --runs 1`, alternately, twice, fused multiply-adds): decoder per prompt 125.3 and
 * 125.3 ms (median of 10) against 151.5 and 153.1; encoder 19.8 and 20.8 s against 19.5 and
 * 24.5. Without the kernels, or with no helpers, tfjs's pool has every thread.
 */
export function planWasmThreads(threads = defaultWasmThreads()): WasmThreadPlan {
  if (threads <= 1 || !sharedKernelsAvailable()) return { threads, pool: threads, helpers: 0 };
  const helpers = Math.min(gemmHelpersWanted(threads), MAX_THREADS - 1);
  return { threads, pool: helpers > 0 ? 1 : threads, helpers };
}

async function loadThreadedModule(threads: number): Promise<WasmModule> {
  const dir = wasmPackageDir();
  const require = createRequire(import.meta.url);
  const mainScript = join(dir, 'wasm-out/tfjs-backend-wasm-threaded-simd.js');
  const factory = require(mainScript) as (config: object) => Promise<WasmModule>;
  const binary = readFileSync(join(dir, 'dist/tfjs-backend-wasm-threaded-simd.wasm'));
  const workerPath = workerScriptPath(dir);
  const module = await factory({
    mainScriptUrlOrBlob: mainScript,
    locateFile: (path: string, prefix: string) => (path.endsWith('.worker.js') ? workerPath : prefix + path),
    instantiateWasm: (info: { env: Record<string, unknown> }, receive: (instance: WebAssembly.Instance, module: WebAssembly.Module) => void) => {
      info.env.emscripten_num_logical_cores = () => 2 * threads;
      WebAssembly.instantiate(binary, info as WebAssembly.Imports).then((r) => receive(r.instance, r.module));
      return {};
    },
  });
  module.tfjs = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
  return module;
}

let stockFactory: { factory: () => unknown; priority: number } | null = null;

/**
 * Registers the threaded build as the 'wasm' backend (before it is first used), its pool
 * sized by `plan` (planWasmThreads). Returns false when it cannot run here (no
 * SharedArrayBuffer, one thread wanted, or wasm already started), leaving the stock
 * single-threaded backend in place.
 */
export function registerThreadedWasm(plan: WasmThreadPlan = planWasmThreads()): boolean {
  if (typeof SharedArrayBuffer === 'undefined' || plan.threads <= 1) return false;
  if (stockFactory) return true;
  const registry = (tf.engine() as unknown as { registryFactory: Record<string, { factory: () => unknown; priority: number }> }).registryFactory;
  if (!registry?.wasm || (tf.engine().backendNames().includes('wasm') && tf.getBackend() === 'wasm')) return false;
  stockFactory = registry.wasm;
  const pool = Math.max(1, plan.pool);
  setThreadsCount(pool);
  tf.removeBackend('wasm');
  tf.registerBackend(
    'wasm',
    async () => {
      const module = await loadThreadedModule(pool);
      const backend = new BackendWasm(module as ConstructorParameters<typeof BackendWasm>[0]);
      // The pool's threads run for the life of the backend, and emscripten keeps a Node
      // worker referenced while its thread runs, which would keep the process alive after
      // the program is done. They only ever work for synchronous calls of the main thread,
      // so letting Node exit past them is safe.
      const pthreads = module.PThread as { runningWorkers: Array<{ unref?: () => void }>; unusedWorkers: Array<{ unref?: () => void }> };
      for (const worker of [...pthreads.runningWorkers, ...pthreads.unusedWorkers]) worker.unref?.();
      return backend;
    },
    stockFactory.priority,
  );
  return true;
}

/** Puts tfjs's own single-threaded wasm backend back (e.g. when the threaded one failed to start). */
export function restoreStockWasm(): void {
  if (!stockFactory) return;
  tf.removeBackend('wasm');
  tf.registerBackend('wasm', stockFactory.factory as () => tf.KernelBackend, stockFactory.priority);
  stockFactory = null;
}

/**
 * Helper threads for the SIMD kernels (gemm_workers_node.ts) out of `threads`:
 * SAM_TFJS_GEMM_THREADS, else one fewer (the calling thread takes a share too).
 */
function gemmHelpersWanted(threads: number): number {
  const env = process.env.SAM_TFJS_GEMM_THREADS;
  if (env !== undefined && env !== '' && Number.isInteger(Number(env)) && Number(env) >= 0) return Math.min(Number(env), MAX_THREADS - 1);
  return Math.max(0, threads - 1);
}

/** Starts the SIMD kernels' helper threads on the active wasm backend; resolves to how many run. */
export async function startWasmGemmHelpers(count = planWasmThreads().helpers): Promise<number> {
  if (tf.getBackend() !== 'wasm') return 0;
  return startGemmHelpers(tf.backend(), count);
}

/**
 * Turns on WebAssembly relaxed SIMD for modules compiled from now on, for the kernels' fused
 * matMul (unless SAM_TFJS_WASM_FMA=0). Node 22+ has it; Node 20 keeps it behind V8's
 * --experimental-wasm-relaxed-simd, which this sets for the whole process (as that command-line
 * flag would). Returns whether relaxed SIMD is then available: false, never an error, on a
 * runtime whose setFlagsFromString throws (not every Node-compatible runtime has it).
 */
export function enableRelaxedSimd(): boolean {
  if (relaxedSimdAvailable()) return true;
  try {
    setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    return false;
  }
  return relaxedSimdAvailable();
}

/** Threads the active wasm backend runs on (1 for the stock build); see wasm_kernels.ts. */
export { wasmThreadsInUse } from './wasm_kernels.js';
