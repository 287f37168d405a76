/**
 * The mask decoder's image side for prompts without a mask input, made once per image
 * embedding on cpu/wasm and shared by every prompt (and every prompt of a batch):
 * src = embedding + no_mask_embed [1, g, g, C], plus what the first two-way layer derives
 * from it alone, registered in derived_tensors.ts: src + dense PE (its cross attentions'
 * keys). Per prompt that saves the [B, g, g, C] add and its split into prompts, and an add.
 * The values are those the per-prompt ops give: the same adds on the same operands.
 *
 * Where the first layer's cross attentions fold (their layout 'auto' or 'folded'), the image
 * side's projections there are made once too: keys W_k + b_k (token-to-image), src W_v + b_v
 * (its values, also packed for the SIMD matMul where it runs) and keys W_q + b_q
 * (image-to-token), each [g², C/2]. A prompt's products with the image then start from them,
 * half as wide as the folded ones: ~4 ms less per prompt with SAM's decoder (two models
 * decoding alternately in one process, 40 prompts each, twice: median of the paired
 * differences 4.0 and 3.9 ms), for ~20 ms more the first time an image is decoded. The
 * values then differ from the per-prompt ones by float rounding (the same products, summed
 * in another order).
 *
 * The entry follows the last embedding decoded (keyed by backend and the dataIds of the
 * embedding, no_mask_embed, the dense PE and those projections' weights) and is released
 * when another replaces it, when the predictor that set that embedding lets it go, or when
 * the model is disposed: 2 image-sized tensors and the 3 projections (8 + 6 MB for SAM's
 * 64 x 64 x 256, + 2 MB packed).
 */
import * as tf from '@tensorflow/tfjs';
import { forgetDerived, rememberProjection, rememberSum } from '../layers/derived_tensors.js';
import { packMatMulRhs } from '../layers/common/packed_matmul.js';
import { view } from '../layers/tensor_utils.js';
import type { TransformerAttention } from '../layers/index.js';

/** The first two-way layer's cross attentions, whose image-side projections are made once. */
export interface FirstLayerAttentions {
  tokenToImage: TransformerAttention;
  imageToToken: TransformerAttention;
}

/** Only the folded layout looks the projections up (folded_projections.ts). */
const folds = (a: TransformerAttention) => a.layout === 'auto' || a.layout === 'folded';

interface Entry {
  key: unknown[];
  src: tf.Tensor4D;
  held: tf.Tensor[];
}

export class DecoderImageSide {
  private entry: Entry | null = null;

  /** src [1, g, g, C] for this embedding [1, g, g, C] (a view; the caller disposes it). */
  src(embedding: tf.Tensor4D, noMaskEmbed: tf.Tensor2D, densePe: tf.Tensor4D, firstLayer?: FirstLayerAttentions): tf.Tensor4D {
    const projections = firstLayer
      ? [
          { attn: firstLayer.tokenToImage, proj: firstLayer.tokenToImage.kProj, of: 'withPe', packed: false },
          { attn: firstLayer.tokenToImage, proj: firstLayer.tokenToImage.vProj, of: 'src', packed: true },
          { attn: firstLayer.imageToToken, proj: firstLayer.imageToToken.qProj, of: 'withPe', packed: false },
        ].filter((p) => folds(p.attn))
      : [];
    const weights = projections.flatMap((p) => [p.proj.kernel().dataId, p.proj.biasVector()?.dataId]);
    const key = [tf.getBackend(), embedding.dataId, noMaskEmbed.dataId, densePe.dataId, ...weights];
    const e = this.entry;
    if (!e || e.key.length !== key.length || e.key.some((k, i) => k !== key[i]) || e.src.isDisposed) {
      this.dispose();
      const [src, withPe, ...projected] = tf.tidy(() => {
        const [, gh, gw, c] = embedding.shape;
        const src = tf.add(embedding, noMaskEmbed.reshape([1, 1, 1, c])) as tf.Tensor4D;
        // The shapes the two-way transformer and its attentions look these up with.
        const keys = src.reshape([1, gh * gw, c]);
        const keyPe = densePe.reshape([1, gh * gw, c]);
        const withPe = tf.add(keys, keyPe);
        rememberSum(keys, keyPe, withPe);
        const made: tf.Tensor[] = [];
        for (const p of projections) {
          const x = p.of === 'src' ? keys : withPe;
          const y = p.proj.apply(x.reshape([gh * gw, c])) as tf.Tensor2D;
          const packed = p.packed ? packMatMulRhs(y) : null;
          rememberProjection(x, p.proj, y, packed);
          made.push(y, ...(packed ? [packed] : []));
        }
        return [src, withPe, ...made];
      }) as [tf.Tensor4D, tf.Tensor, ...tf.Tensor[]];
      // Kept: this may run inside the caller's tidy, which would release them at its end.
      this.entry = { key, src: tf.keep(src), held: [tf.keep(withPe), ...projected.map((t) => tf.keep(t))] };
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
    forgetDerived(this.entry.held[0]);
    tf.dispose([this.entry.src, ...this.entry.held]);
    this.entry = null;
  }
}
