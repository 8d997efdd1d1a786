// Apps made for a browser test through the API: published by the demo's analyst and reviewer,
// with any files attached first, assigned to a demo patient and opened for them in Chromium;
// and what the server stored of their answers.

import assert from 'node:assert/strict';
import { signIn, api, PHONE } from './harness.mjs';

/**
 * A file attached to a version before it is published: CSV text, or bytes of a media type.
 * @typedef {string | {type: string, body: Uint8Array}} Attachment
 */

/**
 * The helpers over one file's demo and browser.
 * @param {{demo: any, browser: import('playwright-core').Browser}} session
 */
export function appsOf(session) {
  /**
   * Sends JSON (POST) or a file (PUT) to the API with a demo token; the answer's JSON.
   * @param {string} token
   * @param {string} path under /api/v1
   * @param {unknown} body
   * @param {{method: string, type: string}} [as] a file's method and media type
   */
  async function call(token, path, body, as) {
    const response = await fetch(`${session.demo.base}/api/v1${path}`, {
      method: as?.method ?? 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': as?.type ?? 'application/json' },
      body: as ? /** @type {any} */ (body) : JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return response.json();
  }

  /**
   * Publishes `definition` as the analyst and reviewer, assigns it once to the demo patient
   * `username`, and opens it for them in a new browser context.
   * @param {string} name
   * @param {unknown} definition
   * @param {string} username
   * @param {Record<string, Attachment>} [files] files to attach first, by file name
   */
  async function publishAndOpen(name, definition, username, files = {}) {
    const { demo, browser } = session;
    const { accounts } = demo.credentials;
    const [analyst, reviewer, admin, patient] = ['analyst', 'reviewer', 'admin', username].map((who) => accounts[who]);
    assert.ok(analyst?.token && reviewer?.token && admin?.token, 'demo tokens');
    assert.ok(patient?.password && patient.subject, 'demo patient');
    const app = await call(analyst.token, '/tenants/contoso/apps', { name, definition });
    let version = 1;
    for (const [file, attachment] of Object.entries(files)) {
      const { type, body } = typeof attachment === 'string' ? { type: 'text/csv', body: attachment } : attachment;
      const attached = await call(analyst.token, `/tenants/contoso/apps/${app.id}/versions/${version}/files/${file}`, body, { method: 'PUT', type });
      version = attached.version;
    }
    await call(analyst.token, `/tenants/contoso/apps/${app.id}/versions/${version}/submit`, {});
    const approved = await call(reviewer.token, `/tenants/contoso/apps/${app.id}/versions/${version}/approve`, {});
    assert.equal(approved.status, 'published');
    await call(admin.token, '/tenants/contoso/assignments', {
      subject_id: patient.subject, app_id: app.id, schedule: { kind: 'once' },
    });
    const context = await browser.newContext({ viewport: PHONE, locale: 'en-GB' });
    const page = await context.newPage();
    await page.goto(demo.base);
    await signIn(page, username, patient.password);
    await page.getByRole('link', { name: `Fill in ${name}` }).click();
    return { app: app.id, version, subject: patient.subject, context, page };
  }

  /**
   * The answers of the one submission of `app` the subject has.
   * @param {string} subject
   * @param {string} app
   */
  async function storedAnswers(subject, app) {
    const clinician = session.demo.credentials.accounts.clinician;
    assert.ok(clinician?.token, 'demo clinician');
    const stored = await api(session.demo.base, clinician.token, `/tenants/contoso/subjects/${subject}/submissions`);
    const mine = stored.items.filter((/** @type {any} */ item) => item.app_id === app);
    assert.equal(mine.length, 1, 'one submission of the app');
    return mine[0].answers;
  }

  return { publishAndOpen, storedAnswers };
}
