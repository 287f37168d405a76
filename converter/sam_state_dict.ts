/**
 * One way to open any SAM weights file: a PyTorch checkpoint (`.pth`, zip or legacy) or a
 * `.safetensors` file, with the official segment-anything key names or the Hugging Face
 * `transformers` ones (mapped to the official names, see hf_keys.ts). The result has the
 * same shape as `openCheckpoint`'s: entries in file order, read lazily one at a time.
 *
 *   const sd = await openSamStateDict('model.safetensors');
 *   for (const e of sd.entries) { const t = await e.load(); ... }   // e.key is the official name
 *   await sd.close();
 */
import { type ByteSource, BytesSource, readRange } from './byte_source.js';
import { CheckpointError } from './errors.js';
import { mapTransformersKeys, usesTransformersNames } from './hf_keys.js';
import { type CheckpointEntry, type CheckpointInput, type OpenCheckpointOptions, detectCheckpointFormat, openCheckpoint } from './pth.js';
import { isSafetensorsHead, openSafetensors } from './safetensors.js';
import type { StateDict, TorchTensor } from './torch_types.js';

export type WeightsFileFormat = 'zip' | 'legacy' | 'safetensors';
export type KeyNaming = 'segment-anything' | 'transformers';

export interface SamStateDict {
  readonly format: WeightsFileFormat;
  /** Which names the file uses; entries always carry the official (segment-anything) names. */
  readonly naming: KeyNaming;
  readonly entries: readonly CheckpointEntry[];
  get(key: string): CheckpointEntry | undefined;
  /** The name a tensor has in the file (differs from `key` for transformers files). */
  sourceKey(key: string): string | undefined;
  close(): Promise<void>;
}

/** The safetensors / pth format from the first bytes, or null. */
export function detectWeightsFormat(head: Uint8Array, fileSize = Infinity): WeightsFileFormat | null {
  const pth = detectCheckpointFormat(head);
  if (pth) return pth;
  return isSafetensorsHead(head, fileSize) ? 'safetensors' : null;
}

async function toSource(input: CheckpointInput): Promise<{ source: ByteSource; owned: boolean }> {
  if (typeof input === 'string') {
    const { FileSource } = await import('./file_source.js');
    return { source: await FileSource.open(input), owned: true };
  }
  if (input instanceof Uint8Array) return { source: new BytesSource(input), owned: false };
  return { source: input, owned: false };
}

function rowOf(t: TorchTensor, row: number, key: string): TorchTensor {
  if (t.shape.length < 1 || row >= t.shape[0]) throw new CheckpointError(`cannot take row ${row} of '${key}' (shape [${t.shape}])`);
  const width = t.shape.slice(1).reduce((a, b) => a * b, 1);
  return { dtype: t.dtype, shape: [1, ...t.shape.slice(1)], data: t.data.slice(row * width, (row + 1) * width) as TorchTensor['data'] };
}

/** Opens a SAM weights file (see the file comment); reads only its index. */
export async function openSamStateDict(input: CheckpointInput, options: OpenCheckpointOptions = {}): Promise<SamStateDict> {
  const { source, owned } = await toSource(input);
  try {
    const head = source.size > 0 ? await readRange(source, 0, Math.min(source.size, 64), 'the file header') : new Uint8Array(0);
    const safetensors = detectCheckpointFormat(head) === null && isSafetensorsHead(head, source.size);
    const file = safetensors ? await openSafetensors(source) : await openCheckpoint(source, options);
    const format: WeightsFileFormat = safetensors ? 'safetensors' : (file as { format: 'zip' | 'legacy' }).format;
    const close = async () => {
      await file.close();
      if (owned) await source.close?.();
    };
    const keys = file.entries.map((e) => e.key);
    if (!usesTransformersNames(keys)) {
      return { format, naming: 'segment-anything', entries: file.entries, get: (k) => file.get(k), sourceKey: (k) => (file.get(k) ? k : undefined), close };
    }
    const shapes = new Map(file.entries.map((e) => [e.key, e.shape]));
    const entries: CheckpointEntry[] = [];
    const sources = new Map<string, string>();
    for (const m of mapTransformersKeys(keys, shapes)) {
      const src = file.get(m.sourceKey) as CheckpointEntry;
      if (sources.has(m.samKey)) {
        throw new CheckpointError(`'${m.sourceKey}' and '${sources.get(m.samKey)}' both map to '${m.samKey}' (a file mixing two namings?)`);
      }
      sources.set(m.samKey, m.sourceKey);
      if (m.row === undefined) {
        entries.push({ ...src, key: m.samKey, load: () => src.load() });
      } else {
        const row = m.row;
        const shape = Object.freeze([1, ...src.shape.slice(1)]);
        const numel = shape.reduce((a, b) => a * b, 1);
        entries.push({
          key: m.samKey,
          dtype: src.dtype,
          shape,
          numel,
          byteLength: (src.byteLength / Math.max(1, src.numel)) * numel,
          load: async () => rowOf(await src.load(), row, m.sourceKey),
        });
      }
    }
    const byKey = new Map(entries.map((e) => [e.key, e]));
    return { format, naming: 'transformers', entries, get: (k) => byKey.get(k), sourceKey: (k) => sources.get(k), close };
  } catch (e) {
    if (owned) await source.close?.();
    throw e;
  }
}

/** Loads every tensor of a SAM weights file, by official name. */
export async function loadSamStateDict(input: CheckpointInput, options: OpenCheckpointOptions = {}): Promise<StateDict> {
  const sd = await openSamStateDict(input, options);
  try {
    const out: StateDict = new Map();
    for (const e of sd.entries) out.set(e.key, await e.load());
    return out;
  } finally {
    await sd.close();
  }
}
