// @ts-check
/**
 * @file Checks on one field, on choice lists and on the NEWS2 mapping, as `hale-forms`'
 * `checks.rs` makes them, each reporting into a shared list so compile reports every problem.
 */

import { convert } from './units.js';
import { vital } from './vitals.js';
import { hasWhitespace } from './value.js';

/**
 * @typedef {import('./form.js').DefinitionError} DefinitionError
 * @typedef {import('./form.js').CompiledField} CompiledField
 * @typedef {import('./form.js').Choice} Choice
 * @typedef {import('./form.js').News2Mapping} News2Mapping
 * @typedef {Record<string, any>} Field
 */

/** Choice values a NEWS2 consciousness field may use, in ACVPU order. */
export const ACVPU_VALUES = ['alert', 'confusion', 'voice', 'pain', 'unresponsive'];
/** Choice values of a NEWS2 oxygen field written as select_one. */
export const OXYGEN_VALUES = ['air', 'oxygen'];
/** Choice values of a NEWS2 SpO2 scale field. */
export const SCALE_VALUES = ['scale1', 'scale2'];

/**
 * A field or choice-list name: a letter or `_`, then letters, digits, `_`, `-`, `.`; at most 64.
 * @param {unknown} name
 */
export const isValidName = (name) => typeof name === 'string' && name.length <= 64 && /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(name);

/** Extensions a data file may have: the two formats `select_one_from_file` and `pulldata()` read. */
export const DATA_FILE_EXTENSIONS = ['csv', 'xml'];

/** Why a name is no data file's. */
export const DATA_FILE_NAME_MESSAGE = 'a data file is named like fruits.csv or shops.xml: letters, digits, _, - and .';

/**
 * Whether `name` can name a data file attached to a version: at most 64 letters, digits, `_`,
 * `-` and `.`, not starting with `.`, ending in `.csv` or `.xml` after a non-empty stem.
 * @param {string} name
 */
export function isDataFileName(name) {
  const extension = fileExtension(name);
  return extension !== undefined && DATA_FILE_EXTENSIONS.includes(extension);
}

/**
 * The extension of a name a file attached to a version may have: at most 64 letters, digits,
 * `_`, `-` and `.`, not starting with `.`, a non-empty stem before the last `.`.
 * @param {string} name
 * @returns {string | undefined}
 */
function fileExtension(name) {
  const dot = name.lastIndexOf('.');
  const plain = dot > 0 && name.length <= 64 && /^[A-Za-z0-9_.-]*$/.test(name);
  return plain ? name.slice(dot + 1) : undefined;
}

/** The media files a version can carry, by extension, with their media types (no SVG: it can hold script). */
export const MEDIA_TYPES = /** @type {Record<string, string>} */ ({
  png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp',
  mp3: 'audio/mpeg', ogg: 'audio/ogg', oga: 'audio/ogg', wav: 'audio/wav', m4a: 'audio/mp4',
  mp4: 'video/mp4', webm: 'video/webm',
});

/** Why a name is no media file's. */
export const MEDIA_FILE_NAME_MESSAGE = 'a media file is named like pain.png, cough.mp3 or exercise.mp4 '
  + '(png, jpg, gif, webp, mp3, ogg, wav, m4a, mp4, webm): letters, digits, _, - and .';

/**
 * The media type of the media file `name` names (`pain.png` → `image/png`), when it can name
 * one: the rules of a data file's name, with one of the media extensions in any case.
 * @param {string} name
 * @returns {string | undefined}
 */
export function mediaTypeOf(name) {
  const extension = fileExtension(name)?.toLowerCase();
  return extension !== undefined && Object.hasOwn(MEDIA_TYPES, extension) ? MEDIA_TYPES[extension] : undefined;
}

