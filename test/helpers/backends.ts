/** The backends every parity test runs on in Node (those that install everywhere). */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

export const TEST_BACKENDS = ['cpu', 'wasm'] as const;

/** Activates a backend and fails loudly if it does not start. */
export async function useBackend(name: string): Promise<void> {
  const ok = await tf.setBackend(name);
  await tf.ready();
  if (!ok || tf.getBackend() !== name) throw new Error(`backend '${name}' did not start (active: ${tf.getBackend()})`);
}
