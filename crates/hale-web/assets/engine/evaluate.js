// @ts-check
/**
 * @file Evaluates a parsed expression tree against an environment of field values, the
 * current field and the clock, with `hale-expr`'s semantics. Total: every input yields a
 * value, never an exception.
 */

import { MAX_TREE_DEPTH } from './parser.js';
import { compilePattern } from './regex.js';
import {
  booleanFromString, decimalDateTime, extreme, formatDate, roundToDigits, seededRandom, seededUuid, sum,
} from './functions.js';
import {
  DateTimeValue, DateValue, asNumber, asString, charCount, choices, isEmpty, isTemporal, parseXpathNumber, trim,
  truthy,
} from './value.js';

/**
 * @typedef {import('./value.js').Value} Value
 * @typedef {import('./parser.js').Expr} Expr
 * @typedef {import('./parser.js').BinaryOperator} BinaryOperator
 */

/**
 * Where an expression reads its inputs.
 * @typedef {object} Env
 * @property {(field: string) => Value} value `${field}`; null when unanswered or unknown
 * @property {() => Value} current `.`, the field the expression belongs to
 * @property {() => DateTimeValue} now what `now()` returns
 * @property {(field: string) => Value[]} nodes every row's value of a field in a repeat
 * @property {(field: string, rows: [string, number][]) => Value} indexedRepeat `indexed-repeat`:
 *   the field in row n1 (from 1) of repeat r1, row n2 of r2 inside it, …; null when no such row
 * @property {() => Value} position `position(..)`, the 1-based row
 * @property {(field: string, value: string) => Value} choiceLabel for `jr:choice-name`
 * @property {() => [string, string]} randomSite the seed and call site of `random()`, `uuid()`
 * @property {(name: string) => Value} [attribute] a member of the choice a choice filter decides on
 * @property {(file: string, column: string, keyColumn: string, key: string) => Value} [pullData]
 *   `pulldata(file, column, key_column, key)`: `column` of the first row of the data file `file`
 *   (named without its extension) whose `key_column` holds `key`; `""` when there is no such
 *   file, row or column, and for an env without this hook (it has no data files)
 */

/**
 * Row `row` (counted from 1) of `values`; null for anything else.
 * @param {Value[]} values
 * @param {number} row
 * @returns {Value}
 */
export function nthRow(values, row) {
  return row % 1 === 0 && row >= 1 && row <= values.length ? values[row - 1] : null;
}

/**
 * Evaluates `expr`; a tree deeper than the parser allows reads as unanswered below the limit.
 * @param {Expr} expr
 * @param {Env} env
 * @returns {Value}
 */
export const evaluate = (expr, env) => evaluateAt(expr, env, 1);

/**
 * @param {Expr} expr
 * @param {Env} env
 * @param {number} depth
 * @returns {Value}
 */
function evaluateAt(expr, env, depth) {
  if (depth > MAX_TREE_DEPTH) return null;
  switch (expr.op) {
    case 'number':
    case 'string':
      return expr.value;
    case 'field':
      return env.value(expr.name);
    case 'current':
      return env.current();
    case 'attribute':
      return env.attribute ? env.attribute(expr.name) : null;
    case 'negate':
      return -asNumber(evaluateAt(expr.operand, env, depth + 1));
    case 'binary':
      return binary(expr.operator, expr.left, expr.right, env, depth + 1);
    case 'call':
      return call(expr.function, expr.arguments, env, depth + 1);
    default:
      return null;
  }
}

/**
 * @param {BinaryOperator} operator
 * @param {Expr} leftExpr
 * @param {Expr} rightExpr
 * @param {Env} env
 * @param {number} depth
 * @returns {Value}
 */
