/**
 * pycocotools' compressed RLE string (common/maskApi.c `rleToString` / `rleFrString`).
 *
 * Each count becomes a little-endian sequence of 5-bit groups, one character per group:
 * the low 5 bits, bit 0x20 set when more groups follow, plus 48 ('0'). The last group's bit
 * 0x10 is the sign bit. From the fourth count on (index > 2) the value stored is the
 * difference to the count two places earlier (the previous run of the same colour).
 */
import type { CocoRle, Rle } from './types.js';

/** Encodes uncompressed RLE counts as a COCO string. */
export function cocoRleToString(counts: ArrayLike<number>): string {
  const chars: number[] = [];
  for (let i = 0; i < counts.length; i++) {
    let x = counts[i];
    if (i > 2) x -= counts[i - 2];
    for (;;) {
      // Low 5 bits of the two's-complement value, then an arithmetic shift by 5; done with
      // float arithmetic so that counts beyond 2^31 keep working.
      const q = Math.floor(x / 32);
      let c = x - q * 32;
      x = q;
      const more = (c & 0x10) !== 0 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      chars.push(c + 48);
      if (!more) break;
    }
  }
  let s = '';
  const CHUNK = 8192;
  for (let i = 0; i < chars.length; i += CHUNK) {
    s += String.fromCharCode.apply(null, chars.slice(i, i + CHUNK));
  }
  return s;
}

/** Decodes a COCO string into uncompressed RLE counts. */
export function cocoStringToCounts(s: string): number[] {
  const counts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let scale = 1; // 32 ** k
    let more = true;
    while (more) {
      if (p >= s.length) throw new Error('cocoStringToCounts: string ends inside a count');
      const c = s.charCodeAt(p) - 48;
      if (c < 0 || c > 63) throw new Error(`cocoStringToCounts: invalid character '${s[p]}' at ${p}`);
      x += (c & 0x1f) * scale;
      scale *= 32;
      more = (c & 0x20) !== 0;
      p++;
      if (!more && (c & 0x10) !== 0) x -= scale; // sign-extend
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  return counts;
}

/** Uncompressed RLE -> COCO compressed RLE (what pycocotools' `frPyObjects` gives, counts as a string). */
export function rleToCocoRle(rle: Rle): CocoRle {
  return { size: [rle.size[0], rle.size[1]], counts: cocoRleToString(rle.counts) };
}

/** COCO compressed RLE -> uncompressed RLE. */
export function cocoStringToRle(coco: CocoRle): Rle {
  return { size: [coco.size[0], coco.size[1]], counts: cocoStringToCounts(coco.counts) };
}
