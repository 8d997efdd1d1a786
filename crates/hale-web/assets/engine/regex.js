// @ts-check
/**
 * @file `regex(s, pattern)` patterns: Rust `regex` crate syntax translated to an equivalent
 * JavaScript `RegExp` (the `v` flag), so a pattern means the same on the server and in the
 * browser. Unicode classes keep Rust's meanings (`\d` is any decimal digit, `\w` and `\b`
 * are Unicode word characters, `\s` is White_Space, `.` is anything but `\n`); `^` and `$`
 * match at the ends of the text unless `(?m)`. What Rust refuses is refused here too
 * (look-around, backreferences, unknown escapes, bad ranges, duplicate group names). Flags
 * `i m s x U` are understood; case-insensitive matching must cover every letter of the
 * pattern or none (JavaScript cannot scope it), otherwise the pattern is refused, and so are
 * patterns whose estimated size would exceed Rust's compiled-size cap.
 */

/** Longest accepted pattern, in characters. */
export const MAX_PATTERN_LENGTH = 1024;
/** Rust's nest limit. */
const MAX_NEST = 64;
/** A rough stand-in for Rust's 256 KiB compiled-size cap, in pattern atoms after repetition. */
const MAX_ATOMS = 64 * 1024;

const WORD = '[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]';
const NOT_WORD = '[^\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]';

/** The Perl classes, as Rust reads them with Unicode on. */
const PERL = /** @type {Record<string, string>} */ ({
  d: '\\p{Nd}', D: '\\P{Nd}', s: '\\p{White_Space}', S: '\\P{White_Space}', w: WORD, W: NOT_WORD,
});

