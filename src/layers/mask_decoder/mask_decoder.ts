/**
 * Predicts masks from image and prompt embeddings (`MaskDecoder` in the reference).
 *
 * The output tokens [iou_token, mask_tokens (1 + numMultimaskOutputs)] are prepended to
 * the sparse prompt embeddings and run through the two-way transformer together with the
 * image embedding plus the dense prompt embedding. The image side is upscaled 4x by two
 * transposed convolutions; each mask token goes through its own hypernetwork MLP, and
 * mask logits are the product of the two. An MLP on the IoU token predicts mask quality.
 *
 * Inputs: imageEmbeddings [1 or B, g, g, C], imagePe [1, g, g, C], sparse [B, N, C],
 * dense [B, g, g, C]. Outputs: masks [B, M, 4g, 4g] and iouPred [B, M], where M is
 * numMultimaskOutputs (tokens 1..) when multimask output is asked for, else 1 (token 0).
 */
import * as tf from '@tensorflow/tfjs';
import { gelu } from '../common/activations.js';
import { ConvTranspose2d } from '../common/conv_transpose_2d.js';
import { Embedding } from '../common/embedding.js';
import { LayerNorm2d } from '../common/layer_norm_2d.js';
import { SamLayer } from '../sam_layer.js';
import { addTensors, isCpuLikeBackend, splitAxis0 } from '../tensor_utils.js';
import { headScores } from '../transformer/block_diagonal_heads.js';
import { TwoWayTransformer, type TwoWayTransformerConfig } from '../transformer/two_way_transformer.js';
import { MLP } from './mlp.js';
import { StackedMLPs } from './stacked_mlps.js';
import { blocksToMasks } from './mask_blocks.js';

export interface MaskDecoderConfig {
  transformerDim: number;
  transformer: Omit<TwoWayTransformerConfig, 'name'>;
  numMultimaskOutputs: number;
  iouHeadDepth: number;
  iouHeadHiddenDim: number;
  /** LayerNorm2d eps in the output upscaling (1e-6 in SAM). */
  upscalingNormEps?: number;
  name?: string;
}

export interface MaskDecoderInputs {
  imageEmbeddings: tf.Tensor4D;
  imagePe: tf.Tensor4D;
  sparsePromptEmbeddings: tf.Tensor3D;
  /** [B, g, g, C]; not needed when sharedSrc is given. */
  densePromptEmbeddings?: tf.Tensor4D;
  multimaskOutput: boolean;
  /**
   * imageEmbeddings + densePromptEmbeddings when that is the same for every prompt, [1, g, g, C]
   * (no mask input: see src/sam/decoder_image_side.ts). Given, the batch's copies are not made.
   */
  sharedSrc?: tf.Tensor4D;
}

export interface MaskDecoderOutputs {
  masks: tf.Tensor4D; // [B, M, 4g, 4g]
  iouPred: tf.Tensor2D; // [B, M]
}

export class MaskDecoder extends SamLayer {
  static className = 'sam.MaskDecoder';
  readonly config: Omit<MaskDecoderConfig, 'name'>;
  readonly numMaskTokens: number;
  readonly transformer: TwoWayTransformer;
  readonly iouToken: Embedding;
  readonly maskTokens: Embedding;
  readonly outputUpscaling: [ConvTranspose2d, LayerNorm2d, ConvTranspose2d];
  readonly outputHypernetworksMlps: MLP[];
  readonly iouPredictionHead: MLP;
  /** The hypernetworks stacked for GPU backends, by the tokens they serve (stackedHypernetworks). */
  private readonly stackedMlps = new Map<string, StackedMLPs>();

  constructor(config: MaskDecoderConfig) {
    super({ name: config.name });
    const { name: _n, ...rest } = config;
    this.config = { ...rest, upscalingNormEps: config.upscalingNormEps ?? 1e-6 };
    const c = config.transformerDim;
    if (c % 8 !== 0) throw new Error(`MaskDecoder: transformer_dim ${c} must be divisible by 8`);
    this.numMaskTokens = config.numMultimaskOutputs + 1;
    this.transformer = this.addSublayer('transformer', new TwoWayTransformer(config.transformer));
    this.iouToken = this.addSublayer('iou_token', new Embedding({ numEmbeddings: 1, embeddingDim: c }));
    this.maskTokens = this.addSublayer('mask_tokens', new Embedding({ numEmbeddings: this.numMaskTokens, embeddingDim: c }));
    // Indices follow the reference's nn.Sequential (2 and 4 are GELUs).
    this.outputUpscaling = [
      this.addSublayer('output_upscaling.0', new ConvTranspose2d({ inChannels: c, outChannels: c / 4, kernelSize: 2, stride: 2 })),
      this.addSublayer('output_upscaling.1', new LayerNorm2d({ numFeatures: c / 4, eps: this.config.upscalingNormEps })),
      this.addSublayer('output_upscaling.3', new ConvTranspose2d({ inChannels: c / 4, outChannels: c / 8, kernelSize: 2, stride: 2 })),
    ];
    this.outputHypernetworksMlps = [];
    for (let i = 0; i < this.numMaskTokens; i++) {
      this.outputHypernetworksMlps.push(
        this.addSublayer(`output_hypernetworks_mlps.${i}`, new MLP({ inputDim: c, hiddenDim: c, outputDim: c / 8, numLayers: 3 })),
      );
    }
    this.iouPredictionHead = this.addSublayer(
      'iou_prediction_head',
      new MLP({ inputDim: c, hiddenDim: config.iouHeadHiddenDim, outputDim: this.numMaskTokens, numLayers: config.iouHeadDepth }),
    );
  }

