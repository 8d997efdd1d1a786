// @ts-check
/**
 * @file Evaluating answers against a compiled form exactly as `hale-forms`' `validate.rs`
 * does (relevance and calculations in dependency order, then required, types, bounds,
 * choices, constraints and repeat rows, then the observations derived from coded answers),
 * while recording each field's state for the form on screen.
 */

import { readAnswer, sameComputed } from './answer.js';
import { evaluate } from './evaluate.js';
import { inLanguage } from './form.js';
import { deriveObservations } from './observe.js';
import { readsBeyondFields, references } from './parser.js';
import { DateTimeValue, asNumber, isEmpty, truthy } from './value.js';

/**
 * @typedef {import('./value.js').Value} Value
 * @typedef {import('./parser.js').Expr} Expr
 * @typedef {import('./form.js').Form} Form
 * @typedef {import('./form.js').CompiledField} CompiledField
 * @typedef {import('./evaluate.js').Env} Env
 * @typedef {{field: string, code: string, message: string}} FieldError
 * @typedef {{index: number, path: string, number: number, inRepeat: boolean}} Reading
 * @typedef {Map<number, Map<string, Value>[]>} RowValues every repeat's rows, by repeat index
 * @typedef {{relevant: boolean, required: boolean, readOnly: boolean, value: unknown, errors: {code: string, message: string}[],
 *   choices?: string[]}} FieldState `choices`: the values a select's choice_filter offers
 */

/** The state of one level (the top, or one repeat row) while it is evaluated. */
class Level {
  constructor() {
    /** @type {Map<string, Value>} */
    this.values = new Map();
    /** @type {Map<number, boolean>} */
    this.relevant = new Map();
    /** Fields whose answer was read, for the constraint pass. @type {number[]} */
    this.answered = [];
  }
}

/** @type {Map<string, Value>} */
const NO_VALUES = new Map();

/**
 * A member of a choice as a choice filter reads it: `name` is its value, `label` its label
 * in `language`, anything else one of its attributes (unanswered when it has none).
 * @param {import('./form.js').Choice} choice
 * @param {string} name
 * @param {string} language
 * @returns {Value}
 */
export function choiceMember(choice, name, language) {
  if (name === 'name') return choice.value;
  if (name === 'label') return inLanguage(choice.label, language);
  const attributes = choice.attributes ?? {};
  return Object.hasOwn(attributes, name) ? attributes[name] : null;
}

/**
 * The values of the choices a select's filter offers, in their order.
 * @param {CompiledField} field
 * @param {Expr} filter
 * @param {Env} answers the answers as the select's own expressions see them
 * @param {string} language
 * @returns {string[]}
 */
function offeredChoices(field, filter, answers, language) {
  return field.choices
    .filter((choice) => truthy(evaluate(filter, {
      ...answers,
      current: () => null,
      attribute: (name) => choiceMember(choice, name, language),
    })))
    .map((choice) => choice.value);
}

/**
 * Whether every chosen value that is one of the field's choices is offered (a free answer to
 * an open select is no choice, so no filter applies to it).
 * @param {CompiledField} field
 * @param {string[]} offered
 * @param {Value} value
 */
function chosenAreOffered(field, offered, value) {
  /** @type {string[]} */
  let chosen = [];
  if (typeof value === 'string') chosen = [value];
  else if (Array.isArray(value)) chosen = value;
  return chosen.every((one) => !field.choices.some((choice) => choice.value === one) || offered.includes(one));
}

/**
 * A submitted computed value read back as an expression value, for `.` and `once(…)`.
 * @param {unknown} json
 * @returns {Value}
 */
function computedValue(json) {
  if (typeof json === 'boolean' || typeof json === 'number' || typeof json === 'string') return json;
  return null;
}

/**
 * A computed value as an answer would carry it: numbers (null when not finite), booleans,
 * text; dates, date-times and selections as their text.
 * @param {Value} value
 * @returns {unknown}
 */
function asAnswer(value) {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  return Array.isArray(value) ? value.join(' ') : value.toString();
}

/**
 * @param {CompiledField} field
 * @param {number} number
 * @returns {[string, string] | null}
 */
