/**
 * LayerNorm.applyToSum (the two-way transformer's norm of keys + attention output): on wasm
 * the SamAddLayerNorm kernel, bit for bit SamAdd then SamLayerNorm (calling thread and
 * helpers, every column remainder), elsewhere the add then the norm; clear errors; leak-free.
 */
import * as tf from '@tensorflow/tfjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addKernel, addLayerNormKernel, gemmHelperBlocks, gemmHelperThreads, layerNormKernel, setGemmCallerJoins } from '../src/backends/wasm_kernels.js';
import { LayerNorm } from '../src/layers/common/layer_norm.js';
import { TEST_BACKENDS, useBackend } from './helpers/backends.js';
import { sameBits } from './helpers/compare.js';

for (const backend of TEST_BACKENDS) {
  const test = suite(`LayerNorm.applyToSum (${backend})`);
  test.before(() => useBackend(backend));

  test('the norm of the sum, as apply(a + b) gives it; leak-free', async () => {
    const norm = new LayerNorm({ numFeatures: 13, eps: 1e-5 });
    norm.buildFor([null, 13]);
    (norm.getWeights()[0] as tf.Variable).assign(tf.randomNormal([13], 1, 0.5, 'float32', 1));
    (norm.getWeights()[1] as tf.Variable).assign(tf.randomNormal([13], 0, 0.5, 'float32', 2));
    const a = tf.randomNormal([2, 50, 13], 0, 2, 'float32', 3);
    const b = tf.randomNormal([2, 50, 13], 0, 2, 'float32', 4);
    const start = tf.memory().numTensors;
    const got = norm.applyToSum(a, b);
    const want = tf.tidy(() => norm.apply(tf.add(a, b)) as tf.Tensor);
    assert.equal(got.shape, [2, 50, 13]);
    assert.ok(sameBits(got.dataSync() as Float32Array, want.dataSync() as Float32Array), 'differs from apply(a + b)');
    if (backend === 'wasm') {
      const profile = await tf.profile(() => norm.applyToSum(a, b));
      tf.dispose(profile.result as tf.Tensor);
      assert.equal(profile.kernels.map((k) => k.name), ['SamAddLayerNorm']);
    }
    tf.dispose([got, want]);
    assert.is(tf.memory().numTensors, start, 'tensors leaked');
    tf.dispose([a, b]);
    norm.dispose();
  });

  test.run();
}

const onWasm = suite('SamAddLayerNorm (wasm backend)');
onWasm.before(() => useBackend('wasm'));

onWasm('SamAdd then SamLayerNorm bit for bit: the decoder\'s keys, every column remainder, split over the helpers and not', () => {
  const start = tf.memory().numTensors;
  for (const shape of [[1, 4096, 256], [300, 257], [7, 1], [1, 3, 6]]) {
    const c = shape[shape.length - 1];
    const [x, y] = [tf.randomNormal(shape, 0, 2, 'float32', c), tf.randomNormal(shape, 0, 2, 'float32', c + 1)];
    const [w, bias] = [tf.randomNormal([c], 1, 0.5, 'float32', c + 2) as tf.Tensor1D, tf.randomNormal([c], 0, 0.5, 'float32', c + 3) as tf.Tensor1D];
    const want = tf.tidy(() => layerNormKernel(addKernel(x, y), w, bias, 1e-6));
    for (const joins of [true, false]) {
      setGemmCallerJoins(joins);
      const before = gemmHelperBlocks();
      let got: tf.Tensor;
      try {
        got = addLayerNormKernel(x, y, w, bias, 1e-6);
      } finally {
        setGemmCallerJoins(true);
      }
      const what = `${JSON.stringify(shape)}${joins ? '' : ' (helpers only)'}`;
      assert.equal(got.shape, shape, what);
      assert.ok(sameBits(got.dataSync() as Float32Array, want.dataSync() as Float32Array), `${what}: differs from the add then the norm`);
      if (!joins && x.size >= 2 ** 16 && gemmHelperThreads() > 0) assert.ok(gemmHelperBlocks() > before, `${what}: the helpers ran no blocks`);
      got.dispose();
    }
    tf.dispose([x, y, w, bias, want]);
  }
  assert.is(tf.memory().numTensors, start, 'tensors leaked');
});

onWasm('shapes that do not match: clear errors', () => {
  tf.tidy(() => {
    const w = tf.ones([4]) as tf.Tensor1D;
    assert.throws(() => addLayerNormKernel(tf.zeros([2, 4]), tf.zeros([4]), w, w, 1e-5), /x \[2,4\] and y \[4\] must have one shape/);
    assert.throws(() => addLayerNormKernel(tf.zeros([2, 4]), tf.zeros([2, 4]), tf.ones([3]) as tf.Tensor1D, w, 1e-5), /weight and bias its last axis' 4 values each, got \[3\] and \[4\]/);
  });
});

onWasm.run();
