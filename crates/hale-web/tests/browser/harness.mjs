// Shared pieces of the browser tests: a real `hale demo` on a free port with its own data
// directory, the demo's credentials, Debian's Chromium through playwright-core, axe-core run
// under the app's own Content-Security-Policy, and screenshots.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { before, after } from 'node:test';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, '../../../..');
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
export const PHONE = { width: 390, height: 844 };
/** The smallest phone the app is made for. */
export const SMALL_PHONE = { width: 360, height: 640 };
export const DESKTOP = { width: 1280, height: 800 };
export const SCREENSHOTS = join(root, 'target/web-screenshots');

/** A free TCP port on the loopback. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
      server.close(() => resolve(port));
    });
  });
}

/**
 * Runs `hale demo` on `port` over `dataDir` until it answers; resolves with the process.
 * @param {string} dataDir
 * @param {number} port
 * @param {string[]} flags before the command (`--config FILE`)
 */
async function runDemo(dataDir, port, flags) {
  const executable = process.env.HALE_BINARY
    ?? join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'debug/hale');
  const child = spawn(executable, ['--data-dir', dataDir, ...flags, 'demo', '--listen', `127.0.0.1:${port}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, HALE_LOG: 'warn' },
  });
  let output = '';
  child.stdout.on('data', (chunk) => { output += chunk; });
  child.stderr.on('data', (chunk) => { output += chunk; });
  for (let attempt = 0; ; attempt += 1) {
    if (child.exitCode !== null) throw new Error(`hale demo exited: ${output}`);
    try {
      const response = await fetch(`http://127.0.0.1:${port}/ready`);
      if (response.ok) return child;
    } catch {
      // Not listening yet.
    }
    if (attempt > 600) throw new Error(`hale demo did not become ready: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** @param {import('node:child_process').ChildProcess} child */
async function stopProcess(child) {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
}

/**
 * Starts `hale demo` on a free port (or `options.port`) with its own data directory and waits
 * until it answers; resolves with its address and credentials. With `options.config` (a
 * configuration file's text) the demo is seeded first, then started again with it, since a
 * configuration may name the demo's tenant.
 * @param {{port?: number, config?: string}} [options]
 */
export async function startDemo(options = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'hale-web-'));
  const port = options.port ?? await freePort();
  let child = await runDemo(dataDir, port, []);
  if (options.config !== undefined) {
    await stopProcess(child);
    const file = join(dataDir, 'hale.toml');
    writeFileSync(file, options.config);
    child = await runDemo(dataDir, port, ['--config', file]);
  }
  const credentials = parseCredentials(readFileSync(join(dataDir, 'demo-credentials.txt'), 'utf8'));
  return {
    base: `http://127.0.0.1:${port}`,
    credentials,
    async stop() {
      await stopProcess(child);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * The demo's accounts by username (password, API token, and for patients their subject) and
 * its apps' ids by name.
 * @param {string} text
 */
export function parseCredentials(text) {
  /** @type {Record<string, {name: string, password?: string, token?: string, subject?: string}>} */
  const accounts = {};
  /** @type {Record<string, string>} */
  const apps = {};
  let current = null;
  for (const line of text.split('\n')) {
    const app = /^ {2}app\s*: (.+), id (\S+)/.exec(line);
    if (app) {
      apps[app[1]] = app[2];
      continue;
    }
    const account = /^ {2}(.+) \(([^)]+)\) — username `([^`]+)`/.exec(line);
    if (account) {
      current = { name: account[1] };
      accounts[account[3]] = current;
      continue;
    }
    const detail = /^ {6}(password|API token|patient)\s*: ([^\s,]+)(?:, subject (\S+))?/.exec(line);
    if (!current || !detail) continue;
    if (detail[1] === 'password') current.password = detail[2];
    if (detail[1] === 'API token') current.token = detail[2];
    if (detail[1] === 'patient') current.subject = detail[3];
  }
  return { accounts, apps };
}

export async function launch() {
  return chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

/**
 * Runs axe-core on the page as it is (evaluated through the debugging protocol, which the
 * page's CSP does not govern) and returns the serious and critical violations.
 * @param {import('playwright-core').Page} page
 */
export async function seriousViolations(page) {
  await page.evaluate(axeSource);
  const results = await page.evaluate(async () => {
    // @ts-ignore: injected above
    const outcome = await window.axe.run(document, { resultTypes: ['violations'] });
    return outcome.violations.map((/** @type {any} */ violation) => ({
      id: violation.id,
      impact: violation.impact,
      nodes: violation.nodes.map((/** @type {any} */ node) => node.target.join(' ')).slice(0, 5),
    }));
  });
  return results.filter((violation) => violation.impact === 'serious' || violation.impact === 'critical');
}

/**
 * Checks that the page fits a 360 px screen without scrolling sideways, screenshots it at
 * phone and desktop sizes, then puts it back at `restore`.
 * @param {import('playwright-core').Page} page
 * @param {string} name
 * @param {{width: number, height: number}} [restore]
 */
export async function screenshots(page, name, restore = PHONE) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.setViewportSize(SMALL_PHONE);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 0) throw new Error(`${name}: ${overflow} px wider than a 360 px screen`);
  await page.setViewportSize(PHONE);
  await page.screenshot({ path: join(SCREENSHOTS, `${name}-phone.png`), fullPage: true });
  await page.setViewportSize(DESKTOP);
  await page.screenshot({ path: join(SCREENSHOTS, `${name}-desktop.png`), fullPage: true });
  await page.setViewportSize(restore);
}

/**
 * Signs in through the sign-in screen.
 * @param {import('playwright-core').Page} page
 * @param {string} username
 * @param {string} password
 */
export async function signIn(page, username, password) {
  await page.getByLabel('Organisation').fill('contoso');
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/**
 * Calls the API with a demo token.
 * @param {string} base
 * @param {string} token
 * @param {string} path under /api/v1
 */
export async function api(base, token, path) {
  const response = await fetch(`${base}/api/v1${path}`, { headers: { authorization: `Bearer ${token}` } });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.json();
}


/**
 * Starts a `hale demo` and Chromium before a test file's tests and stops both after them; the
 * returned object holds them once the tests run.
 * @param {Parameters<typeof startDemo>[0]} [options]
 */
export function withDemoAndBrowser(options) {
  const session = /** @type {{demo: Awaited<ReturnType<typeof startDemo>>, browser: import('playwright-core').Browser}} */ ({});
  before(async () => {
    session.demo = await startDemo(options);
    session.browser = await launch();
  });
  after(async () => {
    await session.browser?.close();
    await session.demo?.stop();
  });
  return session;
}
