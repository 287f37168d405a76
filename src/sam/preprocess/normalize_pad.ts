/**
 * `Sam.preprocess` of the reference: `(x - pixel_mean) / pixel_std` on the RESIZED, unpadded
 * image, then zero padding at the bottom and right up to img_size x img_size (so padded pixels
 * are 0, not -mean/std).
 *
 * The reference works in NCHW float32; the result here is NHWC `[1, S, S, 3]` float32, the layout
 * of the tfjs image encoder. Arithmetic is float32 as in torch: uint8 -> float32,
 * `fround(x - fround(mean))`, then `fround(d / fround(std))`. The tfjs cpu backend computes each
 * elementwise op in float64 and stores into a Float32Array; for a single subtraction or division
 * of float32 operands that double rounding still gives the correctly rounded float32 result, so
 * on the cpu backend this is bit-identical to torch (other backends may differ in the last bit).
 */
import * as tf from '@tensorflow/tfjs';
import { checkUint8Image, type Uint8Image } from './image.js';

/** Encoder input size and per-channel statistics (the reference's `img_size`, `pixel_mean`, `pixel_std`). */
export interface NormalizeOptions {
  /** Side S of the square encoder input (`image_encoder.img_size`). */
  imgSize: number;
  /** Per-channel mean in 0..255 pixel units; defaults to `DEFAULT_PIXEL_MEAN`. */
  pixelMean?: ArrayLike<number>;
  /** Per-channel std in 0..255 pixel units; defaults to `DEFAULT_PIXEL_STD`. */
  pixelStd?: ArrayLike<number>;
}

/** The reference's defaults (ImageNet statistics in 0..255 units). */
export const DEFAULT_PIXEL_MEAN: readonly number[] = [123.675, 116.28, 103.53];
export const DEFAULT_PIXEL_STD: readonly number[] = [58.395, 57.12, 57.375];

/**
 * Normalises and pads a resized image into the encoder input, `[1, imgSize, imgSize, C]` float32.
 *
 * `image` is the output of `applyImage` (h x w x C uint8, both sides <= imgSize), or an
 * `[h, w, C]` tensor of pixel values (any numeric dtype; it is cast to float32 and not disposed).
 * `pixelMean` / `pixelStd` need one value per channel. Runs inside `tf.tidy`: only the result
 * tensor survives, and the caller owns it.
 */
export function preprocessImage(image: Uint8Image | tf.Tensor3D, options: NormalizeOptions): tf.Tensor4D {
  const { imgSize, pixelMean = DEFAULT_PIXEL_MEAN, pixelStd = DEFAULT_PIXEL_STD } = options;
  let h: number;
  let w: number;
  let c: number;
  // Duck-typed so that tensors of another tfjs instance (e.g. tfjs-node) are accepted too.
  const isTensor = typeof (image as tf.Tensor3D).dataSync === 'function';
  if (isTensor) {
    image = image as tf.Tensor3D;
    if (image.rank !== 3) throw new Error(`preprocessImage: expected an [h, w, c] tensor, got shape [${image.shape}]`);
    [h, w, c] = image.shape;
  } else {
    image = image as Uint8Image;
    checkUint8Image(image, 'preprocessImage');
    ({ height: h, width: w, channels: c } = image);
  }
  if (!Number.isInteger(imgSize) || imgSize <= 0) throw new Error(`preprocessImage: bad imgSize ${imgSize}`);
  if (h > imgSize || w > imgSize) {
    throw new Error(`preprocessImage: image ${h}x${w} is larger than img_size ${imgSize} (resize it with applyImage first)`);
  }
  if (pixelMean.length !== c || pixelStd.length !== c) {
    throw new Error(`preprocessImage: ${c} channels but pixel_mean has ${pixelMean.length} and pixel_std ${pixelStd.length} values`);
  }
  const mean = Array.from(pixelMean);
  const std = Array.from(pixelStd);
  return tf.tidy(() => {
    const x = isTensor
      ? tf.cast(image as tf.Tensor3D, 'float32')
      : tf.tensor3d(Float32Array.from((image as Uint8Image).data), [h, w, c], 'float32');
    const normalized = tf.div(tf.sub(x, tf.tensor1d(mean, 'float32')), tf.tensor1d(std, 'float32'));
    const padded = tf.pad(normalized, [
      [0, imgSize - h],
      [0, imgSize - w],
      [0, 0],
    ]);
    return tf.expandDims(padded, 0) as tf.Tensor4D;
  });
}
