import lighthouse from 'lighthouse';
import { chromium } from 'playwright-core';
import { startDemo, CHROMIUM_ARGS } from './crates/hale-web/tests/browser/harness.mjs';
const demo = await startDemo();
const context = await chromium.launchPersistentContext('/tmp/lh-profile-' + Date.now(), { executablePath: '/usr/bin/chromium', args: [...CHROMIUM_ARGS, '--remote-debugging-port=9333'] });
try {
  const result = await lighthouse(`${demo.base}/sign-in`, { port: 9333, output: 'json', logLevel: 'error', onlyCategories: ['performance', 'accessibility', 'best-practices'] });
  for (const [k, c] of Object.entries(result.lhr.categories)) console.log(k, c.score);
  for (const a of Object.values(result.lhr.audits)) if (a.score !== null && a.score < 0.9 && a.scoreDisplayMode !== 'informative' && a.scoreDisplayMode !== 'notApplicable') console.log(' ', a.id, a.score, a.displayValue ?? '');
} finally { await context.close(); await demo.stop(); }
