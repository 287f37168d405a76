/**
 * `SamLayerNorm` and `SamAddLayerNorm` on tfjs's WebGL backend (browsers): the kernels the
 * layers call on wasm (wasm_kernels.ts) and WebGPU (webgpu_kernels.ts), here as two
 * fragment programs instead of the op form's 9 (mean, subtract, square, mean, add, rsqrt, two
 * multiplies, add), which on a GPU backend cost mostly their dispatch from JavaScript. And
 * `SamSinCos`, the positional encodings' sin and cos (gpu_sin_cos.ts), one program for ~40,
 * `SamGelu` (gpu_gelu.ts), one for 5, and `SamRelPosSoftmax` (gpu_rel_pos_softmax.ts), the
 * encoder's attention probabilities with their relative-position terms, two (row statistics,
 * then values) for the op form's ~10 (a Multiply, two Gathers, two Adds, tfjs-webgl's
 * softmax).
 *
 * A fragment program writes one value and cannot share work with its neighbours, so the
 * row statistics come first: [rows, 2] outputs, the row's mean and 1 / sqrt(var + eps) (var
 * the biased variance, from the squared distances to the mean, as the op form), each
 * fragment summing its row; then each output value from its row's two. The programs follow
 * tfjs-backend-webgl's `GPGPUProgram`: tfjs writes the samplers and getters (`getSrc(row,
 * col)`, ...) and `setOutput`.
 */
import * as tf from '@tensorflow/tfjs';
import { kernelSwitch, registerLayerNormKernels, shaderFloat as glslFloat } from './gpu_layer_norm.js';
import { GELU_ERF, registerGeluKernel } from './gpu_gelu.js';
import { registerSinCosKernel, SIN_COS } from './gpu_sin_cos.js';
import { registerRelPosSoftmaxKernel, type RelPosSoftmaxSizes } from './gpu_rel_pos_softmax.js';

interface WebGlProgram {
  variableNames: string[];
  outputShape: number[];
  userCode: string;
}

