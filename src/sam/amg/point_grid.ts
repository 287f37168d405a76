/**
 * Normalised point grids of the automatic mask generator, with the float64 values numpy's
 * `linspace` gives (reference: `build_point_grid`, `build_all_layer_point_grids`).
 */

/**
 * Values of `np.linspace(start, stop, num)` (endpoint included): `i * step + start` with
 * `step = (stop - start) / (num - 1)`, the last value forced to `stop`; a single value is `start`.
 */
function linspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  const div = num - 1;
  const delta = stop - start;
  if (div > 0) {
    const step = delta / div;
    if (step === 0) {
      for (let i = 0; i < num; i++) out[i] = (i / div) * delta + start;
    } else {
      for (let i = 0; i < num; i++) out[i] = i * step + start;
    }
    out[num - 1] = stop;
  } else {
    for (let i = 0; i < num; i++) out[i] = i * delta + start;
  }
  return out;
}

/**
 * An `n x n` grid of points evenly spaced in [0, 1] x [0, 1] (cell centres), as a flat
 * `Float64Array` of `n * n` interleaved (x, y) pairs: x varies fastest (row-major over y).
 */
export function buildPointGrid(nPerSide: number): Float64Array {
  if (!Number.isInteger(nPerSide) || nPerSide < 1) {
    throw new Error(`buildPointGrid: nPerSide must be a positive integer, got ${nPerSide}`);
  }
  const offset = 1 / (2 * nPerSide);
  const side = linspace(offset, 1 - offset, nPerSide);
  const out = new Float64Array(nPerSide * nPerSide * 2);
  let k = 0;
  for (let row = 0; row < nPerSide; row++) {
    for (let col = 0; col < nPerSide; col++) {
      out[k++] = side[col];
      out[k++] = side[row];
    }
  }
  return out;
}

/**
 * One grid per crop layer (layer 0 = the whole image): layer i has
 * `trunc(nPerSide / scalePerLayer ** i)` points per side.
 */
export function buildAllLayerPointGrids(nPerSide: number, nLayers: number, scalePerLayer: number): Float64Array[] {
  const grids: Float64Array[] = [];
  for (let i = 0; i <= nLayers; i++) {
    const n = Math.trunc(nPerSide / scalePerLayer ** i);
    if (n < 1) {
      throw new Error(
        `buildAllLayerPointGrids: layer ${i} gets ${n} points per side (nPerSide ${nPerSide}, scale ${scalePerLayer})`,
      );
    }
    grids.push(buildPointGrid(n));
  }
  return grids;
}