  override build(): void {
    const c = this.config.transformerDim;
    this.transformer.buildFor([[null, null, null, c], [null, null, null, c], [null, null, c]]);
    this.iouToken.buildFor([null]);
    this.maskTokens.buildFor([null]);
    const [up0, ln, up3] = this.outputUpscaling;
    up0.buildFor([null, null, null, c]);
    ln.buildFor([null, null, null, c / 4]);
    up3.buildFor([null, null, null, c / 4]);
    for (const m of [...this.outputHypernetworksMlps, this.iouPredictionHead]) m.buildFor([null, c]);
  }

  /**
   * Masks and IoU predictions of the mask tokens [first, first + count) (`predict_masks`
   * computes all of them; each mask depends only on its own token, so computing just the
   * ones asked for gives the same values). Defaults to all 1 + numMultimaskOutputs.
   */
  predictMasks(inputs: Omit<MaskDecoderInputs, 'multimaskOutput'>, first = 0, count = this.numMaskTokens): MaskDecoderOutputs {
    this.buildFor([]);
    return tf.tidy(() => {
      const { imageEmbeddings, imagePe, sparsePromptEmbeddings: sparse, densePromptEmbeddings: dense } = inputs;
      const c = this.config.transformerDim;
      const b = sparse.shape[0];
      const outputTokens = tf.concat([this.iouToken.table(), this.maskTokens.table()], 0); // [1+M, C]
      const tokens = tf.concat([tf.tile(outputTokens.expandDims(0), [b, 1, 1]), sparse], 1); // [B, 1+M+N, C]
      if (imageEmbeddings.shape[0] !== 1 && imageEmbeddings.shape[0] !== b) {
        throw new Error(`MaskDecoder: image embeddings batch ${imageEmbeddings.shape[0]} must be 1 or the prompt batch ${b}`);
      }
      if (!inputs.sharedSrc && !dense) throw new Error('MaskDecoder: give densePromptEmbeddings (or sharedSrc)');
      const src = inputs.sharedSrc ?? addTensors(imageEmbeddings, dense!); // [B or 1, g, g, C]
      const [, h, w] = src.shape;
      const { hs, keys } = this.runTransformer(src, imagePe, tokens);
      const iouTokenOut = hs.slice([0, 0, 0], [b, 1, c]).reshape([b, c]);
      const maskTokensOut = hs.slice([0, 1, 0], [b, this.numMaskTokens, c]); // [B, M, C]

      const selected = this.outputHypernetworksMlps.slice(first, first + count);
      const hyperIn = isCpuLikeBackend()
        ? (tf.stack(
            selected.map((mlp, j) => this.run(mlp, maskTokensOut.slice([0, first + j, 0], [b, 1, c]).reshape([b, c]))),
            1,
          ) as tf.Tensor3D) // [B, count, C/8]
        : this.stackedHypernetworks(selected, maskTokensOut.slice([0, first, 0], [b, count, c]) as tf.Tensor3D);
      const masks = isCpuLikeBackend() ? this.masksByBlocks(keys, h, w, hyperIn) : this.masksUpscaled(keys[0], h, w, hyperIn);
      const iouAll = this.run(this.iouPredictionHead, iouTokenOut) as tf.Tensor2D;
      const iouPred = count === this.numMaskTokens ? iouAll : (iouAll.slice([0, first], [b, count]) as tf.Tensor2D);
      return { masks, iouPred };
    });
  }

  /**
   * The hypernetworks of the selected tokens (tokens [B, count, C]) on GPU backends, side by
   * side (stacked_mlps.ts) -> [B, count, C/8].
   */
  private stackedHypernetworks(selected: MLP[], tokens: tf.Tensor3D): tf.Tensor3D {
    const [b, count, c] = tokens.shape;
    const key = selected.map((m) => this.outputHypernetworksMlps.indexOf(m)).join(',');
    let stacked = this.stackedMlps.get(key);
    if (!stacked) this.stackedMlps.set(key, (stacked = new StackedMLPs()));
    // [count, B, C]: a reshape for one prompt, a Transpose for more
    const byToken = b === 1 ? tokens.reshape([count, 1, c]) : tokens.transpose([1, 0, 2]);
    const out = stacked.apply(selected, byToken as tf.Tensor3D); // [count, B, C/8]
    return (b === 1 ? out.reshape([1, count, out.shape[2]]) : out.transpose([1, 0, 2])) as tf.Tensor3D;
  }

