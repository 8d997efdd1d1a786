// @ts-check
/**
 * @file NEWS2, the National Early Warning Score 2 (RCP 2017), as `hale-clinical` scores it:
 * inputs rounded half away from zero to the chart's precision, then banded.
 */

import { powi, roundHalfAway } from './functions.js';

/** Below a half by at most this many units of the last place still counts as the half. */
const DECIMAL_TOLERANCE = 1e-9;

/**
 * `value` rounded half away from zero, in units of the last kept place (36.05, 1 → 361).
 * @param {number} value
 * @param {number} decimals
 */
export function toChartUnits(value, decimals) {
  const scaled = value * powi(10, decimals);
  // Rust's `signum` is 1 for +0 and -1 for -0.
  const signum = scaled < 0 || Object.is(scaled, -0) ? -1 : 1;
  return roundHalfAway(scaled + signum * DECIMAL_TOLERANCE);
}

/** Bands as [upper bound inclusive, score], in chart units. @typedef {[number, number][]} Bands */

/** @type {Bands} */ const RESPIRATION = [[8, 3], [11, 1], [20, 0], [24, 2], [Infinity, 3]];
/** @type {Bands} */ const SPO2_SCALE_1 = [[91, 3], [93, 2], [95, 1], [Infinity, 0]];
/** @type {Bands} */ const SPO2_SCALE_2_AIR = [[83, 3], [85, 2], [87, 1], [Infinity, 0]];
/** @type {Bands} */ const SPO2_SCALE_2_OXYGEN = [[83, 3], [85, 2], [87, 1], [92, 0], [94, 1], [96, 2], [Infinity, 3]];
/** @type {Bands} */ const SYSTOLIC = [[90, 3], [100, 2], [110, 1], [219, 0], [Infinity, 3]];
/** @type {Bands} */ const PULSE = [[40, 3], [50, 1], [90, 0], [110, 1], [130, 2], [Infinity, 3]];
/** @type {Bands} */ const TEMPERATURE = [[350, 3], [360, 1], [380, 0], [390, 1], [Infinity, 2]];

/**
 * The score of a value, or null when it could not be a real observation.
 * @param {number} value
 * @param {number} maximum
 * @param {number} decimals
 * @param {Bands} bands
 */
function score(value, maximum, decimals, bands) {
  if (!(Number.isFinite(value) && value >= 0 && value <= maximum)) return null;
  const chart = toChartUnits(value, decimals);
  const band = bands.find(([upper]) => chart <= upper);
  return band ? band[1] : 0;
}

/**
 * @typedef {object} News2Input
 * @property {number} respirationRate
 * @property {number} spo2
 * @property {boolean} scale2 SpO2 Scale 2 (prescribed for hypercapnic respiratory failure)
 * @property {boolean} supplementalOxygen
 * @property {number} systolic
 * @property {number} pulse
 * @property {boolean} alert ACVPU "alert"; anything else scores 3
 * @property {number} temperature in degrees Celsius
 */

/**
 * @typedef {object} News2Score
 * @property {number} total
 * @property {number[]} parameters the seven scores in chart order
 * @property {'low' | 'low-medium' | 'medium' | 'high'} band
 */

/**
 * NEWS2 of one complete set of observations, or null when a value is not a real reading.
 * @param {News2Input} input
 * @returns {News2Score | null}
 */
export function news2(input) {
  const spo2Bands = !input.scale2 ? SPO2_SCALE_1 : input.supplementalOxygen ? SPO2_SCALE_2_OXYGEN : SPO2_SCALE_2_AIR;
  const parameters = [
    score(input.respirationRate, Number.MAX_VALUE, 0, RESPIRATION),
    score(input.spo2, 100.0, 0, spo2Bands),
    input.supplementalOxygen ? 2 : 0,
    score(input.systolic, Number.MAX_VALUE, 0, SYSTOLIC),
    score(input.pulse, Number.MAX_VALUE, 0, PULSE),
    input.alert ? 0 : 3,
    score(input.temperature, Number.MAX_VALUE, 1, TEMPERATURE),
  ];
  if (parameters.some((parameter) => parameter === null)) return null;
  const scores = /** @type {number[]} */ (parameters);
  const total = scores.reduce((sum, parameter) => sum + parameter, 0);
  let band = /** @type {News2Score['band']} */ ('low');
  if (total >= 7) band = 'high';
  else if (total >= 5) band = 'medium';
  else if (scores.includes(3)) band = 'low-medium';
  return { total, parameters: scores, band };
}