function checkNumber(field, number) {
  if (!Number.isFinite(number)) return ['not_a_number', 'the answer must be a finite number'];
  if (field.min !== undefined && number < field.min) return ['below_minimum', "the answer is below the field's minimum"];
  if (field.max !== undefined && number > field.max) return ['above_maximum', "the answer is above the field's maximum"];
  if (field.type === 'range' && field.min !== undefined) {
    const steps = (number - field.min) / (field.step ?? 1.0);
    const nearest = steps < 0 ? -Math.round(-steps) : Math.round(steps);
    if (Math.abs(steps - nearest) > 1e-9) return ['off_step', "the answer is not on the range's steps"];
  }
  return null;
}

/** One evaluation of every level: errors, readings, each field's state. */
class Run {
  /**
   * @param {Form} form
   * @param {DateTimeValue} now
   * @param {RowValues} rows repeat rows as the previous pass left them
   * @param {string} seed
   */
  constructor(form, now, rows, seed) {
    this.form = form;
    this.now = now;
    this.rows = rows;
    this.seed = seed;
    /** @type {FieldError[]} */
    this.errors = [];
    /** @type {Reading[]} */
    this.readings = [];
    /** (repeat index, 0-based row) of the row being evaluated. @type {[number, number] | null} */
    this.position = null;
    /** @type {Record<string, FieldState>} */
    this.states = {};
  }

  /**
   * @param {string} field
   * @param {string} code
   * @param {string} message
   */
  error(field, code, message) {
    this.errors.push({ field, code, message });
  }

  /**
   * The values an expression can read: the current row's first, then the top level.
   * @param {Map<string, Value>} top
   * @param {Map<string, Value> | null} row
   * @param {Value} current
   * @param {string} fieldName
   * @returns {Env}
   */
  scope(top, row, current, fieldName) {
    const { form, rows, seed, now } = this;
    const position = this.position;
    /** @param {string} field */
    const value = (field) => {
      if (row && row.has(field)) return /** @type {Value} */ (row.get(field));
      return top.get(field) ?? null;
    };
    return {
      value,
      current: () => current,
      now: () => now,
      nodes: (field) => {
        const index = form.index.get(field);
        if (index === undefined) return [null];
        const target = form.fields[index];
        const ownRepeat = position ? position[0] : undefined;
        /** @param {number} repeat */
        const rowsOf = (repeat) => rows.get(repeat) ?? [];
        if (target.type === 'repeat' && ownRepeat !== index) return rowsOf(index).map(() => null);
        if (target.repeat !== undefined && ownRepeat !== target.repeat) {
          return rowsOf(target.repeat).map((values) => values.get(field) ?? null);
        }
        return [value(field)];
      },
      position: () => (position ? position[1] + 1 : null),
      choiceLabel: (field, choice) => {
        const index = form.index.get(field);
        const found = index === undefined ? undefined : form.fields[index].choices.find((known) => known.value === choice);
        return found ? inLanguage(found.label, form.default_language) : '';
      },
      randomSite: () => [seed, position ? `${fieldName}#${position[1] + 1}` : fieldName],
    };
  }

  /**
   * @param {Expr} expr
   * @param {Map<string, Value>} top
   * @param {Level} level
   * @param {boolean} inRow
   * @param {string} fieldName
   */
  truthy(expr, top, level, inRow, fieldName) {
    return truthy(evaluate(expr, this.scope(top, inRow ? level.values : null, null, fieldName)));
  }

