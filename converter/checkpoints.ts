/**
 * The official SAM checkpoints and where they are downloaded from (no dependencies, so the CLI
 * can show them in --help without loading tfjs).
 */
import type { ModelType } from '../src/sam/config.js';

export interface CheckpointInfo {
  /** File name under the URL base. */
  file: string;
  /** Hex MD5 of the whole file. */
  md5: string;
}

/**
 * The official checkpoints (segment-anything README, "Model Checkpoints"). Meta publishes no
 * digests; the MD5s are the ones download tools verify these files against, e.g. IOPaint
 * (github.com/Sanster/IOPaint, iopaint/plugins/interactive_seg.py, SEGMENT_ANYTHING_MODELS) and
 * several other public projects list the same values. Each agrees with the file name, whose hex
 * suffix is the first six digits of the file's MD5.
 */
export const OFFICIAL_CHECKPOINTS: Readonly<Record<ModelType, CheckpointInfo>> = {
  vit_b: { file: 'sam_vit_b_01ec64.pth', md5: '01ec64d29a2fca3f0661936605ae66f8' },
  vit_l: { file: 'sam_vit_l_0b3195.pth', md5: '0b3195507c641ddb6910d2bb5adee89c' },
  vit_h: { file: 'sam_vit_h_4b8939.pth', md5: '4b8939a88964f0f4ff5f5b2642c598a6' },
};

export const DEFAULT_CHECKPOINT_BASE_URL = 'https://dl.fbaipublicfiles.com/segment_anything/';
/** Environment variable with a mirror's URL base (the folder holding the .pth files). */
export const CHECKPOINT_URL_ENV = 'SAM_TFJS_CHECKPOINT_URL';

/** The URL of a model's checkpoint, given a URL base (or the environment / default). */
export function checkpointUrl(modelType: ModelType, baseUrl?: string, file?: string, env: Record<string, string | undefined> = typeof process !== 'undefined' ? process.env : {}): string {
  const info = OFFICIAL_CHECKPOINTS[modelType];
  if (!info) throw new Error(`unknown model type '${modelType}': expected one of ${Object.keys(OFFICIAL_CHECKPOINTS).join(', ')}`);
  const base = baseUrl || env[CHECKPOINT_URL_ENV] || DEFAULT_CHECKPOINT_BASE_URL;
  return new URL(file ?? info.file, base.endsWith('/') ? base : `${base}/`).href;
}
