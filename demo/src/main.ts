/**
 * The demo page: images from the DOM, prompts from the mouse, the model in a Web Worker
 * (worker.ts). Masks come back from the library's SamPredictor at the image's own size and
 * are painted on a canvas of that size; exports use the library's maskToImage / cutout.
 */
import { cutout } from '../../src/sam/mask_output/cutout.js';
import { maskToImage } from '../../src/sam/mask_output/mask_image.js';
import { maskColor } from '../../src/sam/mask_output/overlay.js';
import type { RgbaImage } from '../../src/sam/mask_output/types.js';
import type {
  BackendInfo,
  BackendRequest,
  Box,
  DecodeResult,
  GeneratedMask,
  Mask,
  ModelInfo,
  Progress,
  PromptPoint,
  Request,
  Results,
  WorkerMessage,
} from './protocol.js';
import { drawThumbnail, paintMasks, type MaskLayer, type Rgb } from './render.js';

// ---------------------------------------------------------------- worker client

class ModelWorker {
  private worker: Worker;
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; onProgress?: (p: Progress) => void }>();

  constructor() {
    this.worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'sam-model' });
    this.worker.onmessage = (ev: MessageEvent<WorkerMessage>) => {
      const msg = ev.data;
      const p = this.pending.get(msg.id);
      if (!p) return;
      if (msg.kind === 'progress') return p.onProgress?.(msg.progress);
      this.pending.delete(msg.id);
      if (msg.kind === 'result') p.resolve(msg.result);
      else p.reject(new Error(msg.message));
    };
    this.worker.onerror = (ev) => {
      const err = new Error(`the model worker failed: ${ev.message || 'unknown error'}`);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
  }

  call<T extends Request['type']>(request: Extract<Request, { type: T }>, transfer: Transferable[] = [], onProgress?: (p: Progress) => void): Promise<Results[T]> {
    const id = this.nextId++;
    return new Promise<Results[T]>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onProgress });
      this.worker.postMessage({ id, request }, transfer);
    });
  }
}

// ---------------------------------------------------------------- DOM

