/** The backends every parity test runs on in Node (those that install everywhere). */
import * as tf from '@tensorflow/tfjs';
import { selectBackend } from '../../src/backend.js';

export const TEST_BACKENDS = ['cpu', 'wasm'] as const;

/**
 * Activates a backend the way the library does (so 'wasm' is the multithreaded build in
 * Node, as users get it) and fails loudly if it does not start.
 */
export async function useBackend(name: string): Promise<void> {
  tf.env().set('IS_TEST', true); // no "install tfjs-node" banner in test logs
  const choice = await selectBackend(name);
  if (choice.backend !== name || tf.getBackend() !== name) throw new Error(`backend '${name}' did not start (active: ${tf.getBackend()})`);
}
