/**
 * Downloads converted weights (model.json + shards, the format of src/sam/tfjs_weights.ts)
 * with byte-level progress and keeps the shards in the browser's Cache Storage, so a second
 * visit loads them without the network. model.json is always fetched again (it is small);
 * the shards are cached under a key made from its manifest, so new weights at the same URL
 * are downloaded again and the old ones dropped.
 */
import type * as tf from '@tensorflow/tfjs';

const CACHE_NAME = 'sam-tfjs-weights-v1';

export interface LoadedArtifacts {
  artifacts: tf.io.ModelArtifacts;
  bytes: number;
  fromCache: boolean;
  url: string;
}

function modelJsonUrl(url: string): string {
  const abs = new URL(url, self.location.href).href;
  return /\.json([?#]|$)/.test(abs) ? abs : `${abs.replace(/\/?([?#].*)?$/, '/')}model.json`;
}

async function sha256Hex(text: string): Promise<string> {
  if (!crypto?.subtle) {
    let h = 2166136261;
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
    return h.toString(16);
  }
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest).slice(0, 12), (b) => b.toString(16).padStart(2, '0')).join('');
}

const BYTES_PER: Record<string, number> = { float32: 4, int32: 4, bool: 1, float16: 2, uint8: 1, uint16: 2 };

/** Bytes of one manifest entry as stored (quantized entries are smaller). */
function entryBytes(w: tf.io.WeightsManifestEntry): number {
  const n = w.shape.reduce((a, b) => a * b, 1);
  const dtype = w.quantization?.dtype ?? w.dtype;
  return n * (BYTES_PER[dtype] ?? 4);
}

async function openCache(): Promise<Cache | null> {
  try {
    return typeof caches !== 'undefined' ? await caches.open(CACHE_NAME) : null;
  } catch {
    return null; // not a secure context, or storage disabled
  }
}

/** Reads a response body, reporting each chunk's size. */
async function readWithProgress(res: Response, onChunk: (n: number) => void): Promise<ArrayBuffer> {
  if (!res.body) {
    const buf = await res.arrayBuffer();
    onChunk(buf.byteLength);
    return buf;
  }
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
    onChunk(value.byteLength);
  }
  const out = new Uint8Array(size);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.byteLength;
  }
  return out.buffer;
}

export async function loadArtifacts(url: string, onProgress: (done: number, total: number, text: string) => void): Promise<LoadedArtifacts> {
  const jsonUrl = modelJsonUrl(url);
  let res: Response;
  try {
    res = await fetch(jsonUrl, { cache: 'no-cache' });
  } catch (e) {
    throw new Error(`cannot fetch ${jsonUrl}: ${(e as Error).message}`);
  }
  if (!res.ok) throw new Error(`cannot fetch ${jsonUrl}: HTTP ${res.status}`);
  const text = await res.text();
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${jsonUrl} is not JSON (is this a converted-weights folder?)`);
  }
  if (!Array.isArray(json.weightsManifest)) throw new Error(`${jsonUrl}: no weightsManifest (not converted sam-tfjs weights)`);
  const version = await sha256Hex(JSON.stringify(json.weightsManifest));
  const shardUrls = json.weightsManifest.flatMap((g) => g.paths.map((p) => new URL(p, jsonUrl).href));
  const weightSpecs = json.weightsManifest.flatMap((g) => g.weights);
  const expected = weightSpecs.reduce((n, w) => n + entryBytes(w), 0);
  const cache = await openCache();
  const keyOf = (u: string) => `${u}${u.includes('?') ? '&' : '?'}sam-cache=${version}`;

  // Drop cached shards of other versions of these URLs.
  if (cache) {
    for (const req of await cache.keys()) {
      const [base, query] = req.url.split('?sam-cache=');
      if (query && shardUrls.includes(base) && query !== version) await cache.delete(req);
    }
  }

  let done = 0;
  let total = expected;
  let fromCache = true;
  const buffers: ArrayBuffer[] = [];
  onProgress(0, total, 'model.json');
  for (const [i, shardUrl] of shardUrls.entries()) {
    const label = `shard ${i + 1}/${shardUrls.length}`;
    const hit = cache ? await cache.match(keyOf(shardUrl)) : undefined;
    if (hit) {
      const buf = await hit.arrayBuffer();
      buffers.push(buf);
      done += buf.byteLength;
      onProgress(done, Math.max(total, done), `${label} (browser cache)`);
      continue;
    }
    fromCache = false;
    let r: Response;
    try {
      r = await fetch(shardUrl);
    } catch (e) {
      throw new Error(`cannot fetch weight shard ${shardUrl}: ${(e as Error).message}`);
    }
    if (!r.ok) throw new Error(`cannot fetch weight shard ${shardUrl}: HTTP ${r.status}`);
    const buf = await readWithProgress(r, (n) => {
      done += n;
      total = Math.max(total, done);
      onProgress(done, total, label);
    });
    buffers.push(buf);
    if (cache) {
      try {
        await cache.put(keyOf(shardUrl), new Response(buf, { headers: { 'Content-Type': 'application/octet-stream' } }));
      } catch {
        // Quota exceeded: the weights still load, just not from the cache next time.
      }
    }
  }
  return {
    artifacts: { weightSpecs, weightData: buffers, userDefinedMetadata: json.userDefinedMetadata, format: json.format },
    bytes: done,
    fromCache,
    url: jsonUrl,
  };
}
