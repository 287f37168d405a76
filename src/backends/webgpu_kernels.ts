/**
 * Kernels of this library on tfjs's WebGPU backend (in browsers, and in Node through Dawn):
 * `SamLayerNorm` and `SamAddLayerNorm`, the same kernels (names, inputs, attributes) as on
 * wasm (wasm_kernels.ts), here as one WGSL compute pass each (registered, checked and
 * switched as on WebGL: gpu_layer_norm.ts), `SamSinCos`, the positional encodings' sin and
 * cos (gpu_sin_cos.ts), one pass for ~40 dispatches, `SamGelu` (gpu_gelu.ts), one for 5, and
 * `SamRelPosSoftmax` (gpu_rel_pos_softmax.ts), the encoder's attention probabilities with
 * their relative-position terms, one for 6.
 *
 * On GPU backends a `predict` is bound by tfjs dispatching kernels from JavaScript, not by
 * the GPU (see docs/performance.md): a layer norm from tfjs ops is 9
 * dispatches (mean, subtract, square, mean, add, rsqrt, 2 multiplies, add), ~90 of a ViT-B
 * decode's and ~230 of an encoder pass's. Here each is one.
 *
 * The program follows tfjs-backend-webgpu's `WebGPUProgram` (its public type): tfjs writes the
 * shader's bindings (an array per input, named as `variableNames`), the uniforms and
 * `setOutputAtIndex`; `getUserCode` is the body. One workgroup normalises one row: its
 * threads sum the row's values, then the squares of their distances to the mean (the same
 * two passes as the tfjs-op form: mean, then mean of squared centred values), in a tree over
 * the workgroup's shared memory; then each thread writes its values.
 */
import * as tf from '@tensorflow/tfjs';
import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import { kernelSwitch, registerLayerNormKernels, shaderFloat as wgslFloat } from './gpu_layer_norm.js';
import { GELU_ERF, registerGeluKernel } from './gpu_gelu.js';
import { registerSinCosKernel, SIN_COS } from './gpu_sin_cos.js';
import { registerRelPosSoftmaxKernel, type RelPosSoftmaxSizes } from './gpu_rel_pos_softmax.js';

/** Threads of a row's workgroup. */
const WORKGROUP = 64;
/** WebGPU's guaranteed maximum of workgroups along one dispatch dimension. */
const MAX_WORKGROUPS_PER_DIM = 65535;
let rowsPerDispatchDim = MAX_WORKGROUPS_PER_DIM;

/**
 * For tests: the rows (workgroups) past which a layer norm's or SamRelPosSoftmax's dispatch
 * wraps into its y dimension (null: WebGPU's 65535), so that the wrap runs on a small input
 * (on SwiftShader a layer norm of 70000 rows takes ~15 s a call).
 */
export function setLayerNormRowsPerDispatchDim(rows: number | null): void {
  rowsPerDispatchDim = rows ?? MAX_WORKGROUPS_PER_DIM;
}

interface WebGpuBackendLike {
  runWebGPUProgram(program: WebGPUProgram, inputs: tf.TensorInfo[], outputDtype: tf.DataType, uniforms?: Array<{ type: string; data: number[] }>): tf.TensorInfo;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

const kernels = kernelSwitch('webgpu', 'SAM_TFJS_WEBGPU_KERNELS');

/**
 * Switches the WebGPU kernels off (the layers then use tfjs ops) or back on (on by default,
 * off with SAM_TFJS_WEBGPU_KERNELS=0); for comparisons.
 */
export function setWebGpuKernelsEnabled(on: boolean): void {
  kernels.set(on);
}

/** Whether the layers use these kernels: on the webgpu backend, unless switched off. */
export function webgpuKernelsActive(): boolean {
  return kernels.active();
}

/**
 * Layer norm of each row of `src` (plus `addend`'s row, when `withAddend`) over its `cols`
 * values: ((v - mean) * rsqrt(var + eps)) * gamma + beta, var the biased variance. Output
 * [rows, cols]; rows over 65535 workgroups wrap into the dispatch's y dimension.
 */
class LayerNormProgram implements WebGPUProgram {
  readonly variableNames: string[];
  readonly outputShape: number[];
  readonly shaderKey: string;
  readonly dispatchLayout = { x: [0, 1] };
  readonly dispatch: [number, number, number];
  readonly workgroupSize: [number, number, number] = [WORKGROUP, 1, 1];
  readonly uniforms = 'eps : f32,';

