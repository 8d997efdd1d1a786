// @ts-check
/**
 * @file Compiling a `hale.app/1` definition as `hale-forms`' `compile.rs` does: the shape
 * checked, choice lists resolved, every expression parsed once, references and the NEWS2
 * mapping checked, and the evaluation order fixed from the dependency graph. A definition
 * the server would refuse is refused here with the same codes and JSON paths.
 */

import { readAnswer } from './answer.js';
import {
  DATA_FILE_EXTENSIONS, DATA_FILE_NAME_MESSAGE, MEDIA_FILE_NAME_MESSAGE, checkChoices, checkField, checkNews2,
  isDataFileName, isValidName, mediaTypeOf, namedChoices,
} from './checks.js';
import { ParseError, parse, parseChoiceFilter, references, scalarReferences } from './parser.js';

/** Most fields an app may have, counting those inside groups and repeats. */
export const MAX_FIELDS = 500;
const FORMAT = 'hale.app/1';

/**
 * @typedef {import('./parser.js').Expr} Expr
 * @typedef {string | Record<string, string>} Text
 * @typedef {{value: string, label: Text, system?: string, score?: number, uncoded?: boolean,
 *   attributes?: Record<string, string>}} Choice
 * @typedef {{oxygen: string, consciousness: string, spo2_scale?: string}} News2Mapping
 * @typedef {{path: string, code: string, message: string}} DefinitionError
 * @typedef {Record<string, any>} Field a field of the definition, as written
 */

/**
 * One field after compilation, with the members of `CompiledField` in `compile.rs`.
 * @typedef {object} CompiledField
 * @property {string} name
 * @property {string} type
 * @property {number | undefined} parent index of the enclosing group or repeat
 * @property {number | undefined} repeat index of the enclosing repeat
 * @property {Text | undefined} label
 * @property {Text | undefined} hint
 * @property {boolean} required
 * @property {Text | undefined} required_message
 * @property {Expr | undefined} relevant
 * @property {Expr | undefined} constraint
 * @property {Text | undefined} constraint_message
 * @property {Expr | undefined} calculation
 * @property {string[]} trigger fields whose change alone sets this one
 * @property {unknown} default
 * @property {Choice[]} choices
 * @property {string | undefined} choices_from a field in a repeat whose rows' answers are the choices
 * @property {Expr | undefined} choice_filter decides, per choice, whether it is offered
 * @property {string | undefined} appearance
 * @property {string | undefined} unit
 * @property {string[]} accepted_units
 * @property {string | undefined} code
 * @property {number | undefined} min
 * @property {number | undefined} max
 * @property {number | undefined} step
 * @property {number | undefined} min_count
 * @property {number | undefined} max_count
 * @property {Expr | undefined} repeat_count
 * @property {Expr | undefined} required_if
 * @property {Expr | undefined} read_only_if
 * @property {boolean} read_only given, or implied by a calculation
 * @property {Expr | undefined} default_expression
 * @property {Text | undefined} guidance_hint
 * @property {Record<string, Text>} media
 * @property {Record<string, string>} parameters
 * @property {string | undefined} prefill
 * @property {Text | undefined} prefix
 * @property {boolean} hidden
 * @property {boolean} open
 * @property {string | undefined} choice_type
 * @property {number | undefined} max_length
 */

/**
 * A compiled form: what `formState` evaluates.
 * @typedef {object} Form
 * @property {string} format
 * @property {Text} title
 * @property {string | undefined} version
 * @property {string} default_language
 * @property {string[]} languages
 * @property {string | undefined} schedule
 * @property {string | undefined} rate_limit_policy
 * @property {News2Mapping | undefined} news2
 * @property {Record<string, Choice[]>} data_files the data files attached to the version, which `pulldata()` reads
 * @property {CompiledField[]} fields every field, depth first in document order
 * @property {number[]} order dependencies before dependants
 * @property {Map<string, number>} index field index by name
 */

/**
 * The text in `language`, else the first there is (by language tag).
 * @param {Text} text
 * @param {string} language
 */
export function inLanguage(text, language) {
  if (typeof text === 'string') return text;
  if (Object.hasOwn(text, language)) return text[language];
  const first = Object.keys(text).sort(compareCodePoints)[0];
  return first === undefined ? '' : text[first];
}

