// @ts-check
/**
 * The interface's own strings (catalogues in `/i18n/`, English and French) and the texts of app
 * definitions (`Text` values: one string, or one per language), in the patient's language.
 */

/** The languages the interface is written in; the first is the fallback. */
export const UI_LANGUAGES = /** @type {const} */ (['en', 'fr']);

/** @typedef {string | Record<string, string>} Text */

/** @type {Record<string, string>} */
let strings = {};
/** @type {Record<string, string>} */
let fallback = {};
let current = 'en';

/** @param {string} language */
async function load(language) {
  const response = await fetch(`/i18n/${language}.json`);
  if (!response.ok) throw new Error(`no catalogue for ${language}`);
  return /** @type {Record<string, string>} */ (await response.json());
}

/** The language the person chose, else the browser's first one we have. */
export function preferredLanguage() {
  const chosen = localStorage.getItem('hale.language');
  if (chosen && includes(chosen)) return chosen;
  for (const tag of navigator.languages ?? [navigator.language]) {
    const base = tag.toLowerCase().split('-')[0];
    if (includes(base)) return base;
  }
  return UI_LANGUAGES[0];
}

/** @param {string} language */
function includes(language) {
  return /** @type {readonly string[]} */ (UI_LANGUAGES).includes(language);
}

/**
 * Loads the catalogue of `language` (and the fallback) and marks the document with it.
 * @param {string} language
 */
export async function setLanguage(language) {
  if (!includes(language)) language = UI_LANGUAGES[0];
  const [chosen, base] = await Promise.all([
    load(language),
    language === UI_LANGUAGES[0] ? Promise.resolve(null) : load(UI_LANGUAGES[0]),
  ]);
  strings = chosen;
  fallback = base ?? chosen;
  current = language;
  localStorage.setItem('hale.language', language);
  document.documentElement.lang = language;
}

/** The interface's language now. */
export function language() {
  return current;
}

/**
 * The string `key` with `{name}` placeholders filled in.
 * @param {string} key
 * @param {Record<string, string | number>} [values]
 */
export function t(key, values = {}) {
  const template = strings[key] ?? fallback[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (whole, name) =>
    name in values ? String(values[name]) : whole,
  );
}

/**
 * Whether the catalogue has `key`.
 * @param {string} key
 */
export function has(key) {
  return key in strings || key in fallback;
}

/**
 * A definition's language key matches a language when it is the same code, or names it in
 * brackets as XLSForm does (`English (en)`).
 * @param {string} key
 * @param {string} wanted
 */
function sameLanguage(key, wanted) {
  const code = /\(([^)]+)\)\s*$/.exec(key)?.[1] ?? key;
  return code.toLowerCase() === wanted.toLowerCase();
}

/**
 * A definition's text in `wanted`, else in the definition's default language, else any.
 * @param {Text | undefined | null} value
 * @param {string} wanted
 * @param {string} [defaultLanguage]
 */
export function text(value, wanted, defaultLanguage = 'en') {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  const entries = Object.entries(value).filter(([, words]) => words !== '');
  const find = (/** @type {string} */ language) =>
    entries.find(([key]) => key === language || sameLanguage(key, language))?.[1];
  return find(wanted) ?? find(defaultLanguage) ?? entries[0]?.[1] ?? '';
}

/**
 * The language an app's texts are shown in: the interface's when the app has it, else the
 * app's default.
 * @param {{languages?: string[], default_language?: string}} definition
 * @param {string} wanted
 */
export function formLanguage(definition, wanted) {
  const all = [definition.default_language ?? 'en', ...(definition.languages ?? [])];
  return all.find((key) => sameLanguage(key, wanted)) ?? all[0];
}

/**
 * A date and time, short, in the interface's language.
 * @param {string | Date} when
 */
export function dateTime(when) {
  return new Intl.DateTimeFormat(current, { dateStyle: 'medium', timeStyle: 'short' }).format(
    new Date(when),
  );
}

/**
 * A day and month, for chart axes.
 * @param {Date} when
 */
export function shortDate(when) {
  return new Intl.DateTimeFormat(current, { day: 'numeric', month: 'short' }).format(when);
}

/**
 * A number in the interface's language.
 * @param {number} value
 */
export function number(value) {
  return new Intl.NumberFormat(current, { maximumFractionDigits: 1 }).format(value);
}