const $ = <T extends HTMLElement = HTMLElement>(id: string) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing`);
  return el as T;
};

const ui = {
  backendBadge: $('backend-badge'),
  modelBadge: $('model-badge'),
  modelSelect: $<HTMLSelectElement>('model-select'),
  modelUrl: $<HTMLInputElement>('model-url'),
  modelLoad: $<HTMLButtonElement>('model-load'),
  modelNote: $('model-note'),
  progress: $('progress'),
  imageFile: $<HTMLInputElement>('image-file'),
  sampleSelect: $<HTMLSelectElement>('sample-select'),
  hoverToggle: $<HTMLInputElement>('hover-toggle'),
  undo: $<HTMLButtonElement>('undo'),
  clear: $<HTMLButtonElement>('clear'),
  candidates: $('candidates'),
  pps: $<HTMLInputElement>('pps'),
  iouThresh: $<HTMLInputElement>('iou-thresh'),
  stabilityThresh: $<HTMLInputElement>('stability-thresh'),
  everything: $<HTMLButtonElement>('everything'),
  everythingNote: $('everything-note'),
  exportMask: $<HTMLButtonElement>('export-mask'),
  exportCutout: $<HTMLButtonElement>('export-cutout'),
  saveEmbedding: $<HTMLButtonElement>('save-embedding'),
  embeddingFile: $<HTMLInputElement>('embedding-file'),
  embeddingUrl: $<HTMLInputElement>('embedding-url'),
  embeddingLoad: $<HTMLButtonElement>('embedding-load'),
  timings: $<HTMLTableElement>('timings'),
  stageWrap: $('stage-wrap'),
  stage: $('stage'),
  imageLayer: $<HTMLCanvasElement>('image-layer'),
  maskLayer: $<HTMLCanvasElement>('mask-layer'),
  promptLayer: document.getElementById('prompt-layer') as unknown as SVGSVGElement,
  busy: $('busy'),
  empty: $('empty'),
  banner: $('banner'),
  dropOverlay: $('drop-overlay'),
  toast: $('toast'),
};

// ---------------------------------------------------------------- state

const SAM_BLUE: Rgb = [30, 144, 255];
const MAX_SIDE = 2048;

interface Result {
  /** The prompt this result answers. */
  points: PromptPoint[];
  box: Box | null;
  masks: Mask[];
  scores: number[];
  selected: number;
  /** The user picked a candidate (otherwise the best-scoring one is shown). */
  pinned: boolean;
  version: number;
}

type Painted =
  | { kind: 'none' }
  | { kind: 'result' | 'preview'; points: PromptPoint[]; box: Box | null; candidate: number; seq: number }
  | { kind: 'everything'; count: number; seq: number };
let paintSeq = 0;

interface Catalog {
  models: Array<{ id: string; label: string; url: string; test: boolean; modelType: string | null; bytes?: number; sample?: string }>;
  samples: Array<{ id: string; label: string; url: string }>;
  hint?: string;
}

const worker = new ModelWorker();

const state = {
  phase: 'starting' as 'starting' | 'loading-model' | 'no-image' | 'encoding' | 'ready' | 'busy' | 'error',
  backend: null as BackendInfo | null,
  model: null as ModelInfo | null,
  catalog: { models: [], samples: [] } as Catalog,
  image: null as { data: ImageData; name: string; placeholder: boolean } | null,
  /** An embedding is set in the worker for the current image. */
  embeddingReady: false,
  /** An embedding was loaded from a file for an image of this size, not shown yet. */
  awaitingImage: null as { width: number; height: number } | null,
  mode: 'fg' as 'fg' | 'bg',
  points: [] as PromptPoint[],
  box: null as Box | null,
  history: [] as Array<{ points: PromptPoint[]; box: Box | null }>,
  version: 0,
  result: null as Result | null,
  preview: null as { mask: Mask; version: number; points: PromptPoint[]; box: Box | null } | null,
  /** What the mask layer shows now (read by tests through window.samDemo). */
  painted: { kind: 'none' } as Painted,
  hover: null as { points: PromptPoint[]; box: Box | null; cursor: PromptPoint | null } | null,
  everything: null as { masks: GeneratedMask[]; selected: number | null; hovered: number | null } | null,
  drag: null as { startX: number; startY: number; x0: number; y0: number; x1: number; y1: number; dragging: boolean; shift: boolean } | null,
  committed: 0,
  timings: {
    download: null as null | { ms: number; bytes: number; cache: boolean },
    build: null as number | null,
    encode: [] as number[],
    warmup: null as number | null,
    embeddingLoad: null as number | null,
    decode: [] as number[],
    latency: [] as number[],
    everything: null as null | { ms: number; count: number },
    longestFrameDuringEncode: null as number | null,
  },
};

// ---------------------------------------------------------------- small helpers

let toastTimer = 0;
function toast(text: string, error = false): void {
  ui.toast.textContent = text;
  ui.toast.className = `show${error ? ' error' : ''}`;
  clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => (ui.toast.className = ''), error ? 7000 : 3500);
}

const fmtMs = (ms: number | null | undefined) => (ms === null || ms === undefined ? '–' : ms >= 10000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(ms < 100 ? 1 : 0)} ms`);
const fmtBytes = (b: number) => (b >= 1e6 ? `${(b / 1e6).toFixed(1)} MB` : `${(b / 1e3).toFixed(0)} kB`);
const median = (a: number[]) => {
  if (!a.length) return null;
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function setPhase(phase: typeof state.phase): void {
  state.phase = phase;
  document.body.dataset.state = phase;
  updateControls();
}

function showProgress(p: Progress | null): void {
  ui.progress.hidden = !p;
  if (!p) return;
  const frac = p.total > 0 ? Math.min(1, p.done / p.total) : 0;
  (ui.progress.querySelector('.fill') as HTMLElement).style.width = `${(frac * 100).toFixed(1)}%`;
  const label = ui.progress.querySelector('.progress-label') as HTMLElement;
  label.textContent =
    p.phase === 'download' ? `${fmtBytes(p.done)} / ${fmtBytes(p.total)} · ${p.text ?? ''}` : p.phase === 'build' ? 'building the model…' : (p.text ?? p.phase);
}

let busyTimer = 0;
let frameWatch: { last: number; longest: number; raf: number } | null = null;
/** Shows the busy overlay with an elapsed-time counter; also measures the longest main-thread frame meanwhile. */
function busy(text: string | null): void {
  clearInterval(busyTimer);
  if (frameWatch) cancelAnimationFrame(frameWatch.raf);
  if (text === null) {
    ui.busy.hidden = true;
    return;
  }
  ui.busy.hidden = false;
  const t0 = performance.now();
  const label = ui.busy.querySelector('.busy-text') as HTMLElement;
  const tick = () => (label.innerHTML = `${text}<br><small>${((performance.now() - t0) / 1000).toFixed(1)} s · the page stays responsive</small>`);
  tick();
  busyTimer = window.setInterval(tick, 250);
  const fw = { last: performance.now(), longest: 0, raf: 0 };
  const frame = (t: number) => {
    fw.longest = Math.max(fw.longest, t - fw.last);
    fw.last = t;
    fw.raf = requestAnimationFrame(frame);
  };
  fw.raf = requestAnimationFrame(frame);
  frameWatch = fw;
}

function longestFrame(): number | null {
  return frameWatch ? frameWatch.longest : null;
}

function updateControls(): void {
  const ready = state.phase === 'ready';
  const hasMask = !!selectedMask();
  ui.undo.disabled = !ready || state.history.length === 0;
  ui.clear.disabled = !ready || (!state.points.length && !state.box && !state.everything);
  ui.everything.disabled = !ready || !state.image || state.image.placeholder;
  ui.exportMask.disabled = !hasMask;
  ui.exportCutout.disabled = !hasMask || !state.image || state.image.placeholder;
  ui.saveEmbedding.disabled = !state.embeddingReady || state.phase === 'encoding';
  ui.embeddingLoad.disabled = !state.model;
  ui.modelLoad.disabled = state.phase === 'loading-model' || state.phase === 'encoding';
}

function renderTimings(): void {
  const t = state.timings;
  const rows: Array<[string, string]> = [];
  rows.push(['backend', state.backend ? state.backend.backend : '–']);
  if (state.image) rows.push(['image', `${state.image.data.width} × ${state.image.data.height}`]);
  if (t.download) rows.push([`weights ${fmtBytes(t.download.bytes)}${t.download.cache ? ' (browser cache)' : ''}`, fmtMs(t.download.ms)]);
  if (t.build !== null) rows.push(['model build', fmtMs(t.build)]);
  if (t.encode.length) {
    rows.push(['image encoder (first run, with shader compilation)', fmtMs(t.encode[0])]);
    if (t.encode.length > 1) rows.push(['image encoder (last run)', fmtMs(t.encode.at(-1))]);
  }
  if (t.longestFrameDuringEncode !== null) rows.push(['longest UI frame while encoding', fmtMs(t.longestFrameDuringEncode)]);
  if (t.embeddingLoad !== null) rows.push(['embedding file → ready', fmtMs(t.embeddingLoad)]);
  if (t.warmup !== null) rows.push(['decoder warm-up (shader compilation)', fmtMs(t.warmup)]);
  if (t.decode.length) rows.push([`decoder per prompt (median of ${t.decode.length})`, `${fmtMs(median(t.decode))}`]);
  if (t.decode.length) rows.push(['decoder, last prompt', fmtMs(t.decode.at(-1))]);
  if (t.latency.length) rows.push(['prompt → mask on screen (median)', fmtMs(median(t.latency))]);
  if (t.everything) rows.push([`segment everything (${t.everything.count} masks)`, fmtMs(t.everything.ms)]);
  ui.timings.innerHTML = rows.map(([k, v]) => `<tr><td>${k}</td><td>${v}</td></tr>`).join('');
}

// ---------------------------------------------------------------- layout and drawing

function layout(): void {
  const img = state.image;
  ui.stage.hidden = !img;
  ui.empty.hidden = !!img;
  if (!img) return;
  const { width, height } = img.data;
  const wrap = ui.stageWrap.getBoundingClientRect();
  const availW = Math.max(100, wrap.width - 36);
  const availH = Math.max(100, wrap.height - 62);
  const scale = Math.min(availW / width, availH / height, 4);
  ui.stage.style.width = `${Math.round(width * scale)}px`;
  ui.stage.style.height = `${Math.round(height * scale)}px`;
  drawPrompts();
}

/** Image pixels per CSS pixel on screen. */
function imagePerScreen(): number {
  const img = state.image;
  if (!img) return 1;
  return img.data.width / Math.max(1, ui.stage.getBoundingClientRect().width);
}

function toImage(ev: { clientX: number; clientY: number }): { x: number; y: number } {
  const r = ui.stage.getBoundingClientRect();
  const img = state.image!.data;
  return { x: ((ev.clientX - r.left) / r.width) * img.width, y: ((ev.clientY - r.top) / r.height) * img.height };
}

function selectedMask(): Mask | null {
  if (state.everything) {
    const i = state.everything.selected;
    return i === null ? null : state.everything.masks[i].mask;
  }
  return state.result ? state.result.masks[state.result.selected] : null;
}

function drawMasks(): void {
  const img = state.image;
  if (!img) return;
  const ctx = ui.maskLayer.getContext('2d');
  if (!ctx) return;
  const { width, height } = img.data;
  const target = ctx.createImageData(width, height);
  const layers: MaskLayer[] = [];
  const edge = Math.max(1, imagePerScreen() * 1.5);
  if (state.everything) {
    const ev = state.everything;
    state.painted = { kind: 'everything', count: ev.masks.length, seq: ++paintSeq };
    ev.masks.forEach((m, i) => {
      const focus = i === ev.selected || i === ev.hovered;
      layers.push({ mask: m.mask, color: maskColor(i), alpha: focus ? 0.7 : 0.5, outline: focus ? [255, 255, 255] : undefined });
    });
    // Large masks first, so small ones stay visible on top; the focused one last.
    layers.sort((a, b) => maskArea(b.mask) - maskArea(a.mask));
    const focus = ev.selected ?? ev.hovered;
    if (focus !== null) {
      const f = layers.findIndex((l) => l.mask === ev.masks[focus].mask);
      layers.push(...layers.splice(f, 1));
    }
  } else if (state.preview && state.preview.version === state.version && state.hover) {
    const pv = state.preview;
    layers.push({ mask: pv.mask, color: SAM_BLUE, alpha: 0.38, outline: [200, 230, 255], outlineAlpha: 0.85 });
    state.painted = { kind: 'preview', points: pv.points, box: pv.box, candidate: -1, seq: ++paintSeq };
  } else if (state.result) {
    layers.push({ mask: state.result.masks[state.result.selected], color: SAM_BLUE, alpha: 0.5, outline: [255, 255, 255] });
    state.painted = { kind: 'result', points: state.result.points, box: state.result.box, candidate: state.result.selected, seq: ++paintSeq };
  } else {
    state.painted = { kind: 'none' };
  }
  paintMasks(target, layers, edge);
  ctx.putImageData(target, 0, 0);
}

const areaCache = new WeakMap<Mask, number>();
function maskArea(m: Mask): number {
  let a = areaCache.get(m);
  if (a === undefined) {
    a = 0;
    for (let i = 0; i < m.data.length; i++) a += m.data[i];
    areaCache.set(m, a);
  }
  return a;
}

const SVG = 'http://www.w3.org/2000/svg';
function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

function drawPrompts(): void {
  const img = state.image;
  const layer = ui.promptLayer;
  layer.replaceChildren();
  if (!img) return;
  const { width, height } = img.data;
  layer.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const s = imagePerScreen();
  const boxes: Box[] = [];
  if (state.box && !state.everything) boxes.push(state.box);
  const d = state.drag;
  if (d?.dragging) boxes.push([Math.min(d.x0, d.x1), Math.min(d.y0, d.y1), Math.max(d.x0, d.x1), Math.max(d.y0, d.y1)]);
  boxes.forEach((b, i) => {
    const live = i === boxes.length - 1 && !!d?.dragging;
    layer.append(
      svg('rect', {
        x: b[0],
        y: b[1],
        width: b[2] - b[0],
        height: b[3] - b[1],
        fill: 'none',
        stroke: live ? '#7dd3fc' : '#38bdf8',
        'stroke-width': 2,
        'stroke-dasharray': live ? '6 4' : 'none',
        'vector-effect': 'non-scaling-stroke',
      }),
    );
  });
  const dot = (p: PromptPoint, ghost: boolean) => {
    layer.append(
      svg('circle', {
        cx: p.x,
        cy: p.y,
        r: (ghost ? 5 : 7) * s,
        fill: p.label === 1 ? '#22c55e' : '#ef4444',
        'fill-opacity': ghost ? 0.55 : 1,
        stroke: 'white',
        'stroke-width': ghost ? 1.5 : 2,
        'vector-effect': 'non-scaling-stroke',
      }),
    );
  };
  if (state.everything) return; // the prompt comes back with Esc
  state.points.forEach((p) => dot(p, false));
  if (state.hover?.cursor && !d?.dragging) dot(state.hover.cursor, true);
}

function renderCandidates(): void {
  const r = state.result;
  ui.candidates.replaceChildren();
  const img = state.image;
  if (!r || !img || state.everything) {
    const p = document.createElement('p');
    p.className = 'hint';
    p.textContent = state.everything
      ? 'Segment-everything view: click a mask on the image to select it.'
      : 'Click the image: the three candidate masks appear here with their predicted IoU.';
    ui.candidates.append(p);
    return;
  }
  const tw = 120;
  const th = Math.max(1, Math.round((tw * img.data.height) / img.data.width));
  r.masks.forEach((m, i) => {
    const card = document.createElement('div');
    card.className = `candidate${i === r.selected ? ' on' : ''}`;
    card.title = `mask ${i + 1}: predicted IoU ${r.scores[i].toFixed(3)} (key ${i + 1})`;
    const c = document.createElement('canvas');
    c.width = tw;
    c.height = th;
    drawThumbnail(c, ui.imageLayer, { mask: m, color: SAM_BLUE, alpha: 0.55, outline: [255, 255, 255] }, tw, th);
    const label = document.createElement('div');
    label.innerHTML = `${i + 1} · <b>${r.scores[i].toFixed(3)}</b>`;
    card.append(c, label);
    card.addEventListener('click', () => selectCandidate(i));
    ui.candidates.append(card);
  });
}

function selectCandidate(i: number): void {
  if (!state.result || i < 0 || i >= state.result.masks.length) return;
  state.result.selected = i;
  state.result.pinned = true;
  drawMasks();
  renderCandidates();
  exposeResult();
}

function redraw(): void {
  drawMasks();
  drawPrompts();
  renderCandidates();
  updateControls();
  renderTimings();
  ui.banner.hidden = !state.everything;
  if (state.everything) {
    const e = state.everything;
    const sel = e.selected !== null ? e.masks[e.selected] : null;
    ui.banner.textContent = sel
      ? `mask ${e.selected! + 1} of ${e.masks.length} · area ${sel.area} px · IoU ${sel.predictedIou.toFixed(3)} · stability ${sel.stabilityScore.toFixed(3)}`
      : `${e.masks.length} masks · click one to select it for export · Esc returns to prompting`;
  }
}

// ---------------------------------------------------------------- decoding

function argmax(a: number[]): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

async function decode(points: PromptPoint[], box: Box | null): Promise<DecodeResult> {
  const r = await worker.call({ type: 'decode', points, box });
  state.timings.decode.push(r.decodeMs);
  if (state.timings.decode.length > 500) state.timings.decode.shift();
  return r;
}

/** Decodes the committed prompt and shows the result. */
async function commit(): Promise<void> {
  const version = ++state.version;
  state.preview = null;
  if (!state.points.length && !state.box) {
    state.result = null;
    redraw();
    exposeResult();
    return;
  }
  const pinned = state.result?.pinned ? state.result.selected : null;
  const points = state.points.map((p) => ({ ...p }));
  const box = state.box ? ([...state.box] as Box) : null;
  const t0 = performance.now();
  try {
    const r = await decode(points, box);
    if (version !== state.version) return;
    state.result = { points, box, masks: r.masks, scores: r.scores, selected: pinned ?? argmax(r.scores), pinned: pinned !== null, version };
    redraw();
    state.timings.latency.push(performance.now() - t0);
    state.committed++;
    exposeResult();
    renderTimings();
  } catch (e) {
    toast((e as Error).message, true);
  }
}

let previewInFlight = false;
let previewPending = false;
/** Live preview of the prompt plus the hover point (or the box being dragged); one request at a time, latest wins. */
async function schedulePreview(): Promise<void> {
  if (previewInFlight) {
    previewPending = true;
    return;
  }
  const h = state.hover;
  if (!h || !state.embeddingReady || state.everything) return;
  previewInFlight = true;
  const version = state.version;
  const t0 = performance.now();
  try {
    const r = await decode(h.points, h.box);
    if (state.hover === h && version === state.version) {
      state.preview = { mask: r.masks[argmax(r.scores)], version, points: h.points, box: h.box };
      drawMasks();
      state.timings.latency.push(performance.now() - t0);
      if (state.timings.latency.length > 500) state.timings.latency.shift();
      renderTimings();
    }
  } catch {
    // a failed preview is not worth a message; the commit will report
  } finally {
    previewInFlight = false;
    if (previewPending) {
      previewPending = false;
      void schedulePreview();
    }
  }
}

function pushHistory(): void {
  state.history.push({ points: state.points.map((p) => ({ ...p })), box: state.box ? ([...state.box] as Box) : null });
  if (state.history.length > 200) state.history.shift();
}

function undo(): void {
  const prev = state.history.pop();
  if (!prev) return;
  state.points = prev.points;
  state.box = prev.box;
  if (state.result) state.result.pinned = false;
  void commit();
}

function clearPrompts(): void {
  if (state.everything) {
    state.everything = null;
    redraw();
    return;
  }
  if (!state.points.length && !state.box) return;
  pushHistory();
  state.points = [];
  state.box = null;
  state.result = null;
  void commit();
}

// ---------------------------------------------------------------- pointer interaction

ui.stage.addEventListener('contextmenu', (ev) => ev.preventDefault());

ui.stage.addEventListener('pointerdown', (ev) => {
  if (state.phase !== 'ready' || (ev.button !== 0 && ev.button !== 2)) return;
  const p = toImage(ev);
  ui.stage.setPointerCapture(ev.pointerId);
  state.drag = { startX: ev.clientX, startY: ev.clientY, x0: p.x, y0: p.y, x1: p.x, y1: p.y, dragging: false, shift: ev.shiftKey || ev.button === 2 };
});

ui.stage.addEventListener('pointermove', (ev) => {
  if (!state.image || state.phase !== 'ready') return;
  const p = toImage(ev);
  const d = state.drag;
  if (d) {
    d.x1 = p.x;
    d.y1 = p.y;
    if (!d.dragging && Math.hypot(ev.clientX - d.startX, ev.clientY - d.startY) > 6 && !state.everything) d.dragging = true;
    if (d.dragging) {
      const box = dragBox(d);
      state.hover = { points: state.points, box, cursor: null };
      drawPrompts();
      if (ui.hoverToggle.checked) void schedulePreview();
      return;
    }
  }
  if (state.everything) {
    const hit = maskAt(p.x, p.y);
    if (hit !== state.everything.hovered) {
      state.everything.hovered = hit;
      drawMasks();
    }
    return;
  }
  const label: 0 | 1 = ev.shiftKey || state.mode === 'bg' ? 0 : 1;
  const cursor: PromptPoint = { x: p.x, y: p.y, label };
  state.hover = { points: [...state.points, cursor], box: state.box, cursor };
  drawPrompts();
  if (ui.hoverToggle.checked) void schedulePreview();
});

function dragBox(d: NonNullable<typeof state.drag>): Box {
  const img = state.image!.data;
  const cx = (v: number) => Math.min(img.width, Math.max(0, v));
  const cy = (v: number) => Math.min(img.height, Math.max(0, v));
  return [cx(Math.min(d.x0, d.x1)), cy(Math.min(d.y0, d.y1)), cx(Math.max(d.x0, d.x1)), cy(Math.max(d.y0, d.y1))];
}

ui.stage.addEventListener('pointerup', (ev) => {
  const d = state.drag;
  state.drag = null;
  if (!d || state.phase !== 'ready') return;
  if (d.dragging) {
    pushHistory();
    state.box = dragBox(d);
    state.hover = null;
    if (state.result) state.result.pinned = false;
    void commit();
    return;
  }
  if (state.everything) {
    state.everything.selected = maskAt(d.x0, d.y0);
    redraw();
    return;
  }
  // The committed mask shows until the pointer moves again.
  state.hover = null;
  pushHistory();
  state.points.push({ x: d.x0, y: d.y0, label: d.shift || state.mode === 'bg' ? 0 : 1 });
  if (state.result) state.result.pinned = false;
  void commit();
});

ui.stage.addEventListener('pointerleave', () => {
  if (state.drag) return;
  state.hover = null;
  state.preview = null;
  if (state.everything) state.everything.hovered = null;
  drawMasks();
  drawPrompts();
});

function maskAt(x: number, y: number): number | null {
  const e = state.everything;
  if (!e) return null;
  const xi = Math.floor(x);
  const yi = Math.floor(y);
  let best: number | null = null;
  e.masks.forEach((m, i) => {
    if (xi < 0 || yi < 0 || xi >= m.mask.width || yi >= m.mask.height || !m.mask.data[yi * m.mask.width + xi]) return;
    if (best === null || m.area < e.masks[best].area) best = i;
  });
  return best;
}

window.addEventListener('keydown', (ev) => {
  const target = ev.target as HTMLElement;
  if (target && (target.tagName === 'INPUT' || target.tagName === 'SELECT')) return;
  if ((ev.ctrlKey || ev.metaKey) && ev.key.toLowerCase() === 'z') {
    ev.preventDefault();
    undo();
  } else if (ev.key === 'Escape') {
    clearPrompts();
  } else if (['1', '2', '3'].includes(ev.key)) {
    selectCandidate(Number(ev.key) - 1);
  } else if (ev.key === 'f' || ev.key === 'b') {
    setMode(ev.key === 'f' ? 'fg' : 'bg');
  }
});

function setMode(mode: 'fg' | 'bg'): void {
  state.mode = mode;
  for (const b of document.querySelectorAll<HTMLButtonElement>('.segmented button')) {
    const on = b.dataset.mode === mode;
    b.classList.toggle('on', on);
    b.setAttribute('aria-checked', String(on));
  }
}
for (const b of document.querySelectorAll<HTMLButtonElement>('.segmented button')) {
  b.addEventListener('click', () => setMode(b.dataset.mode as 'fg' | 'bg'));
}

ui.undo.addEventListener('click', undo);
ui.clear.addEventListener('click', clearPrompts);
ui.hoverToggle.addEventListener('change', () => {
  if (!ui.hoverToggle.checked) {
    state.preview = null;
    drawMasks();
  }
});

// ---------------------------------------------------------------- images

async function decodeBlob(blob: Blob): Promise<ImageBitmap> {
  // No colour management and no premultiplication: the page sees the file's own RGB values,
  // the same bytes the library's Node decoder reads.
  const opts: ImageBitmapOptions = { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image' };
  const probe = await createImageBitmap(blob, opts);
  const long = Math.max(probe.width, probe.height);
  if (long <= MAX_SIDE) return probe;
  const scale = MAX_SIDE / long;
  probe.close();
  toast(`large image scaled to ${MAX_SIDE} px on its long side for interactive use`);
  return createImageBitmap(blob, { ...opts, resizeWidth: Math.round(probe.width * scale), resizeHeight: Math.round(probe.height * scale), resizeQuality: 'high' });
}

function setCanvasImage(bitmapOrData: ImageBitmap | ImageData): ImageData {
  const { width, height } = bitmapOrData;
  ui.imageLayer.width = ui.maskLayer.width = width;
  ui.imageLayer.height = ui.maskLayer.height = height;
  const ctx = ui.imageLayer.getContext('2d', { willReadFrequently: true })!;
  if (bitmapOrData instanceof ImageData) ctx.putImageData(bitmapOrData, 0, 0);
  else ctx.drawImage(bitmapOrData, 0, 0);
  return ctx.getImageData(0, 0, width, height);
}

function resetPrompts(): void {
  state.points = [];
  state.box = null;
  state.history = [];
  state.result = null;
  state.preview = null;
  state.hover = null;
  state.everything = null;
  state.version++;
}

async function openImage(blob: Blob, name: string): Promise<void> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await decodeBlob(blob);
  } catch {
    toast(`${name}: cannot decode this file as an image`, true);
    return;
  }
  const data = setCanvasImage(bitmap);
  bitmap.close();
  resetPrompts();
  const waiting = state.awaitingImage;
  state.image = { data, name, placeholder: false };
  layout();
  redraw();
  if (waiting && waiting.width === data.width && waiting.height === data.height) {
    // The embedding loaded from a file belongs to an image of this size: no encoding.
    state.awaitingImage = null;
    toast(`${name}: using the loaded embedding`);
    setPhase('ready');
    exposeResult();
    return;
  }
  state.awaitingImage = null;
  await encodeCurrent();
}