interface WebGlBackendLike {
  runWebGLProgram(program: WebGlProgram, inputs: tf.TensorInfo[], outputDtype: tf.DataType): tf.TensorInfo;
  disposeIntermediateTensorInfo(info: tf.TensorInfo): void;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

const kernels = kernelSwitch('webgl', 'SAM_TFJS_WEBGL_KERNELS');

/**
 * Switches the WebGL kernels off (the layers then use tfjs ops) or back on (on by default, off
 * with SAM_TFJS_WEBGL_KERNELS=0); for comparisons.
 */
export function setWebGlKernelsEnabled(on: boolean): void {
  kernels.set(on);
}

/** Whether the layers use these kernels: on the webgl backend, unless switched off. */
export function webglKernelsActive(): boolean {
  return kernels.active();
}

/**
 * [rows, 2]: each row's mean and 1 / sqrt(var + eps) over its `cols` values (of src, or src +
 * addend). The sums run in chunks of about sqrt(cols) values, then over the chunks, as
 * tfjs-webgl's own Mean reduces in windows: a plain running sum of 256 values was 2.5x less
 * accurate than the op form (3.4e-6 against 1.3e-6 on [4096, 256] against float64). The
 * loops have constant bounds (GLSL ES 1.0 allows no others).
 */
function statsProgram(rows: number, cols: number, withAddend: boolean, eps: number): WebGlProgram {
  const value = withAddend ? 'getSrc(row, c) + getAddend(row, c)' : 'getSrc(row, c)';
  const chunk = Math.max(4, 2 ** Math.round(Math.log2(Math.sqrt(cols))));
  const sumOf = (total: string, term: (v: string) => string) => `
        float ${total} = 0.0;
        for (int c0 = 0; c0 < ${cols}; c0 += ${chunk}) {
          float part = 0.0;
          for (int j = 0; j < ${chunk}; j++) {
            int c = c0 + j;
            if (c < ${cols}) {
              part += ${term(value)};
            }
          }
          ${total} += part;
        }`;
  return {
    variableNames: withAddend ? ['src', 'addend'] : ['src'],
    outputShape: [rows, 2],
    userCode: `
      float squared(float d) {
        return d * d;
      }
      void main() {
        ivec2 rc = getOutputCoords();
        int row = rc.x;
        ${sumOf('sum', (v) => v)}
        float mean = sum / ${glslFloat(cols)};
        if (rc.y == 0) {
          setOutput(mean);
          return;
        }
        ${sumOf('squares', (v) => `squared(${v} - mean)`)}
        setOutput(inversesqrt(squares / ${glslFloat(cols)} + ${glslFloat(eps)}));
      }
    `,
  };
}

/** [rows, cols]: ((v - mean) * scale) * gamma + beta, mean and scale from the row's stats. */
function applyProgram(rows: number, cols: number, withAddend: boolean): WebGlProgram {
  const value = withAddend ? 'getSrc(rc.x, rc.y) + getAddend(rc.x, rc.y)' : 'getSrc(rc.x, rc.y)';
  return {
    variableNames: withAddend ? ['src', 'addend', 'stats', 'gamma', 'beta'] : ['src', 'stats', 'gamma', 'beta'],
    outputShape: [rows, cols],
    userCode: `
      void main() {
        ivec2 rc = getOutputCoords();
        float v = ${value};
        float mean = getStats(rc.x, 0);
        float scale = getStats(rc.x, 1);
        setOutput(((v - mean) * scale) * getGamma(rc.y) + getBeta(rc.y));
      }
    `,
  };
}

registerLayerNormKernels<WebGlBackendLike>('webgl', (backend, x, y, weight, bias, eps, rows, cols) => {
  // The programs see 2-D rows: tfjs-webgl's own Reshape kernel (no copy where the texture's
  // layout allows; a packed texture of another layout is copied), called as tfjs's kernels
  // call each other, and released after.
  const reshape = tf.getKernel('Reshape', 'webgl')!.kernelFunc as unknown as (args: { inputs: { x: tf.TensorInfo }; backend: unknown; attrs: { shape: number[] } }) => tf.TensorInfo;
  const as = (t: tf.TensorInfo, shape: number[]) => reshape({ inputs: { x: t }, backend, attrs: { shape } });
  const parts = y ? [as(x, [rows, cols]), as(y, [rows, cols])] : [as(x, [rows, cols])];
  // weight and bias as [cols] (the program reads them with one index), whatever their shape
  const params = [as(weight, [cols]), as(bias, [cols])];
  const stats = backend.runWebGLProgram(statsProgram(rows, cols, y !== null, eps), parts, 'float32');
  const out2d = backend.runWebGLProgram(applyProgram(rows, cols, y !== null), [...parts, stats, ...params], 'float32');
  const out = as(out2d, x.shape);
  for (const t of [...parts, ...params, stats, out2d]) backend.disposeIntermediateTensorInfo(t);
  return out;
});

/**
 * [rows, 2 * cols]: sin then cos of each row of x [rows, cols], by gpu_sin_cos.ts's
 * arithmetic, the op form's steps in its order. round() half to even as tf.round (GLSL's
 * round may go either way at .5).
 */
function sinCosProgram(rows: number, cols: number): WebGlProgram {
  const f = glslFloat;
  const [p1, p2, p3] = SIN_COS.pio2;
  const [s1, s2, s3] = SIN_COS.sin;
  const [c1, c2, c3] = SIN_COS.cos;
  return {
    variableNames: ['x'],
    outputShape: [rows, 2 * cols],
    userCode: `
      float roundHalfEven(float v) {
        float base = floor(v);
        float frac = v - base;
        if (frac < 0.5) return base;
        if (frac > 0.5) return base + 1.0;
        return mod(base, 2.0) == 0.0 ? base : base + 1.0;
      }
      void main() {
        ivec2 rc = getOutputCoords();
        bool wantCos = rc.y >= ${cols};
        float a = getX(rc.x, wantCos ? rc.y - ${cols} : rc.y);
        float k = roundHalfEven(a * ${f(SIN_COS.twoOverPi)});
        float r = a - k * ${f(p1)};
        r = r - k * ${f(p2)};
        r = r - k * ${f(p3)};
        float z = r * r;
        float sinR = r + (r * z) * (${f(s1)} + z * (${f(s2)} + z * ${f(s3)}));
        float cosR = (1.0 - z * 0.5) + (z * z) * (${f(c1)} + z * (${f(c2)} + z * ${f(c3)}));
        float q = k - 4.0 * floor(k / 4.0);
        // cos(x) = sin(x + pi/2): the cos half reads the next quadrant's sin
        if (wantCos) q = q == 3.0 ? 0.0 : q + 1.0;
        float v = -cosR;
        if (q == 0.0) v = sinR;
        else if (q == 1.0) v = cosR;
        else if (q == 2.0) v = -sinR;
        setOutput(v);
      }
    `,
  };
}

registerSinCosKernel<WebGlBackendLike>('webgl', (backend, x, rows, cols, shape) => {
  const reshape = tf.getKernel('Reshape', 'webgl')!.kernelFunc as unknown as (args: { inputs: { x: tf.TensorInfo }; backend: unknown; attrs: { shape: number[] } }) => tf.TensorInfo;
  const as = (t: tf.TensorInfo, to: number[]) => reshape({ inputs: { x: t }, backend, attrs: { shape: to } });
  const x2d = as(x, [rows, cols]);
  const out2d = backend.runWebGLProgram(sinCosProgram(rows, cols), [x2d], 'float32');
  const out = as(out2d, shape);
  for (const t of [x2d, out2d]) backend.disposeIntermediateTensorInfo(t);
  return out;
});

/** GELU of each value, the op form's steps (gpu_gelu.ts), Erf as tfjs-webgl writes it. */
function geluProgram(shape: number[]): WebGlProgram {
  const f = glslFloat;
  const [a1, a2, a3, a4, a5] = GELU_ERF.a;
  return {
    variableNames: ['x'],
    outputShape: shape,
    userCode: `
      void main() {
        float v = getXAtOutCoords();
        float s = v * ${f(GELU_ERF.sqrt1_2)};
        float sgn = sign(s);
        float absS = abs(s);
        float t = 1.0 / (1.0 + ${f(GELU_ERF.p)} * absS);
        float e = sgn * (1.0 - (((((${f(a5)} * t + ${f(a4)}) * t) + ${f(a3)}) * t + ${f(a2)}) * t + ${f(a1)}) * t * exp(-absS * absS));
        setOutput((v * 0.5) * (1.0 + e));
      }
    `,
  };
}

registerGeluKernel<WebGlBackendLike>('webgl', (backend, x) => backend.runWebGLProgram(geluProgram(x.shape), [x], 'float32'));

/** GLSL of the logit v at (row, col) of SamRelPosSoftmax: (s * scale + p[idxH]) + p[lh + idxW]. */
function relPosLogit(z: RelPosSoftmaxSizes): string {
  return `
      float logit(int row, int col) {
        int query = row - (row / ${z.qh * z.qw}) * ${z.qh * z.qw};
        int qy = query / ${z.qw};
        int ky = col / ${z.kw};
        float termH = getP(row, int(getIdxH(qy, ky)));
        float termW = getP(row, ${z.lh} + int(getIdxW(query - qy * ${z.qw}, col - ky * ${z.kw})));
        return (getS(row, col) * ${glslFloat(z.scale)} + termH) + termW;
      }`;
}

/**
 * [rows, 2]: each row's max and sum of exp(v - max) over its kh * kw logits (relPosLogit).
 * The sum runs in chunks of about sqrt(n) values, then over the chunks (as the layer norms'
 * statistics above), with constant loop bounds.
 */
function relPosStatsProgram(z: RelPosSoftmaxSizes): WebGlProgram {
  const cols = z.kh * z.kw;
  const chunk = Math.max(4, 2 ** Math.round(Math.log2(Math.sqrt(cols))));
  return {
    variableNames: ['s', 'p', 'idxH', 'idxW'],
    outputShape: [z.rows, 2],
    userCode: `
      ${relPosLogit(z)}
      void main() {
        ivec2 rc = getOutputCoords();
        int row = rc.x;
        float m = -3.402823e+38;
        for (int c = 0; c < ${cols}; c++) {
          m = max(m, logit(row, c));
        }
        if (rc.y == 0) {
          setOutput(m);
          return;
        }
        float sum = 0.0;
        for (int c0 = 0; c0 < ${cols}; c0 += ${chunk}) {
          float part = 0.0;
          for (int j = 0; j < ${chunk}; j++) {
            int c = c0 + j;
            if (c < ${cols}) {
              part += exp(logit(row, c) - m);
            }
          }
          sum += part;
        }
        setOutput(sum);
      }
    `,
  };
}

/** [rows, kh * kw]: exp(v - max) / sum, the row's max and sum from relPosStatsProgram. */
function relPosValuesProgram(z: RelPosSoftmaxSizes): WebGlProgram {
  return {
    variableNames: ['s', 'p', 'idxH', 'idxW', 'stats'],
    outputShape: [z.rows, z.kh * z.kw],
    userCode: `
      ${relPosLogit(z)}
      void main() {
        ivec2 rc = getOutputCoords();
        setOutput(exp(logit(rc.x, rc.y) - getStats(rc.x, 0)) / getStats(rc.x, 1));
      }
    `,
  };
}

registerRelPosSoftmaxKernel<WebGlBackendLike>('webgl', (backend, { s, p, idxH, idxW }, sizes) => {
  const inputs = [s, p, idxH, idxW];
  const stats = backend.runWebGLProgram(relPosStatsProgram(sizes), inputs, 'float32');
  const out = backend.runWebGLProgram(relPosValuesProgram(sizes), [...inputs, stats], 'float32');
  backend.disposeIntermediateTensorInfo(stats);
  return out;
});
