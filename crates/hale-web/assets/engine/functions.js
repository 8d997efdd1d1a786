// @ts-check
/**
 * @file The XLSForm functions over repeats, dates and randomness (`sum`, `max`, `min`,
 * `format-date`, `decimal-date-time`, `boolean-from-string`, `uuid`, `random`) and the
 * rounding helpers, each exactly as `hale-expr`'s `functions.rs` computes them.
 */

import { civilFromDays, divEuclid, localMillis, pad, remEuclid } from './calendar.js';
import { DateTimeValue, DateValue, asNumber, asString, trim } from './value.js';

/** @typedef {import('./value.js').Value} Value */

/**
 * `f64::powi` as Rust computes it (compiler-builtins' `__powidf2`: square and multiply),
 * which is not always the correctly rounded `10 ** n`.
 * @param {number} base
 * @param {number} exponent an integer
 */
export function powi(base, exponent) {
  let remaining = Math.abs(exponent);
  let factor = base;
  let result = 1;
  for (;;) {
    if (remaining % 2 === 1) result *= factor;
    remaining = Math.floor(remaining / 2);
    if (remaining === 0) break;
    factor *= factor;
  }
  return exponent < 0 ? 1 / result : result;
}

/**
 * `f64::round`: half away from zero.
 * @param {number} number
 */
export const roundHalfAway = (number) => (number < 0 ? -Math.round(-number) : Math.round(number));

/**
 * `round(x, d)`: half away from zero at `d` decimals, in binary floating point.
 * @param {number} number
 * @param {number} digits
 */
export function roundToDigits(number, digits) {
  if (!Number.isFinite(number) || Number.isNaN(digits)) return Number.isNaN(digits) ? NaN : number;
  // Beyond ±308 the scale factor leaves the f64 range; no result would change anyway.
  const places = Math.min(308, Math.max(-308, Math.trunc(digits)));
  if (places === 0) return roundHalfAway(number);
  if (places > 0) {
    const scale = powi(10, places);
    const scaled = number * scale;
    if (!Number.isFinite(scaled)) return number;
    return roundHalfAway(scaled) / scale;
  }
  const scale = powi(10, -places);
  return roundHalfAway(number / scale) * scale;
}

/**
 * `sum`: every node as a number; Rust's float sum starts from -0.
 * @param {Value[]} nodes
 */
export const sum = (nodes) => nodes.reduce((/** @type {number} */ total, node) => total + asNumber(node), -0);

/**
 * `f64::max` / `f64::min` for two numbers that are not NaN.
 * @param {number} best
 * @param {number} number
 * @param {boolean} largest
 */
function pick(best, number, largest) {
  if (largest) return number > best ? number : best;
  return number < best ? number : best;
}

/**
 * `max` / `min`: NaN when there are no nodes or any is not a number (ODK's rule).
 * @param {Value[]} nodes
 * @param {boolean} largest
 */
export function extreme(nodes, largest) {
  if (nodes.length === 0) return NaN;
  let best = asNumber(nodes[0]);
  for (const node of nodes.slice(1)) {
    const number = asNumber(node);
    if (Number.isNaN(number) || Number.isNaN(best)) return NaN;
    best = pick(best, number, largest);
  }
  return best;
}

/**
 * `boolean-from-string(s)`: true exactly for `true` and `1`.
 * @param {Value} value
 */
export function booleanFromString(value) {
  const text = trim(asString(value));
  return text === 'true' || text === '1';
}

/**
 * `decimal-date-time(x)`: days since 1970-01-01 with the time as a fraction, on the value's
 * own wall clock.
 * @param {Value} value
 */
