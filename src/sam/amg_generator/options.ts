/**
 * Options of the automatic mask generator: the reference's keyword arguments in camelCase,
 * their defaults, and validation with readable errors.
 */

/** How `generate` returns each mask. */
export type AmgOutputMode = 'binary_mask' | 'uncompressed_rle' | 'coco_rle';

export const OUTPUT_MODES: readonly AmgOutputMode[] = ['binary_mask', 'uncompressed_rle', 'coco_rle'];

/** A normalised point grid: flat interleaved (x, y) values or one `[x, y]` per point, in [0, 1]. */
export type PointGridInput = ArrayLike<number> | ReadonlyArray<readonly number[]>;

export interface AutomaticMaskGeneratorOptions {
  /**
   * Points sampled along each side of the image (points_per_side^2 in all), or null when
   * `pointGrids` gives the points. Defaults to 32 unless `pointGrids` is given.
   */
  pointsPerSide: number | null;
  /** Points run through the decoder at once. */
  pointsPerBatch: number;
  /** Keep masks whose predicted IoU is strictly above this (0 disables the filter). */
  predIouThresh: number;
  /** Keep masks whose stability score is at least this (0 disables the filter). */
  stabilityScoreThresh: number;
  /** Shift of the binarisation cutoff used by the stability score. */
  stabilityScoreOffset: number;
  /** Box IoU above which NMS drops duplicates within a crop. */
  boxNmsThresh: number;
  /** Crop layers run after the whole image; layer i has 2^i x 2^i crops. */
  cropNLayers: number;
  /** Box IoU above which NMS drops duplicates between crops. */
  cropNmsThresh: number;
  /** Overlap of the first crop layer's crops as a fraction of the image's short side. */
  cropOverlapRatio: number;
  /** Points per side in crop layer i are divided by this^i. */
  cropNPointsDownscaleFactor: number;
  /** Explicit normalised point grids, one per crop layer (layer 0 first). Exclusive with pointsPerSide. */
  pointGrids: PointGridInput[] | null;
  /** When > 0, holes and islands smaller than this many pixels are removed from every mask. */
  minMaskRegionArea: number;
  /** 'binary_mask' (default), 'uncompressed_rle' or 'coco_rle'. */
  outputMode: AmgOutputMode;
}

/** Options after defaults and validation; point grids are flat float64 (x, y) arrays. */
export interface ResolvedAmgOptions extends Omit<AutomaticMaskGeneratorOptions, 'pointGrids'> {
  pointGrids: Float64Array[] | null;
}

export const DEFAULT_AMG_OPTIONS: Readonly<AutomaticMaskGeneratorOptions> = Object.freeze({
  pointsPerSide: 32,
  pointsPerBatch: 64,
  predIouThresh: 0.88,
  stabilityScoreThresh: 0.95,
  stabilityScoreOffset: 1.0,
  boxNmsThresh: 0.7,
  cropNLayers: 0,
  cropNmsThresh: 0.7,
  cropOverlapRatio: 512 / 1500,
  cropNPointsDownscaleFactor: 1,
  pointGrids: null,
  minMaskRegionArea: 0,
  outputMode: 'binary_mask',
});

const KNOWN_KEYS = new Set(Object.keys(DEFAULT_AMG_OPTIONS));

function fail(message: string): never {
  throw new Error(`SamAutomaticMaskGenerator: ${message}`);
}

function checkInteger(name: string, v: unknown, min: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    fail(`${name} must be an integer >= ${min}, got ${String(v)}`);
  }
}

function checkRange(name: string, v: unknown, lo: number, hi: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) {
    fail(`${name} must be a number in [${lo}, ${hi}], got ${String(v)}`);
  }
}

function checkGrid(grid: PointGridInput, layer: number): Float64Array {
  const what = `pointGrids[${layer}]`;
  if (grid === null || grid === undefined || typeof (grid as ArrayLike<unknown>).length !== 'number') {
    fail(`${what} must be an array of [x, y] points or a flat (x, y) array`);
  }
  let flat: Float64Array;
  if (grid.length > 0 && typeof (grid as ArrayLike<unknown>)[0] !== 'number') {
    const rows = grid as ReadonlyArray<readonly number[]>;
    flat = new Float64Array(rows.length * 2);
    rows.forEach((row, i) => {
      if (!row || row.length !== 2) fail(`${what}[${i}] must be an [x, y] pair`);
      flat[2 * i] = row[0];
      flat[2 * i + 1] = row[1];
    });
  } else {
    if (grid.length % 2 !== 0) fail(`${what} has ${grid.length} values: a flat grid holds (x, y) pairs`);
    flat = Float64Array.from(grid as ArrayLike<number>);
  }
  if (flat.length === 0) fail(`${what} has no points`);
  for (let i = 0; i < flat.length; i++) {
    const v = flat[i];
    if (!Number.isFinite(v) || v < 0 || v > 1) fail(`${what} holds ${v}: grid points are normalised to [0, 1]`);
  }
  return flat;
}

