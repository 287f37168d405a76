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
 */
import * as tf from '@tensorflow/tfjs';
import { BackendWasm, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { existsSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { startGemmHelpers } from './gemm_workers_node.js';
import { relaxedSimdAvailable, wasmThreadsInUse as wasmThreadsInUseNow } from './wasm_kernels.js';

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
 * Registers the threaded build as the 'wasm' backend (before it is first used). Returns
 * false when it cannot run here (no SharedArrayBuffer, one thread wanted, or wasm already
 * started), leaving the stock single-threaded backend in place.
 */
export function registerThreadedWasm(threads = defaultWasmThreads()): boolean {
  if (typeof SharedArrayBuffer === 'undefined' || threads <= 1) return false;
  if (stockFactory) return true;
  const registry = (tf.engine() as unknown as { registryFactory: Record<string, { factory: () => unknown; priority: number }> }).registryFactory;
  if (!registry?.wasm || (tf.engine().backendNames().includes('wasm') && tf.getBackend() === 'wasm')) return false;
  stockFactory = registry.wasm;
  setThreadsCount(threads);
  tf.removeBackend('wasm');
  tf.registerBackend(
    'wasm',
    async () => {
      const module = await loadThreadedModule(threads);
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
 * Helper threads for the SIMD matMul kernel (gemm_workers_node.ts): SAM_TFJS_GEMM_THREADS,
 * else one fewer than the wasm threads (the calling thread takes a share too).
 */
export function defaultGemmHelpers(): number {
  const env = process.env.SAM_TFJS_GEMM_THREADS;
  if (env !== undefined && env !== '' && Number.isInteger(Number(env)) && Number(env) >= 0) return Math.min(Number(env), MAX_THREADS - 1);
  return Math.max(0, wasmThreadsInUseNow() - 1);
}

/** Starts the SIMD matMul's helper threads on the active wasm backend; resolves to how many run. */
export async function startWasmGemmHelpers(count = defaultGemmHelpers()): Promise<number> {
  if (tf.getBackend() !== 'wasm') return 0;
  return startGemmHelpers(tf.backend(), count);
}

/**
 * Turns on WebAssembly relaxed SIMD for modules compiled from now on, for the kernels' fused
 * matMul (SAM_TFJS_WASM_FMA=1). Node 22+ has it; Node 20 keeps it behind V8's
 * --experimental-wasm-relaxed-simd, which this sets for the whole process (as that command-line
 * flag would). Returns whether relaxed SIMD is then available.
 */
export function enableRelaxedSimd(): boolean {
  if (!relaxedSimdAvailable()) setFlagsFromString('--experimental-wasm-relaxed-simd');
  return relaxedSimdAvailable();
}

/** Threads the active wasm backend runs on (1 for the stock build); see wasm_kernels.ts. */
export { wasmThreadsInUse } from './wasm_kernels.js';
