// @ts-check
/**
 * Draws a published app definition as an accessible form and keeps it in step with the form
 * engine: after every change the engine says which fields are relevant and required, what the
 * calculations give and what is wrong, and the form shows it inline (hidden fields, values,
 * errors tied to their inputs with `aria-describedby`, `aria-invalid` and a live region).
 * Errors show once a field has been left for another or Submit pressed, never while typing a
 * first answer.
 */

import { h, replace, uid, announce } from './dom.js';
import { t, text, has } from './i18n.js';
import { choicesOf, unitLabel, NUMERIC } from './definition.js';
import { compile, formState } from '../engine/index.js';

/**
 * @typedef {import('./definition.js').Definition} Definition
 * @typedef {import('./definition.js').Field} Field
 * @typedef {import('../engine/validate.js').FormState} FormState
 * @typedef {{field: Field, wrapper: HTMLElement, error: HTMLElement, focusTarget: HTMLElement,
 *   output?: HTMLElement, inputs: HTMLElement[], offer?: (choices: string[]) => void,
 *   row?: Record<string, unknown>}} View
 * @typedef {{answers: Record<string, unknown>, state: FormState}} Finished
 */

/** Ranges with at most this many steps are drawn as buttons, easier to hit than a slider. */
const MAX_STEP_BUTTONS = 11;

/**
 * A form for `definition`; `onSubmit` receives valid answers, only the relevant ones.
 * @param {Definition} definition
 * @param {string} language the definition's language key to show
 * @param {(finished: Finished) => Promise<void>} onSubmit
 * @param {string} [files] the version's address, under which its media files are read
 *   (`…/versions/3`); without it no media is shown
 * @returns {HTMLFormElement}
 */