  /**
   * Evaluates one level: `repeat` undefined for the top, else the repeat's index; `prefix` is
   * put before field names in error paths.
   * @param {Record<string, unknown>} answers
   * @param {number | undefined} repeat
   * @param {string} prefix
   * @param {Level | null} top
   */
  level(answers, repeat, prefix, top) {
    const form = this.form;
    const level = new Level();
    const inRow = top !== null;
    const unknown = Object.keys(answers).filter((key) => !form.fields.some((field, index) =>
      field.repeat === repeat && field.name === key && index !== repeat && field.type !== 'group')).length;
    if (unknown > 0) {
      // Keys are client-chosen text (possibly PHI): name the object holding them, never a key.
      const holder = prefix.endsWith('.') ? prefix.slice(0, -1) : 'answers';
      this.error(holder, 'unknown_field', unknown === 1 ? '1 answer names no field of this app' : `${unknown} answers name no field of this app`);
    }
    for (const index of form.order) {
      const field = form.fields[index];
      if (field.repeat !== repeat || index === repeat) continue;
      const topValues = top ? top.values : NO_VALUES;
      const valuesForEval = inRow ? topValues : level.values;
      let parentRelevant = true;
      if (field.parent !== undefined && field.parent !== repeat) {
        parentRelevant = level.relevant.get(field.parent) ?? top?.relevant.get(field.parent) ?? true;
      }
      const relevant = parentRelevant
        && (field.relevant === undefined || this.truthy(field.relevant, valuesForEval, level, inRow, field.name));
      level.relevant.set(index, relevant);
      const path = `${prefix}${field.name}`;
      const raw = Object.hasOwn(answers, field.name) ? answers[field.name] : null;
      const submitted = raw === null || raw === undefined ? undefined : raw;
      /** @type {FieldState} */
      const state = { relevant, required: false, readOnly: field.read_only, value: submitted ?? null, errors: [] };
      this.states[path] = state;
      if (field.type === 'group') continue;
      if (field.calculation !== undefined && field.type !== 'repeat' && (field.read_only || field.type === 'calculate')) {
        // `.` (and so `once(…)`) reads the submitted value.
        const own = submitted === undefined ? null : computedValue(submitted);
        const calculation = field.calculation;
        let value = relevant
          ? evaluate(calculation, this.scope(valuesForEval, inRow ? level.values : null, own, field.name))
          : null;
        // A triggered value was computed when its trigger last changed: checked only when the
        // calculation reads nothing but the triggers, whose final answers it then saw.
        const checkable = field.trigger.length === 0
          || (!readsBeyondFields(calculation) && [...references(calculation)].every((name) => field.trigger.includes(name)));
        if (submitted !== undefined) {
          if (!relevant) this.error(path, 'not_relevant', 'this field is not relevant and must not be answered');
          else if (!checkable) {
            if (field.type === 'calculate') value = own;
            else {
              const read = readAnswer(field, submitted);
              if ('problem' in read) {
                this.error(path, read.problem.code, read.problem.message);
                value = null;
              } else value = read.answer.value;
            }
          } else if (!sameComputed(value, submitted)) {
            this.error(path, 'calculation_mismatch', 'the submitted value differs from the calculation');
          }
        } else if (field.trigger.length > 0) {
          // Unsubmitted, it holds what its trigger last gave it: nothing until one is answered.
          const scope = this.scope(valuesForEval, inRow ? level.values : null, null, field.name);
          const triggered = field.trigger.some((name) => !isEmpty(scope.value(name)));
          if (!checkable || !triggered) value = null;
        }
        if (typeof value === 'number' && Number.isFinite(value) && field.code !== undefined) {
          this.readings.push({ index, path, number: value, inRepeat: inRow });
        }
        state.value = asAnswer(value);
        level.values.set(field.name, value);
      } else if (field.type === 'note') {
        if (submitted !== undefined) this.error(path, 'not_answerable', 'a note takes no answer');
      } else if (field.type === 'repeat') {
        const count = field.repeat_count === undefined
          ? null
          : asNumber(evaluate(field.repeat_count, this.scope(valuesForEval, inRow ? level.values : null, null, field.name)));
        const rows = this.checkRepeat(field, submitted, relevant, path, count);
        state.value = rows;
        level.values.set(field.name, rows);
      } else {
        const required = field.required
          || (field.required_if !== undefined && this.truthy(field.required_if, valuesForEval, level, inRow, field.name));
        state.required = required;
        if (field.read_only && submitted !== undefined && !sameJsonValue(submitted, field.default)) {
          this.error(path, 'read_only', 'this field is read-only: its answer is its default');
        }
        if (submitted === undefined && relevant && required) {
          const message = field.required_message === undefined
            ? 'an answer is required'
            : inLanguage(field.required_message, form.default_language);
          this.error(path, 'required', message);
        }
        let value = this.answer(field, index, submitted, relevant, path, inRow);
        if (field.choice_filter !== undefined) {
          const scope = this.scope(valuesForEval, inRow ? level.values : null, null, field.name);
          state.choices = offeredChoices(field, field.choice_filter, scope, form.default_language);
          if (!chosenAreOffered(field, state.choices, value)) {
            this.error(path, 'choice_not_offered', "the answer is not among the choices the field's choice_filter offers");
            value = null;
          }
        }
        if (!isEmpty(value)) level.answered.push(index);
        level.values.set(field.name, value);
      }
    }
    // Constraints may read any field, including later ones, so they run once every value
    // of the level is known.
    for (const index of level.answered) {
      const field = form.fields[index];
      if (field.constraint === undefined) continue;
      const topValues = top ? top.values : level.values;
      const current = level.values.get(field.name) ?? null;
      const scope = this.scope(topValues, inRow ? level.values : null, current, field.name);
      if (!truthy(evaluate(field.constraint, scope))) {
        const message = field.constraint_message === undefined
          ? "the answer does not meet the field's constraint"
          : inLanguage(field.constraint_message, form.default_language);
        this.error(`${prefix}${field.name}`, 'constraint_failed', message);
      }
    }
    return level;
  }

