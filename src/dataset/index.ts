/**
 * Training-data generation at scale: folders of images -> COCO datasets of automatic masks,
 * mask files as the reference's amg.py writes them, image embeddings, prompted masks.
 * Resumable, shardable, with read-ahead decoding. Node only.
 */
export { buildDataset, datasetInfo, defaultStateDir, type BuildDatasetOptions, type BuildDatasetResult } from './build.js';
export { mergeDatasets, MergeError, type MergeOptions, type MergeResult } from './merge.js';
export { generateMaskFiles, AUTO_STATE_DIR, type MaskFilesOptions, type MaskFilesResult } from './auto.js';
export { embedImages, EMBED_STATE_DIR, type EmbedOptions, type EmbedResult } from './embed.js';
export { segmentToFiles, type SegmentMask, type SegmentOptions, type SegmentRecord, type SegmentResult } from './segment.js';
export {
  annotationMask,
  DatasetWriter,
  OBJECT_CATEGORY,
  openDataset,
  readDataset,
  recordToAnnotation,
  type CocoAnnotation,
  type CocoCategory,
  type CocoDataset,
  type CocoImage,
  type DatasetInfo,
  type DatasetReader,
  type FailedImage,
} from './coco.js';
export { encodeMaskPng, metadataCsv, METADATA_CSV_HEADER, pyFloat, sa1bImageJson, type Sa1bImageJson } from './amg_files.js';
export { compareCodeUnits, IMAGE_EXTENSIONS, imageKey, imageListDigest, listImages, outputNames, type ListImagesOptions } from './images.js';
export { parseShard, shardFileName, shardIndexFromEnv, shardPositions, ShardSpecError, SHARD_INDEX_ENV, type Shard } from './shard.js';
export { prefetch, type Prefetched, type PrefetchOptions } from './prefetch.js';
export { ImageDecoder, type ImageDecoderOptions } from './decoder.js';
export { modelFingerprint } from './fingerprint.js';
export { amgSettings } from './amg_settings.js';
export { runImages, type ImageTask, type RunEvent, type RunOptions, type RunSpec, type RunSummary } from './runner.js';
export { RunLockedError, RunState, SettingsMismatchError, settingsDifferences, type FailureRecord, type StateManifest } from './state.js';
