/**
 * Finding the images of a folder (recursively, in a fixed order) and naming what is written
 * for each of them. Node only.
 *
 * The list is sorted by the UTF-16 code units of the relative POSIX path (plain `<` string
 * comparison, not locale collation), so every machine and every shard sees the same order
 * and image ids (taken from the position in this list) never depend on the platform.
 */
import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join, posix, relative, resolve, sep } from 'node:path';

/** File extensions taken as images (lower case; matched case-insensitively). */
export const IMAGE_EXTENSIONS: readonly string[] = ['.png', '.jpg', '.jpeg', '.bmp', '.gif', '.tif', '.tiff'];

export interface ListImagesOptions {
  /** Descend into subfolders (default true). */
  recursive?: boolean;
  /** Extensions to accept (default IMAGE_EXTENSIONS). */
  extensions?: readonly string[];
  /** Absolute paths to leave out, with everything below them (e.g. the output folder). */
  exclude?: readonly string[];
}

/** Code-unit order: the same everywhere (localeCompare is not). */
export function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function hasImageExtension(name: string, extensions: readonly string[] = IMAGE_EXTENSIONS): boolean {
  const lower = name.toLowerCase();
  return extensions.some((e) => lower.endsWith(e));
}

/**
 * The images under `root` as sorted relative POSIX paths (`a/b.jpg`). Hidden files and
 * folders (names starting with '.') are skipped, and so is anything under `exclude`.
 * Symbolic links to files are followed; links to folders are not (no cycles).
 */
export async function listImages(root: string, options: ListImagesOptions = {}): Promise<string[]> {
  const recursive = options.recursive ?? true;
  const extensions = (options.extensions ?? IMAGE_EXTENSIONS).map((e) => e.toLowerCase());
  const exclude = (options.exclude ?? []).map((p) => resolve(p));
  const base = resolve(root);
  const info = await stat(base).catch(() => null);
  if (!info) throw new Error(`no such folder: ${root}`);
  if (!info.isDirectory()) throw new Error(`not a folder: ${root}`);
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const full = join(dir, e.name);
      if (exclude.some((x) => full === x || full.startsWith(x + sep))) continue;
      let isFile = e.isFile();
      if (e.isSymbolicLink()) isFile = (await stat(full).catch(() => null))?.isFile() ?? false;
      if (e.isDirectory()) {
        if (recursive) await walk(full);
      } else if (isFile && hasImageExtension(e.name, extensions)) {
        out.push(relative(base, full).split(sep).join(posix.sep));
      }
    }
  };
  await walk(base);
  return out.sort(compareCodeUnits);
}

/** SHA-256 (hex) of a list of relative paths, one per line: identifies an image list. */
export function imageListDigest(paths: readonly string[]): string {
  const h = createHash('sha256');
  for (const p of paths) h.update(`${p}\n`);
  return h.digest('hex');
}

/** A fixed-length file-name-safe key of an image path (first 32 hex digits of its SHA-256). */
export function imageKey(relPath: string): string {
  return createHash('sha256').update(relPath).digest('hex').slice(0, 32);
}

/**
 * The name each image's outputs get, relative to an output folder: the path without its
 * extension (`a/b.jpg` -> `a/b`, as the reference's amg.py names its outputs by the stem),
 * except where two images in one folder share a stem (`b.jpg`, `b.png`): those keep their
 * whole file name so that nothing is overwritten.
 */
export function outputNames(relPaths: readonly string[]): Map<string, string> {
  const stem = (p: string) => {
    const slash = p.lastIndexOf('/');
    const dot = p.lastIndexOf('.');
    return dot > slash + 1 ? p.slice(0, dot) : p;
  };
  const counts = new Map<string, number>();
  for (const p of relPaths) counts.set(stem(p), (counts.get(stem(p)) ?? 0) + 1);
  return new Map(relPaths.map((p) => [p, counts.get(stem(p))! > 1 ? p : stem(p)]));
}
