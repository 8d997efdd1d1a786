// A patient and a clinician in Chromium against a real `hale demo`, with nothing mocked: the
// patient signs in on a phone, goes offline, fills in the daily vitals twice, closes the page,
// opens it again offline, goes back online, and both entries arrive exactly once; the
// clinician then sees the new values in the chart and the patient's NEWS2 band in the list.
// axe-core runs on every screen and every screen is photographed at phone and desktop sizes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withDemoAndBrowser, seriousViolations, screenshots, signIn, api, PHONE, DESKTOP } from './harness.mjs';

const session = withDemoAndBrowser();

/**
 * Fills in the daily vitals form with `values` and submits it.
 * @param {import('playwright-core').Page} page
 * @param {{heartRate: number, systolic: number, diastolic: number, weight: string, spo2?: number,
 *   respiration?: number}} values
 */
async function fillVitals(page, values) {
  await page.getByRole('link', { name: /^Fill in Daily vital/ }).click();
  await page.getByRole('heading', { level: 1, name: /^Daily vital/ }).waitFor();
  await page.getByRole('textbox', { name: /^Heart rate/ }).fill(String(values.heartRate));
  await page.getByRole('textbox', { name: /^Oxygen saturation/ }).fill(String(values.spo2 ?? 97));
  await page.getByRole('textbox', { name: /^Temperature/ }).fill('36.8');
  await page.getByRole('textbox', { name: /^Systolic/ }).fill(String(values.systolic));
  await page.getByRole('textbox', { name: /^Diastolic/ }).fill(String(values.diastolic));
  await page.getByRole('textbox', { name: /^Weight/ }).fill(values.weight);
  await page.getByRole('textbox', { name: /^Respiration rate/ }).fill(String(values.respiration ?? 16));
  await page.getByRole('radio', { name: 'Alert', exact: true }).check();
  await page.getByRole('radio', { name: 'Air', exact: true }).check();
  await page.getByRole('button', { name: 'Submit' }).click();
  await page.getByRole('heading', { level: 1, name: 'Your health checks' }).waitFor();
}

/** @param {import('playwright-core').Page} page */
async function waitForOfflineCopy(page) {
  const cached = await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
    for (let attempt = 0; attempt < 200; attempt += 1) {
      const names = await caches.keys();
      const cache = names.length > 0 ? await caches.open(names[0]) : null;
      if (cache && (await cache.match('/app/main.js')) && navigator.serviceWorker.controller) return true;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return false;
  });
  assert.ok(cached, 'the service worker controls the page and holds the app');
}