export function renderForm(definition, language, onSubmit, files) {
  const form = compile(definition);
  // A field a trigger sets takes its calculation's value, as the answers then stand, when one
  // of its triggers changes; that value is read from a copy of the form without triggers, in
  // which each such field is a plain calculation.
  const triggered = fieldsByTrigger(definition.fields);
  const untriggered = triggered.size > 0 ? compile(withoutTriggers(definition)) : null;
  const opened = new Date();
  /** @type {Record<string, unknown>} */
  const answers = initialAnswers(definition.fields, opened);
  /** @type {Map<string, View>} */
  const views = new Map();
  const touched = new Set();
  let submitted = false;
  const say = (/** @type {import('./i18n.js').Text | undefined} */ value) =>
    text(value, language, definition.default_language);
  const media = (/** @type {Record<string, import('./i18n.js').Text> | undefined} */ given) =>
    drawMedia(given, definition, files, say);

  const summary = h('div', { class: 'error-summary', tabindex: '-1', hidden: true });
  const body = h('div', { class: 'fields' });
  const submit = h('button', { type: 'submit', class: 'primary' }, t('form.submit'));
  const element = h('form', { class: 'app-form', novalidate: true }, summary, body,
    h('div', { class: 'actions' }, submit));

  /**
   * @param {Field[]} fields
   * @param {Record<string, unknown>} row
   * @param {string} prefix
   * @returns {HTMLElement[]}
   */
  const drawFields = (fields, row, prefix) =>
    fields.filter((field) => shown(field)).map((field) => drawField(field, row, prefix));

  /**
   * @param {Field} field
   * @param {Record<string, unknown>} row
   * @param {string} prefix
   * @returns {HTMLElement}
   */
  const drawField = (field, row, prefix) => {
    const key = prefix + field.name;
    if (field.type === 'group') {
      const wrapper = h('fieldset', { class: 'group' },
        h('legend', {}, say(field.label)), drawFields(field.children ?? [], row, prefix));
      views.set(key, { field, wrapper, error: h('span'), focusTarget: wrapper, inputs: [] });
      return wrapper;
    }
    if (field.type === 'repeat') return drawRepeat(field, row, key);
    if (field.type === 'note') {
      const wrapper = h('div', { class: 'note' }, h('p', {}, say(field.label)), media(field.media));
      views.set(key, { field, wrapper, error: h('span'), focusTarget: wrapper, inputs: [] });
      return wrapper;
    }
    const id = uid('f');
    const hintId = `${id}-hint`;
    const errorId = `${id}-error`;
    const error = h('p', { id: errorId, class: 'field-error', 'aria-live': 'polite' });
    const hint = field.hint ? h('p', { id: hintId, class: 'hint' }, say(field.hint)) : null;
    const describedBy = [hint ? hintId : null, errorId].filter(Boolean).join(' ');
    const setAnswer = (/** @type {unknown} */ value) => {
      if (value === undefined) delete row[field.name];
      else row[field.name] = value;
      setTriggered(field.name, row, prefix);
      refresh();
    };
    // Leaving a field marks it; its errors show when focus reaches another field (not a
    // button: an error appearing under the pointer would move the button being pressed).
    const leave = () => {
      touched.add(key);
    };
    const label = say(field.label) || field.name;
    const control = drawControl(field, row, { id, describedBy, label, setAnswer, leave, say, definition, media });
    const grouped = control.grouped;
    const heading = grouped
      ? h('legend', {}, label, requiredMark(field))
      : h('label', { for: id }, label, requiredMark(field));
    const wrapper = h(grouped ? 'fieldset' : 'div', { class: `field field-${field.type}` },
      heading, media(field.media), hint, control.element, error);
    views.set(key, {
      field, wrapper, error, focusTarget: control.focusTarget, output: control.output, inputs: control.inputs, offer: control.offer, row,
    });
    return wrapper;
  };

  /**
   * @param {Field} field
   * @param {Record<string, unknown>} row
   * @param {string} key
   * @returns {HTMLElement}
   */
  const drawRepeat = (field, row, key) => {
    const rows = /** @type {Record<string, unknown>[]} */ (Array.isArray(row[field.name]) ? row[field.name] : []);
    row[field.name] = rows;
    const list = h('div', { class: 'repeat-rows' });
    const fixed = Boolean(field.repeat_count);
    const add = h('button', { type: 'button', class: 'secondary', onclick: () => {
      rows.push({});
      redraw();
      const last = list.lastElementChild?.querySelector('input, select, textarea');
      if (last instanceof HTMLElement) last.focus();
      announce(t('repeat.added', { label: say(field.label), number: rows.length }));
    } }, t('repeat.add', { label: say(field.label) }));
    const redraw = () => {
      for (const existing of [...views.keys()]) if (existing.startsWith(`${key}[`)) views.delete(existing);
      replace(list, rows.map((child, index) => {
        const remove = fixed || rows.length <= (field.min_count ?? 0) ? null : h('button', {
          type: 'button', class: 'link danger',
          onclick: () => {
            rows.splice(index, 1);
            redraw();
            add.focus();
            announce(t('repeat.removed', { label: say(field.label), number: index + 1 }));
          },
        }, t('repeat.remove', { label: say(field.label), number: index + 1 }));
        return h('fieldset', { class: 'repeat-row' },
          h('legend', {}, t('repeat.row', { label: say(field.label), number: index + 1 })),
          drawFields(field.children ?? [], child, `${key}[${index}].`), remove);
      }));
      add.hidden = fixed || (field.max_count !== undefined && rows.length >= field.max_count);
      refresh();
    };
    const error = h('p', { class: 'field-error', 'aria-live': 'polite' });
    const wrapper = h('fieldset', { class: 'repeat' }, h('legend', {}, say(field.label)), list, add, error);
    views.set(key, { field, wrapper, error, focusTarget: add, inputs: [] });
    queueMicrotask(redraw);
    return wrapper;
  };

  /**
   * Sets each field that a change of `name` triggers, in the same row or at the top, to its
   * calculation's value now, and shows it; the person may still change it.
   * @param {string} name
   * @param {Record<string, unknown>} row
   * @param {string} prefix
   */
  const setTriggered = (name, row, prefix) => {
    const targets = triggered.get(name);
    if (!targets || !untriggered) return;
    const state = formState(untriggered, answers, new Date());
    for (const target of targets) {
      const inRow = state.fields[prefix + target.name] !== undefined;
      const key = inRow ? prefix + target.name : target.name;
      const holder = inRow ? row : answers;
      // A triggered field with no calculation is cleared.
      const value = target.calculation === undefined ? undefined : state.fields[key]?.value;
      if (value === null || value === undefined) delete holder[target.name];
      else holder[target.name] = value;
      const view = views.get(key);
      if (view) showValue(view.inputs, value);
    }
  };

  /**
   * The engine's view of the answers as they would be sent: what the person typed into a field
   * that has since become irrelevant is kept on screen but left out, as the server refuses it.
   * @returns {Finished}
   */
  const evaluate = () => {
    const now = new Date();
    const sent = relevantAnswers(definition.fields, answers, formState(form, answers, now), '');
    return { answers: sent, state: formState(form, sent, now) };
  };

  /** @returns {Finished} */
  const refresh = () => {
    const finished = evaluate();
    const state = finished.state;
    let dropped = false;
    for (const [key, view] of views) {
      const field = state.fields[key];
      if (!field) continue;
      if (field.choices && view.row && dropUnoffered(definition, view.field, view.row, field.choices)) {
        showValue(view.inputs, view.row[view.field.name]);
        dropped = true;
      }
      view.wrapper.hidden = !field.relevant;
      if (view.output) view.output.textContent = field.value === null || field.value === undefined ? '' : String(field.value);
      const shown = field.relevant && (submitted || touched.has(key)) ? field.errors : [];
      view.error.textContent = shown.map((error) => message(view.field, error, say)).join(' ');
      view.wrapper.classList.toggle('invalid', shown.length > 0);
      if (view.offer && field.choices) view.offer(field.choices);
      for (const input of view.inputs) {
        // A read-only field (given, or while its read_only_if holds) keeps its default.
        if (input instanceof HTMLInputElement || input instanceof HTMLTextAreaElement || input instanceof HTMLSelectElement) {
          input.disabled = field.readOnly === true;
        }
        // A choice_filter offers only some choices, recomputed as the answers it reads change.
        if (field.choices && input instanceof HTMLInputElement && input.parentElement) {
          input.parentElement.hidden = !field.choices.includes(input.value);
        }
        if (shown.length > 0) input.setAttribute('aria-invalid', 'true');
        else input.removeAttribute('aria-invalid');
        // A radio button takes no aria-required: its group's legend says so instead.
        if (field.required && input.getAttribute('type') !== 'radio') input.setAttribute('aria-required', 'true');
        else input.removeAttribute('aria-required');
      }
    }
    // The answers changed: evaluate them again (each pass only drops values, so this ends).
    return dropped ? refresh() : finished;
  };

  element.addEventListener('focusin', (event) => {
    if (!(event.target instanceof HTMLButtonElement)) refresh();
  });

  element.addEventListener('submit', async (event) => {
    event.preventDefault();
    submitted = true;
    const finished = refresh();
    if (!finished.state.valid) {
      showSummary(summary, finished.state, views, say);
      return;
    }
    summary.hidden = true;
    submit.disabled = true;
    try {
      await onSubmit(finished);
    } finally {
      submit.disabled = false;
    }
  });

  replace(body, drawFields(definition.fields, answers, ''));
  queueMicrotask(refresh);
  return element;
}

