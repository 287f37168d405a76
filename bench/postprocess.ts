/**
 * `npm run build && node dist/bench/postprocess.js [backend]`: post-processing of 3 masks of
 * 256 x 256 low-res logits to a 1500 x 2250 original, thresholded and downloaded, in the two
 * forms predict() uses: tfjs ops (GPU backends) and JavaScript taps (cpu/wasm; their
 * computed rows in WebAssembly SIMD, and without it), with and without the logits. Two
 * inputs: a smooth field, like a real model's masks, and noise, like the random-weight
 * decoder of bench.ts gives (every pixel then sits near an edge and is computed). Median of 9 after 2 warm-ups. Not a test.
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend.js';
import { setWasmKernelsEnabled } from '../src/backends/wasm_kernels.js';
import { postprocessMasks, thresholdMasks } from '../src/sam/postprocess.js';
import { upscaleMasks } from '../src/sam/postprocess_js.js';

const choice = await selectBackend(process.argv[2] ?? 'wasm');
const [lh, lw] = [256, 256];
const inputSize: [number, number] = [683, 1024];
const originalSize: [number, number] = [1500, 2250];

function median(f: () => void): number {
  const times: number[] = [];
  for (let i = 0; i < 11; i++) {
    const start = performance.now();
    f();
    if (i >= 2) times.push(performance.now() - start);
  }
  return times.sort((a, b) => a - b)[times.length >> 1];
}

const smooth = new Float32Array(3 * lh * lw);
for (let m = 0; m < 3; m++) {
  for (let i = 0; i < lh; i++) {
    for (let j = 0; j < lw; j++) {
      smooth[(m * lh + i) * lw + j] = 10 * (1 - Math.hypot(i - 90 - 10 * m, j - 120) / (40 + 20 * m)) + 3 * Math.sin(i / 7) * Math.cos(j / 11);
    }
  }
}
const noise = tf.tidy(() => tf.randomNormal([3 * lh * lw], 0, 4, 'float32', 3).dataSync() as Float32Array);

for (const [name, low] of [['smooth', smooth], ['noise', noise]] as const) {
  const t = tf.tensor4d(low, [1, 3, lh, lw]);
  const viaTfjs = (withLogits: boolean) =>
    median(() => {
      const logits = postprocessMasks(t, inputSize, originalSize, 4 * lh);
      const masks = thresholdMasks(logits);
      masks.dataSync();
      if (withLogits) logits.dataSync();
      tf.dispose([logits, masks]);
    });
  const viaJs = (withLogits: boolean, simd: boolean) => {
    setWasmKernelsEnabled(simd);
    try {
      return median(() => upscaleMasks(low, 3, [lh, lw], inputSize, originalSize, 4 * lh, 0, withLogits));
    } finally {
      setWasmKernelsEnabled(true);
    }
  };
  const js = (simd: boolean) => `${viaJs(false, simd).toFixed(0)} ms (with logits ${viaJs(true, simd).toFixed(0)} ms)`;
  console.log(
    `${choice.backend}, ${name} masks: tfjs ops ${viaTfjs(false).toFixed(0)} ms (with logits ${viaTfjs(true).toFixed(0)} ms), ` +
      `taps with SIMD rows ${js(true)}, taps in JavaScript only ${js(false)}`,
  );
  t.dispose();
}