/**
 * @param {string} path
 * @param {string} code
 * @param {string} message
 * @returns {DefinitionError}
 */
export const definitionError = (path, code, message) => ({ path, code, message });

/** Member kinds of the definition's objects, to refuse unknown members and wrong types. */
const TEXT = 'text';
const APP_MEMBERS = /** @type {Record<string, string>} */ ({
  format: 'string', title: TEXT, version: 'string', default_language: 'string', languages: 'strings',
  schedule: 'string', rate_limit_policy: 'string', choice_lists: 'choice_lists', data_files: 'choice_lists', media_files: 'media_files', news2: 'news2',
  codes: 'codings', fields: 'fields',
});
const FIELD_MEMBERS = /** @type {Record<string, string>} */ ({
  name: 'string', type: 'type', label: TEXT, hint: TEXT, required: 'bool', required_message: TEXT,
  constraint: 'string', constraint_message: TEXT, relevant: 'string', calculation: 'string', trigger: 'strings', default: 'any',
  choices: 'choices', choice_list: 'string', choice_file: 'string', choices_from: 'string', choice_filter: 'string', appearance: 'string', unit: 'string', accepted_units: 'strings',
  code: 'string', purpose: 'string', min: 'number', max: 'number', step: 'number', children: 'fields',
  min_count: 'count', max_count: 'count', answer_list: 'bool', repeat_count: 'string', required_if: 'string', read_only_if: 'string',
  read_only: 'bool', default_expression: 'string', guidance_hint: TEXT, media: 'texts', parameters: 'strings_map',
  prefill: 'prefill', link_id: 'string', codes: 'codings', prefix: TEXT, hidden: 'bool', open: 'bool',
  choice_type: 'choice_type', max_length: 'count',
});
const FIELD_TYPES = [
  'integer', 'decimal', 'text', 'select_one', 'select_multiple', 'rank', 'date', 'datetime', 'time', 'boolean',
  'acknowledge', 'range', 'note', 'calculate', 'group', 'repeat', 'file', 'photo',
  'geopoint', 'geotrace', 'geoshape', 'barcode', 'audio', 'video',
];
const PREFILLS = ['start', 'end', 'today', 'deviceid', 'username', 'audit'];
const CHOICE_TYPES = ['string', 'integer', 'date', 'time'];

/** @param {unknown} value */
const isPlainObject = (value) => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Whether `value` has the kind `kind` (a missing optional member is never checked).
 * @param {unknown} value
 * @param {string} kind
 * @returns {boolean}
 */
function hasKind(value, kind) {
  const object = /** @type {any} */ (value);
  const strings = (/** @type {unknown} */ list) => Array.isArray(list) && list.every((item) => typeof item === 'string');
  const textValue = (/** @type {unknown} */ text) => typeof text === 'string'
    || (isPlainObject(text) && Object.values(/** @type {object} */ (text)).every((item) => typeof item === 'string'));
  switch (kind) {
    case 'string': return typeof value === 'string';
    case 'bool': return typeof value === 'boolean';
    case 'number': return typeof value === 'number';
    case 'count': return Number.isInteger(value) && /** @type {number} */ (value) >= 0 && /** @type {number} */ (value) <= 0xffffffff;
    case 'text': return textValue(value);
    case 'strings': return strings(value);
    case 'texts': return isPlainObject(value) && Object.values(/** @type {object} */ (value)).every(textValue);
    case 'strings_map': return isPlainObject(value) && Object.values(/** @type {object} */ (value)).every((item) => typeof item === 'string');
    case 'type': return FIELD_TYPES.includes(/** @type {string} */ (value));
    case 'prefill': return PREFILLS.includes(/** @type {string} */ (value));
    case 'choice_type': return CHOICE_TYPES.includes(/** @type {string} */ (value));
    case 'fields': return Array.isArray(value);
    case 'choices': return Array.isArray(value) && value.every((choice) => isPlainObject(choice)
      && typeof choice.value === 'string' && textValue(choice.label)
      && Object.keys(choice).every((key) => ['value', 'label', 'system', 'score', 'uncoded', 'attributes', 'media'].includes(key))
      && (choice.media === undefined || hasKind(choice.media, 'texts'))
      && (choice.system === undefined || choice.system === null || typeof choice.system === 'string')
      && (choice.uncoded === undefined || typeof choice.uncoded === 'boolean')
      && (choice.attributes === undefined || hasKind(choice.attributes, 'strings_map'))
      && (choice.score === undefined || choice.score === null || typeof choice.score === 'number'));
    case 'media_files': return isPlainObject(value) && Object.values(/** @type {object} */ (value)).every((file) => isPlainObject(file)
      && typeof file.media_type === 'string' && typeof file.sha256 === 'string' && hasKind(file.size, 'size')
      && Object.keys(file).every((key) => ['media_type', 'size', 'sha256'].includes(key)));
    case 'size': return Number.isSafeInteger(value) && /** @type {number} */ (value) >= 0;
    case 'choice_lists': return isPlainObject(value) && Object.values(/** @type {object} */ (value)).every((list) => hasKind(list, 'choices'));
    case 'news2': return isPlainObject(value) && typeof object.oxygen === 'string' && typeof object.consciousness === 'string'
      && Object.keys(object).every((key) => ['oxygen', 'consciousness', 'spo2_scale'].includes(key))
      && (object.spo2_scale === undefined || object.spo2_scale === null || typeof object.spo2_scale === 'string');
    case 'codings': return Array.isArray(value) && value.every((coding) => isPlainObject(coding) && typeof coding.code === 'string'
      && Object.keys(coding).every((key) => ['system', 'code', 'display'].includes(key)));
    default: return true;
  }
}

