/**
 * Building blocks of SAM's automatic mask generator (reference: `segment_anything/utils/amg.py`),
 * in plain TypeScript on typed arrays, plus a tfjs version of the stability score.
 */
export type { Rle, CocoRle, BoxXYXY, BoxesInput, CropBox } from './types.js';
export { buildPointGrid, buildAllLayerPointGrids } from './point_grid.js';
export { generateCropBoxes, type CropBoxes } from './crop_boxes.js';
export { maskToRle, maskToRleUncropped, rleToMask, areaFromRle, rleToBoxXYXY } from './rle.js';
export { cocoRleToString, cocoStringToCounts, cocoStringToRle, rleToCocoRle } from './coco_rle.js';
export { maskToBoxXYXY, batchedMaskToBox, boxXyxyToXywh } from './mask_box.js';
export { calculateStabilityScore, stabilityThresholds } from './stability.js';
export {
  calculateStabilityScoreTensor,
  calculateStabilityScoreTf,
  calculateStabilityScoreTfAsync,
  stabilityCountsTensor,
} from './stability_tf.js';
export { connectedComponents8, type RunComponents } from './connected_components.js';
export { removeSmallRegions, type SmallRegionMode } from './small_regions.js';
export { batchedNms } from './nms.js';
export { isBoxNearCropEdge, uncropBoxesXYXY, uncropPoints, uncropMask, boxArea, boxAreas } from './boxes.js';
