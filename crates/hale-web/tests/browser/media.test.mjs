// Media files attached to a version, in Chromium against a real `hale demo`: an image beside a
// question's label and beside a choice's, read from the version's own files, and still shown
// when the same form is opened again offline (the service worker kept them on first use).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withDemoAndBrowser, seriousViolations } from './harness.mjs';
import { appsOf } from './apps.mjs';

const session = withDemoAndBrowser();
const { publishAndOpen, storedAnswers } = appsOf(session);

/** A real 4×4 PNG, the same bytes as the server's API test. */
const PNG = Uint8Array.from([
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
  0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x04, 0x08, 0x02, 0x00, 0x00, 0x00, 0x26, 0x93, 0x09,
  0x29, 0x00, 0x00, 0x00, 0x10, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xb8, 0x60, 0x60, 0x00,
  0x47, 0x0c, 0xc4, 0x71, 0x00, 0xf8, 0x43, 0x13, 0x01, 0xae, 0xe8, 0xe9, 0x1b, 0x00, 0x00, 0x00,
  0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
]);

const PAIN_FACES = {
  title: 'Pain faces',
  choice_lists: {
    faces: [
      { value: '0', label: 'No pain', media: { image: 'calm.png' } },
      { value: '1', label: 'Some pain' },
    ],
  },
  fields: [
    { name: 'face', type: 'select_one', label: 'Which face is closest?', choice_list: 'faces', required: true,
      media: { image: 'faces.png' } },
  ],
};

/**
 * The widths the page's images decoded to, by where they are: the question's, the choice's.
 * @param {import('playwright-core').Page} page
 */
async function decodedImages(page) {
  const question = page.locator('.field > img.media-image');
  const choice = page.locator('label.choice img.media-image');
  await question.waitFor();
  await choice.waitFor();
  const width = (/** @type {import('playwright-core').Locator} */ image) => image.evaluate(async (element) => {
    const img = /** @type {HTMLImageElement} */ (element);
    await img.decode().catch(() => {});
    return img.naturalWidth;
  });
  return { question: await width(question), choice: await width(choice), count: await page.locator('img.media-image').count() };
}

test('a question and a choice show their images from the version, online and then offline', async () => {
  const files = { 'faces.png': { type: 'image/png', body: PNG }, 'calm.png': { type: 'image/png', body: PNG } };
  const { app, subject, context, page } = await publishAndOpen('Pain faces', PAIN_FACES, 'mrn-1002', files);
  await page.getByRole('radio', { name: 'No pain', exact: true }).waitFor();
  assert.deepEqual(await decodedImages(page), { question: 4, choice: 4, count: 2 });
  assert.deepEqual(await seriousViolations(page), []);

  // Once the service worker controls the page, opening the form again keeps its files.
  const kept = await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
    for (let attempt = 0; attempt < 200 && !navigator.serviceWorker.controller; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return Boolean(navigator.serviceWorker.controller);
  });
  assert.ok(kept, 'the service worker controls the page');
  const home = async () => {
    await page.getByRole('link', { name: /Home/ }).first().click();
    await page.getByRole('heading', { level: 1, name: 'Your health checks' }).waitFor();
  };
  await home();
  await page.getByRole('link', { name: 'Fill in Pain faces' }).click();
  assert.deepEqual(await decodedImages(page), { question: 4, choice: 4, count: 2 });
  const cached = await page.evaluate(async () => {
    const cache = await caches.open('media-1');
    return (await cache.keys()).map((request) => new URL(request.url).pathname.split('/').pop()).sort();
  });
  assert.deepEqual(cached, ['calm.png', 'faces.png']);

  await context.setOffline(true);
  await page.locator('#network', { hasText: 'Offline' }).waitFor();
  await home();
  await page.getByRole('link', { name: 'Fill in Pain faces' }).click();
  assert.deepEqual(await decodedImages(page), { question: 4, choice: 4, count: 2 }, 'shown offline from the kept copies');
  await page.getByRole('radio', { name: 'No pain', exact: true }).check();
  await page.getByRole('button', { name: 'Submit' }).click();
  await page.getByRole('heading', { level: 1, name: 'Your health checks' }).waitFor();
  await context.setOffline(false);
  await page.getByText('Everything has been sent.').waitFor();
  assert.deepEqual(await storedAnswers(subject, app), { face: '0' });
  await context.close();
});
