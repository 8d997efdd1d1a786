// @ts-check
/**
 * @file Runs every shared vector through the browser engine in headless Chromium (Debian's
 * `/usr/bin/chromium`, driven by playwright-core): a tiny static server on a loopback port
 * serves the engine, the runner and the vector files, and the page runs the same runner code
 * as `run.mjs`. Prints the pass counts and exits 1 on any failure.
 */

import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { readdirSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { EXPRESSION_FILES, ROOT, STATE_FILES, formFiles } from './vectors.mjs';

const ENGINE = 'crates/hale-web/assets/engine';
const RUNNER = 'crates/hale-web/tests/engine/runner.js';
const TYPES = /** @type {Record<string, string>} */ ({
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
});

const forms = formFiles();
/** Only these paths are served, so the server exposes nothing else of the repository. */
const served = new Set([
  ...readdirSync(join(ROOT, ENGINE)).filter((name) => name.endsWith('.js')).map((name) => `${ENGINE}/${name}`),
  RUNNER,
  ...EXPRESSION_FILES,
  ...forms,
  ...STATE_FILES,
]);

const server = createServer(async (request, response) => {
  const path = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname).slice(1);
  if (path === '') {
    response.writeHead(200, { 'content-type': TYPES['.html'] });
    response.end('<!doctype html><title>engine vectors</title>');
    return;
  }
  if (!served.has(path)) {
    response.writeHead(404);
    response.end();
    return;
  }
  response.writeHead(200, { 'content-type': TYPES[extname(path)] ?? 'application/octet-stream' });
  response.end(await readFile(join(ROOT, path)));
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)));
const address = server.address();
const port = typeof address === 'object' && address ? address.port : 0;

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
let failed = 1;
try {
  const page = await browser.newPage();
  /** @type {string[]} */
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(`http://127.0.0.1:${port}/`);
  const reports = await page.evaluate(async ({ engine, runner, expressionFiles, formFiles, stateFiles }) => {
    const module = await import(engine);
    const { runAll } = await import(runner);
    /** @param {string} path */
    const fetchJson = async (path) => (await fetch(`/${path}`)).json();
    /** @param {string[]} paths */
    const load = async (paths) => Object.fromEntries(await Promise.all(
      paths.map(async (path) => [path, await fetchJson(path)]),
    ));
    return runAll(module, { expressions: await load(expressionFiles), forms: await load(formFiles), states: await load(stateFiles) });
  }, {
    engine: `/${ENGINE}/index.js`,
    runner: `/${RUNNER}`,
    expressionFiles: EXPRESSION_FILES,
    formFiles: forms,
    stateFiles: STATE_FILES,
  });
  console.log(`chromium ${browser.version()}`);
  failed = pageErrors.length;
  for (const error of pageErrors) console.log(`page error: ${error}`);
  for (const { name, passed, failures } of reports) {
    console.log(`${name}: ${passed} passed, ${failures.length} failed`);
    failed += failures.length;
    for (const failure of failures.slice(0, 15)) console.log(`  ${failure}`);
  }
} finally {
  await browser.close();
  server.close();
}
process.exit(failed > 0 ? 1 : 0);