export function decimalDateTime(value) {
  if (typeof value === 'string') {
    const datetime = DateTimeValue.parse(trim(value));
    return datetime ? datetime.localDays() : asNumber(value);
  }
  return asNumber(value);
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const WEEKDAYS = ['Thu', 'Fri', 'Sat', 'Sun', 'Mon', 'Tue', 'Wed'];

/**
 * Wall-clock milliseconds since 1970 of a date, date-time or text holding one; null otherwise.
 * @param {Value} value
 */
function wallClockMillis(value) {
  if (value instanceof DateValue) return value.days * 86_400_000;
  if (value instanceof DateTimeValue) return localMillis(value.unixMillis, value.offsetMinutes);
  if (typeof value === 'string') {
    const text = trim(value);
    const date = DateValue.parse(text);
    if (date) return date.days * 86_400_000;
    const datetime = DateTimeValue.parse(text);
    if (datetime) return localMillis(datetime.unixMillis, datetime.offsetMinutes);
  }
  return null;
}

/**
 * `format-date(value, format)` with ODK's directives `%Y %y %m %n %b %d %e %a %H %h %M %S %3`.
 * @param {Value} value
 * @param {string} format
 */
export function formatDate(value, format) {
  const millis = wallClockMillis(value);
  if (millis === null) return '';
  const days = divEuclid(millis, 86_400_000);
  const ofDay = remEuclid(millis, 86_400_000);
  const [year, month, day] = civilFromDays(days);
  const hour = Math.trunc(ofDay / 3_600_000);
  const minute = Math.trunc(ofDay / 60_000) % 60;
  const second = Math.trunc(ofDay / 1000) % 60;
  const milli = ofDay % 1000;
  const directives = /** @type {Record<string, string>} */ ({
    Y: pad(year, 4), y: pad(remEuclid(year, 100), 2), m: pad(month, 2), n: String(month),
    b: MONTHS[Math.min(Math.max(month - 1, 0), 11)], d: pad(day, 2), e: String(day),
    a: WEEKDAYS[remEuclid(days, 7)], H: pad(hour, 2), h: String(hour), M: pad(minute, 2),
    S: pad(second, 2), 3: pad(milli, 3),
  });
  const characters = Array.from(format);
  let out = '';
  for (let index = 0; index < characters.length; index += 1) {
    const character = characters[index];
    if (character !== '%') {
      out += character;
      continue;
    }
    index += 1;
    const directive = characters[index];
    if (directive === undefined) out += '%';
    else if (Object.hasOwn(directives, directive)) out += directives[directive];
    else out += `%${directive}`;
  }
  return out;
}

const MASK = (1n << 64n) - 1n;

/**
 * FNV-1a, 64 bits, over the UTF-8 bytes.
 * @param {string} text
 */
function fnv1a(text) {
  let hash = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(text)) {
    hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & MASK;
  }
  return hash;
}

/**
 * SplitMix64's finaliser.
 * @param {bigint} value
 */
function mix(value) {
  let z = (value + 0x9e3779b97f4a7c15n) & MASK;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK;
  return z ^ (z >> 31n);
}

/**
 * The `draw`-th 64-bit number for a call `site` under a submission's `seed`.
 * @param {string} seed
 * @param {string} site
 * @param {bigint} draw
 */
export const seededDraw = (seed, site, draw) => mix((fnv1a(`${seed}\n${site}`) + draw) & MASK);

/**
 * `random()`: uniform in [0, 1) from the top 53 bits of draw 0.
 * @param {string} seed
 * @param {string} site
 */
export const seededRandom = (seed, site) => Number(seededDraw(seed, site, 0n) >> 11n) / 2 ** 53;

/**
 * `uuid()`: a version 4 UUID from draws 1 and 2.
 * @param {string} seed
 * @param {string} site
 */
export function seededUuid(seed, site) {
  const high = (seededDraw(seed, site, 1n) & 0xffffffffffff0fffn) | 0x4000n;
  const low = (seededDraw(seed, site, 2n) & 0x3fffffffffffffffn) | 0x8000000000000000n;
  /**
   * @param {bigint} value
   * @param {number} width
   */
  const hex = (value, width) => value.toString(16).padStart(width, '0');
  return `${hex(high >> 32n, 8)}-${hex((high >> 16n) & 0xffffn, 4)}-${hex(high & 0xffffn, 4)}-${hex(low >> 48n, 4)}-${hex(low & 0xffffffffffffn, 12)}`;
}