/**
 * The fields each field's change sets (`trigger`), at any depth.
 * @param {Field[]} fields
 * @param {Map<string, Field[]>} [found]
 * @returns {Map<string, Field[]>}
 */
function fieldsByTrigger(fields, found = new Map()) {
  for (const field of fields) {
    for (const name of field.trigger ?? []) found.set(name, [...(found.get(name) ?? []), field]);
    fieldsByTrigger(field.children ?? [], found);
  }
  return found;
}

/**
 * A copy of the definition in which no field has a trigger, so each triggered calculation is
 * a plain one whose value the engine gives.
 * @param {Definition} definition
 * @returns {Definition}
 */
function withoutTriggers(definition) {
  const copy = structuredClone(definition);
  /** @param {Field[]} fields */
  const strip = (fields) => {
    for (const field of fields) {
      delete field.trigger;
      strip(field.children ?? []);
    }
  };
  strip(copy.fields);
  return copy;
}

/**
 * Shows a value the form set in a field's inputs: the text of a text or number input, the
 * checked state of choices.
 * @param {HTMLElement[]} inputs
 * @param {unknown} value
 */
function showValue(inputs, value) {
  for (const input of inputs) {
    if (!(input instanceof HTMLInputElement || input instanceof HTMLTextAreaElement)) continue;
    if (input instanceof HTMLInputElement && (input.type === 'radio' || input.type === 'checkbox')) {
      input.checked = Array.isArray(value) ? value.map(String).includes(input.value) : String(value) === input.value;
    } else {
      input.value = value === null || value === undefined ? '' : String(value);
    }
  }
}

