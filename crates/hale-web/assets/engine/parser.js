// @ts-check
/**
 * @file Recursive-descent parser from expression source to the tree `hale-expr` stores as
 * JSON (`{"op": …}` nodes), with XPath precedence and the same limits and error positions.
 */

import { ParseError, describe, tokenize } from './lexer.js';
import { compilePattern } from './regex.js';

export { ParseError };

/** Longest accepted source, in characters. */
export const MAX_SOURCE_LENGTH = 4096;
/** Deepest syntactic nesting: parentheses, calls and unary minus each add a level. */
export const MAX_NESTING = 64;
/** Deepest accepted tree. */
export const MAX_TREE_DEPTH = 256;

/**
 * @typedef {'or' | 'and' | '=' | '!=' | '<' | '<=' | '>' | '>=' | '+' | '-' | '*' | 'div' | 'mod'} BinaryOperator
 * @typedef {{op: 'number', value: number}
 *   | {op: 'string', value: string}
 *   | {op: 'field', name: string}
 *   | {op: 'current'}
 *   | {op: 'attribute', name: string}
 *   | {op: 'negate', operand: Expr}
 *   | {op: 'binary', operator: BinaryOperator, left: Expr, right: Expr}
 *   | {op: 'call', function: string, arguments: Expr[]}} Expr
 * @typedef {import('./lexer.js').Token} Token
 */

/** Each function's fewest and most arguments (`Infinity`: no upper bound). */
export const ARITY = /** @type {Record<string, [number, number]>} */ ({
  true: [0, 0], false: [0, 0], today: [0, 0], now: [0, 0], position: [0, 0], uuid: [0, 0], random: [0, 0],
  count: [1, 1], sum: [1, 1], once: [1, 1], 'decimal-date-time': [1, 1], 'boolean-from-string': [1, 1],
  max: [1, Infinity], min: [1, Infinity],
  'jr:choice-name': [2, 2], 'format-date': [2, 2], pulldata: [4, 4],
  contains: [2, 2], 'starts-with': [2, 2], 'ends-with': [2, 2],
  // A field, then a repeat and a row for each enclosing repeat given: 3, 5 or 7.
  'indexed-repeat': [3, 7],
  not: [1, 1], 'count-selected': [1, 1], 'string-length': [1, 1], int: [1, 1], number: [1, 1],
  string: [1, 1], boolean: [1, 1], date: [1, 1],
  round: [1, 2],
  selected: [2, 2], regex: [2, 2], coalesce: [2, 2],
  if: [3, 3],
  concat: [0, Infinity],
});

/**
 * Loosest first: the operator a token stands for at each level.
 * @type {((token: Token) => BinaryOperator | null)[]}
 */
const LEVELS = [
  (token) => (token.kind === 'name' && token.value === 'or' ? 'or' : null),
  (token) => (token.kind === 'name' && token.value === 'and' ? 'and' : null),
  (token) => (token.kind === '=' || token.kind === '!=' ? token.kind : null),
  (token) => (token.kind === '<' || token.kind === '<=' || token.kind === '>' || token.kind === '>=' ? token.kind : null),
  (token) => (token.kind === '+' || token.kind === '-' ? token.kind : null),
  (token) => {
    if (token.kind === '*') return '*';
    if (token.kind === 'name' && (token.value === 'div' || token.value === 'mod')) return token.value;
    return null;
  },
];

/** @param {string} name */
const isOperatorWord = (name) => name === 'and' || name === 'or' || name === 'div' || name === 'mod';

/** @typedef {{expr: Expr, depth: number}} Parsed */

class Parser {
  /**
   * @param {Token[]} tokens
   * @param {boolean} choiceFilter bare names are choice members, and `.` is refused
   */
  constructor(tokens, choiceFilter) {
    this.tokens = tokens;
    this.index = 0;
    this.nesting = 0;
    this.choiceFilter = choiceFilter;
  }

  /** @returns {Token} */
  peek() {
    return this.tokens[Math.min(this.index, this.tokens.length - 1)];
  }

  advance() {
    const token = this.peek();
    if (token.kind !== 'end') this.index += 1;
    return token;
  }

  /** @param {number} position */
  enter(position) {
    this.nesting += 1;
    if (this.nesting > MAX_NESTING) {
      throw new ParseError(position, `expression is nested too deeply (more than ${MAX_NESTING} levels)`);
    }
  }

  /**
   * @param {Expr} expr
   * @param {number} childDepth
   * @param {number} position
   * @returns {Parsed}
   */
  static node(expr, childDepth, position) {
    const depth = childDepth + 1;
    if (depth > MAX_TREE_DEPTH) {
      throw new ParseError(
        position,
        `expression has too many chained operations (tree deeper than ${MAX_TREE_DEPTH}); split it across calculate fields`,
      );
    }
    return { expr, depth };
  }

  /** A full expression, one level of nesting. @returns {Parsed} */
  expression() {
    this.enter(this.peek().position);
    const result = this.level(0);
    this.nesting -= 1;
    return result;
  }

