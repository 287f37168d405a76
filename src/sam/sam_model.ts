/**
 * The assembled model (`Sam` in the reference): image encoder, prompt encoder and mask
 * decoder built from a SamConfig, loadable from a PyTorch state dict.
 *
 * Coordinates given to `decode` are in the frame of the padded model input (S x S), i.e.
 * already scaled like `ResizeLongestSide.apply_coords`; the predictor does that mapping.
 */
import * as tf from '@tensorflow/tfjs';
import type { AttentionImplementation } from '../layers/image_encoder/attention_kernels.js';
import { ImageEncoderViT } from '../layers/image_encoder/image_encoder.js';
import { MaskDecoder, type MaskDecoderInputs } from '../layers/mask_decoder/mask_decoder.js';
import { PromptEncoder } from '../layers/prompt_encoder/prompt_encoder.js';
import type { TorchParam } from '../layers/sam_layer.js';
import type { BackendChoice } from '../backend.js';
import { validateSamConfig, type ModelType, type SamConfig } from './config.js';
import { postprocessMasks } from './postprocess.js';
import { DecoderImageSide } from './decoder_image_side.js';
import { isCpuLikeBackend } from '../layers/tensor_utils.js';
import { loadStateDict, type Float32Entry } from './state_dict.js';

export interface DecodeInputs {
  /** [1 or B, g, g, C] (NHWC), from `embedImage`. */
  imageEmbeddings: tf.Tensor4D;
  /** Points [B, N, 2] (x, y) in the model input frame and labels [B, N] (1, 0, -1). */
  pointCoords?: tf.Tensor3D;
  pointLabels?: tf.Tensor2D;
  /** Boxes [B, 4] (x0, y0, x1, y1) in the model input frame. */
  boxes?: tf.Tensor2D;
  /** Low-res mask logits [B, 4g, 4g] or [B, 4g, 4g, 1] from a previous prediction. */
  maskInput?: tf.Tensor;
  multimaskOutput: boolean;
  /**
   * On cpu/wasm, keep the decoder's per-image tensors for prompts without a mask input
   * (src/sam/decoder_image_side.ts: 3 image-sized tensors) for the next decodes of this
   * embedding, until `releaseDecoderImageSide(embedding)`, another kept embedding or
   * `dispose()`. For callers that decode many prompts of one image and say when they are
   * done with it (SamPredictor, the automatic mask generator). Otherwise they are made for
   * the call (shared by its prompts) and released with it.
   */
  keepImageSide?: boolean;
}

export interface DecodeOutputs {
  /** Low-res mask logits [B, M, 4g, 4g]. */
  lowResLogits: tf.Tensor4D;
  /** Predicted mask quality [B, M]. */
  iouPredictions: tf.Tensor2D;
}

/** Where a model came from and what runs it (filled in by the loaders). */
export interface SamModelInfo {
  modelType?: ModelType | null;
  source?: string;
  backend?: BackendChoice;
}

export class SamModel {
  readonly config: SamConfig;
  readonly info: SamModelInfo = {};
  readonly imageEncoder: ImageEncoderViT;
  readonly promptEncoder: PromptEncoder;
  readonly maskDecoder: MaskDecoder;
  private disposed = false;
  /** The decoder's per-image inputs for prompts without a mask input (cpu/wasm). */
  private readonly decoderImageSide = new DecoderImageSide();

  constructor(config: SamConfig) {
    validateSamConfig(config);
    this.config = config;
    this.imageEncoder = new ImageEncoderViT({ ...config.imageEncoder, name: 'image_encoder' });
    this.promptEncoder = new PromptEncoder({ ...config.promptEncoder, name: 'prompt_encoder' });
    this.maskDecoder = new MaskDecoder({ ...config.maskDecoder, name: 'mask_decoder' });
    const s = config.imageEncoder.imgSize;
    this.imageEncoder.buildFor([1, s, s, config.imageEncoder.inChans]);
    this.promptEncoder.buildFor([]);
    this.maskDecoder.buildFor([]);
  }

  /** Side of the square encoder input, S. */
  get imgSize(): number {
    return this.config.imageEncoder.imgSize;
  }

