// @ts-check
/** The patient's trends: heart rate, blood pressure, weight and SpO2 over the last weeks, and
 * NEWS2 with its band; entries still on this device are drawn too, marked as waiting. */

import { h, replace } from '../dom.js';
import { t, dateTime } from '../i18n.js';
import { trendChart } from '../charts.js';
import * as outbox from '../sync.js';
import * as patient from '../patient.js';
import { trends, news2Badge } from '../vitals.js';

/**
 * @param {HTMLElement} main
 * @param {{tenant: string}} options
 */
export async function trendsScreen(main, { tenant }) {
  const { home } = await patient.home(tenant);
  const local = patient.since(home, await outbox.queued(tenant));
  const charts = trends(false).map((trend) => trendChart({
    id: `chart-${trend.id}`,
    title: trend.title,
    unit: trend.unit,
    series: trend.series.map((line) => ({
      label: line.label,
      points: [
        ...home.history.observations.filter((point) => point.code === line.code)
          .map((point) => ({ at: new Date(point.effective_at), value: point.value })),
        ...local.flatMap((entry) => entry.observations.filter((point) => point.code === line.code)
          .map((point) => ({ at: new Date(entry.submit.authored_at), value: point.value, pending: entry.state === 'pending' }))),
      ],
    })),
  }));
  const news2 = home.history.news2;
  const latest = news2[news2.length - 1];
  replace(main,
    h('p', { class: 'back' }, h('a', { href: '/home' }, `← ${t('nav.home')}`)),
    h('h1', {}, t('trends.title')),
    h('section', { 'aria-labelledby': 'news2-heading', class: 'news2' },
      h('h2', { id: 'news2-heading' }, t('news2.title')),
      h('p', {}, news2Badge(latest), latest ? h('span', { class: 'muted' }, ` ${dateTime(latest.effective_at)}`) : null),
      trendChart({ id: 'chart-news2', title: t('news2.title'), unit: '', series: [{
        label: t('news2.title'),
        points: news2.map((score) => ({ at: new Date(score.effective_at), value: score.total })),
      }] }),
      h('p', { class: 'muted' }, t('news2.explain'))),
    h('div', { class: 'charts' }, charts));
}
