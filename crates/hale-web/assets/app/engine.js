// @ts-check
/**
 * A small stand-in for the browser form engine (`/engine/index.js`) with the same two calls,
 * `compile` and `formState`: relevance, calculations, required, bounds and constraints over a
 * subset of the expression language. The server validates every submission in full.
 */

/**
 * @typedef {import('./definition.js').Definition} Definition
 * @typedef {import('./definition.js').Field} Field
 * @typedef {{code: string, message: string}} FieldError
 * @typedef {{relevant: boolean, required: boolean, readOnly: boolean, value: unknown,
 *   errors: FieldError[]}} FieldState
 * @typedef {{fields: Record<string, FieldState>, valid: boolean,
 *   errors: {field: string, code: string}[],
 *   observations: {code: string, value: number, unit: string}[],
 *   news2_total: number | null}} FormState
 * @typedef {{definition: Definition}} Form
 */

/**
 * @param {Definition} definition
 * @returns {Form}
 */
export function compile(definition) {
  if (!definition || !Array.isArray(definition.fields)) throw new Error('the definition has no fields');
  return { definition };
}

const TOKEN = /\s*(\$\{[A-Za-z_][\w.-]*\}|\d+(?:\.\d+)?|'[^']*'|"[^"]*"|<=|>=|!=|[=<>+\-*(),.]|[A-Za-z_][\w-]*)/y;

/** @param {string} source */
function tokenize(source) {
  /** @type {string[]} */
  const tokens = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < source.trimEnd().length) {
    const match = TOKEN.exec(source);
    if (!match) throw new Error('unreadable expression');
    tokens.push(match[1]);
  }
  return tokens;
}

/**
 * @param {string} source
 * @param {(name: string) => unknown} lookup
 * @param {unknown} current
 * @param {Date} now
 * @returns {unknown}
 */
export function evaluate(source, lookup, current, now) {
  const tokens = tokenize(source);
  let at = 0;
  const peek = () => tokens[at];
  const next = () => tokens[at++];
  /** @returns {unknown} */
  const or = () => {
    let left = and();
    while (peek() === 'or') { next(); const right = and(); left = truthy(left) || truthy(right); }
    return left;
  };
  /** @returns {unknown} */
  const and = () => {
    let left = compare();
    while (peek() === 'and') { next(); const right = compare(); left = truthy(left) && truthy(right); }
    return left;
  };
  /** @returns {unknown} */
  const compare = () => {
    let left = sum();
    while (['=', '!=', '<', '<=', '>', '>='].includes(peek())) {
      const operator = next();
      const right = sum();
      left = comparison(operator, left, right);
    }
    return left;
  };
  /** @returns {unknown} */
  const sum = () => {
    let left = product();
    while (peek() === '+' || peek() === '-') {
      const operator = next();
      const right = product();
      left = operator === '+' ? Number(left) + Number(right) : Number(left) - Number(right);
    }
    return left;
  };
  /** @returns {unknown} */
  const product = () => {
    let left = primary();
    while (peek() === '*' || peek() === 'div') {
      const operator = next();
      const right = primary();
      left = operator === '*' ? Number(left) * Number(right) : Number(left) / Number(right);
    }
    return left;
  };
  /** @returns {unknown} */
  const primary = () => {
    const token = next();
    if (token === undefined) throw new Error('incomplete expression');
    if (token === '(') { const value = or(); next(); return value; }
    if (token === '-') return -Number(primary());
    if (token === '.') return current ?? null;
    if (token.startsWith('${')) return lookup(token.slice(2, -1)) ?? null;
    if (/^\d/.test(token)) return Number(token);
    if (token.startsWith("'") || token.startsWith('"')) return token.slice(1, -1);
    if (peek() === '(') {
      next();
      /** @type {unknown[]} */
      const args = [];
      while (peek() !== ')') { args.push(or()); if (peek() === ',') next(); }
      next();
      return call(token, args, now);
    }
    throw new Error(`unknown word ${token}`);
  };
  return or();
}

/** @param {unknown} value */
function truthy(value) {
  if (Array.isArray(value)) return value.length > 0;
  return value !== null && value !== undefined && value !== false && value !== '' && value !== 0;
}

/**
 * @param {string} operator
 * @param {unknown} left
 * @param {unknown} right
 */
function comparison(operator, left, right) {
  if (left === null || right === null || left === undefined || right === undefined) {
    return operator === '!=' ? left !== right : operator === '=' ? left === right : false;
  }
  const [a, b] = typeof left === 'number' || typeof right === 'number'
    ? [Number(left), Number(right)]
    : [String(left), String(right)];
  switch (operator) {
    case '=': return a === b;
    case '!=': return a !== b;
    case '<': return a < b;
    case '<=': return a <= b;
    case '>': return a > b;
    default: return a >= b;
  }
}