/**
 * The choices a select names elsewhere than inline, with the member naming them: its
 * `choice_list` in the app's choice lists, else its `choice_file` in the app's data files
 * (none when the app has no such list or file); undefined for inline choices.
 * @param {Field} field
 * @param {any} app
 * @returns {[string, Choice[]] | undefined}
 */
export function namedChoices(field, app) {
  /** @param {Record<string, Choice[]> | undefined} lists @param {string} name */
  const named = (lists, name) => (lists && Object.hasOwn(lists, name) ? lists[name] : []);
  if (given(field.choice_list)) return ['choice_list', named(app.choice_lists, field.choice_list)];
  if (given(field.choice_file)) return ['choice_file', named(app.data_files, field.choice_file)];
  return undefined;
}

/**
 * @param {string} path
 * @param {string} code
 * @param {string} message
 */
const problem = (path, code, message) => ({ path, code, message });

/**
 * Words separated by single spaces (the shape of a FHIR `code`): XLSForm allows spaces in a
 * select_one's choice names; a field whose answer lists several choices refuses them.
 * @param {string} value
 */
const isChoiceValue = (value) => value !== '' && value.split(' ').every((word) => word !== '' && !hasWhitespace(word));

/**
 * In XLSForm a select_multiple's or a rank's answer is its values separated by spaces, so its
 * choice values have none.
 * @param {Field} field
 * @param {any} app
 * @param {string} path
 * @returns {DefinitionError | undefined}
 */
function spacedChoicesProblem(field, app, path) {
  if (field.type !== 'select_multiple' && field.type !== 'rank') return undefined;
  const message = "a select_multiple's or rank's choice values have no spaces: its XLSForm answer is its values separated by spaces";
  /** @param {Choice} choice */
  const spaced = (choice) => choice.value.includes(' ');
  const named = namedChoices(field, app);
  if (named) return named[1].some(spaced) ? problem(`${path}.${named[0]}`, 'invalid_choice_value', message) : undefined;
  const index = (field.choices ?? []).findIndex(spaced);
  return index < 0 ? undefined : problem(`${path}.choices[${index}].value`, 'invalid_choice_value', message);
}

/**
 * @param {Choice[]} choices
 * @param {string} path
 * @param {DefinitionError[]} errors
 */
export function checkChoices(choices, path, errors) {
  if (choices.length === 0) errors.push(problem(path, 'choices_missing', 'a choice list needs at least one choice'));
  const values = new Set();
  choices.forEach((choice, index) => {
    if (!isChoiceValue(choice.value)) {
      errors.push(problem(
        `${path}[${index}].value`,
        'invalid_choice_value',
        'a choice value is non-empty, with no white space but single spaces between words',
      ));
    } else if (values.has(choice.value)) {
      errors.push(problem(`${path}[${index}].value`, 'duplicate_choice', `choice value '${choice.value}' is used twice`));
    } else {
      values.add(choice.value);
    }
    // `name` and `label` are the choice's own value and label in a choice filter.
    const attributes = Object.keys(choice.attributes ?? {});
    if (attributes.some((key) => !isValidName(key) || key === 'name' || key === 'label')) {
      errors.push(problem(
        `${path}[${index}].attributes`,
        'invalid_name',
        "an attribute name is a plain name like a field's, other than 'name' and 'label'",
      ));
    }
  });
}

const NUMERIC = ['integer', 'decimal', 'range'];
const PREFILL_TYPES = /** @type {Record<string, string>} */ ({
  start: 'datetime', end: 'datetime', today: 'date', deviceid: 'text', username: 'text', audit: 'file',
});

/**
 * @param {unknown} value
 * @returns {boolean}
 */
const given = (value) => value !== undefined && value !== null;

/**
 * What a select whose choices are a repeat's answers (`choices_from`) may not have: they are
 * read from the rows alone, so it is a select_one or select_multiple with no other choices and
 * no free answer. Where the named field is and what it answers is checked with the other
 * references.
 * @param {Field} field
 * @param {(member: string, code: string, message: string) => void} push
 */
