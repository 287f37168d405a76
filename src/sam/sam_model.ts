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
import { MaskDecoder } from '../layers/mask_decoder/mask_decoder.js';
import { PromptEncoder } from '../layers/prompt_encoder/prompt_encoder.js';
import type { TorchParam } from '../layers/sam_layer.js';
import type { BackendChoice } from '../backend.js';
import { validateSamConfig, type ModelType, type SamConfig } from './config.js';
import { postprocessMasks } from './postprocess.js';
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

  /** Prompt encoder + mask decoder: low-res logits and IoU predictions. */
  decode(inputs: DecodeInputs): DecodeOutputs {
    this.assertNotDisposed();
    return tf.tidy(() => {
      const { pointCoords, pointLabels, boxes, maskInput } = inputs;
      if ((pointCoords === undefined) !== (pointLabels === undefined)) {
        throw new Error('decode: pointCoords and pointLabels must be given together');
      }
      let masks: tf.Tensor4D | undefined;
      if (maskInput) masks = (maskInput.rank === 3 ? maskInput.expandDims(-1) : maskInput) as tf.Tensor4D;
      const { sparse, dense } = this.promptEncoder.embed({
        points: pointCoords && pointLabels ? { coords: pointCoords, labels: pointLabels } : undefined,
        boxes,
        masks,
      });
      const { masks: lowResLogits, iouPred } = this.maskDecoder.decode({
        imageEmbeddings: inputs.imageEmbeddings,
        imagePe: this.promptEncoder.getDensePe(),
        sparsePromptEmbeddings: sparse,
        densePromptEmbeddings: dense,
        multimaskOutput: inputs.multimaskOutput,
      });
      return { lowResLogits, iouPredictions: iouPred };
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

  /** Releases every weight. The model cannot be used afterwards. */
  dispose(): void {
    if (this.disposed) return;
    this.imageEncoder.dispose();
    this.promptEncoder.dispose();
    this.maskDecoder.dispose();
    this.disposed = true;
  }

  private assertNotDisposed(): void {
    if (this.disposed) throw new Error('this SAM model has been disposed');
  }
}
