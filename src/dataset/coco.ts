/**
 * The COCO-format dataset this package writes, and streaming reading / writing of it. Node only.
 *
 * Layout. A normal COCO JSON object, laid out one record per line so that it can be written
 * and read as a stream (datasets of millions of images do not fit in one JavaScript string)
 * and diffed or grepped:
 *
 *   {"info":{...},"categories":[{"id":1,"name":"object","supercategory":"object"}],
 *   "images":[
 *   {"id":1,"file_name":"a/b.jpg","width":640,"height":480},
 *   ...
 *   ],
 *   "annotations":[
 *   {"id":1,"image_id":1,"category_id":1,"segmentation":{"size":[480,640],"counts":"..."},...},
 *   ...
 *   ]}
 *
 * Any JSON reader reads it as usual; `openDataset` streams it (and falls back to JSON.parse
 * for small COCO files laid out otherwise).
 */
import { createReadStream } from 'node:fs';
import { open, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { temporaryPath } from '../io/atomic_write.js';
import { cocoStringToRle, rleToMask } from '../sam/amg/index.js';
import type { CocoRle } from '../sam/amg/types.js';
import type { MaskRecord } from '../sam/automatic_mask_generator.js';
import type { BinaryMask } from '../sam/predictor.js';

export interface CocoImage {
  /** 1 + the image's position in the sorted list of every image of the input folder. */
  id: number;
  /** Path relative to the input folder, with '/' separators. */
  file_name: string;
  width: number;
  height: number;
}

/** One mask: the reference's automatic-mask record in COCO form (SA-1B's fields). */
export interface CocoAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  /** COCO compressed RLE (pycocotools' string counts, column-major). */
  segmentation: CocoRle;
  area: number;
  /** XYWH. */
  bbox: [number, number, number, number];
  iscrowd: 0;
  predicted_iou: number;
  stability_score: number;
  /** The point prompt that produced the mask, [[x, y]], original image pixels. */
  point_coords: [[number, number]];
  /** The crop the mask was found in, XYWH. */
  crop_box: [number, number, number, number];
}

export interface CocoCategory {
  id: number;
  name: string;
  supercategory: string;
}

/** The masks are class-agnostic: one category for everything. */
export const OBJECT_CATEGORY: Readonly<CocoCategory> = Object.freeze({ id: 1, name: 'object', supercategory: 'object' });

/** An image that could not be used, with the reason. */
export interface FailedImage {
  file_name: string;
  error: string;
}

/** `info` of a dataset written by `buildDataset` (every field deterministic: no dates, no host paths). */
export interface DatasetInfo {
  description: string;
  /** Layout version of this file. */
  format: 'sam-tfjs-coco';
  version: 1;
  /** Number of images listed in the input folder (all shards), and their list's SHA-256. */
  images_listed: number;
  image_list_sha256: string;
  /** What produced the masks: generator settings and the model's fingerprint. */
  settings: Record<string, unknown>;
  /** Images skipped because they could not be read or decoded (this file's share). */
  failed_images: FailedImage[];
  /** Only in a shard's file: which part of the list it holds. */
  shard?: { index: number; count: number };
}

export interface CocoDataset {
  info: DatasetInfo;
  categories: CocoCategory[];
  images: CocoImage[];
  annotations: CocoAnnotation[];
}

/** The annotation of a generator record made with `outputMode: 'coco_rle'` (keys in the COCO / SA-1B spelling). */
export function recordToAnnotation(record: MaskRecord, id: number, imageId: number): CocoAnnotation {
  const seg = record.segmentation as CocoRle;
  if (typeof seg?.counts !== 'string') throw new Error("recordToAnnotation: the record's segmentation must be COCO RLE (outputMode 'coco_rle')");
  return {
    id,
    image_id: imageId,
    category_id: OBJECT_CATEGORY.id,
    segmentation: { size: [seg.size[0], seg.size[1]], counts: seg.counts },
    area: record.area,
    bbox: [...record.bbox],
    iscrowd: 0,
    predicted_iou: record.predictedIou,
    stability_score: record.stabilityScore,
    point_coords: [[record.pointCoords[0][0], record.pointCoords[0][1]]],
    crop_box: [...record.cropBox],
  };
}

