/**
 * What the browser parity page (main.ts) and its test (test/browser_parity.test.ts) exchange.
 * Types only: the page is driven with `page.evaluate`, which passes these as JSON.
 */
import type { StageResult } from '../../scripts/parity_lib.js';
import type { LayerNormCheck } from '../helpers/layer_norm_checks.js';
import type { SinCosCheck } from '../helpers/sin_cos_checks.js';
import type { GeluGpuCheck } from '../helpers/gelu_gpu_checks.js';
import type { RelPosSoftmaxCheck } from '../helpers/rel_pos_softmax_checks.js';

/**
 * The bound of each kind of stage, decided by the test (Node side), which reads the
 * fixture's numeric_noise.json with parity_lib's `readNoise`. Keys name what a stage is
 * compared with; `maskLogits` is also the margin around the threshold inside which a mask
 * pixel may flip.
 */
export interface Tolerances {
  preprocessed: number;
  patchEmbed: number;
  /** Encoder blocks, block 0's attention, the neck (no noise measurement: README's 1e-3). */
  intermediate: number;
  imageEmbedding: number;
  densePe: number;
  sparseEmbeddings: number;
  denseEmbeddings: number;
  /** low_res_logits and the decoder's all-token logits. */
  lowResLogits: number;
  /** iou_predictions and the decoder's all-token IoU. */
  iouPredictions: number;
  maskLogits: number;
  /** Bound of the backend's sin/cos kernels' absolute error, measured on the dense PE's own arguments. */
  sinCosKernel: number;
}

export type ToleranceKey = keyof Tolerances;

export interface CaseRequest {
  name: string;
  tolerances: Tolerances;
}

export interface RunRequest {
  /** The tfjs backend to run on ('webgl', 'webgpu'; 'cpu' checks the page itself against Node's parity). */
  backend: string;
  /** tfjs flags to set once the backend runs (none: the library's defaults). */
  flags: Record<string, boolean | number>;
  cases: CaseRequest[];
  /**
   * Experiments, not the library as shipped, to show what the GPU's own sin/cos do to the
   * stages downstream of the positional encoding: 'exact-kernels' replaces the backend's Sin
   * and Cos kernels by exact ones on the values read back (synchronous reads: WebGL only;
   * WebGPU's fail in headless Chromium); 'polynomial' makes the library's positional encoding
   * compute sin/cos from multiplications and additions (main.ts's accurateSinCos), on any backend.
   */
  sinCosExperiment?: 'exact-kernels' | 'polynomial';
}

/** A StageResult (parity_lib) plus the kind of bound it was held to. */
export interface BrowserStageResult extends StageResult {
  kind: ToleranceKey | 'masks' | 'tensors';
  /** When it was recorded, ms since the run started. */
  ms?: number;
  /**
   * Computed from the prompt embeddings and dense PE this backend made (the library's whole
   * path), so it carries their difference from the reference (see test/browser_parity/tolerances.ts).
   */
  throughPe?: boolean;
}

export interface BackendDescription {
  backend: string;
  /** e.g. 'WebGL 2 · ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device ...)) · float32 textures' */
  detail: string;
  /** The tfjs flags that decide precision, as the backend runs. */
  flags: Record<string, unknown>;
  /** Max abs error of the backend's sin and cos kernels for arguments in [-pi, pi] and in [-32, 32]. */
  sinCos: { withinPi: number; upTo32: number };
  /** WebGL and WebGPU: LayerNorm through this library's kernels against the tfjs-op form (test/helpers/layer_norm_checks.ts). */
  layerNorm?: LayerNormCheck[];
  /** WebGL and WebGPU: the encodings' sin and cos through SamSinCos against the op form (test/helpers/sin_cos_checks.ts). */
  sinCosKernel?: SinCosCheck[];
  /** WebGL and WebGPU: GELU through SamGelu against the op form (test/helpers/gelu_gpu_checks.ts). */
  geluKernel?: GeluGpuCheck[];
  /** SamRelPosSoftmax against the tfjs-op form (rel_pos_softmax_checks.ts), on WebGL and WebGPU. */
  relPosSoftmaxKernel?: RelPosSoftmaxCheck[];
}

export interface CaseTiming {
  caseName: string;
  loadMs: number;
  encoderMs: number;
  promptsMs: number;
}

export interface RunResult {
  backend: BackendDescription;
  results: BrowserStageResult[];
  timings: CaseTiming[];
}

/** What the page exposes on `window`. */
export interface ParityPage {
  /** Runs every requested case on the requested backend (once per page). */
  run(request: RunRequest): Promise<RunResult>;
  /** The stage being run (for a timeout's error message). */
  current: string;
  /** Results so far. */
  results: BrowserStageResult[];
  /** Says whether this browser gives a WebGPU adapter, and which, or why not. */
  probeWebGpu(): Promise<{ ok: boolean; detail: string }>;
}

export interface ParityWindow {
  samParity?: ParityPage;
}
