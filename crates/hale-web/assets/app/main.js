// @ts-check
/**
 * The app's entry: the catalogue in the person's language, the page's bar (navigation,
 * language, network state, signing out), the routes, the service worker, and the moments the
 * outbox is sent: on opening, when the network returns, after a Submit, on a tap.
 */

import { h, replace, byId, announce } from './dom.js';
import { t, setLanguage, preferredLanguage, language, UI_LANGUAGES } from './i18n.js';
import * as api from './api.js';
import * as db from './db.js';
import * as session from './session.js';
import * as outbox from './sync.js';
import * as patient from './patient.js';
import * as router from './router.js';
import { signInScreen, roleFromProvider } from './screens/signin.js';
import { homeScreen } from './screens/home.js';
import { fillScreen } from './screens/fill.js';

const main = byId('main', HTMLElement);
/** A message for the next screen drawn (after a Submit, after the session ended). */
let notice = '';
/** A retry the server asked for with Retry-After; at most one is pending. */
let retry = 0;

function takeNotice() {
  const message = notice;
  notice = '';
  return message || undefined;
}

/** The bar above every screen. */
function drawBar() {
  const signed = session.current();
  const links = !signed ? [] : signed.role === 'patient'
    ? [['/home', t('nav.home')], ['/trends', t('nav.trends')]]
    : [['/patients', t('nav.patients')]];
  const languages = h('select', {
    id: 'language', 'aria-label': t('nav.language'),
    onchange: async () => {
      await setLanguage(languages.value);
      drawBar();
      await router.navigate(location.pathname, { replace: true });
    },
  }, UI_LANGUAGES.map((code) => h('option', { value: code, selected: code === language(), lang: code }, t(`language.${code}`))));
  replace(byId('bar', HTMLElement),
    h('a', { class: 'brand', href: '/' }, 'Hale'),
    h('nav', { 'aria-label': t('nav.main') }, h('ul', {}, links.map(([href, label]) =>
      h('li', {}, h('a', { href, 'aria-current': location.pathname === href ? 'page' : false }, label))))),
    h('span', { id: 'network', class: `network ${navigator.onLine ? 'online' : 'offline'}`, role: 'status' },
      h('span', { 'aria-hidden': 'true' }, navigator.onLine ? '● ' : '○ '), t(navigator.onLine ? 'network.online' : 'network.offline')),
    languages,
    signed ? h('button', { type: 'button', class: 'link', onclick: signOut }, t('nav.sign_out')) : null);
  const skip = document.querySelector('.skip');
  if (skip) skip.textContent = t('nav.skip');
}

/** The skip link moves focus itself: browsers differ in whether a fragment link does. */
function skipToContent(/** @type {Event} */ event) {
  event.preventDefault();
  main.focus();
}

async function signOut() {
  const signed = session.current();
  if (signed) {
    const waiting = (await outbox.queued(signed.tenant)).filter((entry) => entry.state === 'pending');
    if (waiting.length > 0 && !window.confirm(t('nav.sign_out_pending', { count: waiting.length }))) return;
  }
  try {
    await api.signOut();
  } catch {
    // Offline or already ended: the device forgets the session either way.
  }
  session.forget();
  patient.reset();
  await db.clear();
  // The forms' media files, which the service worker kept for this person's forms.
  if ('caches' in window) await caches.delete('media-1');
  drawBar();
  await router.navigate('/sign-in', { replace: true });
}

/**
 * Sends the outbox and says what happened; schedules one retry when the server asks for it.
 * @param {string} tenant
 */
async function send(tenant) {
  const outcome = await outbox.sync(tenant);
  if (outcome.error?.status === 401) {
    sessionEnded();
    return;
  }
  if (outcome.error?.retryAfter && !retry) {
    retry = window.setTimeout(() => {
      retry = 0;
      void send(tenant);
    }, outcome.error.retryAfter * 1000);
  }
  if (outcome.sent > 0) announce(t('queue.sent_count', { count: outcome.sent }));
  if (outcome.rejected > 0) announce(t('queue.rejected_count', { count: outcome.rejected }));
  if (outcome.sent > 0 || outcome.rejected > 0) await redrawIfShowingQueue();
}

