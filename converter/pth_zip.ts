/** The zip checkpoint format (torch.save default since torch 1.6): `<folder>/data.pkl` + `<folder>/data/<key>`. */
import { type ByteSource, sourceName } from './byte_source.js';
import type { StorageArchive } from './archive.js';
import { CheckpointError } from './errors.js';
import { PickleTruncatedError, unpickle } from './pickle.js';
import { type StorageRef, parseStoragePid, resolveTorchGlobal } from './torch_pickle.js';
import { type ZipEntry, readZipDirectory, readZipEntry } from './zip.js';

export async function openZipArchive(source: ByteSource): Promise<StorageArchive> {
  const dir = await readZipDirectory(source);
  const byName = new Map<string, ZipEntry>();
  for (const e of dir.entries) byName.set(e.name, e);

  // The folder name varies ('archive', the file stem, ...): find <folder>/data.pkl.
  const pkls = dir.entries.filter((e) => /^[^/]+\/data\.pkl$/.test(e.name));
  const firstFolder = dir.entries.length > 0 ? dir.entries[0].name.split('/')[0] : '';
  const pkl = pkls.length === 1 ? pkls[0] : pkls.find((e) => e.name === `${firstFolder}/data.pkl`);
  if (!pkl) {
    const names = dir.entries.slice(0, 5).map((e) => `'${e.name}'`).join(', ');
    throw new CheckpointError(
      pkls.length === 0
        ? `not a PyTorch checkpoint (${sourceName(source)}): the file is a zip archive without a <folder>/data.pkl entry ` +
            `(it has ${dir.entries.length} entries${names ? `: ${names}${dir.entries.length > 5 ? ', ...' : ''}` : ''}); ` +
            'expected a .pth file written by torch.save'
        : `ambiguous checkpoint (${sourceName(source)}): several data.pkl entries (${pkls.map((e) => e.name).join(', ')})`,
    );
  }
  const folder = pkl.name.slice(0, -'/data.pkl'.length);

  let bigEndian = false;
  const byteorder = byName.get(`${folder}/byteorder`);
  if (byteorder) {
    const text = new TextDecoder().decode(await readZipEntry(source, dir, byteorder)).trim();
    if (text !== 'little' && text !== 'big') throw new CheckpointError(`corrupt checkpoint: byteorder is '${text}'`);
    bigEndian = text === 'big';
  }

  const pklBytes = await readZipEntry(source, dir, pkl);
  const storages = new Map<string, ZipEntry>();
  let root: unknown;
  try {
    root = unpickle(pklBytes, {
      resolveGlobal: resolveTorchGlobal,
      persistentLoad(pid): StorageRef {
        const p = parseStoragePid(pid);
        const entry = byName.get(`${folder}/data/${p.key}`);
        if (!entry) {
          throw new CheckpointError(
            `corrupt checkpoint (${sourceName(source)}): storage '${folder}/data/${p.key}' is missing from the zip`,
          );
        }
        storages.set(p.key, entry);
        return { kind: 'storage', key: p.key, type: p.type, numel: p.numel, byteOffset: 0, location: p.location };
      },
    }).value;
  } catch (e) {
    if (e instanceof PickleTruncatedError) {
      throw new CheckpointError(`corrupt checkpoint (${sourceName(source)}): ${pkl.name} ends early (${e.message})`);
    }
    throw e;
  }

  return {
    format: 'zip',
    root,
    bigEndian,
    storageByteLength(ref) {
      return storages.get(ref.key)!.uncompressedSize;
    },
    readStorage(ref, start, length) {
      return readZipEntry(source, dir, storages.get(ref.key)!, start, length);
    },
  };
}
