/** `MLPBlock` of the reference: lin1 -> activation -> lin2. */
import * as tf from '@tensorflow/tfjs';
import { SamLayer } from '../sam_layer.js';
import { activation, type ActivationName } from './activations.js';
import { Linear } from './linear.js';

export interface MLPBlockConfig {
  embeddingDim: number;
  mlpDim: number;
  act: ActivationName;
  name?: string;
}

export class MLPBlock extends SamLayer {
  static className = 'sam.MLPBlock';
  readonly config: MLPBlockConfig;
  readonly lin1: Linear;
  readonly lin2: Linear;

  constructor(config: MLPBlockConfig) {
    super({ name: config.name });
    this.config = config;
    this.lin1 = this.addSublayer('lin1', new Linear({ inFeatures: config.embeddingDim, outFeatures: config.mlpDim }));
    this.lin2 = this.addSublayer('lin2', new Linear({ inFeatures: config.mlpDim, outFeatures: config.embeddingDim }));
  }

  override build(inputShape: tf.Shape): void {
    this.lin1.buildFor(inputShape);
    this.lin2.buildFor([...inputShape.slice(0, -1), this.config.mlpDim]);
  }

  /** x: [..., C] -> [..., C] */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (this.config.act === 'relu') return this.run(this.lin2, this.lin1.applyRelu(x)); // one fused matMul on GPU backends
      const act = activation(this.config.act);
      const hidden = this.run(this.lin1, x); // [..., mlpDim]
      const activated = act(hidden);
      hidden.dispose();
      return this.run(this.lin2, activated);
    });
  }

  override computeOutputShape(inputShape: tf.Shape): tf.Shape {
    return inputShape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    const { name: _n, ...cfg } = this.config;
    return { ...super.getConfig(), ...cfg };
  }
}
tf.serialization.registerClass(MLPBlock);
