/**
 * `npx tsx scripts/convert_quality.ts [fixtures dir]`: converts every fixture case's model.pth
 * to float32, float16 and uint8 weights (in a temporary folder, removed afterwards), runs each on
 * the case's image and every prompt of prompts.json (cpu backend), and prints, against float32:
 * the max abs difference of the image embedding and of the low-res logits, and the mask IoU
 * (min and mean over all masks). The table in converter/README.md comes from this script.
 */
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { convertCheckpoint } from '../converter/convert.js';
import type { WeightsDtype } from '../converter/quantize.js';
import { loadConvertedSam } from '../src/sam/tfjs_weights.js';
import { compareOutputs, disposeFixtureImage, identical, prepareFixtureImage, runOnFixture, type ModelOutputs } from './convert_quality_lib.js';
import { samFromCheckpoint } from '../src/sam/load_checkpoint.js';

const fixtures = resolve(process.argv[2] ?? '../shared/fixtures');
tf.env().set('IS_TEST', true);
await tf.setBackend('cpu');
const cases = readdirSync(fixtures, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(join(fixtures, d.name, 'config.json')))
  .map((d) => d.name)
  .sort();
const tmp = mkdtempSync(join(tmpdir(), 'sam-quality-'));
const rows: string[] = [];
try {
  for (const caseName of cases) {
    const dir = join(fixtures, caseName);
    const outputs = new Map<WeightsDtype, ModelOutputs>();
    const sizes = new Map<WeightsDtype, number>();
    let pthOutputs: ModelOutputs | undefined;
    for (const dtype of ['float32', 'float16', 'uint8'] as const) {
      const r = await convertCheckpoint({ input: join(dir, 'model.pth'), config: join(dir, 'config.json'), outDir: join(tmp, caseName, dtype), dtype });
      sizes.set(dtype, r.totalBytes);
      const model = await loadConvertedSam(r.outDir);
      const img = await prepareFixtureImage(dir, model.imgSize, model.config.pixelMean, model.config.pixelStd);
      try {
        outputs.set(dtype, await runOnFixture(model, img));
        if (dtype === 'float32') {
          const pth = await samFromCheckpoint(join(dir, 'model.pth'), { config: model.config });
          pthOutputs = await runOnFixture(pth, img);
          pth.dispose();
        }
      } finally {
        disposeFixtureImage(img);
        model.dispose();
      }
    }
    const f32 = outputs.get('float32')!;
    rows.push(`| ${caseName} | float32 | ${sizes.get('float32')} | ${identical(f32, pthOutputs!) ? 'identical to .pth' : 'DIFFERS from .pth'} | 0 | 0 | 1 | 1 |`);
    for (const dtype of ['float16', 'uint8'] as const) {
      const q = compareOutputs(f32, outputs.get(dtype)!);
      rows.push(
        `| ${caseName} | ${dtype} | ${sizes.get(dtype)} | ${q.masks} masks | ${q.maxAbsEmbedding.toExponential(2)} (of ${q.embeddingScale.toFixed(2)}) | ` +
          `${q.maxAbsLowRes.toExponential(2)} (of ${q.lowResScale.toFixed(1)}) | ${q.minMaskIoU.toFixed(4)} | ${q.meanMaskIoU.toFixed(4)} |`,
      );
    }
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
console.log('| case | dtype | weight bytes | vs float32 | max abs embedding diff (of max abs) | max abs low-res logit diff (of max abs) | min mask IoU | mean mask IoU |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
