/**
 * Positional encoding with random spatial frequencies (`PositionEmbeddingRandom` in the
 * reference): coordinates in [0, 1] are mapped to [-1, 1], projected by a fixed Gaussian
 * matrix [2, C/2], scaled by 2*pi, and encoded as [sin, cos] (sin first): C channels.
 */
import * as tf from '@tensorflow/tfjs';
import { SamLayer, type LayerVariable } from '../sam_layer.js';
import { sinCosFeatures } from './sin_cos.js';

export interface PositionEmbeddingRandomConfig {
  /** C/2: the number of random frequencies. */
  numPosFeats: number;
  name?: string;
}

export class PositionEmbeddingRandom extends SamLayer {
  static className = 'sam.PositionEmbeddingRandom';
  readonly numPosFeats: number;
  private gaussianMatrix!: LayerVariable; // [2, C/2]

  constructor(config: PositionEmbeddingRandomConfig) {
    super({ name: config.name });
    this.numPosFeats = config.numPosFeats;
  }

  override build(): void {
    this.gaussianMatrix = this.addTorchWeight('positional_encoding_gaussian_matrix', [2, this.numPosFeats]);
  }

  /** The random frequencies [2, C/2]. */
  gaussianMatrixTensor(): tf.Tensor2D {
    return this.gaussianMatrix.read() as tf.Tensor2D;
  }

  /** coords [..., 2] normalised to [0, 1] -> [..., C] */
  peEncoding(coords: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const lead = coords.shape.slice(0, -1);
      const c = tf.sub(tf.mul(coords, 2), 1).reshape([-1, 2]) as tf.Tensor2D;
      const proj = tf.mul(tf.matMul(c, this.gaussianMatrix.read() as tf.Tensor2D), 2 * Math.PI);
      return sinCosFeatures(proj).reshape([...lead, 2 * this.numPosFeats]);
    });
  }

  /**
   * Dense encoding of a [h, w] grid of pixel centres: [h, w, C] (the reference returns it
   * as [C, h, w]). The grid is (cumsum of ones - 0.5) / size, as the reference builds it.
   */
  denseGrid(size: [number, number]): tf.Tensor3D {
    return tf.tidy(() => {
      const [h, w] = size;
      const ys = tf.div(tf.sub(tf.range(1, h + 1, 1, 'float32'), 0.5), h);
      const xs = tf.div(tf.sub(tf.range(1, w + 1, 1, 'float32'), 0.5), w);
      const grid = tf.stack([tf.tile(xs.reshape([1, w]), [h, 1]), tf.tile(ys.reshape([h, 1]), [1, w])], -1); // [h, w, 2] (x, y)
      return this.peEncoding(grid) as tf.Tensor3D;
    });
  }

  /** Points in pixels of an image of `imageSize` [H, W]: coords [..., 2] (x, y) -> [..., C]. */
  forwardWithCoords(coords: tf.Tensor, imageSize: [number, number]): tf.Tensor {
    return tf.tidy(() => {
      const [h, w] = imageSize;
      return this.peEncoding(tf.div(coords, tf.tensor1d([w, h])));
    });
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return this.peEncoding(Array.isArray(inputs) ? inputs[0] : inputs);
  }

  override computeOutputShape(inputShape: tf.Shape): tf.Shape {
    return [...inputShape.slice(0, -1), 2 * this.numPosFeats];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), numPosFeats: this.numPosFeats };
  }
}
tf.serialization.registerClass(PositionEmbeddingRandom);
