/**
 * The README's example, runnable without downloading weights: it uses the small random test
 * model of the fixtures (../shared/fixtures, or $SAM_FIXTURES) instead of weights/vit_b.
 *
 *   npx tsx examples/quickstart.ts [output dir]
 *
 * With real weights, replace the loadSam call by `loadSam({ weights: 'weights/vit_b' })`.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  cutout,
  decodeImageEmbedding,
  encodeImageEmbedding,
  encodePng,
  loadSam,
  maskToImage,
  overlay,
  samConfigFromReferenceJson,
  SamAutomaticMaskGenerator,
  SamPredictor,
  toRgbImage,
} from '../src/index.js';

// Run from the repository root: the fixtures sit beside it.
const fixtures = resolve(process.env.SAM_FIXTURES ?? join('..', 'shared', 'fixtures'));
const caseName = readdirSync(fixtures).filter((d) => existsSync(join(fixtures, d, 'config.json'))).sort()[0];
const out = resolve(process.argv[2] ?? join('examples', 'out'));
mkdirSync(out, { recursive: true });

const config = samConfigFromReferenceJson(JSON.parse(readFileSync(join(fixtures, caseName, 'config.json'), 'utf8')));
const model = await loadSam({ weights: join(fixtures, caseName, 'model.pth'), config });
console.log(`backend: ${model.info.backend?.backend} (${model.info.backend?.provider})`);

const imagePath = join(fixtures, caseName, 'image.png');
const predictor = new SamPredictor(model);
await predictor.setImage(imagePath);
const { masks, scores, lowResLogits } = await predictor.predict({ pointCoords: [[235, 120]], pointLabels: [1], multimaskOutput: true });
const best = scores.indexOf(Math.max(...scores));
console.log(`scores: ${scores.map((s) => s.toFixed(3)).join(', ')} -> mask ${best}`);
writeFileSync(join(out, 'mask.png'), await encodePng(maskToImage(masks[best])));

const image = await toRgbImage(imagePath);
writeFileSync(join(out, 'cutout.png'), await encodePng(cutout(image, masks[best], { crop: true })));
writeFileSync(join(out, 'overlay.png'), await encodePng(overlay(image, masks[best])));

const refined = await predictor.predict({ box: [60, 60, 380, 200], maskInput: lowResLogits[best], multimaskOutput: false });
const batch = await predictor.predictBatch({ boxes: [[20, 40, 400, 280], [100, 130, 170, 190]] });
console.log(`refined score ${refined.scores[0].toFixed(3)}; batch of ${batch.length} boxes`);

// An embedding to reuse later (here round-tripped in memory).
const bytes = await encodeImageEmbedding(predictor.getImageEmbedding());
writeFileSync(join(out, 'image.samemb'), bytes);
const again = new SamPredictor(model);
const embedding = decodeImageEmbedding(bytes);
again.setImageEmbedding(embedding);
embedding.embedding.dispose();

const generator = new SamAutomaticMaskGenerator(model, { pointsPerSide: 8, predIouThresh: 0.5, stabilityScoreThresh: 0.8, outputMode: 'coco_rle' });
const records = await generator.generate(imagePath);
console.log(`automatic masks: ${records.length}`);
writeFileSync(join(out, 'masks.json'), JSON.stringify(records));

again.dispose();
predictor.dispose();
model.dispose();
console.log(`written to ${out}`);