function binary(operator, leftExpr, rightExpr, env, depth) {
  // `and` and `or` short-circuit, as XPath requires.
  if (operator === 'or') return truthy(evaluateAt(leftExpr, env, depth)) || truthy(evaluateAt(rightExpr, env, depth));
  if (operator === 'and') return truthy(evaluateAt(leftExpr, env, depth)) && truthy(evaluateAt(rightExpr, env, depth));
  const left = evaluateAt(leftExpr, env, depth);
  const right = evaluateAt(rightExpr, env, depth);
  switch (operator) {
    case '=': return equal(left, right);
    case '!=': return !equal(left, right);
    case '<': case '<=': case '>': case '>=': return relational(operator, left, right);
    default: {
      const [a, b] = numericOperands(left, right);
      switch (operator) {
        case '+': return a + b;
        case '-': return a - b;
        case '*': return a * b;
        case 'div': return a / b;
        // Truncating remainder with the dividend's sign, as XPath and Rust's `%`.
        default: return a % b;
      }
    }
  }
}

/**
 * A value as days since 1970-01-01 where the other side is a date: text is read as a date
 * or date-time before falling back to a plain number.
 * @param {Value} value
 */
function dayNumber(value) {
  if (typeof value === 'string') {
    const trimmed = trim(value);
    const date = DateValue.parse(trimmed);
    if (date) return date.days;
    const datetime = DateTimeValue.parse(trimmed);
    if (datetime) return datetime.localDays();
    return parseXpathNumber(trimmed);
  }
  return asNumber(value);
}

/**
 * @param {Value} left
 * @param {Value} right
 * @returns {[number, number]}
 */
function numericOperands(left, right) {
  if (isTemporal(left) || isTemporal(right)) return [dayNumber(left), dayNumber(right)];
  return [asNumber(left), asNumber(right)];
}

/**
 * XPath `=` for single values (see `hale-expr`'s `equal`).
 * @param {Value} left
 * @param {Value} right
 */
function equal(left, right) {
  if (typeof left === 'boolean' || typeof right === 'boolean') return truthy(left) === truthy(right);
  if (left instanceof DateTimeValue && right instanceof DateTimeValue) return left.unixMillis === right.unixMillis;
  if (typeof left === 'number' || typeof right === 'number') {
    const [a, b] = numericOperands(left, right);
    return a === b;
  }
  if (isTemporal(left) || isTemporal(right)) {
    if (isEmpty(left) || isEmpty(right)) return isEmpty(left) && isEmpty(right);
    return dayNumber(left) === dayNumber(right);
  }
  return asString(left) === asString(right);
}

/**
 * XPath `<`, `<=`, `>`, `>=`: numeric; two date-times compare by instant.
 * @param {'<' | '<=' | '>' | '>='} operator
 * @param {Value} left
 * @param {Value} right
 */
function relational(operator, left, right) {
  const [a, b] = left instanceof DateTimeValue && right instanceof DateTimeValue
    ? [left.unixMillis, right.unixMillis]
    : numericOperands(left, right);
  switch (operator) {
    case '<': return a < b;
    case '<=': return a <= b;
    case '>': return a > b;
    default: return a >= b;
  }
}

/**
 * @param {string} name
 * @param {Expr[]} args
 * @param {Env} env
 * @param {number} depth
 * @returns {Value}
 */
