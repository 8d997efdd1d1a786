// @ts-check
/**
 * @file The UCUM subset of `hale-clinical`'s `ucum.rs`: the atoms and prefixes Hale records
 * vital signs in, simple compound codes (`mg/dL`, `kg/m2`, `{beats}/min`), and conversion
 * between commensurable units, computed in the same order so results agree to the last bit.
 * Amount of substance is its own base quantity: `mg/dL` ↔ `mmol/L` needs the analyte's molar
 * mass.
 */

import { powi } from './functions.js';

/** Exponents of length, mass (grams), time, temperature, amount. @typedef {[number, number, number, number, number]} Dimension */
/** @typedef {{factor: number, offset: number, dimension: Dimension}} Unit */

/** @type {Dimension} */
const DIMENSIONLESS = [0, 0, 0, 0, 0];
/** @type {Dimension} */ const LENGTH = [1, 0, 0, 0, 0];
/** @type {Dimension} */ const MASS = [0, 1, 0, 0, 0];
/** @type {Dimension} */ const TIME = [0, 0, 1, 0, 0];
/** @type {Dimension} */ const TEMPERATURE = [0, 0, 0, 1, 0];
/** @type {Dimension} */ const AMOUNT = [0, 0, 0, 0, 1];
/** @type {Dimension} */ const VOLUME = [3, 0, 0, 0, 0];
/** @type {Dimension} */ const PRESSURE = [-1, 1, -2, 0, 0];

/** One pascal in base units (g·m⁻¹·s⁻²). */
const PASCAL = 1000.0;
const POUND_GRAMS = 453.59237;
const INCH_METRES = 0.0254;

/**
 * @typedef {{symbol: string, metric: boolean, factor: number, offset?: number, dimension: Dimension}} Atom
 * An atom with `offset` is a temperature scale whose zero is not absolute zero.
 */

/** @type {Atom[]} */
const ATOMS = [
  { symbol: 'm', metric: true, factor: 1.0, dimension: LENGTH },
  { symbol: 'g', metric: true, factor: 1.0, dimension: MASS },
  { symbol: 's', metric: true, factor: 1.0, dimension: TIME },
  { symbol: 'K', metric: true, factor: 1.0, dimension: TEMPERATURE },
  { symbol: 'mol', metric: true, factor: 1.0, dimension: AMOUNT },
  { symbol: 'min', metric: false, factor: 60.0, dimension: TIME },
  { symbol: 'h', metric: false, factor: 3600.0, dimension: TIME },
  { symbol: 'd', metric: false, factor: 86_400.0, dimension: TIME },
  { symbol: 'L', metric: true, factor: 1e-3, dimension: VOLUME },
  { symbol: 'l', metric: true, factor: 1e-3, dimension: VOLUME },
  { symbol: 'Pa', metric: true, factor: PASCAL, dimension: PRESSURE },
  { symbol: 'm[Hg]', metric: true, factor: 133.322 * 1000.0 * PASCAL, dimension: PRESSURE },
  { symbol: '[in_i]', metric: false, factor: INCH_METRES, dimension: LENGTH },
  { symbol: '[ft_i]', metric: false, factor: 12.0 * INCH_METRES, dimension: LENGTH },
  { symbol: '[lb_av]', metric: false, factor: POUND_GRAMS, dimension: MASS },
  { symbol: '[oz_av]', metric: false, factor: POUND_GRAMS / 16.0, dimension: MASS },
  { symbol: '%', metric: false, factor: 0.01, dimension: DIMENSIONLESS },
  { symbol: 'Cel', metric: false, factor: 1.0, offset: 273.15, dimension: TEMPERATURE },
  { symbol: '[degF]', metric: false, factor: 5.0 / 9.0, offset: 459.67 * 5.0 / 9.0, dimension: TEMPERATURE },
];

/** SI prefixes; `da` first, the only two-letter one, so it wins over `d`. */
const PREFIXES = /** @type {[string, number][]} */ ([
  ['da', 1e1], ['G', 1e9], ['M', 1e6], ['k', 1e3], ['h', 1e2], ['d', 1e-1], ['c', 1e-2], ['m', 1e-3],
  ['u', 1e-6], ['n', 1e-9], ['p', 1e-12], ['f', 1e-15],
]);

const I32_MIN = -(2 ** 31);
const I32_MAX = 2 ** 31 - 1;

/** @param {number} value */
const fitsI32 = (value) => Number.isInteger(value) && value >= I32_MIN && value <= I32_MAX;

/**
 * `left · right^power`, or null when an exponent leaves the i32 range.
 * @param {Dimension} left
 * @param {Dimension} right
 * @param {number} power
 * @returns {Dimension | null}
 */
function timesPowerOf(left, right, power) {
  const result = /** @type {Dimension} */ (left.slice());
  for (let index = 0; index < 5; index += 1) {
    const scaled = right[index] * power;
    if (!fitsI32(scaled)) return null;
    result[index] += scaled;
    if (!fitsI32(result[index])) return null;
  }
  return result;
}

/**
 * @param {Dimension | null} left
 * @param {Dimension} right
 */
const sameDimension = (left, right) => left !== null && left.every((exponent, index) => exponent === right[index]);

/**
 * Splits a code at top-level `.` and `/`, leaving brackets and braces whole.
 * @param {string} code
 * @returns {[boolean, string][] | null} each component with whether it divides
 */
