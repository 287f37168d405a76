/**
 * Runs the browser parity page by hand and prints every stage (the test runs the same thing):
 *
 *   npx tsx test/browser_parity/run.ts [--backend webgl|webgpu|cpu] [--flags '{"WEBGL_PACK":false}']
 *                                      [--sincos-experiment polynomial] [--site <built page, to skip the build>] [--json out.json]
 *                                      [--cases tiny-a,tiny-a] [--all]
 *
 * `--sincos-experiment exact-kernels|polynomial`: the experiments of RunRequest.sinCosExperiment.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { formatResults, summarizeResults } from '../../scripts/parity_lib.js';
import { FIXTURES, fixtureCases } from '../helpers/fixtures.js';
import { cachedBrowserParityPage } from './build.js';
import { CHROMIUM_FLAGS, findChromium, openParityPage, runInPage, startParityServer } from './harness.js';
import type { RunRequest } from './protocol.js';
import { browserTolerances, judge, type BrowserBackend } from './tolerances.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'webgl' },
    flags: { type: 'string', default: '{}' },
    'sincos-experiment': { type: 'string' },
    site: { type: 'string' },
    json: { type: 'string' },
    all: { type: 'boolean', default: false },
    cases: { type: 'string' },
  },
});

async function main(): Promise<void> {
  const executablePath = findChromium();
  const cases = values.cases ? values.cases.split(',') : fixtureCases();
  const t0 = Date.now();
  const site = values.site ?? (await cachedBrowserParityPage()).dir;
  console.log(`page: ${site} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  const server = await startParityServer(site, FIXTURES, [...new Set(cases)]);
  const browser = await chromium.launch({ executablePath, headless: true, args: CHROMIUM_FLAGS });
  try {
    const page = await openParityPage(browser, server.url);
    const backend = values.backend as BrowserBackend;
    const t1 = Date.now();
    const out = await runInPage(
      page,
      { backend, flags: JSON.parse(values.flags), sinCosExperiment: values['sincos-experiment'] as RunRequest['sinCosExperiment'], cases: cases.map((name) => ({ name, tolerances: browserTolerances(backend, name) })) },
      600_000,
    );
    console.log(`${out.backend.detail}\n${JSON.stringify(out.backend.flags)}; sin/cos kernel error: ${JSON.stringify(out.backend.sinCos)}`);
    console.log(`${((Date.now() - t1) / 1000).toFixed(1)} s ${JSON.stringify(out.timings)}`);
    console.log(summarizeResults(backend, out.results));
    if (values.all) console.log(formatResults(backend, out.results));
    const verdict = judge(out.results);
    if (verdict.explained.length) console.log(`\nthrough this backend's PE, which is not at parity (reported):\n${formatResults(backend, verdict.explained)}`);
    console.log(verdict.failed.length ? `\nout of tolerance:\n${formatResults(backend, verdict.failed)}` : '\nevery stage within tolerance');
    if (values.json) writeFileSync(values.json, JSON.stringify(out, null, 1));
  } finally {
    await browser.close();
    await server.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
