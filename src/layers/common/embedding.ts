/**
 * `nn.Embedding`: a learned table [num, dim]. SAM uses embeddings only as learned vectors
 * (tokens, point-type embeddings, the no-mask embedding), read whole via `table()`.
 */
import * as tf from '@tensorflow/tfjs';
import { SamLayer, type LayerVariable } from '../sam_layer.js';

export interface EmbeddingConfig {
  numEmbeddings: number;
  embeddingDim: number;
  name?: string;
}

export class Embedding extends SamLayer {
  static className = 'sam.Embedding';
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  private weight!: LayerVariable; // [num, dim]

  constructor(config: EmbeddingConfig) {
    super({ name: config.name });
    this.numEmbeddings = config.numEmbeddings;
    this.embeddingDim = config.embeddingDim;
  }

  override build(): void {
    this.weight = this.addTorchWeight('weight', [this.numEmbeddings, this.embeddingDim]);
  }

  /** The whole table, [num, dim]. */
  table(): tf.Tensor2D {
    return this.weight.read() as tf.Tensor2D;
  }

  /** indices: int32 [...] -> [..., dim] */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const idx = Array.isArray(inputs) ? inputs[0] : inputs;
      return tf.gather(this.weight.read(), idx.toInt());
    });
  }

  override computeOutputShape(inputShape: tf.Shape): tf.Shape {
    return [...inputShape, this.embeddingDim];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), numEmbeddings: this.numEmbeddings, embeddingDim: this.embeddingDim };
  }
}
tf.serialization.registerClass(Embedding);
