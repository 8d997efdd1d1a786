// @ts-check
/**
 * @file Hale's form engine for the browser: the same expression language and validation as
 * the server (`hale-expr`, `hale-forms`), so a form is evaluated offline exactly as the server
 * will judge it. Plain ES modules, no dependencies.
 *
 * - `compile(definition)` checks a `hale.app/1` definition and prepares it (throws `Error`).
 * - `formState(form, answers, now)` evaluates answers: every field's relevance, requirement,
 *   value and errors, and the errors, observations and NEWS2 total the server would give.
 * - `evaluate(expression, env, current, now)` evaluates one expression; values in and out use
 *   the plain JSON encoding (`{"date": …}`, `{"datetime": …}`, `{"multi": […]}`,
 *   `{"number": "NaN"}`).
 */

import { parse, parseChoiceFilter } from './parser.js';
import { evaluate as evaluateTree, nthRow } from './evaluate.js';
import { DateTimeValue, fromJson, toJson } from './value.js';

export { namedChoices } from './checks.js';
export { compile } from './form.js';
export { formState } from './validate.js';
export { ParseError, parse, parseChoiceFilter } from './parser.js';

/**
 * @typedef {import('./value.js').Value} Value
 * @typedef {import('./value.js').JsonValue} JsonValue
 * @typedef {import('./evaluate.js').Env} Env
 */

/**
 * A clock reading as the engine's date-time: a `Date` is read in UTC; text is RFC 3339 and
 * keeps its own offset.
 * @param {Date | string} now
 * @returns {DateTimeValue}
 */
export function readClock(now) {
  const clock = typeof now === 'string'
    ? DateTimeValue.parse(now)
    : DateTimeValue.create(now.getTime(), 0);
  if (!clock) throw new Error('the clock is not a valid RFC 3339 date-time');
  return clock;
}

/**
 * What an expression can read beyond field values: repeat rows for `count`, `sum`, …, the
 * row for `position(..)`, choice labels for `jr:choice-name`, the seed and call site for
 * `random()` and `uuid()`.
 * @typedef {object} Extras
 * @property {Record<string, JsonValue[]>} [nodes]
 * @property {JsonValue} [position]
 * @property {Record<string, Record<string, string>>} [labels]
 * @property {string} [seed]
 * @property {string} [site]
 * @property {Record<string, JsonValue>} [choice] the members of the choice a choice filter decides on
 */

/**
 * An environment over plain maps, as `hale-expr`'s `MapEnv`.
 * @param {Record<string, JsonValue>} values
 * @param {JsonValue} current
 * @param {DateTimeValue} now
 * @param {Extras} [extras]
 * @returns {Env}
 */
export function mapEnv(values, current, now, extras = {}) {
  const read = new Map(Object.entries(values).map(([name, json]) => [name, fromJson(json)]));
  const rows = new Map(Object.entries(extras.nodes ?? {}).map(([name, list]) => [name, list.map(fromJson)]));
  const own = fromJson(current);
  const position = fromJson(extras.position ?? null);
  /** @param {string} field */
  const value = (field) => read.get(field) ?? null;
  return {
    value,
    current: () => own,
    now: () => now,
    nodes: (field) => rows.get(field) ?? [value(field)],
    // One repeat's rows are the nodes given; the rows of nested repeats are the form's.
    indexedRepeat: (field, steps) => (steps.length === 1 ? nthRow(rows.get(field) ?? [value(field)], steps[0][1]) : null),
    position: () => position,
    choiceLabel: (field, choice) => {
      const labels = extras.labels ?? {};
      return Object.hasOwn(labels, field) && Object.hasOwn(labels[field], choice) ? labels[field][choice] : '';
    },
    randomSite: () => [extras.seed ?? '', extras.site ?? ''],
    attribute: (name) => (extras.choice && Object.hasOwn(extras.choice, name) ? fromJson(extras.choice[name]) : null),
  };
}

/**
 * Evaluates expression source with field values `env`, `.` as `current` and the clock `now`;
 * throws `ParseError` when the source does not parse.
 * @param {string} expression
 * @param {Record<string, JsonValue>} env
 * @param {JsonValue} current
 * @param {Date | string} now
 * @param {Extras} [extras]
 * @returns {JsonValue}
 */
export function evaluate(expression, env, current, now, extras) {
  const tree = extras?.choice ? parseChoiceFilter(expression) : parse(expression);
  return toJson(evaluateTree(tree, mapEnv(env, current, readClock(now), extras)));
}
