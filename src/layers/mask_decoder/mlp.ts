/**
 * `MLP` of the reference's mask_decoder.py: `numLayers` Linear layers with ReLU between
 * them and none after the last (optionally a sigmoid). Used for the hypernetworks and the
 * IoU prediction head.
 */
import * as tf from '@tensorflow/tfjs';
import { Linear } from '../common/linear.js';
import { SamLayer } from '../sam_layer.js';

export interface MLPConfig {
  inputDim: number;
  hiddenDim: number;
  outputDim: number;
  numLayers: number;
  sigmoidOutput?: boolean;
  name?: string;
}

export class MLP extends SamLayer {
  static className = 'sam.MLP';
  readonly config: Required<Omit<MLPConfig, 'name'>>;
  readonly layers: Linear[];

  constructor(config: MLPConfig) {
    super({ name: config.name });
    this.config = {
      inputDim: config.inputDim,
      hiddenDim: config.hiddenDim,
      outputDim: config.outputDim,
      numLayers: config.numLayers,
      sigmoidOutput: config.sigmoidOutput ?? false,
    };
    const n = config.numLayers;
    const dims = [config.inputDim, ...Array<number>(n - 1).fill(config.hiddenDim), config.outputDim];
    this.layers = [];
    for (let i = 0; i < n; i++) {
      this.layers.push(this.addSublayer(`layers.${i}`, new Linear({ inFeatures: dims[i], outFeatures: dims[i + 1] })));
    }
  }

  override build(): void {
    for (const l of this.layers) l.buildFor([null, l.inFeatures]);
  }

  /** x: [..., inputDim] -> [..., outputDim] */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      let x = Array.isArray(inputs) ? inputs[0] : inputs;
      this.layers.forEach((layer, i) => {
        x = i < this.layers.length - 1 ? layer.applyRelu(x) : this.run(layer, x);
      });
      return this.config.sigmoidOutput ? tf.sigmoid(x) : x;
    });
  }

  override computeOutputShape(inputShape: tf.Shape): tf.Shape {
    return [...inputShape.slice(0, -1), this.config.outputDim];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), ...this.config };
  }
}
tf.serialization.registerClass(MLP);
