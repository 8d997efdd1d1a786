// @ts-check
/**
 * Who is signed in on this device, as far as the app knows without asking the server: the
 * organisation and the account's role, kept in `localStorage` (no health data). The session
 * itself is an `HttpOnly` cookie the app cannot read; its anti-forgery cookie, which the server
 * sets and clears with it, tells whether one is still there.
 */

import { csrfToken } from './api.js';

/** @typedef {{tenant: string, role: 'patient' | 'clinician' | null}} Session */

const KEY = 'hale.session';

/** @returns {Session | null} */
export function current() {
  if (!csrfToken()) return null;
  const stored = localStorage.getItem(KEY);
  if (!stored) return null;
  try {
    return /** @type {Session} */ (JSON.parse(stored));
  } catch {
    return null;
  }
}

/** @param {Session} session */
export function remember(session) {
  localStorage.setItem(KEY, JSON.stringify(session));
}

export function forget() {
  localStorage.removeItem(KEY);
}

/** The organisation last signed in to, to fill in the sign-in form. */
export function lastTenant() {
  return localStorage.getItem('hale.tenant') ?? '';
}

/** @param {string} tenant */
export function rememberTenant(tenant) {
  localStorage.setItem('hale.tenant', tenant);
}