/** The binary mask of an annotation (row-major H x W, 1 = object). */
export function annotationMask(a: Pick<CocoAnnotation, 'segmentation'>): BinaryMask {
  const [h, w] = a.segmentation.size;
  return { width: w, height: h, data: rleToMask(cocoStringToRle(a.segmentation)) };
}

/** Writes text to a file through a buffer, with an fsync before close. */
export class BufferedFile {
  private chunks: string[] = [];
  private size = 0;
  private constructor(private readonly handle: FileHandle) {}

  static async create(path: string): Promise<BufferedFile> {
    return new BufferedFile(await open(path, 'w'));
  }

  async write(text: string): Promise<void> {
    this.chunks.push(text);
    this.size += text.length;
    if (this.size >= 1 << 20) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.chunks.length === 0) return;
    const text = this.chunks.join('');
    this.chunks = [];
    this.size = 0;
    await this.handle.write(text);
  }

  /** Flushes, syncs to disk and closes. */
  async close(): Promise<void> {
    try {
      await this.flush();
      await this.handle.sync();
    } finally {
      await this.handle.close();
    }
  }

  /** Closes without flushing. */
  async discard(): Promise<void> {
    this.chunks = [];
    await this.handle.close().catch(() => {});
  }
}

/**
 * Writes a dataset file in the layout above, atomically: everything goes to a temporary file
 * next to `path`, which replaces `path` only on `commit()`. Call `begin`, then `image` for
 * every image, then `annotation` for every annotation, then `commit` (or `abort`).
 */
export class DatasetWriter {
  private file: BufferedFile | null = null;
  private readonly tmp: string;
  private section: 'none' | 'images' | 'annotations' = 'none';
  private count = 0;

  constructor(readonly path: string) {
    this.tmp = temporaryPath(path);
  }

  async begin(info: DatasetInfo, categories: readonly CocoCategory[] = [OBJECT_CATEGORY]): Promise<void> {
    this.file = await BufferedFile.create(this.tmp);
    await this.file.write(`{"info":${JSON.stringify(info)},"categories":${JSON.stringify(categories)},\n"images":[`);
    this.section = 'images';
  }

  async image(image: CocoImage): Promise<void> {
    if (this.section !== 'images') throw new Error('DatasetWriter: images must come before annotations');
    await this.line(JSON.stringify(image));
  }

  async annotation(a: CocoAnnotation): Promise<void> {
    await this.annotationJson(JSON.stringify(a));
  }

  /** An annotation already serialised (one line of JSON). */
  async annotationJson(json: string): Promise<void> {
    if (this.section === 'images') await this.annotationsStart();
    if (this.section !== 'annotations') throw new Error('DatasetWriter: begin() first');
    await this.line(json);
  }

  /** Finishes the file and moves it into place. */
  async commit(): Promise<void> {
    if (this.section === 'images') await this.annotationsStart();
    await this.file!.write(`\n]}\n`);
    await this.file!.close();
    this.file = null;
    await rename(this.tmp, this.path);
  }

  async abort(): Promise<void> {
    await this.file?.discard();
    this.file = null;
    await rm(this.tmp, { force: true });
  }

  private async annotationsStart(): Promise<void> {
    await this.file!.write(`\n],\n"annotations":[`);
    this.section = 'annotations';
    this.count = 0;
  }

  private async line(json: string): Promise<void> {
    await this.file!.write(`${this.count === 0 ? '\n' : ',\n'}${json}`);
    this.count++;
  }
}

/**
 * A temporary file of text lines next to `nextTo` (named like an atomic write's temporary,
 * so leftovers of a killed process are recognisable): append lines, read them back once,
 * delete it.
 */
export class LineSpill {
  private file: BufferedFile | null = null;
  readonly path: string;

  constructor(nextTo: string) {
    this.path = temporaryPath(nextTo);
  }

  async add(line: string): Promise<void> {
    this.file ??= await BufferedFile.create(this.path);
    await this.file.write(`${line}\n`);
  }

  /** Every line added, in order (ends the writing). */
  async *lines(): AsyncGenerator<string> {
    if (!this.file) return;
    await this.file.close();
    this.file = null;
    const stream = createReadStream(this.path, { encoding: 'utf8' });
    const rl = createInterface({ input: stream, crlfDelay: Infinity });
    try {
      for await (const line of rl) yield line;
    } finally {
      rl.close();
      stream.destroy();
    }
  }

