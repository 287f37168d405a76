/**
 * The model, off the main thread: backend choice, weights, the image embedding and every
 * decoder pass run here, so the page stays responsive while the encoder works. Everything
 * model-related is the library's own code (src/): loadSam, SamPredictor, the embedding
 * format and the automatic mask generator.
 */
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreaded from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import { selectBackend } from '../../src/backend.js';
import { decodeImageEmbedding, encodeImageEmbedding } from '../../src/sam/embedding.js';
import { loadSam } from '../../src/sam/load.js';
import { SamPredictor } from '../../src/sam/predictor.js';
import type { SamModel } from '../../src/sam/sam_model.js';
import type { BackendInfo, GeneratedMask, Progress, Request, Results, WorkerMessage } from './protocol.js';
import { loadArtifacts } from './weights_loader.js';

interface WorkerScope {
  postMessage(message: WorkerMessage, transfer?: Transferable[]): void;
  onmessage: ((ev: MessageEvent<{ id: number; request: Request }>) => void) | null;
}
const scope = self as unknown as WorkerScope;

setWasmPaths({
  'tfjs-backend-wasm.wasm': wasmPlain,
  'tfjs-backend-wasm-simd.wasm': wasmSimd,
  'tfjs-backend-wasm-threaded-simd.wasm': wasmThreaded,
});

let backendInfo: BackendInfo | null = null;
let model: SamModel | null = null;
let predictor: SamPredictor | null = null;

/** The automatic mask generator, when this build has it (src/sam/automatic_mask_generator.ts). */
interface GeneratorRecord {
  segmentation: { width: number; height: number; data: Uint8Array };
  area: number;
  predictedIou?: number;
  stabilityScore?: number;
  bbox: [number, number, number, number];
}
interface GeneratorModule {
  SamAutomaticMaskGenerator: new (
    model: SamModel,
    options: Record<string, unknown>,
  ) => { generate(image: ImageData, options?: { onProgress?: (p: { batchesDone: number; totalBatches: number }) => void | Promise<void> }): Promise<GeneratorRecord[]> };
}
const generatorModules = import.meta.glob<GeneratorModule>('../../src/sam/automatic_mask_generator.ts');

const now = () => performance.now();

function describeBackend(name: string, provider: string): string {
  if (name === 'webgl') {
    const version = tf.env().getNumber('WEBGL_VERSION');
    const renderer = webglRenderer();
    const f32 = tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED') ? 'float32' : 'float16';
    return `WebGL ${version}${renderer ? ` · ${renderer}` : ''} · ${f32}`;
  }
  if (name === 'wasm') {
    // e.g. "(2 threads)", or why there is one (src/backends/wasm_threads_browser.ts)
    const threads = /\(([^)]*thread[^)]*)\)/.exec(provider)?.[1];
    return `WebAssembly (CPU)${threads ? ` · ${threads}` : ''}`;
  }
  if (name === 'webgpu') return 'WebGPU';
  return 'plain JavaScript (CPU)';
}

function webglRenderer(): string {
  try {
    const gl = (tf.backend() as unknown as { gpgpu: { gl: WebGLRenderingContext } }).gpgpu.gl;
    const ext = gl.getExtension('WEBGL_debug_renderer_info');
    return String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  } catch {
    return '';
  }
}

/**
 * On software renderers (SwiftShader, llvmpipe) compiling a shader program takes tens to
 * hundreds of ms, and the first run of each model part is mostly that (every distinct op
 * and shape is a program). Unpacked programs are fewer and simpler: measured in headless
 * Chromium on SwiftShader, the tiny test model gets to its first mask 25% sooner. Real GPUs
 * keep tfjs's packed default. (tfjs's WEBGL_USE_SHAPES_UNIFORMS would cut the programs
 * further, but with it tfjs 4.22 on SwiftShader returned empty masks in "segment
 * everything", so it stays off.) Flags given explicitly (`?tfflags=`) win.
 */
function tuneWebgl(explicit: Record<string, boolean | number>): string {
  const software = /swiftshader|llvmpipe|softpipe|software|basic render/i.test(webglRenderer());
  if (software && !('WEBGL_PACK' in explicit)) {
    tf.env().set('WEBGL_PACK', false);
    return ' · software-GL profile';
  }
  return '';
}

/** Waits until the GPU has really finished a tensor (reads one value back). */
async function settle(t: tf.Tensor): Promise<void> {
  const one = tf.tidy(() => t.reshape([-1]).slice(0, 1));
  await one.data();
  one.dispose();
}

function requirePredictor(): SamPredictor {
  if (!predictor) throw new Error('no model is loaded');
  return predictor;
}

