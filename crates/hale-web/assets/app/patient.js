// @ts-check
/**
 * The patient's data on this page: the `home` answer (fetched once per opening, kept on the
 * device for opening offline) joined with what this device has queued since it was fetched.
 */

import * as api from './api.js';
import * as db from './db.js';
import * as outbox from './sync.js';

/** @typedef {{home: api.Home, fresh: boolean}} Loaded */

/** @type {Promise<Loaded> | null} */
let loaded = null;

/** @param {string} tenant */
const key = (tenant) => `home:${tenant}`;

/**
 * The home answer: the one already fetched on this page, else the network's (after sending
 * what is waiting, so that what is due is up to date), else the device's copy.
 * @param {string} tenant
 * @returns {Promise<Loaded>}
 */
export function home(tenant) {
  loaded ??= load(tenant).catch((error) => {
    loaded = null;
    throw error;
  });
  return loaded;
}

/**
 * Keeps a home answer fetched elsewhere (at sign-in) as this page's.
 * @param {string} tenant
 * @param {api.Home} answer
 */
export async function adopt(tenant, answer) {
  await db.put(db.STATE, answer, key(tenant));
  loaded = Promise.resolve({ home: answer, fresh: true });
}

/** @param {string} tenant */
async function load(tenant) {
  /** @type {api.Home | undefined} */
  const cached = await db.get(db.STATE, key(tenant));
  if (navigator.onLine) {
    try {
      const pending = (await outbox.queued(tenant)).some((entry) => entry.state === 'pending');
      if (pending) await outbox.sync(tenant);
      const answer = await api.home(tenant);
      await db.put(db.STATE, answer, key(tenant));
      return { home: answer, fresh: true };
    } catch (error) {
      const offline = error instanceof api.ApiError && (error.status === 0 || error.status >= 500);
      if (!offline || !cached) throw error;
    }
  }
  if (cached) return { home: cached, fresh: false };
  throw new api.ApiError(0, { code: 'offline' });
}

/**
 * Queue entries the home answer does not reflect yet: those still waiting, and those sent
 * after it was fetched.
 * @param {api.Home} answer
 * @param {outbox.Queued[]} entries
 */
export function since(answer, entries) {
  const fetched = Date.parse(answer.now);
  return entries.filter((entry) => entry.state === 'pending'
    || (entry.state === 'sent' && Date.parse(entry.sent_at ?? '') > fetched));
}

/**
 * Whether an assignment still waits for an entry, counting what this device queued.
 * @param {api.HomeAssignment} assignment
 * @param {outbox.Queued[]} recent entries since the home answer
 */
export function isDue(assignment, recent) {
  if (!assignment.due) return false;
  return !recent.some((entry) => entry.submit.app_id === assignment.app_id);
}

/** Forgets this page's copy (on signing out). */
export function reset() {
  loaded = null;
}
