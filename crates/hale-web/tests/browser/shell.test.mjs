// The app's shell in a real Chromium against a real `hale demo`: the sign-in screen draws
// under the strict CSP with no console error, passes axe, works by keyboard, offers French,
// installs a service worker that precaches the shell, and follows dark mode and reduced motion.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withDemoAndBrowser, seriousViolations, screenshots, PHONE } from './harness.mjs';

const session = withDemoAndBrowser();

test('the sign-in screen is accessible, keyboard-usable and offered in French', async () => {
  const { demo, browser } = session;
  const context = await browser.newContext({ viewport: PHONE, hasTouch: true, isMobile: true, locale: 'en-GB' });
  const page = await context.newPage();
  const problems = [];
  page.on('console', (message) => { if (message.type() === 'error') problems.push(message.text()); });
  page.on('pageerror', (error) => problems.push(String(error)));
  await page.goto(demo.base);
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  assert.deepEqual(await seriousViolations(page), []);
  await screenshots(page, 'sign-in');

  // Keyboard only: a new screen puts focus on its heading; the fields follow in order, and
  // the skip link before the bar leads back to the content.
  assert.equal(await page.evaluate(() => document.activeElement?.tagName), 'H1');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'sign-in-tenant');
  for (let press = 0; press < 10; press += 1) {
    if (await page.evaluate(() => document.activeElement?.classList.contains('skip'))) break;
    await page.keyboard.press('Shift+Tab');
  }
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
  await page.getByLabel('Organisation').focus();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'sign-in-username');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'sign-in-password');
  await page.keyboard.press('Enter');
  await page.getByText('Enter your organisation, username and password.').waitFor();
  assert.equal(await page.getByLabel('Username').getAttribute('aria-invalid'), 'true');

  // A wrong password is refused with a message, not a crash.
  await page.getByLabel('Organisation').fill('contoso');
  await page.getByLabel('Username').fill('mrn-1001');
  await page.getByLabel('Password').fill('not-the-password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('The organisation, username or password is not right.').waitFor();

  await page.getByLabel('Language').selectOption('fr');
  await page.getByRole('heading', { level: 1, name: 'Connexion' }).waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'fr');
  assert.deepEqual(await seriousViolations(page), []);
  await screenshots(page, 'sign-in-fr');

  const cached = await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
    for (let attempt = 0; attempt < 100; attempt += 1) {
      const names = await caches.keys();
      if (names.length > 0) {
        const cache = await caches.open(names[0]);
        if (await cache.match('/app/main.js')) return (await cache.keys()).length;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return 0;
  });
  assert.ok(cached > 20, `the service worker precached ${cached} files`);
  assert.deepEqual(problems.filter((text) => !text.includes('401')), []);
  await context.close();
});

test('dark mode and reduced motion keep the contrast and drop the transitions', async () => {
  const { demo, browser } = session;
  const context = await browser.newContext({ viewport: PHONE, colorScheme: 'dark', reducedMotion: 'reduce', locale: 'en-GB' });
  const page = await context.newPage();
  await page.goto(demo.base);
  await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(background, 'rgb(15, 28, 31)', 'the dark palette applies');
  const transition = await page.getByRole('button', { name: 'Sign in' }).evaluate((button) => getComputedStyle(button).transitionDuration);
  assert.equal(transition, '0s');
  assert.deepEqual(await seriousViolations(page), []);
  await screenshots(page, 'sign-in-dark');
  await context.close();
});

test('the manifest makes the app installable, with a maskable icon', async () => {
  const { demo, browser } = session;
  const manifest = await (await fetch(`${demo.base}/manifest.webmanifest`)).json();
  assert.equal(manifest.start_url, '/');
  assert.equal(manifest.display, 'standalone');
  assert.ok(manifest.icons.some((/** @type {any} */ icon) => icon.purpose === 'maskable' && icon.sizes === '512x512'));
  for (const icon of manifest.icons) {
    const response = await fetch(`${demo.base}${icon.src}`);
    assert.equal(response.status, 200, icon.src);
  }
});