/**
 * The definition's JSON shape, as serde reads it: unknown members and wrong kinds refused.
 * @param {any} definition
 * @returns {string | null} what is wrong, or null
 */
function shapeProblem(definition) {
  if (!isPlainObject(definition)) return 'a definition is a JSON object';
  /**
   * @param {Record<string, unknown>} object
   * @param {Record<string, string>} members
   * @param {string[]} required
   * @param {string} where
   * @returns {string | null}
   */
  const check = (object, members, required, where) => {
    for (const name of required) if (object[name] === undefined) return `missing field \`${name}\` in ${where}`;
    for (const [name, value] of Object.entries(object)) {
      if (!Object.hasOwn(members, name)) return `unknown field \`${name}\` in ${where}`;
      const optional = !required.includes(name) && !['bool', 'fields', 'choices', 'strings', 'codings', 'texts', 'strings_map', 'choice_lists', 'any'].includes(members[name]);
      if (value === null && optional) continue;
      if (!hasKind(value, members[name])) return `invalid type for \`${name}\` in ${where}`;
    }
    return null;
  };
  const problem = check(definition, APP_MEMBERS, ['title', 'fields'], 'the app');
  if (problem) return problem;
  /** @type {unknown[]} */
  const pending = [...definition.fields];
  while (pending.length > 0) {
    const field = pending.pop();
    if (!isPlainObject(field)) return 'a field is a JSON object';
    const record = /** @type {Record<string, unknown>} */ (field);
    const fieldProblem = check(record, FIELD_MEMBERS, ['name', 'type'], 'a field');
    if (fieldProblem) return fieldProblem;
    if (Array.isArray(record.children)) pending.push(...record.children);
  }
  return null;
}

/**
 * @typedef {{field: Field, parent: number | undefined, repeat: number | undefined, path: string}} FlatField
 */

/**
 * Every field depth first, with the index of its enclosing group/repeat and repeat.
 * @param {Field[]} fields
 * @param {string} prefix
 * @param {number | undefined} parent
 * @param {number | undefined} repeat
 * @param {FlatField[]} out
 */
function flatten(fields, prefix, parent, repeat, out) {
  fields.forEach((field, position) => {
    const index = out.length;
    const path = `${prefix}[${position}]`;
    out.push({ field, parent, repeat, path });
    const innerRepeat = field.type === 'repeat' ? index : repeat;
    flatten(field.children ?? [], `${path}.children`, index, innerRepeat, out);
  });
}

/**
 * XPath constructs Hale refuses on purpose, named so the refusal says what: `instance()` paths
 * into attached files, values of the last saved form, and paths and predicates beyond `${name}`.
 * @param {string} source
 */
function refusedConstruct(source) {
  if (source.includes('instance(')) return 'attached_data_unsupported';
  if (source.includes('${last-saved#')) return 'last_saved_unsupported';
  if (source.includes('/') || source.includes('[')) return 'xpath_path_unsupported';
  return null;
}