  /**
   * Checks a repeat's rows (not their contents) and returns how many there are.
   * @param {CompiledField} field
   * @param {unknown} submitted
   * @param {boolean} relevant
   * @param {string} path
   * @param {number | null} count
   */
  checkRepeat(field, submitted, relevant, path, count) {
    if (submitted === undefined) {
      if (relevant && field.min_count !== undefined && field.min_count > 0) {
        this.error(path, 'too_few_rows', 'the repeat has fewer rows than its minimum');
      }
      return 0;
    }
    if (!Array.isArray(submitted)) {
      this.error(path, 'not_a_list', "a repeat's answer is a list of rows");
      return 0;
    }
    if (!relevant) {
      if (submitted.length > 0) this.error(path, 'not_relevant', 'this field is not relevant and must not be answered');
      return 0;
    }
    // `repeat_count`: exactly that many rows (none when it is not a number, as ODK does).
    if (count !== null) {
      const wanted = Number.isFinite(count) && count > 0 ? Math.trunc(count) : 0;
      if (submitted.length !== wanted) {
        this.error(path, 'row_count_mismatch', 'the repeat does not have the number of rows its repeat_count gives');
      }
    }
    if (field.min_count !== undefined && submitted.length < field.min_count) {
      this.error(path, 'too_few_rows', 'the repeat has fewer rows than its minimum');
    }
    if (field.max_count !== undefined && submitted.length > field.max_count) {
      this.error(path, 'too_many_rows', 'the repeat has more rows than its maximum');
    }
    return submitted.length;
  }

  /**
   * @param {CompiledField} field
   * @param {number} index
   * @param {unknown} submitted
   * @param {boolean} relevant
   * @param {string} path
   * @param {boolean} inRepeat
   * @returns {Value}
   */
  answer(field, index, submitted, relevant, path, inRepeat) {
    if (submitted === undefined) return null;
    if (!relevant) {
      this.error(path, 'not_relevant', 'this field is not relevant and must not be answered');
      return null;
    }
    const read = readAnswer(field, submitted);
    if ('problem' in read) {
      this.error(path, read.problem.code, read.problem.message);
      return null;
    }
    const { answer } = read;
    if (field.type === 'select_multiple' && Array.isArray(submitted)) {
      if (field.min_count !== undefined && submitted.length < field.min_count) {
        this.error(path, 'too_few_choices', "fewer choices are selected than the field's minimum");
        return null;
      }
      if (field.max_count !== undefined && submitted.length > field.max_count) {
        this.error(path, 'too_many_choices', "more choices are selected than the field's maximum");
        return null;
      }
    }
    if (answer.number !== null) {
      const problem = checkNumber(field, answer.number);
      if (problem) {
        this.error(path, problem[0], problem[1]);
        return null;
      }
      if (field.code !== undefined) this.readings.push({ index, path, number: answer.number, inRepeat });
    }
    return answer.value;
  }
}

/**
 * Equality of two JSON values as serde_json compares them (numbers by value).
 * @param {unknown} left
 * @param {unknown} right
 * @returns {boolean}
 */
function sameJsonValue(left, right) {
  if (Array.isArray(left) && Array.isArray(right)) {
    return left.length === right.length && left.every((item, index) => sameJsonValue(item, right[index]));
  }
  if (left && right && typeof left === 'object' && typeof right === 'object') {
    const leftKeys = Object.keys(left);
    return leftKeys.length === Object.keys(right).length && leftKeys.every((key) => Object.hasOwn(right, key)
      && sameJsonValue(/** @type {any} */ (left)[key], /** @type {any} */ (right)[key]));
  }
  return left === right;
}

