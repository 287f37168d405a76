/**
 * The browser side of the browser parity test (test/browser_parity.test.ts): the stages of
 * scripts/parity_lib.ts's `runParityCase`, run by the library's own code (src/) on a browser
 * backend (WebGL, WebGPU) and compared with the reference's outputs.
 *
 * Everything comes from the test's server: `/fixtures/<case>/<file>` (the case folder as it
 * is: config.json, model.pth, the .npy files, prompts.json) and `/decoded/<case>.rgb` (the
 * case's image.png decoded in Node by the library's decodeImage, so that preprocessing is
 * measured on the backend, not the browser's PNG decoder). The model is loaded with
 * `loadSam({ weights: <model.pth bytes>, config })`, the path parity_lib takes in Node.
 *
 * Same stages, same names and the same comparisons (parity_lib's `maxAbsDiff` and
 * `compareMasks`) as in Node; the tolerances are the test's (`RunRequest`). All reads are
 * asynchronous (`await t.data()`), which every backend supports without stalling; tensors
 * are released with engine scopes instead of tf.tidy, which cannot span an await.
 */
import * as tf from '@tensorflow/tfjs';
import { polynomialSinCos } from '../../src/layers/prompt_encoder/sin_cos.js';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { selectBackend } from '../../src/backend.js';
import { wasmKernelsActive } from '../../src/backends/wasm_kernels.js';
import { setWebGlKernelsEnabled } from '../../src/backends/webgl_kernels.js';
import { setWebGpuKernelsEnabled } from '../../src/backends/webgpu_kernels.js';
import { layerNormChecks } from '../helpers/layer_norm_checks.js';
import { sinCosChecks } from '../helpers/sin_cos_checks.js';
import { geluGpuChecks } from '../helpers/gelu_gpu_checks.js';
import { relPosSoftmaxChecks } from '../helpers/rel_pos_softmax_checks.js';
import { compareMasks, maxAbsDiff } from '../../scripts/parity_lib.js';
import { parseNpy, type NpyArray } from '../../src/io/npy.js';
import { windowPartition } from '../../src/layers/image_encoder/window.js';
import { PositionEmbeddingRandom } from '../../src/layers/prompt_encoder/position_embedding_random.js';
import { samConfigFromReferenceJson } from '../../src/sam/config.js';
import { loadSam } from '../../src/sam/load.js';
import { preprocess } from '../../src/sam/preprocess/pipeline.js';
import type { DecodeInputs, SamModel } from '../../src/sam/sam_model.js';
import type { BackendDescription, BrowserStageResult, CaseRequest, CaseTiming, ParityPage, ParityWindow, RunRequest, RunResult, ToleranceKey, Tolerances } from './protocol.js';

const now = () => performance.now();
let runStart = now();

