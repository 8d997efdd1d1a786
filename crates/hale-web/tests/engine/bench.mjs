// @ts-check
/**
 * @file Benchmarks the browser engine in node: `formState` on the daily vitals sample app
 * (the definition the demo publishes, read from the generated form vectors) with a complete,
 * valid submission and with an empty one, and `compile` of that definition; prints the time
 * per call. Also prints the engine's size, raw and gzip-compressed. Measures only: it asserts
 * nothing about time.
 */

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { performance } from 'node:perf_hooks';
import * as engine from '../../assets/engine/index.js';
import { ROOT, readVector } from './vectors.mjs';

const vectors = readVector('crates/hale-forms/tests/generated_forms.json');
const definition = vectors.definitions['daily-vitals'];
const valid = vectors.cases.find((/** @type {any} */ testCase) =>
  testCase.definition === 'daily-vitals' && testCase.expected.valid && testCase.expected.news2_total !== null);
if (!valid) throw new Error('no valid daily-vitals case with a NEWS2 score in the vectors');

/**
 * Runs `work` until about a second has passed (after a warm-up) and returns microseconds per call.
 * @param {() => unknown} work
 */
function perCall(work) {
  for (let warm = 0; warm < 200; warm += 1) work();
  let calls = 0;
  const started = performance.now();
  while (performance.now() - started < 1000) {
    for (let batch = 0; batch < 50; batch += 1) work();
    calls += 50;
  }
  return ((performance.now() - started) * 1000) / calls;
}

const form = engine.compile(definition);
const now = valid.now;
const state = engine.formState(form, valid.answers, now);
console.log(`daily vitals: ${form.fields.length} fields, NEWS2 ${state.news2_total}, ${state.observations.length} observations`);
console.log(`formState, complete valid submission: ${perCall(() => engine.formState(form, valid.answers, now)).toFixed(1)} µs per call`);
console.log(`formState, empty submission:          ${perCall(() => engine.formState(form, {}, now)).toFixed(1)} µs per call`);
console.log(`compile of the definition:            ${perCall(() => engine.compile(definition)).toFixed(1)} µs per call`);

const directory = join(ROOT, 'crates/hale-web/assets/engine');
const files = readdirSync(directory).filter((name) => name.endsWith('.js')).sort();
const sources = files.map((name) => readFileSync(join(directory, name)));
const raw = sources.reduce((total, source) => total + source.length, 0);
const eachGzipped = sources.reduce((total, source) => total + gzipSync(source, { level: 9 }).length, 0);
const allGzipped = gzipSync(Buffer.concat(sources), { level: 9 }).length;
/** @param {number} bytes */
const kib = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
console.log(`engine: ${files.length} modules, ${kib(raw)} raw, ${kib(eachGzipped)} gzip as served (each module), ${kib(allGzipped)} gzip together`);