async function openImageUrl(url: string): Promise<void> {
  try {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    await openImage(await res.blob(), decodeURIComponent(url.split('/').pop() || 'image'));
  } catch (e) {
    toast(`cannot open ${url}: ${(e as Error).message}`, true);
  }
}

async function encodeCurrent(): Promise<void> {
  const img = state.image;
  if (!img || img.placeholder) return;
  state.embeddingReady = false;
  if (!state.model) {
    setPhase(state.phase === 'loading-model' ? 'loading-model' : 'no-image');
    return;
  }
  setPhase('encoding');
  busy(`Computing the image embedding (${state.backend?.backend ?? ''})…`);
  try {
    // Structured clone: the page keeps its own pixels (for cut-outs).
    const r = await worker.call({ type: 'setImage', image: img.data });
    if (state.image !== img) return;
    state.timings.encode.push(r.encodeMs);
    state.timings.warmup ??= r.warmupMs; // the first one compiles the decoder's shaders
    state.timings.longestFrameDuringEncode = longestFrame();
    state.embeddingReady = true;
    setPhase('ready');
  } catch (e) {
    toast(`image encoder failed: ${(e as Error).message}`, true);
    setPhase('error');
  } finally {
    busy(null);
    renderTimings();
    exposeResult();
  }
}