  constructor(
    rows: number,
    cols: number,
    private readonly withAddend: boolean,
  ) {
    this.variableNames = withAddend ? ['src', 'addend', 'gamma', 'beta'] : ['src', 'gamma', 'beta'];
    this.outputShape = [rows, cols];
    const perDim = rowsPerDispatchDim;
    this.dispatch = rows <= perDim ? [rows, 1, 1] : [perDim, Math.ceil(rows / perDim), 1];
    this.shaderKey = `sam_layer_norm_${withAddend ? 'sum' : 'one'}`;
  }

  getUserCode(): string {
    const value = (at: string) => (this.withAddend ? `(src[${at}] + addend[${at}])` : `src[${at}]`);
    // Barriers stay in uniform control flow: rows past the last (the y dimension's
    // remainder) run the loops with nothing to do.
    return `
    var<workgroup> partial : array<f32, ${WORKGROUP}>;
    var<workgroup> rowStat : f32;

    fn reduceRow(tid : i32) -> f32 {
      for (var half = ${WORKGROUP / 2}; half > 0; half = half / 2) {
        if (tid < half) {
          partial[tid] = partial[tid] + partial[tid + half];
        }
        workgroupBarrier();
      }
      return partial[0];
    }

    fn main(index : i32) {
      let row = index / ${WORKGROUP};
      let tid = index % ${WORKGROUP};
      let rows = uniforms.outShape[0];
      let cols = uniforms.outShape[1];
      let base = row * cols;
      let inRange = row < rows;

      var sum = 0.0;
      if (inRange) {
        for (var c = tid; c < cols; c = c + ${WORKGROUP}) {
          sum = sum + ${value('base + c')};
        }
      }
      partial[tid] = sum;
      workgroupBarrier();
      let total = reduceRow(tid);
      if (tid == 0) {
        rowStat = total / f32(cols);
      }
      workgroupBarrier();
      let mean = rowStat;
      workgroupBarrier();

      var squares = 0.0;
      if (inRange) {
        for (var c = tid; c < cols; c = c + ${WORKGROUP}) {
          let d = ${value('base + c')} - mean;
          squares = squares + d * d;
        }
      }
      partial[tid] = squares;
      workgroupBarrier();
      let totalSquares = reduceRow(tid);
      if (tid == 0) {
        rowStat = inverseSqrt(totalSquares / f32(cols) + uniforms.eps);
      }
      workgroupBarrier();
      let scale = rowStat;

      if (inRange) {
        for (var c = tid; c < cols; c = c + ${WORKGROUP}) {
          setOutputAtIndex(base + c, ((${value('base + c')} - mean) * scale) * gamma[c] + beta[c]);
        }
      }
    }
    `;
  }
}

registerLayerNormKernels<WebGpuBackendLike>('webgpu', (backend, x, y, weight, bias, eps, rows, cols) => {
  // The program sees 2-D rows and 1-D parameters; tfjs-webgpu reads every input as the flat
  // buffer it is, so only the shapes it is told change.
  const flat = (t: tf.TensorInfo, shape: number[]): tf.TensorInfo => ({ dataId: t.dataId, shape, dtype: t.dtype });
  const inputs = [flat(x, [rows, cols]), ...(y ? [flat(y, [rows, cols])] : []), flat(weight, [cols]), flat(bias, [cols])];
  const out = backend.runWebGPUProgram(new LayerNormProgram(rows, cols, y !== null), inputs, 'float32', [{ type: 'float32', data: [eps] }]);
  return { dataId: out.dataId, shape: x.shape, dtype: 'float32' };
});

/**
 * [rows, 2 * cols]: sin then cos of each row of x [rows, cols], by gpu_sin_cos.ts's
 * arithmetic, the op form's steps in its order (each thread one output value).
 */
class SinCosProgram implements WebGPUProgram {
  readonly variableNames = ['x'];
  readonly outputShape: number[];
  readonly shaderKey = 'sam_sin_cos';
  readonly dispatchLayout = { x: [0, 1] };
  readonly dispatch: [number, number, number];
  readonly workgroupSize: [number, number, number] = [WORKGROUP, 1, 1];
  readonly size = true;