  /**
   * Mask logits [B, count, 4h, 4w] = hyperIn [B, count, C/8] times the upscaled image side
   * (keys [B, h*w, C] through the two transposed convolutions, the layer norm and GELUs), as
   * the reference computes them: the upscaled image [B, 4h, 4w, C/8], then the product.
   */
  private masksUpscaled(keys: tf.Tensor3D, h: number, w: number, hyperIn: tf.Tensor3D): tf.Tensor4D {
    const [up0, ln, up3] = this.outputUpscaling;
    const [b, , c] = keys.shape;
    const count = hyperIn.shape[1];
    const upscaled = gelu(this.run(up3, gelu(this.run(ln, this.run(up0, keys.reshape([b, h, w, c])))))); // [B, 4h, 4w, C/8]
    const [, uh, uw, uc] = upscaled.shape;
    // hyper_in @ upscaled^T: the GPU matMul reads upscaled transposed (one dispatch, no Transpose before or after).
    return tf.matMul(hyperIn, upscaled.reshape([b, uh * uw, uc]) as tf.Tensor3D, false, true).reshape([b, count, uh, uw]) as tf.Tensor4D;
  }

  /**
   * The same logits on cpu/wasm, without rearranging the upscaled image: each transposed
   * convolution's output stays as blocks (a row per input pixel, its k x k outputs as
   * columns; ConvTranspose2d.blocks), which the layer norm (over each output pixel's channels)
   * and GELU take as they are. The hypernetwork product then runs on the blocks: the k*k
   * column blocks [C/8] of a row of the second convolution's blocks [k*k*C/8] each times
   * hyperInᵀ [C/8, count], as the heads of block_diagonal_heads.ts's headScores (on wasm
   * one SIMD kernel; elsewhere one 2-D product with the block-diagonal matrix whose exact
   * zeros add nothing), instead of [16 h w, C/8] x [C/8, count], whose 3 columns tfjs-wasm
   * runs slowly; only the [count, 4h, 4w] result is rearranged, in JavaScript
   * (mask_blocks.ts). Every logit is a sum of the same terms: bit for bit the reference
   * form's where both sum in order (unfused wasm), within the rounding of two summation
   * orders elsewhere (tfjs-cpu sums in blocks of 48 terms; fused multiply-adds round once per
   * term): test/mask_decoder_blocks.test.ts. On wasm this trades the two full-size
   * rearrangements and the slow product for the per-block kernel and the JavaScript
   * rearrangement (~1 ms): ViT-B's upscaling and product, the two forms alternately in one
   * process, 25 times (fused; best / median), the reference's form against this one (then
   * with a block-diagonal [h w k0 k0, k3 k3 C/8] x [k3 k3 C/8, 16] product on the SIMD matMul):
   * 27.0 / 30.2 and 25.7 / 37.2 ms against 26.3 / 28.9 and 24.3 / 34.0 ms; unfused 27.3 /
   * 36.9 against 25.8 / 36.0 ms.
   */
  private masksByBlocks(keys: tf.Tensor3D[], h: number, w: number, hyperIn: tf.Tensor3D): tf.Tensor4D {
    return tf.tidy(() => {
      const [up0, ln, up3] = this.outputUpscaling;
      const [b, count] = hyperIn.shape;
      const [k0, o0] = [up0.config.kernelSize, up0.config.outChannels];
      const [k3, o3] = [up3.config.kernelSize, up3.config.outChannels];
      const ss = k3 * k3;
      if (keys.length !== b || keys.some((k) => k.shape[0] !== 1 || k.shape[1] !== h * w)) {
        throw new Error(`masksByBlocks: keys ${keys.map((k) => JSON.stringify(k.shape)).join(', ')} are not ${b} prompts' [1, ${h * w}, C]`);
      }
      // each prompt's hyperIn [count, o3] repeated for the k3 k3 blocks of a row: [count, ss o3]
      const hyper = splitAxis0(hyperIn, b).map((t) => tf.tile(t.reshape([count, o3]), [1, ss]) as tf.Tensor2D);
      const c = keys[0].shape[2];
      const pixels0 = h * w * k0 * k0; // rows (y, x, dh, dw): the first convolution's output pixels
      // each prompt's [h w k0 k0 rows, (dh3, dw3, m) columns] -> [count, (y, dh, dh3), (x, dw, dw3)]
      const gh = h * k0 * k3;
      const gw = w * k0 * k3;
      const out = new Float32Array(b * count * gh * gw);
      const promptValues = count * gh * gw; // one prompt's masks
      // One prompt at a time (keys [1, h w, C] each, as runTransformer leaves them here): no
      // batch-sized upscaling to make and split again, and one product alive at a time.
      keys.forEach((k, i) => {
        const product = tf.tidy(() => {
          const y0 = up0.blocks(k.reshape([h * w, c]) as tf.Tensor2D); // [h w, k0 k0 o0]
          const z0 = gelu(this.run(ln, y0.reshape([1, pixels0, 1, o0]))).reshape([pixels0, o0]) as tf.Tensor2D;
          y0.dispose();
          const y3 = gelu(up3.blocks(z0)) as tf.Tensor2D; // [pixels0, k3 k3 o3], columns (dh3, dw3, channel)
          z0.dispose();
          // Each block s = (dh3, dw3) of a row times hyperIn: the k3 k3 blocks as heads.
          return headScores(y3, hyper[i], ss); // [pixels0, ss count], columns (s, m)
        });
        const v = product.dataSync() as Float32Array;
        product.dispose();
        blocksToMasks(v, out.subarray(i * promptValues, (i + 1) * promptValues), { h, w, k0, k3, count });
      });
      return tf.tensor4d(out, [b, count, gh, gw]);
    });
  }

