/**
 * SAM model configuration: a plain typed object with every architecture parameter, the
 * presets of the official checkpoints (`build_sam.py`), and a reader for the
 * reference-style JSON (snake_case, as in our fixtures' config.json).
 */
import type { ImageEncoderViTConfig } from '../layers/image_encoder/image_encoder.js';
import type { MaskDecoderConfig } from '../layers/mask_decoder/mask_decoder.js';
import type { PromptEncoderConfig } from '../layers/prompt_encoder/prompt_encoder.js';

export type ModelType = 'vit_b' | 'vit_l' | 'vit_h';

/** The presets' names, for option choices. */
export const MODEL_TYPES: readonly ModelType[] = ['vit_b', 'vit_l', 'vit_h'];

export interface SamConfig {
  imageEncoder: Omit<ImageEncoderViTConfig, 'name'>;
  promptEncoder: Omit<PromptEncoderConfig, 'name'>;
  maskDecoder: Omit<MaskDecoderConfig, 'name'>;
  /** RGB pixel mean and std used to normalise the input (not part of the state dict). */
  pixelMean: [number, number, number];
  pixelStd: [number, number, number];
  /** Logits above this are foreground. */
  maskThreshold: number;
}

const PIXEL_MEAN: [number, number, number] = [123.675, 116.28, 103.53];
const PIXEL_STD: [number, number, number] = [58.395, 57.12, 57.375];

/** The wiring of `_build_sam` for a ViT of the given size. */
function buildConfig(embedDim: number, depth: number, numHeads: number, globalAttnIndexes: number[]): SamConfig {
  const promptEmbedDim = 256;
  const imageSize = 1024;
  const patchSize = 16;
  const g = imageSize / patchSize;
  return {
    imageEncoder: {
      imgSize: imageSize,
      patchSize,
      inChans: 3,
      embedDim,
      depth,
      numHeads,
      mlpDim: embedDim * 4,
      outChans: promptEmbedDim,
      qkvBias: true,
      useAbsPos: true,
      useRelPos: true,
      windowSize: 14,
      globalAttnIndexes,
      normEps: 1e-6,
      neckNormEps: 1e-6,
    },
    promptEncoder: {
      embedDim: promptEmbedDim,
      imageEmbeddingSize: [g, g],
      inputImageSize: [imageSize, imageSize],
      maskInChans: 16,
      normEps: 1e-6,
    },
    maskDecoder: {
      transformerDim: promptEmbedDim,
      transformer: { depth: 2, embeddingDim: promptEmbedDim, mlpDim: 2048, numHeads: 8, act: 'relu', attentionDownsampleRate: 2, normEps: 1e-5 },
      numMultimaskOutputs: 3,
      iouHeadDepth: 3,
      iouHeadHiddenDim: 256,
      upscalingNormEps: 1e-6,
    },
    pixelMean: [...PIXEL_MEAN],
    pixelStd: [...PIXEL_STD],
    maskThreshold: 0,
  };
}

/** Presets with the exact hyper-parameters of the official checkpoints. */
export const SAM_PRESETS: Record<ModelType, () => SamConfig> = {
  vit_b: () => buildConfig(768, 12, 12, [2, 5, 8, 11]),
  vit_l: () => buildConfig(1024, 24, 16, [5, 11, 17, 23]),
  vit_h: () => buildConfig(1280, 32, 16, [7, 15, 23, 31]),
};

export function presetConfig(modelType: ModelType): SamConfig {
  const make = SAM_PRESETS[modelType];
  if (!make) throw new Error(`unknown model type '${modelType}': expected one of ${Object.keys(SAM_PRESETS).join(', ')}`);
  return make();
}

/** Encoder embedding dim of each preset, used to recognise a checkpoint from its shapes. */
const EMBED_DIM_OF: Record<number, ModelType> = { 768: 'vit_b', 1024: 'vit_l', 1280: 'vit_h' };

/**
 * Recognises vit_b / vit_l / vit_h from state-dict shapes (patch embedding width and the
 * number of blocks). Returns null for anything else (a custom config must then be given).
 */
export function detectModelType(shapes: Map<string, number[]>): ModelType | null {
  const patch = shapes.get('image_encoder.patch_embed.proj.weight');
  if (!patch) return null;
  const type = EMBED_DIM_OF[patch[0]];
  if (!type) return null;
  const depth = presetConfig(type).imageEncoder.depth;
  const hasLast = shapes.has(`image_encoder.blocks.${depth - 1}.norm1.weight`);
  const hasExtra = shapes.has(`image_encoder.blocks.${depth}.norm1.weight`);
  return hasLast && !hasExtra ? type : null;
}

type Json = Record<string, any>;

function need(obj: Json, key: string, where: string): any {
  if (obj[key] === undefined) throw new Error(`SAM config: missing '${where}.${key}'`);
  return obj[key];
}

/**
 * Reads a reference-style config (snake_case keys as in the fixtures' config.json:
 * `image_encoder`, `prompt_encoder`, `mask_decoder`, `pixel_mean`, ...). Values that
 * the reference hard-codes may be omitted and take the reference's values.
 */
