/** Masks drawn over the image in colour (alpha blending), as SAM demos show them. */
import { channelsOf, checkSameSize, type MaskLike, type PixelsLike, type RgbaImage } from './types.js';

/** A distinct colour for mask i (golden-angle hues). */
export function maskColor(i: number): [number, number, number] {
  const h = (i * 137.508) % 360;
  const s = 0.75;
  const l = 0.55;
  const k = (n: number) => (n + h / 30) % 12;
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => l - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)));
  return [Math.round(255 * f(0)), Math.round(255 * f(8)), Math.round(255 * f(4))];
}

export interface OverlayOptions {
  /** Colour per mask (default: distinct hues; a single mask gets SAM's blue). */
  colors?: Array<[number, number, number]>;
  /** Opacity of the mask colour, 0..1 (default 0.5). */
  alpha?: number;
}

export function overlay(image: PixelsLike, masks: MaskLike | MaskLike[], options: OverlayOptions = {}): RgbaImage {
  const list = Array.isArray(masks) ? masks : [masks];
  const c = channelsOf(image, 'overlay');
  list.forEach((m) => checkSameSize(m, image, 'overlay'));
  const alpha = options.alpha ?? 0.5;
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`overlay: alpha must be within 0..1, got ${alpha}`);
  const n = image.width * image.height;
  const out = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) {
    out[4 * i] = image.data[i * c];
    out[4 * i + 1] = image.data[i * c + 1];
    out[4 * i + 2] = image.data[i * c + 2];
    out[4 * i + 3] = 255;
  }
  list.forEach((mask, k) => {
    const color = options.colors?.[k] ?? (list.length === 1 ? [30, 144, 255] : maskColor(k));
    for (let i = 0; i < n; i++) {
      if (!mask.data[i]) continue;
      for (let ch = 0; ch < 3; ch++) out[4 * i + ch] = Math.round((1 - alpha) * out[4 * i + ch] + alpha * color[ch]);
    }
  });
  return { width: image.width, height: image.height, data: out };
}