  /**
   * The two-way transformer over a batch of prompts: queries hs [B, N, C] and the keys; src is
   * [B, g, g, C], or [1, g, g, C] shared by every prompt. On wasm/cpu one prompt at a time:
   * their attentions work on 2-D slices, so a batched pass would split every [B, 4096, C]
   * operand per attention (8 splits a pass); here the inputs are split once, and the keys are
   * left as B tensors [1, h*w, C] for masksByBlocks, which takes them one by one. Elsewhere the
   * keys are one tensor [B, h*w, C]. Each prompt's values do not depend on the others'.
   */
  private runTransformer(src: tf.Tensor4D, imagePe: tf.Tensor4D, tokens: tf.Tensor): { hs: tf.Tensor; keys: tf.Tensor3D[] } {
    const b = tokens.shape[0];
    const cpu = isCpuLikeBackend();
    const run = (s: tf.Tensor4D, t: tf.Tensor) => this.runMulti(this.transformer, [s, imagePe, t]) as [tf.Tensor, tf.Tensor3D];
    const whole = ([hs, keys]: [tf.Tensor, tf.Tensor3D]) => ({ hs, keys: [keys] });
    if (b === 1 || (!cpu && src.shape[0] === b)) return whole(run(src, tokens));
    if (!cpu) return tf.tidy(() => whole(run(tf.tile(src, [b, 1, 1, 1]), tokens)));
    return tf.tidy(() => {
      const srcs = src.shape[0] === 1 ? new Array<tf.Tensor4D>(b).fill(src) : splitAxis0(src, b);
      const outs = splitAxis0(tokens, b).map((t, i) => run(srcs[i], t));
      return { hs: tf.concat(outs.map(([hs]) => hs), 0), keys: outs.map(([, keys]) => keys) };
    });
  }

  /** Masks and IoU predictions, sliced for single or multimask output as the reference does. */
  decode(inputs: MaskDecoderInputs): MaskDecoderOutputs {
    // Multimask output is tokens 1.., single-mask output token 0, as in the reference.
    return inputs.multimaskOutput ? this.predictMasks(inputs, 1, this.numMaskTokens - 1) : this.predictMasks(inputs, 0, 1);
  }

  /** Keras form: inputs [imageEmbeddings, imagePe, sparse, dense] -> [masks, iouPred]. */
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { multimaskOutput?: boolean }): tf.Tensor[] {
    const [imageEmbeddings, imagePe, sparse, dense] = inputs as tf.Tensor[];
    const { masks, iouPred } = this.decode({
      imageEmbeddings: imageEmbeddings as tf.Tensor4D,
      imagePe: imagePe as tf.Tensor4D,
      sparsePromptEmbeddings: sparse as tf.Tensor3D,
      densePromptEmbeddings: dense as tf.Tensor4D,
      multimaskOutput: kwargs.multimaskOutput ?? true,
    });
    return [masks, iouPred];
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape[] {
    const [img, , sparse] = inputShape as tf.Shape[];
    const up = (n: number | null) => (n === null ? null : 4 * n);
    return [
      [sparse[0], null, up(img[1]), up(img[2])],
      [sparse[0], null],
    ];
  }

  protected override disposeWeights(): number {
    for (const m of this.stackedMlps.values()) m.dispose();
    this.stackedMlps.clear();
    return super.disposeWeights();
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...(this.config as unknown as tf.serialization.ConfigDict) };
  }
}
tf.serialization.registerClass(MaskDecoder);