/**
 * Drops from a select's answer the chosen values it no longer offers, because the rows it
 * offers from or what its choice filter reads changed: a choice the person cannot see any more
 * is not kept for them (the server would refuse it). A free answer to an open select is no
 * choice and stays; a ranking orders what is offered itself.
 * @param {Definition} definition
 * @param {Field} field
 * @param {Record<string, unknown>} row
 * @param {unknown[]} offered
 * @returns {boolean} whether the answer changed
 */
function dropUnoffered(definition, field, row, offered) {
  const current = row[field.name];
  if (current === undefined || field.type === 'rank') return false;
  const listed = field.choices_from ? null : new Set(choicesOf(definition, field).map((choice) => choice.value));
  const keep = (/** @type {unknown} */ value) => offered.includes(value) || (listed !== null && !listed.has(String(value)));
  if (!Array.isArray(current)) {
    if (keep(current)) return false;
    delete row[field.name];
    return true;
  }
  const kept = current.filter(keep);
  if (kept.length === current.length) return false;
  if (kept.length > 0) row[field.name] = kept;
  else delete row[field.name];
  return true;
}

/**
 * Whether a field is drawn: hidden fields, values the client records itself and unlabelled
 * calculations are kept out of sight (their values still count).
 * @param {Field} field
 */
function shown(field) {
  return !field.hidden && !field.prefill && !(field.type === 'calculate' && !field.label);
}

/** @param {Field} field */
function requiredMark(field) {
  return field.required ? h('span', { class: 'required' }, ` (${t('form.required')})`) : null;
}

/**
 * What the engine's error means, in the patient's language.
 * @param {Field} field
 * @param {{code: string, message: string}} error
 * @param {(value: import('./i18n.js').Text | undefined) => string} say
 */
function message(field, error, say) {
  if (error.code === 'required' && field.required_message) return say(field.required_message);
  if (error.code === 'constraint_failed' && field.constraint_message) return say(field.constraint_message);
  const bounded = error.code === 'below_minimum' || error.code === 'above_maximum';
  if (bounded && field.min !== undefined && field.max !== undefined) {
    return t('error.out_of_range', { min: field.min, max: field.max });
  }
  if (bounded) return t(`error.${error.code}`, { min: field.min ?? '', max: field.max ?? '' });
  return has(`error.${error.code}`) ? t(`error.${error.code}`) : error.message;
}

/**
 * @param {HTMLElement} summary
 * @param {FormState} state
 * @param {Map<string, View>} views
 * @param {(value: import('./i18n.js').Text | undefined) => string} say
 */
function showSummary(summary, state, views, say) {
  const items = state.errors.map(({ field: key, code }) => {
    const view = views.get(key);
    if (!view) return null;
    const error = state.fields[key]?.errors.find((candidate) => candidate.code === code) ?? { code, message: code };
    return h('li', {}, h('a', {
      href: '#',
      onclick: (/** @type {Event} */ event) => {
        event.preventDefault();
        view.focusTarget.focus();
      },
    }, `${say(view.field.label) || view.field.name}: ${message(view.field, error, say)}`));
  });
  replace(summary, h('h2', {}, t('form.problems', { count: state.errors.length })), h('ul', {}, items));
  summary.setAttribute('role', 'alert');
  summary.hidden = false;
  summary.focus();
}