async function fetchBytes(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function fetchOptional(url: string): Promise<Uint8Array | null> {
  const res = await fetch(url);
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function fetchJson<T = any>(url: string): Promise<T> {
  return JSON.parse(new TextDecoder().decode(await fetchBytes(url))) as T;
}

/** The image the test decoded in Node (raw RGB, sizes in headers). */
async function fetchDecodedImage(caseName: string): Promise<{ data: Uint8Array; width: number; height: number; channels: 3 }> {
  const url = `/decoded/${encodeURIComponent(caseName)}.rgb`;
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  const width = Number(res.headers.get('X-Image-Width'));
  const height = Number(res.headers.get('X-Image-Height'));
  return { data: new Uint8Array(await res.arrayBuffer()), width, height, channels: 3 };
}

function webglRenderer(): string {
  try {
    const gl = (tf.backend() as unknown as { gpgpu: { gl: WebGL2RenderingContext } }).gpgpu.gl;
    const ext = gl.getExtension('WEBGL_debug_renderer_info');
    return String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  } catch {
    return '';
  }
}

type GpuAdapterLike = { info?: { vendor?: string; architecture?: string; description?: string; device?: string } };
type GpuLike = { requestAdapter(): Promise<GpuAdapterLike | null> };

async function probeWebGpu(): Promise<{ ok: boolean; detail: string }> {
  const gpu = (navigator as unknown as { gpu?: GpuLike }).gpu;
  if (!gpu) return { ok: false, detail: `this browser exposes no navigator.gpu (secure context: ${isSecureContext})` };
  try {
    const adapter = await gpu.requestAdapter();
    if (!adapter) return { ok: false, detail: 'navigator.gpu.requestAdapter() returned null (no usable adapter)' };
    const i = adapter.info ?? {};
    return { ok: true, detail: [i.vendor, i.architecture, i.description, i.device].filter((s) => s).join(' / ') || 'an adapter without info' };
  } catch (e) {
    return { ok: false, detail: `requestAdapter failed: ${(e as Error).message}` };
  }
}

const PRECISION_FLAGS: Record<string, string[]> = {
  webgl: ['WEBGL_VERSION', 'WEBGL_RENDER_FLOAT32_ENABLED', 'WEBGL_RENDER_FLOAT32_CAPABLE', 'WEBGL_FORCE_F16_TEXTURES', 'WEBGL_PACK', 'WEBGL_PACK_BINARY_OPERATIONS', 'WEBGL_USE_SHAPES_UNIFORMS', 'WEBGL_DOWNLOAD_FLOAT_ENABLED'],
  webgpu: ['WEBGPU_USE_LOW_POWER_GPU', 'WEBGPU_PRINT_SHADER', 'WEBGPU_MATMUL_PROGRAM_TYPE', 'WEBGPU_CPU_FORWARD'],
};

async function describeBackend(name: string): Promise<BackendDescription> {
  const flags: Record<string, unknown> = {};
  for (const f of PRECISION_FLAGS[name] ?? []) {
    try {
      flags[f] = tf.env().get(f);
    } catch {
      // flag not registered in this tfjs build
    }
  }
  let detail = name;
  if (name === 'webgl') {
    detail = `WebGL ${tf.env().getNumber('WEBGL_VERSION')} · ${webglRenderer()} · ${tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED') ? 'float32' : 'float16'} textures`;
  } else if (name === 'webgpu') {
    detail = `WebGPU · ${(await probeWebGpu()).detail}`;
  } else if (name === 'wasm') {
    detail = `${wasmProvider} · SIMD kernels ${wasmKernelsActive() ? 'on' : 'off'}`;
  }
  const setKernels = name === 'webgl' ? setWebGlKernelsEnabled : name === 'webgpu' ? setWebGpuKernelsEnabled : null;
  const layerNorm = setKernels ? await layerNormChecks(setKernels) : undefined;
  const sinCosKernel = setKernels ? await sinCosChecks(setKernels) : undefined;
  const geluKernel = setKernels ? await geluGpuChecks(setKernels) : undefined;
  const relPosSoftmaxKernel = setKernels ? await relPosSoftmaxChecks(setKernels) : undefined;
  return { backend: name, detail, flags, sinCos: { withinPi: await sinCosAccuracy(Math.PI), upTo32: await sinCosAccuracy(32) }, layerNorm, sinCosKernel, geluKernel, relPosSoftmaxKernel };
}

type Ref = ArrayLike<number>;

/**
 * The backend's Sin and Cos kernels on the arguments the library's dense positional encoding
 * gives them (2*pi * (2*grid - 1) @ G, computed here on the backend as the library does):
 * max |kernel(x) - sin/cos(x)| over those float32 x, with sin/cos exact (float64, rounded).
 */
async function sinCosKernelError(model: SamModel): Promise<number> {
  const g = model.torchParams().get('prompt_encoder.pe_layer.positional_encoding_gaussian_matrix');
  if (!g) throw new Error('the model has no prompt_encoder.pe_layer.positional_encoding_gaussian_matrix');
  return scoped(async () => {
    const [h, w] = model.config.promptEncoder.imageEmbeddingSize;
    const ys = tf.div(tf.sub(tf.range(1, h + 1, 1, 'float32'), 0.5), h);
    const xs = tf.div(tf.sub(tf.range(1, w + 1, 1, 'float32'), 0.5), w);
    const grid = tf.stack([tf.tile(xs.reshape([1, w]), [h, 1]), tf.tile(ys.reshape([h, 1]), [1, w])], -1).reshape([-1, 2]);
    const proj = tf.mul(tf.matMul(tf.sub(tf.mul(grid, 2), 1), g.variable.read() as tf.Tensor2D), 2 * Math.PI);
    const [x, s, c] = await Promise.all([proj.data(), tf.sin(proj).data(), tf.cos(proj).data()]);
    let worst = 0;
    for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(s[i] - Math.fround(Math.sin(x[i]))), Math.abs(c[i] - Math.fround(Math.cos(x[i]))));
    return worst;
  });
}

/** max |kernel(x) - sin/cos(x)| of the backend's Sin and Cos over 100001 float32 x evenly spread over [-r, r]. */
async function sinCosAccuracy(r: number): Promise<number> {
  return scoped(async () => {
    const x = tf.linspace(-r, r, 100001);
    const [xs, s, c] = await Promise.all([x.data(), tf.sin(x).data(), tf.cos(x).data()]);
    let worst = 0;
    for (let i = 0; i < xs.length; i++) worst = Math.max(worst, Math.abs(s[i] - Math.fround(Math.sin(xs[i]))), Math.abs(c[i] - Math.fround(Math.cos(xs[i]))));
    return worst;
  });
}

/** Experiment 'exact-kernels': Sin and Cos computed exactly from the values read back (synchronously: WebGL, cpu). */
function useExactSinCosKernels(backendName: string): void {
  for (const [kernelName, fn] of [['Sin', Math.sin], ['Cos', Math.cos]] as const) {
    if (tf.getKernel(kernelName, backendName)) tf.unregisterKernel(kernelName, backendName);
    tf.registerKernel({
      kernelName,
      backendName,
      kernelFunc: ({ inputs, backend }) => {
        const x = inputs.x as tf.TensorInfo;
        const b = backend as unknown as { readSync(id: unknown): Float32Array; makeTensorInfo(shape: number[], dtype: string, values: Float32Array): tf.TensorInfo };
        const v = b.readSync(x.dataId);
        const out = new Float32Array(v.length);
        for (let i = 0; i < v.length; i++) out[i] = fn(v[i]);
        return b.makeTensorInfo(x.shape, 'float32', out);
      },
    });
  }
}

/** The library's arithmetic sin/cos (what PositionEmbeddingRandom uses on GPU backends). */
export const accurateSinCos = polynomialSinCos;

/**
 * Experiment 'polynomial': the library's positional encoding (PositionEmbeddingRandom.peEncoding,
 * same arithmetic) with sin/cos from accurateSinCos instead of the backend's kernels: the fix
 * proposed for src/layers/prompt_encoder/position_embedding_random.ts.
 */
function usePolynomialPeEncoding(): void {
  const proto = PositionEmbeddingRandom.prototype as unknown as { peEncoding(coords: tf.Tensor): tf.Tensor };
  proto.peEncoding = function (this: PositionEmbeddingRandom, coords: tf.Tensor): tf.Tensor {
    const g = (this as unknown as { gaussianMatrix: { read(): tf.Tensor } }).gaussianMatrix;
    return tf.tidy(() => {
      const lead = coords.shape.slice(0, -1);
      const c = tf.sub(tf.mul(coords, 2), 1).reshape([-1, 2]) as tf.Tensor2D;
      const proj = tf.mul(tf.matMul(c, g.read() as tf.Tensor2D), 2 * Math.PI);
      const [sin, cos] = accurateSinCos(proj);
      return tf.concat([sin, cos], -1).reshape([...lead, 2 * this.numPosFeats]);
    });
  };
}

/** One case on the active backend: the stages of parity_lib.runParityCase (less the checkpoint-format check, a CPU-only matter). */
class CaseRun {
  constructor(
    readonly caseName: string,
    readonly tol: Tolerances,
    private readonly onResult: (r: BrowserStageResult) => void,
  ) {}

  url(...p: string[]): string {
    return `/fixtures/${encodeURIComponent(this.caseName)}/${p.map(encodeURIComponent).join('/')}`;
  }
  async npy(...p: string[]): Promise<NpyArray> {
    return parseNpy(await fetchBytes(this.url(...p)));
  }
  async npyOptional(...p: string[]): Promise<NpyArray | null> {
    const b = await fetchOptional(this.url(...p));
    return b ? parseNpy(b) : null;
  }

  push(r: BrowserStageResult): void {
    r.ms = Math.round(now() - runStart);
    this.onResult(r);
  }

  async record(stage: string, kind: ToleranceKey, actual: tf.Tensor | Float32Array, expected: Ref, throughPe = false): Promise<Float32Array> {
    const values = actual instanceof tf.Tensor ? ((await actual.data()) as Float32Array) : actual;
    const tolerance = this.tol[kind];
    const d = maxAbsDiff(values, expected);
    this.push({ caseName: this.caseName, stage, kind, maxAbsDiff: d, tolerance, ok: d <= tolerance, ...(throughPe ? { throughPe } : {}) });
    return values;
  }
}

/** Runs `body` in an engine scope: every tensor it makes is released at the end (tf.tidy for async code). */
async function scoped<T>(body: () => Promise<T>): Promise<T> {
  tf.engine().startScope();
  try {
    return await body();
  } finally {
    tf.engine().endScope();
  }
}

async function encoderStages(model: SamModel, x: tf.Tensor4D, c: CaseRun, setCurrent: (s: string) => void): Promise<void> {
  const enc = model.imageEncoder;
  await scoped(async () => {
    setCurrent('encoder intermediates');
    const patch = await c.npyOptional('intermediates', 'patch_embed.npy');
    if (patch) await c.record('patch_embed', 'patchEmbed', enc.patchEmbed.apply(x) as tf.Tensor, patch.data as Float32Array);
    let y = enc.embedPatches(x);
    const b0 = await c.npyOptional('intermediates', 'block00_input.npy');
    if (b0) await c.record('block00_input', 'patchEmbed', y, b0.data as Float32Array);
    const attn0 = await c.npyOptional('intermediates', 'block00_attn.npy');
    if (attn0) {
      const block = enc.blocks[0];
      const normed = block.norm1.apply(y) as tf.Tensor4D;
      const ws = block.config.windowSize;
      const attnIn = ws > 0 ? windowPartition(normed, ws).windows : normed;
      await c.record('block00_attn', 'intermediate', block.attn.apply(attnIn) as tf.Tensor, attn0.data as Float32Array);
    }
    for (let i = 0; i < enc.blocks.length; i++) {
      y = enc.blocks[i].apply(y) as tf.Tensor4D;
      const name = `block${String(i).padStart(2, '0')}`;
      const ref = await c.npyOptional('intermediates', `${name}.npy`);
      if (ref) await c.record(name, 'intermediate', y, ref.data as Float32Array);
    }
    const names = ['neck_conv1', 'neck_ln1', 'neck_conv2'];
    for (let i = 0; i < 3; i++) {
      y = enc.neck[i].apply(y) as tf.Tensor4D;
      const ref = await c.npyOptional('intermediates', `${names[i]}.npy`);
      if (ref) await c.record(names[i], 'intermediate', y.transpose([0, 3, 1, 2]), ref.data as Float32Array);
    }
  });
}

interface Prompt {
  name: string;
  point_labels: number[] | null;
  mask_input: string | null;
  multimask_output: boolean;
  model_frame_inputs: { point_coords?: number[][]; box?: number[]; boxes?: number[][] };
}
interface Prompts {
  original_size: [number, number];
  input_size: [number, number];
  prompts: Prompt[];
}

async function promptStages(model: SamModel, embRef: tf.Tensor4D, p: Prompt, prompts: Prompts, c: CaseRun): Promise<void> {
  const name = p.name;
  const npy = (...f: string[]) => c.npy('prompts', name, ...f);
  await scoped(async () => {
    const mf = p.model_frame_inputs;
    const inputs: DecodeInputs = { imageEmbeddings: embRef, multimaskOutput: p.multimask_output };
    if (mf.point_coords) {
      inputs.pointCoords = tf.tensor3d([mf.point_coords]);
      inputs.pointLabels = tf.tensor2d([p.point_labels ?? []]);
    }
    if (mf.box) inputs.boxes = tf.tensor2d([mf.box]);
    if (mf.boxes) inputs.boxes = tf.tensor2d(mf.boxes);
    if (p.mask_input) {
      const m = await npy('mask_input.npy');
      inputs.maskInput = tf.tensor(m.data as Float32Array, m.shape);
    }
    // Prompt encoder.
    const { sparse, dense } = model.promptEncoder.embed({
      points: inputs.pointCoords && inputs.pointLabels ? { coords: inputs.pointCoords, labels: inputs.pointLabels } : undefined,
      boxes: inputs.boxes,
      masks: inputs.maskInput ? (inputs.maskInput.expandDims(-1) as tf.Tensor4D) : undefined,
    });
    await c.record(`${name} sparse_embeddings`, 'sparseEmbeddings', sparse, (await npy('debug', 'sparse_embeddings.npy')).data as Float32Array);
    await c.record(`${name} dense_embeddings`, 'denseEmbeddings', dense.transpose([0, 3, 1, 2]), (await npy('debug', 'dense_embeddings.npy')).data as Float32Array);
    // Mask decoder: all mask tokens (before the multimask selection), then the selection.
    // These stages take the prompt embeddings and dense PE this backend computed (throughPe).
    const all = model.maskDecoder.predictMasks({
      imageEmbeddings: embRef,
      imagePe: model.getDensePe(),
      sparsePromptEmbeddings: sparse,
      densePromptEmbeddings: dense,
    });
    await c.record(`${name} all-token logits`, 'lowResLogits', all.masks, (await npy('debug', 'decoder_all_low_res_logits.npy')).data as Float32Array, true);
    await c.record(`${name} all-token iou`, 'iouPredictions', all.iouPred, (await npy('debug', 'decoder_all_iou_predictions.npy')).data as Float32Array, true);
    const { lowResLogits, iouPredictions } = model.decode(inputs);
    await c.record(`${name} low_res_logits`, 'lowResLogits', lowResLogits, (await npy('low_res_logits.npy')).data as Float32Array, true);
    await c.record(`${name} iou_predictions`, 'iouPredictions', iouPredictions, (await npy('iou_predictions.npy')).data as Float32Array, true);
    // The selection on its own: decode's tokens are the all-token output's (same backend, same inputs).
    const [first, count] = p.multimask_output ? [1, all.masks.shape[1] - 1] : [0, 1];
    await c.record(`${name} selected logits = all-token`, 'lowResLogits', lowResLogits, await all.masks.slice([0, first, 0, 0], [-1, count, -1, -1]).data());
    await c.record(`${name} selected iou = all-token`, 'iouPredictions', iouPredictions, await all.iouPred.slice([0, first], [-1, count]).data());
    // Post-processing to the original size, and the boolean masks.
    const logits = model.postprocessMasks(lowResLogits, prompts.input_size, prompts.original_size);
    const refLogits = (await npy('mask_logits.npy')).data as Float32Array;
    const ours = await c.record(`${name} mask_logits`, 'maskLogits', logits, refLogits, true);
    const refMasks = await npy('masks.npy');
    const masks = compareMasks(`${name} masks`, ours, refMasks, refLogits, c.tol.maskLogits, model.config.maskThreshold);
    c.push({ caseName: c.caseName, kind: 'masks', ...masks, throughPe: true });

    // Each part on its own, from the reference's inputs: the mask decoder fed the reference's
    // prompt embeddings and dense PE, and post-processing fed the reference's low-res logits.
    const refSparse = await npy('debug', 'sparse_embeddings.npy');
    const refDense = await npy('debug', 'dense_embeddings.npy');
    const refPe = await c.npy('dense_pe.npy');
    const nhwc = (a: NpyArray) => tf.tensor(a.data as Float32Array, a.shape).transpose([0, 2, 3, 1]) as tf.Tensor4D;
    const iso = model.maskDecoder.predictMasks({
      imageEmbeddings: embRef,
      imagePe: nhwc(refPe),
      sparsePromptEmbeddings: tf.tensor3d(refSparse.data as Float32Array, refSparse.shape as [number, number, number]),
      densePromptEmbeddings: nhwc(refDense),
    });
    await c.record(`${name} decoder-only all-token logits`, 'lowResLogits', iso.masks, (await npy('debug', 'decoder_all_low_res_logits.npy')).data as Float32Array);
    await c.record(`${name} decoder-only all-token iou`, 'iouPredictions', iso.iouPred, (await npy('debug', 'decoder_all_iou_predictions.npy')).data as Float32Array);
    const refLow = await npy('low_res_logits.npy');
    const refLow4 = tf.tensor(refLow.data as Float32Array, refLow.shape).reshape([-1, ...refLow.shape.slice(-3)]) as tf.Tensor4D;
    const post = await c.record(`${name} postprocess-only mask_logits`, 'maskLogits', model.postprocessMasks(refLow4, prompts.input_size, prompts.original_size), refLogits);
    const postMasks = compareMasks(`${name} postprocess-only masks`, post, refMasks, refLogits, c.tol.maskLogits, model.config.maskThreshold);
    c.push({ caseName: c.caseName, kind: 'masks', ...postMasks });
  });
}

async function runCase(req: CaseRequest, backend: string, page: ParityPage): Promise<CaseTiming> {
  const setCurrent = (s: string) => (page.current = `${req.name}: ${s}`);
  const c = new CaseRun(req.name, req.tolerances, (r) => page.results.push(r));
  const startTensors = tf.memory().numTensors;
  const t0 = now();
  setCurrent('loading model.pth');
  const config = samConfigFromReferenceJson(await fetchJson(c.url('config.json')));
  const model = await loadSam({ weights: await fetchBytes(c.url('model.pth')), config, backend });
  if (tf.getBackend() !== backend) throw new Error(`loadSam runs on ${tf.getBackend()}, not ${backend}`);
  model.setAttentionImplementation('auto');
  const t1 = now();
  let t2 = t1;
  try {
    const s = config.imageEncoder.imgSize;
    // Preprocessing (resize in JS, normalise and pad on the backend).
    setCurrent('preprocessing');
    await scoped(async () => {
      const pre = preprocess(await fetchDecodedImage(req.name), { imgSize: s, pixelMean: config.pixelMean, pixelStd: config.pixelStd });
      await c.record('preprocessed', 'preprocessed', pre.input.transpose([0, 3, 1, 2]), (await c.npy('preprocessed.npy')).data as Float32Array);
    });

    // Image encoder, from the reference's preprocessed tensor.
    const refPre = await c.npy('preprocessed.npy');
    const x = tf.tidy(() => tf.tensor(refPre.data as Float32Array, refPre.shape).transpose([0, 2, 3, 1])) as tf.Tensor4D;
    await encoderStages(model, x, c, setCurrent);
    setCurrent('image encoder');
    await scoped(async () => {
      const emb = model.embedImage(x);
      await c.record('image_embedding', 'imageEmbedding', emb.transpose([0, 3, 1, 2]), (await c.npy('image_embedding.npy')).data as Float32Array);
    });
    x.dispose();
    setCurrent('dense PE');
    const kernelError = await sinCosKernelError(model);
    c.push({ caseName: req.name, stage: 'sin/cos kernels (dense PE args)', kind: 'sinCosKernel', maxAbsDiff: kernelError, tolerance: c.tol.sinCosKernel, ok: kernelError <= c.tol.sinCosKernel });
    await scoped(async () => {
      await c.record('dense_pe', 'densePe', model.getDensePe().transpose([0, 3, 1, 2]), (await c.npy('dense_pe.npy')).data as Float32Array);
    });
    t2 = now();

    // Prompt encoder + mask decoder from the reference embedding.
    const refEmb = await c.npy('image_embedding.npy');
    const embRef = tf.tidy(() => tf.tensor(refEmb.data as Float32Array, refEmb.shape).transpose([0, 2, 3, 1])) as tf.Tensor4D;
    const prompts = await fetchJson<Prompts>(c.url('prompts.json'));
    try {
      for (const p of prompts.prompts) {
        setCurrent(`prompt ${p.name}`);
        await promptStages(model, embRef, p, prompts, c);
      }
    } finally {
      embRef.dispose();
    }
  } finally {
    model.dispose();
  }
  const t3 = now();
  const leaked = tf.memory().numTensors - startTensors;
  c.push({ caseName: req.name, stage: 'tensors left over', kind: 'tensors', maxAbsDiff: leaked, tolerance: 0, ok: leaked === 0 });
  return { caseName: req.name, loadMs: t1 - t0, encoderMs: t2 - t1, promptsMs: t3 - t2 };
}

let started = false;
setWasmPaths('/tfjs-wasm/'); // served by harness.ts
let wasmProvider = '';

const page: ParityPage = {
  current: 'idle',
  results: [],
  probeWebGpu,
  async run(request: RunRequest): Promise<RunResult> {
    if (started) throw new Error('this page has run already: load it again for another run');
    started = true;
    page.current = `starting ${request.backend}`;
    if (request.backend === 'webgpu') {
      const probe = await probeWebGpu();
      if (!probe.ok) throw new Error(`WebGPU is not available: ${probe.detail}`);
    }
    if (request.backend === 'wasm') {
      // as the library starts it: threads per core on small machines, the SIMD kernels
      wasmProvider = (await selectBackend('wasm')).provider;
    } else if (!(await tf.setBackend(request.backend))) throw new Error(`tfjs backend '${request.backend}' did not start`);
    await tf.ready();
    for (const [k, v] of Object.entries(request.flags)) tf.env().set(k, v);
    if (request.sinCosExperiment === 'exact-kernels') useExactSinCosKernels(request.backend);
    if (request.sinCosExperiment === 'polynomial') usePolynomialPeEncoding();
    runStart = now();
    const backend = await describeBackend(request.backend);
    const timings: CaseTiming[] = [];
    for (const c of request.cases) timings.push(await runCase(c, request.backend, page));
    page.current = 'done';
    return { backend, results: page.results, timings };
  },
};

(window as unknown as ParityWindow).samParity = page;
document.body.dataset.state = 'ready';
