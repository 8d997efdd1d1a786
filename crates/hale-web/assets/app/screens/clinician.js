// @ts-check
/** The clinician's screens: patients sorted by risk with their latest vitals and NEWS2, and
 * one patient's trends across apps with the submissions behind them. */

import { h, replace } from '../dom.js';
import { t, dateTime, number, text, language } from '../i18n.js';
import * as api from '../api.js';
import { trendChart } from '../charts.js';
import { unitLabel } from '../definition.js';
import { CODES, trends, nameOf, news2Badge } from '../vitals.js';

/** How far back a patient's page looks. */
const DAYS = 90;
/** Submissions listed on a patient's page, newest first; the charts show the whole period. */
const SHOWN = 10;

/** The list as last drawn, so a patient's page can name them without another call. */
/** @type {Map<string, api.PatientRow>} */
const rows = new Map();

/** The vitals shown for each patient in the list, in this order. */
const LISTED = [CODES.heartRate, CODES.systolic, CODES.spo2, CODES.temperature, CODES.respiration];

/**
 * @param {HTMLElement} main
 * @param {{tenant: string}} options
 */
export async function patientsScreen(main, { tenant }) {
  replace(main, h('h1', {}, t('patients.title')), h('p', { role: 'status' }, t('loading')));
  const { items } = await api.patients(tenant);
  rows.clear();
  for (const row of items) rows.set(row.subject_id, row);
  const alerts = items.filter((row) => row.alert).length;
  replace(main,
    h('h1', {}, t('patients.title')),
    h('p', { role: 'status' }, t('patients.summary', { count: items.length, alerts })),
    items.length === 0 ? h('p', {}, t('patients.none')) : h('ul', { class: 'cards patients' }, items.map(patientCard)));
}

/** @param {api.PatientRow} row */
function patientCard(row) {
  const name = row.display_name ?? t('patients.unnamed');
  return h('li', { class: `card patient ${row.alert ? 'alert' : ''}` },
    h('h2', {}, h('a', { href: `/patients/${encodeURIComponent(row.subject_id)}` }, name)),
    row.alert ? h('p', { class: 'alert-flag' }, h('span', { 'aria-hidden': 'true' }, '⚠ '), t('patients.alert')) : null,
    h('p', {}, news2Badge(row.news2)),
    h('dl', { class: 'latest' }, LISTED.flatMap((code) => {
      const latest = row.latest[code];
      if (!latest) return [];
      const diastolic = code === CODES.systolic ? row.latest[CODES.diastolic] : undefined;
      const reading = diastolic ? `${number(latest.value)}/${number(diastolic.value)}` : number(latest.value);
      return [h('dt', {}, code === CODES.systolic ? t('vital.blood_pressure') : nameOf(code)), h('dd', {}, `${reading} ${unitLabel(latest.unit)}`)];
    })),
    h('p', { class: 'muted' }, row.last_submitted_at ? t('patients.last', { when: dateTime(row.last_submitted_at) }) : t('patients.never')));
}

/**
 * @param {HTMLElement} main
 * @param {{tenant: string, subject: string}} options
 */
