/**
 * Joining the files of a sharded `buildDataset` run into one dataset, equal byte for byte to
 * what one unsharded run writes: images ordered by id (their position in the global sorted
 * list, which every shard shares), annotations renumbered from 1 in image order, failures
 * joined. Streams the annotations (k-way merge by image id), so memory holds only the image
 * lists. Node only.
 */
import { resolve } from 'node:path';
import { datasetInfo } from './build.js';
import { DatasetWriter, openDataset, type CocoAnnotation, type CocoImage, type DatasetReader } from './coco.js';

export interface MergeOptions {
  /** Write a dataset even when some shards are missing (default: error). */
  allowPartial?: boolean;
}

export interface MergeResult {
  output: string;
  shards: number;
  images: number;
  annotations: number;
  failedImages: number;
  /** Shard indices that were missing (with allowPartial). */
  missingShards: number[];
}

/** Inputs that cannot be merged (a usage error for the CLI). */
export class MergeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MergeError';
  }
}

export async function mergeDatasets(inputs: readonly string[], out: string, options: MergeOptions = {}): Promise<MergeResult> {
  if (inputs.length === 0) throw new MergeError('merge: no input files');
  const outPath = resolve(out);
  if (inputs.some((p) => resolve(p) === outPath)) throw new MergeError(`merge: the output ${out} is also an input`);
  const readers: DatasetReader[] = [];
  try {
    for (const p of inputs) readers.push(await openDataset(p));
    const first = readers[0].info;
    const settingsJson = JSON.stringify(first?.settings);
    readers.forEach((r, i) => {
      const info = r.info;
      if (info?.format !== 'sam-tfjs-coco') throw new MergeError(`${inputs[i]}: not a dataset written by sam-tfjs (merge joins the shards of one run)`);
      if (JSON.stringify(info.settings) !== settingsJson) throw new MergeError(`${inputs[i]} was made with other settings than ${inputs[0]}`);
      if (info.image_list_sha256 !== first.image_list_sha256 || info.images_listed !== first.images_listed) {
        throw new MergeError(`${inputs[i]} was made from another image list than ${inputs[0]} (the input folder changed between shards?)`);
      }
    });
    const counts = new Set(readers.map((r) => r.info.shard?.count ?? 1));
    if (counts.size !== 1) throw new MergeError('merge: the files come from runs split into different numbers of shards');
    const count = [...counts][0];
    const seen = new Map<number, string>();
    readers.forEach((r, i) => {
      const index = r.info.shard?.index ?? 0;
      if (seen.has(index)) throw new MergeError(`merge: ${inputs[i]} and ${seen.get(index)} are both shard ${index} of ${count}`);
      seen.set(index, inputs[i]);
    });
    const missingShards = Array.from({ length: count }, (_, i) => i).filter((i) => !seen.has(i));
    if (missingShards.length > 0 && !options.allowPartial) {
      throw new MergeError(`merge: shard(s) ${missingShards.join(', ')} of ${count} missing (give every shard's file, or allow a partial merge)`);
    }

    const images: CocoImage[] = readers.flatMap((r) => r.images).sort((a, b) => a.id - b.id);
    for (let i = 1; i < images.length; i++) {
      if (images[i].id === images[i - 1].id) throw new MergeError(`merge: image id ${images[i].id} appears twice (${images[i].file_name})`);
    }
    const failedImages = readers
      .flatMap((r) => r.info.failed_images ?? [])
      .sort((a, b) => (a.file_name < b.file_name ? -1 : a.file_name > b.file_name ? 1 : 0));

    const writer = new DatasetWriter(outPath);
    await writer.begin(
      datasetInfo({
        imagesListed: first.images_listed,
        imageListSha256: first.image_list_sha256,
        settings: first.settings,
        failedImages,
        shard: null,
      }),
      readers[0].categories,
    );
    let nextId = 1;
    try {
      for (const img of images) await writer.image(img);
      // k-way merge: every file lists its annotations in image order.
      const streams = readers.map((r) => r.annotations[Symbol.asyncIterator]());
      const heads: Array<CocoAnnotation | null> = await Promise.all(streams.map(async (s) => ((await s.next()).value as CocoAnnotation | undefined) ?? null));
      for (;;) {
        let k = -1;
        for (let i = 0; i < heads.length; i++) if (heads[i] && (k < 0 || heads[i]!.image_id < heads[k]!.image_id)) k = i;
        if (k < 0) break;
        const imageId = heads[k]!.image_id;
        while (heads[k] && heads[k]!.image_id === imageId) {
          const { id: _old, ...rest } = heads[k]!;
          await writer.annotation({ id: nextId++, ...rest } as CocoAnnotation);
          const next = await streams[k].next();
          const a = (next.value as CocoAnnotation | undefined) ?? null;
          if (a && a.image_id < imageId) throw new MergeError(`${inputs[k]}: annotations are not in image order (image ${a.image_id} after ${imageId})`);
          heads[k] = a;
        }
      }
      await writer.commit();
    } catch (e) {
      await writer.abort();
      throw e;
    }
    return { output: outPath, shards: readers.length, images: images.length, annotations: nextId - 1, failedImages: failedImages.length, missingShards };
  } finally {
    for (const r of readers) r.close();
  }
}
