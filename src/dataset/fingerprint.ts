/**
 * A short identity of a loaded model, to pin in a run's manifest: the same weights give the
 * same fingerprint whether they were loaded from a .pth checkpoint or from converted float32
 * weights, on any backend; other weights (another checkpoint, float16 / uint8 conversions)
 * give another one.
 *
 * It hashes the config and, for every weight (in state-dict order), its name, shape and 16
 * values sampled at fixed positions (exact float32 bits): cheap even for ViT-H, and values
 * are read, not summed, so the backend's arithmetic does not enter.
 */
import * as tf from '@tensorflow/tfjs';
import { createHash } from 'node:crypto';
import type { SamModel } from '../sam/sam_model.js';

const SAMPLES = 16;

export async function modelFingerprint(model: SamModel): Promise<string> {
  const params = [...model.torchParams()];
  const counts: number[] = [];
  // One gather per weight, then one asynchronous read of them all (GPU backends in Node
  // cannot read synchronously).
  const samples = tf.tidy(() =>
    tf.concat(
      params.map(([, p]) => {
        const v = p.variable.read();
        const n = v.size;
        const idx = Array.from({ length: Math.min(SAMPLES, n) }, (_, i) => Math.floor((i * n) / Math.min(SAMPLES, n)));
        counts.push(idx.length);
        return tf.gather(tf.reshape(v, [-1]), tf.tensor1d(idx, 'int32'));
      }),
    ),
  );
  let values: Float32Array;
  try {
    values = (await samples.data()) as Float32Array;
  } finally {
    samples.dispose();
  }
  const h = createHash('sha256');
  h.update(JSON.stringify(model.config));
  let at = 0;
  params.forEach(([name, p], i) => {
    const k = counts[i];
    h.update(`${name}:${p.variable.shape.join('x')}:`);
    h.update(new Uint8Array(values.buffer, values.byteOffset + 4 * at, 4 * k));
    at += k;
  });
  return `sha256:${h.digest('hex').slice(0, 32)}`;
}
