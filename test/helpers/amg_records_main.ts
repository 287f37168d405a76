/**
 * Runs the library's SamAutomaticMaskGenerator on images and prints its records as JSON, in a
 * process set up exactly like the CLI's (loadSam with the same backend and environment), so
 * the CLI tests compare the CLI's dataset with what the library returns for the same images.
 *
 *   node dist/test/helpers/amg_records_main.js <model.pth> <config.json> <backend> '<options JSON>' <image>...
 */
import { readFileSync } from 'node:fs';
import { loadSam } from '../../src/sam/load.js';
import { samConfigFromReferenceJson } from '../../src/sam/config.js';
import { SamAutomaticMaskGenerator } from '../../src/sam/automatic_mask_generator.js';

async function run(): Promise<void> {
  const [pth, config, backend, optionsJson, ...images] = process.argv.slice(2);
  const model = await loadSam({ weights: pth, config: samConfigFromReferenceJson(JSON.parse(readFileSync(config, 'utf8'))), backend });
  const generator = new SamAutomaticMaskGenerator(model, { ...JSON.parse(optionsJson), outputMode: 'coco_rle' });
  const out: Record<string, unknown> = {};
  for (const image of images) out[image] = await generator.generate(image);
  process.stdout.write(JSON.stringify(out));
  model.dispose();
}

run().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${(e as Error).stack}\n`);
    process.exit(1);
  },
);
