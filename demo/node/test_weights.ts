/**
 * Converted weights for the demo's small test models, made when the server first needs them
 * from a reference fixture (`model.pth` + `config.json`, seeded random weights: NOT a useful
 * segmentation model) with the project's own converter (`convertCheckpoint`), so the page
 * loads them with exactly the code that loads real converted weights.
 *
 * The converter writes into a temporary directory that is read back into memory and removed;
 * model.json gets a few demo-only metadata keys (userDefinedMetadata allows extra keys):
 * `testModel`, `description` and, from the fixture's automatic-mask-generator settings,
 * thresholds that suit this random model (`demo.amg`).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { convertCheckpoint } from '../../converter/convert.js';

export interface ConvertedWeights {
  /** The model.json object. */
  modelJson: Record<string, unknown> & { weightsManifest: Array<{ paths: string[] }>; userDefinedMetadata: Record<string, unknown> };
  /** Shard file name -> bytes. */
  shards: Map<string, Uint8Array>;
}

/** Converts a fixture case folder (config.json + model.pth) into converted weights in memory. */
export async function convertFixtureModel(caseDir: string, caseName: string): Promise<ConvertedWeights> {
  const tmp = await mkdtemp(join(tmpdir(), `sam-demo-${caseName}-`));
  try {
    const outDir = join(tmp, caseName);
    await convertCheckpoint({ input: join(caseDir, 'model.pth'), config: join(caseDir, 'config.json'), outDir });
    const modelJson = JSON.parse(await readFile(join(outDir, 'model.json'), 'utf8')) as ConvertedWeights['modelJson'];
    const shards = new Map<string, Uint8Array>();
    for (const group of modelJson.weightsManifest) for (const p of group.paths) shards.set(p, new Uint8Array(await readFile(join(outDir, p))));

    // The fixture's generator thresholds suit this random model (SAM's 0.88 / 0.95 would drop
    // every mask): the page uses them as its "segment everything" defaults.
    let amg: { predIouThresh: number; stabilityScoreThresh: number } | undefined;
    try {
      const s = JSON.parse(await readFile(join(caseDir, 'amg_grid8.json'), 'utf8')).settings;
      if (typeof s?.pred_iou_thresh === 'number' && typeof s?.stability_score_thresh === 'number') {
        amg = { predIouThresh: s.pred_iou_thresh, stabilityScoreThresh: s.stability_score_thresh };
      }
    } catch {
      // no such fixture file: SAM's defaults
    }
    modelJson.userDefinedMetadata = {
      ...modelJson.userDefinedMetadata,
      testModel: true,
      description: `${caseName}: a tiny random test model (seeded random weights from the reference fixtures, not a trained SAM)`,
      ...(amg ? { demo: { amg } } : {}),
    };
    return { modelJson, shards };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