/**
 * @param {unknown} source
 * @param {string} path
 * @param {string} member
 * @param {DefinitionError[]} errors
 * @returns {Expr | undefined}
 */
function parseExpression(source, path, member, errors) {
  return parseWith(parse, source, path, member, errors);
}

/**
 * @param {(source: string) => Expr} parser
 * @param {unknown} source
 * @param {string} path
 * @param {string} member
 * @param {DefinitionError[]} errors
 * @returns {Expr | undefined}
 */
function parseWith(parser, source, path, member, errors) {
  if (typeof source !== 'string') return undefined;
  try {
    return parser(source);
  } catch (error) {
    if (!(error instanceof ParseError)) throw error;
    errors.push(definitionError(
      `${path}.${member}`,
      refusedConstruct(source) ?? 'expression_syntax',
      `${member} does not parse at character ${error.position}: ${error.message}`,
    ));
    return undefined;
  }
}

/**
 * `undefined` for a member that is absent or null, as serde reads an `Option`.
 * @template T
 * @param {T} value
 * @returns {Exclude<T, null> | undefined}
 */
const optional = (value) => /** @type {Exclude<T, null> | undefined} */ (value === null ? undefined : value);

/**
 * @param {FlatField} flat
 * @param {any} app
 * @param {DefinitionError[]} errors
 * @returns {CompiledField}
 */
function compileField({ field, parent, repeat, path }, app, errors) {
  // A file not attached yet offers nothing (lint, on the server, blocks publishing it).
  const choices = namedChoices(field, app)?.[1] ?? field.choices ?? [];
  /** @param {string} member */
  const expression = (member) => parseExpression(optional(field[member]), path, member, errors);
  return {
    name: field.name,
    type: field.type,
    parent,
    repeat,
    label: optional(field.label),
    hint: optional(field.hint),
    required: field.required === true,
    required_message: optional(field.required_message),
    relevant: expression('relevant'),
    constraint: expression('constraint'),
    constraint_message: optional(field.constraint_message),
    calculation: expression('calculation'),
    trigger: field.trigger ?? [],
    default: optional(field.default),
    choices: choices.map((/** @type {Choice} */ choice) => ({ ...choice })),
    choices_from: optional(field.choices_from),
    // Over a repeat's answers the filter passes rows, read by `${name}`, not choices.
    choice_filter: optional(field.choices_from) === undefined
      ? parseWith(parseChoiceFilter, optional(field.choice_filter), path, 'choice_filter', errors)
      : expression('choice_filter'),
    appearance: optional(field.appearance),
    unit: optional(field.unit),
    accepted_units: field.accepted_units ?? [],
    code: optional(field.code),
    min: optional(field.min),
    max: optional(field.max),
    step: optional(field.step),
    min_count: optional(field.min_count),
    max_count: optional(field.max_count),
    repeat_count: expression('repeat_count'),
    required_if: expression('required_if'),
    read_only_if: expression('read_only_if'),
    // A triggered calculation only sets the answer, which the person may then change.
    read_only: field.read_only === true || (typeof field.calculation === 'string' && (field.trigger ?? []).length === 0),
    default_expression: expression('default_expression'),
    guidance_hint: optional(field.guidance_hint),
    media: field.media ?? {},
    parameters: field.parameters ?? {},
    prefill: optional(field.prefill),
    prefix: optional(field.prefix),
    hidden: field.hidden === true,
    open: field.open === true,
    choice_type: optional(field.choice_type),
    max_length: optional(field.max_length),
  };
}

/**
 * @param {any} app
 * @param {DefinitionError[]} errors
 */