  /** Every weight by its PyTorch state-dict key (`image_encoder.blocks.0.attn.qkv.weight`, ...). */
  torchParams(): Map<string, TorchParam> {
    return new Map([
      ...this.imageEncoder.torchParams('image_encoder.'),
      ...this.promptEncoder.torchParams('prompt_encoder.'),
      ...this.maskDecoder.torchParams('mask_decoder.'),
    ]);
  }

  /** Loads a state dict (float32 entries in PyTorch layout); throws StateDictMismatchError on mismatch. */
  loadStateDict(entries: Map<string, Float32Entry>): void {
    this.assertNotDisposed();
    loadStateDict(this.torchParams(), entries);
  }

  /** Preprocessed images [B, S, S, 3] -> image embeddings [B, g, g, C]. */
  embedImage(preprocessed: tf.Tensor4D): tf.Tensor4D {
    this.assertNotDisposed();
    return this.imageEncoder.apply(preprocessed) as tf.Tensor4D;
  }

  /** Dense positional encoding of the embedding grid, [1, g, g, C]. */
  getDensePe(): tf.Tensor4D {
    this.assertNotDisposed();
    return this.promptEncoder.getDensePe();
  }

  /**
   * Most bytes one decoder pass may hold in temporaries: `decode` splits a batch of prompts
   * into passes of as many prompts as fit (each prompt is decoded on its own, so the results
   * are the same). Measured on wasm with ViT-B's decoder, a prompt holds about 73 MB at the
   * peak (the heap grew 1181 MB for 16 prompts), so the reference's 64-point batches of the
   * automatic mask generator would need 4.7 GB in one pass, over wasm's 4 GB.
   */
  maxDecodeBytes = 512 * 2 ** 20;

  /** Bytes of decoder temporaries one prompt holds at the peak: about 18 image-sized float32 tensors. */
  decodeBytesPerPrompt(): number {
    const g = this.imageEncoder.gridSize;
    return 18 * g * g * this.config.maskDecoder.transformerDim * 4;
  }

  /** Prompts per decoder pass under `maxDecodeBytes`. */
  decodeChunkSize(): number {
    return Math.max(1, Math.floor(this.maxDecodeBytes / this.decodeBytesPerPrompt()));
  }

  /** Prompt encoder + mask decoder: low-res logits and IoU predictions. */
  decode(inputs: DecodeInputs): DecodeOutputs {
    this.assertNotDisposed();
    const batch = inputs.pointCoords?.shape[0] ?? inputs.boxes?.shape[0] ?? inputs.maskInput?.shape[0] ?? 1;
    const chunk = this.decodeChunkSize();
    if (batch <= chunk) return this.decodeOnce(inputs);
    const parts: DecodeOutputs[] = [];
    try {
      for (let start = 0; start < batch; start += chunk) {
        const size = Math.min(chunk, batch - start);
        const [lowResLogits, iouPredictions] = tf.tidy(() => {
          const rows = <T extends tf.Tensor>(t: T | undefined): T | undefined => (t === undefined ? undefined : (t.slice(start, size) as T));
          const emb = inputs.imageEmbeddings;
          const out = this.decodeOnce({
            imageEmbeddings: emb.shape[0] === 1 ? emb : (rows(emb) as tf.Tensor4D),
            pointCoords: rows(inputs.pointCoords),
            pointLabels: rows(inputs.pointLabels),
            boxes: rows(inputs.boxes),
            maskInput: rows(inputs.maskInput),
            multimaskOutput: inputs.multimaskOutput,
            keepImageSide: inputs.keepImageSide,
          });
          return [out.lowResLogits, out.iouPredictions];
        }) as [tf.Tensor4D, tf.Tensor2D];
        parts.push({ lowResLogits, iouPredictions });
      }
      return {
        lowResLogits: tf.concat(parts.map((p) => p.lowResLogits), 0) as tf.Tensor4D,
        iouPredictions: tf.concat(parts.map((p) => p.iouPredictions), 0) as tf.Tensor2D,
      };
    } finally {
      for (const p of parts) tf.dispose([p.lowResLogits, p.iouPredictions]);
    }
  }