const ASCII_CLASSES = /** @type {Record<string, string>} */ ({
  alnum: '0-9A-Za-z', alpha: 'A-Za-z', ascii: '\\x00-\\x7F', blank: '\\t ', cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9', graph: '!-~', lower: 'a-z', print: ' -~', punct: '!-/:-@[-`{-~',
  space: '\\t\\n\\x0B\\x0C\\r ', upper: 'A-Z', word: '0-9A-Za-z_', xdigit: '0-9A-Fa-f',
});

const SIMPLE_ESCAPES = /** @type {Record<string, number>} */ ({ a: 7, f: 12, t: 9, n: 10, r: 13, v: 11 });

/**
 * A code point as a `v`-mode escape, safe inside and outside classes.
 * @param {number} codePoint
 */
const literal = (codePoint) => `\\u{${codePoint.toString(16)}}`;

/**
 * Whether `\p{name}` compiles in JavaScript.
 * @param {string} body
 */
function propertyCompiles(body) {
  try {
    new RegExp(`\\p{${body}}`, 'v');
    return true;
  } catch {
    return false;
  }
}

/**
 * A Unicode property class (`\pL`, `\p{Greek}`, `\p{sc=Greek}`) in JavaScript's spelling.
 * @param {string} name
 * @param {boolean} negated
 */
function propertyClass(name, negated) {
  const letter = negated ? 'P' : 'p';
  const candidates = [name, `Script=${name}`, name.replace(/[:]/, '=')];
  const spelled = candidates.find(propertyCompiles);
  if (spelled === undefined) throw new Error('unknown Unicode property');
  return `\\${letter}{${spelled}}`;
}

/** @typedef {{i: boolean, m: boolean, s: boolean, x: boolean, U: boolean}} Flags */

class Translator {
  /** @param {string} pattern */
  constructor(pattern) {
    this.chars = Array.from(pattern);
    this.index = 0;
    /** @type {Flags} */
    this.flags = { i: false, m: false, s: false, x: false, U: false };
    this.names = new Set();
    this.depth = 0;
    /** Case-sensitive content emitted with `i` off, and with it on. */
    this.caseSensitive = false;
    this.caseInsensitive = false;
  }

  peek(offset = 0) {
    return this.chars[this.index + offset];
  }

  /**
   * @param {string} message
   * @returns {never}
   */
  fail(message) {
    throw new Error(message);
  }

  nest() {
    this.depth += 1;
    if (this.depth > MAX_NEST) this.fail('pattern is nested too deeply');
  }

  /** Notes letters whose meaning depends on `i`. @param {boolean} letters */
  noteCase(letters) {
    if (!letters) return;
    if (this.flags.i) this.caseInsensitive = true;
    else this.caseSensitive = true;
  }

  /** Skips whitespace and `#` comments in verbose mode. */
  skipVerbose() {
    while (this.flags.x && this.index < this.chars.length) {
      const character = this.chars[this.index];
      if (/^\p{White_Space}$/u.test(character)) this.index += 1;
      else if (character === '#') {
        while (this.index < this.chars.length && this.chars[this.index] !== '\n') this.index += 1;
      } else break;
    }
  }

  /** @returns {{text: string, atoms: number}} */
  alternation() {
    const branches = [this.concatenation()];
    while (this.peek() === '|') {
      this.index += 1;
      branches.push(this.concatenation());
    }
    return {
      text: branches.map((branch) => branch.text).join('|'),
      atoms: branches.reduce((total, branch) => total + branch.atoms, 0),
    };
  }

  /** @returns {{text: string, atoms: number}} */
  concatenation() {
    let text = '';
    let atoms = 0;
    for (;;) {
      this.skipVerbose();
      const character = this.peek();
      if (character === undefined || character === '|' || character === ')') return { text, atoms };
      const item = this.repeated();
      text += item.text;
      atoms += item.atoms;
    }
  }

  /** One item and any repetitions after it. @returns {{text: string, atoms: number}} */
  repeated() {
    const start = this.peek();
    if (start === '*' || start === '+' || start === '?') this.fail('repetition operator missing expression');
    if (start === '{') this.fail('repetition operator missing expression');
    let { text, atoms } = this.item();
    let repeatedAlready = false;
    for (;;) {
      this.skipVerbose();
      const character = this.peek();
      let quantifier;
      let factor;
      if (character === '*' || character === '+' || character === '?') {
        this.index += 1;
        quantifier = character;
        factor = character === '?' ? 1 : 2;
      } else if (character === '{') {
        const counted = this.counted();
        quantifier = counted.text;
        factor = counted.factor;
      } else {
        return { text, atoms };
      }
      let lazy = false;
      if (this.peek() === '?') {
        this.index += 1;
        lazy = true;
      }
      if (this.flags.U) lazy = !lazy;
      this.nest();
      this.depth -= 1;
      // JavaScript refuses a repetition of a repetition or of an assertion; a group does not.
      const operand = repeatedAlready || text === '^' || text === '$' ? `(?:${text})` : text;
      text = `${operand}${quantifier}${lazy ? '?' : ''}`;
      atoms *= factor;
      if (atoms > MAX_ATOMS) this.fail('pattern compiles too large');
      repeatedAlready = true;
    }
  }

  /** `{n}`, `{n,}` or `{n,m}`. */
  counted() {
    const match = /^\{(\d+)(,(\d*))?\}/.exec(this.chars.slice(this.index, this.index + 24).join(''));
    if (!match) this.fail('invalid counted repetition');
    const found = /** @type {RegExpExecArray} */ (match);
    this.index += found[0].length;
    const low = Number(found[1]);
    const high = found[2] === undefined ? low : found[3] === '' ? Infinity : Number(found[3]);
    if (low > high) this.fail('invalid repetition range');
    if (low > 1000 * 1000 || (high !== Infinity && high > 1000 * 1000)) this.fail('repetition count is too large');
    const text = found[2] === undefined ? `{${low}}` : found[3] === '' ? `{${low},}` : `{${low},${high}}`;
    return { text, factor: Math.max(1, high === Infinity ? low + 1 : high) };
  }

  /** @returns {{text: string, atoms: number}} */
  item() {
    const character = /** @type {string} */ (this.peek());
    this.index += 1;
    switch (character) {
      case '(':
        return this.group();
      case '[': {
        this.index -= 1;
        return { text: this.bracketClass(), atoms: 1 };
      }
      case '.':
        return { text: this.flags.s ? '[\\s\\S]' : '[^\\n]', atoms: 1 };
      case '^':
        return { text: this.flags.m ? '(?:^|(?<=\\n))' : '^', atoms: 0 };
      case '$':
        return { text: this.flags.m ? '(?:$|(?=\\n))' : '$', atoms: 0 };
      case '\\':
        return this.escape(false);
      default: {
        const codePoint = /** @type {number} */ (character.codePointAt(0));
        this.noteCase(character.toLowerCase() !== character.toUpperCase());
        return { text: literal(codePoint), atoms: 1 };
      }
    }
  }

  /** After `(`. @returns {{text: string, atoms: number}} */
  group() {
    const saved = { ...this.flags };
    let opening = '(?:';
    if (this.peek() === '?') {
      const rest = this.chars.slice(this.index + 1, this.index + 4).join('');
      if (/^(=|!|<=|<!)/.test(rest)) {
        this.fail('look-around, including look-ahead and look-behind, is not supported');
      }
      const named = /^\?P?<([^>]*)>/.exec(this.chars.slice(this.index, this.index + 40).join(''));
      if (named) {
        if (!/^[_A-Za-z][_0-9A-Za-z.[\]]*$/.test(named[1])) this.fail('invalid capture group name');
        if (this.names.has(named[1])) this.fail('duplicate capture group name');
        this.names.add(named[1]);
        this.index += Array.from(named[0]).length;
        opening = '(';
      } else {
        const scoped = this.flagGroup();
        if (!scoped) return { text: '', atoms: 0 };
      }
    } else {
      opening = '(';
    }
    this.nest();
    const inner = this.alternation();
    this.depth -= 1;
    if (this.peek() !== ')') this.fail('unclosed group');
    this.index += 1;
    this.flags = saved;
    return { text: `${opening}${inner.text})`, atoms: inner.atoms };
  }

  /**
   * `(?flags)` (applies to the rest of the enclosing group; returns false) or `(?flags:`
   * (returns true, the caller parses the group).
   */
  flagGroup() {
    this.index += 1;
    let negate = false;
    let any = false;
    for (;;) {
      const character = this.peek();
      this.index += 1;
      if (character === ')' || character === ':') {
        if (negate && !any) this.fail('expected flag after -');
        if (character === ')') return false;
        return true;
      }
      if (character === '-') {
        if (negate) this.fail('repeated negation');
        negate = true;
        any = false;
        continue;
      }
      if (character === 'i' || character === 'm' || character === 's' || character === 'x' || character === 'U') {
        this.flags[character] = !negate;
        any = true;
        continue;
      }
      if (character === 'u' && !negate) {
        any = true;
        continue;
      }
      this.fail('unsupported or unknown flag');
    }
  }

  /**
   * After `\`: an escape outside (`inClass` false) or inside a class.
   * @param {boolean} inClass
   * @returns {{text: string, atoms: number, codePoint?: number}}
   */
  escape(inClass) {
    const character = this.peek();
    if (character === undefined) this.fail('incomplete escape sequence');
    const escaped = /** @type {string} */ (character);
    this.index += 1;
    if (Object.hasOwn(PERL, escaped)) return { text: PERL[escaped], atoms: 1 };
    if (escaped === 'p' || escaped === 'P') {
      let name;
      if (this.peek() === '{') {
        const close = this.chars.indexOf('}', this.index);
        if (close < 0) this.fail('unclosed Unicode class');
        name = this.chars.slice(this.index + 1, close).join('');
        this.index = close + 1;
      } else {
        name = this.peek();
        if (name === undefined) this.fail('incomplete Unicode class');
        this.index += 1;
      }
      this.noteCase(true);
      return { text: propertyClass(/** @type {string} */ (name), escaped === 'P'), atoms: 1 };
    }
    if (!inClass) {
      const assertion = this.assertion(escaped);
      if (assertion !== null) return { text: assertion, atoms: 0 };
    }
    const codePoint = this.escapedCodePoint(escaped);
    const text = String.fromCodePoint(codePoint);
    this.noteCase(text.toLowerCase() !== text.toUpperCase());
    return { text: literal(codePoint), atoms: 1, codePoint };
  }

  /**
   * The zero-width escapes: `\b` (with `{start}`, `{end}`, `{start-half}`, `{end-half}`),
   * `\B`, `\<`, `\>`, `\A`, `\z`; null for any other escape.
   * @param {string} escaped
   */
  assertion(escaped) {
    const start = `(?<!${WORD})(?=${WORD})`;
    const end = `(?<=${WORD})(?!${WORD})`;
    if (escaped === 'b' && this.peek() === '{') {
      const close = this.chars.indexOf('}', this.index);
      const kind = close < 0 ? '' : this.chars.slice(this.index + 1, close).join('');
      const kinds = /** @type {Record<string, string>} */ ({
        start, end, 'start-half': `(?<!${WORD})`, 'end-half': `(?!${WORD})`,
      });
      if (!Object.hasOwn(kinds, kind)) this.fail('unrecognized word boundary');
      this.index = close + 1;
      return `(?:${kinds[kind]})`;
    }
    switch (escaped) {
      case 'b': return `(?:${start}|${end})`;
      case 'B': return `(?:(?<=${WORD})(?=${WORD})|(?<!${WORD})(?!${WORD}))`;
      case '<': return `(?:${start})`;
      case '>': return `(?:${end})`;
      case 'A': return '^';
      case 'z': return '$';
      default: return null;
    }
  }

  /**
   * The code point an escape stands for (`\n`, `\x41`, `\u{1F600}`, `\.`); throws otherwise.
   * @param {string} escaped
   */
  escapedCodePoint(escaped) {
    if (Object.hasOwn(SIMPLE_ESCAPES, escaped)) return SIMPLE_ESCAPES[escaped];
    if (escaped === 'x' || escaped === 'u' || escaped === 'U') {
      const width = { x: 2, u: 4, U: 8 }[escaped];
      let hex;
      if (this.peek() === '{') {
        const close = this.chars.indexOf('}', this.index);
        if (close < 0) this.fail('unclosed hexadecimal escape');
        hex = this.chars.slice(this.index + 1, close).join('');
        this.index = close + 1;
      } else {
        hex = this.chars.slice(this.index, this.index + width).join('');
        if (hex.length !== width) this.fail('invalid hexadecimal escape');
        this.index += width;
      }
      if (!/^[0-9A-Fa-f]{1,8}$/.test(hex)) this.fail('invalid hexadecimal escape');
      const codePoint = parseInt(hex, 16);
      if (codePoint > 0x10ffff || (codePoint >= 0xd800 && codePoint <= 0xdfff)) this.fail('invalid Unicode scalar value');
      return codePoint;
    }
    if (/^[0-9]$/.test(escaped)) this.fail('backreferences are not supported');
    // Rust lets every ASCII character but letters, digits, `<` and `>` be escaped.
    if (/^[\x00-\x7f]$/.test(escaped) && !/^[0-9A-Za-z<>]$/.test(escaped)) {
      return /** @type {number} */ (escaped.codePointAt(0));
    }
    return this.fail('unrecognized escape sequence');
  }

  /** A bracketed class at `[`, as a `v`-mode class. */
  bracketClass() {
    this.index += 1;
    this.nest();
    let negated = false;
    if (this.peek() === '^') {
      negated = true;
      this.index += 1;
    }
    /** @type {string[]} */
    const operands = [];
    /** @type {string[]} */
    const operators = [];
    let union = '';
    let first = true;
    for (;;) {
      if (this.flags.x) {
        while (this.peek() !== undefined && /^\p{White_Space}$/u.test(/** @type {string} */ (this.peek()))) this.index += 1;
      }
      const character = this.peek();
      if (character === undefined) this.fail('unclosed character class');
      if (character === ']' && !first) {
        this.index += 1;
        break;
      }
      const pair = this.chars.slice(this.index, this.index + 2).join('');
      if (!first && (pair === '&&' || pair === '--' || pair === '~~')) {
        this.index += 2;
        operands.push(`[${union}]`);
        operators.push(pair);
        union = '';
        continue;
      }
      first = false;
      union += this.classItem();
    }
    operands.push(`[${union}]`);
    let expression = /** @type {string} */ (operands[0]);
    operators.forEach((operator, index) => {
      const right = operands[index + 1];
      expression = operator === '~~'
        ? `[[${expression}--${right}][${right}--${expression}]]`
        : `[${expression}${operator}${right}]`;
    });
    this.depth -= 1;
    return negated ? `[^${expression}]` : expression;
  }

  /** One member of a class: a nested class, an ASCII class, a range or a single character. */
  classItem() {
    const character = /** @type {string} */ (this.peek());
    if (character === '[') {
      const ascii = /^\[:(\^?)([a-z]+):\]/.exec(this.chars.slice(this.index, this.index + 12).join(''));
      if (ascii) {
        if (!Object.hasOwn(ASCII_CLASSES, ascii[2])) this.fail('invalid ASCII class');
        this.index += ascii[0].length;
        this.noteCase(['alnum', 'alpha', 'lower', 'upper', 'word', 'xdigit'].includes(ascii[2]));
        return `[${ascii[1]}${ASCII_CLASSES[ascii[2]]}]`;
      }
      return this.bracketClass();
    }
    const low = this.classCharacter();
    if (typeof low === 'string') return low;
    if (this.peek() === '-' && this.peek(1) !== ']' && this.peek(1) !== undefined) {
      this.index += 1;
      const high = this.classCharacter();
      if (typeof high === 'string') this.fail('invalid range boundary');
      if (/** @type {number} */ (high) < low) this.fail('invalid character class range');
      this.noteCase(true);
      return `${literal(low)}-${literal(/** @type {number} */ (high))}`;
    }
    const text = String.fromCodePoint(low);
    this.noteCase(text.toLowerCase() !== text.toUpperCase());
    return literal(low);
  }

  /** A single class character as its code point, or a class escape as text. */
  classCharacter() {
    const character = /** @type {string} */ (this.peek());
    this.index += 1;
    if (character === '\\') {
      const escaped = this.escape(true);
      return escaped.codePoint ?? escaped.text;
    }
    return /** @type {number} */ (character.codePointAt(0));
  }
}

/** @type {Map<string, RegExp | Error>} */
const cache = new Map();
const CACHE_LIMIT = 256;

/**
 * Translates and compiles a pattern; throws an `Error` saying why when Rust would refuse it
 * (or when it lies outside the shared subset).
 * @param {string} pattern
 * @returns {RegExp}
 */
export function compilePattern(pattern) {
  const cached = cache.get(pattern);
  if (cached instanceof RegExp) return cached;
  if (cached) throw cached;
  /** @type {RegExp | Error} */
  let outcome;
  try {
    outcome = translate(pattern);
  } catch (error) {
    outcome = error instanceof Error ? error : new Error(String(error));
  }
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(pattern, outcome);
  if (outcome instanceof Error) throw outcome;
  return outcome;
}

/**
 * @param {string} pattern
 * @returns {RegExp}
 */
function translate(pattern) {
  if (Array.from(pattern).length > MAX_PATTERN_LENGTH) {
    throw new Error(`pattern is longer than ${MAX_PATTERN_LENGTH} characters`);
  }
  const translator = new Translator(pattern);
  const { text } = translator.alternation();
  if (translator.index < translator.chars.length) throw new Error('unopened group');
  if (translator.caseSensitive && translator.caseInsensitive) {
    throw new Error('case-insensitive matching must cover the whole pattern');
  }
  return new RegExp(text, translator.caseInsensitive ? 'vi' : 'v');
}
