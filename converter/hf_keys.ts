/**
 * Hugging Face `transformers` SAM (`SamModel`) state-dict names -> the official
 * segment-anything names this project uses.
 *
 * transformers renames the official keys when it converts a checkpoint (see
 * `models/sam/convert_sam_to_hf.py`, KEYS_TO_MODIFY_MAPPING, and the module names of
 * `modeling_sam.py`); this undoes it:
 *
 *   vision_encoder.layers.N.layer_norm1 / 2      image_encoder.blocks.N.norm1 / 2
 *   vision_encoder.patch_embed.projection       image_encoder.patch_embed.proj
 *   vision_encoder.neck.conv1 / layer_norm1 / conv2 / layer_norm2   image_encoder.neck.0 / 1 / 2 / 3
 *   prompt_encoder.shared_embedding.positional_embedding            prompt_encoder.pe_layer.positional_encoding_gaussian_matrix
 *   shared_image_embedding.positional_embedding                     (the same matrix again: transformers keeps
 *                                                                   it twice, tied; one copy is used)
 *   prompt_encoder.point_embed.N                 prompt_encoder.point_embeddings.N
 *   prompt_encoder.point_embed.weight [N, C]     (a fused variant) split into point_embeddings.N.weight [1, C]
 *   prompt_encoder.mask_embed.conv1 / layer_norm1 / conv2 / layer_norm2 / conv3
 *                                                prompt_encoder.mask_downscaling.0 / 1 / 3 / 4 / 6
 *   mask_decoder.upscale_conv1 / upscale_layer_norm / upscale_conv2  mask_decoder.output_upscaling.0 / 1 / 3
 *   mask_decoder.transformer.layers.N.layer_norm1..4                mask_decoder.transformer.layers.N.norm1..4
 *   mask_decoder.transformer.layer_norm_final_attn                  mask_decoder.transformer.norm_final_attn
 *   <mlp>.proj_in / layers.i / proj_out          <mlp>.layers.0 / i+1 / depth-1   (iou_prediction_head and
 *                                                output_hypernetworks_mlps.N: SamFeedForward)
 *   pixel_mean, pixel_std                        dropped (not weights)
 *
 * Everything else (attention q/k/v/out projections, qkv, proj, rel_pos_h/w, mlp.lin1/2,
 * pos_embed, iou_token, mask_tokens, no_mask_embed, not_a_point_embed) has the same name in
 * both. Values and shapes are identical; only names differ.
 */

/** Whether a set of state-dict keys uses the transformers naming. */
export function usesTransformersNames(keys: Iterable<string>): boolean {
  for (const k of keys) {
    if (k.startsWith('vision_encoder.') || k.startsWith('shared_image_embedding.')) return true;
    if (k.startsWith('prompt_encoder.shared_embedding.') || k.startsWith('prompt_encoder.mask_embed.')) return true;
  }
  return false;
}

const NECK: Record<string, string> = { conv1: '0', layer_norm1: '1', conv2: '2', layer_norm2: '3' };
const MASK_EMBED: Record<string, string> = { conv1: '0', layer_norm1: '1', conv2: '3', layer_norm2: '4', conv3: '6' };
const UPSCALE: Record<string, string> = { upscale_conv1: '0', upscale_layer_norm: '1', upscale_conv2: '3' };

/** A state-dict key after renaming, or a split of a fused tensor. */
export interface KeyMapping {
  /** The key in the official naming. */
  samKey: string;
  /** The key in the file. */
  sourceKey: string;
  /** When set: the tensor is row `row` of the file's tensor (kept with a leading dim of 1). */
  row?: number;
}

const MLP_RE = /^(mask_decoder\.(?:iou_prediction_head|output_hypernetworks_mlps\.\d+))\.(proj_in|proj_out|layers\.(\d+))\.(weight|bias)$/;

/**
 * The official name of each transformers key. Keys that are not part of SAM's weights
 * (pixel_mean / pixel_std, the second copy of the tied positional matrix) are left out; keys
 * this mapping does not know keep their name (so a mismatch report names them as they are).
 * `shapes` is needed only to split a fused `point_embed.weight`.
 */
