/**
 * The 'batched' attention layout (src/layers/image_encoder/attention_kernels.ts) on a batch
 * of 2 images against each image alone, global and windowed (padded), with all heads in one
 * pass (head-major: the images and windows share the batch axis of its transposes) and one
 * head a pass. Shared by test/attention_head_groups.test.ts (cpu, wasm) and the WebGPU-in-Node
 * child (webgpu_node_main.ts), whose SamRelPosSoftmax takes both images' rows at once.
 */
import * as tf from '@tensorflow/tfjs';
import { attentionBatched, headsPerPass } from '../../src/layers/image_encoder/attention_kernels.js';
import { randomAttention } from './random_attention.js';

export interface BatchOfImagesCheck {
  layout: 'global' | 'windows of 4 (padded)';
  headsPerPass: number;
  image: number;
  /** Largest |both - alone| of the image's tokens. */
  maxAbsDiff: number;
}

/** The checks' results on the active backend; leaves no tensor. Reads asynchronously (WebGPU). */
export async function batchOfImagesChecks(): Promise<BatchOfImagesCheck[]> {
  const [c, numHeads, h, w] = [24, 3, 10, 9];
  const out: BatchOfImagesCheck[] = [];
  for (const windowSize of [0, 4]) {
    const a = randomAttention({ images: 2, h, w, c, numHeads, windowSize, seed: 6 });
    const { x, kernel, bias, windows, n } = a;
    const inp = a.inputs;
    const headBytes = 2 * windows * n * n * 4; // a head's scores for both images
    const alone: Float32Array[] = [];
    for (const i of [0, 1]) {
      const xi = tf.slice(x, [i, 0, 0, 0], [1, h, w, c]);
      const t = attentionBatched(inp(xi), kernel, bias, numHeads * headBytes);
      alone.push((await t.data()) as Float32Array);
      tf.dispose([xi, t]);
    }
    for (const perPass of [numHeads, 1]) {
      if (headsPerPass(numHeads, 2 * windows, n, perPass * headBytes) !== perPass) throw new Error(`batchOfImagesChecks: a budget of ${perPass} head(s) did not give ${perPass} a pass`);
      const both = attentionBatched(inp(x), kernel, bias, perPass * headBytes); // tokens [2 h w, C], image by image
      if (both.shape[0] !== 2 * h * w || both.shape[1] !== c) throw new Error(`batchOfImagesChecks: output [${both.shape}], not [${2 * h * w}, ${c}]`);
      const values = (await both.data()) as Float32Array;
      both.dispose();
      for (const i of [0, 1]) {
        let d = 0;
        for (let j = 0; j < alone[i].length; j++) d = Math.max(d, Math.abs(values[i * alone[i].length + j] - alone[i][j]));
        out.push({ layout: windowSize ? 'windows of 4 (padded)' : 'global', headsPerPass: perPass, image: i, maxAbsDiff: d });
      }
    }
    a.dispose();
  }
  return out;
}

/**
 * What is wrong with the checks' results: each image within `bound` of itself alone (the same
 * products; a backend may sum a batch's in another order, a misplaced image or head is off by
 * O(1)), and every case reported.
 */
export function batchOfImagesProblems(results: BatchOfImagesCheck[], bound = 1e-5): string[] {
  const problems = results.filter((r) => !(r.maxAbsDiff <= bound)).map((r) => `${r.layout}, ${r.headsPerPass} head(s) a pass, image ${r.image}: differs from the image alone by ${r.maxAbsDiff}`);
  if (results.length !== 8) problems.push(`${results.length} results, not 8 (2 layouts x 2 groupings x 2 images)`);
  return problems;
}