ui.imageFile.addEventListener('change', () => {
  const f = ui.imageFile.files?.[0];
  if (f) void openImage(f, f.name);
  ui.imageFile.value = '';
});

ui.sampleSelect.addEventListener('change', () => {
  const url = ui.sampleSelect.value;
  ui.sampleSelect.value = '';
  if (url) void openImageUrl(url);
});

let dragDepth = 0;
window.addEventListener('dragenter', (ev) => {
  if (!ev.dataTransfer?.types.includes('Files')) return;
  dragDepth++;
  ui.dropOverlay.hidden = false;
});
window.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (!dragDepth) ui.dropOverlay.hidden = true;
});
window.addEventListener('dragover', (ev) => ev.preventDefault());
window.addEventListener('drop', (ev) => {
  ev.preventDefault();
  dragDepth = 0;
  ui.dropOverlay.hidden = true;
  const f = ev.dataTransfer?.files?.[0];
  if (!f) return;
  if (/\.samemb$/i.test(f.name)) void loadEmbeddingBytes(f.arrayBuffer(), f.name);
  else void openImage(f, f.name);
});

new ResizeObserver(() => {
  layout();
  drawMasks();
}).observe(ui.stageWrap);

// ---------------------------------------------------------------- embeddings

async function loadEmbeddingBytes(bytes: Promise<ArrayBuffer>, name: string): Promise<void> {
  if (!state.model) return toast('load a model first', true);
  try {
    const buf = await bytes;
    const t0 = performance.now();
    const r = await worker.call({ type: 'setEmbedding', bytes: buf }, [buf]);
    state.timings.embeddingLoad = performance.now() - t0;
    state.embeddingReady = true;
    const img = state.image;
    resetPrompts();
    if (img && !img.placeholder && img.data.width === r.width && img.data.height === r.height) {
      toast(`${name}: embedding set for the image on screen`);
    } else {
      // Show a placeholder of the right size until the matching image is opened.
      const ph = new ImageData(r.width, r.height);
      const px = new Uint32Array(ph.data.buffer);
      for (let y = 0; y < r.height; y++) for (let x = 0; x < r.width; x++) px[y * r.width + x] = ((x >> 4) + (y >> 4)) % 2 ? 0xff2a2623 : 0xff332e2b;
      setCanvasImage(ph);
      state.image = { data: ph, name, placeholder: true };
      state.awaitingImage = { width: r.width, height: r.height };
      toast(`${name}: embedding of a ${r.width}×${r.height} image loaded; prompt away, or open that image to see it`);
      layout();
    }
    setPhase('ready');
    redraw();
    exposeResult();
  } catch (e) {
    toast(`${name}: ${(e as Error).message}`, true);
  }
}

