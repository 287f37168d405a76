/** Messages between the page (main thread) and the model worker. */

export type BackendRequest = 'auto' | 'webgpu' | 'webgl' | 'wasm' | 'cpu';

export interface PromptPoint {
  /** Original-image pixels. */
  x: number;
  y: number;
  /** 1 foreground, 0 background. */
  label: 0 | 1;
}

export type Box = [number, number, number, number];

export interface Mask {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface BackendInfo {
  /** The tfjs backend in use: 'webgpu', 'webgl', 'wasm' or 'cpu'. */
  backend: string;
  /** e.g. 'WebGL 2 (ANGLE SwiftShader)'. */
  detail: string;
  /** Why better backends were skipped. */
  skipped: string[];
}

export interface ModelInfo {
  url: string;
  modelType: string | null;
  test: boolean;
  description: string;
  imgSize: number;
  params: number;
  bytes: number;
  fromCache: boolean;
  downloadMs: number;
  buildMs: number;
  /** Thresholds for the automatic mask generator that suit this model (test models carry them). */
  amgDefaults?: { predIouThresh: number; stabilityScoreThresh: number };
}

export interface EncodeResult {
  width: number;
  height: number;
  /** Preprocessing + image encoder, until the embedding is on hand. */
  encodeMs: number;
  /** Warm-up decode right after (compiles the decoder's shaders). */
  warmupMs: number;
}

export interface DecodeResult {
  masks: Mask[];
  scores: number[];
  /** Prompt encoder + mask decoder + upscaling + readback, in the worker. */
  decodeMs: number;
}

export interface GeneratedMask {
  mask: Mask;
  area: number;
  predictedIou: number;
  stabilityScore: number;
  bbox: [number, number, number, number];
}

export interface EverythingOptions {
  pointsPerSide: number;
  predIouThresh: number;
  stabilityScoreThresh: number;
}

/** Requests: `type` names the call, the rest are its arguments. */
export type Request =
  | { type: 'init'; backend: BackendRequest; flags: Record<string, boolean | number> }
  | { type: 'loadModel'; url: string }
  | { type: 'setImage'; image: ImageData }
  | { type: 'setEmbedding'; bytes: ArrayBuffer }
  | { type: 'getEmbedding' }
  | { type: 'decode'; points: PromptPoint[]; box: Box | null }
  | { type: 'everything'; image: ImageData; options: EverythingOptions };

export interface Results {
  init: BackendInfo;
  loadModel: ModelInfo;
  setImage: EncodeResult;
  setEmbedding: { width: number; height: number; ms: number };
  getEmbedding: { bytes: ArrayBuffer };
  decode: DecodeResult;
  everything: { masks: GeneratedMask[]; ms: number };
}

export interface Progress {
  /** 'download', 'build', 'everything', ... */
  phase: string;
  done: number;
  total: number;
  text?: string;
}

export type WorkerMessage =
  | { id: number; kind: 'result'; result: unknown }
  | { id: number; kind: 'error'; message: string }
  | { id: number; kind: 'progress'; progress: Progress };