export function samConfigFromReferenceJson(json: Json): SamConfig {
  const ie = need(json, 'image_encoder', 'config');
  const pe = need(json, 'prompt_encoder', 'config');
  const md = need(json, 'mask_decoder', 'config');
  const tr = need(md, 'transformer', 'mask_decoder');
  const embedDim: number = need(ie, 'embed_dim', 'image_encoder');
  const mlpRatio: number = ie.mlp_ratio ?? 4;
  const toPair = (v: number | number[]): [number, number] => (Array.isArray(v) ? [v[0], v[1]] : [v, v]);
  return {
    imageEncoder: {
      imgSize: need(ie, 'img_size', 'image_encoder'),
      patchSize: ie.patch_size ?? 16,
      inChans: ie.in_chans ?? 3,
      embedDim,
      depth: need(ie, 'depth', 'image_encoder'),
      numHeads: need(ie, 'num_heads', 'image_encoder'),
      mlpDim: ie.mlp_dim ?? Math.floor(embedDim * mlpRatio),
      outChans: ie.out_chans ?? 256,
      qkvBias: ie.qkv_bias ?? true,
      useAbsPos: ie.use_abs_pos ?? true,
      useRelPos: ie.use_rel_pos ?? true,
      windowSize: ie.window_size ?? 0,
      globalAttnIndexes: ie.global_attn_indexes ?? [],
      normEps: ie.norm_eps ?? 1e-6,
      neckNormEps: ie.neck_norm_eps ?? 1e-6,
    },
    promptEncoder: {
      embedDim: need(pe, 'embed_dim', 'prompt_encoder'),
      imageEmbeddingSize: toPair(need(pe, 'image_embedding_size', 'prompt_encoder')),
      inputImageSize: toPair(need(pe, 'input_image_size', 'prompt_encoder')),
      maskInChans: pe.mask_in_chans ?? 16,
      normEps: pe.norm_eps ?? 1e-6,
    },
    maskDecoder: {
      transformerDim: need(md, 'transformer_dim', 'mask_decoder'),
      transformer: {
        depth: need(tr, 'depth', 'mask_decoder.transformer'),
        embeddingDim: need(tr, 'embedding_dim', 'mask_decoder.transformer'),
        mlpDim: need(tr, 'mlp_dim', 'mask_decoder.transformer'),
        numHeads: need(tr, 'num_heads', 'mask_decoder.transformer'),
        act: tr.act === 'gelu_erf' ? 'gelu' : (tr.act ?? 'relu'),
        attentionDownsampleRate: tr.attention_downsample_rate ?? 2,
        normEps: tr.norm_eps ?? 1e-5,
      },
      numMultimaskOutputs: md.num_multimask_outputs ?? 3,
      iouHeadDepth: md.iou_head_depth ?? 3,
      iouHeadHiddenDim: md.iou_head_hidden_dim ?? 256,
      upscalingNormEps: md.upscaling_norm_eps ?? 1e-6,
    },
    pixelMean: json.pixel_mean ?? [...PIXEL_MEAN],
    pixelStd: json.pixel_std ?? [...PIXEL_STD],
    maskThreshold: json.mask_threshold ?? 0,
  };
}

/** Checks that the parts of a config fit together; throws an Error naming the first mismatch. */
export function validateSamConfig(config: SamConfig): void {
  const ie = config.imageEncoder;
  const pe = config.promptEncoder;
  const md = config.maskDecoder;
  const problems: string[] = [];
  const positive = (v: number, name: string) => {
    if (!Number.isInteger(v) || v <= 0) problems.push(`${name} must be a positive integer (got ${v})`);
  };
  positive(ie.imgSize, 'imageEncoder.imgSize');
  positive(ie.patchSize, 'imageEncoder.patchSize');
  positive(ie.embedDim, 'imageEncoder.embedDim');
  positive(ie.depth, 'imageEncoder.depth');
  positive(ie.numHeads, 'imageEncoder.numHeads');
  if (ie.imgSize % ie.patchSize !== 0) problems.push(`imageEncoder.imgSize ${ie.imgSize} is not a multiple of patchSize ${ie.patchSize}`);
  if (ie.embedDim % ie.numHeads !== 0) problems.push(`imageEncoder.embedDim ${ie.embedDim} is not divisible by numHeads ${ie.numHeads}`);
  for (const i of ie.globalAttnIndexes) {
    if (!Number.isInteger(i) || i < 0 || i >= ie.depth) problems.push(`imageEncoder.globalAttnIndexes has ${i}, outside 0..${ie.depth - 1}`);
  }
  const g = ie.imgSize / ie.patchSize;
  if (pe.imageEmbeddingSize[0] !== g || pe.imageEmbeddingSize[1] !== g) {
    problems.push(`promptEncoder.imageEmbeddingSize [${pe.imageEmbeddingSize}] must be [${g}, ${g}] (imgSize / patchSize)`);
  }
  if (pe.inputImageSize[0] !== ie.imgSize || pe.inputImageSize[1] !== ie.imgSize) {
    problems.push(`promptEncoder.inputImageSize [${pe.inputImageSize}] must be [${ie.imgSize}, ${ie.imgSize}]`);
  }
  if (pe.embedDim !== ie.outChans) problems.push(`promptEncoder.embedDim ${pe.embedDim} must equal imageEncoder.outChans ${ie.outChans}`);
  if (md.transformerDim !== pe.embedDim) problems.push(`maskDecoder.transformerDim ${md.transformerDim} must equal promptEncoder.embedDim ${pe.embedDim}`);
  if (md.transformer.embeddingDim !== md.transformerDim) {
    problems.push(`maskDecoder.transformer.embeddingDim ${md.transformer.embeddingDim} must equal transformerDim ${md.transformerDim}`);
  }
  if (config.pixelMean.length !== 3 || config.pixelStd.length !== 3) problems.push('pixelMean and pixelStd need 3 values (RGB)');
  if (problems.length > 0) throw new Error(`invalid SAM config:\n  ${problems.join('\n  ')}`);
}