test('offline entries survive a closed tab and arrive exactly once; the clinician sees them', async () => {
  const { demo, browser } = session;
  const patient = demo.credentials.accounts['mrn-1001'];
  const clinician = demo.credentials.accounts.clinician;
  assert.ok(patient?.password && patient.subject && clinician?.password && clinician.token, 'demo credentials');
  const context = await browser.newContext({ viewport: PHONE, hasTouch: true, isMobile: true, locale: 'en-GB' });
  let page = await context.newPage();
  await page.goto(demo.base);
  await signIn(page, 'mrn-1001', patient.password);
  await page.getByRole('heading', { level: 1, name: 'Your health checks' }).waitFor();
  assert.deepEqual(await seriousViolations(page), []);
  await screenshots(page, 'patient-home');
  await waitForOfflineCopy(page);

  await page.getByRole('link', { name: 'See your trends' }).click();
  await page.getByRole('heading', { level: 1, name: 'Your trends' }).waitFor();
  assert.deepEqual(await seriousViolations(page), []);
  await screenshots(page, 'patient-trends');
  await page.getByRole('link', { name: /Home/ }).first().click();
  await page.getByRole('heading', { level: 1, name: 'Your health checks' }).waitFor();

  // The app's own labels follow the interface into French, from the definition's texts.
  await page.getByLabel('Language').selectOption('fr');
  await page.getByRole('heading', { level: 1, name: 'Vos relevés de santé' }).waitFor();
  await page.getByRole('link', { name: /^Remplir Daily vital/ }).click();
  await page.getByRole('textbox', { name: /^Fréquence cardiaque/ }).waitFor();
  await page.getByRole('radio', { name: 'Alerte', exact: true }).waitFor();
  await screenshots(page, 'patient-form-fr');
  await page.getByLabel('Langue').selectOption('en');
  await page.getByRole('link', { name: /Home/ }).first().click();
  await page.getByRole('heading', { level: 1, name: 'Your health checks' }).waitFor();

  await context.setOffline(true);
  await page.locator('#network', { hasText: 'Offline' }).waitFor();

  // The form shows its errors inline, tied to the inputs, before anything is queued.
  await page.getByRole('link', { name: /^Fill in Daily vital/ }).click();
  const systolic = page.getByRole('textbox', { name: /^Systolic/ });
  const diastolic = page.getByRole('textbox', { name: /^Diastolic/ });
  await systolic.fill('120');
  await diastolic.fill('130');
  await page.keyboard.press('Tab');
  await page.getByText('Diastolic must be below systolic').waitFor();
  assert.equal(await diastolic.getAttribute('aria-invalid'), 'true');
  const describedBy = (await diastolic.getAttribute('aria-describedby')) ?? '';
  const described = await page.evaluate((ids) => ids.split(' ').map((id) => document.getElementById(id)?.textContent ?? '').join(' '), describedBy);
  assert.match(described, /Diastolic must be below systolic/);
  await page.getByRole('button', { name: 'Submit' }).click();
  await page.getByRole('heading', { name: /^Please fix/ }).waitFor();
  assert.deepEqual(await seriousViolations(page), []);
  await screenshots(page, 'patient-form-errors');
  await page.getByRole('link', { name: /Home/ }).first().click();

  await fillVitals(page, { heartRate: 111, systolic: 131, diastolic: 81, weight: '70.4' });
  await page.getByText('1 waiting to be sent').waitFor();
  // Fast breathing, low saturation and a fast pulse: NEWS2 3 + 3 + 3, the high band.
  await fillVitals(page, { heartRate: 131, systolic: 133, diastolic: 83, weight: '70.6', spo2: 91, respiration: 25 });
  await page.getByText('2 waiting to be sent').waitFor();
  assert.deepEqual(await seriousViolations(page), []);
  await screenshots(page, 'patient-home-offline');

  // Closed and opened again, still offline: the queue is on disk, the shell in the worker.
  await page.close();
  page = await context.newPage();
  await page.goto(demo.base);
  await page.getByRole('heading', { level: 1, name: 'Your health checks' }).waitFor();
  await page.getByText('2 waiting to be sent').waitFor();

  const calls = [];
  page.on('request', (request) => { if (new URL(request.url()).pathname.startsWith('/api/')) calls.push(request.url()); });
  await context.setOffline(false);
  await page.getByText('Everything has been sent.').waitFor();
  assert.equal(calls.filter((url) => url.endsWith('/submissions/batch')).length, 1, 'one batch call');

  const since = new Date(Date.now() - 3600_000).toISOString();
  const submitted = await api(demo.base, clinician.token, `/tenants/contoso/subjects/${patient.subject}/submissions?since=${encodeURIComponent(since)}`);
  const rates = submitted.items.map((/** @type {any} */ item) => item.answers.heart_rate).sort();
  assert.deepEqual(rates, [111, 131], 'both entries stored, each once');
  await context.close();

  const desk = await browser.newContext({ viewport: DESKTOP, locale: 'en-GB' });
  const staff = await desk.newPage();
  await staff.goto(demo.base);
  await signIn(staff, 'clinician', clinician.password);
  await staff.getByRole('heading', { level: 1, name: 'Patients' }).waitFor();
  // Riskiest first, and the alert said in words, not only in red.
  const first = staff.locator('.patients > li').first();
  await first.getByRole('link', { name: patient.name }).waitFor();
  await first.getByText('NEWS2 9 · High').waitFor();
  await first.getByText(/Alert: NEWS2 of 5 or more/).waitFor();
  const card = first;
  assert.deepEqual(await seriousViolations(staff), []);
  await screenshots(staff, 'clinician-patients', DESKTOP);

  await card.getByRole('link', { name: patient.name }).click();
  await staff.getByRole('heading', { level: 1, name: patient.name }).waitFor();
  const heart = staff.locator('figure', { has: staff.getByText('Heart rate', { exact: true }) }).first();
  await heart.getByText('Show the values as a table').click();
  await heart.getByRole('cell', { name: '131 /min' }).waitFor();
  await heart.getByRole('cell', { name: '111 /min' }).waitFor();
  // The answers as the patient gave them, under the form's own labels.
  const newest = staff.locator('.submissions > li').first();
  await newest.getByText('Answers and observations').click();
  const answers = newest.locator('dl.answers');
  await answers.locator('dt', { hasText: /^Heart rate$/ }).waitFor();
  assert.equal(await answers.locator('dt', { hasText: /^heart_rate$/ }).count(), 0);
  assert.deepEqual(await seriousViolations(staff), []);
  await screenshots(staff, 'clinician-patient', DESKTOP);
  await desk.close();
});

