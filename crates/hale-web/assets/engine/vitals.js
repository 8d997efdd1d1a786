// @ts-check
/**
 * @file The vital-signs catalogue of `hale-clinical` (LOINC code, canonical UCUM unit, the
 * units a person may enter, the plausible range in the canonical unit) and BMI.
 */

import { convertReading } from './units.js';
import { toChartUnits } from './news2.js';
import { powi } from './functions.js';

/** LOINC codes of the catalogued vital signs. */
export const LOINC = Object.freeze({
  HEART_RATE: '8867-4',
  RESPIRATORY_RATE: '9279-1',
  OXYGEN_SATURATION: '59408-5',
  BODY_TEMPERATURE: '8310-5',
  SYSTOLIC_BLOOD_PRESSURE: '8480-6',
  DIASTOLIC_BLOOD_PRESSURE: '8462-4',
  BODY_WEIGHT: '29463-7',
  BODY_HEIGHT: '8302-2',
  BODY_MASS_INDEX: '39156-5',
  GLUCOSE_MASS: '2339-0',
  GLUCOSE_SUBSTANCE: '15074-8',
});

/**
 * @typedef {object} VitalSign
 * @property {string} loinc
 * @property {string[]} aliases
 * @property {string} display
 * @property {string} canonicalUnit
 * @property {string[]} acceptedUnits
 * @property {[number, number]} plausible low and high, inclusive, in the canonical unit
 * @property {string | null} analyte
 */

/** @type {VitalSign[]} */
export const CATALOGUE = [
  { loinc: LOINC.HEART_RATE, aliases: [], display: 'Heart rate', canonicalUnit: '/min', acceptedUnits: ['/min', '{beats}/min'], plausible: [20.0, 300.0], analyte: null },
  { loinc: LOINC.RESPIRATORY_RATE, aliases: [], display: 'Respiratory rate', canonicalUnit: '/min', acceptedUnits: ['/min', '{breaths}/min'], plausible: [2.0, 120.0], analyte: null },
  { loinc: LOINC.OXYGEN_SATURATION, aliases: ['2708-6'], display: 'Oxygen saturation in arterial blood by pulse oximetry', canonicalUnit: '%', acceptedUnits: ['%'], plausible: [50.0, 100.0], analyte: null },
  { loinc: LOINC.BODY_TEMPERATURE, aliases: [], display: 'Body temperature', canonicalUnit: 'Cel', acceptedUnits: ['Cel', '[degF]'], plausible: [20.0, 45.0], analyte: null },
  { loinc: LOINC.SYSTOLIC_BLOOD_PRESSURE, aliases: [], display: 'Systolic blood pressure', canonicalUnit: 'mm[Hg]', acceptedUnits: ['mm[Hg]', 'kPa'], plausible: [40.0, 300.0], analyte: null },
  { loinc: LOINC.DIASTOLIC_BLOOD_PRESSURE, aliases: [], display: 'Diastolic blood pressure', canonicalUnit: 'mm[Hg]', acceptedUnits: ['mm[Hg]', 'kPa'], plausible: [20.0, 200.0], analyte: null },
  { loinc: LOINC.BODY_WEIGHT, aliases: [], display: 'Body weight', canonicalUnit: 'kg', acceptedUnits: ['kg', 'g', '[lb_av]', '[oz_av]'], plausible: [0.2, 700.0], analyte: null },
  { loinc: LOINC.BODY_HEIGHT, aliases: [], display: 'Body height', canonicalUnit: 'cm', acceptedUnits: ['cm', 'm', '[in_i]', '[ft_i]'], plausible: [20.0, 280.0], analyte: null },
  { loinc: LOINC.BODY_MASS_INDEX, aliases: [], display: 'Body mass index', canonicalUnit: 'kg/m2', acceptedUnits: ['kg/m2'], plausible: [5.0, 250.0], analyte: null },
  { loinc: LOINC.GLUCOSE_MASS, aliases: [], display: 'Glucose [Mass/volume] in Blood', canonicalUnit: 'mg/dL', acceptedUnits: ['mg/dL', 'g/L', 'mmol/L'], plausible: [5.0, 3000.0], analyte: 'glucose' },
  { loinc: LOINC.GLUCOSE_SUBSTANCE, aliases: [], display: 'Glucose [Moles/volume] in Blood', canonicalUnit: 'mmol/L', acceptedUnits: ['mmol/L', 'mg/dL', 'g/L'], plausible: [0.25, 167.0], analyte: 'glucose' },
];

/**
 * The vital sign with this LOINC code or alias.
 * @param {string} code
 */
export const vital = (code) => CATALOGUE.find((sign) => sign.loinc === code || sign.aliases.includes(code)) ?? null;

/**
 * @param {VitalSign} sign
 * @param {number} value
 */
export const isPlausible = (sign, value) => value >= sign.plausible[0] && value <= sign.plausible[1];

/**
 * A reading in the catalogue's canonical unit; null when the unit is not accepted or the
 * value cannot be converted.
 * @param {VitalSign} sign
 * @param {number} value
 * @param {string} unit
 */
export function toCanonical(sign, value, unit) {
  if (!sign.acceptedUnits.includes(unit)) return null;
  return convertReading(value, unit, sign.canonicalUnit, sign.analyte);
}

/**
 * BMI in kg/m2 rounded half away from zero to one decimal, or null when weight, height or the
 * result is implausible.
 * @param {number} weightKg
 * @param {number} heightCm
 */
export function bmi(weightKg, heightCm) {
  const weight = /** @type {VitalSign} */ (vital(LOINC.BODY_WEIGHT));
  const height = /** @type {VitalSign} */ (vital(LOINC.BODY_HEIGHT));
  if (!(weightKg > 0 && isPlausible(weight, weightKg))) return null;
  if (!(heightCm > 0 && isPlausible(height, heightCm))) return null;
  const metres = heightCm / 100.0;
  const index = toChartUnits(weightKg / (metres * metres), 1) / powi(10, 1);
  return isPlausible(/** @type {VitalSign} */ (vital(LOINC.BODY_MASS_INDEX)), index) ? index : null;
}