  /**
   * @param {number} level
   * @returns {Parsed}
   */
  level(level) {
    const operatorOf = LEVELS[level];
    if (!operatorOf) return this.unary();
    let left = this.level(level + 1);
    for (let operator = operatorOf(this.peek()); operator !== null; operator = operatorOf(this.peek())) {
      const position = this.advance().position;
      const right = this.level(level + 1);
      left = Parser.node(
        { op: 'binary', operator, left: left.expr, right: right.expr },
        Math.max(left.depth, right.depth),
        position,
      );
    }
    return left;
  }

  /** @returns {Parsed} */
  unary() {
    if (this.peek().kind !== '-') return this.primary();
    const position = this.advance().position;
    this.enter(position);
    const operand = this.unary();
    this.nesting -= 1;
    return Parser.node({ op: 'negate', operand: operand.expr }, operand.depth, position);
  }

  /** @returns {Parsed} */
  primary() {
    const token = this.advance();
    switch (token.kind) {
      case 'number':
        return { expr: { op: 'number', value: token.value }, depth: 1 };
      case 'string':
        return { expr: { op: 'string', value: token.value }, depth: 1 };
      case 'field':
        return { expr: { op: 'field', name: token.value }, depth: 1 };
      case 'dot':
        if (this.choiceFilter) {
          throw new ParseError(token.position, "'.' has no meaning in a choice filter: the choice's value is 'name'");
        }
        return { expr: { op: 'current' }, depth: 1 };
      case '(': {
        const inner = this.expression();
        this.expectClosing(token.position);
        return inner;
      }
      case 'name':
        if (this.peek().kind === '(') return this.call(token.value, token.position);
        if (isOperatorWord(token.value)) {
          throw new ParseError(token.position, `expected an expression, found the operator '${token.value}'`);
        }
        if (this.choiceFilter) return { expr: { op: 'attribute', name: token.value }, depth: 1 };
        throw new ParseError(token.position, `unexpected name '${token.value}': refer to fields as \${${token.value}}`);
      default:
        throw new ParseError(token.position, `expected an expression, found ${describe(token)}`);
    }
  }

  /** @param {number} openedAt */
  expectClosing(openedAt) {
    const token = this.peek();
    if (token.kind === ')') {
      this.advance();
      return;
    }
    const message = token.kind === 'end'
      ? `unclosed '(' opened at character ${openedAt}: expected ')'`
      : `expected ')' or an operator, found ${describe(token)}`;
    throw new ParseError(token.position, message);
  }

  /**
   * A call whose name is consumed and whose `(` is next.
   * @param {string} name
   * @param {number} position
   * @returns {Parsed}
   */
  call(name, position) {
    if (!Object.hasOwn(ARITY, name)) throw new ParseError(position, `unknown function '${name}'`);
    const open = this.advance().position;
    if (name === 'position') {
      // Only `position(..)`, the row of the enclosing repeat, has a meaning here.
      const parent = this.advance();
      const second = this.advance();
      const closing = this.advance();
      if (parent.kind !== 'dot' || second.kind !== 'dot' || closing.kind !== ')') {
        throw new ParseError(position, "position takes exactly '..', the enclosing repeat: position(..)");
      }
      return { expr: { op: 'call', function: name, arguments: [] }, depth: 1 };
    }
    this.enter(open);
    const argumentList = this.arguments(open);
    this.nesting -= 1;
    checkArity(name, argumentList.length, position);
    if (name === 'jr:choice-name') {
      // The select is named in a string, `'${name}'`, as XLSForm writes it.
      const named = argumentList[1].expr;
      const match = named.op === 'string' ? /^\$\{(.*)\}$/su.exec(trimRust(named.value)) : null;
      if (!match) {
        throw new ParseError(position, "jr:choice-name names its select as a string: jr:choice-name(value, '${name}')");
      }
      argumentList[1] = { expr: { op: 'field', name: match[1] }, depth: argumentList[1].depth };
    }
    if (name === 'count' || name === 'sum' || name === 'indexed-repeat') {
      // The field, and for `indexed-repeat` each repeat (every argument but the rows).
      const readsRows = (/** @type {number} */ index) => index === 0 || (name === 'indexed-repeat' && index % 2 === 1);
      if (argumentList.some((argument, index) => readsRows(index) && argument.expr.op !== 'field')) {
        throw new ParseError(position, `${name} reads the rows of a field: give it as \${name}`);
      }
    }
    if (name === 'regex') this.checkLiteralPattern(argumentList, position);
    const childDepth = argumentList.reduce((deepest, argument) => Math.max(deepest, argument.depth), 0);
    return Parser.node(
      { op: 'call', function: name, arguments: argumentList.map((argument) => argument.expr) },
      childDepth,
      position,
    );
  }

  /**
   * @param {number} open
   * @returns {Parsed[]}
   */
  arguments(open) {
    /** @type {Parsed[]} */
    const list = [];
    if (this.peek().kind === ')') {
      this.advance();
      return list;
    }
    for (;;) {
      list.push(this.level(0));
      if (this.peek().kind === ',') {
        this.advance();
        continue;
      }
      this.expectClosing(open);
      return list;
    }
  }

