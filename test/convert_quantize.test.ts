/**
 * The quantizers against tfjs's own decoder (`tf.io.decodeWeights`) and the rules of
 * tfjs-converter's quantization.py: float16 round-to-nearest-even, uint8 affine with zero exact.
 */
import * as tf from '@tensorflow/tfjs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { float16BitsToNumber } from '../converter/torch_types.js';
import { encodeWeight, numberToFloat16Bits, QuantizationError, quantizeFloat16, quantizeUint8, roundHalfEven } from '../converter/quantize.js';
import { useBackend } from './helpers/backends.js';

test.before(() => useBackend('cpu'));

/** Decodes bytes the way every tfjs loader does. */
function decode(bytes: Uint8Array, shape: number[], quantization?: object): Float32Array {
  const buffer = bytes.slice().buffer as ArrayBuffer;
  const named = tf.io.decodeWeights(buffer, [{ name: 'w', shape, dtype: 'float32', ...(quantization ? { quantization: quantization as never } : {}) }]);
  const out = named.w.dataSync() as Float32Array;
  named.w.dispose();
  return out;
}

test('roundHalfEven is numpy.round', () => {
  assert.equal([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, 2.5001, 3, -3].map(roundHalfEven), [0, 2, 2, -0, -2, -2, 2, 3, 3, -3]);
});

test('float16: exact for every half value, ties to even, overflow and tiny values as IEEE says', () => {
  for (let h = 0; h < 0x10000; h++) {
    const v = float16BitsToNumber(h);
    if (Number.isNaN(v)) assert.ok((numberToFloat16Bits(v) & 0x7fff) > 0x7c00);
    else if (numberToFloat16Bits(v) !== h) assert.unreachable(`0x${h.toString(16)} (${v}) does not round-trip`);
  }
  const cases: [number, number][] = [
    [1, 0x3c00],
    [1 + 2 ** -11, 0x3c00], // tie -> even
    [1 + 3 * 2 ** -11, 0x3c02], // tie -> even (up)
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // above the tie
    [65504, 0x7bff],
    [65519.99, 0x7bff],
    [65520, 0x7c00], // rounds to infinity
    [2 ** -24, 0x0001],
    [2 ** -25, 0x0000], // tie with zero -> even (zero)
    [1.5 * 2 ** -25, 0x0001],
    [2 ** -14 - 2 ** -25, 0x0400], // largest subnormal + half ulp: ties up to the smallest normal (even)
    [-2, 0xc000],
    [-0, 0x8000],
    [Infinity, 0x7c00],
  ];
  for (const [v, h] of cases) assert.is(numberToFloat16Bits(v), h, `${v}`);
});

test('float16 bytes decode with tf.io.decodeWeights to the rounded values', () => {
  const values = Float32Array.from([0, 1, -1, 0.1, 3.14159, -1234.5, 6e-5, 1e-8, 65504]);
  const { bytes, quantization } = encodeWeight(values, 'float16');
  assert.equal(quantization, { dtype: 'float16', original_dtype: 'float32' });
  assert.is(bytes.length, values.length * 2);
  const back = decode(bytes, [values.length], quantization);
  values.forEach((v, i) => assert.is(back[i], Math.fround(float16BitsToNumber(numberToFloat16Bits(v))), `${v}`));
  assert.throws(() => quantizeFloat16(Float32Array.from([1e5]), 'big.weight'), (e: Error) => e instanceof QuantizationError && /big\.weight.*float16 range/.test(e.message));
});

test('uint8: the nudged range puts zero exactly on the grid, values within half a step', () => {
  const values = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i * 0.37) * 0.8 + 0.05 * Math.cos(i));
  values[17] = 0;
  const { data, min, scale } = quantizeUint8(values);
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  assert.ok(Math.abs(scale - (hi - lo) / 255) < 1e-15);
  const zeroPoint = -min / scale;
  assert.ok(Math.abs(zeroPoint - Math.round(zeroPoint)) < 1e-9, 'zero point is an integer');
  assert.is(data[17] * scale + min, 0);
  const back = decode(data, [values.length], { dtype: 'uint8', min, scale });
  for (let i = 0; i < values.length; i++) {
    assert.is(back[i], Math.fround(data[i] * scale + min));
    assert.ok(Math.abs(back[i] - values[i]) <= scale / 2 + 1e-7, `${i}: ${values[i]} -> ${back[i]}`);
  }
  assert.is(back[17], 0);
});

test('uint8: ranges without zero are not nudged; a constant tensor is zeros with scale 1', () => {
  const positive = quantizeUint8(Float32Array.from([1, 2, 3, 4.5]));
  assert.is(positive.min, 1);
  assert.is(positive.scale, 3.5 / 255);
  assert.equal([...positive.data], [0, 73, 146, 255]);
  const negative = quantizeUint8(Float32Array.from([-4, -3, -2]));
  assert.is(negative.min, -4);
  assert.equal([...negative.data], [0, 128, 255]); // 127.5 -> 128 (half to even)
  const constant = quantizeUint8(Float32Array.from([0.25, 0.25, 0.25]));
  assert.equal({ min: constant.min, scale: constant.scale, data: [...constant.data] }, { min: 0.25, scale: 1, data: [0, 0, 0] });
  assert.equal([...decode(constant.data, [3], { dtype: 'uint8', min: constant.min, scale: constant.scale })], [0.25, 0.25, 0.25]);
  assert.throws(() => quantizeUint8(Float32Array.from([1, NaN]), 'bad'), /bad: cannot quantize a non-finite value/);
});

test('float32 is passed through byte for byte', () => {
  const values = Float32Array.from([1.5, -0, NaN, 3e-42]);
  const { bytes, quantization } = encodeWeight(values, 'float32');
  assert.is(quantization, undefined);
  assert.equal([...new Uint8Array(values.buffer)], [...bytes]);
  assert.throws(() => encodeWeight(values, 'int8' as never), /unknown weights dtype 'int8'/);
});

test.run();
