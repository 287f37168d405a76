/**
 * What the kernels of the GPU backends share (webgpu_kernels.ts, webgl_kernels.ts): their
 * switch and the float literals of their shaders; and for the layer norms the checks of their
 * inputs, the empty case, and the registration of `SamLayerNorm` and `SamAddLayerNorm` (the
 * names, inputs and attributes of the wasm kernels) for a backend. Each backend brings only
 * its programs.
 */
import * as tf from '@tensorflow/tfjs';

/** On by default; off with `envVar`=0 or `set(false)`; active only on `backendName`. */
export interface KernelSwitch {
  set(on: boolean): void;
  active(): boolean;
}

export function kernelSwitch(backendName: string, envVar: string): KernelSwitch {
  let enabled = (typeof process !== 'undefined' ? process.env?.[envVar] : undefined) !== '0';
  return {
    set: (on) => {
      enabled = on;
    },
    active: () => enabled && tf.getBackend() === backendName,
  };
}

/** A float32 constant as GLSL and WGSL read it (a decimal point or exponent, so never an integer). */
export function shaderFloat(v: number): string {
  const s = String(Math.fround(v));
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/** A backend's layer norm of x (+ y) over its last axis, x holding `rows` rows of `cols` (both > 0) values. */
export type RowsLayerNorm<B> = (backend: B, x: tf.TensorInfo, y: tf.TensorInfo | null, weight: tf.TensorInfo, bias: tf.TensorInfo, eps: number, rows: number, cols: number) => tf.TensorInfo;

/** The part of a GPU backend the kernels' registrations use: their empty results. */
export interface MakesTensorInfo {
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

const json = (shape: number[]) => JSON.stringify(shape);

/** Registers `SamLayerNorm` and `SamAddLayerNorm` for `backendName`, run by `run` once their inputs are checked. */
export function registerLayerNormKernels<B extends MakesTensorInfo>(backendName: string, run: RowsLayerNorm<B>): void {
  const kernel = (name: string, withY: boolean) => {
    if (tf.getKernel(name, backendName)) return; // a second copy of this module
    const kernelFunc = ({ inputs, backend, attrs }: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo => {
      const [x, weight, bias] = [inputs.x!, inputs.weight!, inputs.bias!];
      const y = withY ? inputs.y! : null;
      const all = y ? [x, y, weight, bias] : [x, weight, bias];
      if (all.some((t) => t.dtype !== 'float32')) throw new Error(`${name}: expected float32 tensors, got ${all.map((t) => t.dtype).join(', ')}`);
      const cols = x.shape[x.shape.length - 1] ?? 0;
      const size = tf.util.sizeFromShape;
      if (x.shape.length === 0 || (y && json(y.shape) !== json(x.shape)) || size(weight.shape) !== cols || size(bias.shape) !== cols) {
        throw new Error(`${name}: x ${json(x.shape)}${y ? ` and y ${json(y.shape)} (one shape)` : ''} needs weight and bias of its last axis' ${cols} values each, got ${json(weight.shape)} and ${json(bias.shape)}`);
      }
      const rows = cols > 0 ? size(x.shape) / cols : 0;
      if (rows * cols === 0) return (backend as B).makeTensorInfo(x.shape, 'float32', new Float32Array(0));
      return run(backend as B, x, y, weight, bias, attrs!.eps as number, rows, cols);
    };
    tf.registerKernel({ kernelName: name, backendName, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
  };
  kernel('SamLayerNorm', false);
  kernel('SamAddLayerNorm', true);
}