/**
 * @param {string} name
 * @param {unknown[]} args
 * @param {Date} now
 */
function call(name, args, now) {
  switch (name) {
    case 'selected': {
      const [list, value] = args;
      const values = Array.isArray(list) ? list : String(list ?? '').split(' ');
      return values.includes(value);
    }
    case 'today': return now.toISOString().slice(0, 10);
    case 'count': return Array.isArray(args[0]) ? args[0].length : Number(args[0] ?? 0);
    case 'not': return !truthy(args[0]);
    case 'true': return true;
    case 'false': return false;
    default: throw new Error(`unknown function ${name}`);
  }
}

const NUMERIC = new Set(['integer', 'decimal', 'range']);
const UNANSWERED = new Set(['note', 'calculate', 'group', 'repeat']);

/** @param {unknown} value */
function empty(value) {
  return value === undefined || value === null || value === '' || (Array.isArray(value) && value.length === 0);
}

/**
 * @param {Form} form
 * @param {Record<string, unknown>} answers
 * @param {Date | string} now
 * @returns {FormState}
 */
export function formState(form, answers, now) {
  const when = new Date(now);
  /** @type {FormState} */
  const state = { fields: {}, valid: true, errors: [], observations: [], news2_total: null };
  /** @type {Record<string, unknown>} */
  const calculated = {};
  /**
   * @param {Field[]} fields
   * @param {Record<string, unknown>} row
   * @param {string} prefix
   * @param {boolean} parentRelevant
   */
  const walk = (fields, row, prefix, parentRelevant) => {
    const lookup = (/** @type {string} */ name) => {
      const value = name in row ? row[name] : name in calculated ? calculated[name] : answers[name];
      return Array.isArray(value) && value.length > 0 && typeof value[0] === 'object' ? value.length : value;
    };
    for (const field of fields) {
      const key = prefix + field.name;
      const relevant = parentRelevant && (!field.relevant || truthy(safely(field.relevant, lookup, null, when)));
      if (field.type === 'calculate' && field.calculation) {
        calculated[field.name] = relevant ? safely(field.calculation, lookup, null, when) : null;
      }
      let value = field.type === 'calculate' ? calculated[field.name] : row[field.name];
      const required = Boolean(field.required) || (field.required_if ? truthy(safely(field.required_if, lookup, null, when)) : false);
      /** @type {FieldError[]} */
      const errors = [];
      if (relevant && !UNANSWERED.has(field.type)) {
        const number = typeof value === 'object' && value !== null && 'value' in value ? Number(/** @type {{value: unknown}} */ (value).value) : value;
        if (empty(value)) {
          if (required) errors.push({ code: 'required', message: 'an answer is required' });
        } else if (NUMERIC.has(field.type)) {
          if (typeof number !== 'number' || !Number.isFinite(number)) errors.push({ code: 'not_a_number', message: 'the answer must be a number' });
          else if (field.type === 'integer' && !Number.isInteger(number)) errors.push({ code: 'not_an_integer', message: 'the answer must be a whole number' });
          else if (field.min !== undefined && number < field.min) errors.push({ code: 'below_minimum', message: "the answer is below the field's minimum" });
          else if (field.max !== undefined && number > field.max) errors.push({ code: 'above_maximum', message: "the answer is above the field's maximum" });
          else if (field.code && (typeof value === 'number')) state.observations.push({ code: field.code, value, unit: field.unit ?? '' });
        }
        if (errors.length === 0 && !empty(value) && field.constraint && !truthy(safely(field.constraint, lookup, value, when))) {
          errors.push({ code: 'constraint_failed', message: 'the answer does not meet the constraint' });
        }
      }
      if (!relevant) value = undefined;
      state.fields[key] = { relevant, required, readOnly: field.type === 'calculate' || Boolean(field.read_only), value, errors };
      for (const error of errors) state.errors.push({ field: key, code: error.code });
      if (field.type === 'group') walk(field.children ?? [], row, prefix, relevant);
      if (field.type === 'repeat') {
        const rows = /** @type {Record<string, unknown>[]} */ (Array.isArray(row[field.name]) ? row[field.name] : []);
        rows.forEach((child, index) => walk(field.children ?? [], child, `${key}[${index}].`, relevant));
      }
    }
  };
  walk(form.definition.fields, answers, '', true);
  state.valid = state.errors.length === 0;
  return state;
}

/**
 * @param {string} source
 * @param {(name: string) => unknown} lookup
 * @param {unknown} current
 * @param {Date} now
 */
function safely(source, lookup, current, now) {
  try {
    return evaluate(source, lookup, current, now);
  } catch {
    return null;
  }
}
