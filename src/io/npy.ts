/**
 * Reading and writing NumPy `.npy` files (format versions 1.0 to 3.0).
 *
 * Used for the reference fixtures and for saving image embeddings. Only little-endian,
 * C-order arrays of plain numeric dtypes are supported; anything else is refused with an
 * error that names what was found.
 */

export type NpyDType = 'float32' | 'float64' | 'int32' | 'int64' | 'uint8' | 'int8' | 'bool' | 'int16' | 'uint16' | 'uint32' | 'float16';

export type NpyData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Int16Array | Uint16Array | Uint32Array;

export interface NpyArray {
  dtype: NpyDType;
  shape: number[];
  /** Values in C (row-major) order. `bool` and `float16` come back as raw Uint8Array / Uint16Array. */
  data: NpyData;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

const DESCR: Record<string, { dtype: NpyDType; bytes: number }> = {
  '<f4': { dtype: 'float32', bytes: 4 },
  '<f8': { dtype: 'float64', bytes: 8 },
  '<f2': { dtype: 'float16', bytes: 2 },
  '<i4': { dtype: 'int32', bytes: 4 },
  '<i8': { dtype: 'int64', bytes: 8 },
  '<i2': { dtype: 'int16', bytes: 2 },
  '<u2': { dtype: 'uint16', bytes: 2 },
  '<u4': { dtype: 'uint32', bytes: 4 },
  '|u1': { dtype: 'uint8', bytes: 1 },
  '|i1': { dtype: 'int8', bytes: 1 },
  '|b1': { dtype: 'bool', bytes: 1 },
};

function parseHeader(text: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(text);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descr || !fortran || !shape) {
    throw new Error(`npy: unreadable header ${JSON.stringify(text.trim())}`);
  }
  const dims = shape[1]
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => Number(s));
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new Error(`npy: bad shape (${shape[1]})`);
  }
  return { descr: descr[1], fortran: fortran[1] === 'True', shape: dims };
}

/** Parses the bytes of a `.npy` file. */
export function parseNpy(bytes: Uint8Array): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new Error('npy: not a .npy file (missing \\x93NUMPY magic)');
  }
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let offset: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    offset = 10;
  } else if (major === 2 || major === 3) {
    headerLen = view.getUint32(8, true);
    offset = 12;
  } else {
    throw new Error(`npy: unsupported format version ${major}`);
  }
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(offset, offset + headerLen));
  const { descr, fortran, shape } = parseHeader(header);
  if (fortran) throw new Error('npy: Fortran-order arrays are not supported');
  const kind = DESCR[descr];
  if (!kind) throw new Error(`npy: unsupported dtype '${descr}' (little-endian numeric dtypes only)`);
  const count = shape.reduce((a, b) => a * b, 1);
  const start = offset + headerLen;
  const nbytes = count * kind.bytes;
  if (start + nbytes > bytes.length) {
    throw new Error(`npy: file is truncated (${bytes.length - start} data bytes for ${nbytes} expected)`);
  }
  // Copy into a buffer of its own so typed-array views are aligned (Node's Buffer#slice
  // would return a view into a shared pool, hence Uint8Array.prototype.slice).
  const buf = Uint8Array.prototype.slice.call(bytes, start, start + nbytes).buffer;
  let data: NpyData;
  switch (kind.dtype) {
    case 'float32': data = new Float32Array(buf); break;
    case 'float64': data = new Float64Array(buf); break;
    case 'float16': data = new Uint16Array(buf); break;
    case 'int32': data = new Int32Array(buf); break;
    case 'int64': data = new BigInt64Array(buf); break;
    case 'int16': data = new Int16Array(buf); break;
    case 'uint16': data = new Uint16Array(buf); break;
    case 'uint32': data = new Uint32Array(buf); break;
    case 'int8': data = new Int8Array(buf); break;
    case 'uint8':
    case 'bool': data = new Uint8Array(buf); break;
  }
  return { dtype: kind.dtype, shape, data };
}

const DESCR_OF: Record<NpyDType, string> = Object.fromEntries(
  Object.entries(DESCR).map(([descr, { dtype }]) => [dtype, descr]),
) as Record<NpyDType, string>;

/** Serialises an array as a version 1.0 `.npy` file. */
export function encodeNpy(array: NpyArray): Uint8Array {
  const count = array.shape.reduce((a, b) => a * b, 1);
  if (count !== array.data.length) {
    throw new Error(`npy: shape [${array.shape}] holds ${count} values but data has ${array.data.length}`);
  }
  const shapeText = array.shape.length === 1 ? `(${array.shape[0]},)` : `(${array.shape.join(', ')})`;
  let header = `{'descr': '${DESCR_OF[array.dtype]}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + array.data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength), 10 + header.length);
  return out;
}