test('the form screen loads under 100 KB of compressed JavaScript; five forms in five minutes never meet a 429; a refused entry stays until removed', async () => {
  const { demo, browser } = session;
  const patient = demo.credentials.accounts['mrn-1002'];
  assert.ok(patient?.password && patient.subject);
  // Without the service worker, so that every file crosses the network as a first visit's do.
  const context = await browser.newContext({ viewport: PHONE, hasTouch: true, isMobile: true, locale: 'en-GB', serviceWorkers: 'block' });
  const page = await context.newPage();
  /** @type {{path: string, status: number}[]} */
  const answers = [];
  page.on('response', (response) => {
    const path = new URL(response.url()).pathname;
    if (path.startsWith('/api/')) answers.push({ path, status: response.status() });
  });
  let scriptBytes = 0;
  page.on('response', (response) => {
    // The files are sent whole (gzip made at build time), so the length is the bytes sent.
    if (response.request().resourceType() === 'script') scriptBytes += Number(response.headers()['content-length'] ?? 0);
  });
  await page.goto(demo.base);
  await signIn(page, 'mrn-1002', patient.password);
  await page.getByRole('heading', { level: 1, name: 'Your health checks' }).waitFor();
  await page.getByRole('link', { name: /^Fill in Daily vital/ }).click();
  await page.getByRole('heading', { level: 1, name: /^Daily vital/ }).waitFor();
  await page.waitForLoadState('networkidle');
  console.log(`patient form screen: ${scriptBytes} bytes of JavaScript, compressed`);
  assert.ok(scriptBytes > 0 && scriptBytes < 100 * 1024, `${scriptBytes} bytes of JavaScript`);
  await page.getByRole('link', { name: /Home/ }).first().click();
  for (let entry = 0; entry < 5; entry += 1) {
    await fillVitals(page, { heartRate: 70 + entry, systolic: 120, diastolic: 80, weight: '68.2' });
    await page.getByText('Everything has been sent.').waitFor();
  }
  // An entry the server refuses (here one altered on the device) is kept and shown, not
  // dropped, until the patient removes it.
  await page.evaluate(async ({ subject, app }) => {
    const db = await new Promise((resolve, reject) => {
      const request = indexedDB.open('hale');
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
    const now = new Date().toISOString();
    await new Promise((resolve, reject) => {
      const transaction = /** @type {IDBDatabase} */ (db).transaction('queue', 'readwrite');
      transaction.objectStore('queue').put({
        idempotency_key: 'altered-entry', tenant: 'contoso', title: 'Daily vital signs', state: 'pending',
        queued_at: now, observations: [], news2_total: null,
        submit: { subject_id: subject, app_id: app, app_version: 1, authored_at: now, answers: { heart_rate: 'fast' }, idempotency_key: 'altered-entry' },
      });
      transaction.oncomplete = resolve;
      transaction.onerror = () => reject(transaction.error);
    });
  }, { subject: patient.subject, app: demo.credentials.apps['Daily vitals'] });
  await page.getByRole('link', { name: /Home/ }).first().click();
  await page.getByText('1 waiting to be sent').waitFor();
  await page.getByRole('button', { name: 'Send now' }).click();
  await page.locator('.entry-rejected', { hasText: 'Not accepted' }).waitFor();
  assert.deepEqual(await seriousViolations(page), []);
  await page.locator('.entry-rejected').getByRole('button', { name: 'Remove' }).click();
  await page.locator('.entry-rejected').waitFor({ state: 'detached' });
  const kept = await page.evaluate(() => new Promise((resolve, reject) => {
    const request = indexedDB.open('hale');
    request.onerror = () => reject(request.error);
    request.onsuccess = () => {
      const read = request.result.transaction('queue').objectStore('queue').get('altered-entry');
      read.onsuccess = () => resolve(read.result ?? null);
      read.onerror = () => reject(read.error);
    };
  }));
  assert.equal(kept, null, 'the removed entry is gone from the device');

  assert.deepEqual(answers.filter((answer) => answer.status === 429), []);
  const counted = answers.filter((answer) => !answer.path.startsWith('/api/v1/auth/'));
  assert.ok(counted.length <= 10, `${counted.length} calls counted against the patient: ${JSON.stringify(counted)}`);
  await context.close();
});

test('repeat rows are added and removed, relevance and calculations follow, and the rows arrive as given', async () => {
  const { demo, browser } = session;
  const patient = demo.credentials.accounts['mrn-1003'];
  const clinician = demo.credentials.accounts.clinician;
  assert.ok(patient?.password && patient.subject && clinician?.token);
  const context = await browser.newContext({ viewport: PHONE, hasTouch: true, isMobile: true, locale: 'en-GB' });
  const page = await context.newPage();
  await page.goto(demo.base);
  await signIn(page, 'mrn-1003', patient.password);
  await page.getByRole('link', { name: /^Fill in Medication doses/ }).click();
  await page.getByRole('heading', { level: 1, name: 'Medication doses' }).waitFor();
  const confirm = page.getByRole('checkbox', { name: /I confirm these doses are complete/ });
  assert.equal(await confirm.isVisible(), false, 'no confirmation before a dose is listed');

  await page.getByRole('button', { name: 'Add a Dose' }).click();
  await page.getByRole('group', { name: 'Dose 1' }).waitFor();
  const other = page.getByRole('textbox', { name: /^Which medicine/ });
  assert.equal(await other.isVisible(), false);
  await page.getByRole('radio', { name: 'Other', exact: true }).check();
  await other.fill('Ibuprofen');
  await page.getByRole('textbox', { name: /^Dose/ }).fill('2');
  await page.getByRole('radio', { name: 'tablets', exact: true }).check();
  await page.getByLabel(/^Time taken/).fill('08:30');
  await confirm.waitFor();

  await page.getByRole('button', { name: 'Add a Dose' }).click();
  await page.getByRole('group', { name: 'Dose 2' }).waitFor();
  assert.deepEqual(await seriousViolations(page), []);
  await screenshots(page, 'patient-form-repeat');
  await page.getByRole('button', { name: 'Remove Dose 2' }).click();
  assert.equal(await page.getByRole('group', { name: 'Dose 2' }).count(), 0);

  await confirm.check();
  await page.getByRole('button', { name: 'Submit' }).click();
  await page.getByText('Everything has been sent.').waitFor();
  const since = new Date(Date.now() - 3600_000).toISOString();
  const submitted = await api(demo.base, clinician.token, `/tenants/contoso/subjects/${patient.subject}/submissions?since=${encodeURIComponent(since)}`);
  const doses = submitted.items.filter((/** @type {any} */ item) => item.app_id === demo.credentials.apps['Medication doses']);
  assert.equal(doses.length, 1);
  assert.deepEqual(doses[0].answers, {
    doses: [{ drug: 'other', drug_other: 'Ibuprofen', dose: 2, dose_unit: 'tablets', time_taken: '08:30' }],
    confirm: true,
  });
  await context.close();
});
