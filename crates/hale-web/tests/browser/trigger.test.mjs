// A field set by a trigger, in Chromium against a real `hale demo`: an analyst's app whose
// "worst pain" takes the pain score when the score is answered, reviewed and assigned through
// the API; the patient types the score, the form fills in the worst pain, and the server
// stores what it showed.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withDemoAndBrowser, signIn, api, PHONE } from './harness.mjs';

const session = withDemoAndBrowser();

/**
 * Posts JSON to the API with a demo token.
 * @param {string} token
 * @param {string} path under /api/v1
 * @param {unknown} body
 */
async function post(token, path, body) {
  const response = await fetch(`${session.demo.base}/api/v1${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

const PAIN_CHECK = {
  title: 'Pain check',
  fields: [
    { name: 'pain', type: 'integer', label: 'Pain now (0 to 10)', min: 0, max: 10, required: true },
    { name: 'worst', type: 'integer', label: 'Worst pain today', calculation: '${pain}', trigger: ['pain'] },
  ],
};

test('a triggered field takes its calculation when its trigger is answered', async () => {
  const { demo, browser } = session;
  const { accounts } = demo.credentials;
  const [analyst, reviewer, admin, clinician, patient] = ['analyst', 'reviewer', 'admin', 'clinician', 'mrn-1002']
    .map((name) => accounts[name]);
  assert.ok(analyst?.token && reviewer?.token && admin?.token && clinician?.token, 'demo tokens');
  assert.ok(patient?.password && patient.subject, 'demo patient');
  const app = await post(analyst.token, '/tenants/contoso/apps', { name: 'Pain check', definition: PAIN_CHECK });
  await post(analyst.token, `/tenants/contoso/apps/${app.id}/versions/1/submit`, {});
  const approved = await post(reviewer.token, `/tenants/contoso/apps/${app.id}/versions/1/approve`, {});
  assert.equal(approved.status, 'published');
  await post(admin.token, '/tenants/contoso/assignments', {
    subject_id: patient.subject, app_id: app.id, schedule: { kind: 'once' },
  });

  const context = await browser.newContext({ viewport: PHONE, locale: 'en-GB' });
  const page = await context.newPage();
  await page.goto(demo.base);
  await signIn(page, 'mrn-1002', patient.password);
  await page.getByRole('link', { name: 'Fill in Pain check' }).click();
  const worst = page.getByRole('textbox', { name: /^Worst pain today/ });
  await worst.waitFor();
  assert.equal(await worst.inputValue(), '', 'nothing is set before the trigger is answered');
  await page.getByRole('textbox', { name: /^Pain now/ }).fill('6');
  assert.equal(await worst.inputValue(), '6', 'the trigger set the field');
  await page.getByRole('textbox', { name: /^Pain now/ }).fill('4');
  assert.equal(await worst.inputValue(), '4', 'each change of the trigger sets it again');
  await page.getByRole('button', { name: 'Submit' }).click();
  await page.getByRole('heading', { level: 1, name: 'Your health checks' }).waitFor();
  await page.getByText('Everything has been sent.').waitFor();

  const stored = await api(demo.base, clinician.token, `/tenants/contoso/subjects/${patient.subject}/submissions`);
  const pain = stored.items.filter((/** @type {any} */ item) => item.app_id === app.id);
  assert.equal(pain.length, 1, 'one submission of the pain check');
  assert.deepEqual(pain[0].answers, { pain: 4, worst: 4 });
  await context.close();
});
