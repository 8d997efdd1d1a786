// @ts-check
/** Filling in one app: the published definition drawn as a form, queued on Submit. */

import { h, replace } from '../dom.js';
import { t, text, language, formLanguage } from '../i18n.js';
import { renderForm } from '../form.js';
import * as outbox from '../sync.js';
import * as patient from '../patient.js';

/**
 * @param {HTMLElement} main
 * @param {{tenant: string, appId: string, onQueued: () => Promise<void>}} options
 */
export async function fillScreen(main, { tenant, appId, onQueued }) {
  const { home } = await patient.home(tenant);
  const app = home.apps[appId];
  if (!app) {
    replace(main, h('h1', {}, t('fill.missing')), h('p', {}, h('a', { href: '/home' }, t('nav.home'))));
    return;
  }
  const lang = formLanguage(app.definition, language());
  const title = text(app.definition.title, lang, app.definition.default_language);
  let form;
  try {
    form = renderForm(app.definition, lang, async ({ answers, state }) => {
      // Made once, here: every later attempt to send this entry carries the same key.
      const key = outbox.newKey();
      await outbox.enqueue({
        idempotency_key: key,
        tenant,
        title: app.definition.title,
        submit: {
          subject_id: home.subject_id,
          app_id: appId,
          app_version: app.version,
          authored_at: new Date().toISOString(),
          answers,
          idempotency_key: key,
        },
        observations: state.observations,
        news2_total: state.news2_total,
      });
      await onQueued();
    }, `/api/v1/tenants/${encodeURIComponent(tenant)}/apps/${encodeURIComponent(appId)}/versions/${app.version}`);
  } catch {
    replace(main, h('h1', {}, title), h('p', { role: 'alert' }, t('fill.unusable')));
    return;
  }
  replace(main,
    h('p', { class: 'back' }, h('a', { href: '/home' }, `← ${t('nav.home')}`)),
    h('h1', {}, title),
    h('p', { class: 'muted' }, t('fill.help')),
    form);
}
