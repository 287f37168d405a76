/**
 * Encodes prompts for the mask decoder (`PromptEncoder` in the reference).
 *
 * Sparse prompts (points and box corners) become one C-vector each: the random-Fourier
 * encoding of the pixel centre plus a learned embedding of the point type. Dense prompts
 * (a low-res mask) are downscaled by convolutions to the embedding grid; without a mask
 * every position gets the learned `no_mask_embed`.
 *
 * Layouts: points [B, N, 2] (x, y) and boxes [B, 4] (x0, y0, x1, y1) in pixels of the
 * padded model input (S x S); labels [B, N] with 1 = foreground, 0 = background,
 * -1 = padding point; masks [B, 4gh, 4gw, 1]. Outputs: sparse [B, n, C], dense [B, gh, gw, C].
 */
import * as tf from '@tensorflow/tfjs';
import { gelu } from '../common/activations.js';
import { Conv2d } from '../common/conv2d.js';
import { Embedding } from '../common/embedding.js';
import { LayerNorm2d } from '../common/layer_norm_2d.js';
import { SamLayer } from '../sam_layer.js';
import { PositionEmbeddingRandom } from './position_embedding_random.js';
import { view } from '../tensor_utils.js';

export interface PromptEncoderConfig {
  embedDim: number;
  /** Embedding grid [gh, gw]. */
  imageEmbeddingSize: [number, number];
  /** Padded model input [S, S]. */
  inputImageSize: [number, number];
  maskInChans: number;
  /** LayerNorm2d eps of the mask downscaling (1e-6 in SAM). */
  normEps?: number;
  name?: string;
}

export interface PointPrompt {
  coords: tf.Tensor3D; // [B, N, 2]
  labels: tf.Tensor2D; // [B, N]
}

export interface PromptEncoderInputs {
  points?: PointPrompt;
  boxes?: tf.Tensor2D; // [B, 4]
  masks?: tf.Tensor4D; // [B, 4gh, 4gw, 1]
}

export interface PromptEmbeddings {
  sparse: tf.Tensor3D; // [B, n, C]
  dense: tf.Tensor4D; // [B, gh, gw, C]
}

/** Which optional inputs a `call` receives, in the order points (coords, labels), boxes, masks. */
export interface PromptEncoderCallArgs {
  points?: boolean;
  boxes?: boolean;
  masks?: boolean;
}

export class PromptEncoder extends SamLayer {
  static className = 'sam.PromptEncoder';
  readonly config: Omit<PromptEncoderConfig, 'name'>;
  readonly peLayer: PositionEmbeddingRandom;
  readonly pointEmbeddings: Embedding[];
  readonly notAPointEmbed: Embedding;
  readonly maskDownscaling: [Conv2d, LayerNorm2d, Conv2d, LayerNorm2d, Conv2d];
  readonly noMaskEmbed: Embedding;

  constructor(config: PromptEncoderConfig) {
    super({ name: config.name });
    const { name: _n, ...rest } = config;
    this.config = { ...rest, normEps: config.normEps ?? 1e-6 };
    const c = config.embedDim;
    const mic = config.maskInChans;
    if (mic % 4 !== 0) throw new Error(`PromptEncoder: mask_in_chans ${mic} must be divisible by 4`);
    this.peLayer = this.addSublayer('pe_layer', new PositionEmbeddingRandom({ numPosFeats: c / 2 }));
    // pos/neg point, box top-left, box bottom-right
    this.pointEmbeddings = [0, 1, 2, 3].map((i) =>
      this.addSublayer(`point_embeddings.${i}`, new Embedding({ numEmbeddings: 1, embeddingDim: c })),
    );
    this.notAPointEmbed = this.addSublayer('not_a_point_embed', new Embedding({ numEmbeddings: 1, embeddingDim: c }));
    const eps = this.config.normEps;
    // Indices follow the reference's nn.Sequential (2 and 5 are the GELUs, which hold no weights).
    this.maskDownscaling = [
      this.addSublayer('mask_downscaling.0', new Conv2d({ inChannels: 1, outChannels: mic / 4, kernelSize: 2, stride: 2 })),
      this.addSublayer('mask_downscaling.1', new LayerNorm2d({ numFeatures: mic / 4, eps })),
      this.addSublayer('mask_downscaling.3', new Conv2d({ inChannels: mic / 4, outChannels: mic, kernelSize: 2, stride: 2 })),
      this.addSublayer('mask_downscaling.4', new LayerNorm2d({ numFeatures: mic, eps })),
      this.addSublayer('mask_downscaling.6', new Conv2d({ inChannels: mic, outChannels: c, kernelSize: 1 })),
    ];
    this.noMaskEmbed = this.addSublayer('no_mask_embed', new Embedding({ numEmbeddings: 1, embeddingDim: c }));
  }

