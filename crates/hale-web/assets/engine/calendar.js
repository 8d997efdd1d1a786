// @ts-check
/**
 * @file Calendar arithmetic and the two text forms of time Hale accepts (`YYYY-MM-DD` and
 * RFC 3339 date-times), line for line as `hale-expr`'s calendar does it, in UTC and fixed
 * offsets only (never the browser's time zone).
 */

export const MILLIS_PER_DAY = 86_400_000;
const MILLIS_PER_MINUTE = 60_000;
const MIN_YEAR = 1;
const MAX_YEAR = 9999;
/** The largest UTC offset accepted, in minutes (±23:59). */
export const MAX_OFFSET_MINUTES = 23 * 60 + 59;

/**
 * Integer division truncating towards zero, as Rust's `/` on integers.
 * @param {number} a
 * @param {number} b
 */
const quotient = (a, b) => Math.trunc(a / b);

/**
 * Euclidean division by a positive divisor, as Rust's `div_euclid`.
 * @param {number} a
 * @param {number} b
 */
export const divEuclid = (a, b) => Math.floor(a / b);

/**
 * Euclidean remainder by a positive divisor, as Rust's `rem_euclid`.
 * @param {number} a
 * @param {number} b
 */
export const remEuclid = (a, b) => a - Math.floor(a / b) * b;

/**
 * Days since 1970-01-01 of a proleptic Gregorian date.
 * @param {number} year
 * @param {number} month 1–12
 * @param {number} day 1–31
 */