async function redrawIfShowingQueue() {
  if (location.pathname === '/home' || location.pathname === '/trends') {
    await router.navigate(location.pathname, { replace: true });
  }
}

function sessionEnded() {
  session.forget();
  patient.reset();
  notice = t('sign_in.ended');
  drawBar();
  void router.navigate('/sign-in', { replace: true });
}

/**
 * Runs a screen, turning an ended session into the sign-in screen and a failure into a
 * message instead of an empty page.
 * @param {(signed: import('./session.js').Session) => Promise<void>} screen
 * @param {'patient' | 'clinician'} role
 */
function guarded(screen, role) {
  return async () => {
    const signed = session.current();
    if (!signed || signed.role !== role) {
      void router.navigate(signed ? '/' : '/sign-in', { replace: true });
      return;
    }
    try {
      await screen(signed);
    } catch (error) {
      if (error instanceof api.ApiError && error.status === 401) {
        sessionEnded();
        return;
      }
      const offline = error instanceof api.ApiError && error.status === 0;
      replace(main, h('h1', {}, t(offline ? 'error.offline_title' : 'error.title')),
        h('p', { role: 'alert' }, t(offline ? 'error.offline' : 'error.general')));
    }
  };
}

/** @param {'patient' | 'clinician'} role */
function landing(role) {
  return role === 'patient' ? '/home' : '/patients';
}

async function entry() {
  let signed = session.current();
  if (!signed && api.csrfToken() && navigator.onLine) {
    // A provider's sign-in ends on `/` with a session this page has not met yet.
    try {
      await roleFromProvider();
      signed = session.current();
      drawBar();
    } catch {
      signed = null;
    }
  }
  const target = signed?.role ? landing(signed.role) : '/sign-in';
  void router.navigate(target, { replace: true });
}

/** @type {import('./router.js').Route[]} */
const routes = [
  [/^\/$/, entry],
  [/^\/sign-in$/, () => signInScreen(main, {
    notice: takeNotice(),
    onSignedIn: (role) => {
      drawBar();
      void router.navigate(landing(role), { replace: true }).then(() => {
        // Entries made before the session ended go now.
        const signed = session.current();
        if (role === 'patient' && signed && navigator.onLine) return send(signed.tenant);
      });
    },
  })],
  [/^\/home$/, guarded((signed) => homeScreen(main, {
    tenant: signed.tenant,
    notice: takeNotice(),
    onSync: () => send(signed.tenant),
    onDismissed: () => router.navigate('/home', { replace: true }),
  }), 'patient')],
  [/^\/apps\/([^/]+)$/, (params) => guarded((signed) => fillScreen(main, {
    tenant: signed.tenant,
    appId: params[0],
    onQueued: async () => {
      notice = t(navigator.onLine ? 'fill.sending' : 'fill.queued');
      await router.navigate('/home');
      if (navigator.onLine) await send(signed.tenant);
    },
  }), 'patient')()],
  // Charts and the clinician's screens load when first shown: the form screen does without.
  [/^\/trends$/, guarded(async (signed) => (await import('./screens/trends.js')).trendsScreen(main, { tenant: signed.tenant }), 'patient')],
  [/^\/patients$/, guarded(async (signed) => (await import('./screens/clinician.js')).patientsScreen(main, { tenant: signed.tenant }), 'clinician')],
  [/^\/patients\/([^/]+)$/, (params) => guarded(async (signed) => (await import('./screens/clinician.js')).patientScreen(main, { tenant: signed.tenant, subject: params[0] }), 'clinician')()],
];

async function start() {
  await setLanguage(preferredLanguage());
  drawBar();
  document.querySelector('.skip')?.addEventListener('click', skipToContent);
  window.addEventListener('online', () => {
    drawBar();
    const signed = session.current();
    if (signed?.role === 'patient') void send(signed.tenant);
  });
  window.addEventListener('offline', drawBar);
  outbox.onOtherTabChange(() => {
    if (location.pathname === '/home') void router.navigate('/home', { replace: true });
  });
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('/sw.js', { scope: '/' }).catch(() => {
      // Without a worker the app still works online.
    });
  }
  void navigator.storage?.persist?.();
  await router.start(routes);
  const signed = session.current();
  if (signed?.role === 'patient' && navigator.onLine) await send(signed.tenant);
}

void start();
