// @ts-check
/**
 * @file Splits expression source into tokens tagged with their character (code point) offset,
 * as `hale-expr`'s lexer does, so that errors point at the same place on both sides.
 */

/** Why an expression did not parse, and where (a 0-based code point offset). */
export class ParseError extends Error {
  /**
   * @param {number} position
   * @param {string} message
   */
  constructor(position, message) {
    super(message);
    this.name = 'ParseError';
    this.position = position;
  }
}

/**
 * @typedef {{kind: 'number', value: number, position: number}
 *   | {kind: 'string' | 'field' | 'name', value: string, position: number}
 *   | {kind: 'dot' | '(' | ')' | ',' | '+' | '-' | '*' | '=' | '!=' | '<' | '<=' | '>' | '>=' | 'end', position: number}} Token
 */

const ALPHABETIC = /^\p{Alphabetic}$/u;
const ALPHANUMERIC = /^[\p{Alphabetic}\p{N}]$/u;

/** @param {string | undefined} character */
export const isAlphabetic = (character) => character !== undefined && ALPHABETIC.test(character);
/** @param {string | undefined} character */
const isAlphanumeric = (character) => character !== undefined && ALPHANUMERIC.test(character);
/** @param {string | undefined} character */
const isDigit = (character) => character !== undefined && character >= '0' && character <= '9';
/** @param {string | undefined} character */
const isFieldStart = (character) => character === '_' || isAlphabetic(character);
/** @param {string | undefined} character */
const isFieldContinue = (character) =>
  character === '_' || character === '-' || character === '.' || isAlphanumeric(character);

const NOT_PRINTABLE = /^[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}\p{Grapheme_Extend}]$/u;

/**
 * A character as Rust's `{:?}` prints it: quoted, escaped when not printable.
 * @param {string} character
 */
export function debugCharacter(character) {
  const escapes = /** @type {Record<string, string>} */ ({
    '\0': '\\0', '\t': '\\t', '\r': '\\r', '\n': '\\n', '\\': '\\\\', "'": "\\'",
  });
  if (Object.hasOwn(escapes, character)) return `'${escapes[character]}'`;
  if (character !== ' ' && NOT_PRINTABLE.test(character)) {
    return `'\\u{${(character.codePointAt(0) ?? 0).toString(16)}}'`;
  }
  return `'${character}'`;
}

/**
 * How a token reads in an error message.
 * @param {Token} token
 */
export function describe(token) {
  switch (token.kind) {
    case 'number': return 'a number';
    case 'string': return 'a string';
    case 'field': return `'\${${token.value}}'`;
    case 'dot': return "'.'";
    case 'name': return `'${token.value}'`;
    case 'end': return 'the end of the expression';
    default: return `'${token.kind}'`;
  }
}

/**
 * Reads `${name}` from the `$` at `start`.
 * @param {string[]} source
 * @param {number} start
 * @returns {[string, number]} the name and the index after `}`
 */
function lexField(source, start) {
  if (source[start + 1] !== '{') throw new ParseError(start, "expected '{' after '$'");
  const nameStart = start + 2;
  if (!isFieldStart(source[nameStart])) {
    throw new ParseError(nameStart, "expected a field name (a letter or '_' first) after '${'");
  }
  let index = nameStart + 1;
  while (index < source.length && isFieldContinue(source[index])) index += 1;
  const closing = source[index];
  if (closing === '}') return [source.slice(nameStart, index).join(''), index + 1];
  if (closing === undefined) throw new ParseError(start, "unclosed field reference: expected '}'");
  throw new ParseError(index, `unexpected character ${debugCharacter(closing)} in field reference; expected '}'`);
}

/**
 * Reads `digits[.digits]` or `.digits`: XPath 1.0 has no exponents.
 * @param {string[]} source
 * @param {number} start
 * @returns {[number, number]}
 */
function lexNumber(source, start) {
  let index = start;
  while (isDigit(source[index])) index += 1;
  if (source[index] === '.') {
    index += 1;
    while (isDigit(source[index])) index += 1;
  }
  const number = Number(source.slice(start, index).join(''));
  if (!Number.isFinite(number)) throw new ParseError(start, 'number literal is too large');
  return [number, index];
}

/** @type {Record<string, Token['kind']>} */
const SINGLE = { '.': 'dot', '(': '(', ')': ')', ',': ',', '+': '+', '-': '-', '*': '*', '=': '=', '<': '<', '>': '>' };

/**
 * Tokenises the whole source (as code points); the last token is always `end`.
 * @param {string[]} source
 * @returns {Token[]}
 */
export function tokenize(source) {
  /** @type {Token[]} */
  const tokens = [];
  let index = 0;
  while (index < source.length) {
    const character = source[index];
    const start = index;
    const next = source[index + 1];
    if (character === ' ' || character === '\t' || character === '\n' || character === '\r') {
      index += 1;
      continue;
    }
    if (character === '$') {
      const [name, end] = lexField(source, start);
      index = end;
      tokens.push({ kind: 'field', value: name, position: start });
    } else if (isDigit(character) || (character === '.' && isDigit(next))) {
      const [number, end] = lexNumber(source, start);
      index = end;
      tokens.push({ kind: 'number', value: number, position: start });
    } else if (character === "'" || character === '"') {
      const closing = source.indexOf(character, start + 1);
      if (closing < 0) throw new ParseError(start, 'unterminated string literal');
      index = closing + 1;
      tokens.push({ kind: 'string', value: source.slice(start + 1, closing).join(''), position: start });
    } else if (isFieldStart(character)) {
      index += 1;
      // A hyphen belongs to the name only before a letter: `count-selected`, but `div-3`.
      for (;;) {
        const following = source[index];
        const continues = following === '_' || isAlphanumeric(following)
          || (following === '-' && isAlphabetic(source[index + 1]));
        if (!continues) break;
        index += 1;
      }
      // `jr:choice-name`: the one namespaced function name XLSForm uses.
      if (source.slice(start, index).join('') === 'jr' && source[index] === ':') {
        index += 1;
        while (source[index] === '-' || isAlphanumeric(source[index])) index += 1;
      }
      tokens.push({ kind: 'name', value: source.slice(start, index).join(''), position: start });
    } else {
      /** @type {Token['kind'] | undefined} */
      let kind;
      let width = 1;
      if ((character === '!' || character === '<' || character === '>') && next === '=') {
        kind = /** @type {Token['kind']} */ (`${character}=`);
        width = 2;
      } else if (character === '!') {
        throw new ParseError(start, "expected '=' after '!'");
      } else if (character === '/') {
        throw new ParseError(
          start,
          "paths and '/' are not supported: refer to fields as ${name} and divide with 'div'",
        );
      } else if (Object.hasOwn(SINGLE, character)) {
        kind = SINGLE[character];
      }
      if (kind === undefined) {
        throw new ParseError(start, `unexpected character ${debugCharacter(character)}`);
      }
      index += width;
      tokens.push(/** @type {Token} */ ({ kind, position: start }));
    }
  }
  tokens.push({ kind: 'end', position: source.length });
  return tokens;
}