  constructor(rows: number, cols: number) {
    this.outputShape = [rows, 2 * cols];
    this.dispatch = [Math.ceil((rows * 2 * cols) / WORKGROUP), 1, 1]; // tfjs spreads it over y past the limit
  }

  getUserCode(): string {
    const f = wgslFloat;
    const [p1, p2, p3] = SIN_COS.pio2;
    const [s1, s2, s3] = SIN_COS.sin;
    const [c1, c2, c3] = SIN_COS.cos;
    return `
    fn main(index : i32) {
      if (index >= uniforms.size) {
        return;
      }
      let cols = uniforms.outShape[1] / 2;
      let row = index / uniforms.outShape[1];
      let col = index % uniforms.outShape[1];
      let a = x[row * cols + col % cols];
      let k = round(a * ${f(SIN_COS.twoOverPi)});
      var r = a - k * ${f(p1)};
      r = r - k * ${f(p2)};
      r = r - k * ${f(p3)};
      let z = r * r;
      let sinR = r + (r * z) * (${f(s1)} + z * (${f(s2)} + z * ${f(s3)}));
      let cosR = (1.0 - z * 0.5) + (z * z) * (${f(c1)} + z * (${f(c2)} + z * ${f(c3)}));
      let quadrant = k - 4.0 * floor(k / 4.0);
      // cos(x) = sin(x + pi/2): the cos half reads the next quadrant's sin
      var q = quadrant;
      if (col >= cols) {
        q = q + 1.0;
        if (q == 4.0) {
          q = 0.0;
        }
      }
      var v = -cosR;
      if (q == 0.0) {
        v = sinR;
      } else if (q == 1.0) {
        v = cosR;
      } else if (q == 2.0) {
        v = -sinR;
      }
      setOutputAtIndex(index, v);
    }
    `;
  }
}

registerSinCosKernel<WebGpuBackendLike>('webgpu', (backend, x, rows, cols, shape) => {
  const out = backend.runWebGPUProgram(new SinCosProgram(rows, cols), [{ dataId: x.dataId, shape: [rows, cols], dtype: x.dtype }], 'float32');
  return { dataId: out.dataId, shape, dtype: 'float32' };
});

/** GELU of each value, the op form's steps (gpu_gelu.ts), Erf as tfjs-webgpu writes it. */
class GeluProgram implements WebGPUProgram {
  readonly variableNames = ['x'];
  readonly outputShape: number[];
  readonly shaderKey = 'sam_gelu';
  readonly dispatchLayout = { x: [0] };
  readonly dispatch: [number, number, number];
  readonly workgroupSize: [number, number, number] = [WORKGROUP, 1, 1];
  readonly size = true;

  constructor(size: number) {
    this.outputShape = [size];
    this.dispatch = [Math.ceil(size / WORKGROUP), 1, 1]; // tfjs spreads it over y past the limit
  }

  getUserCode(): string {
    const f = wgslFloat;
    const [a1, a2, a3, a4, a5] = GELU_ERF.a;
    return `
    fn main(index : i32) {
      if (index >= uniforms.size) {
        return;
      }
      let v = x[index];
      let s = v * ${f(GELU_ERF.sqrt1_2)};
      let sgn = sign(s);
      let absS = abs(s);
      let t = 1.0 / (1.0 + ${f(GELU_ERF.p)} * absS);
      let e = sgn * (1.0 - (((((${f(a5)} * t + ${f(a4)}) * t) + ${f(a3)}) * t + ${f(a2)}) * t + ${f(a1)}) * t * exp(-absS * absS));
      setOutputAtIndex(index, (v * 0.5) * (1.0 + e));
    }
    `;
  }
}

registerGeluKernel<WebGpuBackendLike>('webgpu', (backend, x, size) => {
  const out = backend.runWebGPUProgram(new GeluProgram(size), [{ dataId: x.dataId, shape: [size], dtype: x.dtype }], 'float32');
  return { dataId: out.dataId, shape: x.shape, dtype: 'float32' };
});

/**
 * softmax of each row of (s * scale + p[idxH]) + p[lh + idxW] (gpu_rel_pos_softmax.ts), a
 * workgroup per row as tfjs-webgpu's own Softmax: 256 threads for rows of 4096 values or
 * more, else 64; each thread's strided running max and sum of exp(v - max), over the columns
 * in order, then a tree over the workgroup; each value exp(v - max) / sum. The sum's tree is
 * tfjs's (halving over every thread, those past the row's end adding 0), so the values are
 * the op form's (the gathers and adds are exact copies and the same float adds). The sizes
 * are constants of the shader (a few shapes per model). Rows past 65535 workgroups wrap into
 * the dispatch's y dimension.
 */
class RelPosSoftmaxProgram implements WebGPUProgram {
  readonly variableNames = ['s', 'p', 'idxH', 'idxW'];
  readonly outputShape: number[];
  readonly shaderKey: string;
  readonly dispatchLayout = { x: [0, 1] };
  readonly dispatch: [number, number, number];
  readonly workgroupSize: [number, number, number];

