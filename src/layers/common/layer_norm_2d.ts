/**
 * `LayerNorm2d` of the reference: normalises each pixel over its channels. The reference
 * works in NCHW and reduces over dim 1; our activations are NHWC, so this is the same
 * computation over the last axis. A class of its own so that the model reads like the
 * reference and serialises under its own name.
 */
import * as tf from '@tensorflow/tfjs';
import { LayerNorm, type LayerNormConfig } from './layer_norm.js';

export class LayerNorm2d extends LayerNorm {
  static override className = 'sam.LayerNorm2d';

  constructor(config: LayerNormConfig) {
    super({ ...config, eps: config.eps ?? 1e-6 });
  }
}
tf.serialization.registerClass(LayerNorm2d);
