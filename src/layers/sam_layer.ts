/**
 * Base class of every SAM layer.
 *
 * tfjs-layers does not track the weights of layers created inside a custom layer, so a
 * `SamLayer` keeps its sublayers in an ordered list (named like the attributes of the
 * reference `nn.Module`, e.g. `blocks.3`, `neck.0`) and reports their weights as its own.
 *
 * Every weight also knows the PyTorch state-dict entry it comes from: its key (relative
 * to the layer), its shape in PyTorch, and how to rearrange a PyTorch tensor into the
 * layout the tfjs op wants (`fromTorch`). `torchParams()` walks the tree and yields the
 * full keys, so the whole model can be loaded from a state dict by name.
 */
import * as tf from '@tensorflow/tfjs';

export type LayerVariable = tf.LayerVariable;
type Kwargs = Record<string, unknown>;

/** A weight and the PyTorch state-dict entry it is loaded from. */
export interface TorchParam {
  variable: LayerVariable;
  /** Shape of the tensor in the PyTorch state dict. */
  torchShape: number[];
  /** Rearranges a tensor of `torchShape` into the variable's shape (identity when absent). */
  fromTorch?: (t: tf.Tensor) => tf.Tensor;
}

export abstract class SamLayer extends tf.layers.Layer {
  private readonly sublayers: Array<[string, SamLayer]> = [];
  private readonly ownTorchParams: Array<[string, TorchParam]> = [];

  /** Registers a child layer under the reference's attribute name. */
  protected addSublayer<L extends SamLayer>(name: string, layer: L): L {
    if (this.sublayers.some(([n]) => n === name)) {
      throw new Error(`${this.getClassName()}: sublayer '${name}' is registered twice`);
    }
    this.sublayers.push([name, layer]);
    return layer;
  }

  /** Creates a weight that is loaded from the state-dict entry `key` (relative to this layer). */
  protected addTorchWeight(
    key: string,
    shape: number[],
    initializer: 'zeros' | 'ones' = 'zeros',
    torchShape: number[] = shape,
    fromTorch?: (t: tf.Tensor) => tf.Tensor,
  ): LayerVariable {
    const variable = this.addWeight(key, shape, 'float32', tf.initializers[initializer]());
    this.ownTorchParams.push([key, { variable, torchShape, fromTorch }]);
    return variable;
  }

  /** Every weight of this layer and its sublayers, keyed by full PyTorch state-dict name. */
  torchParams(prefix = ''): Map<string, TorchParam> {
    const out = new Map<string, TorchParam>();
    for (const [key, p] of this.ownTorchParams) out.set(prefix + key, p);
    for (const [name, layer] of this.sublayers) {
      for (const [key, p] of layer.torchParams(`${prefix}${name}.`)) out.set(key, p);
    }
    return out;
  }

  /**
   * Builds the layer for a known input shape without calling it (Keras' `model.build`), so
   * that weights exist and can be loaded before the first call. Idempotent.
   */
  buildFor(inputShape: tf.Shape | tf.Shape[]): this {
    if (!this.built) {
      this.build(inputShape);
      this.built = true;
      // A layer first used eagerly starts with one reference (see Layer.apply); do the same
      // so that dispose() works on a layer that was built here.
      if (this._refCount === null) this._refCount = 1;
    }
    return this;
  }

  /** Calls a sublayer eagerly (`apply`) on tensors, for a layer with one output. */
  protected run(layer: SamLayer, inputs: tf.Tensor | tf.Tensor[], kwargs?: Kwargs): tf.Tensor {
    return layer.apply(inputs, kwargs) as tf.Tensor;
  }

  /** Calls a sublayer eagerly (`apply`) on tensors, for a layer with several outputs. */
  protected runMulti(layer: SamLayer, inputs: tf.Tensor | tf.Tensor[], kwargs?: Kwargs): tf.Tensor[] {
    return layer.apply(inputs, kwargs) as tf.Tensor[];
  }

  override get trainableWeights(): LayerVariable[] {
    const own = this.trainable ? this._trainableWeights : [];
    return own.concat(...this.sublayers.map(([, l]) => l.trainableWeights));
  }

  override set trainableWeights(weights: LayerVariable[]) {
    this._trainableWeights = weights;
  }

  override get nonTrainableWeights(): LayerVariable[] {
    const own = this.trainable ? [] : this._trainableWeights;
    return own.concat(...this.sublayers.map(([, l]) => l.nonTrainableWeights));
  }

  override set nonTrainableWeights(_weights: LayerVariable[]) {
    throw new Error(`${this.getClassName()}: SAM layers have no separately set non-trainable weights`);
  }

  override get trainable(): boolean {
    return this.trainable_;
  }

  override set trainable(value: boolean) {
    this.trainable_ = value;
    for (const [, l] of this.sublayers) l.trainable = value;
  }

  /** Disposes this layer's own weights and, recursively, its sublayers'. */
  protected override disposeWeights(): number {
    let n = 0;
    for (const w of this._trainableWeights) {
      w.dispose();
      n++;
    }
    for (const [, l] of this.sublayers) if (l.built) n += l.dispose().numDisposedVariables;
    return n;
  }
}