/**
 * Answers with the fields the engine found irrelevant left out, repeat rows likewise, and
 * values the person does not give (calculations, notes) never included, except a calculation
 * a trigger set: it holds what it computed when its trigger last changed, which the server
 * cannot compute again from the final answers.
 * @param {Field[]} fields
 * @param {Record<string, unknown>} row
 * @param {FormState} state
 * @param {string} prefix
 * @returns {Record<string, unknown>}
 */
function relevantAnswers(fields, row, state, prefix) {
  /** @type {Record<string, unknown>} */
  const out = {};
  for (const field of fields) {
    const key = prefix + field.name;
    const relevant = state.fields[key]?.relevant ?? true;
    if (!relevant) continue;
    if (field.type === 'group') Object.assign(out, relevantAnswers(field.children ?? [], row, state, prefix));
    else if (field.type === 'repeat') {
      const rows = /** @type {Record<string, unknown>[]} */ (row[field.name] ?? []);
      if (rows.length > 0) {
        out[field.name] = rows.map((child, index) =>
          relevantAnswers(field.children ?? [], child, state, `${key}[${index}].`));
      }
    } else if (field.prefill === 'end') out[field.name] = new Date().toISOString();
    else if (sent(field) && row[field.name] !== undefined) {
      out[field.name] = row[field.name];
    }
  }
  return out;
}

/**
 * Whether a field's value goes with the answers: not a note's, nor a calculation's unless a
 * trigger sets it.
 * @param {Field} field
 */
function sent(field) {
  return field.type !== 'note' && (field.type !== 'calculate' || (field.trigger ?? []).length > 0);
}

/**
 * Defaults and the values the client records itself when the form opens.
 * @param {Field[]} fields
 * @param {Date} opened
 */
function initialAnswers(fields, opened) {
  /** @type {Record<string, unknown>} */
  const answers = {};
  for (const field of fields) {
    if (field.type === 'group') Object.assign(answers, initialAnswers(field.children ?? [], opened));
    else if (field.prefill === 'start') answers[field.name] = opened.toISOString();
    else if (field.prefill === 'today') answers[field.name] = localDate(opened);
    else if (field.default !== undefined && field.type !== 'repeat') answers[field.name] = field.default;
  }
  return answers;
}

/** @param {Date} when */
function localDate(when) {
  const pad = (/** @type {number} */ n) => String(n).padStart(2, '0');
  return `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())}`;
}

/**
 * @typedef {{id: string, describedBy: string, label: string,
 *   setAnswer: (value: unknown) => void, leave: () => void,
 *   say: (value: import('./i18n.js').Text | undefined) => string, definition: Definition,
 *   media: (media: Record<string, import('./i18n.js').Text> | undefined) => HTMLElement[]}} ControlContext
 * @typedef {{element: HTMLElement, focusTarget: HTMLElement, inputs: HTMLElement[],
 *   grouped: boolean, output?: HTMLElement, offer?: (choices: string[]) => void}} Control
 */

/**
 * The input for one answered field.
 * @param {Field} field
 * @param {Record<string, unknown>} row
 * @param {ControlContext} context
 * @returns {Control}
 */
