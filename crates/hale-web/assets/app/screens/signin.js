// @ts-check
/** Signing in: a local account (organisation, username, password, a one-time code when the
 * account has a second factor), or the organisation's own provider when one is configured. */

import { h, replace } from '../dom.js';
import { t } from '../i18n.js';
import * as api from '../api.js';
import * as session from '../session.js';
import * as patient from '../patient.js';

/**
 * @param {HTMLElement} main
 * @param {{notice?: string, onSignedIn: (role: 'patient' | 'clinician') => void}} options
 */
export async function signInScreen(main, { notice, onSignedIn }) {
  const status = h('div', { class: 'form-status', role: 'alert' });
  const field = (/** @type {string} */ name, /** @type {Record<string, unknown>} */ attributes) => {
    const id = `sign-in-${name}`;
    return h('div', { class: 'field' },
      h('label', { for: id }, t(`sign_in.${name}`)),
      h('input', { id, name, required: true, 'aria-required': 'true', ...attributes }));
  };
  const totp = field('totp', { inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]*', required: false, 'aria-required': false });
  totp.hidden = true;
  const form = h('form', { class: 'sign-in', novalidate: true },
    field('tenant', { autocomplete: 'organization', value: session.lastTenant(), autocapitalize: 'none', spellcheck: 'false' }),
    field('username', { autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false' }),
    field('password', { type: 'password', autocomplete: 'current-password' }),
    totp,
    status,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, t('sign_in.submit'))));
  const providers = h('div', { class: 'providers' });
  replace(main,
    h('h1', {}, t('sign_in.title')),
    notice ? h('p', { class: 'notice', role: 'status' }, notice) : null,
    form,
    providers);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const value = (/** @type {string} */ name) => String(data.get(name) ?? '').trim();
    const credentials = { tenant: value('tenant'), username: value('username'), password: String(data.get('password') ?? '') };
    const missing = ['tenant', 'username', 'password'].filter((name) => !value(name));
    for (const name of ['tenant', 'username', 'password']) {
      form.querySelector(`[name=${name}]`)?.setAttribute('aria-invalid', String(missing.includes(name)));
    }
    if (missing.length > 0) {
      status.textContent = t('sign_in.missing');
      return;
    }
    const code = value('totp');
    status.textContent = t('sign_in.working');
    try {
      await api.signIn(code ? { ...credentials, totp: code } : credentials);
      session.rememberTenant(credentials.tenant);
      const role = await roleOf(credentials.tenant);
      if (!role) {
        status.textContent = t('sign_in.no_role');
        return;
      }
      status.textContent = '';
      onSignedIn(role);
    } catch (error) {
      if (!(error instanceof api.ApiError)) throw error;
      if (error.code === 'mfa_required') {
        totp.hidden = false;
        status.textContent = t('sign_in.totp_needed');
        totp.querySelector('input')?.focus();
      } else {
        status.textContent = t(error.status === 0 ? 'sign_in.offline' : error.status === 429 ? 'sign_in.too_many' : 'sign_in.failed');
      }
    }
  });

  try {
    const { providers: offered } = await api.providers();
    if (offered.length === 0) return;
    replace(providers, h('p', { class: 'or' }, t('sign_in.or')),
      offered.map((provider) => h('a', { class: 'button secondary', href: provider.start },
        t('sign_in.with', { provider: provider.display_name }))));
  } catch {
    // Offline or refused: the local sign-in still works.
  }
}

/**
 * What the signed-in account is for in this app. A patient's own `home` is their one bootstrap
 * call, kept for the home screen; anyone else is asked about once.
 * @param {string} tenant
 * @returns {Promise<'patient' | 'clinician' | null>}
 */
export async function roleOf(tenant) {
  try {
    const answer = await api.home(tenant);
    session.remember({ tenant, role: 'patient' });
    await patient.adopt(tenant, answer);
    return 'patient';
  } catch (error) {
    if (!(error instanceof api.ApiError) || (error.status !== 403 && error.status !== 404)) throw error;
  }
  const me = await api.me();
  const clinical = me.roles.some((role) => role === 'clinician' || role === 'tenant-admin');
  session.remember({ tenant, role: clinical ? 'clinician' : null });
  return clinical ? 'clinician' : null;
}

/**
 * After a provider's sign-in the app knows no organisation yet: the account says which.
 * @returns {Promise<'patient' | 'clinician' | null>}
 */
export async function roleFromProvider() {
  const me = await api.me();
  if (!me.tenant_id) return null;
  session.rememberTenant(me.tenant_id);
  if (me.roles.includes('patient')) return roleOf(me.tenant_id);
  const clinical = me.roles.some((role) => role === 'clinician' || role === 'tenant-admin');
  session.remember({ tenant: me.tenant_id, role: clinical ? 'clinician' : null });
  return clinical ? 'clinician' : null;
}
