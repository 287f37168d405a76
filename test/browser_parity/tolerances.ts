/**
 * The bounds of the browser parity check.
 *
 * Every stage is held to scripts/parity_lib.ts's bound (10x the fixture's measured float64
 * noise, or the fixtures README's bound where nothing was measured), with one measured
 * exception on the GPU backends: their sin and cos.
 *
 * Measured in headless Chromium 156 on SwiftShader, tfjs flags at their defaults (float32
 * textures, packed WebGL programs; WEBGL_PACK=false gives the same numbers). WebGL (ANGLE)
 * and WebGPU (Dawn) both end in SwiftShader's Vulkan, and agree to the digit:
 *  - everything that does not go through sin/cos is at parity with room to spare:
 *    preprocessing 0, image encoder and its intermediates <= 15% of their bounds, dense
 *    (mask) embeddings <= 9%, the mask decoder fed the reference's prompt embeddings and PE
 *    <= 21%, post-processing of the reference's logits <= 10% with no mask pixel flipped;
 *  - the positional encoding (dense PE and the point / box embeddings: sin and cos of
 *    2*pi * (2x - 1) @ G) is off by 1.89e-4, 19x PE_TOLERANCE. The page measures the
 *    backends' Sin/Cos kernels against exact values on the very arguments the library gives
 *    them and finds the same 1.89e-4, and also over [-pi, pi] alone: it is the accuracy of
 *    SwiftShader's sin/cos approximation, not a range reduction. WGSL and Vulkan require only
 *    |error| <= 2^-11 (4.9e-4) of sin/cos on [-pi, pi], GLSL ES nothing, so real GPUs may be
 *    off as much or more;
 *  - that error reaches the decoder through its inputs (the image PE is added to the keys,
 *    point embeddings are tokens) and is amplified there: the library's own decoder path ends
 *    2e-3..0.28 from the reference's logits (up to 111x their bound, IoU predictions up to
 *    65x) and a few mask pixels flip (24 of 1.7 million, min IoU 0.9996);
 *  - computing the PE's sin/cos from multiplications and additions instead (main.ts's
 *    accurateSinCos: Cody-Waite reduction and Cephes' float polynomials; run.ts
 *    --sincos-experiment polynomial), the PE is off by 6e-8 and every stage, end to end,
 *    meets parity_lib's bounds unchanged on both backends (worst: 15% of a bound).
 *
 * So on webgl / webgpu:
 *  - the sin/cos kernels themselves are held to 2^-11 (GPU_SINCOS_ACCURACY) on the PE's args;
 *  - the PE stages (dense_pe, sparse_embeddings) to PE_TOLERANCE + 2^-11: a value of sin or
 *    cos within that accuracy moves each PE value by at most 2^-11;
 *  - every stage that does not take the backend's PE (encoder, dense embeddings, the decoder
 *    fed the reference's prompt embeddings and PE, post-processing of the reference's
 *    logits, the multimask selection) to parity_lib's bounds, unchanged;
 *  - the stages that take the backend's own PE (`throughPe`: the library's whole decoder
 *    path) to parity_lib's bounds as soon as that PE is within PE_TOLERANCE (on cpu / wasm,
 *    and on GPUs once the library computes the PE's sin/cos accurately). While it is not,
 *    their difference is the PE's: it is reported with its size, not bounded by a number
 *    (an amplification through the decoder has no a-priori bound, and a bound fitted to
 *    what was measured would check nothing), and the boolean masks must still overlap the
 *    reference's at IoU >= 0.99 (compareMasks's criterion, without its count of flipped
 *    pixels, which rests on the logit bound). Each part of that path is held to parity on
 *    its own by the stages above.
 */
import { join } from 'node:path';
import { INTERMEDIATE_TOLERANCE, NOISE_FACTOR, PE_TOLERANCE, readNoise } from '../../scripts/parity_lib.js';
import { FIXTURES } from '../helpers/fixtures.js';
import type { BrowserStageResult, Tolerances } from './protocol.js';

export type BrowserBackend = 'webgl' | 'webgpu' | 'wasm' | 'cpu';

/** The accuracy WGSL and Vulkan require of sin and cos: absolute error <= 2^-11 for arguments in [-pi, pi]. */
export const GPU_SINCOS_ACCURACY = 2 ** -11;

/** Backends whose Sin / Cos kernels are the GPU's own (GLSL / WGSL built-ins). */
export function usesGpuSinCos(backend: string): boolean {
  return backend === 'webgl' || backend === 'webgpu';
}

/** The bound compareMasks puts on the IoU of every mask. */
export const MIN_MASK_IOU = 0.99;

/** parity_lib's bounds for one case (the same expressions as runParityCase). */
export function referenceTolerances(caseName: string, fixturesDir = FIXTURES): Omit<Tolerances, 'sinCosKernel'> {
  const noise = readNoise(join(fixturesDir, caseName));
  return {
    preprocessed: NOISE_FACTOR * noise.preprocessed,
    patchEmbed: NOISE_FACTOR * noise.patchEmbed,
    intermediate: INTERMEDIATE_TOLERANCE,
    imageEmbedding: NOISE_FACTOR * noise.imageEmbedding,
    densePe: PE_TOLERANCE,
    sparseEmbeddings: PE_TOLERANCE,
    denseEmbeddings: NOISE_FACTOR * noise.imageEmbedding,
    lowResLogits: NOISE_FACTOR * noise.lowResLogits,
    iouPredictions: NOISE_FACTOR * noise.iouPredictions,
    maskLogits: NOISE_FACTOR * noise.maskLogits,
  };
}

/** The bounds the page applies on `backend` (see the file's comment). */
export function browserTolerances(backend: BrowserBackend, caseName: string, fixturesDir = FIXTURES): Tolerances {
  const t = referenceTolerances(caseName, fixturesDir);
  if (!usesGpuSinCos(backend)) return { ...t, sinCosKernel: PE_TOLERANCE };
  return {
    ...t,
    sinCosKernel: GPU_SINCOS_ACCURACY,
    densePe: PE_TOLERANCE + GPU_SINCOS_ACCURACY,
    sparseEmbeddings: PE_TOLERANCE + GPU_SINCOS_ACCURACY,
  };
}

export interface Verdict {
  /** Out of their bound. */
  failed: BrowserStageResult[];
  /** Through the backend's PE while that PE is not at parity: reported, masks checked by IoU. */
  explained: BrowserStageResult[];
  /** Cases whose PE (dense_pe and every sparse_embeddings) is within PE_TOLERANCE. */
  peAtParity: Map<string, boolean>;
}

export function judge(results: BrowserStageResult[]): Verdict {
  const peAtParity = new Map<string, boolean>();
  for (const r of results) {
    if (r.kind === 'densePe' || r.kind === 'sparseEmbeddings') {
      peAtParity.set(r.caseName, (peAtParity.get(r.caseName) ?? true) && r.maxAbsDiff <= PE_TOLERANCE);
    }
  }
  const failed: BrowserStageResult[] = [];
  const explained: BrowserStageResult[] = [];
  for (const r of results) {
    if (r.throughPe && peAtParity.get(r.caseName) === false) {
      explained.push(r);
      if (r.kind === 'masks' && !((r.iou ?? 0) >= MIN_MASK_IOU)) failed.push({ ...r, ok: false });
    } else if (!r.ok) {
      failed.push(r);
    }
  }
  return { failed, explained, peAtParity };
}
