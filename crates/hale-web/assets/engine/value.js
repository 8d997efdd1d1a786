// @ts-check
/**
 * @file Runtime values of the expression language, their XPath coercions and their plain JSON
 * encoding, as `hale-expr`'s `value.rs` defines them. A value is `null` (unanswered), a
 * boolean, a number (f64), a string, a {@link DateValue}, a {@link DateTimeValue}, or an
 * array of strings (a select_multiple's choices, in answer order).
 */

import {
  MAX_DAYS,
  MAX_OFFSET_MINUTES,
  MILLIS_PER_DAY,
  MIN_DAYS,
  divEuclid,
  formatDate,
  formatDatetime,
  localMillis,
  parseDate,
  parseDatetime,
} from './calendar.js';

/** A calendar date without a time zone, as days since 1970-01-01, within years 0001–9999. */
export class DateValue {
  /** @param {number} days */
  constructor(days) {
    /** @readonly */
    this.days = days;
  }

  /**
   * @param {number} days
   * @returns {DateValue | null} null outside years 0001–9999
   */
  static fromDays(days) {
    return days >= MIN_DAYS && days <= MAX_DAYS ? new DateValue(days) : null;
  }

  /**
   * Exactly `YYYY-MM-DD`.
   * @param {string} text
   */
  static parse(text) {
    const days = parseDate(text);
    return days === null ? null : DateValue.fromDays(days);
  }

  toString() {
    return formatDate(this.days);
  }
}

/**
 * An instant with millisecond precision and the UTC offset of the wall clock it was read
 * from; the offset decides the calendar day and the printed form, instants compare.
 */
export class DateTimeValue {
  /**
   * @param {number} unixMillis
   * @param {number} offsetMinutes
   */
  constructor(unixMillis, offsetMinutes) {
    /** @readonly */
    this.unixMillis = unixMillis;
    /** @readonly */
    this.offsetMinutes = offsetMinutes;
  }

  /**
   * @param {number} unixMillis
   * @param {number} offsetMinutes
   * @returns {DateTimeValue | null} null past ±23:59 or outside years 0001–9999 locally
   */
  static create(unixMillis, offsetMinutes) {
    if (Math.abs(offsetMinutes) > MAX_OFFSET_MINUTES) return null;
    const local = unixMillis + offsetMinutes * 60_000;
    if (!Number.isSafeInteger(local)) return null;
    if (DateValue.fromDays(divEuclid(local, MILLIS_PER_DAY)) === null) return null;
    return new DateTimeValue(unixMillis, offsetMinutes);
  }

  /**
   * RFC 3339 with a required offset.
   * @param {string} text
   */
  static parse(text) {
    const parsed = parseDatetime(text);
    return parsed === null ? null : DateTimeValue.create(parsed[0], parsed[1]);
  }

  /** The calendar date on this value's own wall clock. */
  localDate() {
    return new DateValue(divEuclid(localMillis(this.unixMillis, this.offsetMinutes), MILLIS_PER_DAY));
  }

  /** Wall-clock days since 1970-01-01 with the time of day as the fraction. */
  localDays() {
    return localMillis(this.unixMillis, this.offsetMinutes) / MILLIS_PER_DAY;
  }

  toString() {
    return formatDatetime(this.unixMillis, this.offsetMinutes);
  }
}

/** @typedef {null | boolean | number | string | DateValue | DateTimeValue | string[]} Value */

/**
 * Values in the plain JSON encoding: JSON scalars, `{"number": "NaN"|"Infinity"|"-Infinity"}`,
 * `{"date": …}`, `{"datetime": …}`, `{"multi": […]}`.
 * @typedef {null | boolean | number | string | {number: string} | {date: string} | {datetime: string} | {multi: string[]}} JsonValue
 */

/**
 * Rust's `char::is_whitespace` (the Unicode White_Space property), which differs from
 * JavaScript's `trim` (that also strips U+FEFF).
 */
const WHITESPACE = /\p{White_Space}/u;
const LEADING = /^\p{White_Space}+/u;
const TRAILING = /\p{White_Space}+$/u;
const RUNS = /\p{White_Space}+/u;

/**
 * `str::trim`.
 * @param {string} text
 */
export const trim = (text) => text.replace(LEADING, '').replace(TRAILING, '');

/**
 * `str::split_whitespace`.
 * @param {string} text
 */
export const splitWhitespace = (text) => text.split(RUNS).filter((part) => part !== '');

/**
 * @param {string} text
 */
export const hasWhitespace = (text) => WHITESPACE.test(text);

/**
 * Length in Unicode scalar values, as Rust's `chars().count()`.
 * @param {string} text
 */
export function charCount(text) {
  let count = 0;
  for (const _ of text) count += 1;
  return count;
}

/**
 * A select_multiple answer from its wire form: values separated by whitespace.
 * @param {string} text
 * @returns {string[]}
 */
export const multiFromWire = (text) => splitWhitespace(text);

/**
 * XPath `boolean()`.
 * @param {Value} value
 */
export function truthy(value) {
  if (value === null) return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0 && !Number.isNaN(value);
  if (typeof value === 'string') return value !== '';
  if (Array.isArray(value)) return value.length > 0;
  return true;
}

