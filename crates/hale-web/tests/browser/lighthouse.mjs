// Lighthouse (mobile, its default throttling) on the sign-in screen and on the patient's form
// screen of a real `hale demo`, signed in as a demo patient; prints each category's score and
// exits 1 below 0.9 performance or 0.95 accessibility and best practices.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import lighthouse from 'lighthouse';
import { chromium } from 'playwright-core';
import { startDemo, signIn, freePort, CHROMIUM_ARGS } from './harness.mjs';

const THRESHOLDS = { performance: 0.9, accessibility: 0.95, 'best-practices': 0.95 };

const demo = await startDemo();
const profile = mkdtempSync(join(tmpdir(), 'hale-lighthouse-'));
const port = await freePort();
// One persistent profile, so that Lighthouse's tab shares the patient's session cookie.
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: [...CHROMIUM_ARGS, `--remote-debugging-port=${port}`],
});
let failed = false;
try {
  const patient = demo.credentials.accounts['mrn-1003'];
  const appId = demo.credentials.apps['Daily vitals'];
  const runs = [['sign-in', `${demo.base}/sign-in`, false], ['patient form', `${demo.base}/apps/${appId}`, true]];
  for (const [name, url, signedIn] of runs) {
    if (signedIn) {
      const page = await context.newPage();
      await page.goto(demo.base);
      await signIn(page, 'mrn-1003', patient.password ?? '');
      await page.getByRole('heading', { level: 1, name: 'Your health checks' }).waitFor();
      await page.close();
    }
    const result = await lighthouse(String(url), {
      port,
      output: 'json',
      logLevel: 'error',
      onlyCategories: Object.keys(THRESHOLDS),
      // Keeps the session and the device's copy, as a patient's phone would.
      disableStorageReset: true,
    });
    const categories = result?.lhr.categories ?? {};
    const scores = Object.fromEntries(Object.keys(THRESHOLDS).map((key) => [key, categories[key]?.score ?? 0]));
    console.log(`lighthouse ${name}: ${Object.entries(scores).map(([key, score]) => `${key} ${score}`).join(', ')}`);
    for (const [key, minimum] of Object.entries(THRESHOLDS)) {
      if (/** @type {Record<string, number>} */ (scores)[key] < minimum) {
        failed = true;
        const audits = Object.values(result?.lhr.audits ?? {})
          .filter((audit) => audit.score !== null && audit.score < 1 && audit.scoreDisplayMode !== 'informative')
          .map((audit) => `${audit.id} (${audit.score})`);
        console.log(`  ${key} below ${minimum}; audits short of full marks: ${audits.join(', ')}`);
      }
    }
  }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
  await demo.stop();
}
process.exit(failed ? 1 : 0);