function repeatChoicesProblem(field, push) {
  const select = field.type === 'select_one' || field.type === 'select_multiple';
  if (!select) {
    push('choices_from', 'choices_on_non_select', 'choices_from applies only to select_one and select_multiple fields');
  }
  if ((field.choices ?? []).length > 0 || given(field.choice_list) || given(field.choice_file)) {
    push('choices_from', 'choices_and_list', 'give choices_from, inline choices, a choice list or a choice file, only one');
  }
  // Other types are told that open and choice_type are a select's, with the other checks.
  if (select && (field.open === true || given(field.choice_type))) {
    push('open', 'choices_on_non_select', "open and choice_type do not apply to choices from a repeat's answers");
  }
}

/**
 * A select whose choices are the rows of a data file: the file's name must be one a data file
 * can have, and no other source of choices may be given. A file not attached yet is no error
 * here (the draft stays editable); lint reports it, and it blocks publication.
 * @param {Field} field
 * @param {(member: string, code: string, message: string) => void} push
 */
function choiceFileProblem(field, push) {
  if ((field.choices ?? []).length > 0 || given(field.choice_list)) {
    push('choice_file', 'choices_and_list', 'give a choice file, inline choices or a choice list, only one');
  }
  if (!isDataFileName(field.choice_file)) push('choice_file', 'invalid_data_file', DATA_FILE_NAME_MESSAGE);
}

/**
 * @param {Field} field
 * @param {string} path
 * @param {any} app
 * @param {DefinitionError[]} errors
 */