export function mapTransformersKeys(keys: readonly string[], shapes?: ReadonlyMap<string, readonly number[]>): KeyMapping[] {
  // Hidden-layer count of every SamFeedForward, to place proj_out (layers.<depth-1>).
  const hidden = new Map<string, number>();
  for (const k of keys) {
    const m = MLP_RE.exec(k);
    if (!m) continue;
    const n = m[3] !== undefined ? Number(m[3]) + 1 : 0;
    hidden.set(m[1], Math.max(hidden.get(m[1]) ?? 0, n));
  }
  const keySet = new Set(keys);
  const out: KeyMapping[] = [];
  for (const key of keys) {
    if (key === 'pixel_mean' || key === 'pixel_std') continue;
    if (key === 'shared_image_embedding.positional_embedding') {
      // the tied copy: use it only when the prompt encoder's own copy is absent
      if (keySet.has('prompt_encoder.shared_embedding.positional_embedding')) continue;
      out.push({ samKey: 'prompt_encoder.pe_layer.positional_encoding_gaussian_matrix', sourceKey: key });
      continue;
    }
    if (key === 'prompt_encoder.point_embed.weight') {
      const rows = shapes?.get(key)?.[0];
      if (rows !== undefined) {
        for (let r = 0; r < rows; r++) out.push({ samKey: `prompt_encoder.point_embeddings.${r}.weight`, sourceKey: key, row: r });
        continue;
      }
    }
    out.push({ samKey: samKeyFromTransformers(key, hidden), sourceKey: key });
  }
  return out;
}

/** One key, transformers -> official (hidden-layer counts of the MLPs as found by mapTransformersKeys). */
export function samKeyFromTransformers(key: string, mlpHidden: ReadonlyMap<string, number> = new Map()): string {
  let m: RegExpExecArray | null;
  if (key.startsWith('vision_encoder.')) {
    const rest = key.slice('vision_encoder.'.length);
    if ((m = /^layers\.(\d+)\.layer_norm([12])\.(.*)$/.exec(rest))) return `image_encoder.blocks.${m[1]}.norm${m[2]}.${m[3]}`;
    if ((m = /^layers\.(\d+)\.(.*)$/.exec(rest))) return `image_encoder.blocks.${m[1]}.${m[2]}`;
    if ((m = /^patch_embed\.projection\.(.*)$/.exec(rest))) return `image_encoder.patch_embed.proj.${m[1]}`;
    if ((m = /^neck\.(conv1|layer_norm1|conv2|layer_norm2)\.(.*)$/.exec(rest))) return `image_encoder.neck.${NECK[m[1]]}.${m[2]}`;
    return `image_encoder.${rest}`;
  }
  if (key.startsWith('prompt_encoder.')) {
    const rest = key.slice('prompt_encoder.'.length);
    if (rest === 'shared_embedding.positional_embedding') return 'prompt_encoder.pe_layer.positional_encoding_gaussian_matrix';
    if ((m = /^point_embed\.(\d+)\.(.*)$/.exec(rest))) return `prompt_encoder.point_embeddings.${m[1]}.${m[2]}`;
    if ((m = /^mask_embed\.(conv1|layer_norm1|conv2|layer_norm2|conv3)\.(.*)$/.exec(rest))) {
      return `prompt_encoder.mask_downscaling.${MASK_EMBED[m[1]]}.${m[2]}`;
    }
    return key;
  }
  if (key.startsWith('mask_decoder.')) {
    const rest = key.slice('mask_decoder.'.length);
    if ((m = /^(upscale_conv1|upscale_layer_norm|upscale_conv2)\.(.*)$/.exec(rest))) return `mask_decoder.output_upscaling.${UPSCALE[m[1]]}.${m[2]}`;
    if ((m = /^transformer\.layers\.(\d+)\.layer_norm([1-4])\.(.*)$/.exec(rest))) return `mask_decoder.transformer.layers.${m[1]}.norm${m[2]}.${m[3]}`;
    if ((m = /^transformer\.layer_norm_final_attn\.(.*)$/.exec(rest))) return `mask_decoder.transformer.norm_final_attn.${m[1]}`;
    if ((m = MLP_RE.exec(key))) {
      const n = mlpHidden.get(m[1]) ?? 1;
      const index = m[2] === 'proj_in' ? 0 : m[2] === 'proj_out' ? n + 1 : Number(m[3]) + 1;
      return `${m[1]}.layers.${index}.${m[4]}`;
    }
    return key;
  }
  return key;
}