function checkApp(app, errors) {
  if (optional(app.format) !== undefined && app.format !== FORMAT) {
    errors.push(definitionError('$.format', 'unknown_format', `this engine reads '${FORMAT}'`));
  }
  const language = optional(app.default_language) ?? 'en';
  if (language.replace(/^\p{White_Space}+|\p{White_Space}+$/gu, '') === '') {
    errors.push(definitionError('$.default_language', 'invalid_language', "the default language is a language tag such as 'en'"));
  }
  const lists = app.choice_lists ?? {};
  for (const name of Object.keys(lists).sort(compareCodePoints)) {
    const path = `$.choice_lists.${name}`;
    if (!isValidName(name)) {
      errors.push(definitionError(path, 'invalid_name', "a choice list name is a plain name like a field's"));
    }
    checkChoices(lists[name], path, errors);
  }
  const files = app.data_files ?? {};
  for (const name of Object.keys(files).sort(compareCodePoints)) {
    const path = `$.data_files.${name}`;
    if (!isDataFileName(name)) errors.push(definitionError(path, 'invalid_data_file', DATA_FILE_NAME_MESSAGE));
    checkChoices(files[name], path, errors);
  }
  const media = app.media_files ?? {};
  for (const name of Object.keys(media).sort(compareCodePoints)) {
    const path = `$.media_files.${name}`;
    const file = media[name];
    const described = mediaTypeOf(name) === file.media_type && /^[0-9a-f]{64}$/.test(file.sha256);
    if (mediaTypeOf(name) === undefined) {
      errors.push(definitionError(path, 'invalid_media_file', MEDIA_FILE_NAME_MESSAGE));
    } else if (!described) {
      errors.push(definitionError(path, 'invalid_media_file',
        'a media file is described by the media type its name gives and the SHA-256 of its bytes in lowercase hex'));
    }
  }
}

/**
 * The data file `pulldata()` names by its stem: `stem.csv`, else `stem.xml`.
 * @param {Record<string, Choice[]>} files
 * @param {string} stem
 * @returns {Choice[] | undefined}
 */
export function dataFile(files, stem) {
  const name = DATA_FILE_EXTENSIONS.map((extension) => `${stem}.${extension}`).find((file) => Object.hasOwn(files, file));
  return name === undefined ? undefined : files[name];
}

/**
 * The `${name}` references in every language of a text.
 * @param {Text} text
 */
function textReferences(text) {
  const all = typeof text === 'string' ? [text] : Object.keys(text).sort(compareCodePoints).map((key) => text[key]);
  /** @type {string[]} */
  const names = [];
  for (const whole of all) {
    let rest = whole;
    for (let start = rest.indexOf('${'); start >= 0; start = rest.indexOf('${')) {
      const after = rest.slice(start + 2);
      const end = after.indexOf('}');
      if (end < 0) break;
      const name = after.slice(0, end);
      if (isValidName(name) && !names.includes(name)) names.push(name);
      rest = after.slice(end + 1);
    }
  }
  return names;
}

/**
 * Dependencies first, stable in document order (Kahn's algorithm taking the lowest ready
 * index); fields on or behind a cycle are left out.
 * @param {Set<number>[]} dependencies
 */
function evaluationOrder(dependencies) {
  const waiting = dependencies.map((set) => set.size);
  /** @type {number[][]} */
  const dependants = dependencies.map(() => []);
  dependencies.forEach((set, dependant) => {
    for (const dependency of [...set].sort((a, b) => a - b)) dependants[dependency].push(dependant);
  });
  const ready = new MinHeap();
  waiting.forEach((count, index) => {
    if (count === 0) ready.push(index);
  });
  const order = [];
  for (let index = ready.pop(); index !== undefined; index = ready.pop()) {
    order.push(index);
    for (const dependant of dependants[index]) {
      waiting[dependant] -= 1;
      if (waiting[dependant] === 0) ready.push(dependant);
    }
  }
  return order;
}

/** A binary min-heap of indices. */
class MinHeap {
  constructor() {
    /** @type {number[]} */
    this.items = [];
  }

  /** @param {number} item */
  push(item) {
    const items = this.items;
    items.push(item);
    for (let child = items.length - 1; child > 0;) {
      const parent = (child - 1) >> 1;
      if (items[parent] <= items[child]) break;
      [items[parent], items[child]] = [items[child], items[parent]];
      child = parent;
    }
  }

  /** @returns {number | undefined} */
  pop() {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      items[0] = last;
      for (let parent = 0; ;) {
        const left = 2 * parent + 1;
        const right = left + 1;
        let smallest = parent;
        if (left < items.length && items[left] < items[smallest]) smallest = left;
        if (right < items.length && items[right] < items[smallest]) smallest = right;
        if (smallest === parent) break;
        [items[parent], items[smallest]] = [items[smallest], items[parent]];
        parent = smallest;
      }
    }
    return top;
  }
}

/**
 * The distinct cycles among the fields left out of `order`, each from its lowest index.
 * @param {Set<number>[]} dependencies
 * @param {number[]} order
 */