/**
 * Whether an expression outside a repeat reads that repeat's rows: the top level then needs
 * the rows first, so evaluation runs in passes.
 * @param {Form} form
 */
function readsRowsAcrossLevels(form) {
  return form.fields.some((field) => [field.relevant, field.calculation, field.constraint, field.repeat_count, field.required_if]
    .some((expr) => expr !== undefined && [...references(expr)].some((name) => {
      const index = form.index.get(name);
      if (index === undefined) return false;
      const target = form.fields[index];
      const rowsOf = target.type === 'repeat' ? index : target.repeat;
      return rowsOf !== undefined && rowsOf !== field.repeat;
    })));
}

/**
 * One evaluation of every level: the run, the top level, and every repeat row's values.
 * @param {Form} form
 * @param {Record<string, unknown>} answers
 * @param {DateTimeValue} now
 * @param {string} seed
 * @param {RowValues} rows
 * @returns {[Run, Level, RowValues]}
 */
function pass(form, answers, now, seed, rows) {
  const run = new Run(form, now, rows, seed);
  const top = run.level(answers, undefined, '', null);
  /** @type {RowValues} */
  const nextRows = new Map();
  form.fields.forEach((field, index) => {
    if (field.type !== 'repeat' || field.repeat !== undefined || !top.relevant.get(index)) return;
    const submitted = answers[field.name];
    if (!Array.isArray(submitted)) return;
    /** @type {Map<string, Value>[]} */
    const values = [];
    nextRows.set(index, values);
    submitted.forEach((row, rowNumber) => {
      run.position = [index, rowNumber];
      if (row !== null && typeof row === 'object' && !Array.isArray(row)) {
        values.push(run.level(/** @type {Record<string, unknown>} */ (row), index, `${field.name}[${rowNumber}].`, top).values);
      } else {
        run.error(`${field.name}[${rowNumber}]`, 'not_an_object', 'a repeat row is an object of answers');
        values.push(new Map());
      }
    });
    run.position = null;
  });
  return [run, top, nextRows];
}

/**
 * @typedef {object} FormState
 * @property {Record<string, FieldState>} fields by field name, or `repeat[row].name` in a repeat row
 * @property {boolean} valid
 * @property {FieldError[]} errors
 * @property {{code: string, value: number, unit: string}[]} observations
 * @property {number | null} news2_total
 * @property {import('./news2.js').News2Score | null} news2
 */

/**
 * Evaluates answers (the JSON object the server's `answers` takes) at `now` (a `Date`, or
 * RFC 3339 text, read in UTC as the server does): every field's state with calculated values
 * filled in, and the errors, observations and NEWS2 total the server's validation gives.
 * @param {Form} form
 * @param {Record<string, unknown>} answers
 * @param {Date | string} now
 * @param {string} [seed] the submission's seed for `random()` and `uuid()`
 * @returns {FormState}
 */
export function formState(form, answers, now, seed = '') {
  // What the server reads is the answers' JSON text: the same round trip here drops what
  // JSON cannot carry (undefined, NaN) and reads numbers as that text gives them.
  const wire = JSON.parse(JSON.stringify(answers ?? {}));
  const millis = typeof now === 'string' ? (DateTimeValue.parse(now)?.unixMillis ?? NaN) : now.getTime();
  const clock = DateTimeValue.create(millis, 0) ?? DateTimeValue.create(0, 0);
  if (!clock || Number.isNaN(millis)) throw new Error('the clock is not a valid date-time');
  const passes = readsRowsAcrossLevels(form) ? 3 : 1;
  /** @type {RowValues} */
  let rows = new Map();
  /** @type {[Run, Level, RowValues] | null} */
  let outcome = null;
  for (let round = 0; round < passes; round += 1) {
    outcome = pass(form, wire, clock, seed, rows);
    rows = outcome[2];
  }
  const [run, top] = /** @type {[Run, Level, RowValues]} */ (outcome);
  const errors = run.errors;
  const derived = deriveObservations(form, run.readings, top.values, errors);
  for (const error of errors) run.states[error.field]?.errors.push({ code: error.code, message: error.message });
  const valid = errors.length === 0;
  return {
    fields: run.states,
    valid,
    errors,
    observations: valid ? derived.observations : [],
    news2_total: valid && derived.news2 ? derived.news2.total : null,
    news2: valid ? derived.news2 : null,
  };
}
