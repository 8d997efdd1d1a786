// @ts-check
/**
 * The outbox. A submission is queued in IndexedDB with the idempotency key made when the
 * patient pressed Submit, and leaves the queue only when the server has answered for it:
 * stored (201) or already stored (200, a replay of the same key), or refused for good (a 4xx
 * other than 429, kept and shown). Sending is one batch call for everything waiting, made on
 * opening, when the network returns, after a Submit and on the patient's tap — never on a
 * timer, except once after a 429 when the server says when to come back. The same key sent
 * twice (two tabs, a lost answer) is stored once by the server.
 */

import * as api from './api.js';
import * as db from './db.js';

/**
 * @typedef {'pending' | 'sent' | 'rejected'} QueueState
 * @typedef {{idempotency_key: string, tenant: string, submit: api.Submit,
 *   title: import('./i18n.js').Text, state: QueueState, queued_at: string, sent_at?: string,
 *   submission_id?: string, problem?: api.Problem,
 *   observations: {code: string, value: number, unit: string}[],
 *   news2_total: number | null}} Queued
 * @typedef {{sent: number, rejected: number, waiting: number, error?: api.ApiError}} SyncOutcome
 */

/** Most submissions one batch call takes. */
const BATCH = 50;
/** Sent entries kept on the device to show as sent. */
const KEEP_SENT = 20;

/** Tells the app's other tabs that the queue changed; this tab redraws on its own. */
const channel = 'BroadcastChannel' in globalThis ? new BroadcastChannel('hale-queue') : null;

function changed() {
  channel?.postMessage('change');
}

/**
 * Calls `listener` whenever another tab changes the queue.
 * @param {() => void} listener
 */
export function onOtherTabChange(listener) {
  channel?.addEventListener('message', listener);
}

/** A new idempotency key: made once per Submit, kept with the submission until it is sent. */
export function newKey() {
  return crypto.randomUUID();
}

/**
 * Stores a submission for sending; resolves once it is on disk.
 * @param {Omit<Queued, 'state' | 'queued_at'>} entry
 */
export async function enqueue(entry) {
  await db.put(db.QUEUE, { ...entry, state: 'pending', queued_at: new Date().toISOString() });
  changed();
}

/**
 * This organisation's queue, newest first.
 * @param {string} tenant
 * @returns {Promise<Queued[]>}
 */
export async function queued(tenant) {
  /** @type {Queued[]} */
  const entries = await db.all(db.QUEUE);
  return entries
    .filter((entry) => entry.tenant === tenant)
    .sort((a, b) => b.queued_at.localeCompare(a.queued_at));
}

/**
 * Runs `work` in one tab at a time, where the browser can say so.
 * @template T
 * @param {() => Promise<T>} work
 * @returns {Promise<T>}
 */
function exclusively(work) {
  if (!navigator.locks) return work();
  return /** @type {Promise<T>} */ (/** @type {unknown} */ (navigator.locks.request('hale-sync', work)));
}

/**
 * Sends what is waiting, in one call.
 * @param {string} tenant
 * @returns {Promise<SyncOutcome>}
 */
export function sync(tenant) {
  return exclusively(async () => {
    const waiting = (await queued(tenant))
      .filter((entry) => entry.state === 'pending')
      .reverse()
      .slice(0, BATCH);
    if (waiting.length === 0) return { sent: 0, rejected: 0, waiting: 0 };
    if (!navigator.onLine) return { sent: 0, rejected: 0, waiting: waiting.length };
    let answer;
    try {
      answer = await api.submitBatch(tenant, waiting.map((entry) => entry.submit));
    } catch (error) {
      if (!(error instanceof api.ApiError)) throw error;
      return { sent: 0, rejected: 0, waiting: waiting.length, error };
    }
    const outcome = { sent: 0, rejected: 0, waiting: 0 };
    const now = new Date().toISOString();
    for (const [index, entry] of waiting.entries()) {
      const result = answer.results[index];
      if (result && (result.status === 200 || result.status === 201)) {
        await db.put(db.QUEUE, {
          ...entry,
          state: 'sent',
          sent_at: now,
          submission_id: result.submission?.id,
        });
        outcome.sent += 1;
      } else if (result && result.status >= 400 && result.status < 500 && result.status !== 429) {
        await db.put(db.QUEUE, { ...entry, state: 'rejected', problem: result.problem });
        outcome.rejected += 1;
      } else {
        outcome.waiting += 1;
      }
    }
    await prune(tenant);
    changed();
    return outcome;
  });
}

/**
 * Forgets sent entries beyond the newest few; pending and refused ones stay.
 * @param {string} tenant
 */
async function prune(tenant) {
  const sent = (await queued(tenant)).filter((entry) => entry.state === 'sent');
  for (const entry of sent.slice(KEEP_SENT)) await db.remove(db.QUEUE, entry.idempotency_key);
}

/**
 * Removes a refused entry the patient has seen.
 * @param {string} key
 */
export async function dismiss(key) {
  await db.remove(db.QUEUE, key);
  changed();
}