export function checkField(field, path, app, errors) {
  const kind = field.type;
  /**
   * @param {string} member
   * @param {string} code
   * @param {string} message
   */
  const push = (member, code, message) => errors.push(problem(member === '' ? path : `${path}.${member}`, code, message));
  const answered = kind !== 'note' && kind !== 'calculate' && kind !== 'group';
  const container = kind === 'group' || kind === 'repeat';
  const select = kind === 'select_one' || kind === 'select_multiple' || kind === 'rank';
  const children = field.children ?? [];
  const acceptedUnits = field.accepted_units ?? [];
  const media = field.media ?? {};
  const hasCalculation = given(field.calculation);
  if (field.name === 'meta') push('name', 'reserved_name', "'meta' is reserved for the form's metadata");
  if (given(field.appearance) && field.appearance.includes('search(')) {
    push('appearance', 'attached_data_unsupported', 'search() reads choices from an attached file, which Hale does not keep yet');
  }
  // A hint or a label image is enough to show the person what to answer; values the client
  // records itself are shown to no one.
  const labelled = ((answered && !container) || kind === 'note') && !given(field.prefill) && !hasCalculation;
  if (labelled && !given(field.label) && !given(field.hint) && Object.keys(media).length === 0) {
    push('label', 'label_missing', 'this field needs a label or a hint');
  }
  if (given(field.prefill) && (PREFILL_TYPES[field.prefill] !== kind || hasCalculation)) {
    push('prefill', 'prefill_mismatch', `a value recorded by the client is a ${PREFILL_TYPES[field.prefill]} without a calculation`);
  }
  const numeric = NUMERIC.includes(kind);
  const measured = numeric || kind === 'calculate';
  if (!numeric && (given(field.min) || given(field.max))) {
    push('', 'bounds_on_non_numeric', 'min and max apply only to integer, decimal and range fields');
  }
  if (!measured && (given(field.unit) || acceptedUnits.length > 0)) {
    push('unit', 'unit_on_non_numeric', 'a unit applies only to integer, decimal, range and calculate fields');
  }
  if (given(field.min) && given(field.max) && field.min > field.max) push('', 'min_above_max', 'min is greater than max');
  if (kind === 'range' && (!given(field.min) || !given(field.max))) push('', 'range_bounds_missing', 'a range needs min and max');
  if (given(field.step)) {
    if (kind !== 'range') push('step', 'step_on_non_range', 'step applies only to range fields');
    else if (!(field.step > 0 && Number.isFinite(field.step))) push('step', 'invalid_step', "a range's step is a positive number");
  }
  if (given(field.unit)) {
    const unit = field.unit;
    // Whether the unit is UCUM at all is checked by the server alone (`unknown_unit`), which
    // compiles every form before the browser renders it.
    acceptedUnits.forEach((/** @type {string} */ other, /** @type {number} */ index) => {
      if (convert(1.0, other, unit) === null) {
        push(
          `accepted_units[${index}]`,
          'unit_not_convertible',
          `'${other}' cannot be converted to '${unit}' (answers are converted between the vital-signs catalogue's units)`,
        );
      }
    });
  } else if (acceptedUnits.length > 0) {
    push('unit', 'code_without_unit', "accepted units need the field's own unit");
  }
  if (given(field.code)) {
    const code = field.code;
    if (!measured) {
      push('code', 'code_on_non_numeric', 'a LOINC code derives an observation and needs a numeric or calculate field');
    }
    const sign = vital(code);
    if (!given(field.unit)) {
      push('unit', 'code_without_unit', 'a coded field needs a UCUM unit');
    } else if (sign) {
      const allAccepted = [field.unit, ...acceptedUnits].every((unit) => sign.acceptedUnits.includes(unit));
      if (!allAccepted) {
        push(
          'unit',
          'unit_disagrees_with_catalogue',
          `LOINC ${code} (${sign.display}) is recorded in ${sign.canonicalUnit}; this field's units must be among ${sign.acceptedUnits.join(', ')}`,
        );
      }
    }
  }
  const inlineChoices = field.choices ?? [];
  if (given(field.choices_from)) {
    repeatChoicesProblem(field, push);
  } else if (select && given(field.choice_file)) {
    choiceFileProblem(field, push);
  } else if (select) {
    if (given(field.choice_list) && inlineChoices.length > 0) {
      push('choice_list', 'choices_and_list', 'give inline choices or a choice list, not both');
    } else if (given(field.choice_list)) {
      if (!(app.choice_lists && Object.hasOwn(app.choice_lists, field.choice_list))) {
        push('choice_list', 'choice_list_missing', `there is no choice list named '${field.choice_list}'`);
      }
    } else {
      checkChoices(inlineChoices, `${path}.choices`, errors);
    }
  } else {
    if (inlineChoices.length > 0 || given(field.choice_list) || given(field.choice_file)) {
      push('choices', 'choices_on_non_select', 'choices apply only to select_one, select_multiple and rank fields');
    }
    if (given(field.choice_filter)) {
      push('choice_filter', 'choices_on_non_select', 'choice_filter applies only to select_one, select_multiple and rank fields');
    }
  }
  const spaced = spacedChoicesProblem(field, app, path);
  if (spaced) errors.push(spaced);
  /**
   * @param {string} member
   * @param {string} code
   * @param {string} message
   */
  const at = (member, code, message) => errors.push(problem(`${path}.${member}`, code, message));
  // A group or repeat may be empty, as in XLSForm: it shows its label and holds nothing.
  if (children.length > 0 && kind === 'calculate') {
    // A calculation is shown to no one, so nothing can follow it.
    at('children', 'children_on_non_group', 'a calculate field holds no fields');
  }
  // A ranking orders the choices it offers, so it takes no free answer.
  if ((field.open === true || given(field.choice_type)) && (!select || kind === 'rank')) {
    at('open', 'choices_on_non_select', 'open and choice_type apply only to select_one and select_multiple fields');
  }
  if (given(field.max_length) && kind !== 'text') {
    at('max_length', 'max_length_on_non_text', 'max_length applies only to text fields');
  }
  if (field.link_id === '' || (field.codes ?? []).some((/** @type {{code: string}} */ coding) => coding.code === '')) {
    at('link_id', 'invalid_identifier', 'a link_id and every code is non-empty');
  }
  const counted = kind === 'repeat' || kind === 'select_multiple';
  if (!counted && (given(field.min_count) || given(field.max_count))) {
    at('min_count', 'count_on_non_repeat', 'min_count and max_count apply only to repeats and select_multiple fields');
  }
  if (field.answer_list === true) {
    const question = children[0];
    if (kind !== 'repeat') {
      at('answer_list', 'answer_list_on_non_repeat', 'answer_list applies only to repeats');
    } else if (!(question
      && question.type !== 'note' && question.type !== 'calculate' && question.type !== 'group' && question.type !== 'repeat'
      && !given(question.calculation) && question.required === true && !given(question.relevant) && !given(question.default))) {
      at(
        'answer_list',
        'answer_list_question',
        "an answer list's first child is its question: an answered, required field with no calculation, relevance or default of its own (the list's default gives its first rows)",
      );
    }
  }
  if (given(field.min_count) && given(field.max_count) && field.min_count > field.max_count) {
    at('min_count', 'min_above_max', 'min_count is greater than max_count');
  }
  if (kind === 'calculate' && !hasCalculation) at('calculation', 'calculation_missing', 'a calculate field needs a calculation');
  if (container && hasCalculation) at('calculation', 'calculation_on_non_calculate', 'groups and repeats take no calculation');
  if ((field.trigger ?? []).length > 0 && (kind === 'note' || kind === 'group' || kind === 'repeat')) {
    at('trigger', 'trigger_not_allowed', 'only a question or a calculation is set by a trigger');
  }
  if (kind !== 'repeat' && given(field.repeat_count)) at('repeat_count', 'count_on_non_repeat', 'repeat_count applies only to repeats');
  if (given(field.default) && given(field.default_expression)) {
    at('default_expression', 'default_and_expression', 'give a constant default or a default expression, not both');
  }
  const answeredValue = answered && kind !== 'repeat';
  if ((field.required === true || given(field.required_if)) && !answeredValue) {
    at('required', 'required_not_allowed', 'only answered fields can be required');
  }
  if (given(field.constraint) && !answeredValue) at('constraint', 'constraint_not_allowed', 'only answered fields take a constraint');
}