function call(name, args, env, depth) {
  /** @param {number} index */
  const argument = (index) => (index < args.length ? evaluateAt(args[index], env, depth) : null);
  /**
   * The rows of a field argument, or the one value of any other argument.
   * @param {number} index
   * @returns {Value[]}
   */
  const nodes = (index) => {
    const expr = args[index];
    if (!expr) return [];
    return expr.op === 'field' ? env.nodes(expr.name) : [evaluateAt(expr, env, depth)];
  };
  switch (name) {
    case 'true': return true;
    case 'false': return false;
    case 'not': return !truthy(argument(0));
    // Only the chosen branch runs.
    case 'if': return truthy(argument(0)) ? argument(1) : argument(2);
    case 'selected': {
      const wanted = trim(asString(argument(1)));
      return choices(argument(0)).includes(wanted);
    }
    case 'count-selected': return choices(argument(0)).length;
    case 'today': return env.now().localDate();
    case 'now': return env.now();
    case 'regex': {
      const pattern = asString(argument(1));
      const subject = asString(argument(0));
      try {
        return compilePattern(pattern).test(subject);
      } catch {
        return false;
      }
    }
    case 'string-length': return charCount(asString(argument(0)));
    case 'contains': return asString(argument(0)).includes(asString(argument(1)));
    case 'starts-with': return asString(argument(0)).startsWith(asString(argument(1)));
    case 'ends-with': return asString(argument(0)).endsWith(asString(argument(1)));
    case 'round': {
      const digits = args.length > 1 ? asNumber(argument(1)) : 0;
      return roundToDigits(asNumber(argument(0)), digits);
    }
    case 'int': return Math.trunc(asNumber(argument(0)));
    case 'coalesce': {
      const first = argument(0);
      return isEmpty(first) ? argument(1) : first;
    }
    case 'concat': return args.map((expr) => asString(evaluateAt(expr, env, depth))).join('');
    case 'number': return asNumber(argument(0));
    case 'string': return asString(argument(0));
    case 'boolean': return truthy(argument(0));
    case 'date': return toDate(argument(0));
    case 'count': return nodes(0).length;
    case 'sum': return sum(nodes(0));
    case 'max':
    case 'min': {
      /** @type {Value[]} */
      const all = [];
      args.forEach((expr, index) => {
        if (expr.op === 'field') all.push(...nodes(index));
        else all.push(evaluateAt(expr, env, depth));
      });
      return extreme(all, name === 'max');
    }
    case 'position': return env.position();
    case 'indexed-repeat': {
      // The field, then each repeat with its row (counted from 1; anything else is no row).
      const target = args[0];
      if (target?.op !== 'field') return null;
      /** @type {[string, number][]} */
      const rows = [];
      for (let index = 1; index + 1 < args.length; index += 2) {
        const repeat = args[index];
        if (repeat.op !== 'field') return null;
        rows.push([repeat.name, asNumber(evaluateAt(args[index + 1], env, depth))]);
      }
      return env.indexedRepeat(target.name, rows);
    }
    case 'once': {
      // The field keeps the value it already has; only an empty one is computed.
      const own = env.current();
      return isEmpty(own) ? argument(0) : own;
    }
    case 'jr:choice-name': {
      const select = args[1];
      return select?.op === 'field' ? env.choiceLabel(select.name, trim(asString(argument(0)))) : '';
    }
    case 'format-date': return formatDate(argument(0), asString(argument(1)));
    case 'decimal-date-time': return decimalDateTime(argument(0));
    case 'boolean-from-string': return booleanFromString(argument(0));
    case 'pulldata': {
      const [file, column, keyColumn, key] = [0, 1, 2, 3].map((index) => asString(argument(index)));
      return env.pullData ? env.pullData(file, column, keyColumn, key) : '';
    }
    case 'uuid': return seededUuid(...env.randomSite());
    case 'random': return seededRandom(...env.randomSite());
    default: return null;
  }
}

/**
 * `date(x)`: dates stay, date-times give their wall-clock date, numbers count days from
 * 1970-01-01 (rounded down), text may hold any of those; otherwise unanswered.
 * @param {Value} value
 * @returns {Value}
 */
function toDate(value) {
  if (value instanceof DateValue) return value;
  if (value instanceof DateTimeValue) return value.localDate();
  let days;
  if (typeof value === 'number') {
    days = value;
  } else if (typeof value === 'string' || Array.isArray(value)) {
    const text = trim(asString(value));
    const date = DateValue.parse(text);
    if (date) return date;
    const datetime = DateTimeValue.parse(text);
    if (datetime) return datetime.localDate();
    days = parseXpathNumber(text);
  } else {
    return null;
  }
  if (!Number.isFinite(days) || Math.abs(days) > 1e9) return null;
  return DateValue.fromDays(Math.floor(days));
}
