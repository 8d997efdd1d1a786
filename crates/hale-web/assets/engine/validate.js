// @ts-check
/**
 * @file Evaluating answers against a compiled form exactly as `hale-forms`' `validate.rs`
 * does (relevance and calculations in dependency order, then required, types, bounds,
 * choices, constraints and repeat rows, then the observations derived from coded answers),
 * while recording each field's state for the form on screen.
 */

import { readAnswer, sameComputed } from './answer.js';
import { evaluate } from './evaluate.js';
import { dataFile, encloses, inLanguage } from './form.js';
import { deriveObservations } from './observe.js';
import { readsBeyondFields, references } from './parser.js';
import { DateTimeValue, asNumber, asString, isEmpty, truthy } from './value.js';

/**
 * @typedef {import('./value.js').Value} Value
 * @typedef {import('./parser.js').Expr} Expr
 * @typedef {import('./form.js').Form} Form
 * @typedef {import('./form.js').CompiledField} CompiledField
 * @typedef {import('./evaluate.js').Env} Env
 * @typedef {{field: string, code: string, message: string}} FieldError
 * @typedef {{index: number, path: string, number: number, inRepeat: boolean}} Reading
 * @typedef {{relevant: boolean, required: boolean, readOnly: boolean, value: unknown, errors: {code: string, message: string}[],
 *   choices?: string[]}} FieldState `choices`: the values a select's choice_filter offers
 */

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
 * `pulldata(file, column, key_column, key)`: `column` of the first row of the form's data file
 * `file` whose `key_column` is `key`, each read as a choice filter reads a choice's members;
 * `""` when there is no such file, row or column.
 * @param {Form} form
 * @param {string} file
 * @param {string} column
 * @param {string} keyColumn
 * @param {string} key
 * @returns {Value}
 */
