/** Painting binary masks (colour fill + outline) at the image's own resolution. */
import type { Mask } from './protocol.js';

export type Rgb = readonly [number, number, number];

export interface MaskLayer {
  mask: Mask;
  color: Rgb;
  /** Fill opacity, 0..1. */
  alpha: number;
  /** Outline colour (default: a lighter version of the fill). */
  outline?: Rgb;
  /** Outline opacity, 0..1 (default 0.95). */
  outlineAlpha?: number;
}

const pack = (c: Rgb, a: number) => ((Math.round(a * 255) << 24) | (c[2] << 16) | (c[1] << 8) | c[0]) >>> 0;

const lighten = (c: Rgb): Rgb => [Math.round(c[0] + (255 - c[0]) * 0.6), Math.round(c[1] + (255 - c[1]) * 0.6), Math.round(c[2] + (255 - c[2]) * 0.6)];

/**
 * Paints masks (later ones on top) into an RGBA buffer of the masks' size: every mask pixel
 * gets the fill colour, or the outline colour where the mask ends within `edge` pixels; every
 * other pixel stays fully transparent (so a read-back of alpha > 0 is exactly the union).
 */
export function paintMasks(target: ImageData, layers: MaskLayer[], edge = 1): void {
  const { width: w, height: h } = target;
  const px = new Uint32Array(target.data.buffer, target.data.byteOffset, w * h);
  px.fill(0);
  const k = Math.max(1, Math.round(edge));
  for (const layer of layers) {
    const m = layer.mask.data;
    if (layer.mask.width !== w || layer.mask.height !== h) throw new Error(`mask ${layer.mask.width}x${layer.mask.height} on a ${w}x${h} layer`);
    const fill = pack(layer.color, layer.alpha);
    const line = pack(layer.outline ?? lighten(layer.color), layer.outlineAlpha ?? 0.95);
    for (let y = 0; y < h; y++) {
      const row = y * w;
      const up = y >= k ? row - k * w : -1;
      const down = y + k < h ? row + k * w : -1;
      for (let x = 0; x < w; x++) {
        const i = row + x;
        if (!m[i]) continue;
        const isEdge = x < k || x + k >= w || up < 0 || down < 0 || !m[i - k] || !m[i + k] || !m[up + x] || !m[down + x];
        px[i] = isEdge ? line : fill;
      }
    }
  }
}

/** Draws a mask layer over a scaled copy of the image into a small canvas (candidate thumbnails). */
export function drawThumbnail(canvas: HTMLCanvasElement, image: CanvasImageSource, layer: MaskLayer, width: number, height: number): void {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const tmp = new OffscreenCanvas(layer.mask.width, layer.mask.height);
  const tctx = tmp.getContext('2d');
  if (!tctx) return;
  const data = tctx.createImageData(layer.mask.width, layer.mask.height);
  paintMasks(data, [layer], Math.max(1, layer.mask.width / width));
  tctx.putImageData(data, 0, 0);
  ctx.clearRect(0, 0, width, height);
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(image, 0, 0, width, height);
  ctx.drawImage(tmp, 0, 0, width, height);
}
