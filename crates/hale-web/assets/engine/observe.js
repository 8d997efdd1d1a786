// @ts-check
/**
 * @file Observations derived from the coded answers, as `hale-forms`' `observe.rs` derives
 * them: each in the catalogue's canonical unit (implausible values refused), BMI from weight
 * and height, and NEWS2 when all seven parameters are present.
 */

import { news2 } from './news2.js';
import { LOINC, bmi, isPlausible, toCanonical, vital } from './vitals.js';

/**
 * @typedef {import('./value.js').Value} Value
 * @typedef {import('./form.js').Form} Form
 * @typedef {import('./validate.js').Reading} Reading
 * @typedef {import('./validate.js').FieldError} FieldError
 * @typedef {{code: string, value: number, unit: string}} Observation
 */

/**
 * @param {Form} form
 * @param {Reading[]} readings
 * @param {Map<string, Value>} topValues
 * @param {FieldError[]} errors where implausible readings are reported
 * @returns {{observations: Observation[], news2: import('./news2.js').News2Score | null}}
 */
export function deriveObservations(form, readings, topValues, errors) {
  /** @type {Observation[]} */
  const observations = [];
  // Canonical top-level values by catalogue LOINC, for BMI and NEWS2; the first one counts.
  /** @type {Map<string, number>} */
  const vitals = new Map();
  for (const reading of readings) {
    const field = form.fields[reading.index];
    if (field.code === undefined || field.unit === undefined) continue;
    const sign = vital(field.code);
    if (!sign) {
      observations.push({ code: field.code, value: reading.number, unit: field.unit });
      continue;
    }
    const value = toCanonical(sign, reading.number, field.unit);
    if (value === null || !isPlausible(sign, value)) {
      errors.push({
        field: reading.path,
        code: 'implausible_value',
        message: `the answer is outside the plausible range for ${sign.display} (${sign.plausible[0]}–${sign.plausible[1]} ${sign.canonicalUnit})`,
      });
      continue;
    }
    if (!reading.inRepeat && !vitals.has(sign.loinc)) vitals.set(sign.loinc, value);
    observations.push({ code: sign.loinc, value, unit: sign.canonicalUnit });
  }
  const weight = vitals.get(LOINC.BODY_WEIGHT);
  const height = vitals.get(LOINC.BODY_HEIGHT);
  const hasBmi = observations.some((observation) => observation.code === LOINC.BODY_MASS_INDEX);
  if (!hasBmi && weight !== undefined && height !== undefined) {
    // An implausible BMI from plausible inputs is left underived rather than refusing answers.
    const index = bmi(weight, height);
    if (index !== null) observations.push({ code: LOINC.BODY_MASS_INDEX, value: index, unit: 'kg/m2' });
  }
  return { observations, news2: score(form, vitals, topValues) };
}

/**
 * NEWS2 when all seven parameters are present: a partial score would understate risk.
 * @param {Form} form
 * @param {Map<string, number>} vitals
 * @param {Map<string, Value>} topValues
 */
function score(form, vitals, topValues) {
  const mapping = form.news2;
  if (!mapping) return null;
  const oxygenAnswer = topValues.get(mapping.oxygen);
  let supplementalOxygen;
  if (typeof oxygenAnswer === 'boolean') supplementalOxygen = oxygenAnswer;
  else if (typeof oxygenAnswer === 'string') supplementalOxygen = oxygenAnswer === 'oxygen';
  else return null;
  const consciousness = topValues.get(mapping.consciousness);
  if (typeof consciousness !== 'string' || !['alert', 'confusion', 'voice', 'pain', 'unresponsive'].includes(consciousness)) {
    return null;
  }
  const scale = mapping.spo2_scale ? topValues.get(mapping.spo2_scale) : undefined;
  const readings = [LOINC.RESPIRATORY_RATE, LOINC.OXYGEN_SATURATION, LOINC.SYSTOLIC_BLOOD_PRESSURE, LOINC.HEART_RATE, LOINC.BODY_TEMPERATURE]
    .map((code) => vitals.get(code));
  if (readings.some((reading) => reading === undefined)) return null;
  const [respirationRate, spo2, systolic, pulse, temperature] = /** @type {number[]} */ (readings);
  return news2({
    respirationRate, spo2, scale2: scale === 'scale2', supplementalOxygen, systolic, pulse,
    alert: consciousness === 'alert', temperature,
  });
}
