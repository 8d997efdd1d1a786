// "Sign in with …": with the organisation's OpenID provider configured (the npm
// `oidc-provider` in tests/oidc-provider, run for real), the sign-in screen offers it by its
// display name, and the button starts the authorization code flow at that provider.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startDemo, launch, seriousViolations, freePort, root, PHONE } from './harness.mjs';

/** @type {Awaited<ReturnType<typeof startDemo>>} */
let demo;
/** @type {import('playwright-core').Browser} */
let browser;
/** @type {import('node:child_process').ChildProcess} */
let provider;
let issuer = '';
const keys = mkdtempSync(join(tmpdir(), 'hale-provider-'));

before(async () => {
  const port = await freePort();
  provider = spawn('node', ['provider.mjs', '--keys', keys, '--redirect-uri', `http://127.0.0.1:${port}/api/v1/auth/oidc/contoso-staff/callback`], {
    cwd: join(root, 'tests/oidc-provider'),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: /** @type {import('node:stream').Readable} */ (provider.stdout) });
  for await (const line of lines) {
    if (line.startsWith('ready ')) {
      issuer = line.slice('ready '.length).trim();
      break;
    }
  }
  assert.ok(issuer, 'the provider started');
  demo = await startDemo({
    port,
    config: `version = 1

[[oidc.providers]]
name = "contoso-staff"
display_name = "Contoso staff"
issuer = "${issuer}"
client_id = "hale-web"
client_secret = "hale-web-test-secret"
redirect_uri = "http://127.0.0.1:${port}/api/v1/auth/oidc/contoso-staff/callback"
mapping = { tenant = "contoso", role_map = { "clinicians" = ["clinician"] } }
`,
  });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await demo?.stop();
  provider?.kill('SIGTERM');
  rmSync(keys, { recursive: true, force: true });
});

test('the sign-in screen offers the configured provider, whose button starts its sign-in', async () => {
  const context = await browser.newContext({ viewport: PHONE, hasTouch: true, isMobile: true, locale: 'en-GB' });
  const page = await context.newPage();
  await page.goto(demo.base);
  const button = page.getByRole('link', { name: 'Sign in with Contoso staff' });
  await button.waitFor();
  assert.equal(await button.getAttribute('href'), '/api/v1/auth/oidc/contoso-staff/start');
  assert.deepEqual(await seriousViolations(page), []);
  await button.click();
  await page.waitForURL((url) => url.href.startsWith(issuer));
  assert.ok(new URL(page.url()).href.startsWith(issuer), `at the provider: ${page.url()}`);
  await context.close();
});
