/**
 * `npm run build && node dist/bench/wasm_kernels.js`: each SIMD kernel of
 * src/backends/wasm_kernels.ts against the tfjs ops it replaces, on ViT-B / SAM-decoder
 * shapes, on the wasm backend: best and median of 7 calls after 2 warm-ups, and the largest
 * difference between the two results. Not a test; compare within one run.
 */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../src/backend.js';
import {
  batchMatMulKernel,
  gemmHelperThreads,
  geluKernel,
  layerNormKernel,
  matMulPackedKernel,
  packMatMulRhsKernel,
  relPosAddKernel,
  setWasmKernelsEnabled,
  transpose2dKernel,
  wasmKernelsActive,
} from '../src/backends/wasm_kernels.js';
import { geluFromFastOps } from '../src/layers/common/activations.js';
import { LayerNorm } from '../src/layers/common/layer_norm.js';
import { splitAxis0 } from '../src/layers/tensor_utils.js';

const choice = await selectBackend('wasm');
if (!wasmKernelsActive()) throw new Error('the SIMD kernels are not active on this wasm backend');
console.log(choice.provider);

function time(f: () => tf.Tensor): { best: number; median: number; out: tf.Tensor } {
  const times: number[] = [];
  let out = f();
  for (let i = 0; i < 9; i++) {
    out.dispose();
    const start = performance.now();
    out = f(); // wasm runs kernels synchronously: done when f returns
    if (i >= 2) times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return { best: times[0], median: times[3], out };
}

function compare(name: string, ops: () => tf.Tensor, kernel: () => tf.Tensor): void {
  const a = time(ops);
  const b = time(kernel);
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a.out, b.out))).dataSync()[0]);
  const ms = (t: { best: number; median: number }) => `${t.best.toFixed(1)} / ${t.median.toFixed(1)} ms`;
  console.log(`${name.padEnd(44)} tfjs ops ${ms(a).padEnd(18)} kernel ${ms(b).padEnd(18)} max diff ${diff.toExponential(1)}`);
  tf.dispose([a.out, b.out]);
}

const x = tf.randomNormal([256 * 256 * 32], 0, 3, 'float32', 1); // the decoder's last GELU
compare('GELU, 2.1M values', () => geluFromFastOps(x), () => geluKernel(x));
const t = tf.randomNormal([4096, 256], 0, 1, 'float32', 2) as tf.Tensor2D; // decoder keys
compare('transpose [4096, 256]', () => t.transpose([1, 0]), () => transpose2dKernel(t));
const h = tf.randomNormal([4096, 768], 0.3, 2, 'float32', 3);
const ln = new LayerNorm({ numFeatures: 768, eps: 1e-6 });
(ln.apply(h) as tf.Tensor).dispose(); // builds
(ln.getWeights()[0] as tf.Variable).assign(tf.randomNormal([768], 1, 0.2, 'float32', 4));
(ln.getWeights()[1] as tf.Variable).assign(tf.randomNormal([768], 0, 0.2, 'float32', 5));
const [gamma, beta] = ln.getWeights() as tf.Tensor1D[];
/** The layer as it runs without the kernels (tfjs ops). */
const lnOps = () => {
  setWasmKernelsEnabled(false);
  try {
    return ln.apply(h) as tf.Tensor;
  } finally {
    setWasmKernelsEnabled(true);
  }
};
compare('layer norm [4096, 768]', lnOps, () => layerNormKernel(h, gamma, beta, 1e-6));
const s = tf.randomNormal([4096, 4096], 0, 1, 'float32', 6); // one head of a global block
const rh = tf.randomNormal([4096, 64], 0, 1, 'float32', 7);
const rw = tf.randomNormal([4096, 64], 0, 1, 'float32', 8);
compare(
  'relative-position adds [4096, 64, 64]',
  () => tf.tidy(() => tf.add(tf.add(s.reshape([4096, 64, 64]), rh.reshape([4096, 64, 1])), rw.reshape([4096, 1, 64])).reshape([4096, 4096])),
  () => relPosAddKernel(s, rh, rw),
);
// One head of a windowed block: 25 windows of 14 x 14 tokens, head dim 64 (the tfjs-op form
// as the layer ran it before: the windows split apart, one XNNPACK matMul each, joined).
const q = tf.randomNormal([25, 196, 64], 0, 1, 'float32', 9) as tf.Tensor3D;
const kT = tf.randomNormal([25, 64, 196], 0, 1, 'float32', 10) as tf.Tensor3D;
compare(
  'q kT of 25 windows [196, 64] x [64, 196]',
  () =>
    tf.tidy(() => {
      const ks = splitAxis0(kT, 25);
      return tf.concat(splitAxis0(q, 25).map((qi, i) => tf.matMul(qi.reshape([196, 64]), ks[i].reshape([64, 196]))), 0);
    }),
  () => batchMatMulKernel(q, kT).reshape([25 * 196, 196]),
);
// The SIMD matMul (SamMatMul) against tfjs-wasm's XNNPACK matMul, the right-hand side packed
// ahead (as the layers keep their weights packed), on the helper threads selectBackend started.
console.log(`SIMD matMul: the calling thread and ${gemmHelperThreads()} helper thread(s)`);
// The decoder's attention products multiply activations: their right-hand side is packed per
// call, and that is timed with them. The kernel is called directly here, whatever the size.
for (const [m, k, n, what, perCall] of [
  [4096, 768, 3072, 'MLP lin1', false],
  [4096, 3072, 768, 'MLP lin2', false],
  [4096, 768, 64, 'a head\'s projection', false],
  [4096, 256, 256, 'decoder upscaling conv', false],
  [16384, 64, 128, 'decoder second upscaling conv', false],
  [4096, 256, 56, 'decoder folded attention', true],
  [4096, 56, 256, 'decoder folded attention out', true],
  [256, 256, 256, 'at 2^24', false],
  [4096, 64, 128, 'global attention\'s relative-position product, padded', false],
  [4900, 64, 32, 'windows\' relative-position product, padded', false],
  [7, 256, 2048, 'decoder token MLP', false],
] as const) {
  const a = tf.randomNormal([m, k], 0, 1, 'float32', 11) as tf.Tensor2D;
  const b = tf.randomNormal([k, n], 0, 1, 'float32', 12) as tf.Tensor2D;
  const packed = packMatMulRhsKernel(b);
  const ours = perCall ? () => tf.tidy(() => matMulPackedKernel(a, packMatMulRhsKernel(b))) : () => matMulPackedKernel(a, packed);
  compare(`matMul [${m}, ${k}] x [${k}, ${n}] (${what}${perCall ? ', packed per call' : ''})`, () => tf.matMul(a, b), ours);
  tf.dispose([a, b, packed]);
}
tf.dispose([x, t, h, s, rh, rw, q, kT]);
ln.dispose();