async function handle(request: Request, progress: (p: Progress) => void): Promise<{ result: Results[Request['type']]; transfer?: Transferable[] }> {
  switch (request.type) {
    case 'init': {
      const wanted = request.backend === 'auto' ? undefined : request.backend;
      const skipped: string[] = [];
      if (wanted === undefined || wanted === 'webgpu') {
        // Load the WebGPU backend only where the browser can give it an adapter (headless
        // Chromium on SwiftShader has navigator.gpu but no adapter).
        const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
        const adapter = gpu ? await gpu.requestAdapter().catch(() => null) : null;
        if (!adapter) skipped.push(gpu ? 'webgpu: the browser has WebGPU but gave no adapter' : 'webgpu: this browser has no WebGPU');
        else {
          try {
            await import('@tensorflow/tfjs-backend-webgpu');
          } catch (e) {
            skipped.push(`webgpu: @tensorflow/tfjs-backend-webgpu did not load (${(e as Error).message})`);
          }
        }
      }
      const choice = await selectBackend(wanted);
      const profile = choice.backend === 'webgl' ? tuneWebgl(request.flags) : '';
      for (const [k, v] of Object.entries(request.flags)) tf.env().set(k, v);
      backendInfo = { backend: choice.backend, detail: describeBackend(choice.backend, choice.provider) + profile, skipped: [...skipped, ...choice.skipped] };
      return { result: backendInfo };
    }
    case 'loadModel': {
      if (!backendInfo) throw new Error('init first');
      predictor?.dispose();
      model?.dispose();
      predictor = null;
      model = null;
      const t0 = now();
      const loaded = await loadArtifacts(request.url, (done, total, text) => progress({ phase: 'download', done, total, text }));
      const t1 = now();
      progress({ phase: 'build', done: 0, total: 1, text: 'building the model' });
      model = await loadSam({ weights: { load: async () => loaded.artifacts }, backend: backendInfo.backend });
      predictor = new SamPredictor(model);
      const t2 = now();
      const meta = (loaded.artifacts.userDefinedMetadata ?? {}) as {
        testModel?: boolean;
        description?: string;
        modelType?: string | null;
        demo?: { amg?: { predIouThresh: number; stabilityScoreThresh: number } };
      };
      let params = 0;
      for (const p of model.torchParams().values()) params += p.variable.shape.reduce<number>((a, b) => a * (b ?? 1), 1);
      return {
        result: {
          url: loaded.url,
          modelType: meta.modelType ?? null,
          test: !!meta.testModel,
          description: meta.description ?? '',
          imgSize: model.imgSize,
          params,
          bytes: loaded.bytes,
          fromCache: loaded.fromCache,
          downloadMs: t1 - t0,
          buildMs: t2 - t1,
          amgDefaults: meta.demo?.amg,
        },
      };
    }
    case 'setImage': {
      const p = requirePredictor();
      const t0 = now();
      await p.setImage(request.image);
      const e = p.getImageEmbedding();
      try {
        await settle(e.embedding);
      } finally {
        e.embedding.dispose();
      }
      const t1 = now();
      // One decoder pass right away, so the first hover does not wait for shader compilation.
      const [h, w] = p.originalSize;
      await p.predict({ pointCoords: [[w / 2, h / 2]], pointLabels: [1] });
      const t2 = now();
      return { result: { width: request.image.width, height: request.image.height, encodeMs: t1 - t0, warmupMs: t2 - t1 } };
    }
    case 'setEmbedding': {
      const p = requirePredictor();
      const t0 = now();
      const e = decodeImageEmbedding(new Uint8Array(request.bytes));
      try {
        p.setImageEmbedding(e);
      } finally {
        e.embedding.dispose();
      }
      const [h, w] = p.originalSize;
      await p.predict({ pointCoords: [[w / 2, h / 2]], pointLabels: [1] });
      return { result: { width: w, height: h, ms: now() - t0 } };
    }
    case 'getEmbedding': {
      const e = requirePredictor().getImageEmbedding();
      try {
        const bytes = await encodeImageEmbedding(e);
        const buffer = bytes.buffer as ArrayBuffer;
        return { result: { bytes: buffer }, transfer: [buffer] };
      } finally {
        e.embedding.dispose();
      }
    }
    case 'decode': {
      const p = requirePredictor();
      const t0 = now();
      const { points, box } = request;
      const out = await p.predict({
        pointCoords: points.length ? points.map((q) => [q.x, q.y]) : undefined,
        pointLabels: points.length ? points.map((q) => q.label) : undefined,
        box: box ?? undefined,
        multimaskOutput: true,
      });
      const decodeMs = now() - t0;
      const masks = out.masks.map((m) => ({ width: m.width, height: m.height, data: m.data }));
      return { result: { masks, scores: out.scores, decodeMs }, transfer: masks.map((m) => m.data.buffer as ArrayBuffer) };
    }
    case 'everything': {
      if (!model) throw new Error('no model is loaded');
      const load = generatorModules['../../src/sam/automatic_mask_generator.ts'];
      if (!load) throw new Error('this build has no automatic mask generator (src/sam/automatic_mask_generator.ts is missing)');
      const { SamAutomaticMaskGenerator } = await load();
      const t0 = now();
      const generator = new SamAutomaticMaskGenerator(model, { ...request.options, outputMode: 'binary_mask' });
      const records = await generator.generate(request.image, {
        onProgress: (q) => progress({ phase: 'everything', done: q.batchesDone, total: q.totalBatches, text: `decoder batch ${q.batchesDone}/${q.totalBatches}` }),
      });
      const masks: GeneratedMask[] = records.map((r) => ({
        mask: { width: r.segmentation.width, height: r.segmentation.height, data: Uint8Array.from(r.segmentation.data) },
        area: r.area,
        predictedIou: r.predictedIou ?? NaN,
        stabilityScore: r.stabilityScore ?? NaN,
        bbox: r.bbox,
      }));
      return { result: { masks, ms: now() - t0 }, transfer: masks.map((m) => m.mask.data.buffer as ArrayBuffer) };
    }
  }
}

// Requests run one at a time, in order.
let queue: Promise<void> = Promise.resolve();
scope.onmessage = (ev) => {
  const { id, request } = ev.data;
  queue = queue.then(async () => {
    try {
      const { result, transfer } = await handle(request, (progress) => scope.postMessage({ id, kind: 'progress', progress }));
      scope.postMessage({ id, kind: 'result', result }, transfer ?? []);
    } catch (e) {
      scope.postMessage({ id, kind: 'error', message: e instanceof Error ? e.message : String(e) });
    }
  });
};