  async dispose(): Promise<void> {
    await this.file?.discard();
    this.file = null;
    await rm(this.path, { force: true });
  }
}

/** A dataset being read: the small parts at once, the annotations as a stream. */
export interface DatasetReader {
  info: DatasetInfo;
  categories: CocoCategory[];
  images: CocoImage[];
  /** Each annotation in file order (can be iterated once). */
  annotations: AsyncIterable<CocoAnnotation>;
  /** Stops reading (when the annotations are not read to the end). */
  close(): void;
}

const WHOLE_FILE_LIMIT = 256 * 1024 * 1024;

/**
 * Opens a dataset file. Files in the layout above are streamed line by line; other COCO
 * JSON files are parsed whole (up to 256 MiB).
 */
export async function openDataset(path: string): Promise<DatasetReader> {
  const stream = createReadStream(path, { encoding: 'utf8' });
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  const lines = rl[Symbol.asyncIterator]();
  const close = () => {
    rl.close();
    stream.destroy();
  };
  const first = await lines.next().catch((e: unknown) => {
    close();
    throw new Error(`cannot read dataset ${path}: ${(e as Error).message}`);
  });
  const bad = (what: string) => new Error(`${path}: not a dataset file in the sam-tfjs layout (${what})`);
  if (first.done || !first.value.startsWith('{"info":') || !first.value.endsWith(',')) {
    close();
    return parseWhole(path);
  }
  let header: { info: DatasetInfo; categories: CocoCategory[] };
  try {
    header = JSON.parse(`${first.value.slice(0, -1)}}`);
  } catch {
    close();
    throw bad('unreadable first line');
  }
  const next = async (): Promise<string> => {
    const r = await lines.next();
    if (r.done) throw bad('it ends early: truncated?');
    return r.value;
  };
  const images: CocoImage[] = [];
  try {
    if ((await next()) !== '"images":[') throw bad('no "images" line');
    for (;;) {
      const line = await next();
      if (line === '],') break;
      images.push(JSON.parse(line.endsWith(',') ? line.slice(0, -1) : line));
    }
    if ((await next()) !== '"annotations":[') throw bad('no "annotations" line');
  } catch (e) {
    close();
    if (e instanceof SyntaxError) throw bad(`unreadable image line: ${e.message}`);
    throw e;
  }
  let used = false;
  async function* annotations(): AsyncGenerator<CocoAnnotation> {
    if (used) throw new Error('openDataset: the annotations can be read only once');
    used = true;
    try {
      for (;;) {
        const line = await next();
        if (line === ']}') return;
        try {
          yield JSON.parse(line.endsWith(',') ? line.slice(0, -1) : line) as CocoAnnotation;
        } catch (e) {
          if (e instanceof SyntaxError) throw bad(`unreadable annotation line: ${e.message}`);
          throw e;
        }
      }
    } finally {
      close();
    }
  }
  return { info: header.info, categories: header.categories, images, annotations: annotations(), close };
}

async function parseWhole(path: string): Promise<DatasetReader> {
  const size = (await stat(path)).size;
  if (size > WHOLE_FILE_LIMIT) throw new Error(`${path}: a COCO file of ${size} bytes not in the sam-tfjs line layout is too large to read whole`);
  let json: CocoDataset;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: not a readable JSON dataset (${(e as Error).message})`);
  }
  if (!json || !Array.isArray(json.images) || !Array.isArray(json.annotations)) throw new Error(`${path}: not a COCO dataset (no images / annotations arrays)`);
  async function* annotations(): AsyncGenerator<CocoAnnotation> {
    yield* json.annotations;
  }
  return { info: json.info, categories: json.categories ?? [], images: json.images, annotations: annotations(), close() {} };
}

/** Reads a whole dataset into memory (fine for small datasets and tests). */
export async function readDataset(path: string): Promise<CocoDataset> {
  const r = await openDataset(path);
  const annotations: CocoAnnotation[] = [];
  for await (const a of r.annotations) annotations.push(a);
  return { info: r.info, categories: r.categories, images: r.images, annotations };
}