function drawControl(field, row, context) {
  const value = row[field.name];
  if (field.type === 'calculate') {
    const output = h('output', { id: context.id, class: 'calculated', 'aria-describedby': context.describedBy });
    return { element: output, focusTarget: output, inputs: [], grouped: false, output };
  }
  if (field.choices_from) return rowChoiceControl(field, row, context);
  if (field.type === 'select_one' || field.type === 'select_multiple' || field.type === 'boolean') {
    return choiceControl(field, row, context);
  }
  if (field.type === 'range' && stepCount(field) <= MAX_STEP_BUTTONS) return choiceControl(field, row, context);
  if (field.type === 'rank') return rankControl(field, row, context);
  if (field.type === 'acknowledge') {
    const input = h('input', { type: 'checkbox', id: context.id, checked: value === true,
      'aria-describedby': context.describedBy,
      onchange: () => context.setAnswer(input.checked ? true : undefined), onblur: context.leave });
    return { element: h('div', { class: 'check' }, input), focusTarget: input, inputs: [input], grouped: false };
  }
  if (NUMERIC.has(field.type)) return numberControl(field, row, context);
  const type = { date: 'date', time: 'time', datetime: 'datetime-local' }[field.type] ?? 'text';
  const multiline = field.type === 'text' && (field.appearance ?? '').includes('multiline');
  const common = {
    id: context.id, name: field.name, 'aria-describedby': context.describedBy,
    maxlength: field.max_length, onblur: context.leave,
    oninput: (/** @type {Event} */ event) => {
      const raw = /** @type {HTMLInputElement} */ (event.target).value;
      if (raw === '') context.setAnswer(undefined);
      else context.setAnswer(type === 'datetime-local' ? new Date(raw).toISOString() : raw);
    },
  };
  const input = multiline
    ? h('textarea', { ...common, rows: '3' }, typeof value === 'string' ? value : '')
    : h('input', { ...common, type, value: typeof value === 'string' && type !== 'datetime-local' ? value : undefined,
      autocomplete: 'off' });
  return { element: input, focusTarget: input, inputs: [input], grouped: false };
}

/** @param {Field} field */
function rangeBounds(field) {
  const parameters = field.parameters ?? {};
  const start = Number(parameters.start ?? field.min ?? 0);
  const end = Number(parameters.end ?? field.max ?? 10);
  const step = Number(parameters.step ?? field.step ?? 1);
  return { start, end, step: step > 0 ? step : 1 };
}

/** @param {Field} field */
function stepCount(field) {
  const { start, end, step } = rangeBounds(field);
  return Math.floor((end - start) / step) + 1;
}

/**
 * The image, sound or video a label shows (`media` of a field or a choice, by kind), each
 * from the version's own files; a file the version does not carry is left out (lint told the
 * reviewer). An image is described by the label beside it, so it is decorative to a screen
 * reader; a big image opens from the small one.
 * @param {Record<string, import('./i18n.js').Text> | undefined} media
 * @param {Definition} definition
 * @param {string | undefined} files
 * @param {(value: import('./i18n.js').Text | undefined) => string} say
 * @returns {HTMLElement[]}
 */
function drawMedia(media, definition, files, say) {
  if (!media || files === undefined) return [];
  const address = (/** @type {string} */ kind) => {
    const name = media[kind] === undefined ? '' : say(media[kind]);
    return Object.hasOwn(definition.media_files ?? {}, name) ? `${files}/files/${encodeURIComponent(name)}` : undefined;
  };
  /** @type {HTMLElement[]} */
  const drawn = [];
  const image = address('image');
  if (image !== undefined) {
    const small = h('img', { src: image, alt: '', class: 'media-image', loading: 'lazy' });
    const big = address('big-image');
    drawn.push(big === undefined ? small : h('a', { href: big, target: '_blank', rel: 'noopener' }, small));
  }
  const audio = address('audio');
  if (audio !== undefined) drawn.push(h('audio', { src: audio, controls: true, preload: 'none', class: 'media-audio' }));
  const video = address('video');
  if (video !== undefined) drawn.push(h('video', { src: video, controls: true, preload: 'none', class: 'media-video' }));
  return drawn;
}

/**
 * Radio buttons or checkboxes: single and multiple choice, yes/no, and short ranges.
 * @param {Field} field
 * @param {Record<string, unknown>} row
 * @param {ControlContext} context
 * @returns {Control}
 */
