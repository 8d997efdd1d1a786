// @ts-check
/**
 * @file Unit conversion of `hale-clinical`'s `ucum.rs` for the units of the vital-signs
 * catalogue, the only units answers are converted between. Each unit's factor and offset to
 * UCUM's base units are the numbers the `ucum-units` crate's analysis gives, and a value goes
 * through `factor · value + offset` and back in the same order, so results agree to the last
 * bit. Whether any other code is valid UCUM is checked when the server compiles the form.
 * UCUM counts the mole as a number, so `mg/dL` ↔ `mmol/L` differ by a mass and need the
 * analyte's molar mass.
 */

import { roundHalfAway } from './functions.js';

/** Exponents of UCUM's base quantities m, s, g, rad, K, C, cd. @typedef {[number, number, number, number, number, number, number]} Dimension */
/** @typedef {{factor: number, offset: number, dimension: Dimension}} Unit */

/** @type {Dimension} */ const RATE = [0, -1, 0, 0, 0, 0, 0];
/** @type {Dimension} */ const DIMENSIONLESS = [0, 0, 0, 0, 0, 0, 0];
/** @type {Dimension} */ const TEMPERATURE = [0, 0, 0, 0, 1, 0, 0];
/** @type {Dimension} */ const PRESSURE = [-1, -2, 1, 0, 0, 0, 0];
/** @type {Dimension} */ const MASS = [0, 0, 1, 0, 0, 0, 0];
/** @type {Dimension} */ const LENGTH = [1, 0, 0, 0, 0, 0, 0];
/** @type {Dimension} */ const AREA_DENSITY = [-2, 0, 1, 0, 0, 0, 0];
/** @type {Dimension} */ const MASS_CONCENTRATION = [-3, 0, 1, 0, 0, 0, 0];
/** @type {Dimension} */ const NUMBER_CONCENTRATION = [-3, 0, 0, 0, 0, 0, 0];

/**
 * @param {number} factor
 * @param {Dimension} dimension
 * @param {number} [offset]
 * @returns {Unit}
 */
const unit = (factor, dimension, offset = 0.0) => ({ factor, offset, dimension });

/** The catalogue's units, as `ucum-units` analyses them. */
const UNITS = /** @type {Record<string, Unit>} */ ({
  '/min': unit(0.016666666666666666, RATE),
  '{beats}/min': unit(0.016666666666666666, RATE),
  '{breaths}/min': unit(0.016666666666666666, RATE),
  '%': unit(0.01, DIMENSIONLESS),
  Cel: unit(1.0, TEMPERATURE, 273.15),
  '[degF]': unit(0.5555555555555556, TEMPERATURE, 255.37222222222223),
  'mm[Hg]': unit(133322.0, PRESSURE),
  kPa: unit(1000000.0, PRESSURE),
  kg: unit(1000.0, MASS),
  g: unit(1.0, MASS),
  '[lb_av]': unit(453.59237, MASS),
  '[oz_av]': unit(28.349523125, MASS),
  cm: unit(0.01, LENGTH),
  m: unit(1.0, LENGTH),
  '[in_i]': unit(0.025400000000000002, LENGTH),
  '[ft_i]': unit(0.3048, LENGTH),
  'kg/m2': unit(1000.0, AREA_DENSITY),
  'mg/dL': unit(9.999999999999996, MASS_CONCENTRATION),
  'g/L': unit(999.9999999999998, MASS_CONCENTRATION),
  'mmol/L': unit(6.0221407599999985e23, NUMBER_CONCENTRATION),
});

/** The number of entities in a mole, UCUM's factor for `mol`. */
const MOLE = 6.02214076e23;

/**
 * The catalogue unit with this code, or null.
 * @param {string} code
 * @returns {Unit | null}
 */
export const catalogueUnit = (code) => (Object.hasOwn(UNITS, code) ? UNITS[code] : null);

/** Molar masses in g/mol of the analytes that bridge mass and substance concentrations. */
export const MOLAR_MASS = /** @type {Record<string, number>} */ ({ glucose: 180.156 });

/**
 * @param {Dimension} left
 * @param {Dimension} right
 * @param {number} power
 */
const differsBy = (left, right, power) => left.every((exponent, index) => exponent - right[index] === MASS[index] * power);

/**
 * Converts `value` between catalogue units, through the analyte's molar mass for mass ↔
 * substance; null when the units cannot be converted here.
 * @param {number} value
 * @param {string} from
 * @param {string} to
 * @param {string | null} [analyte]
 * @returns {number | null}
 */
export function convert(value, from, to, analyte = null) {
  if (!Number.isFinite(value)) return null;
  const source = catalogueUnit(from);
  const target = catalogueUnit(to);
  if (source === null || target === null) return null;
  // The same unit converts to itself exactly (through the base, 36.6 Cel would drift).
  if (from === to) return value;
  let converted;
  if (differsBy(source.dimension, target.dimension, 0)) {
    converted = (source.factor * value + source.offset - target.offset) / target.factor;
  } else {
    const massToSubstance = differsBy(source.dimension, target.dimension, 1);
    if (!massToSubstance && !differsBy(source.dimension, target.dimension, -1)) return null;
    if (analyte === null || !Object.hasOwn(MOLAR_MASS, analyte)) return null;
    const molarMass = MOLAR_MASS[analyte];
    const base = source.factor * value;
    const bridged = massToSubstance ? base / molarMass * MOLE : base / MOLE * molarMass;
    converted = bridged / target.factor;
  }
  return Number.isFinite(converted) ? converted : null;
}

/** A converted reading keeps ten decimal places (see `vitals.rs`). */
const READING_SCALE = 1e10;

/**
 * {@link convert}, rounded half away from zero to ten decimal places, as readings (answers,
 * observations) are; a value in its own unit is kept as it is.
 * @param {number} value
 * @param {string} from
 * @param {string} to
 * @param {string | null} [analyte]
 * @returns {number | null}
 */
export function convertReading(value, from, to, analyte = null) {
  const converted = convert(value, from, to, analyte);
  if (converted === null || from === to) return converted;
  return roundHalfAway(converted * READING_SCALE) / READING_SCALE;
}
