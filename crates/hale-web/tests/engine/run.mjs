// @ts-check
/**
 * @file Runs every shared vector through the browser engine in node: prints the pass counts
 * per file and exits 1 on any failure, showing the first ones.
 */

import * as engine from '../../assets/engine/index.js';
import { runAll } from './runner.js';
import { EXPRESSION_FILES, STATE_FILES, formFiles, readVector } from './vectors.mjs';

const vectors = {
  expressions: Object.fromEntries(EXPRESSION_FILES.map((path) => [path, readVector(path)])),
  forms: Object.fromEntries(formFiles().map((path) => [path, readVector(path)])),
  states: Object.fromEntries(STATE_FILES.map((path) => [path, readVector(path)])),
};
const reports = runAll(engine, vectors);
let failed = 0;
for (const { name, passed, failures } of reports) {
  console.log(`${name}: ${passed} passed, ${failures.length} failed`);
  failed += failures.length;
  for (const failure of failures.slice(0, 15)) console.log(`  ${failure}`);
}
process.exit(failed > 0 ? 1 : 0);
