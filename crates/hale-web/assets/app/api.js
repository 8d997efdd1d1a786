// @ts-check
/**
 * Hale's public API as the app uses it: same-origin calls with the session cookie, the
 * anti-forgery token on every state-changing call, problem+json errors as `ApiError`.
 * The patient app makes one bootstrap call (`home`) per opening and one batch call per sync;
 * nothing here polls.
 */

/**
 * @typedef {{type?: string, title?: string, status?: number, code?: string, detail?: string,
 *   errors?: {field: string, code: string, message: string}[]}} Problem
 * @typedef {{kind: 'daily'} | {kind: 'weekly', weekday: string} | {kind: 'once'}} Schedule
 * @typedef {{id: string, app_id: string, title: import('./i18n.js').Text, schedule: Schedule,
 *   due: boolean, last_submitted_at: string | null}} HomeAssignment
 * @typedef {{code: string, value: number, unit: string, effective_at: string}} HistoryObservation
 * @typedef {'low' | 'low-medium' | 'medium' | 'high'} Band
 * @typedef {{effective_at: string, total: number, band: Band}} News2
 * @typedef {{subject_id: string, now: string, assignments: HomeAssignment[],
 *   apps: Record<string, {version: number, definition: import('./definition.js').Definition}>,
 *   history: {observations: HistoryObservation[], news2: News2[]}}} Home
 * @typedef {{subject_id: string, app_id: string, app_version: number, authored_at: string,
 *   answers: Record<string, unknown>, idempotency_key: string}} Submit
 * @typedef {{id: string, subject_id: string, app_id: string, app_version: number,
 *   authored_at: string, recorded_at: string, answers: Record<string, unknown>,
 *   scores?: Record<string, unknown>}} Submission
 * @typedef {{status: number, submission?: Submission, problem?: Problem}} BatchResult
 * @typedef {{value: number, unit: string, effective_at: string}} Latest
 * @typedef {{subject_id: string, display_name: string | null, latest: Record<string, Latest>,
 *   news2: News2 | null, alert: boolean, last_submitted_at: string | null}} PatientRow
 * @typedef {{submission_id: string, position: number, subject_id: string, code: string,
 *   effective_at: string, field: string, value: number, unit: string}} Observation
 * @typedef {{account_id: string, tenant_id: string | null, kind: string, roles: string[],
 *   subject_id: string | null}} Me
 * @typedef {{name: string, display_name: string, start: string}} Provider
 */

/** A refused or failed call; `status` 0 when the network could not be reached. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {Problem} problem
   * @param {number | null} [retryAfter] seconds, from `Retry-After`
   */
  constructor(status, problem, retryAfter = null) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.code = problem.code ?? (status === 0 ? 'offline' : 'error');
    this.retryAfter = retryAfter;
  }
}

/** The anti-forgery token as last read or given; `null` until read. */
/** @type {string | null} */
let csrf = null;

/**
 * The session's anti-forgery token, from the cookie the server set beside the session. Read
 * once per page: every read of `document.cookie` waits on the browser process.
 */
export function csrfToken() {
  if (csrf === null) {
    const entry = document.cookie.split('; ').find((pair) => pair.startsWith('hale_csrf='));
    csrf = entry ? decodeURIComponent(entry.slice('hale_csrf='.length)) : '';
  }
  return csrf;
}

/**
 * @param {string} method
 * @param {string} path under `/api/v1`
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
async function call(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET') headers['x-csrf-token'] = csrfToken();
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers,
      credentials: 'same-origin',
      cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, { code: 'offline' });
  }
  const text = await response.text();
  const parsed = text ? safeParse(text) : null;
  if (!response.ok) {
    const retry = Number(response.headers.get('retry-after'));
    throw new ApiError(response.status, parsed ?? {}, Number.isFinite(retry) && retry > 0 ? retry : null);
  }
  return parsed;
}

/** @param {string} text */
function safeParse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** @param {string} value */
const segment = (value) => encodeURIComponent(value);

/**
 * @param {{tenant: string, username: string, password: string, totp?: string}} credentials
 * @returns {Promise<{account_id: string, csrf_token: string, expires_at: string,
 *   mfa_enrolment_required: boolean}>}
 */
export async function signIn(credentials) {
  const session = await call('POST', '/auth/sign-in', credentials);
  csrf = session.csrf_token;
  return session;
}

export async function signOut() {
  try {
    await call('POST', '/auth/sign-out');
  } finally {
    csrf = '';
  }
}

/** @returns {Promise<Me>} */
export function me() {
  return call('GET', '/auth/me');
}

/** @returns {Promise<{providers: Provider[]}>} */
export function providers() {
  return call('GET', '/auth/providers');
}

/**
 * @param {string} tenant
 * @returns {Promise<Home>}
 */
export function home(tenant) {
  return call('GET', `/tenants/${segment(tenant)}/home`);
}

/**
 * @param {string} tenant
 * @param {Submit[]} submissions
 * @returns {Promise<{results: BatchResult[]}>}
 */
export function submitBatch(tenant, submissions) {
  return call('POST', `/tenants/${segment(tenant)}/submissions/batch`, { submissions });
}

/**
 * @param {string} tenant
 * @returns {Promise<{items: PatientRow[]}>}
 */
export function patients(tenant) {
  return call('GET', `/tenants/${segment(tenant)}/patients`);
}

/**
 * @param {string} tenant
 * @param {string} subject
 * @returns {Promise<{id: string, display_name?: string | null}>}
 */
export function subject(tenant, subject) {
  return call('GET', `/tenants/${segment(tenant)}/subjects/${segment(subject)}`);
}

/**
 * A subject's observations of one code since `since`, oldest first.
 * @param {string} tenant
 * @param {string} subject
 * @param {string} code
 * @param {Date} since
 * @returns {Promise<{items: Observation[]}>}
 */
export function observations(tenant, subject, code, since) {
  const query = new URLSearchParams({ code, since: since.toISOString(), limit: '500' });
  return call('GET', `/tenants/${segment(tenant)}/subjects/${segment(subject)}/observations?${query}`);
}

/**
 * One version of an app, as its Hale definition.
 * @param {string} tenant
 * @param {string} app
 * @param {number} version
 * @returns {Promise<import('./definition.js').Definition>}
 */
export function appVersion(tenant, app, version) {
  return call('GET', `/tenants/${segment(tenant)}/apps/${segment(app)}/versions/${version}`);
}

/**
 * A subject's submissions since `since`.
 * @param {string} tenant
 * @param {string} subject
 * @param {Date} since
 * @returns {Promise<{items: Submission[]}>}
 */
export function submissions(tenant, subject, since) {
  const query = new URLSearchParams({ since: since.toISOString(), limit: '100' });
  return call('GET', `/tenants/${segment(tenant)}/subjects/${segment(subject)}/submissions?${query}`);
}
