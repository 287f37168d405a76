/**
 * The page of bench/browser_wasm.ts (bundled by it): starts tfjs-wasm either as tfjs does by
 * itself (`?mode=tfjs`) or through selectBackend (`?mode=library`, which sizes the thread
 * pool, src/backends/wasm_threads_browser.ts), then times a [4096, 768] x [768, 768] matMul
 * (a ViT-B projection) and leaves the result in `globalThis.benchResult`.
 */
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { selectBackend } from '../src/backend.js';

const g = globalThis as unknown as { benchResult?: object; location: Location; crossOriginIsolated: boolean };

async function main(): Promise<object> {
  setWasmPaths('/wasm/');
  const mode = new URLSearchParams(g.location.search).get('mode');
  const provider = mode === 'library' ? (await selectBackend('wasm')).provider : ((await tf.setBackend('wasm')), 'tf.setBackend');
  const a = tf.randomNormal([4096, 768]) as tf.Tensor2D;
  const b = tf.randomNormal([768, 768]) as tf.Tensor2D;
  const times: number[] = [];
  for (let i = 0; i < 6; i++) {
    const start = performance.now();
    const y = tf.matMul(a, b);
    y.dataSync();
    times.push(performance.now() - start);
    y.dispose();
  }
  const best = Math.min(...times.slice(1)); // the first run packs the weights
  return {
    mode,
    provider,
    threads: getThreadsCount(),
    crossOriginIsolated: g.crossOriginIsolated,
    logicalCores: navigator.hardwareConcurrency,
    bestMs: +best.toFixed(1),
    gflopPerSecond: +((2 * 4096 * 768 * 768) / best / 1e6).toFixed(1),
  };
}

main().then(
  (r) => (g.benchResult = r),
  (e: Error) => (g.benchResult = { error: e.message }),
);