function choiceControl(field, row, context) {
  /** @type {{value: unknown, label: string, media?: HTMLElement[]}[]} */
  let options;
  if (field.type === 'boolean') {
    options = [{ value: true, label: t('form.yes') }, { value: false, label: t('form.no') }];
  } else if (field.type === 'range') {
    const { start, step } = rangeBounds(field);
    options = Array.from({ length: stepCount(field) }, (_, index) => {
      const number = Math.round((start + index * step) * 1e6) / 1e6;
      return { value: number, label: String(number) };
    });
  } else {
    options = choicesOf(context.definition, field).map((choice) => ({
      value: choice.value, label: context.say(choice.label), media: context.media(choice.media),
    }));
  }
  const element = h('div', { class: field.type === 'range' ? 'choices scale' : 'choices' });
  const inputs = drawChoices(element, options, field, row, context);
  return { element, focusTarget: inputs[0] ?? element, inputs, grouped: true };
}

/**
 * Draws `options` into `element` as radio buttons (checkboxes for a select_multiple), checked
 * as the row's answer says, and returns their inputs.
 * @param {HTMLElement} element
 * @param {{value: unknown, label: string, media?: HTMLElement[]}[]} options
 * @param {Field} field
 * @param {Record<string, unknown>} row
 * @param {ControlContext} context
 * @returns {HTMLInputElement[]}
 */
function drawChoices(element, options, field, row, context) {
  const multiple = field.type === 'select_multiple';
  const current = row[field.name];
  const inputs = options.map((option, index) => {
    const checked = multiple ? Array.isArray(current) && current.includes(option.value) : current === option.value;
    return /** @type {HTMLInputElement} */ (h('input', {
      type: multiple ? 'checkbox' : 'radio', name: context.id, id: `${context.id}-${index}`, value: String(option.value),
      checked, 'aria-describedby': context.describedBy,
      onchange: () => {
        if (!multiple) return context.setAnswer(option.value);
        const chosen = inputs.filter((box) => box.checked).map((box) => options[inputs.indexOf(box)].value);
        context.setAnswer(chosen.length > 0 ? chosen : undefined);
      },
      onblur: context.leave,
    }));
  });
  replace(element, inputs.map((input, index) => h('label', { class: 'choice', for: input.id },
    input, h('span', {}, options[index].label), options[index].media ?? [])));
  return inputs;
}

/**
 * A select whose choices are a repeat's answers (`choices_from`): radio buttons or checkboxes
 * for the answers the rows give now, redrawn when they change; a chosen answer no row gives any
 * more is dropped (`dropUnoffered`).
 * @param {Field} field
 * @param {Record<string, unknown>} row
 * @param {ControlContext} context
 * @returns {Control}
 */
function rowChoiceControl(field, row, context) {
  const element = h('div', { class: 'choices', id: context.id });
  /** @type {HTMLElement[]} kept as one list, which the view reads on every refresh */
  const inputs = [];
  /** @type {string[]} */
  let offered = [];
  /** @param {string[]} choices */
  const offer = (choices) => {
    if (choices.length === offered.length && choices.every((value, index) => offered[index] === value)) return;
    offered = choices;
    const options = choices.map((value) => ({ value, label: value }));
    inputs.splice(0, inputs.length, ...drawChoices(element, options, field, row, context));
  };
  return { element, focusTarget: element, inputs, grouped: true, offer };
}

/**
 * A ranking: the offered choices as an ordered list, each moved with its up and down buttons.
 * The answer is the whole order of the offered choices, set by the first move or by keeping
 * the order shown; a choice filter's change re-offers the choices and keeps their order.
 * @param {Field} field
 * @param {Record<string, unknown>} row
 * @param {ControlContext} context
 * @returns {Control}
 */
