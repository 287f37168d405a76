/**
 * An image embedding with the sizes it belongs to, and a portable binary form of it, so an
 * embedding computed once (e.g. in Node with `sam-tfjs embed`) can serve prompts later,
 * in another process or in a browser.
 *
 * File layout (`.samemb`): the 8 ASCII bytes `SAMEMB01`, a little-endian uint32 header
 * length, a UTF-8 JSON header, zero padding to a multiple of 4 bytes, then float32
 * little-endian values in the header's `shape` (NHWC [1, g, g, C]).
 */
import * as tf from '@tensorflow/tfjs';

export interface ImageEmbedding {
  /** [1, g, g, C] (NHWC). */
  embedding: tf.Tensor4D;
  /** [H, W] of the original image. */
  originalSize: [number, number];
  /** [h, w] of the resized image inside the padded encoder input. */
  inputSize: [number, number];
  /** Side S of the encoder input. */
  imgSize: number;
}

interface EmbeddingHeader {
  format: 'sam-tfjs-embedding';
  version: 1;
  shape: number[];
  dtype: 'float32';
  layout: 'NHWC';
  originalSize: [number, number];
  inputSize: [number, number];
  imgSize: number;
}

const MAGIC = 'SAMEMB01';

/** Serialises an embedding (its tensor is read, not disposed). */
export async function encodeImageEmbedding(e: ImageEmbedding): Promise<Uint8Array> {
  const header: EmbeddingHeader = {
    format: 'sam-tfjs-embedding',
    version: 1,
    shape: e.embedding.shape,
    dtype: 'float32',
    layout: 'NHWC',
    originalSize: e.originalSize,
    inputSize: e.inputSize,
    imgSize: e.imgSize,
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerEnd = 12 + json.length;
  const dataStart = Math.ceil(headerEnd / 4) * 4;
  const values = (await e.embedding.data()) as Float32Array;
  const out = new Uint8Array(dataStart + values.byteLength);
  for (let i = 0; i < 8; i++) out[i] = MAGIC.charCodeAt(i);
  new DataView(out.buffer).setUint32(8, json.length, true);
  out.set(json, 12);
  const view = new DataView(out.buffer, dataStart);
  for (let i = 0; i < values.length; i++) view.setFloat32(4 * i, values[i], true);
  return out;
}

/** Parses the bytes written by encodeImageEmbedding; the caller owns the returned tensor. */
export function decodeImageEmbedding(bytes: Uint8Array): ImageEmbedding {
  const magic = String.fromCharCode(...bytes.subarray(0, 8));
  if (bytes.length < 12 || magic !== MAGIC) {
    throw new Error('not a sam-tfjs image embedding (expected a file written by saveImageEmbedding / `sam-tfjs embed`)');
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = dv.getUint32(8, true);
  if (12 + len > bytes.length) throw new Error('image embedding file is truncated (header)');
  let header: EmbeddingHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + len)));
  } catch {
    throw new Error('image embedding file has a corrupt header');
  }
  if (header.format !== 'sam-tfjs-embedding' || header.version !== 1 || header.dtype !== 'float32' || header.shape?.length !== 4) {
    throw new Error(`unsupported image embedding (format ${header.format}, version ${header.version})`);
  }
  const count = header.shape.reduce((a, b) => a * b, 1);
  const start = Math.ceil((12 + len) / 4) * 4;
  if (start + 4 * count > bytes.length) {
    throw new Error(`image embedding file is truncated: ${bytes.length - start} data bytes for ${4 * count} expected`);
  }
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) values[i] = dv.getFloat32(start + 4 * i, true);
  return {
    embedding: tf.tensor4d(values, header.shape as [number, number, number, number]),
    originalSize: header.originalSize,
    inputSize: header.inputSize,
    imgSize: header.imgSize,
  };
}

/** Writes an embedding to a file atomically (temporary file, then rename). Node only. */
export async function saveImageEmbedding(path: string, e: ImageEmbedding): Promise<void> {
  const { writeFileAtomic } = await import('../io/atomic_write.js');
  await writeFileAtomic(path, await encodeImageEmbedding(e));
}

/** Reads an embedding from a file (Node) or a URL (fetch). */
export async function loadImageEmbedding(pathOrUrl: string): Promise<ImageEmbedding> {
  if (/^https?:\/\//.test(pathOrUrl) || typeof process === 'undefined') {
    const res = await fetch(pathOrUrl);
    if (!res.ok) throw new Error(`cannot fetch image embedding ${pathOrUrl}: HTTP ${res.status}`);
    return decodeImageEmbedding(new Uint8Array(await res.arrayBuffer()));
  }
  const { readFile } = await import('node:fs/promises');
  return decodeImageEmbedding(await readFile(pathOrUrl));
}
