// @ts-check
/** The patient's home: what is due, what is waiting to be sent, the latest NEWS2. */

import { h, replace } from '../dom.js';
import { t, text, dateTime, language, formLanguage } from '../i18n.js';
import * as outbox from '../sync.js';
import * as patient from '../patient.js';
import { news2Badge } from '../vitals.js';

/**
 * @param {HTMLElement} main
 * @param {{tenant: string, notice?: string, onSync: () => Promise<void>,
 *   onDismissed: () => Promise<void>}} options
 */
export async function homeScreen(main, { tenant, notice, onSync, onDismissed }) {
  const { home, fresh } = await patient.home(tenant);
  const entries = await outbox.queued(tenant);
  const recent = patient.since(home, entries);
  const pending = entries.filter((entry) => entry.state === 'pending');
  const rejected = entries.filter((entry) => entry.state === 'rejected');
  const latest = home.history.news2[home.history.news2.length - 1];

  const assignments = home.assignments.map((assignment) => {
    const due = patient.isDue(assignment, recent);
    const definition = home.apps[assignment.app_id]?.definition;
    // The definition's title in the patient's language; the assignment's is the default one.
    const title = definition
      ? text(definition.title, formLanguage(definition, language()), definition.default_language)
      : text(assignment.title, language());
    const last = recent.find((entry) => entry.submit.app_id === assignment.app_id)?.submit.authored_at ?? assignment.last_submitted_at;
    return h('li', { class: `card assignment ${due ? 'due' : 'done'}` },
      h('h3', {}, title),
      h('p', { class: 'state' },
        h('span', { class: 'glyph', 'aria-hidden': 'true' }, due ? '○' : '✓'),
        ` ${t(due ? `due.${assignment.schedule.kind}` : `done.${assignment.schedule.kind}`)}`),
      last ? h('p', { class: 'muted' }, t('home.last', { when: dateTime(last) })) : null,
      home.apps[assignment.app_id]
        ? h('a', { class: `button ${due ? 'primary' : 'secondary'}`, href: `/apps/${encodeURIComponent(assignment.app_id)}` },
          t('home.fill', { title }))
        : null);
  });

  const sendNow = h('button', { type: 'button', class: 'secondary', disabled: !navigator.onLine || pending.length === 0,
    onclick: async () => { sendNow.disabled = true; await onSync(); } }, t('queue.send_now'));

  replace(main,
    h('h1', {}, t('home.title')),
    notice ? h('p', { class: 'notice', role: 'status' }, notice) : null,
    fresh ? null : h('p', { class: 'notice', role: 'status' }, t('home.offline_copy', { when: dateTime(home.now) })),
    h('section', { 'aria-labelledby': 'due-heading' },
      h('h2', { id: 'due-heading' }, t('home.apps')),
      assignments.length > 0 ? h('ul', { class: 'cards' }, assignments) : h('p', {}, t('home.no_apps'))),
    h('section', { 'aria-labelledby': 'queue-heading', class: 'queue' },
      h('h2', { id: 'queue-heading' }, t('queue.title')),
      h('p', { id: 'queue-count', role: 'status' },
        pending.length === 0 ? t('queue.all_sent') : t('queue.waiting', { count: pending.length })),
      pending.length > 0 ? sendNow : null,
      entries.length > 0 ? h('ul', { class: 'entries' }, entries.slice(0, 10).map((entry) => entryItem(entry, onDismissed))) : null,
      rejected.length > 0 ? h('p', { class: 'muted' }, t('queue.rejected_help')) : null),
    h('section', { 'aria-labelledby': 'news2-heading' },
      h('h2', { id: 'news2-heading' }, t('news2.latest')),
      h('p', {}, news2Badge(latest)),
      latest ? h('p', { class: 'muted' }, dateTime(latest.effective_at)) : null,
      h('a', { href: '/trends', class: 'button secondary' }, t('home.trends'))));
}

/**
 * @param {outbox.Queued} entry
 * @param {() => Promise<void>} onDismissed
 */
function entryItem(entry, onDismissed) {
  const glyph = { pending: '○', sent: '✓', rejected: '✕' }[entry.state];
  return h('li', { class: `entry entry-${entry.state}`, 'data-key': entry.idempotency_key },
    h('span', { class: 'glyph', 'aria-hidden': 'true' }, glyph),
    h('span', {}, text(entry.title, language())),
    h('span', { class: 'muted' }, dateTime(entry.submit.authored_at)),
    h('strong', { class: 'entry-state' }, t(`queue.${entry.state}`)),
    entry.state === 'rejected' && entry.problem?.detail ? h('span', { class: 'muted' }, entry.problem.detail) : null,
    entry.state === 'rejected' ? h('button', { type: 'button', class: 'link', onclick: async () => {
      await outbox.dismiss(entry.idempotency_key);
      await onDismissed();
    } }, t('queue.dismiss')) : null);
}
