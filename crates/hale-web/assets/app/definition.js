// @ts-check
/**
 * The app definition format (`hale.app/1`) as the app reads it, and the few facts about it
 * the screens need: choices of a field, units as people read them.
 */

import { namedChoices } from '../engine/index.js';

/**
 * @typedef {import('./i18n.js').Text} Text
 * @typedef {{value: string, label: Text, media?: Record<string, Text>}} Choice
 * @typedef {{media_type: string, size: number, sha256: string}} MediaFile
 * @typedef {{name: string, type: string, label?: Text, hint?: Text, required?: boolean,
 *   required_message?: Text, constraint?: string, constraint_message?: Text, relevant?: string,
 *   calculation?: string, default?: unknown, choices?: Choice[], choice_list?: string, choices_from?: string,
 *   choice_file?: string,
 *   appearance?: string, unit?: string, accepted_units?: string[], code?: string,
 *   min?: number, max?: number, step?: number, children?: Field[], min_count?: number,
 *   max_count?: number, repeat_count?: string, required_if?: string, read_only?: boolean,
 *   hidden?: boolean, prefill?: string, parameters?: Record<string, string>,
 *   max_length?: number, prefix?: Text, trigger?: string[], media?: Record<string, Text>}} Field
 * @typedef {{title: Text, default_language?: string, languages?: string[],
 *   choice_lists?: Record<string, Choice[]>, data_files?: Record<string, Choice[]>,
 *   media_files?: Record<string, MediaFile>, fields: Field[]}} Definition
 */

/**
 * The choices of a select field: inline, from the app's named list, or the rows of a data file
 * attached to the version.
 * @param {Definition} definition
 * @param {Field} field
 * @returns {Choice[]}
 */
export function choicesOf(definition, field) {
  return namedChoices(field, definition)?.[1] ?? field.choices ?? [];
}

/** UCUM units as people write them. */
const UNIT_LABELS = /** @type {Record<string, string>} */ ({
  Cel: '°C',
  '[degF]': '°F',
  'mm[Hg]': 'mmHg',
  '/min': '/min',
  '%': '%',
  kg: 'kg',
  '[lb_av]': 'lb',
  g: 'g',
  cm: 'cm',
  '[in_i]': 'in',
  'mg/dL': 'mg/dL',
  'mmol/L': 'mmol/L',
});

/**
 * @param {string} unit a UCUM unit
 */
export function unitLabel(unit) {
  return UNIT_LABELS[unit] ?? unit;
}

/** Field types whose answers are numbers. */
export const NUMERIC = new Set(['integer', 'decimal', 'range']);