  /**
   * A constant pattern is checked now, so an analyst learns of a bad regex when saving.
   * @param {Parsed[]} argumentList
   * @param {number} callPosition
   */
  checkLiteralPattern(argumentList, callPosition) {
    const pattern = argumentList[1]?.expr;
    if (!pattern || pattern.op !== 'string') return;
    try {
      compilePattern(pattern.value);
    } catch (error) {
      // The pattern literal is the last string token before the current one.
      let at = callPosition;
      for (let index = this.index - 1; index >= 0; index -= 1) {
        if (this.tokens[index].kind === 'string') {
          at = this.tokens[index].position;
          break;
        }
      }
      throw new ParseError(at, `invalid regex pattern: ${/** @type {Error} */ (error).message}`);
    }
  }
}

/**
 * `str::trim` for the choice-name argument (Unicode White_Space).
 * @param {string} text
 */
const trimRust = (text) => text.replace(/^\p{White_Space}+|\p{White_Space}+$/gu, '');

/**
 * @param {string} name
 * @param {number} count
 * @param {number} position
 */
function checkArity(name, count, position) {
  if (name === 'indexed-repeat' && count % 2 === 0) {
    throw new ParseError(
      position,
      `function 'indexed-repeat' takes a field, then a repeat and a row for each repeat: 3, 5 or 7 arguments, found ${count}`,
    );
  }
  const [minimum, maximum] = ARITY[name];
  if (count >= minimum && count <= maximum) return;
  let expected;
  if (maximum === minimum) expected = `${minimum}`;
  else if (maximum === Infinity) expected = `at least ${minimum}`;
  else expected = `${minimum} to ${maximum}`;
  const plural = expected === '1' ? '' : 's';
  throw new ParseError(position, `function '${name}' takes ${expected} argument${plural}, found ${count}`);
}

/**
 * Parses XLSForm expression source into a tree; throws {@link ParseError}.
 * @param {string} source
 * @returns {Expr}
 */
export const parse = (source) => parseWith(source, false);

/**
 * Parses a choice filter (XLSForm `choice_filter`), evaluated once per choice: a bare name is
 * a member of that choice (`name` is its value), and `.` has no meaning.
 * @param {string} source
 * @returns {Expr}
 */
export const parseChoiceFilter = (source) => parseWith(source, true);

/**
 * @param {string} source
 * @param {boolean} choiceFilter
 * @returns {Expr}
 */
function parseWith(source, choiceFilter) {
  const characters = Array.from(source);
  if (characters.length > MAX_SOURCE_LENGTH) {
    throw new ParseError(MAX_SOURCE_LENGTH, `expression is longer than ${MAX_SOURCE_LENGTH} characters`);
  }
  const parser = new Parser(tokenize(characters), choiceFilter);
  const parsed = parser.expression();
  const token = parser.peek();
  if (token.kind !== 'end') {
    throw new ParseError(token.position, `expected an operator or the end of the expression, found ${describe(token)}`);
  }
  return parsed.expr;
}

/**
 * Whether the value depends on more than the fields it names: the clock (`now`, `today`),
 * the submission's seed (`random`, `uuid`) or its own field (`.`, `once`).
 * @param {Expr} expr
 * @returns {boolean}
 */
export function readsBeyondFields(expr) {
  if (expr.op === 'current') return true;
  if (expr.op === 'negate') return readsBeyondFields(expr.operand);
  if (expr.op === 'binary') return readsBeyondFields(expr.left) || readsBeyondFields(expr.right);
  if (expr.op === 'call') {
    return ['now', 'today', 'random', 'uuid', 'once'].includes(expr.function) || expr.arguments.some(readsBeyondFields);
  }
  return false;
}

/**
 * Field names referenced through `${…}`.
 * @param {Expr} expr
 * @param {Set<string>} [names]
 * @returns {Set<string>}
 */
export function references(expr, names = new Set()) {
  if (expr.op === 'field') names.add(expr.name);
  else if (expr.op === 'negate') references(expr.operand, names);
  else if (expr.op === 'binary') {
    references(expr.left, names);
    references(expr.right, names);
  } else if (expr.op === 'call') for (const argument of expr.arguments) references(argument, names);
  return names;
}

/**
 * Field names read as one value: all references but the direct field arguments of `count`,
 * `sum`, `max`, `min` and the field and repeats of `indexed-repeat` (all but its rows), which
 * read a repeat's rows.
 * @param {Expr} expr
 * @param {Set<string>} [names]
 * @returns {Set<string>}
 */
export function scalarReferences(expr, names = new Set()) {
  if (expr.op === 'field') names.add(expr.name);
  else if (expr.op === 'negate') scalarReferences(expr.operand, names);
  else if (expr.op === 'binary') {
    scalarReferences(expr.left, names);
    scalarReferences(expr.right, names);
  } else if (expr.op === 'call') {
    const readsRows = ['count', 'sum', 'max', 'min'].includes(expr.function);
    expr.arguments.forEach((argument, index) => {
      const rows = readsRows || (expr.function === 'indexed-repeat' && (index === 0 || index % 2 === 1));
      if (!(rows && argument.op === 'field')) scalarReferences(argument, names);
    });
  }
  return names;
}
