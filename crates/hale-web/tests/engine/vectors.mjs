// @ts-check
/**
 * @file Where the shared vectors live, for both runners: the expression files of `hale-expr`
 * and every form case of `hale-forms` (one case per file in `tests/vectors/`, lists of cases
 * in `tests/generated_forms.json`). Paths are relative to the repository root.
 */

import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = new URL('../../../../', import.meta.url).pathname;

/** Field states on screen, which no server vector covers: this engine's own cases. */
export const STATE_FILES = ['crates/hale-web/tests/engine/state_cases.json'];

export const EXPRESSION_FILES = [
  'crates/hale-expr/tests/vectors.json',
  'crates/hale-expr/tests/generated_vectors.json',
];

/** Every form vector file, in a stable order. */
export function formFiles() {
  const directory = 'crates/hale-forms/tests/vectors';
  const files = readdirSync(join(ROOT, directory))
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => `${directory}/${name}`);
  const generated = 'crates/hale-forms/tests/generated_forms.json';
  if (existsSync(join(ROOT, generated))) files.push(generated);
  return files;
}

/** @param {string} path */
export const readVector = (path) => JSON.parse(readFileSync(join(ROOT, path), 'utf8'));