function findCycles(dependencies, order) {
  const placed = dependencies.map(() => false);
  for (const index of order) placed[index] = true;
  const reported = new Set();
  /** @type {number[][]} */
  const cycles = [];
  for (let start = 0; start < dependencies.length; start += 1) {
    if (placed[start]) continue;
    const walk = [start];
    let current = start;
    for (;;) {
      const next = [...dependencies[current]].sort((a, b) => a - b).find((dependency) => !placed[dependency]);
      if (next === undefined) break;
      const position = walk.indexOf(next);
      if (position >= 0) {
        const cycle = walk.slice(position);
        const members = [...cycle].sort((a, b) => a - b).join(',');
        if (!reported.has(members)) {
          reported.add(members);
          const lowest = cycle.indexOf(Math.min(...cycle));
          cycles.push([...cycle.slice(lowest), ...cycle.slice(0, lowest)]);
        }
        break;
      }
      walk.push(next);
      current = next;
    }
  }
  return cycles;
}

/**
 * Whether the level `outer` (a repeat's index, or the top for `undefined`) is `inner` or
 * encloses it.
 * @param {CompiledField[]} fields
 * @param {number | undefined} outer
 * @param {number | undefined} inner
 */
export function encloses(fields, outer, inner) {
  for (let level = inner; ; level = fields[level].repeat) {
    if (level === outer) return true;
    if (level === undefined) return false;
  }
}

/** Field types whose answer is one plain value, offered by a select naming it in `choices_from`. */
const REPEAT_SOURCE_TYPES = ['text', 'integer', 'decimal', 'select_one'];

/**
 * Why field `target` cannot give the choices of select `index`, if it cannot: it must answer
 * one plain value in a repeat the select is outside of (inside it, a row would offer itself).
 * @param {CompiledField[]} fields
 * @param {number} index
 * @param {number} target
 * @param {string} path
 * @returns {DefinitionError | undefined}
 */
function repeatSourceProblem(fields, index, target, path) {
  const source = fields[target];
  if (!REPEAT_SOURCE_TYPES.includes(source.type) || source.repeat === undefined) {
    return definitionError(path, 'invalid_choices_from', `\${${source.name}} must be a text, integer, decimal or select_one field inside a repeat`);
  }
  if (encloses(fields, source.repeat, fields[index].repeat)) {
    return definitionError(path, 'invalid_choices_from', `\${${source.name}} is in a repeat that holds this select, whose choices are the other rows' answers`);
  }
  return undefined;
}

/**
 * Checks every `${ref}`, builds the dependency graph and returns the evaluation order.
 * @param {CompiledField[]} fields
 * @param {string[]} paths
 * @param {DefinitionError[]} errors
 */
