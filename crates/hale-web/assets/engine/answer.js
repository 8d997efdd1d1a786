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
 * @param {CompiledField} field
 * @param {string} choice
 */
const isChoice = (field, choice) => field.choices.some((known) => known.value === choice) || openAnswer(field, choice);

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
    case 'select_multiple': {
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
    case 'photo': {
      if (typeof json !== 'string') return refuse('invalid_attachment', 'the answer must be an attachment reference');
      const valid = json !== '' && charCount(json) <= MAX_ATTACHMENT_REFERENCE && !/[\p{White_Space}\p{Cc}]/u.test(json);
      if (valid) return plain(json);
      return refuse('invalid_attachment', 'an attachment reference is at most 256 characters without spaces');
    }
    default:
      return refuse('not_answerable', 'this field is not answered by the client');
  }
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