  /** Size of the mask input the dense branch expects, [4gh, 4gw]. */
  get maskInputSize(): [number, number] {
    const [gh, gw] = this.config.imageEmbeddingSize;
    return [4 * gh, 4 * gw];
  }

  override build(): void {
    const mic = this.config.maskInChans;
    const [gh, gw] = this.config.imageEmbeddingSize;
    this.peLayer.buildFor([null, 2]);
    for (const e of [...this.pointEmbeddings, this.notAPointEmbed, this.noMaskEmbed]) e.buildFor([null]);
    const [d0, n1, d3, n4, d6] = this.maskDownscaling;
    d0.buildFor([null, 4 * gh, 4 * gw, 1]);
    n1.buildFor([null, 2 * gh, 2 * gw, mic / 4]);
    d3.buildFor([null, 2 * gh, 2 * gw, mic / 4]);
    n4.buildFor([null, gh, gw, mic]);
    d6.buildFor([null, gh, gw, mic]);
  }

  /** The dense PE, computed once per backend and PE matrix (it is the same for every prompt). */
  private densePeCache: { source: unknown[]; pe: tf.Tensor4D } | null = null;

  /** Dense positional encoding of the embedding grid, [1, gh, gw, C] (`get_dense_pe`). The caller owns it. */
  getDensePe(): tf.Tensor4D {
    this.buildFor([]);
    const source = [tf.getBackend(), this.peLayer.gaussianMatrixTensor().dataId];
    const cached = this.densePeCache;
    if (!cached || cached.source.some((v, i) => v !== source[i])) {
      cached?.pe.dispose();
      const pe = tf.tidy(() => this.peLayer.denseGrid(this.config.imageEmbeddingSize).expandDims(0) as tf.Tensor4D);
      this.densePeCache = { source, pe: tf.keep(pe) };
    }
    return view(this.densePeCache!.pe);
  }

  protected override disposeWeights(): number {
    this.densePeCache?.pe.dispose();
    this.densePeCache = null;
    return super.disposeWeights();
  }

  /** Points [B, N, 2] and labels [B, N] -> [B, N(+1), C]; `pad` appends the (0, 0) / -1 padding point. */
  private embedPoints(points: PointPrompt, pad: boolean): tf.Tensor3D {
    return tf.tidy(() => {
      let coords: tf.Tensor = tf.add(points.coords, 0.5); // pixel centres
      let labels: tf.Tensor = points.labels;
      if (pad) {
        const b = coords.shape[0];
        coords = tf.concat([coords, tf.zeros([b, 1, 2])], 1);
        labels = tf.concat([labels, tf.fill([b, 1], -1, labels.dtype)], 1);
      }
      const pe = this.peLayer.forwardWithCoords(coords, this.config.inputImageSize); // [B, N, C]
      const [b, n, c] = pe.shape as [number, number, number];
      // label -1: the encoding is replaced by not_a_point_embed; 0 / 1 add their embedding;
      // any other label leaves it. Each label's embedding is picked by a one-hot row times
      // [not_a_point; point 0; point 1] (sums of one product and exact zeros: the rows
      // themselves), so that GPU backends dispatch 7 kernels for it rather than 16.
      const lab = (labels.dtype === 'float32' ? labels : tf.cast(labels, 'float32')).reshape([b * n, 1]);
      const oneHot = tf.cast(tf.equal(lab, tf.tensor1d([-1, 0, 1])), 'float32'); // [B N, 3]
      const table = tf.concat([this.notAPointEmbed.table(), this.pointEmbeddings[0].table(), this.pointEmbeddings[1].table()], 0); // [3, C]
      const picked = tf.matMul(oneHot, table).reshape([b, n, c]);
      const keep = tf.cast(tf.notEqual(lab, -1), 'float32').reshape([b, n, 1]); // 0 for label -1
      return tf.add(tf.mul(pe, keep), picked) as tf.Tensor3D;
    });
  }