  private decodeOnce(inputs: DecodeInputs): DecodeOutputs {
    return tf.tidy(() => {
      const { pointCoords, pointLabels, boxes, maskInput } = inputs;
      if ((pointCoords === undefined) !== (pointLabels === undefined)) {
        throw new Error('decode: pointCoords and pointLabels must be given together');
      }
      let masks: tf.Tensor4D | undefined;
      if (maskInput) masks = (maskInput.rank === 3 ? maskInput.expandDims(-1) : maskInput) as tf.Tensor4D;
      const prompts = { points: pointCoords && pointLabels ? { coords: pointCoords, labels: pointLabels } : undefined, boxes, masks };
      const imagePe = this.promptEncoder.getDensePe();
      const emb = inputs.imageEmbeddings;
      // Without a mask input every prompt's src is the same: on cpu/wasm it is made once for
      // the call's prompts, or once per image (keepImageSide), and no dense embeddings are. On
      // GPU backends the same for a single prompt (the 'perHead' attention there takes the
      // image side in the prompts' batch): two image-sized adds fewer a prompt, and the first
      // layer's keys + PE.
      const cpuLike = isCpuLikeBackend();
      const promptBatch = pointCoords?.shape[0] ?? boxes?.shape[0] ?? 1;
      const shared = !masks && emb.shape[0] === 1 && (cpuLike || promptBatch === 1);
      const side = shared ? (inputs.keepImageSide ? this.decoderImageSide : new DecoderImageSide()) : null;
      try {
        let promptSide: Pick<MaskDecoderInputs, 'sparsePromptEmbeddings' | 'densePromptEmbeddings' | 'sharedSrc'>;
        if (side) {
          // The first layer's image-side projections are made once only where they are looked up (the folded layout, cpu/wasm).
          const first = cpuLike ? this.maskDecoder.transformer.layers[0] : undefined;
          const firstLayer = first ? { tokenToImage: first.crossAttnTokenToImage, imageToToken: first.crossAttnImageToToken } : undefined;
          const sharedSrc = side.src(emb, this.promptEncoder.noMaskEmbed.table(), imagePe, firstLayer);
          promptSide = { sparsePromptEmbeddings: this.promptEncoder.embedSparse(prompts), sharedSrc };
        } else {
          const { sparse, dense } = this.promptEncoder.embed(prompts);
          promptSide = { sparsePromptEmbeddings: sparse, densePromptEmbeddings: dense };
        }
        const { masks: lowResLogits, iouPred } = this.maskDecoder.decode({ imageEmbeddings: emb, imagePe, multimaskOutput: inputs.multimaskOutput, ...promptSide });
        return { lowResLogits, iouPredictions: iouPred };
      } finally {
        if (side !== this.decoderImageSide) side?.dispose();
      }
    });
  }

  /** Low-res logits [B, M, 4g, 4g] -> logits at the original image size [B, M, H, W]. */
  postprocessMasks(lowResLogits: tf.Tensor4D, inputSize: [number, number], originalSize: [number, number]): tf.Tensor4D {
    return postprocessMasks(lowResLogits, inputSize, originalSize, this.imgSize);
  }

  /**
   * Chooses how the image encoder's attention lays out its heavy ops ('auto' picks by
   * backend; see attention_kernels.ts). Outputs are the same up to float rounding.
   */
  setAttentionImplementation(impl: AttentionImplementation): void {
    for (const block of this.imageEncoder.blocks) block.attn.implementation = impl;
  }

  /**
   * Releases the decoder's per-image tensors (see decoder_image_side.ts) if they were made for
   * this embedding; the predictor calls this when it lets its image go.
   */
  releaseDecoderImageSide(embedding: tf.Tensor): void {
    this.decoderImageSide.release(embedding);
  }

  /** Releases every weight. The model cannot be used afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.imageEncoder.dispose();
    this.promptEncoder.dispose();
    this.maskDecoder.dispose();
    this.decoderImageSide.dispose();
    this.disposed = true;
  }

  private assertNotDisposed(): void {
    if (this.disposed) throw new Error('this SAM model has been disposed');
  }
}
