/**
 * Test-only writers: `.safetensors` files, and a SAM state dict renamed the way Hugging Face
 * transformers names it (written independently of converter/hf_keys.ts, following
 * transformers' convert_sam_to_hf.py renames and the SamFeedForward module names), to check
 * that the converter maps the names back.
 */
import type { TorchDType, TorchTensor } from '../../converter/torch_types.js';

export interface SafetensorsTensor {
  name: string;
  /** safetensors dtype name (F32, F16, BF16, I64, ...); any string, to test unsupported ones. */
  dtype: string;
  shape: number[];
  /** Raw little-endian bytes. */
  data: Uint8Array;
}

const DTYPE_NAME: Record<TorchDType, string> = {
  float64: 'F64',
  float32: 'F32',
  float16: 'F16',
  bfloat16: 'BF16',
  int64: 'I64',
  int32: 'I32',
  int16: 'I16',
  int8: 'I8',
  uint8: 'U8',
  bool: 'BOOL',
};

export function tensorToSafetensors(name: string, t: TorchTensor): SafetensorsTensor {
  const d = t.data;
  return { name, dtype: DTYPE_NAME[t.dtype], shape: [...t.shape], data: new Uint8Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength)) };
}

/**
 * The file: 8-byte little-endian header length, JSON header (padded with spaces to a multiple of
 * 8 as the reference writer does), then the data in the given order.
 */
export function writeSafetensors(tensors: SafetensorsTensor[], metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.length] };
    offset += t.data.length;
  }
  let json = JSON.stringify(header);
  while ((8 + new TextEncoder().encode(json).length) % 8 !== 0) json += ' ';
  const h = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + h.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  let o = 8 + h.length;
  for (const t of tensors) {
    out.set(t.data, o);
    o += t.data.length;
  }
  return out;
}

/** Substring renames of convert_sam_to_hf.py, applied in order (MLP layers are handled below). */
const RENAMES: [string, string][] = [
  ['mask_decoder.output_upscaling.0', 'mask_decoder.upscale_conv1'],
  ['mask_decoder.output_upscaling.1', 'mask_decoder.upscale_layer_norm'],
  ['mask_decoder.output_upscaling.3', 'mask_decoder.upscale_conv2'],
  ['mask_downscaling.0', 'mask_embed.conv1'],
  ['mask_downscaling.1', 'mask_embed.layer_norm1'],
  ['mask_downscaling.3', 'mask_embed.conv2'],
  ['mask_downscaling.4', 'mask_embed.layer_norm2'],
  ['mask_downscaling.6', 'mask_embed.conv3'],
  ['point_embeddings', 'point_embed'],
  ['pe_layer.positional_encoding_gaussian_matrix', 'shared_embedding.positional_embedding'],
  ['image_encoder', 'vision_encoder'],
  ['neck.0', 'neck.conv1'],
  ['neck.1', 'neck.layer_norm1'],
  ['neck.2', 'neck.conv2'],
  ['neck.3', 'neck.layer_norm2'],
  ['patch_embed.proj', 'patch_embed.projection'],
  ['.norm', '.layer_norm'],
  ['blocks', 'layers'],
];

/**
 * A SAM key in transformers naming. `mlpDepth(prefix)` gives the number of Linear layers of the
 * MLP at `prefix` (iou_prediction_head / output_hypernetworks_mlps.N): transformers' SamFeedForward
 * names them proj_in, layers.0 .. layers.(depth-3), proj_out.
 */
export function transformersKey(key: string, mlpDepth: (prefix: string) => number): string {
  const mlp = /^(mask_decoder\.(?:iou_prediction_head|output_hypernetworks_mlps\.\d+))\.layers\.(\d+)\.(.*)$/.exec(key);
  if (mlp) {
    const i = Number(mlp[2]);
    const depth = mlpDepth(mlp[1]);
    const name = i === 0 ? 'proj_in' : i === depth - 1 ? 'proj_out' : `layers.${i - 1}`;
    return `${mlp[1]}.${name}.${mlp[3]}`;
  }
  let k = key;
  for (const [from, to] of RENAMES) if (k.includes(from)) k = k.split(from).join(to);
  return k;
}

export interface TransformersExportOptions {
  /** Also store the tied copy `shared_image_embedding.positional_embedding` (default true). */
  sharedCopy?: boolean;
  /** Keep the prompt encoder's copy (default true; false leaves only the shared one). */
  promptEncoderCopy?: boolean;
  /** Store the four point embeddings as one `point_embed.weight` [4, C] (a fused variant). */
  fusedPointEmbed?: boolean;
}

/** A SAM state dict renamed to transformers names, as safetensors entries (in the given order). */
export function toTransformersTensors(sd: Map<string, TorchTensor>, options: TransformersExportOptions = {}): SafetensorsTensor[] {
  const depth = new Map<string, number>();
  for (const k of sd.keys()) {
    const m = /^(mask_decoder\.(?:iou_prediction_head|output_hypernetworks_mlps\.\d+))\.layers\.(\d+)\./.exec(k);
    if (m) depth.set(m[1], Math.max(depth.get(m[1]) ?? 0, Number(m[2]) + 1));
  }
  const out: SafetensorsTensor[] = [];
  const points: TorchTensor[] = [];
  for (const [k, t] of sd) {
    const name = transformersKey(k, (p) => depth.get(p) ?? 3);
    if (options.fusedPointEmbed && /^prompt_encoder\.point_embed\.\d+\.weight$/.test(name)) {
      points[Number(name.split('.')[2])] = t;
      continue;
    }
    if (name === 'prompt_encoder.shared_embedding.positional_embedding') {
      if (options.promptEncoderCopy ?? true) out.push(tensorToSafetensors(name, t));
      if (options.sharedCopy ?? true) out.push(tensorToSafetensors('shared_image_embedding.positional_embedding', t));
      continue;
    }
    out.push(tensorToSafetensors(name, t));
  }
  if (points.length) {
    const width = points[0].shape[1];
    const data = new Float32Array(points.length * width);
    points.forEach((p, i) => data.set(p.data as Float32Array, i * width));
    out.push({ name: 'prompt_encoder.point_embed.weight', dtype: 'F32', shape: [points.length, width], data: new Uint8Array(data.buffer) });
  }
  return out;
}