  /** Boxes [B, 4] -> two corner tokens per box, [B, 2, C]. */
  private embedBoxes(boxes: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const corners = tf.add(boxes, 0.5).reshape([-1, 2, 2]);
      const pe = this.peLayer.forwardWithCoords(corners, this.config.inputImageSize); // [B, 2, C]
      const cornerEmb = tf.concat([this.pointEmbeddings[2].table(), this.pointEmbeddings[3].table()], 0).expandDims(0);
      return tf.add(pe, cornerEmb) as tf.Tensor3D;
    });
  }

  /** Masks [B, 4gh, 4gw, 1] -> [B, gh, gw, C]. */
  private embedMasks(masks: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [d0, n1, d3, n4, d6] = this.maskDownscaling;
      let x = this.run(n1, this.run(d0, masks));
      x = this.run(n4, this.run(d3, gelu(x)));
      return this.run(d6, gelu(x)) as tf.Tensor4D;
    });
  }

  /** The sparse embeddings of a prompt alone, [B, n, C] (`embed` without its dense part). */
  embedSparse(prompts: PromptEncoderInputs): tf.Tensor3D {
    this.buildFor([]);
    return tf.tidy(() => {
      const { points, boxes, masks } = prompts;
      const b = points?.coords.shape[0] ?? boxes?.shape[0] ?? masks?.shape[0] ?? 1;
      const parts: tf.Tensor3D[] = [];
      if (points) parts.push(this.embedPoints(points, boxes === undefined));
      if (boxes) parts.push(this.embedBoxes(boxes));
      return parts.length > 0 ? (tf.concat(parts, 1) as tf.Tensor3D) : (tf.zeros([b, 0, this.config.embedDim]) as tf.Tensor3D);
    });
  }

  /** The sparse and dense embeddings of a prompt (the reference's `forward`). */
  embed(prompts: PromptEncoderInputs): PromptEmbeddings {
    this.buildFor([]);
    return tf.tidy(() => {
      const { points, boxes, masks } = prompts;
      const b = points?.coords.shape[0] ?? boxes?.shape[0] ?? masks?.shape[0] ?? 1;
      const c = this.config.embedDim;
      const sparse = this.embedSparse(prompts);
      let dense: tf.Tensor4D;
      if (masks) {
        const [mh, mw] = this.maskInputSize;
        if (masks.shape[1] !== mh || masks.shape[2] !== mw || masks.shape[3] !== 1) {
          throw new Error(`PromptEncoder: mask input must be [B, ${mh}, ${mw}, 1], got [${masks.shape}]`);
        }
        dense = this.embedMasks(masks);
      } else {
        const [gh, gw] = this.config.imageEmbeddingSize;
        // no_mask_embed at every position (zeros plus a broadcast add: tfjs-wasm's Tile is slow).
        dense = tf.add(tf.zeros([b, gh, gw, c]), this.noMaskEmbed.table().reshape([1, 1, 1, c])) as tf.Tensor4D;
      }
      return { sparse, dense };
    });
  }

  /** Keras form of `embed`: inputs in the order flagged by kwargs; returns [sparse, dense]. */
  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: PromptEncoderCallArgs): tf.Tensor[] {
    const list = Array.isArray(inputs) ? [...inputs] : [inputs];
    const prompts: PromptEncoderInputs = {};
    if (kwargs.points) prompts.points = { coords: list.shift() as tf.Tensor3D, labels: list.shift() as tf.Tensor2D };
    if (kwargs.boxes) prompts.boxes = list.shift() as tf.Tensor2D;
    if (kwargs.masks) prompts.masks = list.shift() as tf.Tensor4D;
    const { sparse, dense } = this.embed(prompts);
    return [sparse, dense];
  }

  override computeOutputShape(inputShape: tf.Shape | tf.Shape[]): tf.Shape[] {
    const b = Array.isArray(inputShape[0]) ? (inputShape[0] as tf.Shape)[0] : (inputShape as tf.Shape)[0];
    const [gh, gw] = this.config.imageEmbeddingSize;
    const c = this.config.embedDim;
    return [[b, null, c], [b, gh, gw, c]];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.config };
  }
}
tf.serialization.registerClass(PromptEncoder);
