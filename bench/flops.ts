/** Analytic FLOP counts of the image encoder (multiply-add = 2 FLOPs), for GFLOP/s reports. */
import type { SamConfig } from '../src/sam/config.js';

export interface EncoderFlops {
  linear: number;
  attention: number;
  convs: number;
  total: number;
}

export function encoderFlops(config: SamConfig): EncoderFlops {
  const ie = config.imageEncoder;
  const g = ie.imgSize / ie.patchSize;
  const tokens = g * g;
  const e = ie.embedDim;
  const hd = e / ie.numHeads;
  let linear = 0;
  let attention = 0;
  for (let i = 0; i < ie.depth; i++) {
    const windowed = !ie.globalAttnIndexes.includes(i) && ie.windowSize > 0;
    const ws = ie.windowSize;
    const padded = windowed ? Math.ceil(g / ws) * ws : g;
    const rows = padded * padded; // tokens including window padding
    // qkv and proj run on the (zero-padded) windows; the MLP on the cropped grid.
    linear += 2 * rows * e * 3 * e + 2 * rows * e * e;
    linear += 2 * 2 * tokens * e * ie.mlpDim;
    const n = windowed ? ws * ws : tokens; // tokens per attention window
    const windows = rows / n;
    attention += windows * ie.numHeads * (2 * n * n * hd * 2); // q k^T and attn v
  }
  const convs = 2 * tokens * ie.patchSize * ie.patchSize * ie.inChans * e + 2 * tokens * e * ie.outChans + 2 * tokens * ie.outChans * ie.outChans * 9;
  return { linear, attention, convs, total: linear + attention + convs };
}
