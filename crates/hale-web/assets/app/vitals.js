// @ts-check
/** The vital signs the app charts and lists, by LOINC code, and how a NEWS2 band is shown. */

import { h } from './dom.js';
import { t } from './i18n.js';
import { unitLabel } from './definition.js';

/**
 * @typedef {{id: string, title: string, unit: string, series: {code: string, label: string}[]}} Trend
 */

/** LOINC codes of the vital signs, with the catalogue key of their names. */
export const CODES = /** @type {const} */ ({
  heartRate: '8867-4',
  systolic: '8480-6',
  diastolic: '8462-4',
  weight: '29463-7',
  spo2: '59408-5',
  temperature: '8310-5',
  respiration: '9279-1',
});

/**
 * The patient's charts: heart rate, blood pressure, weight and SpO2; clinicians also see
 * temperature and respiration rate.
 * @param {boolean} clinical
 * @returns {Trend[]}
 */
export function trends(clinical) {
  const list = [
    { id: 'heart-rate', title: t('vital.heart_rate'), unit: unitLabel('/min'), series: [{ code: CODES.heartRate, label: t('vital.heart_rate') }] },
    { id: 'blood-pressure', title: t('vital.blood_pressure'), unit: unitLabel('mm[Hg]'), series: [
      { code: CODES.systolic, label: t('vital.systolic') },
      { code: CODES.diastolic, label: t('vital.diastolic') },
    ] },
    { id: 'weight', title: t('vital.weight'), unit: unitLabel('kg'), series: [{ code: CODES.weight, label: t('vital.weight') }] },
    { id: 'spo2', title: t('vital.spo2'), unit: unitLabel('%'), series: [{ code: CODES.spo2, label: t('vital.spo2') }] },
  ];
  if (!clinical) return list;
  return [...list,
    { id: 'temperature', title: t('vital.temperature'), unit: unitLabel('Cel'), series: [{ code: CODES.temperature, label: t('vital.temperature') }] },
    { id: 'respiration', title: t('vital.respiration'), unit: unitLabel('/min'), series: [{ code: CODES.respiration, label: t('vital.respiration') }] },
  ];
}

/**
 * A vital sign's name by code, or the code itself.
 * @param {string} code
 */
export function nameOf(code) {
  const entry = Object.entries(CODES).find(([, value]) => value === code);
  return entry ? t(`vital.${snake(entry[0])}`) : code;
}

/** @param {string} camel */
function snake(camel) {
  return { heartRate: 'heart_rate', respiration: 'respiration' }[camel] ?? camel;
}

/** Shapes that tell the bands apart without colour. */
const GLYPHS = { low: '●', 'low-medium': '▲', medium: '◆', high: '■' };

/**
 * A NEWS2 score and its band, as text with a shape and a colour.
 * @param {{total: number, band: import('./api.js').Band} | null | undefined} news2
 */
export function news2Badge(news2) {
  if (!news2) return h('span', { class: 'band band-none' }, t('news2.none'));
  return h('span', { class: `band band-${news2.band}` },
    h('span', { 'aria-hidden': 'true', class: 'glyph' }, GLYPHS[news2.band] ?? ''),
    ` ${t('news2.score', { total: news2.total })} · ${t(`news2.band.${news2.band}`)}`);
}
