/**
 * Window partition and un-partition of the ViT blocks (`window_partition`,
 * `window_unpartition` in the reference).
 */
import * as tf from '@tensorflow/tfjs';
import { wasmKernelsActive, windowPartitionKernel, windowUnpartitionKernel } from '../../backends/wasm_kernels.js';

/**
 * Pads x [B, H, W, C] with zeros at the bottom/right to multiples of `windowSize` and cuts it
 * into non-overlapping windows, row-major over windows: [B * nH * nW, ws, ws, C].
 * Returns the windows and the padded size [Hp, Wp].
 */
export function windowPartition(x: tf.Tensor4D, windowSize: number): { windows: tf.Tensor4D; paddedHW: [number, number] } {
  const [b, h, w, c] = x.shape;
  const padH = (windowSize - (h % windowSize)) % windowSize;
  const padW = (windowSize - (w % windowSize)) % windowSize;
  const hp = h + padH;
  const wp = w + padW;
  // On wasm one pass of memory copies (tfjs-wasm pads, then transposes a 6-D view, ~3x slower).
  if (x.dtype === 'float32' && wasmKernelsActive()) return { windows: windowPartitionKernel(x, windowSize), paddedHW: [hp, wp] };
  const windows = tf.tidy(() => {
    const padded = padH > 0 || padW > 0 ? tf.pad(x, [[0, 0], [0, padH], [0, padW], [0, 0]]) : x;
    return padded
      .reshape([b, hp / windowSize, windowSize, wp / windowSize, windowSize, c])
      .transpose([0, 1, 3, 2, 4, 5])
      .reshape([-1, windowSize, windowSize, c]) as tf.Tensor4D;
  });
  return { windows, paddedHW: [hp, wp] };
}

/**
 * Inverse of windowPartition: windows [B * nH * nW, ws, ws, C] back to [B, H, W, C], with
 * the padding cropped away.
 */
export function windowUnpartition(
  windows: tf.Tensor4D,
  windowSize: number,
  paddedHW: [number, number],
  hw: [number, number],
): tf.Tensor4D {
  if (windows.dtype === 'float32' && wasmKernelsActive() && paddedHW[0] === Math.ceil(hw[0] / windowSize) * windowSize && paddedHW[1] === Math.ceil(hw[1] / windowSize) * windowSize) {
    return windowUnpartitionKernel(windows, windowSize, hw); // one pass of memory copies, the crop included
  }
  return tf.tidy(() => {
    const [hp, wp] = paddedHW;
    const [h, w] = hw;
    const c = windows.shape[3];
    const nh = hp / windowSize;
    const nw = wp / windowSize;
    const b = windows.shape[0] / (nh * nw);
    const x = windows
      .reshape([b, nh, nw, windowSize, windowSize, c])
      .transpose([0, 1, 3, 2, 4, 5])
      .reshape([b, hp, wp, c]) as tf.Tensor4D;
    return hp > h || wp > w ? tf.slice(x, [0, 0, 0, 0], [b, h, w, c]) : x;
  });
}