/**
 * XPath 1.0 `number(string)`: optional spaces, tabs and line ends around an optional minus,
 * digits and an optional fraction; anything else is NaN.
 * @param {string} text
 */
export function parseXpathNumber(text) {
  const trimmed = text.replace(/^[ \t\n\r]+/, '').replace(/[ \t\n\r]+$/, '');
  return /^-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)$/.test(trimmed) ? Number(trimmed) : NaN;
}

/**
 * XPath `number()`.
 * @param {Value} value
 * @returns {number}
 */
export function asNumber(value) {
  if (value === null) return NaN;
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') return value;
  if (typeof value === 'string') return parseXpathNumber(value);
  if (value instanceof DateValue) return value.days;
  if (value instanceof DateTimeValue) return value.localDays();
  return parseXpathNumber(value.join(' '));
}

/**
 * A number as Rust prints an f64: the shortest digits that read back to it, never an
 * exponent; `NaN`, `Infinity`, `-Infinity`, and `-0` as `0`.
 * @param {number} number
 */
export function formatNumber(number) {
  if (Number.isNaN(number)) return 'NaN';
  if (number === Infinity) return 'Infinity';
  if (number === -Infinity) return '-Infinity';
  if (number === 0) return '0';
  // toExponential() without digits gives the same shortest round-trip digits as Rust.
  const [mantissa, exponentText] = number.toExponential().split('e');
  const negative = mantissa.startsWith('-');
  const significand = mantissa.replace('-', '').replace('.', '');
  const exponent = Number(exponentText);
  let text;
  if (exponent < 0) {
    text = `0.${'0'.repeat(-exponent - 1)}${significand}`;
  } else if (significand.length <= exponent + 1) {
    text = significand + '0'.repeat(exponent + 1 - significand.length);
  } else {
    text = `${significand.slice(0, exponent + 1)}.${significand.slice(exponent + 1)}`;
  }
  return negative ? `-${text}` : text;
}

/**
 * XPath `string()`.
 * @param {Value} value
 * @returns {string}
 */
export function asString(value) {
  if (value === null) return '';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return formatNumber(value);
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.join(' ');
  return value.toString();
}

/**
 * Unanswered, `""` or an empty selection: what `coalesce` skips.
 * @param {Value} value
 */
export function isEmpty(value) {
  if (value === null) return true;
  if (typeof value === 'string') return value === '';
  if (Array.isArray(value)) return value.length === 0;
  return false;
}

/**
 * The chosen values, reading any other value as its whitespace-separated string.
 * @param {Value} value
 * @returns {string[]}
 */
export const choices = (value) => (Array.isArray(value) ? value.slice() : splitWhitespace(asString(value)));

/** @param {Value} value */
export const isTemporal = (value) => value instanceof DateValue || value instanceof DateTimeValue;

/**
 * Equality with NaN equal to itself and 0 equal to -0, for tests and caches.
 * @param {Value} left
 * @param {Value} right
 */
export function sameAs(left, right) {
  if (typeof left === 'number' && typeof right === 'number') {
    return (Number.isNaN(left) && Number.isNaN(right)) || left === right;
  }
  if (left instanceof DateValue && right instanceof DateValue) return left.days === right.days;
  if (left instanceof DateTimeValue && right instanceof DateTimeValue) {
    return left.unixMillis === right.unixMillis && left.offsetMinutes === right.offsetMinutes;
  }
  if (Array.isArray(left) && Array.isArray(right)) {
    return left.length === right.length && left.every((choice, index) => choice === right[index]);
  }
  return left === right;
}

/**
 * The plain JSON encoding.
 * @param {Value} value
 * @returns {JsonValue}
 */
export function toJson(value) {
  if (typeof value === 'number' && !Number.isFinite(value)) return { number: formatNumber(value) };
  if (value instanceof DateValue) return { date: value.toString() };
  if (value instanceof DateTimeValue) return { datetime: value.toString() };
  if (Array.isArray(value)) return { multi: value.slice() };
  return value;
}

/**
 * Reads the plain JSON encoding; throws on anything else.
 * @param {unknown} json
 * @returns {Value}
 */
export function fromJson(json) {
  if (json === null || typeof json === 'boolean' || typeof json === 'number' || typeof json === 'string') {
    return json;
  }
  if (typeof json === 'object' && !Array.isArray(json)) {
    const entries = Object.entries(json);
    if (entries.length === 1) {
      const [key, inner] = entries[0];
      if (key === 'date' && typeof inner === 'string') {
        const date = DateValue.parse(inner);
        if (date) return date;
        throw new Error('invalid date');
      }
      if (key === 'datetime' && typeof inner === 'string') {
        const datetime = DateTimeValue.parse(inner);
        if (datetime) return datetime;
        throw new Error('invalid date-time');
      }
      if (key === 'number' && typeof inner === 'string') {
        if (inner === 'NaN') return NaN;
        if (inner === 'Infinity') return Infinity;
        if (inner === '-Infinity') return -Infinity;
        throw new Error('invalid special number');
      }
      if (key === 'multi' && Array.isArray(inner) && inner.every((item) => typeof item === 'string')) {
        return inner.slice();
      }
    }
  }
  throw new Error('not a value encoding');
}