  constructor(private readonly z: RelPosSoftmaxSizes) {
    const cols = z.kh * z.kw;
    this.outputShape = [z.rows, cols];
    this.workgroupSize = [cols >= 4096 ? 256 : 64, 1, 1];
    const perDim = rowsPerDispatchDim;
    this.dispatch = z.rows <= perDim ? [z.rows, 1, 1] : [perDim, Math.ceil(z.rows / perDim), 1];
    this.shaderKey = `sam_rel_pos_softmax_${z.qh}_${z.qw}_${z.kh}_${z.kw}_${z.lh}_${z.lw}_${z.scale}`;
  }

  getUserCode(): string {
    const { qh, qw, kh, kw, lh, lw, scale } = this.z;
    const cols = kh * kw;
    const size = this.workgroupSize[0];
    // Barriers stay in uniform control flow: rows past the last (the y dimension's
    // remainder) run the loops with nothing to do.
    return `
    var<workgroup> partial : array<f32, ${size}>;
    var<workgroup> rowStat : f32;

    fn logit(row : i32, col : i32) -> f32 {
      let query = row % ${qh * qw};
      let termH = p[row * ${lh + lw} + idxH[(query / ${qw}) * ${kh} + col / ${kw}]];
      let termW = p[row * ${lh + lw} + ${lh} + idxW[(query % ${qw}) * ${kw} + col % ${kw}]];
      return (s[row * ${cols} + col] * ${wgslFloat(scale)} + termH) + termW;
    }

    fn main(index : i32) {
      let row = index / ${size};
      let tid = index % ${size};
      let inRange = row < uniforms.outShape[0];

      var rowMax = -3.402823e+38;
      if (inRange) {
        for (var c = tid; c < ${cols}; c = c + ${size}) {
          rowMax = max(rowMax, logit(row, c));
        }
      }
      partial[tid] = rowMax;
      workgroupBarrier();
      for (var half = ${size / 2}; half > 0; half = half / 2) {
        if (tid < half) {
          partial[tid] = max(partial[tid], partial[tid + half]);
        }
        workgroupBarrier();
      }
      if (tid == 0) {
        rowStat = partial[0];
      }
      workgroupBarrier();
      let m = rowStat;
      workgroupBarrier();

      var sum = 0.0;
      if (inRange) {
        for (var c = tid; c < ${cols}; c = c + ${size}) {
          sum = sum + exp(logit(row, c) - m);
        }
      }
      partial[tid] = sum;
      workgroupBarrier();
      for (var half = ${size / 2}; half > 0; half = half / 2) {
        if (tid < half) {
          partial[tid] = partial[tid] + partial[tid + half];
        }
        workgroupBarrier();
      }
      if (tid == 0) {
        rowStat = partial[0];
      }
      workgroupBarrier();
      let total = rowStat;

      if (inRange) {
        for (var c = tid; c < ${cols}; c = c + ${size}) {
          setOutputAtIndex(row * ${cols} + c, exp(logit(row, c) - m) / total);
        }
      }
    }
    `;
  }
}

registerRelPosSoftmaxKernel<WebGpuBackendLike>('webgpu', (backend, { s, p, idxH, idxW }, sizes) =>
  backend.runWebGPUProgram(new RelPosSoftmaxProgram(sizes), [s, p, idxH, idxW], 'float32'),
);
