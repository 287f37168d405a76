/**
 * The last step of MaskDecoder.masksByBlocks (cpu/wasm): one prompt's hypernetwork product,
 * computed on the upscaling's blocks, laid out as masks.
 */

/** The layout of one prompt's product on the upscaling's blocks. */
export interface MaskBlocks {
  /** The image side's grid (the transformer's keys). */
  h: number;
  w: number;
  /** The two transposed convolutions' kernel sizes (= their strides). */
  k0: number;
  k3: number;
  /** Masks: the last of a row's columns (dh3, dw3, m). */
  count: number;
}

/**
 * Rearranges one prompt's product v [h w k0 k0 rows, k3 k3 count columns] (row (y, x, dh,
 * dw), column (dh3, dw3, m)) into out [count, gh, gw] with gh = h k0 k3, gw = w k0 k3: the
 * logit of mask m at pixel ((y k0 + dh) k3 + dh3, (x k0 + dw) k3 + dw3). Writes the output
 * in order. ViT-B's decoder (one prompt, 3 masks), with the product's download and the
 * result's upload, the two forms alternately in one process: 0.9-1.5 / 1.1-1.6 ms best /
 * median, against 1.8-3.1 / 2.2-3.3 ms for the loops in source order, six deep, in
 * masksByBlocks's closure (a scratch timing, when the columns were (m, dh3, dw3)).
 */
export function blocksToMasks(v: Float32Array, out: Float32Array, l: MaskBlocks): void {
  const { h, w, k0, k3, count } = l;
  const cols = k3 * k3 * count;
  if (v.length !== h * w * k0 * k0 * cols || out.length !== count * h * k0 * k3 * w * k0 * k3) {
    throw new Error(`blocksToMasks: ${v.length} values into ${out.length} do not match the layout ${JSON.stringify(l)}`);
  }
  const xStep = k0 * k0 * cols; // from pixel x's rows to x + 1's
  let o = 0;
  for (let m = 0; m < count; m++)
    for (let y = 0; y < h; y++)
      for (let dh = 0; dh < k0; dh++)
        for (let dh3 = 0; dh3 < k3; dh3++) {
          // output row (y k0 + dh) k3 + dh3 of mask m starts at block row (y, 0, dh, 0), column (dh3, 0, m)
          const rowStart = (y * w * k0 + dh) * k0 * cols + dh3 * k3 * count + m;
          for (let x = 0; x < w; x++) {
            const sx = rowStart + x * xStep;
            for (let dw = 0; dw < k0; dw++) {
              const s = sx + dw * cols;
              for (let dw3 = 0; dw3 < k3; dw3++) out[o++] = v[s + dw3 * count];
            }
          }
        }
}
