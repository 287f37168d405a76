/**
 * The mask decoder's image side for prompts without a mask input, made once per image
 * embedding on cpu/wasm and shared by every prompt (and every prompt of a batch):
 * src = embedding + no_mask_embed [1, g, g, C], plus what the first two-way layer derives
 * from it alone, registered in derived_tensors.ts: src + dense PE (its cross attentions'
 * keys) and srcᵀ (the folded token-to-image attention's values, see folded_projections.ts).
 * Per prompt that saves the [B, g, g, C] add and its split into prompts, an add and a
 * [4096, 256] transpose (ViT-B). The values are those the per-prompt ops give: the same
 * adds on the same operands.
 *
 * The entry follows the last embedding decoded (keyed by backend and the dataIds of the
 * embedding, no_mask_embed and the dense PE) and is released when another replaces it, when
 * the predictor that set that embedding lets it go, or when the model is disposed: 3
 * image-sized tensors (12 MB for SAM's 64 x 64 x 256).
 */
import * as tf from '@tensorflow/tfjs';
import { forgetDerived, rememberSum, rememberTranspose } from '../layers/derived_tensors.js';
import { transposeMatrix, view } from '../layers/tensor_utils.js';

interface Entry {
  key: unknown[];
  src: tf.Tensor4D;
  held: tf.Tensor[];
}

export class DecoderImageSide {
  private entry: Entry | null = null;

  /** src [1, g, g, C] for this embedding [1, g, g, C] (a view; the caller disposes it). */
  src(embedding: tf.Tensor4D, noMaskEmbed: tf.Tensor2D, densePe: tf.Tensor4D): tf.Tensor4D {
    const key = [tf.getBackend(), embedding.dataId, noMaskEmbed.dataId, densePe.dataId];
    const e = this.entry;
    if (!e || e.key.some((k, i) => k !== key[i]) || e.src.isDisposed) {
      this.dispose();
      const [src, withPe, srcT] = tf.tidy(() => {
        const [, gh, gw, c] = embedding.shape;
        const src = tf.add(embedding, noMaskEmbed.reshape([1, 1, 1, c])) as tf.Tensor4D;
        // The shapes the two-way transformer and its attentions look these up with.
        const keys = src.reshape([1, gh * gw, c]);
        const keyPe = densePe.reshape([1, gh * gw, c]);
        const withPe = tf.add(keys, keyPe);
        const src2d = src.reshape([gh * gw, c]) as tf.Tensor2D;
        const srcT = transposeMatrix(src2d);
        rememberSum(keys, keyPe, withPe);
        rememberTranspose(src2d, srcT);
        return [src, withPe, srcT];
      }) as [tf.Tensor4D, tf.Tensor, tf.Tensor2D];
      // Kept: this may run inside the caller's tidy, which would release them at its end.
      this.entry = { key, src: tf.keep(src), held: [tf.keep(withPe), tf.keep(srcT)] };
    }
    return view(this.entry!.src);
  }

  /** Releases the entry if it was made for this embedding. */
  release(embedding: tf.Tensor): void {
    if (this.entry && this.entry.key[1] === embedding.dataId) this.dispose();
  }

  dispose(): void {
    if (!this.entry) return;
    forgetDerived(this.entry.src);
    tf.dispose([this.entry.src, ...this.entry.held]);
    this.entry = null;
  }
}
