/**
 * Crop boxes of the automatic mask generator (reference: `generate_crop_boxes`).
 */

export interface CropBoxes {
  /** XYXY integer boxes; the first is the whole image. */
  cropBoxes: [number, number, number, number][];
  /** Crop layer of each box (0 for the whole image). */
  layerIdxs: number[];
}

/**
 * The whole image, then for layer i (1-based) a grid of 2^i x 2^i overlapping crops.
 * Integer arithmetic follows Python: `int()` truncates and `math.ceil` rounds up a float64 quotient.
 */
export function generateCropBoxes(imSize: readonly [number, number] | readonly number[], nLayers: number, overlapRatio: number): CropBoxes {
  const [imH, imW] = imSize;
  const shortSide = Math.min(imH, imW);
  const cropBoxes: [number, number, number, number][] = [[0, 0, imW, imH]];
  const layerIdxs: number[] = [0];

  const cropLen = (origLen: number, nCrops: number, overlap: number): number =>
    Math.trunc(Math.ceil((overlap * (nCrops - 1) + origLen) / nCrops));

  for (let layer = 0; layer < nLayers; layer++) {
    const nPerSide = 2 ** (layer + 1);
    const overlap = Math.trunc(overlapRatio * shortSide * (2 / nPerSide));
    const cropW = cropLen(imW, nPerSide, overlap);
    const cropH = cropLen(imH, nPerSide, overlap);
    // x outer, y inner (itertools.product order).
    for (let i = 0; i < nPerSide; i++) {
      const x0 = Math.trunc((cropW - overlap) * i);
      for (let j = 0; j < nPerSide; j++) {
        const y0 = Math.trunc((cropH - overlap) * j);
        cropBoxes.push([x0, y0, Math.min(x0 + cropW, imW), Math.min(y0 + cropH, imH)]);
        layerIdxs.push(layer + 1);
      }
    }
  }
  return { cropBoxes, layerIdxs };
}
