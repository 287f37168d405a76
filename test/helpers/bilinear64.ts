/**
 * The reference's mask post-processing evaluated pixel by pixel in float64, independently of
 * src/sam/postprocess_js.ts (no composed taps): a 2-D bilinear resize to S x S, the crop, a
 * 2-D bilinear resize to the original size, with PyTorch's taps for align_corners=False
 * (scale = in / out in float32, source index in double, float32 lerp factors).
 */
const f32 = Math.fround;

/** A post-processing frame: low-res mask size, encoder input side S, resized image in it, original size. */
export interface UpscaleFrame {
  low: [number, number];
  s: number;
  input: [number, number];
  original: [number, number];
}

function taps(inSize: number, outSize: number, d: number): [number, number, number] {
  const scale = f32(inSize / outSize);
  const src = Math.max(scale * (d + 0.5) - 0.5, 0);
  const i0 = Math.min(Math.floor(src), inSize - 1);
  return [i0, Math.min(i0 + 1, inSize - 1), f32(src - i0)];
}

/** One [h4, w4] low-res mask -> its [H, W] logits (float64, not rounded). */
export function postprocessMask64(low: ArrayLike<number>, lowSize: [number, number], inputSize: [number, number], originalSize: [number, number], imgSize: number): Float64Array {
  const [h4, w4] = lowSize;
  const [h, w] = inputSize;
  const [oh, ow] = originalSize;
  const L = (i: number, j: number) => low[i * w4 + j];
  const bilinear = (get: (i: number, j: number) => number, inH: number, inW: number, outH: number, outW: number, y: number, x: number) => {
    const [y0, y1, ly] = taps(inH, outH, y);
    const [x0, x1, lx] = taps(inW, outW, x);
    const a = f32(1 - ly);
    const b = f32(1 - lx);
    return a * (b * get(y0, x0) + lx * get(y0, x1)) + ly * (b * get(y1, x0) + lx * get(y1, x1));
  };
  // The S x S image is only read inside the crop.
  const full = (y: number, x: number) => bilinear(L, h4, w4, imgSize, imgSize, y, x);
  const out = new Float64Array(oh * ow);
  for (let y = 0; y < oh; y++) for (let x = 0; x < ow; x++) out[y * ow + x] = bilinear(full, h, w, oh, ow, y, x);
  return out;
}