/**
 * @param {News2Mapping | undefined} mapping
 * @param {CompiledField[]} fields
 * @param {DefinitionError[]} errors
 */
export function checkNews2(mapping, fields, errors) {
  if (!mapping) return;
  /** @type {[string, string | undefined | null, string[]][]} */
  const roles = [
    ['oxygen', mapping.oxygen, OXYGEN_VALUES],
    ['consciousness', mapping.consciousness, ACVPU_VALUES],
    ['spo2_scale', mapping.spo2_scale, SCALE_VALUES],
  ];
  for (const [role, name, allowed] of roles) {
    if (!given(name)) continue;
    const path = `$.news2.${role}`;
    const field = fields.find((candidate) => candidate.name === name);
    if (!field) {
      errors.push(problem(path, 'unknown_reference', `NEWS2 ${role} names no field '${name}'`));
      continue;
    }
    if (fields.filter((candidate) => candidate.name === name).length > 1) {
      errors.push(problem(path, 'ambiguous_reference', `NEWS2 ${role} names more than one field '${name}'`));
      continue;
    }
    const booleanOk = role === 'oxygen' && field.type === 'boolean';
    const choicesOk = field.type === 'select_one' && field.choices.every((choice) => allowed.includes(choice.value));
    if (field.repeat !== undefined || !(booleanOk || choicesOk)) {
      errors.push(problem(
        path,
        'news2_field_mismatch',
        `NEWS2 ${role} must be a select_one outside repeats with choices among ${allowed.join(', ')}${role === 'oxygen' ? ' (or a boolean)' : ''}`,
      ));
    }
  }
}