ui.embeddingFile.addEventListener('change', () => {
  const f = ui.embeddingFile.files?.[0];
  if (f) void loadEmbeddingBytes(f.arrayBuffer(), f.name);
  ui.embeddingFile.value = '';
});

async function fetchBytes(url: string): Promise<ArrayBuffer> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot fetch ${url}: HTTP ${res.status}`);
  return res.arrayBuffer();
}

ui.embeddingLoad.addEventListener('click', () => {
  const url = ui.embeddingUrl.value.trim();
  if (url) void loadEmbeddingBytes(fetchBytes(url), url.split('/').pop() || 'embedding');
});

ui.saveEmbedding.addEventListener('click', async () => {
  try {
    const { bytes } = await worker.call({ type: 'getEmbedding' });
    download(new Blob([bytes], { type: 'application/octet-stream' }), `${baseName()}.samemb`);
  } catch (e) {
    toast((e as Error).message, true);
  }
});

// ---------------------------------------------------------------- export

function baseName(): string {
  return (state.image?.name ?? 'image').replace(/\.[^.]*$/, '') || 'image';
}

function download(blob: Blob, name: string): void {
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

async function pngBlob(img: RgbaImage): Promise<Blob> {
  const canvas = new OffscreenCanvas(img.width, img.height);
  const ctx = canvas.getContext('2d')!;
  ctx.putImageData(new ImageData(new Uint8ClampedArray(img.data), img.width, img.height), 0, 0);
  return canvas.convertToBlob({ type: 'image/png' });
}

ui.exportMask.addEventListener('click', async () => {
  const m = selectedMask();
  if (!m) return;
  download(await pngBlob(maskToImage(m)), `${baseName()}-mask.png`);
});

ui.exportCutout.addEventListener('click', async () => {
  const m = selectedMask();
  const img = state.image;
  if (!m || !img || img.placeholder) return;
  const out = cutout({ width: img.data.width, height: img.data.height, data: img.data.data, channels: 4 }, m, { crop: true });
  if (!out.width) return toast('the mask is empty: nothing to cut out', true);
  download(await pngBlob(out), `${baseName()}-cutout.png`);
});

// ---------------------------------------------------------------- segment everything

ui.everything.addEventListener('click', async () => {
  const img = state.image;
  if (!img || img.placeholder || state.phase !== 'ready') return;
  const pps = Math.max(4, Math.min(64, Math.round(Number(ui.pps.value) || 16)));
  const num = (el: HTMLInputElement, fallback: number) => {
    const v = Number(el.value);
    return Number.isFinite(v) && v >= 0 && v <= 1 ? v : fallback;
  };
  const predIouThresh = num(ui.iouThresh, 0.88);
  const stabilityScoreThresh = num(ui.stabilityThresh, 0.95);
  setPhase('busy');
  busy(`Segmenting everything (${pps}×${pps} points)…`);
  ui.everythingNote.textContent = '';
  showProgress({ phase: 'everything', done: 0, total: 1, text: 'encoding the image' });
  try {
    const r = await worker.call({ type: 'everything', image: img.data, options: { pointsPerSide: pps, predIouThresh, stabilityScoreThresh } }, [], (p) =>
      showProgress(p),
    );
    if (state.image !== img) return;
    state.everything = { masks: r.masks, selected: null, hovered: null };
    state.hover = null;
    state.timings.everything = { ms: r.ms, count: r.masks.length };
    ui.everythingNote.textContent = r.masks.length ? '' : 'no mask passed the quality filters';
  } catch (e) {
    ui.everythingNote.textContent = (e as Error).message;
    ui.everythingNote.className = 'note error';
  } finally {
    showProgress(null);
    busy(null);
    setPhase('ready');
    redraw();
  }
});

// ---------------------------------------------------------------- models

async function loadModel(url: string, label: string): Promise<void> {
  setPhase('loading-model');
  state.model = null;
  state.embeddingReady = false;
  ui.modelBadge.textContent = `loading ${label}…`;
  ui.modelBadge.className = 'badge';
  ui.modelNote.className = 'note';
  ui.modelNote.textContent = '';
  showProgress({ phase: 'download', done: 0, total: 1, text: 'model.json' });
  try {
    const info = await worker.call({ type: 'loadModel', url }, [], showProgress);
    state.model = info;
    state.timings.download = { ms: info.downloadMs, bytes: info.bytes, cache: info.fromCache };
    state.timings.build = info.buildMs;
    state.timings.encode = [];
    state.timings.warmup = null;
    // Thresholds for "segment everything": the model's own suggestion (test models), else SAM's defaults.
    ui.iouThresh.value = String(info.amgDefaults?.predIouThresh ?? 0.88);
    ui.stabilityThresh.value = String(info.amgDefaults?.stabilityScoreThresh ?? 0.95);
    ui.modelBadge.textContent = info.test ? `RANDOM TEST MODEL · ${label.split(':')[0]}` : `${info.modelType ?? 'custom'} · ${(info.params / 1e6).toFixed(1)}M params`;
    ui.modelBadge.className = info.test ? 'badge test' : 'badge ok';
    if (info.test) {
      ui.modelNote.className = 'note test';
      ui.modelNote.innerHTML =
        `<b>Random test model</b> (${label.split(':')[0]}): seeded random weights, not a trained SAM, so its masks are blobs around your prompts. ` +
        'It shows the whole pipeline working without a download.' +
        (state.catalog.hint ? '<br>For real masks: <code>npx sam-tfjs download vit_b</code>, then reload.' : '');
    } else {
      ui.modelNote.textContent = `${info.imgSize}px encoder · ${fmtBytes(info.bytes)}${info.fromCache ? ' from the browser cache' : ''}`;
    }
  } catch (e) {
    ui.modelBadge.textContent = 'no model';
    ui.modelNote.className = 'note error';
    ui.modelNote.textContent = `${(e as Error).message}${state.catalog.hint ? ` — ${state.catalog.hint}` : ''}`;
    setPhase('error');
    return;
  } finally {
    showProgress(null);
    renderTimings();
  }
  setPhase(state.image ? 'ready' : 'no-image');
  if (state.image && !state.image.placeholder) {
    resetPrompts();
    redraw();
    await encodeCurrent();
  } else if (state.image?.placeholder) {
    // The embedding belonged to the previous model.
    state.image = null;
    state.awaitingImage = null;
    layout();
    setPhase('no-image');
  }
}

ui.modelSelect.addEventListener('change', () => {
  const m = state.catalog.models.find((x) => x.url === ui.modelSelect.value);
  if (m) void loadModel(m.url, m.label);
});

ui.modelLoad.addEventListener('click', () => {
  const url = ui.modelUrl.value.trim();
  if (url) void loadModel(url, url);
});

// ---------------------------------------------------------------- for tests and the curious

interface DemoApi {
  readonly state: string;
  readonly backend: string | null;
  readonly backendDetail: string | null;
  readonly model: ModelInfo | null;
  readonly image: { width: number; height: number; placeholder: boolean } | null;
  readonly embeddingReady: boolean;
  readonly committed: number;
  readonly result: { version: number; points: PromptPoint[]; box: Box | null; scores: number[]; selected: number } | null;
  readonly timings: typeof state.timings;
  /** What the mask layer shows: the committed result, a hover preview (candidate -1: the best), or every generated mask. */
  readonly painted: Painted;
  /** The mask layer read back from its canvas: 1 where something is painted, base64 of W*H bytes. */
  maskLayerBits(): string;
  /** Client (CSS) coordinates of an image pixel position. */
  imageToClient(x: number, y: number): { x: number; y: number };
}

function exposeResult(): void {
  document.body.dataset.committed = String(state.committed);
}

const api: DemoApi = {
  get state() {
    return state.phase;
  },
  get backend() {
    return state.backend?.backend ?? null;
  },
  get backendDetail() {
    return state.backend?.detail ?? null;
  },
  get model() {
    return state.model;
  },
  get image() {
    return state.image ? { width: state.image.data.width, height: state.image.data.height, placeholder: state.image.placeholder } : null;
  },
  get embeddingReady() {
    return state.embeddingReady;
  },
  get committed() {
    return state.committed;
  },
  get result() {
    const r = state.result;
    return r ? { version: r.version, points: r.points.map((p) => ({ ...p })), box: r.box, scores: [...r.scores], selected: r.selected } : null;
  },
  get timings() {
    return state.timings;
  },
  get painted() {
    return JSON.parse(JSON.stringify(state.painted)) as Painted;
  },
  maskLayerBits() {
    const { width, height } = ui.maskLayer;
    const px = ui.maskLayer.getContext('2d')!.getImageData(0, 0, width, height).data;
    let s = '';
    const chunk: number[] = [];
    for (let i = 0; i < width * height; i++) {
      chunk.push(px[4 * i + 3] > 0 ? 1 : 0);
      if (chunk.length === 8192) {
        s += String.fromCharCode(...chunk);
        chunk.length = 0;
      }
    }
    s += String.fromCharCode(...chunk);
    return btoa(s);
  },
  imageToClient(x, y) {
    const r = ui.stage.getBoundingClientRect();
    const img = state.image!.data;
    return { x: r.left + (x / img.width) * r.width, y: r.top + (y / img.height) * r.height };
  },
};
(window as unknown as { samDemo: DemoApi }).samDemo = api;

// ---------------------------------------------------------------- start

/** 'WebGL 2 · ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device ...)) · float32' -> 'WebGL 2 · SwiftShader · float32'. */
function shortDetail(detail: string): string {
  return detail
    .split(' · ')
    .map((part) => {
      if (/swiftshader/i.test(part)) return 'SwiftShader';
      const angle = /^ANGLE \(([^,]+), ([^,(]+)/.exec(part);
      return angle ? angle[2].trim() : part;
    })
    .join(' · ');
}

/** `?tfflags=WEBGL_PACK:false,WEBGL_USE_SHAPES_UNIFORMS:true` -> tfjs environment flags. */
function parseFlags(text: string | null): Record<string, boolean | number> {
  const out: Record<string, boolean | number> = {};
  for (const part of (text ?? '').split(',')) {
    const [k, v] = part.split(':').map((x) => x.trim());
    if (!k || v === undefined) continue;
    out[k] = v === 'true' ? true : v === 'false' ? false : Number(v);
  }
  return out;
}

async function start(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const backend = (params.get('backend') ?? 'auto') as BackendRequest;
  try {
    const res = await fetch('api/models', { cache: 'no-store' });
    if (res.ok) state.catalog = await res.json();
  } catch {
    // Served without the demo server: only URLs typed in the field.
  }
  for (const m of state.catalog.models) {
    const o = document.createElement('option');
    o.value = m.url;
    o.textContent = `${m.label}${m.bytes ? ` · ${fmtBytes(m.bytes)}` : ''}`;
    ui.modelSelect.append(o);
  }
  for (const s of state.catalog.samples) {
    const o = document.createElement('option');
    o.value = s.url;
    o.textContent = s.label;
    ui.sampleSelect.append(o);
  }
  if (!state.catalog.models.length) {
    const o = document.createElement('option');
    o.textContent = 'no models found: enter a URL below';
    o.value = '';
    ui.modelSelect.append(o);
  }

  try {
    state.backend = await worker.call({
      type: 'init',
      backend: ['auto', 'webgpu', 'webgl', 'wasm', 'cpu'].includes(backend) ? backend : 'auto',
      flags: parseFlags(params.get('tfflags')),
    });
    ui.backendBadge.textContent = `${state.backend.backend} · ${shortDetail(state.backend.detail)}`;
    ui.backendBadge.className = 'badge ok';
    ui.backendBadge.title = [state.backend.detail, ...state.backend.skipped].join('\n');
    document.body.dataset.backend = state.backend.backend;
  } catch (e) {
    ui.backendBadge.textContent = 'no backend';
    toast((e as Error).message, true);
    setPhase('error');
    return;
  }
  renderTimings();

  const modelParam = params.get('model');
  const chosen = modelParam ? state.catalog.models.find((m) => m.url === modelParam) : state.catalog.models[0];
  const modelUrl = modelParam ?? chosen?.url;
  if (modelUrl) {
    if (chosen) ui.modelSelect.value = chosen.url;
    else ui.modelUrl.value = modelUrl;
    await loadModel(modelUrl, chosen?.label ?? modelUrl);
  } else {
    setPhase('error');
    ui.modelNote.className = 'note error';
    ui.modelNote.textContent = state.catalog.hint ?? 'No model: enter the URL of converted weights.';
  }

  const embeddingParam = params.get('embedding');
  if (embeddingParam && state.model) {
    ui.embeddingUrl.value = embeddingParam;
    await loadEmbeddingBytes(fetchBytes(embeddingParam), embeddingParam.split('/').pop() || 'embedding');
  }
  const imageParam = params.get('image') ?? (embeddingParam ? null : (chosen?.sample ?? state.catalog.samples[0]?.url ?? null));
  if (imageParam) await openImageUrl(imageParam);
  else if (state.phase !== 'error' && !state.image) setPhase('no-image');
}

void start();