function rankControl(field, row, context) {
  const choices = choicesOf(context.definition, field);
  const labels = new Map(choices.map((choice) => [choice.value, context.say(choice.label)]));
  const current = row[field.name];
  const answered = Array.isArray(current) ? current.filter((value) => labels.has(value)) : [];
  /** @type {string[]} the order shown: the answer's, then any choice it leaves out */
  let order = [...answered, ...choices.map((choice) => choice.value).filter((value) => !answered.includes(value))];
  let offered = order;
  const list = h('ol', { class: 'rank', id: context.id, 'aria-describedby': context.describedBy });
  const shown = () => order.filter((value) => offered.includes(value));
  const commit = () => context.setAnswer(shown());
  /**
   * @param {string} value
   * @param {number} step -1 up, 1 down
   */
  const move = (value, step) => {
    const visible = shown();
    const position = visible.indexOf(value) + step;
    visible.splice(visible.indexOf(value), 1);
    visible.splice(position, 0, value);
    order = [...visible, ...order.filter((other) => !visible.includes(other))];
    draw();
    commit();
    const again = list.querySelector(`[data-value="${CSS.escape(value)}"][data-step="${step}"]`);
    if (again instanceof HTMLButtonElement && !again.disabled) again.focus();
    announce(t('rank.moved', { label: labels.get(value) ?? value, position: position + 1 }));
  };
  const draw = () => {
    const visible = shown();
    replace(list, visible.map((value, index) => {
      const label = labels.get(value) ?? value;
      /**
       * @param {number} step
       * @param {string} key
       * @param {string} arrow
       */
      const button = (step, key, arrow) => h('button', {
        type: 'button', class: 'secondary', 'data-value': value, 'data-step': String(step),
        'aria-label': t(key, { label }), disabled: index + step < 0 || index + step >= visible.length,
        onclick: () => move(value, step), onblur: context.leave,
      }, arrow);
      return h('li', { class: 'rank-item' }, h('span', {}, label), button(-1, 'rank.up', '↑'), button(1, 'rank.down', '↓'));
    }));
  };
  draw();
  const keep = h('button', { type: 'button', class: 'secondary', onclick: commit, onblur: context.leave }, t('rank.keep'));
  /** @param {string[]} choices */
  const offer = (choices) => {
    if (choices.length === offered.length && choices.every((value) => offered.includes(value))) return;
    offered = choices;
    draw();
    // Set without a refresh, which is what calls this: the answer orders what is offered now.
    if (Array.isArray(row[field.name])) row[field.name] = shown();
  };
  return { element: h('div', { class: 'rank-control' }, list, keep), focusTarget: keep, inputs: [], grouped: true, offer };
}

/**
 * A number typed with the keypad that fits it, in the field's unit or another it accepts.
 * @param {Field} field
 * @param {Record<string, unknown>} row
 * @param {ControlContext} context
 * @returns {Control}
 */
function numberControl(field, row, context) {
  const units = field.unit ? [field.unit, ...(field.accepted_units ?? [])] : [];
  let unit = units[0];
  let raw = '';
  const current = row[field.name];
  if (typeof current === 'number') raw = String(current);
  else if (current && typeof current === 'object' && 'value' in current) {
    raw = String(/** @type {{value: unknown}} */ (current).value);
    unit = String(/** @type {{unit?: unknown}} */ (current).unit ?? unit);
  }
  const update = () => {
    const text = raw.trim().replace(',', '.');
    if (text === '') return context.setAnswer(undefined);
    const number = /^[+-]?(\d+\.?\d*|\.\d+)$/.test(text) ? Number(text) : text;
    context.setAnswer(unit && unit !== units[0] && typeof number === 'number' ? { value: number, unit } : number);
  };
  const input = h('input', {
    id: context.id, name: field.name, type: 'text', value: raw, autocomplete: 'off',
    inputmode: field.type === 'integer' ? 'numeric' : 'decimal',
    'aria-describedby': context.describedBy,
    oninput: () => { raw = input.value; update(); },
    onblur: context.leave,
  });
  /** @type {HTMLElement[]} */
  const inputs = [input];
  let suffix = null;
  if (units.length > 1) {
    const select = h('select', {
      'aria-label': t('form.unit_of', { label: context.label }),
      onchange: () => { unit = select.value; update(); },
    }, units.map((option) => h('option', { value: option, selected: option === unit }, unitLabel(option))));
    suffix = select;
  } else if (unit) {
    suffix = h('span', { class: 'unit', 'aria-hidden': 'true' }, unitLabel(unit));
    input.setAttribute('aria-label', `${context.label} (${unitLabel(unit)})`);
  }
  return { element: h('div', { class: 'number' }, input, suffix), focusTarget: input, inputs, grouped: false };
}