function checkReferences(fields, paths, errors) {
  // Every field of each name: `${name}` must name exactly one.
  /** @type {Map<string, number[]>} */
  const named = new Map();
  fields.forEach((field, index) => {
    const list = named.get(field.name);
    if (list) list.push(index);
    else named.set(field.name, [index]);
  });
  /**
   * The one field `name` names, or undefined after reporting why there is none.
   * @param {string} name
   * @param {string} path
   * @returns {number | undefined}
   */
  const resolve = (name, path) => {
    const list = named.get(name) ?? [];
    if (list.length === 1) return list[0];
    errors.push(list.length === 0
      ? definitionError(path, 'unknown_reference', `\${${name}} names no field of this app`)
      : definitionError(path, 'ambiguous_reference', `\${${name}} names more than one field of this app (in different groups or repeats): give them different names`));
    return undefined;
  };
  /** @type {Set<number>[]} */
  const dependencies = fields.map(() => new Set());
  fields.forEach((field, index) => {
    // `${name}` inside a label, hint or message shows that field's value: it must exist.
    /** @type {[string, Text | undefined][]} */
    const texts = [
      ['label', field.label], ['hint', field.hint], ['guidance_hint', field.guidance_hint],
      ['constraint_message', field.constraint_message], ['required_message', field.required_message],
      ...field.choices.map((choice) => /** @type {[string, Text]} */ (['choices', choice.label])),
    ];
    for (const [member, text] of texts) {
      if (text === undefined) continue;
      for (const name of textReferences(text)) resolve(name, `${paths[index]}.${member}`);
    }
    if (field.parent !== undefined) dependencies[index].add(field.parent);
    for (const name of field.trigger) {
      const path = `${paths[index]}.trigger`;
      const target = resolve(name, path);
      if (target === undefined) continue;
      // Only a change the person makes sets a triggered field.
      const trigger = fields[target];
      const answeredByPerson = isAnswered(trigger.type) && trigger.type !== 'repeat'
        && trigger.calculation === undefined && trigger.prefill === undefined;
      if (!answeredByPerson) {
        errors.push(definitionError(path, 'invalid_trigger', `\${${name}} is not answered by the person, so it never changes to trigger this field`));
      } else {
        dependencies[index].add(target);
      }
    }
    // The level whose rows give the select's choices: its filter reads one row there.
    /** @type {number | undefined | null} */
    let rowLevel = null;
    if (field.choices_from !== undefined) {
      const path = `${paths[index]}.choices_from`;
      const target = resolve(field.choices_from, path);
      const problem = target === undefined ? undefined : repeatSourceProblem(fields, index, target, path);
      if (problem) errors.push(problem);
      else if (target !== undefined) {
        // The select is judged after the rows' answers it offers.
        dependencies[index].add(target);
        rowLevel = fields[target].repeat;
      }
    }
    /** @type {[string, Expr | undefined, boolean][]} */
    const members = [
      ['relevant', field.relevant, true], ['calculation', field.calculation, true],
      ['constraint', field.constraint, false], ['repeat_count', field.repeat_count, true],
      ['required_if', field.required_if, false],
      // Judged with the answer, after what it reads.
      ['read_only_if', field.read_only_if, true],
      ['default_expression', field.default_expression, false],
      // The select is judged after the answers its filter reads.
      ['choice_filter', field.choice_filter, true],
    ];
    for (const [member, expr, orders] of members) {
      if (expr === undefined) continue;
      const path = `${paths[index]}.${member}`;
      const scalar = scalarReferences(expr);
      for (const name of [...references(expr)].sort(compareCodePoints)) {
        const target = resolve(name, path);
        if (target === undefined) continue;
        const targetField = fields[target];
        if (targetField.type === 'group') {
          errors.push(definitionError(path, 'reference_to_group', `\${${name}} is a group, which has no value`));
          continue;
        }
        // `count(${q})`, `sum(${q})`, … read a repeat's rows from outside it; one value is
        // there only in the row being evaluated or one that encloses it.
        const inRow = member === 'choice_filter' && rowLevel === targetField.repeat;
        if (targetField.repeat !== undefined && !inRow && !encloses(fields, targetField.repeat, field.repeat) && scalar.has(name)) {
          errors.push(definitionError(
            path,
            'reference_into_repeat',
            `\${${name}} is answered once per repeat row and can only be read inside its repeat`,
          ));
          continue;
        }
        if (orders) dependencies[index].add(target);
      }
    }
  });
  const order = evaluationOrder(dependencies);
  for (const cycle of findCycles(dependencies, order)) {
    const names = cycle.map((index) => fields[index].name);
    const first = cycle[0] ?? 0;
    const member = fields[first]?.calculation !== undefined ? 'calculation' : 'relevant';
    errors.push(definitionError(
      `${paths[first] ?? '$.fields'}.${member}`,
      'cycle',
      `relevance and calculations depend on each other in a cycle: ${names.join(' -> ')} -> ${names[0] ?? ''}`,
    ));
  }
  return order;
}

/**
 * Byte order of UTF-8 strings (Rust's `String` order) equals code point order.
 * @param {string} left
 * @param {string} right
 */
export function compareCodePoints(left, right) {
  const a = Array.from(left);
  const b = Array.from(right);
  for (let index = 0; index < Math.min(a.length, b.length); index += 1) {
    const difference = /** @type {number} */ (a[index].codePointAt(0)) - /** @type {number} */ (b[index].codePointAt(0));
    if (difference !== 0) return difference;
  }
  return a.length - b.length;
}

/**
 * Whether `rows` are rows of repeat `repeat`: objects naming answered fields of the repeat,
 * each with a valid answer.
 * @param {CompiledField[]} fields
 * @param {number} repeat
 * @param {unknown} rows
 */