function pullData(form, file, column, keyColumn, key) {
  /** @param {import('./form.js').Choice} row @param {string} member */
  const read = (row, member) => {
    const value = choiceMember(row, member, form.default_language);
    return value === null ? null : asString(value);
  };
  const row = dataFile(form.data_files, file)?.find((candidate) => read(candidate, keyColumn) === key);
  return (row === undefined ? null : read(row, column)) ?? '';
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
 * The values an answer to a select chose: none, one or several.
 * @param {Value} value
 * @returns {string[]}
 */
function chosenValues(value) {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value : [];
}

/**
 * Whether every chosen value that is one of the field's choices is offered (a free answer to
 * an open select is no choice, so no filter applies to it).
 * @param {CompiledField} field
 * @param {string[]} offered
 * @param {Value} value
 */
function chosenAreOffered(field, offered, value) {
  return chosenValues(value).every((one) => !field.choices.some((choice) => choice.value === one) || offered.includes(one));
}

/**
 * Whether a rank's answer orders every choice it offers (an empty list orders none). Its values
 * are distinct offered choices (read and checked before), so that is as many values as choices
 * offered.
 * @param {CompiledField} field
 * @param {string[] | undefined} offered the choices its filter offers, when it has one
 * @param {Value} value
 */
function ranksEveryOffered(field, offered, value) {
  if (field.type !== 'rank' || !Array.isArray(value)) return true;
  return value.length === (offered ?? field.choices).length;
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

/** One level of answers: the top, or one row of a repeat (at any depth of nesting). */
class Instance {
  /**
   * @param {Record<string, unknown> | null} answers null for a row that is not an object
   * @param {string} prefix put before field names in error paths
   * @param {[number, number, number][]} trail (repeat, 0-based row, instance) of each enclosing row and this one
   */
  constructor(answers, prefix, trail) {
    this.answers = answers;
    this.prefix = prefix;
    this.trail = trail;
    /** @type {Map<string, Value>} */
    this.values = new Map();
    /** @type {Map<number, boolean>} */
    this.relevant = new Map();
    /** Fields whose answer was read, for the constraint pass. @type {number[]} */
    this.answered = [];
    /**
     * Answered fields, for the required pass: with where a `required` error goes among the
     * others when the field is relevant and unanswered.
     * @type {[number, FieldState, number | null][]}
     */
    this.questions = [];
    /** The rows of each repeat answered in this level: instance indices. @type {Map<number, number[]>} */
    this.rows = new Map();
  }
}

/**
 * @typedef {{level: number, phase: number, error: FieldError}} KeyedError an error with the level
 *   it belongs to and its phase (0 while fields are evaluated, 1 for constraints)
 */

/** One validation: every level, evaluated field by field in the form's dependency order. */
class Run {
  /**
   * @param {Form} form
   * @param {DateTimeValue} now
   * @param {string} seed
   */
  constructor(form, now, seed) {
    this.form = form;
    this.now = now;
    this.seed = seed;
    /** @type {KeyedError[]} */
    this.errors = [];
    /** The level being evaluated, and the phase. @type {[number, number]} */
    this.at = [0, 0];
    /** Readings with the (repeat, row) trail of their level. @type {[number[], Reading][]} */
    this.readings = [];
    /** The top first, then every row in the order it was reached. @type {Instance[]} */
    this.instances = [];
    /** The instances of each level (-1 the top, else a repeat's index). @type {Map<number, number[]>} */
    this.levels = new Map();
    /** @type {Record<string, FieldState>} */
    this.states = {};
  }

  /**
   * @param {string} field
   * @param {string} code
   * @param {string} message
   */
  error(field, code, message) {
    this.errors.push({ level: this.at[0], phase: this.at[1], error: { field, code, message } });
  }

  /**
   * The repeats that multiply field `index`, outermost first, the field itself last when it
   * is a repeat (its nodes are its rows).
   * @param {number} index
   */
  multipliers(index) {
    const fields = this.form.fields;
    const chain = fields[index].type === 'repeat' ? [index] : [];
    for (let repeat = fields[index].repeat; repeat !== undefined; repeat = fields[repeat].repeat) chain.push(repeat);
    return chain.reverse();
  }

  /**
   * The value of `field` seen from `instance`: its own level first, then outwards.
   * @param {number} instance
   * @param {string} field
   * @returns {Value}
   */
  valueFrom(instance, field) {
    for (let id = /** @type {number | null} */ (instance); id !== null;) {
      const level = this.instances[id];
      if (level.values.has(field)) return /** @type {Value} */ (level.values.get(field));
      const trail = level.trail;
      id = trail.length >= 2 ? trail[trail.length - 2][2] : (id !== 0 ? 0 : null);
    }
    return null;
  }

  /**
   * Every node of field `index` under `instance` through the repeats `chain`, in document order.
   * @param {number} instance
   * @param {number[]} chain
   * @param {number} index
   * @param {Value[]} out
   */
  collect(instance, chain, index, out) {
    const field = this.form.fields[index];
    /** @type {number[]} */
    const rows = [];
    this.collectRows(instance, chain, rows);
    for (const row of rows) out.push(field.type === 'repeat' ? null : (this.instances[row].values.get(field.name) ?? null));
  }

  /**
   * Every row under `instance` through the repeats `chain`, in document order (`instance`
   * itself for an empty chain).
   * @param {number} instance
   * @param {number[]} chain
   * @param {number[]} out
   */
  collectRows(instance, chain, out) {
    if (chain.length === 0) {
      out.push(instance);
      return;
    }
    for (const row of this.instances[instance].rows.get(chain[0]) ?? []) this.collectRows(row, chain.slice(1), out);
  }

  /**
   * How far the repeats `chain` follow the rows of `instance`: the instance they lead to and
   * how many of them are bound.
   * @param {number} instance
   * @param {number[]} chain
   * @returns {[number, number]}
   */
  bound(instance, chain) {
    const trail = this.instances[instance].trail;
    let at = 0;
    let depth = 0;
    while (depth < chain.length && depth < trail.length && trail[depth][0] === chain[depth]) {
      at = trail[depth][2];
      depth += 1;
    }
    return [at, depth];
  }

  /**
   * The rows that hold field `index` as seen from `instance`: those of the enclosing rows being
   * evaluated, in document order.
   * @param {number} instance
   * @param {number} index
   * @returns {number[]}
   */
  rowsHolding(instance, index) {
    const chain = this.multipliers(index);
    const [at, depth] = this.bound(instance, chain);
    /** @type {number[]} */
    const rows = [];
    this.collectRows(at, chain.slice(depth), rows);
    return rows;
  }

  /**
   * The choices a select offers from the rows of a repeat: each non-empty answer that field
   * `source` has in the rows seen from `instance` whose row passes the select's choice filter,
   * once, in row order. The filter reads the fields of that repeat (and of the repeats inside
   * it, whose rows are the row's own) and its position in the row, everything else as the
   * select's own expressions do.
   * @param {number} instance
   * @param {CompiledField} field
   * @param {string} source
   * @returns {string[]}
   */
  repeatChoices(instance, field, source) {
    const index = this.form.index.get(source);
    if (index === undefined) return [];
    const level = this.form.fields[index].repeat;
    const own = this.scope(instance, null, field.name);
    /** @type {string[]} */
    const offered = [];
    for (const row of this.rowsHolding(instance, index)) {
      const inRow = this.scope(row, null, field.name);
      /** @param {string} name */
      const side = (name) => {
        const at = this.form.index.get(name);
        return at !== undefined && encloses(this.form.fields, level, this.form.fields[at].repeat) ? inRow : own;
      };
      const filter = field.choice_filter;
      const passes = filter === undefined || truthy(evaluate(filter, {
        ...own,
        value: (name) => side(name).value(name),
        current: () => null,
        nodes: (name) => side(name).nodes(name),
        position: () => inRow.position(),
      }));
      const text = asString(this.valueFrom(row, source));
      if (passes && text !== '' && !offered.includes(text)) offered.push(text);
    }
    return offered;
  }

  /**
   * The values an expression in level `instance` can read.
   * @param {number} instance
   * @param {Value} current
   * @param {string} fieldName
   * @returns {Env}
   */
  scope(instance, current, fieldName) {
    const { form, seed, now } = this;
    const trail = this.instances[instance].trail;
    return {
      value: (field) => this.valueFrom(instance, field),
      current: () => current,
      now: () => now,
      nodes: (field) => {
        const index = form.index.get(field);
        if (index === undefined) return [null];
        const chain = this.multipliers(index);
        const [at, depth] = this.bound(instance, chain);
        // Inside the field's own row (or the top): its one value.
        if (depth === chain.length) return [this.valueFrom(at, field)];
        /** @type {Value[]} */
        const out = [];
        this.collect(at, chain.slice(depth), index, out);
        return out;
      },
      indexedRepeat: (field, rows) => {
        const index = form.index.get(field);
        if (index === undefined) return null;
        const chain = this.multipliers(index);
        let at = 0;
        for (let depth = 0; depth < chain.length; depth += 1) {
          const repeat = chain[depth];
          const given = rows.find(([name]) => name === form.fields[repeat].name);
          const here = this.instances[at].rows.get(repeat) ?? [];
          if (given) {
            const row = given[1];
            if (!(row % 1 === 0 && row >= 1 && row <= here.length)) return null;
            at = here[row - 1];
          } else if (depth < trail.length && trail[depth][0] === repeat && here.includes(trail[depth][2])) {
            // A repeat not given follows the row being evaluated when it is inside it.
            at = trail[depth][2];
          } else {
            // Else its first row, as XPath reads the first of several nodes.
            /** @type {Value[]} */
            const out = [];
            this.collect(at, chain.slice(depth), index, out);
            return out[0] ?? null;
          }
        }
        if (form.fields[index].type === 'repeat') return null;
        return this.instances[at].values.get(field) ?? null;
      },
      position: () => (trail.length > 0 ? trail[trail.length - 1][1] + 1 : null),
      choiceLabel: (field, choice) => {
        const index = form.index.get(field);
        const found = index === undefined ? undefined : form.fields[index].choices.find((known) => known.value === choice);
        return found ? inLanguage(found.label, form.default_language) : '';
      },
      randomSite: () => [seed, fieldName + trail.map(([, row]) => `#${row + 1}`).join('')],
      pullData: (file, column, keyColumn, key) => pullData(form, file, column, keyColumn, key),
    };
  }

  /**
   * @param {number} instance
   * @param {Expr} expr
   * @param {Value} current
   * @param {string} fieldName
   */
  evaluate(instance, expr, current, fieldName) {
    return evaluate(expr, this.scope(instance, current, fieldName));
  }

  /**
   * Adds a level, the top or row `row` of `repeat` in `parent`, and reports answers that name
   * no field of it.
   * @param {number | undefined} repeat
   * @param {[number, number] | null} parent
   * @param {Record<string, unknown> | null} answers
   * @param {string} prefix
   */
  add(repeat, parent, answers, prefix) {
    const id = this.instances.length;
    /** @type {[number, number, number][]} */
    let trail = [];
    if (repeat !== undefined && parent) {
      const [outer, row] = parent;
      trail = [...this.instances[outer].trail, [repeat, row, id]];
      const rows = this.instances[outer].rows.get(repeat);
      if (rows) rows.push(id);
      else this.instances[outer].rows.set(repeat, [id]);
    }
    const outer = this.at;
    this.at = [id, 0];
    const form = this.form;
    if (answers) {
      const unknown = Object.keys(answers).filter((key) => !form.fields.some((field, index) =>
        field.repeat === repeat && field.name === key && index !== repeat && field.type !== 'group')).length;
      if (unknown > 0) {
        // Keys are client-chosen text (possibly PHI): name the object holding them, never a key.
        const holder = prefix.endsWith('.') ? prefix.slice(0, -1) : 'answers';
        this.error(holder, 'unknown_field', unknown === 1 ? '1 answer names no field of this app' : `${unknown} answers name no field of this app`);
      }
    }
    this.at = outer;
    this.instances.push(new Instance(answers, prefix, trail));
    const key = repeat ?? -1;
    const level = this.levels.get(key);
    if (level) level.push(id);
    else this.levels.set(key, [id]);
    return id;
  }

  /**
   * Evaluates field `index` in level `id`.
   * @param {number} id
   * @param {number} index
   */
  field(id, index) {
    const form = this.form;
    const field = form.fields[index];
    const instance = this.instances[id];
    const answers = instance.answers;
    if (!answers) return;
    this.at = [id, 0];
    let parentRelevant = true;
    if (field.parent !== undefined && field.parent !== field.repeat) {
      parentRelevant = instance.relevant.get(field.parent) ?? true;
    }
    const relevant = parentRelevant
      && (field.relevant === undefined || truthy(this.evaluate(id, field.relevant, null, field.name)));
    instance.relevant.set(index, relevant);
    const path = `${instance.prefix}${field.name}`;
    const raw = Object.hasOwn(answers, field.name) ? answers[field.name] : null;
    const submitted = raw === null || raw === undefined ? undefined : raw;
    /** @type {FieldState} */
    const state = { relevant, required: false, readOnly: field.read_only, value: submitted ?? null, errors: [] };
    this.states[path] = state;
    if (field.type === 'group') return;
    if (field.calculation !== undefined && field.type !== 'repeat' && (field.read_only || field.type === 'calculate')) {
      // `.` (and so `once(…)`) reads the submitted value.
      const own = submitted === undefined ? null : computedValue(submitted);
      const calculation = field.calculation;
      let value = relevant ? this.evaluate(id, calculation, own, field.name) : null;
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
        const triggered = field.trigger.some((name) => !isEmpty(this.valueFrom(id, name)));
        if (!checkable || !triggered) value = null;
      }
      if (typeof value === 'number' && Number.isFinite(value) && field.code !== undefined) {
        this.reading(id, index, path, value);
      }
      state.value = asAnswer(value);
      instance.values.set(field.name, value);
    } else if (field.type === 'note') {
      if (submitted !== undefined) this.error(path, 'not_answerable', 'a note takes no answer');
    } else if (field.type === 'repeat') {
      const count = field.repeat_count === undefined
        ? null
        : asNumber(this.evaluate(id, field.repeat_count, null, field.name));
      const rows = this.checkRepeat(field, submitted, relevant, path, count);
      state.value = rows;
      instance.values.set(field.name, rows);
      if (relevant && Array.isArray(submitted)) {
        submitted.forEach((row, rowNumber) => {
          const object = row !== null && typeof row === 'object' && !Array.isArray(row)
            ? /** @type {Record<string, unknown>} */ (row)
            : null;
          const rowId = this.add(index, [id, rowNumber], object, `${path}[${rowNumber}].`);
          if (!object) {
            this.at = [rowId, 0];
            this.error(`${path}[${rowNumber}]`, 'not_an_object', 'a repeat row is an object of answers');
            this.at = [id, 0];
          }
        });
      }
    } else {
      const readOnly = field.read_only || (field.read_only_if !== undefined && relevant
        && truthy(this.evaluate(id, field.read_only_if, submitted === undefined ? null : computedValue(submitted), field.name)));
      state.readOnly = readOnly;
      if (readOnly && submitted !== undefined && !sameJsonValue(submitted, field.default)) {
        this.error(path, 'read_only', 'this field is read-only: its answer is its default');
      }
      instance.questions.push([index, state, submitted === undefined && relevant ? this.errors.length : null]);
      let value = this.answer(id, field, index, submitted, relevant, path);
      if (field.choices_from !== undefined) {
        state.choices = this.repeatChoices(id, field, field.choices_from);
        if (!chosenValues(value).every((one) => state.choices?.includes(one))) {
          this.error(path, 'choice_not_offered', "the answer is not among the answers the repeat's rows gave");
          value = null;
        }
      } else if (field.choice_filter !== undefined) {
        state.choices = offeredChoices(field, field.choice_filter, this.scope(id, null, field.name), form.default_language);
        if (!chosenAreOffered(field, state.choices, value)) {
          this.error(path, 'choice_not_offered', "the answer is not among the choices the field's choice_filter offers");
          value = null;
        }
      }
      if (!ranksEveryOffered(field, state.choices, value)) {
        this.error(path, 'incomplete_ranking', 'a ranking orders every choice the field offers, each once');
        value = null;
      }
      if (!isEmpty(value)) instance.answered.push(index);
      instance.values.set(field.name, value);
    }
  }

  /**
   * @param {number} id
   * @param {number} index
   * @param {string} path
   * @param {number} number
   */
  reading(id, index, path, number) {
    const trail = this.instances[id].trail.flatMap(([repeat, row]) => [repeat, row]);
    this.readings.push([trail, { index, path, number, inRepeat: id !== 0 }]);
  }

  /** What needs every value: `required` (as an expression it may read any field) and constraints. */
  finish() {
    const form = this.form;
    /** @type {[number, KeyedError][]} */
    const missing = [];
    this.instances.forEach((instance, id) => {
      for (const [index, state, at] of instance.questions) {
        const field = form.fields[index];
        const required = field.required
          || (field.required_if !== undefined && truthy(this.evaluate(id, field.required_if, null, field.name)));
        state.required = required;
        if (at !== null && required) {
          const message = field.required_message === undefined
            ? 'an answer is required'
            : inLanguage(field.required_message, form.default_language);
          missing.push([at, { level: id, phase: 0, error: { field: `${instance.prefix}${field.name}`, code: 'required', message } }]);
        }
      }
    });
    // Each `required` where the field was evaluated, the constraints after everything.
    missing.sort((a, b) => a[0] - b[0]);
    /** @type {KeyedError[]} */
    const errors = [];
    let next = 0;
    this.errors.forEach((error, position) => {
      while (next < missing.length && missing[next][0] <= position) errors.push(missing[next++][1]);
      errors.push(error);
    });
    while (next < missing.length) errors.push(missing[next++][1]);
    this.errors = errors;
    this.instances.forEach((instance, id) => {
      this.at = [id, 1];
      for (const index of instance.answered) {
        const field = form.fields[index];
        if (field.constraint === undefined) continue;
        const current = instance.values.get(field.name) ?? null;
        if (!truthy(this.evaluate(id, field.constraint, current, field.name))) {
          const message = field.constraint_message === undefined
            ? "the answer does not meet the field's constraint"
            : inLanguage(field.constraint_message, form.default_language);
          this.error(`${instance.prefix}${field.name}`, 'constraint_failed', message);
        }
      }
    });
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
   * @param {number} id
   * @param {CompiledField} field
   * @param {number} index
   * @param {unknown} submitted
   * @param {boolean} relevant
   * @param {string} path
   * @returns {Value}
   */
  answer(id, field, index, submitted, relevant, path) {
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
      if (field.code !== undefined) this.reading(id, index, path, answer.number);
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
 * Lexicographic order of two number lists.
 * @param {number[]} a
 * @param {number[]} b
 */
function compareLists(a, b) {
  for (let index = 0; index < Math.min(a.length, b.length); index += 1) {
    if (a[index] !== b[index]) return a[index] - b[index];
  }
  return a.length - b.length;
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
  // Fields in the dependency order, each in every level it has (the top, or every row of its
  // repeat at any depth) before the next; `required` and constraints once every value is known.
  const run = new Run(form, clock, seed);
  run.add(undefined, null, wire, '');
  for (const index of form.order) {
    // A field adds rows only to its own repeat's level, never to the one it is evaluated in.
    for (const id of run.levels.get(form.fields[index].repeat ?? -1) ?? []) run.field(id, index);
  }
  run.finish();
  // Errors and observations level by level in document order, each level's constraints last.
  const trails = run.instances.map((instance) => instance.trail.flatMap(([repeat, row]) => [repeat, row]));
  const keyed = [...run.errors].sort((a, b) => compareLists(trails[a.level], trails[b.level]) || a.phase - b.phase);
  const errors = keyed.map((entry) => entry.error);
  const readings = [...run.readings].sort((a, b) => compareLists(a[0], b[0])).map((entry) => entry[1]);
  const derived = deriveObservations(form, readings, run.instances[0].values, errors);
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