function components(code) {
  /** @type {[boolean, string][]} */
  const parts = [];
  let squareDepth = 0;
  let inAnnotation = false;
  let start = 0;
  let divide = false;
  for (let index = 0; index < code.length; index += 1) {
    const character = code[index];
    if (character === '{' && !inAnnotation) inAnnotation = true;
    else if (character === '}' && inAnnotation) inAnnotation = false;
    else if (character === '{' || character === '}') return null;
    else if (inAnnotation) continue;
    else if (character === '[') squareDepth += 1;
    else if (character === ']') {
      if (squareDepth === 0) return null;
      squareDepth -= 1;
    } else if (character === '(' || character === ')') return null;
    else if ((character === '.' || character === '/') && squareDepth === 0) {
      const part = code.slice(start, index);
      if (part === '' && !(index === 0 && character === '/')) return null;
      if (part !== '') parts.push([divide, part]);
      divide = character === '/';
      start = index + 1;
    }
  }
  if (inAnnotation || squareDepth !== 0) return null;
  const last = code.slice(start);
  if (last === '') return null;
  parts.push([divide, last]);
  return parts;
}

/**
 * One component without its annotation: a pure number, or a symbol with its exponent.
 * @param {string} text
 * @returns {{number: number} | {symbol: string, exponent: number} | null}
 */
function component(text) {
  const open = text.indexOf('{');
  let bare = text;
  if (open >= 0) {
    if (!text.endsWith('}')) return null;
    bare = text.slice(0, open);
  }
  if (bare === '') return { number: 1.0 };
  if (/^[0-9]+$/.test(bare)) return { number: Number(bare) };
  const digitsStart = bare.search(/[0-9]*$/);
  if (digitsStart === bare.length) return { symbol: bare, exponent: 1 };
  const before = bare[digitsStart - 1];
  const signStart = before === '+' || before === '-' ? digitsStart - 1 : digitsStart;
  const symbol = bare.slice(0, signStart);
  if (symbol === '') return null;
  const exponent = Number(bare.slice(signStart));
  if (!fitsI32(exponent)) return null;
  return { symbol, exponent };
}

/**
 * An atom and the factor of its SI prefix; an exact atom wins (`min` is minutes).
 * @param {string} symbol
 * @returns {[number, Atom] | null}
 */
function resolve(symbol) {
  const exact = ATOMS.find((atom) => atom.symbol === symbol);
  if (exact) return [1.0, exact];
  for (const [prefix, factor] of PREFIXES) {
    if (!symbol.startsWith(prefix)) continue;
    const rest = symbol.slice(prefix.length);
    const atom = ATOMS.find((candidate) => candidate.symbol === rest && candidate.metric);
    if (atom) return [factor, atom];
  }
  return null;
}

/**
 * Parses a UCUM code (case-sensitive); null when Hale does not understand it.
 * @param {string} code
 * @returns {Unit | null}
 */
export function parseUnit(code) {
  // UCUM codes are printable ASCII without spaces.
  if (code === '' || !/^[\x21-\x7e]+$/.test(code)) return null;
  const parts = components(code);
  if (parts === null) return null;
  let factor = 1.0;
  /** @type {Dimension | null} */
  let dimension = DIMENSIONLESS;
  for (const [divide, text] of parts) {
    const sign = divide ? -1 : 1;
    const part = component(text);
    if (part === null) return null;
    if ('number' in part) {
      factor = divide ? factor / part.number : factor * part.number;
      continue;
    }
    const resolved = resolve(part.symbol);
    if (resolved === null) return null;
    const [prefix, atom] = resolved;
    const power = part.exponent * sign;
    if (!fitsI32(power)) return null;
    if (atom.offset !== undefined) {
      // An offset scale only means something on its own.
      if (parts.length !== 1 || power !== 1) return null;
      return { factor: atom.factor, offset: atom.offset, dimension: atom.dimension };
    }
    factor *= powi(prefix * atom.factor, power);
    dimension = timesPowerOf(/** @type {Dimension} */ (dimension), atom.dimension, power);
    if (dimension === null) return null;
  }
  if (!Number.isFinite(factor) || factor === 0) return null;
  return { factor, offset: 0.0, dimension: /** @type {Dimension} */ (dimension) };
}

/** Molar masses in g/mol of the analytes that bridge mass and substance concentrations. */
export const MOLAR_MASS = /** @type {Record<string, number>} */ ({ glucose: 180.156 });

/** @type {Dimension} */ const MASS_PER_AMOUNT = [0, 1, 0, 0, -1];
/** @type {Dimension} */ const AMOUNT_PER_MASS = [0, -1, 0, 0, 1];

/**
 * Converts `value` between UCUM units, through the analyte's molar mass for mass ↔ substance;
 * null when the units cannot be converted.
 * @param {number} value
 * @param {string} from
 * @param {string} to
 * @param {string | null} [analyte]
 * @returns {number | null}
 */
export function convert(value, from, to, analyte = null) {
  if (!Number.isFinite(value)) return null;
  const source = parseUnit(from);
  const target = parseUnit(to);
  if (source === null || target === null) return null;
  // The same unit converts to itself exactly (through the base, 36.6 Cel would drift).
  if (from === to) return value;
  const base = value * source.factor + source.offset;
  let bridged = base;
  if (!sameDimension(source.dimension, target.dimension)) {
    const difference = timesPowerOf(source.dimension, target.dimension, -1);
    const massPerAmount = sameDimension(difference, MASS_PER_AMOUNT);
    if (!massPerAmount && !sameDimension(difference, AMOUNT_PER_MASS)) return null;
    if (analyte === null || !Object.hasOwn(MOLAR_MASS, analyte)) return null;
    const molarMass = MOLAR_MASS[analyte];
    bridged = massPerAmount ? base / molarMass : base * molarMass;
  }
  const converted = (bridged - target.offset) / target.factor;
  return Number.isFinite(converted) ? converted : null;
}
