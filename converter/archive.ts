/** What the two on-disk formats have in common once their pickle is read. */
import type { StorageRef } from './torch_pickle.js';

export interface StorageArchive {
  format: 'zip' | 'legacy';
  /** The unpickled object; tensors appear as TensorRef (nothing read yet). */
  root: unknown;
  /** Storage bytes are big-endian (only byte order flagged so by the file). */
  bigEndian: boolean;
  /** How many bytes the file holds for this storage (to check tensor views against). */
  storageByteLength(ref: StorageRef): number;
  /** `length` bytes of the stored storage `ref.key` from byte `start`. */
  readStorage(ref: StorageRef, start: number, length: number): Promise<Uint8Array>;
}