/**
 * Applies the defaults and validates. `pointsPerSide` defaults to 32 only when `pointGrids`
 * is not given (the reference asks for `points_per_side=None` explicitly; here leaving it out
 * is enough), and giving both is an error.
 */
export function resolveAmgOptions(options: Partial<AutomaticMaskGeneratorOptions> = {}): ResolvedAmgOptions {
  if (options === null || typeof options !== 'object') fail('options must be an object');
  for (const key of Object.keys(options)) {
    if (!KNOWN_KEYS.has(key)) fail(`unknown option '${key}' (options are ${[...KNOWN_KEYS].join(', ')})`);
  }
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<AutomaticMaskGeneratorOptions>;
  const gridsGiven = given.pointGrids !== undefined && given.pointGrids !== null;
  const merged: AutomaticMaskGeneratorOptions = {
    ...DEFAULT_AMG_OPTIONS,
    ...(gridsGiven && !('pointsPerSide' in given) ? { pointsPerSide: null } : {}),
    ...given,
  };

  const { pointsPerSide } = merged;
  const hasSide = pointsPerSide !== null;
  if (hasSide === gridsGiven) {
    fail(
      gridsGiven
        ? 'give exactly one of pointsPerSide and pointGrids (both were given)'
        : 'give exactly one of pointsPerSide and pointGrids (pointsPerSide is null and there are no pointGrids)',
    );
  }
  if (hasSide) checkInteger('pointsPerSide', pointsPerSide, 1);
  checkInteger('pointsPerBatch', merged.pointsPerBatch, 1);
  checkRange('predIouThresh', merged.predIouThresh, 0, 1);
  checkRange('stabilityScoreThresh', merged.stabilityScoreThresh, 0, 1);
  if (typeof merged.stabilityScoreOffset !== 'number' || !Number.isFinite(merged.stabilityScoreOffset) || merged.stabilityScoreOffset < 0) {
    fail(`stabilityScoreOffset must be a finite number >= 0, got ${String(merged.stabilityScoreOffset)}`);
  }
  checkRange('boxNmsThresh', merged.boxNmsThresh, 0, 1);
  checkInteger('cropNLayers', merged.cropNLayers, 0);
  checkRange('cropNmsThresh', merged.cropNmsThresh, 0, 1);
  checkRange('cropOverlapRatio', merged.cropOverlapRatio, 0, 1);
  checkInteger('cropNPointsDownscaleFactor', merged.cropNPointsDownscaleFactor, 1);
  if (typeof merged.minMaskRegionArea !== 'number' || !Number.isFinite(merged.minMaskRegionArea) || merged.minMaskRegionArea < 0) {
    fail(`minMaskRegionArea must be a finite number >= 0, got ${String(merged.minMaskRegionArea)}`);
  }
  if (!OUTPUT_MODES.includes(merged.outputMode)) {
    fail(`unknown outputMode '${String(merged.outputMode)}' (expected ${OUTPUT_MODES.map((m) => `'${m}'`).join(', ')})`);
  }

  let pointGrids: Float64Array[] | null = null;
  if (gridsGiven) {
    if (!Array.isArray(merged.pointGrids)) fail('pointGrids must be an array with one grid per crop layer');
    const grids = merged.pointGrids as PointGridInput[];
    if (grids.length < merged.cropNLayers + 1) {
      fail(`pointGrids has ${grids.length} grid(s) but cropNLayers ${merged.cropNLayers} needs ${merged.cropNLayers + 1} (one per layer, the whole image first)`);
    }
    pointGrids = grids.map(checkGrid);
  } else if (hasSide) {
    // Every layer needs at least one point per side.
    const last = Math.trunc((pointsPerSide as number) / merged.cropNPointsDownscaleFactor ** merged.cropNLayers);
    if (last < 1) {
      fail(
        `pointsPerSide ${pointsPerSide} / cropNPointsDownscaleFactor ${merged.cropNPointsDownscaleFactor}^${merged.cropNLayers} ` +
          'leaves no points in the last crop layer',
      );
    }
  }
  return { ...merged, pointGrids };
}