function rowsFit(fields, repeat, rows) {
  if (!Array.isArray(rows)) return false;
  return rows.every((row) => isPlainObject(row) && Object.entries(row).every(([name, value]) =>
    fields.some((field) => field.repeat === repeat && field.name === name && isAnswered(field.type)
      && field.type !== 'repeat' && 'answer' in readAnswer(field, value))));
}

/**
 * Whether the client submits an answer for this type.
 * @param {string} type
 */
export const isAnswered = (type) => type !== 'note' && type !== 'calculate' && type !== 'group';

/**
 * Checks a definition and prepares it for {@link formState}; throws an `Error` whose
 * `errors` lists every problem (`{path, code, message}`) when it is unusable.
 * @param {unknown} definition the app's `hale.app/1` JSON (an object, or its text)
 * @returns {Form}
 */
export function compile(definition) {
  const app = typeof definition === 'string' ? JSON.parse(definition) : definition;
  const shape = shapeProblem(app);
  if (shape) throw Object.assign(new Error(`definition is not valid: ${shape}`), { errors: [definitionError('$', 'malformed_definition', shape)] });
  /** @type {DefinitionError[]} */
  const errors = [];
  checkApp(app, errors);
  /** @type {FlatField[]} */
  const flat = [];
  flatten(app.fields, '$.fields', undefined, undefined, flat);
  if (flat.length > MAX_FIELDS) {
    errors.push(definitionError('$.fields', 'too_many_fields', `an app has at most ${MAX_FIELDS} fields`));
  }
  // One name may serve fields of different groups and repeats, but not two fields of one
  // group, nor two answers of one level (the top, or a repeat's row; groups do not separate).
  const siblings = new Set();
  const answers = new Set();
  const compiled = flat.map((entry) => {
    const { field, parent, repeat, path } = entry;
    const sibling = JSON.stringify([parent ?? null, field.name]);
    const answer = JSON.stringify([repeat ?? null, field.name]);
    if (!isValidName(field.name)) {
      errors.push(definitionError(
        `${path}.name`,
        'invalid_name',
        "a field name starts with a letter or '_' and has only letters, digits, '_', '-' and '.' (at most 64)",
      ));
    } else if (siblings.has(sibling)) {
      errors.push(definitionError(`${path}.name`, 'duplicate_name', `field name '${field.name}' is used twice`));
    } else {
      siblings.add(sibling);
      if (field.type !== 'group') {
        if (answers.has(answer)) {
          errors.push(definitionError(
            `${path}.name`,
            'duplicate_name',
            `field name '${field.name}' is answered twice in one level: fields of different groups share their level's answers (only a repeat separates them)`,
          ));
        } else answers.add(answer);
      }
    }
    checkField(field, path, app, errors);
    return compileField(entry, app, errors);
  });
  const paths = flat.map((entry) => entry.path);
  const order = checkReferences(compiled, paths, errors);
  checkNews2(optional(app.news2), compiled, errors);
  compiled.forEach((field, index) => {
    if (field.default === undefined) return;
    if (field.type === 'repeat') {
      if (!rowsFit(compiled, index, field.default)) {
        errors.push(definitionError(
          `${paths[index]}.default`,
          'invalid_default',
          "a repeat's default is a list of rows, each naming fields of the repeat with valid answers",
        ));
      }
    } else if (!isAnswered(field.type)) {
      errors.push(definitionError(`${paths[index]}.default`, 'default_not_allowed', 'only answered fields take a default'));
    } else if ('problem' in readAnswer(field, field.default)) {
      errors.push(definitionError(`${paths[index]}.default`, 'invalid_default', 'the default is not a valid answer for this field'));
    }
  });
  if (errors.length > 0) {
    const summary = errors.slice(0, 5).map((error) => `${error.path}: ${error.message}`).join('; ');
    throw Object.assign(new Error(`definition is not usable: ${summary}`), { errors });
  }
  return {
    format: FORMAT,
    title: app.title,
    version: optional(app.version),
    default_language: optional(app.default_language) ?? 'en',
    languages: app.languages ?? [],
    schedule: optional(app.schedule),
    rate_limit_policy: optional(app.rate_limit_policy),
    news2: optional(app.news2),
    data_files: app.data_files ?? {},
    fields: compiled,
    order,
    // The first field of a name, as `CompiledForm::index_of` finds it.
    index: new Map(compiled.map((field, index) => /** @type {[string, number]} */ ([field.name, index])).reverse()),
  };
}