export async function patientScreen(main, { tenant, subject }) {
  const known = rows.get(subject);
  const name = known?.display_name ?? (await api.subject(tenant, subject)).display_name ?? t('patients.unnamed');
  replace(main, h('h1', {}, name), h('p', { role: 'status' }, t('loading')));
  const since = new Date(Date.now() - DAYS * 86_400_000);
  const charted = trends(true);
  const codes = charted.flatMap((trend) => trend.series.map((line) => line.code));
  const [series, submitted] = await Promise.all([
    Promise.all(codes.map((code) => api.observations(tenant, subject, code, since).then((page) => page.items))),
    api.submissions(tenant, subject, since),
  ]);
  /** @type {Map<string, api.Observation[]>} */
  const byCode = new Map(codes.map((code, index) => [code, series[index]]));
  /** @type {Map<string, api.Observation[]>} */
  const bySubmission = new Map();
  for (const observation of series.flat()) {
    const list = bySubmission.get(observation.submission_id) ?? [];
    list.push(observation);
    bySubmission.set(observation.submission_id, list);
  }
  const charts = charted.map((trend) => trendChart({
    id: `chart-${trend.id}`,
    title: trend.title,
    unit: trend.unit,
    series: trend.series.map((line) => ({
      label: line.label,
      points: (byCode.get(line.code) ?? []).map((point) => ({ at: new Date(point.effective_at), value: point.value })),
    })),
  }));
  const newest = [...submitted.items].sort((a, b) => b.authored_at.localeCompare(a.authored_at)).slice(0, SHOWN);
  const labels = await fieldLabels(tenant, newest);
  replace(main,
    h('p', { class: 'back' }, h('a', { href: '/patients' }, `← ${t('patients.title')}`)),
    h('h1', {}, name),
    known ? h('p', {}, news2Badge(known.news2), known.alert ? h('strong', { class: 'alert-flag' }, ` ⚠ ${t('patients.alert')}`) : null) : null,
    h('section', { 'aria-labelledby': 'trends-heading' },
      h('h2', { id: 'trends-heading' }, t('patient.trends', { days: DAYS })),
      h('div', { class: 'charts' }, charts)),
    h('section', { 'aria-labelledby': 'submissions-heading' },
      h('h2', { id: 'submissions-heading' }, t('patient.submissions')),
      newest.length === 0 ? h('p', {}, t('patient.no_submissions'))
        : h('ol', { class: 'submissions' }, newest.map((submission) => submissionItem(submission, bySubmission.get(submission.id) ?? [],
          labels.get(versionKey(submission)) ?? new Map())))));
}

/** @param {{app_id: string, app_version: number}} submission */
function versionKey(submission) {
  return `${submission.app_id}/${submission.app_version}`;
}

/**
 * Each field's label, by name, for every app version among `submissions` (one call per
 * version, not per submission). A version that cannot be read leaves its answers under their
 * field names.
 * @param {string} tenant
 * @param {api.Submission[]} submissions
 * @returns {Promise<Map<string, Map<string, string>>>}
 */
async function fieldLabels(tenant, submissions) {
  const versions = [...new Map(submissions.map((submission) => [versionKey(submission), submission])).values()];
  const definitions = await Promise.all(versions.map((submission) =>
    api.appVersion(tenant, submission.app_id, submission.app_version).catch(() => null)));
  /** @type {Map<string, Map<string, string>>} */
  const labels = new Map();
  versions.forEach((submission, index) => {
    const definition = definitions[index];
    if (!definition) return;
    /** @type {Map<string, string>} */
    const byName = new Map();
    /** @param {import('../definition.js').Field[]} fields */
    const walk = (fields) => {
      for (const field of fields) {
        const label = text(field.label, language(), definition.default_language);
        if (label) byName.set(field.name, label);
        walk(field.children ?? []);
      }
    };
    walk(definition.fields);
    labels.set(versionKey(submission), byName);
  });
  return labels;
}

/**
 * @param {api.Submission} submission
 * @param {api.Observation[]} observations
 * @param {Map<string, string>} labels each field's label, by name
 */
function submissionItem(submission, observations, labels) {
  // Stored scores spell the risk in snake case (`low_medium`); bands are kebab case.
  const news2 = /** @type {{news2?: {total?: number, risk?: string}} | undefined} */ (submission.scores)?.news2;
  const band = /** @type {api.Band | undefined} */ (news2?.risk?.replace('_', '-'));
  return h('li', { class: 'card submission' },
    h('h3', {}, dateTime(submission.authored_at)),
    news2 && typeof news2.total === 'number' && band ? h('p', {}, news2Badge({ total: news2.total, band })) : null,
    h('details', {},
      h('summary', {}, t('patient.details')),
      h('h4', {}, t('patient.answers')),
      h('dl', { class: 'answers' }, Object.entries(submission.answers).flatMap(([field, value]) =>
        [h('dt', {}, labels.get(field) ?? field), h('dd', {}, typeof value === 'string' ? value : JSON.stringify(value))])),
      observations.length > 0 ? h('table', { class: 'observations' },
        h('caption', {}, t('patient.observations')),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('chart.measure')), h('th', { scope: 'col' }, t('chart.value')))),
        h('tbody', {}, observations.sort((a, b) => a.position - b.position).map((observation) =>
          h('tr', {}, h('td', {}, nameOf(observation.code)), h('td', {}, `${number(observation.value)} ${observation.unit}`))))) : null));
}
