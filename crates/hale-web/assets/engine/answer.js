// @ts-check
/**
 * @file Reading one submitted answer against its field's type, as `hale-forms`' `answer.rs`
 * does: the value expressions see, the number in the field's own unit for numeric fields, or
 * a problem with a stable code and a message that never quotes the answer.
 */

import { convertReading } from './units.js';
import { vital } from './vitals.js';
import { DateTimeValue, DateValue, asString, charCount, trim } from './value.js';

/**
 * @typedef {import('./value.js').Value} Value
 * @typedef {import('./form.js').CompiledField} CompiledField
 * @typedef {{value: Value, number: number | null}} Answer
 * @typedef {{code: string, message: string}} Problem
 */

/** Largest magnitude of an integer answer: every integer up to 2^53 is exactly an f64. */
const MAX_EXACT_INTEGER = 9_007_199_254_740_992;
/** Longest text answer, in characters. */
export const MAX_TEXT_LENGTH = 10_000;
/** Longest attachment reference, in characters. */
const MAX_ATTACHMENT_REFERENCE = 256;

/** Thrown with a {@link Problem} while an answer is read. */
class AnswerProblem extends Error {
  /**
   * @param {string} code
   * @param {string} message
   */
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/**
 * @param {string} code
 * @param {string} message
 * @returns {never}
 */
function refuse(code, message) {
  throw new AnswerProblem(code, message);
}

/**
 * Whether a JSON number was written as an integer literal that serde reads as i64 or u64:
 * no fraction or exponent when serialised, within those types' range.
 * @param {number} number
 */
const isIntegerLiteral = (number) => !/[.eE]/.test(JSON.stringify(number)) && number >= -(2 ** 63) && number < 2 ** 64;

/** @param {unknown} json */
const isObject = (json) => typeof json === 'object' && json !== null && !Array.isArray(json);

/**
 * A number, or `{"value": n, "unit": u}` in one of the field's accepted units, in the field's
 * own unit.
 * @param {CompiledField} field
 * @param {unknown} json
 * @returns {number}
 */
function readNumber(field, json) {
  if (typeof json === 'number') return json;
  if (!isObject(json)) return refuse('not_a_number', 'the answer must be a number');
  const quantity = /** @type {Record<string, unknown>} */ (json);
  const { value, unit } = quantity;
  if (Object.keys(quantity).length !== 2 || typeof value !== 'number' || typeof unit !== 'string') {
    return refuse('invalid_quantity', 'a quantity is {"value": number, "unit": UCUM unit}');
  }
  const own = field.unit;
  if (own === undefined) return refuse('unit_not_accepted', 'this field takes a plain number, without unit');
  if (unit === own) return value;
  if (!field.accepted_units.includes(unit)) return refuse('unit_not_accepted', 'the unit is not one this field accepts');
  const sign = field.code === undefined ? null : vital(field.code);
  const converted = convertReading(value, unit, own, sign ? sign.analyte : null);
  return converted ?? refuse('unit_not_accepted', 'the unit cannot be converted');
}

/** @param {string} text */
function isTime(text) {
  const parts = text.split(':');
  // Rust reads each part as a u32, which allows a leading `+`.
  /**
   * @param {string} part
   * @param {number} limit
   */
  const twoDigits = (part, limit) => /^(\+[0-9]|[0-9]{2})$/.test(part) && Number(part) < limit;
  return (parts.length === 2 || parts.length === 3)
    && twoDigits(parts[0], 24)
    && twoDigits(parts[1], 60)
    && (parts.length === 2 || twoDigits(parts[2], 60));
}

/**
 * A free-text answer to an open select: non-empty, within the text limit.
 * @param {CompiledField} field
 * @param {string} answer
 */
const openAnswer = (field, answer) => field.open && trim(answer) !== '' && charCount(answer) <= MAX_TEXT_LENGTH;

/**
 * For choices from a repeat's answers, a text that a row may have given (that one did is
 * checked with the rows, in validation).
 * @param {CompiledField} field
 * @param {string} answer
 */
const fromRows = (field, answer) => field.choices_from !== undefined && answer !== '' && charCount(answer) <= MAX_TEXT_LENGTH;

/**
 * Whether `choice` can be one of the field's choices: one of its own, a free answer to an
 * open select, or a text a repeat's row may have given.
 * @param {CompiledField} field
 * @param {string} choice
 */
const isChoice = (field, choice) => fromRows(field, choice)
  || field.choices.some((known) => known.value === choice) || openAnswer(field, choice);

/**
 * @param {CompiledField} field
 * @param {unknown} json
 * @returns {Answer}
 */
function readTyped(field, json) {
  /** @param {Value} value */
  const plain = (value) => ({ value, number: null });
  switch (field.type) {
    case 'integer': {
      const number = readNumber(field, json);
      // The integer rule applies to what the person typed: an integer literal.
      if (typeof json === 'number' && !isIntegerLiteral(json)) {
        refuse('not_an_integer', 'the answer must be a whole number, written without a fraction or exponent');
      }
      if (Math.abs(number) > MAX_EXACT_INTEGER) {
        refuse('out_of_range', 'the answer is larger than a whole number Hale keeps exactly');
      }
      return { value: number, number };
    }
    case 'decimal':
    case 'range': {
      const number = readNumber(field, json);
      return { value: number, number };
    }
    case 'text': {
      if (typeof json !== 'string') return refuse('not_text', 'the answer must be text');
      const length = charCount(json);
      if (length > MAX_TEXT_LENGTH) refuse('too_long', 'the answer is longer than 10000 characters');
      if (field.max_length !== undefined && length > field.max_length) {
        refuse('too_long', "the answer is longer than the field's max_length");
      }
      return plain(json);
    }
    case 'select_one':
      if (typeof json !== 'string') return refuse('not_a_choice', 'the answer must be one choice value');
      if (!isChoice(field, json)) return refuse('invalid_choice', "the answer is not one of the field's choices");
      return plain(json);
    // A ranking is read as a list of choices; that it orders every offered choice is checked
    // with the choice filter, which decides what is offered.
    case 'select_multiple':
    case 'rank': {
      if (!Array.isArray(json)) return refuse('not_a_choice_list', 'the answer must be a list of choice values');
      const seen = new Set();
      for (const item of json) {
        if (typeof item !== 'string' || !isChoice(field, item)) {
          refuse('invalid_choice', "an answer is not one of the field's choices");
        }
        if (seen.has(item)) refuse('duplicate_choice', 'a choice is given twice');
        seen.add(item);
      }
      return plain(json.slice());
    }
    case 'date': {
      const date = typeof json === 'string' ? DateValue.parse(json) : null;
      return date ? plain(date) : refuse('invalid_date', 'the answer must be a date, YYYY-MM-DD');
    }
    case 'datetime': {
      const datetime = typeof json === 'string' ? DateTimeValue.parse(json) : null;
      return datetime ? plain(datetime) : refuse('invalid_datetime', 'the answer must be an RFC 3339 date-time with offset');
    }
    case 'time':
      if (typeof json === 'string' && isTime(json)) return plain(json);
      return refuse('invalid_time', 'the answer must be a time, HH:MM or HH:MM:SS');
    case 'boolean':
      if (typeof json === 'boolean') return plain(json);
      return refuse('not_a_boolean', 'the answer must be true or false');
    case 'acknowledge':
      if (json === true) return plain(true);
      if (json === false) return refuse('not_acknowledged', 'an acknowledgement is true; leave it out when not given');
      return refuse('not_a_boolean', 'the answer must be true');
    case 'file':
    case 'photo':
    case 'audio':
    case 'video':
      return plain(readAttachment(field.type, json));
    case 'geopoint':
    case 'geotrace':
    case 'geoshape':
      if (typeof json === 'string' && isLocation(field.type, json)) return plain(json);
      return refuse('invalid_location', 'the answer must be points "lat lon [altitude [accuracy]]" separated by \';\': one for a geopoint, two or more for a geotrace, four or more ending where they began for a geoshape');
    case 'barcode':
      if (typeof json === 'string' && json !== '' && charCount(json) <= MAX_TEXT_LENGTH) return plain(json);
      return refuse('invalid_barcode', "the answer must be the barcode's text, 1 to 10000 characters");
    default:
      return refuse('not_answerable', 'this field is not answered by the client');
  }
}

/** Largest attachment size an answer may state, in bytes. */
const MAX_ATTACHMENT_SIZE = 100 * 1024 * 1024;

/** The top-level media type each attachment field takes (a file takes any). */
const MEDIA_TOPS = /** @type {Record<string, string>} */ ({ photo: 'image', audio: 'audio', video: 'video' });

/** An RFC 2045 token, what a media type's type and subtype are made of. */
const TOKEN = /^[!#$%&'*+\-.^_`{|}~0-9A-Za-z]{1,127}$/;

/**
 * An attachment answer: its reference, as a string or as `{reference, media_type, size}`
 * (the last two optional); a stated media type must fit the field, a stated size must be a
 * whole number of bytes up to 100 MiB. Expressions see the reference.
 * @param {string} type
 * @param {unknown} json
 * @returns {string}
 */
function readAttachment(type, json) {
  const invalid = () => refuse('invalid_attachment', 'the answer must be an attachment reference, or {"reference", "media_type", "size"}');
  let reference = json;
  if (isObject(json)) {
    const members = /** @type {Record<string, unknown>} */ (json);
    if (Object.keys(members).some((key) => !['reference', 'media_type', 'size'].includes(key))) invalid();
    if (Object.hasOwn(members, 'media_type')) {
      const mediaType = members.media_type;
      const parts = typeof mediaType === 'string' ? mediaType.split('/') : [];
      const top = MEDIA_TOPS[type];
      // Rust splits at the first '/': a second one is not a token character.
      const fits = parts.length === 2 && TOKEN.test(parts[0]) && TOKEN.test(parts[1])
        && (top === undefined || parts[0].toLowerCase() === top);
      if (!fits) refuse('media_type_not_accepted', "the attachment's media type is not one this field takes");
    }
    if (Object.hasOwn(members, 'size')) {
      const size = members.size;
      if (!(typeof size === 'number' && isIntegerLiteral(size) && size >= 0 && size <= MAX_ATTACHMENT_SIZE)) {
        refuse('attachment_too_large', "an attachment's size is a whole number of bytes, at most 100 MiB");
      }
    }
    reference = members.reference;
  }
  if (typeof reference !== 'string') return invalid();
  const valid = reference !== '' && charCount(reference) <= MAX_ATTACHMENT_REFERENCE && !/[\p{White_Space}\p{Cc}]/u.test(reference);
  if (!valid) refuse('invalid_attachment', 'an attachment reference is at most 256 characters without spaces');
  return reference;
}

/**
 * A location answer as XLSForm clients write it: points separated by `;`, each two to four
 * plain decimals separated by spaces (latitude −90 to 90, longitude −180 to 180, altitude,
 * accuracy ≥ 0); a geotrace has two points or more, a geoshape four or more, closed.
 * @param {string} type
 * @param {string} text
 */
function isLocation(type, text) {
  if (charCount(text) > MAX_TEXT_LENGTH) return false;
  const points = text.split(';').map(locationPoint);
  if (points.some((point) => point === null)) return false;
  if (type === 'geopoint') return points.length === 1;
  if (type === 'geotrace') return points.length >= 2;
  const first = /** @type {number[]} */ (points[0]);
  const last = /** @type {number[]} */ (points[points.length - 1]);
  return points.length >= 4 && first.length === last.length && first.every((number, index) => number === last[index]);
}

/**
 * @param {string} text
 * @returns {number[] | null}
 */
function locationPoint(text) {
  const parts = text.split(' ').filter((part) => part !== '');
  if (!parts.every((part) => /^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$/.test(part))) return null;
  const numbers = parts.map(Number);
  if (numbers.length < 2 || numbers.length > 4) return null;
  const [latitude, longitude, , accuracy] = numbers;
  const inRange = Math.abs(latitude) <= 90 && Math.abs(longitude) <= 180 && (accuracy === undefined || accuracy >= 0);
  return inRange ? numbers : null;
}

/**
 * Reads one present (non-null) answer.
 * @param {CompiledField} field
 * @param {unknown} json
 * @returns {{answer: Answer} | {problem: Problem}}
 */
export function readAnswer(field, json) {
  try {
    return { answer: readTyped(field, json) };
  } catch (error) {
    if (error instanceof AnswerProblem) return { problem: { code: error.code, message: error.message } };
    throw error;
  }
}

/**
 * Whether a submitted calculated answer equals the computed value.
 * @param {Value} computed
 * @param {unknown} submitted
 */
export function sameComputed(computed, submitted) {
  if (typeof computed === 'number' && typeof submitted === 'number') {
    return Math.abs(computed - submitted) <= 1e-9 * Math.max(Math.abs(computed), 1.0);
  }
  if (typeof computed === 'boolean' && typeof submitted === 'boolean') return computed === submitted;
  if (typeof submitted === 'string') return asString(computed) === submitted;
  return false;
}