export function daysFromCivil(year, month, day) {
  // Counting years from March puts the leap day at the end of the year.
  const y = month <= 2 ? year - 1 : year;
  const era = divEuclid(y, 400);
  const yearOfEra = y - era * 400;
  const monthFromMarch = month > 2 ? month - 3 : month + 9;
  const dayOfYear = quotient(153 * monthFromMarch + 2, 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + quotient(yearOfEra, 4) - quotient(yearOfEra, 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/**
 * The (year, month, day) of a count of days since 1970-01-01.
 * @param {number} days
 * @returns {[number, number, number]}
 */
export function civilFromDays(days) {
  const shifted = days + 719_468;
  const era = divEuclid(shifted, 146_097);
  const dayOfEra = shifted - era * 146_097;
  const yearOfEra = quotient(
    dayOfEra - quotient(dayOfEra, 1460) + quotient(dayOfEra, 36_524) - quotient(dayOfEra, 146_096),
    365,
  );
  const dayOfYear = dayOfEra - (365 * yearOfEra + quotient(yearOfEra, 4) - quotient(yearOfEra, 100));
  const monthFromMarch = quotient(5 * dayOfYear + 2, 153);
  const day = dayOfYear - quotient(153 * monthFromMarch + 2, 5) + 1;
  const month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  return [year, month, day];
}

/** @param {number} year */
function isLeapYear(year) {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/**
 * @param {number} year
 * @param {number} month
 */
function daysInMonth(year, month) {
  switch (month) {
    case 1: case 3: case 5: case 7: case 8: case 10: case 12:
      return 31;
    case 4: case 6: case 9: case 11:
      return 30;
    case 2:
      return isLeapYear(year) ? 29 : 28;
    default:
      return 0;
  }
}

export const MIN_DAYS = daysFromCivil(MIN_YEAR, 1, 1);
export const MAX_DAYS = daysFromCivil(MAX_YEAR, 12, 31);

/**
 * A fixed number of ASCII digits at `start`, or null.
 * @param {string} text
 * @param {number} start
 * @param {number} count
 */
function digits(text, start, count) {
  if (start + count > text.length) return null;
  let total = 0;
  for (let index = start; index < start + count; index += 1) {
    const code = text.charCodeAt(index) - 48;
    if (code < 0 || code > 9) return null;
    total = total * 10 + code;
  }
  return total;
}

/**
 * @param {string} text
 * @param {number} index
 * @param {string} expected
 */
const at = (text, index, expected) => text[index] === expected;

/** @param {string} text */
function parseDatePrefix(text) {
  const year = digits(text, 0, 4);
  if (year === null || !at(text, 4, '-')) return null;
  const month = digits(text, 5, 2);
  if (month === null || !at(text, 7, '-')) return null;
  const day = digits(text, 8, 2);
  if (day === null) return null;
  if (year < MIN_YEAR || year > MAX_YEAR || month < 1 || month > 12) return null;
  if (day < 1 || day > daysInMonth(year, month)) return null;
  return daysFromCivil(year, month, day);
}

/**
 * Is every UTF-16 unit ASCII? Rust measures these texts in bytes, so a non-ASCII character
 * makes them longer there; checking ASCII keeps the length rules identical.
 * @param {string} text
 */
const isAscii = (text) => /^[\x00-\x7f]*$/.test(text);

/**
 * Exactly `YYYY-MM-DD`, as days since 1970-01-01.
 * @param {string} text
 * @returns {number | null}
 */
export function parseDate(text) {
  if (text.length !== 10 || !isAscii(text)) return null;
  return parseDatePrefix(text);
}

/**
 * `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` as [Unix milliseconds, offset minutes]; digits
 * of the fraction beyond milliseconds are dropped.
 * @param {string} text
 * @returns {[number, number] | null}
 */
export function parseDatetime(text) {
  if (!isAscii(text)) return null;
  const days = parseDatePrefix(text);
  if (days === null || !at(text, 10, 'T')) return null;
  const hour = digits(text, 11, 2);
  if (hour === null || !at(text, 13, ':')) return null;
  const minute = digits(text, 14, 2);
  if (minute === null || !at(text, 16, ':')) return null;
  const second = digits(text, 17, 2);
  if (second === null) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  let index = 19;
  let millis = 0;
  if (text[index] === '.') {
    index += 1;
    const fractionStart = index;
    while (index < text.length && text[index] >= '0' && text[index] <= '9') {
      if (index - fractionStart < 3) millis = millis * 10 + (text.charCodeAt(index) - 48);
      index += 1;
    }
    const fractionDigits = index - fractionStart;
    if (fractionDigits === 0) return null;
    for (let padding = fractionDigits; padding < 3; padding += 1) millis *= 10;
  }
  let offsetMinutes;
  const sign = text[index];
  if (sign === 'Z' && text.length === index + 1) {
    offsetMinutes = 0;
  } else if ((sign === '+' || sign === '-') && text.length === index + 6) {
    const offsetHour = digits(text, index + 1, 2);
    if (offsetHour === null || !at(text, index + 3, ':')) return null;
    const offsetMinute = digits(text, index + 4, 2);
    if (offsetMinute === null || offsetHour > 23 || offsetMinute > 59) return null;
    const magnitude = offsetHour * 60 + offsetMinute;
    offsetMinutes = sign === '-' ? -magnitude : magnitude;
  } else {
    return null;
  }
  const local = days * MILLIS_PER_DAY + hour * 3_600_000 + minute * MILLIS_PER_MINUTE + second * 1000 + millis;
  return [local - offsetMinutes * MILLIS_PER_MINUTE, offsetMinutes];
}

/**
 * @param {number} number
 * @param {number} width
 */
export const pad = (number, width) => String(number).padStart(width, '0');

/** @param {number} days */
export function formatDate(days) {
  const [year, month, day] = civilFromDays(days);
  return `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
}

/**
 * Milliseconds since 1970-01-01T00:00 on the wall clock of the offset.
 * @param {number} unixMillis
 * @param {number} offsetMinutes
 */
export const localMillis = (unixMillis, offsetMinutes) => unixMillis + offsetMinutes * MILLIS_PER_MINUTE;

/**
 * `YYYY-MM-DDTHH:MM:SS.mmm` then `Z` for a zero offset, else `±HH:MM`.
 * @param {number} unixMillis
 * @param {number} offsetMinutes
 */
export function formatDatetime(unixMillis, offsetMinutes) {
  const local = localMillis(unixMillis, offsetMinutes);
  const days = divEuclid(local, MILLIS_PER_DAY);
  const withinDay = remEuclid(local, MILLIS_PER_DAY);
  const hour = quotient(withinDay, 3_600_000);
  const minute = quotient(withinDay, MILLIS_PER_MINUTE) % 60;
  const second = quotient(withinDay, 1000) % 60;
  const millis = withinDay % 1000;
  let offset = 'Z';
  if (offsetMinutes !== 0) {
    const magnitude = Math.abs(offsetMinutes);
    offset = `${offsetMinutes < 0 ? '-' : '+'}${pad(quotient(magnitude, 60), 2)}:${pad(magnitude % 60, 2)}`;
  }
  return `${formatDate(days)}T${pad(hour, 2)}:${pad(minute, 2)}:${pad(second, 2)}.${pad(millis, 3)}${offset}`;
}
