/**
 * The files the reference's `scripts/amg.py` writes for one image, byte for byte in its
 * formats: a folder of PNG masks (`0.png`, `1.png`, ..., 8-bit grayscale, 255 = mask) with
 * `metadata.csv`, or with `--convert-to-rle` one JSON of COCO RLE masks (here in the SA-1B
 * annotation layout `{ image, annotations }`).
 */
import { Jimp } from 'jimp';
import type { CocoRle } from '../sam/amg/types.js';
import type { MaskRecord } from '../sam/automatic_mask_generator.js';
import type { BinaryMask } from '../sam/predictor.js';

/**
 * Python's `str(float)` (repr): the shortest text that reads back as the same double, in
 * positional notation for 1e-4 <= |x| < 1e16 (with '.0' on whole numbers) and as
 * `d.ddde-05` / `1e+16` outside it; `nan`, `inf`, `-inf`.
 */
export function pyFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mant, expText] = x.toExponential().split('e'); // shortest round-trip digits
  const exp = Number(expText);
  const neg = mant.startsWith('-');
  const digits = mant.replace('-', '').replace('.', '');
  const sign = neg ? '-' : '';
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const intLen = exp + 1;
  if (digits.length <= intLen) return `${sign}${digits}${'0'.repeat(intLen - digits.length)}.0`;
  return `${sign}${digits.slice(0, intLen)}.${digits.slice(intLen)}`;
}

/** Python's `str()` of an int-valued field (amg.py writes area, bbox and crop_box as ints). */
const pyInt = (x: number) => String(Math.round(x));

export const METADATA_CSV_HEADER =
  'id,area,bbox_x0,bbox_y0,bbox_w,bbox_h,point_input_x,point_input_y,predicted_iou,stability_score,crop_box_x0,crop_box_y0,crop_box_w,crop_box_h';

/**
 * `metadata.csv` exactly as amg.py's `write_masks_to_folder` writes it: the header, one row
 * per mask, lines joined by '\n' with no newline at the end; point coordinates and scores are
 * floats in Python's notation (e.g. `40.0`, `0.9462890625`).
 */
export function metadataCsv(records: readonly MaskRecord[]): string {
  const lines = [METADATA_CSV_HEADER];
  records.forEach((r, i) => {
    lines.push(
      [
        String(i),
        pyInt(r.area),
        ...r.bbox.map(pyInt),
        ...r.pointCoords[0].map(pyFloat),
        pyFloat(r.predictedIou),
        pyFloat(r.stabilityScore),
        ...r.cropBox.map(pyInt),
      ].join(','),
    );
  });
  return lines.join('\n');
}

/** A mask as an 8-bit grayscale PNG, 255 where set (what `cv2.imwrite(path, mask * 255)` writes). */
export async function encodeMaskPng(mask: BinaryMask): Promise<Uint8Array> {
  const n = mask.width * mask.height;
  const rgba = Buffer.alloc(n * 4);
  for (let i = 0; i < n; i++) {
    const v = mask.data[i] ? 255 : 0;
    rgba[4 * i] = rgba[4 * i + 1] = rgba[4 * i + 2] = v;
    rgba[4 * i + 3] = 255;
  }
  const img = new Jimp({ width: mask.width, height: mask.height, data: rgba });
  // colorType 0: grayscale, 8 bits; fast settings (masks are large and compress well anyway).
  return new Uint8Array(await img.getBuffer('image/png', { colorType: 0, inputHasAlpha: true, deflateLevel: 6, filterType: 0 } as never));
}

/** One image in the SA-1B annotation layout. */
export interface Sa1bImageJson {
  image: { image_id: number; width: number; height: number; file_name: string };
  annotations: Array<{
    /** The mask's index in the generator's output (also its row in metadata.csv). */
    id: number;
    segmentation: CocoRle;
    bbox: [number, number, number, number];
    area: number;
    predicted_iou: number;
    stability_score: number;
    crop_box: [number, number, number, number];
    point_coords: [[number, number]];
  }>;
}

/** The SA-1B-style JSON of one image's records (made with `outputMode: 'coco_rle'`). */
export function sa1bImageJson(records: readonly MaskRecord[], image: Sa1bImageJson['image']): Sa1bImageJson {
  return {
    image: { image_id: image.image_id, width: image.width, height: image.height, file_name: image.file_name },
    annotations: records.map((r, i) => {
      const seg = r.segmentation as CocoRle;
      if (typeof seg?.counts !== 'string') throw new Error("sa1bImageJson: records must be made with outputMode 'coco_rle'");
      return {
        id: i,
        segmentation: { size: [seg.size[0], seg.size[1]], counts: seg.counts },
        bbox: [...r.bbox],
        area: r.area,
        predicted_iou: r.predictedIou,
        stability_score: r.stabilityScore,
        crop_box: [...r.cropBox],
        point_coords: [[r.pointCoords[0][0], r.pointCoords[0][1]]],
      };
    }),
  };
}
