/**
 * Where the image encoder's time goes: wall time per stage (patch embedding, each block,
 * neck) and tfjs kernel time aggregated by kernel name (tf.profile).
 */
import * as tf from '@tensorflow/tfjs';
import type { SamModel } from '../src/sam/sam_model.js';

export interface EncoderProfile {
  stagesMs: Record<string, number>;
  kernelsMs: Array<{ kernel: string; ms: number; calls: number }>;
}

async function timed<T extends tf.Tensor>(f: () => T): Promise<{ out: T; ms: number }> {
  const start = performance.now();
  const out = f();
  await out.data();
  return { out, ms: performance.now() - start };
}

export async function profileEncoder(model: SamModel, input: tf.Tensor4D): Promise<EncoderProfile> {
  const enc = model.imageEncoder;
  const stagesMs: Record<string, number> = {};
  let { out: y, ms } = await timed(() => enc.embedPatches(input));
  stagesMs.patch_embed = ms;
  for (let i = 0; i < enc.blocks.length; i++) {
    const block = enc.blocks[i];
    const r = await timed(() => block.apply(y) as tf.Tensor4D);
    y.dispose();
    y = r.out;
    const kind = block.config.windowSize > 0 ? 'windowed' : 'global';
    stagesMs[`block${String(i).padStart(2, '0')} (${kind})`] = r.ms;
  }
  const neckStart = performance.now();
  for (const layer of enc.neck) {
    const next = layer.apply(y) as tf.Tensor4D;
    y.dispose();
    y = next;
  }
  await y.data();
  stagesMs.neck = performance.now() - neckStart;
  y.dispose();

  const info = await tf.profile(() => {
    const e = model.embedImage(input);
    e.dataSync();
    e.dispose();
  });
  const byKernel = new Map<string, { ms: number; calls: number }>();
  for (const k of info.kernels) {
    const entry = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
    entry.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    entry.calls++;
    byKernel.set(k.name, entry);
  }
  const kernelsMs = [...byKernel]
    .map(([kernel, v]) => ({ kernel, ms: Math.round(v.ms), calls: v.calls }))
    .sort((a, b) => b.ms - a.ms);
  for (const k of Object.keys(stagesMs)) stagesMs[k] = Math.round(stagesMs[k]);
  return { stagesMs, kernelsMs };
}
