//! Accounts and their credentials: how a request becomes a [`Principal`].
//!
//! A person or an integration is one account holding its roles; every credential it presents —
//! a web session after password and TOTP, an API key, a token from the customer's identity
//! provider — resolves to that one account id, so separation of duties (an author never
//! approves their own version) holds whichever credential is used. Random secrets (session ids,
//! API keys, invitations, CSRF tokens) carry 256 bits and are stored as SHA-256, looked up by
//! that hash; passwords are stored as Argon2id. Every credential read joins its account, with
//! no cache, so a revoked session or key or a disabled account is refused at once on every
//! replica.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use hale_domain::event::{EventBody, ExpectedVersion, NewEvent, StreamRef};
use hale_domain::password::{PasswordPolicy, normalise_password};
use hale_domain::scope::Scopes;
use hale_domain::totp::{
    RecoveryCode, TotpError, TotpSecret, TotpStep, recovery_code_from_bytes, recovery_code_hash,
    recovery_code_matches, verify_totp,
};
use hale_domain::{
    AccountKind, Principal, PrincipalId, RequestContext, Role, SubjectId, TenantId, Timestamp,
};
use hale_store::{AccountRow, Append, StoreError};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::policy::{self, Platform};
use crate::{Core, CoreError, Target};

/// A secret that never shows itself in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }
    /// The secret itself; call only where it must leave the process (shown once to its owner).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The stored form of a random secret (API key, session id, invitation, CSRF token).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

const API_KEY_PREFIX: &str = "hale_";
const SESSION_PREFIX: &str = "hs_";
const INVITE_PREFIX: &str = "hi_";

/// The roles whose accounts must use a second factor to sign in.
pub const MFA_ROLES: [Role; 3] = [Role::PlatformAdmin, Role::TenantAdmin, Role::Reviewer];

/// Argon2id cost; OWASP's minimum (19 MiB, 2 passes, 1 lane) by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Settings {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// How accounts sign in; from the configuration.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    pub argon2: Argon2Settings,
    pub password_policy: PasswordPolicy,
    /// A session unused this long ends.
    pub session_idle: Duration,
    /// A session ends this long after sign-in, used or not.
    pub session_absolute: Duration,
    pub invite_ttl: Duration,
    /// Password hashes computed at once; more wait, so a sign-in flood cannot starve the API.
    pub hashing_slots: usize,
    /// Failed sign-ins (per account name and per client address) before back-off starts.
    pub free_attempts: u32,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            argon2: Argon2Settings::default(),
            password_policy: PasswordPolicy::default(),
            session_idle: Duration::from_secs(30 * 60),
            session_absolute: Duration::from_secs(12 * 60 * 60),
            invite_ttl: Duration::from_secs(7 * 24 * 60 * 60),
            hashing_slots: 2,
            free_attempts: 5,
        }
    }
}

/// What the core keeps for authentication: the hasher, its slots and the sign-in throttle.
pub(crate) struct Authenticator {
    settings: AuthSettings,
    hasher: argon2::Argon2<'static>,
    slots: Semaphore,
    /// Verified in place of a missing account's hash, so an unknown name costs what a wrong
    /// password costs.
    decoy_hash: String,
    throttle: Throttle,
}

impl Authenticator {
    pub(crate) fn new(settings: AuthSettings) -> Result<Self, CoreError> {
        let params = argon2::Params::new(
            settings.argon2.memory_kib,
            settings.argon2.iterations,
            settings.argon2.parallelism,
            None,
        )
        .map_err(|_| CoreError::internal("argon2 parameters out of range"))?;
        let hasher =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let decoy_hash = hasher
            .hash_password_with_salt(b"decoy password never accepted", &[0x5a; 16])
            .map_err(|_| CoreError::internal("argon2 decoy hash"))?
            .to_string();
        Ok(Self {
            slots: Semaphore::new(settings.hashing_slots.max(1)),
            throttle: Throttle::default(),
            settings,
            hasher,
            decoy_hash,
        })
    }

    async fn hash(&self, password: &Secret, salt: [u8; 16]) -> Result<String, CoreError> {
        let _slot = self.slots.acquire().await.map_err(|_| CoreError::Busy)?;
        let hasher = self.hasher.clone();
        let password = password.clone();
        tokio::task::spawn_blocking(move || {
            hasher
                .hash_password_with_salt(normalise_password(password.expose()).as_bytes(), &salt)
                .map(|hash| hash.to_string())
        })
        .await
        .map_err(|_| CoreError::internal("password hashing task"))?
        .map_err(|_| CoreError::internal("password hashing"))
    }

    /// Whether `password` matches `stored` (or, without one, the decoy: same work, never true).
    async fn verify(&self, password: &Secret, stored: Option<&str>) -> Result<bool, CoreError> {
        let _slot = self.slots.acquire().await.map_err(|_| CoreError::Busy)?;
        let hasher = self.hasher.clone();
        let password = password.clone();
        let real = stored.is_some();
        let hash = stored.unwrap_or(&self.decoy_hash).to_owned();
        let matched = tokio::task::spawn_blocking(move || {
            hasher
                .verify_password(
                    normalise_password(password.expose()).as_bytes(),
                    hash.as_str(),
                )
                .is_ok()
        })
        .await
        .map_err(|_| CoreError::internal("password verification task"))?;
        Ok(real && matched)
    }
}

/// Failed sign-ins by key (an account name, a client address), with growing back-off.
#[derive(Default)]
struct Throttle {
    failures: Mutex<HashMap<String, Failures>>,
}

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    last: Timestamp,
}

/// Keys tracked before expired ones are dropped; bounds memory under a flood of names.
const THROTTLE_KEYS: usize = 100_000;
/// Failures older than this are forgotten.
const THROTTLE_MEMORY: i64 = 15 * 60 * 1_000_000;
/// The longest back-off.
const MAX_BACKOFF_SECONDS: i64 = 15 * 60;

impl Throttle {
    /// Seconds until `key` may try again, if it must wait.
    fn wait(&self, key: &str, now: Timestamp, free: u32) -> Option<u64> {
        let failures = self.failures.lock().ok()?;
        let entry = failures.get(key)?;
        if now.as_micros() - entry.last.as_micros() > THROTTLE_MEMORY || entry.count < free {
            return None;
        }
        let backoff = 1i64 << (entry.count - free).min(10);
        let until = entry.last.as_micros() + backoff.min(MAX_BACKOFF_SECONDS) * 1_000_000;
        let left = until - now.as_micros();
        (left > 0).then(|| (left as u64).div_ceil(1_000_000))
    }

    fn fail(&self, key: String, now: Timestamp) {
        if let Ok(mut failures) = self.failures.lock() {
            if failures.len() >= THROTTLE_KEYS {
                failures
                    .retain(|_, entry| now.as_micros() - entry.last.as_micros() <= THROTTLE_MEMORY);
            }
            if failures.len() >= THROTTLE_KEYS {
                // Still full of live keys: a flood. Forget the oldest half rather than grow.
                let mut ages: Vec<i64> = failures.values().map(|f| f.last.as_micros()).collect();
                ages.sort_unstable();
                let cut = ages[ages.len() / 2];
                failures.retain(|_, entry| entry.last.as_micros() > cut);
            }
            let entry = failures.entry(key).or_insert(Failures {
                count: 0,
                last: now,
            });
            let stale = now.as_micros() - entry.last.as_micros() > THROTTLE_MEMORY;
            entry.count = if stale { 1 } else { entry.count + 1 };
            entry.last = now;
        }
    }

    fn clear(&self, key: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(key);
        }
    }
}

/// A credential presented with a request.
#[derive(Clone, Copy, Debug)]
pub enum Credential<'a> {
    /// An API key (`Authorization: Bearer hale_…`).
    ApiKey(&'a str),
    /// A web session cookie. `csrf` is the anti-forgery token the request carried; a
    /// state-changing request is refused without the session's own.
    Session {
        token: &'a str,
        csrf: Option<&'a str>,
        state_changing: bool,
    },
}

/// An identity an OpenID provider vouched for, already mapped by the configuration.
#[derive(Clone, Debug)]
pub struct ExternalIdentity {
    /// A person, or a client acting for itself.
    pub kind: AccountKind,
    pub issuer: String,
    pub subject: String,
    pub tenant: TenantId,
    /// The roles the configured claim mapping gives.
    pub roles: Vec<Role>,
    pub scopes: Scopes,
    pub issued_at: Option<Timestamp>,
    pub display_name: String,
    /// The provider showed (or is configured to vouch for) a second factor.
    pub mfa: bool,
    /// A patient's identifier from the claims, when the mapping names where it is.
    pub patient_identifier: Option<hale_domain::event::Identifier>,
}

/// A new account.
#[derive(Clone, Debug)]
pub struct NewAccount {
    /// `None` for a platform administrator.
    pub tenant: Option<TenantId>,
    pub kind: AccountKind,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<Role>,
    /// The patient's own subject, for patient accounts.
    pub subject: Option<SubjectId>,
    /// Without one, a person's account gets a one-time invitation to set it.
    pub password: Option<Secret>,
}

/// An account just created; `invite` is shown once.
#[derive(Debug)]
pub struct CreatedAccount {
    pub account_id: PrincipalId,
    pub invite: Option<Secret>,
}

/// A request to sign in with a password and, where enrolled, a second factor.
#[derive(Clone, Debug)]
pub struct SignIn {
    /// Tenant slug or id; `None` for platform accounts.
    pub tenant: Option<String>,
    pub username: String,
    pub password: Secret,
    pub totp: Option<String>,
    pub recovery_code: Option<String>,
    /// The client's address as the edge sees it, for throttling.
    pub client: String,
}

/// A web session just begun; both secrets are shown once.
#[derive(Debug)]
pub struct NewSession {
    pub account_id: PrincipalId,
    pub token: Secret,
    pub csrf: Secret,
    pub expires_at: Timestamp,
    /// The account must enrol a second factor before its roles apply.
    pub mfa_enrolment_required: bool,
}

/// A TOTP secret offered for enrolment, confirmed with a code from it.
#[derive(Debug)]
pub struct MfaOffer {
    pub secret: Secret,
    pub otpauth_uri: Secret,
}

/// A request for an API key.
#[derive(Clone, Debug)]
pub struct NewApiKey {
    /// Whose key; `None` for the caller's own.
    pub account: Option<PrincipalId>,
    pub label: String,
    /// SMART scopes; `None` leaves the account's roles unnarrowed.
    pub scopes: Option<String>,
    pub expires_at: Option<Timestamp>,
}

/// An API key just created: shown once, stored only as a hash.
#[derive(Debug)]
pub struct IssuedKey {
    pub key_id: String,
    pub account_id: PrincipalId,
    pub key: Secret,
}

/// An account as listed to administrators: no secret, no hash.
#[derive(Clone, Debug)]
pub struct AccountSummary {
    pub id: PrincipalId,
    pub kind: AccountKind,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<Role>,
    pub subject: Option<SubjectId>,
    pub disabled: bool,
    pub mfa_enrolled: bool,
    pub password_set: bool,
}

/// Second-factor coverage of one role that needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MfaCoverage {
    pub role: Role,
    /// Enabled people holding the role.
    pub accounts: usize,
    /// Of those, the ones with TOTP enrolled.
    pub enrolled: usize,
    /// Of the others, those who sign in through a provider (whose second factor shows in
    /// `amr` at each sign-in, or is vouched for by configuration).
    pub through_provider: usize,
}

/// An API key as listed: no secret, no hash.
#[derive(Clone, Debug)]
pub struct ApiKeySummary {
    pub id: String,
    pub label: String,
    pub scopes: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked: bool,
    pub last_used_at: Option<Timestamp>,
}

/// A request to create an account with one API key in one step (the old `token issue`).
#[derive(Clone, Debug)]
pub struct IssueToken {
    /// `None` only for platform administrators.
    pub tenant: Option<TenantId>,
    pub roles: Vec<Role>,
    /// The patient's own subject, for patient accounts.
    pub subject: Option<SubjectId>,
    pub label: String,
}

/// A freshly issued account key: shown once, stored only as a hash.
#[derive(Debug)]
pub struct IssuedToken {
    pub principal_id: PrincipalId,
    pub token: Secret,
}

/// Touches of a credential's last-used time closer together than this are skipped.
const TOUCH_INTERVAL: i64 = 60 * 1_000_000;
/// How long a sign-in begun at a provider may take to come back.
const PENDING_LOGIN_TTL: Duration = Duration::from_secs(600);

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

fn roles_of(row: &AccountRow) -> Vec<Role> {
    row.roles
        .iter()
        .filter_map(|role| role.parse().ok())
        .collect()
}

/// Whether an account is the platform's rather than a tenant's.
fn platform_level(tenant: Option<TenantId>, roles: &[Role]) -> bool {
    tenant.is_none() || roles.contains(&Role::PlatformAdmin)
}

/// Roles from a provider, without platform-admin (which no claim grants), each once.
fn provider_roles(roles: impl IntoIterator<Item = Role>) -> Vec<Role> {
    let mut kept: Vec<Role> = Vec::new();
    for role in roles {
        if role != Role::PlatformAdmin && !kept.contains(&role) {
            kept.push(role);
        }
    }
    kept
}

fn requires_mfa(roles: &[Role]) -> bool {
    roles.iter().any(|role| MFA_ROLES.contains(role))
}

/// A username: 1–64 of `a-z 0-9 . _ @ -`, compared in lower case.
fn normalise_username(username: &str) -> Result<String, CoreError> {
    let lower = username.trim().to_ascii_lowercase();
    let valid = (1..=64).contains(&lower.len())
        && lower
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'@' | b'-'));
    if valid {
        Ok(lower)
    } else {
        Err(CoreError::invalid(
            "username",
            "invalid_username",
            "a username has 1 to 64 of a-z, 0-9, '.', '_', '@' and '-'",
        ))
    }
}

fn plain_text(field: &str, value: &str, max: usize) -> Result<(), CoreError> {
    if value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(CoreError::invalid(
            field,
            "invalid_text",
            "too long, or contains control characters",
        ));
    }
    Ok(())
}

fn sign_in_failed() -> CoreError {
    CoreError::Unauthenticated
}

impl Core {
    /// 256 random bits, URL-safe, for the edge's own one-time secrets.
    pub fn random_secret(&self) -> Secret {
        self.random_token("")
    }

    fn random_token(&self, prefix: &str) -> Secret {
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(self.inner.randomness.secret_bytes());
        Secret::new(format!("{prefix}{encoded}"))
    }

    fn salt(&self) -> [u8; 16] {
        let bytes = self.inner.randomness.secret_bytes();
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&bytes[..16]);
        salt
    }

    fn principal_of(&self, row: &AccountRow, scopes: Scopes) -> Principal {
        Principal {
            id: row.id,
            tenant: row.tenant_id,
            roles: roles_of(row),
            subject: row.subject_id,
            kind: AccountKind::parse(&row.kind).unwrap_or(AccountKind::User),
            scopes,
        }
    }

    async fn touch(&self, hash: &str, last_used: Option<Timestamp>, now: Timestamp) {
        let due = last_used.is_none_or(|last| now.as_micros() - last.as_micros() >= TOUCH_INTERVAL);
        if due && let Err(error) = self.store().touch_credential(hash, now).await {
            // The request goes on: last-used is informational; idle expiry errs long by one
            // interval at most.
            tracing::warn!(error = %error, "recording a credential's use failed");
        }
    }

    /// Finds the principal behind a credential. Every failure is the same `Unauthenticated`.
    pub async fn authenticate(&self, credential: Credential<'_>) -> Result<Principal, CoreError> {
        let now = self.now();
        match credential {
            Credential::ApiKey(key) => {
                if !key.starts_with(API_KEY_PREFIX) || key.len() > 128 {
                    return Err(CoreError::Unauthenticated);
                }
                let hash = token_hash(key);
                let (key_row, account) = self
                    .store()
                    .api_key_by_hash(&hash)
                    .await?
                    .ok_or(CoreError::Unauthenticated)?;
                let expired = key_row.expires_at.is_some_and(|at| at <= now);
                if account.disabled || key_row.revoked_at.is_some() || expired {
                    return Err(CoreError::Unauthenticated);
                }
                let scopes = if key_row.scopes.is_empty() {
                    Scopes::unrestricted()
                } else {
                    Scopes::parse(&key_row.scopes)
                        .map_err(|_| CoreError::internal("stored key scopes do not parse"))?
                };
                self.touch(&hash, key_row.last_used_at, now).await;
                Ok(self.principal_of(&account, scopes))
            }
            Credential::Session {
                token,
                csrf,
                state_changing,
            } => {
                if !token.starts_with(SESSION_PREFIX) || token.len() > 128 {
                    return Err(CoreError::Unauthenticated);
                }
                let hash = token_hash(token);
                let (session, account) = self
                    .store()
                    .session_by_hash(&hash)
                    .await?
                    .ok_or(CoreError::Unauthenticated)?;
                let settings = &self.inner.auth.settings;
                let last_active = session.last_used_at.unwrap_or(session.created_at);
                let idle =
                    now.as_micros() - last_active.as_micros() > micros(settings.session_idle);
                if account.disabled || session.expires_at <= now || idle {
                    return Err(CoreError::Unauthenticated);
                }
                if state_changing {
                    let presented = csrf.map(token_hash).unwrap_or_default();
                    let same: bool = presented
                        .as_bytes()
                        .ct_eq(session.csrf_hash.as_bytes())
                        .into();
                    if !same {
                        return Err(CoreError::CsrfRejected);
                    }
                }
                self.touch(&hash, session.last_used_at, now).await;
                let mut principal = self.principal_of(&account, Scopes::unrestricted());
                if let Some(roles) = &session.roles {
                    principal.roles = provider_roles(roles.iter().filter_map(|r| r.parse().ok()));
                }
                if !session.mfa && requires_mfa(&principal.roles) {
                    // Signed in with a password alone: until a second factor is enrolled,
                    // the session may enrol one and sign out, nothing else.
                    principal.roles.clear();
                }
                Ok(principal)
            }
        }
    }

    /// The principal for a token an OpenID provider issued. The identity is linked to one
    /// account on first sight (created then), so it has one id across requests and can be
    /// disabled in Hale; its roles are the ones the provider's claims map to now.
    pub async fn authenticate_external(
        &self,
        identity: ExternalIdentity,
    ) -> Result<Principal, CoreError> {
        let account = self.linked_account(&identity).await?;
        if let (Some(signed_out), Some(issued)) = (account.signed_out_at, identity.issued_at)
            && issued <= signed_out
        {
            return Err(CoreError::Unauthenticated);
        }
        let mut principal = self.principal_of(&account, identity.scopes);
        principal.roles = provider_roles(identity.roles);
        if !identity.mfa && requires_mfa(&principal.roles) {
            // As with a password alone: the roles that need a second factor need proof of one.
            principal.roles.clear();
        }
        Ok(principal)
    }

    /// The principal for a client certificate that the TLS layer verified against the
    /// customer's client CA and that the configuration binds to the integration account
    /// `username` of `tenant`. The account is read on every request, so disabling it takes
    /// effect at once; one that is missing, disabled or not an integration is refused.
    pub async fn authenticate_certificate(
        &self,
        tenant: TenantId,
        username: &str,
        scopes: Scopes,
    ) -> Result<Principal, CoreError> {
        let account = self
            .store()
            .account_by_username(Some(tenant), username)
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        let integration = AccountKind::parse(&account.kind) == Some(AccountKind::Integration);
        if account.disabled || !integration {
            return Err(CoreError::Unauthenticated);
        }
        Ok(self.principal_of(&account, scopes))
    }

    /// The account linked to a provider's identity, linked (and created) on first sight;
    /// refused when disabled or when the provider now maps it to another tenant.
    async fn linked_account(&self, identity: &ExternalIdentity) -> Result<AccountRow, CoreError> {
        let account = match self
            .store()
            .account_by_link(&identity.issuer, &identity.subject)
            .await?
        {
            Some(account) => account,
            None => self.link_external(identity).await?,
        };
        if account.disabled || account.tenant_id != Some(identity.tenant) {
            return Err(CoreError::Unauthenticated);
        }
        Ok(account)
    }

    /// Begins a web session for someone a provider signed in (authorization code, PKCE,
    /// nonce and state checked by the edge). The session holds the roles the provider's
    /// claims map to now; those that need a second factor apply only when the provider
    /// showed one.
    pub async fn sign_in_external(
        &self,
        context: &RequestContext,
        identity: ExternalIdentity,
    ) -> Result<NewSession, CoreError> {
        let target = Target {
            tenant: Some(identity.tenant),
            kind: "session",
            id: None,
        };
        self.audited::<policy::Anyone, _>(context, "session.create", target, async {
            let account = self.linked_account(&identity).await?;
            let mut roles = provider_roles(identity.roles.iter().copied());
            if !identity.mfa {
                roles.retain(|role| !MFA_ROLES.contains(role));
            }
            self.append_session(&account, identity.mfa, "oidc", Some(roles), None, None)
                .await
        })
        .await
    }

    /// Keeps what a provider sign-in needs at its callback (an opaque payload), under the
    /// hashes of its `state` and of the binding secret the browser holds in a cookie.
    pub async fn keep_pending_login(
        &self,
        state: &str,
        binding: &str,
        payload: &str,
    ) -> Result<(), CoreError> {
        let now = self.now();
        let expires_at = Timestamp::from_micros(now.as_micros() + micros(PENDING_LOGIN_TTL));
        self.store()
            .put_pending_login(
                &token_hash(state),
                &token_hash(binding),
                payload,
                expires_at,
                now,
            )
            .await?;
        Ok(())
    }

    /// Takes a pending provider sign-in once. `None` when there is none for this `state`, it
    /// lapsed, or the browser's binding secret is not the one it began with (a callback
    /// forged into another browser).
    pub async fn take_pending_login(
        &self,
        state: &str,
        binding: &str,
    ) -> Result<Option<String>, CoreError> {
        let taken = self
            .store()
            .take_pending_login(&token_hash(state), self.now())
            .await?;
        Ok(taken.and_then(|(payload, binding_hash)| {
            let same: bool = token_hash(binding)
                .as_bytes()
                .ct_eq(binding_hash.as_bytes())
                .into();
            same.then_some(payload)
        }))
    }

    /// The subject a provider's patient acts for: the one registered with the identifier their
    /// claims carry, when the mapping names it and such a subject exists. Read when the account
    /// is linked, so the link holds even if the claim later changes.
    async fn patient_subject(
        &self,
        identity: &ExternalIdentity,
    ) -> Result<Option<hale_domain::SubjectId>, CoreError> {
        let Some(identifier) = &identity.patient_identifier else {
            return Ok(None);
        };
        let key = hale_domain::subject::identifier_key(identity.tenant, identifier);
        Ok(self
            .store()
            .subject_by_identifier_key(identity.tenant, &key)
            .await?)
    }

    async fn link_external(&self, identity: &ExternalIdentity) -> Result<AccountRow, CoreError> {
        let account_id = PrincipalId::from_uuid(self.new_uuid());
        // The whole id: a UUIDv7's leading digits are its millisecond, shared by accounts
        // linked together.
        let username = format!("ext-{}", account_id.to_string().replace('-', ""));
        let display_name: String = identity.display_name.chars().take(200).collect();
        let display_name = if display_name.chars().any(char::is_control) {
            username.clone()
        } else {
            display_name
        };
        let subject_id = self.patient_subject(identity).await?;
        let appended = self
            .store()
            .append(Append {
                tenant: identity.tenant,
                actor: "system".into(),
                recorded_at: self.now(),
                events: vec![
                    NewEvent {
                        stream: StreamRef::principal(account_id),
                        expected: ExpectedVersion::NoStream,
                        body: EventBody::AccountCreated {
                            account_id,
                            tenant_id: Some(identity.tenant),
                            kind: identity.kind.as_str().into(),
                            username,
                            display_name,
                            roles: Vec::new(),
                            subject_id,
                            password_hash: None,
                        },
                    },
                    NewEvent {
                        stream: StreamRef::principal(account_id),
                        expected: ExpectedVersion::Exact(1),
                        body: EventBody::AccountLinked {
                            account_id,
                            issuer: identity.issuer.clone(),
                            external_subject: identity.subject.clone(),
                        },
                    },
                ],
                idempotency: None,
                preconditions: Vec::new(),
            })
            .await;
        match appended {
            Ok(_) => {}
            // Two first requests at once: the other one linked it.
            Err(StoreError::Conflict(_)) => {}
            Err(error) => return Err(error.into()),
        }
        self.store()
            .account_by_link(&identity.issuer, &identity.subject)
            .await?
            .ok_or_else(|| CoreError::internal("a linked account is missing"))
    }

    /// Creates the first platform administrator when no account exists yet, returning the
    /// one-time invitation that sets its password; `None` afterwards.
    pub async fn bootstrap_admin(&self) -> Result<Option<Secret>, CoreError> {
        if self.store().has_accounts().await? {
            return Ok(None);
        }
        let created = self
            .write_account(
                "system",
                NewAccount {
                    tenant: None,
                    kind: AccountKind::User,
                    username: "admin".into(),
                    display_name: "Platform administrator".into(),
                    roles: vec![Role::PlatformAdmin],
                    subject: None,
                    password: None,
                },
                None,
                true,
            )
            .await?;
        Ok(created.invite)
    }

    /// Creates an account. Platform administrators create any; tenant administrators create
    /// accounts in their own tenant below platform level.
    pub async fn create_account(
        &self,
        context: &RequestContext,
        request: NewAccount,
    ) -> Result<CreatedAccount, CoreError> {
        let target = Target {
            tenant: request.tenant,
            kind: "account",
            id: None,
        };
        let platform = platform_level(request.tenant, &request.roles);
        let work = self.checked_account(context, request);
        self.audited_account(context, "account.create", target, platform, work)
            .await
    }

    /// Runs an account's creation under the policy it needs: an account outside any tenant,
    /// or one that would hold platform-admin, is the platform administrators' to make.
    async fn audited_account<T>(
        &self,
        context: &RequestContext,
        action: &'static str,
        target: Target<'_>,
        platform: bool,
        work: impl Future<Output = Result<T, CoreError>>,
    ) -> Result<T, CoreError> {
        if platform {
            self.audited::<Platform<policy::ManageAccounts>, _>(context, action, target, work)
                .await
        } else {
            self.audited::<policy::ManageAccounts, _>(context, action, target, work)
                .await
        }
    }

    async fn checked_account(
        &self,
        context: &RequestContext,
        request: NewAccount,
    ) -> Result<CreatedAccount, CoreError> {
        self.check_new_account(context, &request).await?;
        if request.kind == AccountKind::Integration && request.password.is_some() {
            return Err(CoreError::invalid(
                "password",
                "integration_password",
                "an integration signs in with API keys, not a password",
            ));
        }
        self.write_account(&context.actor(), request, None, true)
            .await
    }

    /// What every new account must satisfy, however it is created: a tenant the caller
    /// belongs to, at least one role, a subject exactly when it is a patient's, and that
    /// subject existing in the tenant.
    async fn check_new_account(
        &self,
        context: &RequestContext,
        request: &NewAccount,
    ) -> Result<(), CoreError> {
        if let Some(tenant) = request.tenant
            && !context.principal.belongs_to(tenant)
        {
            return Err(CoreError::NotFound);
        }
        if request.roles.is_empty() {
            return Err(CoreError::invalid(
                "roles",
                "required",
                "at least one role is required",
            ));
        }
        if request.roles.contains(&Role::Patient) != request.subject.is_some() {
            return Err(CoreError::invalid(
                "subject",
                "patient_subject",
                "a patient account needs its subject, and only a patient account has one",
            ));
        }
        if let (Some(tenant), Some(subject)) = (request.tenant, request.subject) {
            self.store()
                .subject(tenant, subject)
                .await?
                .ok_or(CoreError::NotFound)?;
        }
        Ok(())
    }

    /// Appends a new account, with an invitation when `invite` and it has no password, and
    /// its first API key for [`Core::issue_token`].
    async fn write_account(
        &self,
        actor: &str,
        request: NewAccount,
        key: Option<(String, String)>,
        invite: bool,
    ) -> Result<CreatedAccount, CoreError> {
        let username = normalise_username(&request.username)?;
        plain_text("display_name", &request.display_name, 200)?;
        let password_hash = match &request.password {
            Some(password) => {
                self.inner
                    .auth
                    .settings
                    .password_policy
                    .check(password.expose(), &[&username, &request.display_name])
                    .map_err(|problem| {
                        CoreError::invalid("password", "weak_password", &problem.to_string())
                    })?;
                Some(self.inner.auth.hash(password, self.salt()).await?)
            }
            None => None,
        };
        if self
            .store()
            .account_by_username(request.tenant, &username)
            .await?
            .is_some()
        {
            return Err(CoreError::UsernameTaken);
        }
        let account_id = PrincipalId::from_uuid(self.new_uuid());
        let stream = StreamRef::principal(account_id);
        let mut events = vec![NewEvent {
            stream: stream.clone(),
            expected: ExpectedVersion::NoStream,
            body: EventBody::AccountCreated {
                account_id,
                tenant_id: request.tenant,
                kind: request.kind.as_str().into(),
                username,
                display_name: request.display_name,
                roles: request
                    .roles
                    .iter()
                    .map(|role| role.as_str().to_owned())
                    .collect(),
                subject_id: request.subject,
                password_hash: password_hash.clone(),
            },
        }];
        let invite = (invite && password_hash.is_none() && request.kind == AccountKind::User)
            .then(|| self.random_token(INVITE_PREFIX));
        if let Some(invite) = &invite {
            events.push(NewEvent {
                stream: stream.clone(),
                expected: ExpectedVersion::Exact(1),
                body: EventBody::AccountInvited {
                    account_id,
                    invite_hash: token_hash(invite.expose()),
                    expires_at: Timestamp::from_micros(
                        self.now().as_micros() + micros(self.inner.auth.settings.invite_ttl),
                    ),
                },
            });
        }
        if let Some((key_hash, label)) = key {
            events.push(NewEvent {
                stream: stream.clone(),
                expected: ExpectedVersion::Exact(events.len() as i64),
                body: EventBody::ApiKeyCreated {
                    account_id,
                    key_id: self.new_uuid().to_string(),
                    key_hash,
                    label,
                    scopes: String::new(),
                    expires_at: None,
                },
            });
        }
        self.store()
            .append(Append {
                tenant: request.tenant.unwrap_or(TenantId::PLATFORM),
                actor: actor.to_owned(),
                recorded_at: self.now(),
                events,
                idempotency: None,
                preconditions: Vec::new(),
            })
            .await
            .map_err(|error| match error {
                StoreError::Conflict(_) => CoreError::UsernameTaken,
                other => other.into(),
            })?;
        Ok(CreatedAccount { account_id, invite })
    }

    /// Creates an account holding `roles` with one API key, in one step.
    pub async fn issue_token(
        &self,
        context: &RequestContext,
        request: IssueToken,
    ) -> Result<IssuedToken, CoreError> {
        plain_text("label", &request.label, 200)?;
        let key = self.random_token(API_KEY_PREFIX);
        let kind = if request.roles == [Role::Integration] {
            AccountKind::Integration
        } else {
            AccountKind::User
        };
        // The whole id: a UUIDv7's leading digits are its millisecond, shared by keys issued
        // together.
        let id_hint = self.new_uuid().simple().to_string();
        let account = NewAccount {
            tenant: request.tenant,
            kind,
            username: format!("key-{id_hint}"),
            display_name: request.label.clone(),
            roles: request.roles,
            subject: request.subject,
            password: None,
        };
        let target = Target {
            tenant: account.tenant,
            kind: "account",
            id: None,
        };
        let key_row = Some((token_hash(key.expose()), request.label));
        let platform = platform_level(account.tenant, &account.roles);
        let work = async {
            self.check_new_account(context, &account).await?;
            // A key holder signs in with the key: no invitation.
            let created = self
                .write_account(&context.actor(), account, key_row, false)
                .await?;
            Ok(IssuedToken {
                principal_id: created.account_id,
                token: key.clone(),
            })
        };
        self.audited_account(context, "token.issue", target, platform, work)
            .await
    }

    /// For each role that needs a second factor: how many enabled people hold it, how many of
    /// them have TOTP enrolled, and how many sign in through a provider instead.
    pub async fn mfa_coverage(
        &self,
        context: &RequestContext,
    ) -> Result<Vec<MfaCoverage>, CoreError> {
        let target = Target {
            tenant: None,
            kind: "posture",
            id: None,
        };
        self.audited::<policy::ReadPosture, _>(context, "posture.read", target, async {
            let factors = self.store().account_factors().await?;
            Ok(MFA_ROLES
                .iter()
                .map(|role| {
                    let holders = factors
                        .iter()
                        .filter(|account| account.roles.iter().any(|name| name == role.as_str()));
                    let mut coverage = MfaCoverage {
                        role: *role,
                        accounts: 0,
                        enrolled: 0,
                        through_provider: 0,
                    };
                    for account in holders {
                        coverage.accounts += 1;
                        coverage.enrolled += usize::from(account.totp);
                        coverage.through_provider += usize::from(account.linked && !account.totp);
                    }
                    coverage
                })
                .collect())
        })
        .await
    }

    /// The accounts of a tenant, for its administrators.
    pub async fn list_accounts(
        &self,
        context: &RequestContext,
        tenant: TenantId,
    ) -> Result<Vec<AccountSummary>, CoreError> {
        let target = Target {
            tenant: Some(tenant),
            kind: "account",
            id: None,
        };
        self.audited::<policy::ManageAccounts, _>(context, "account.list", target, async {
            if !context.principal.belongs_to(tenant) {
                return Err(CoreError::NotFound);
            }
            Ok(self
                .store()
                .accounts(Some(tenant))
                .await?
                .iter()
                .map(|row| AccountSummary {
                    id: row.id,
                    kind: AccountKind::parse(&row.kind).unwrap_or(AccountKind::User),
                    username: row.username.clone(),
                    display_name: row.display_name.clone(),
                    roles: roles_of(row),
                    subject: row.subject_id,
                    disabled: row.disabled,
                    mfa_enrolled: row.totp_secret.is_some(),
                    password_set: row.password_hash.is_some(),
                })
                .collect())
        })
        .await
    }

    /// Reads an account the caller administers (its tenant's administrators, or a platform
    /// administrator); anything else is missing.
    async fn administered_account(
        &self,
        context: &RequestContext,
        account: PrincipalId,
    ) -> Result<AccountRow, CoreError> {
        let row = self
            .store()
            .account(account)
            .await?
            .ok_or(CoreError::NotFound)?;
        let principal = &context.principal;
        let platform = principal.has_role(Role::PlatformAdmin);
        let own_tenant = row.tenant_id.is_some() && row.tenant_id == principal.tenant;
        let below_platform = !roles_of(&row).contains(&Role::PlatformAdmin);
        if platform || (own_tenant && below_platform && principal.has_role(Role::TenantAdmin)) {
            Ok(row)
        } else {
            Err(CoreError::NotFound)
        }
    }

    /// Disables an account: its sessions end and its keys and provider tokens stop working at
    /// once.
    pub async fn disable_account(
        &self,
        context: &RequestContext,
        account: PrincipalId,
    ) -> Result<(), CoreError> {
        let id = account.to_string();
        let target = Target {
            tenant: context.principal.tenant,
            kind: "account",
            id: Some(&id),
        };
        self.audited::<policy::ManageAccounts, _>(context, "account.disable", target, async {
            let row = self.administered_account(context, account).await?;
            self.append_account_event(
                &context.actor(),
                &row,
                EventBody::AccountDisabled {
                    account_id: account,
                },
            )
            .await
        })
        .await
    }

    async fn append_account_event(
        &self,
        actor: &str,
        row: &AccountRow,
        body: EventBody,
    ) -> Result<(), CoreError> {
        self.store()
            .append(Append {
                tenant: row.tenant_id.unwrap_or(TenantId::PLATFORM),
                actor: actor.to_owned(),
                recorded_at: self.now(),
                events: vec![NewEvent {
                    stream: StreamRef::principal(row.id),
                    expected: ExpectedVersion::Exact(row.version),
                    body,
                }],
                idempotency: None,
                preconditions: Vec::new(),
            })
            .await
            .map_err(|error| match error {
                StoreError::Conflict(_) => CoreError::ConcurrentChange,
                other => other.into(),
            })?;
        Ok(())
    }

    /// Sets the password of an invited account, spending the invitation.
    pub async fn accept_invite(
        &self,
        context: &RequestContext,
        invite: &Secret,
        password: &Secret,
    ) -> Result<PrincipalId, CoreError> {
        let target = Target {
            tenant: None,
            kind: "account",
            id: None,
        };
        self.audited::<policy::Anyone, _>(context, "invite.accept", target, async {
            if !invite.expose().starts_with(INVITE_PREFIX) || invite.expose().len() > 128 {
                return Err(CoreError::Unauthenticated);
            }
            let (row, expires_at) = self
                .store()
                .invite(&token_hash(invite.expose()))
                .await?
                .ok_or(CoreError::Unauthenticated)?;
            if expires_at <= self.now() || row.disabled {
                return Err(CoreError::Unauthenticated);
            }
            self.inner
                .auth
                .settings
                .password_policy
                .check(password.expose(), &[&row.username, &row.display_name])
                .map_err(|problem| {
                    CoreError::invalid("password", "weak_password", &problem.to_string())
                })?;
            let password_hash = self.inner.auth.hash(password, self.salt()).await?;
            self.append_account_event(
                "system",
                &row,
                EventBody::PasswordSet {
                    account_id: row.id,
                    password_hash,
                },
            )
            .await?;
            Ok(row.id)
        })
        .await
    }

    /// Signs in with a password and, when the account has one enrolled, a TOTP code or a
    /// recovery code. An unknown account, a wrong password and a wrong code all get the same
    /// `Unauthenticated` after the same password-hashing work; repeated failures for one
    /// account name or one client address wait longer each time.
    pub async fn sign_in(
        &self,
        context: &RequestContext,
        request: SignIn,
    ) -> Result<NewSession, CoreError> {
        let target = Target {
            tenant: None,
            kind: "session",
            id: None,
        };
        self.audited::<policy::Anyone, _>(
            context,
            "session.create",
            target,
            self.checked_sign_in(request),
        )
        .await
    }

    async fn checked_sign_in(&self, request: SignIn) -> Result<NewSession, CoreError> {
        let now = self.now();
        let auth = &self.inner.auth;
        let free = auth.settings.free_attempts;
        let username = request.username.trim().to_ascii_lowercase();
        let account_key = format!(
            "account:{}:{}",
            request.tenant.as_deref().unwrap_or(""),
            username
        );
        let address_key = format!("address:{}", request.client);
        let wait = [&account_key, &address_key]
            .iter()
            .filter_map(|key| auth.throttle.wait(key, now, free))
            .max();
        if let Some(retry_after) = wait {
            return Err(CoreError::TooManyAttempts { retry_after });
        }
        let failed = || {
            auth.throttle.fail(account_key.clone(), now);
            auth.throttle.fail(address_key.clone(), now);
            sign_in_failed()
        };
        let tenant = match request.tenant.as_deref() {
            None => Some(None),
            Some(reference) => self.tenant_named(reference).await?.map(Some),
        };
        let row = match (tenant, normalise_username(&username)) {
            (Some(tenant), Ok(name)) => self.store().account_by_username(tenant, &name).await?,
            _ => None,
        };
        let usable = row
            .as_ref()
            .filter(|row| !row.disabled && row.kind == AccountKind::User.as_str());
        let stored = usable.and_then(|row| row.password_hash.as_deref());
        let password_ok = auth.verify(&request.password, stored).await?;
        let Some(row) = usable.filter(|_| password_ok) else {
            return Err(failed());
        };
        let mut totp_step = None;
        let mut recovery_code = None;
        let mfa = match &row.totp_secret {
            None => false,
            Some(secret) => {
                let secret = TotpSecret::from_base32(secret)
                    .map_err(|_| CoreError::internal("a stored TOTP secret does not decode"))?;
                if let Some(code) = &request.totp {
                    let last = row.totp_last_step.map(TotpStep);
                    match verify_totp(&secret, code, now, last) {
                        Ok(step) => totp_step = Some(step.0),
                        Err(TotpError::Malformed | TotpError::Wrong | TotpError::Replayed) => {
                            return Err(failed());
                        }
                    }
                } else if let Some(code) = &request.recovery_code {
                    let unused = self.store().unused_recovery_codes(row.id).await?;
                    // Every stored hash is compared, so timing does not tell which matched.
                    let matched = unused.iter().fold(None, |found, hash| {
                        if recovery_code_matches(code, hash) {
                            Some(hash.clone())
                        } else {
                            found
                        }
                    });
                    match matched {
                        Some(hash) => recovery_code = Some(hash),
                        None => return Err(failed()),
                    }
                } else {
                    return Err(CoreError::MfaRequired);
                }
                true
            }
        };
        let spent = self
            .append_session(row, mfa, "password", None, totp_step, recovery_code)
            .await;
        let session = match spent {
            Ok(session) => session,
            // Another sign-in to this account landed between read and write: the code it
            // spent may be this one, so this attempt fails like a wrong code.
            Err(CoreError::ConcurrentChange) => return Err(failed()),
            Err(error) => return Err(error),
        };
        auth.throttle.clear(&account_key);
        auth.throttle.clear(&address_key);
        Ok(session)
    }

    /// Records a new session of `row` (ordered after the account's last event, so two
    /// sign-ins spending one code cannot both land) and answers its secrets.
    async fn append_session(
        &self,
        row: &AccountRow,
        mfa: bool,
        method: &str,
        session_roles: Option<Vec<Role>>,
        totp_step: Option<i64>,
        recovery_code: Option<String>,
    ) -> Result<NewSession, CoreError> {
        let now = self.now();
        let roles = session_roles.clone().unwrap_or_else(|| roles_of(row));
        let token = self.random_token(SESSION_PREFIX);
        let csrf = self.random_token("");
        let expires_at = Timestamp::from_micros(
            now.as_micros() + micros(self.inner.auth.settings.session_absolute),
        );
        self.append_account_event(
            &row.id.to_string(),
            row,
            EventBody::SignedIn {
                account_id: row.id,
                session_hash: token_hash(token.expose()),
                csrf_hash: token_hash(csrf.expose()),
                expires_at,
                mfa,
                method: method.into(),
                totp_step,
                recovery_code_hash: recovery_code,
                roles: session_roles
                    .map(|roles| roles.iter().map(|role| role.as_str().to_owned()).collect()),
            },
        )
        .await?;
        Ok(NewSession {
            account_id: row.id,
            token,
            csrf,
            expires_at,
            mfa_enrolment_required: !mfa && requires_mfa(&roles),
        })
    }

    async fn tenant_named(&self, reference: &str) -> Result<Option<TenantId>, CoreError> {
        let row = match reference.parse::<TenantId>() {
            Ok(id) => self.store().tenant(id).await?,
            Err(_) => self.store().tenant_by_slug(reference).await?,
        };
        Ok(row.map(|row| row.id))
    }

    /// Offers a fresh TOTP secret to the caller's own account; nothing is stored until a code
    /// from it confirms the enrolment.
    pub async fn offer_mfa(&self, context: &RequestContext) -> Result<MfaOffer, CoreError> {
        let target = Target {
            tenant: context.principal.tenant,
            kind: "account",
            id: None,
        };
        self.audited::<policy::Anyone, _>(context, "mfa.offer", target, async {
            let row = self.own_person(context).await?;
            let mut bytes = [0u8; 20];
            bytes.copy_from_slice(&self.inner.randomness.secret_bytes()[..20]);
            let secret = TotpSecret::from_bytes(bytes);
            Ok(MfaOffer {
                secret: Secret::new(secret.to_base32()),
                otpauth_uri: Secret::new(secret.otpauth_uri("Hale", &row.username)),
            })
        })
        .await
    }

    async fn own_person(&self, context: &RequestContext) -> Result<AccountRow, CoreError> {
        let row = self
            .store()
            .account(context.principal.id)
            .await?
            .ok_or(CoreError::Unauthenticated)?;
        if row.kind != AccountKind::User.as_str() {
            return Err(CoreError::Forbidden);
        }
        Ok(row)
    }

    /// Enrols the caller's own TOTP secret, proven by a current code from it, and returns ten
    /// one-time recovery codes (shown once). An account already enrolled keeps its secret.
    pub async fn confirm_mfa(
        &self,
        context: &RequestContext,
        secret: &Secret,
        code: &str,
    ) -> Result<Vec<RecoveryCode>, CoreError> {
        let target = Target {
            tenant: context.principal.tenant,
            kind: "account",
            id: None,
        };
        self.audited::<policy::Anyone, _>(context, "mfa.confirm", target, async {
            let row = self.own_person(context).await?;
            if row.totp_secret.is_some() {
                return Err(CoreError::Conflict("a second factor is already enrolled"));
            }
            let parsed = TotpSecret::from_base32(secret.expose()).map_err(|_| {
                CoreError::invalid("secret", "invalid_secret", "not a TOTP secret Hale offered")
            })?;
            let step = verify_totp(&parsed, code, self.now(), None).map_err(|_| {
                CoreError::invalid("code", "wrong_code", "the code does not match the secret")
            })?;
            self.enrol(&context.actor(), &row, &parsed, step).await
        })
        .await
    }

    /// Enrols a TOTP secret for an account as the local operator (break-glass and the demo).
    pub async fn enrol_mfa_as_operator(
        &self,
        context: &RequestContext,
        account: PrincipalId,
        secret: &TotpSecret,
    ) -> Result<Vec<RecoveryCode>, CoreError> {
        let id = account.to_string();
        let target = Target {
            tenant: None,
            kind: "account",
            id: Some(&id),
        };
        self.audited::<Platform<policy::ManageAccounts>, _>(context, "mfa.enrol", target, async {
            let row = self
                .store()
                .account(account)
                .await?
                .ok_or(CoreError::NotFound)?;
            let step = TotpStep(self.now().as_micros() / 30_000_000 - 2);
            self.enrol(&context.actor(), &row, secret, step).await
        })
        .await
    }

    async fn enrol(
        &self,
        actor: &str,
        row: &AccountRow,
        secret: &TotpSecret,
        step: TotpStep,
    ) -> Result<Vec<RecoveryCode>, CoreError> {
        let codes: Vec<RecoveryCode> = (0..10)
            .map(|_| {
                let mut bytes = [0u8; 10];
                bytes.copy_from_slice(&self.inner.randomness.secret_bytes()[..10]);
                recovery_code_from_bytes(bytes)
            })
            .collect();
        let hashes = codes
            .iter()
            .map(|code| recovery_code_hash(code.expose()))
            .collect();
        self.append_account_event(
            actor,
            row,
            EventBody::MfaEnrolled {
                account_id: row.id,
                totp_secret: secret.to_base32(),
                totp_step: step.0,
                recovery_code_hashes: hashes,
            },
        )
        .await?;
        Ok(codes)
    }

    /// Ends one web session (the one presented).
    pub async fn sign_out(&self, context: &RequestContext, session: &str) -> Result<(), CoreError> {
        let target = Target {
            tenant: context.principal.tenant,
            kind: "session",
            id: None,
        };
        self.audited::<policy::Anyone, _>(context, "session.end", target, async {
            let hash = token_hash(session);
            let (session, row) = self
                .store()
                .session_by_hash(&hash)
                .await?
                .ok_or(CoreError::Unauthenticated)?;
            if session.account_id != context.principal.id {
                return Err(CoreError::Unauthenticated);
            }
            self.append_account_event(
                &context.actor(),
                &row,
                EventBody::SignedOut {
                    account_id: row.id,
                    session_hash: hash,
                },
            )
            .await
        })
        .await
    }

    /// Ends every session of the caller's account and voids provider tokens issued until now.
    pub async fn sign_out_everywhere(&self, context: &RequestContext) -> Result<(), CoreError> {
        let target = Target {
            tenant: context.principal.tenant,
            kind: "session",
            id: None,
        };
        self.audited::<policy::Anyone, _>(context, "session.end_all", target, async {
            let row = self
                .store()
                .account(context.principal.id)
                .await?
                .ok_or(CoreError::Unauthenticated)?;
            self.append_account_event(
                &context.actor(),
                &row,
                EventBody::SignedOutEverywhere { account_id: row.id },
            )
            .await
        })
        .await
    }

    /// Creates an API key for the caller's own account, or, for administrators, for an account
    /// they administer. A caller whose own credential is scoped cannot mint keys: scopes only
    /// ever narrow.
    pub async fn create_api_key(
        &self,
        context: &RequestContext,
        request: NewApiKey,
    ) -> Result<IssuedKey, CoreError> {
        let target = Target {
            tenant: context.principal.tenant,
            kind: "api_key",
            id: None,
        };
        self.audited::<policy::Anyone, _>(context, "api_key.create", target, async {
            if !context.principal.scopes.is_unrestricted() || context.principal.roles.is_empty() {
                return Err(CoreError::Forbidden);
            }
            plain_text("label", &request.label, 200)?;
            let scopes = match request.scopes.as_deref().map(str::trim) {
                None | Some("") => String::new(),
                Some(text) => Scopes::parse(text)
                    .map_err(|error| {
                        CoreError::invalid("scopes", "invalid_scope", &error.to_string())
                    })?
                    .to_string(),
            };
            if request.expires_at.is_some_and(|at| at <= self.now()) {
                return Err(CoreError::invalid(
                    "expires_at",
                    "in_past",
                    "a key must expire in the future",
                ));
            }
            let row = match request.account {
                None => self
                    .store()
                    .account(context.principal.id)
                    .await?
                    .ok_or(CoreError::Unauthenticated)?,
                Some(id) if id == context.principal.id => self
                    .store()
                    .account(id)
                    .await?
                    .ok_or(CoreError::Unauthenticated)?,
                Some(id) => self.administered_account(context, id).await?,
            };
            let key = self.random_token(API_KEY_PREFIX);
            let key_id = self.new_uuid().to_string();
            self.append_account_event(
                &context.actor(),
                &row,
                EventBody::ApiKeyCreated {
                    account_id: row.id,
                    key_id: key_id.clone(),
                    key_hash: token_hash(key.expose()),
                    label: request.label,
                    scopes,
                    expires_at: request.expires_at,
                },
            )
            .await?;
            Ok(IssuedKey {
                key_id,
                account_id: row.id,
                key,
            })
        })
        .await
    }

    /// Revokes an API key of the caller's own account or of one they administer; refused at
    /// once on every replica (keys are read with their state on every request).
    pub async fn revoke_api_key(
        &self,
        context: &RequestContext,
        account: PrincipalId,
        key_id: &str,
    ) -> Result<(), CoreError> {
        let target = Target {
            tenant: context.principal.tenant,
            kind: "api_key",
            id: Some(key_id),
        };
        self.audited::<policy::Anyone, _>(context, "api_key.revoke", target, async {
            let row = if account == context.principal.id {
                self.store()
                    .account(account)
                    .await?
                    .ok_or(CoreError::NotFound)?
            } else {
                self.administered_account(context, account).await?
            };
            let keys = self.store().api_keys(row.id).await?;
            if !keys
                .iter()
                .any(|key| key.id == key_id && key.revoked_at.is_none())
            {
                return Err(CoreError::NotFound);
            }
            self.append_account_event(
                &context.actor(),
                &row,
                EventBody::ApiKeyRevoked {
                    account_id: row.id,
                    key_id: key_id.to_owned(),
                },
            )
            .await
        })
        .await
    }

    /// The API keys of the caller's own account, or of one they administer.
    pub async fn list_api_keys(
        &self,
        context: &RequestContext,
        account: PrincipalId,
    ) -> Result<Vec<ApiKeySummary>, CoreError> {
        let target = Target {
            tenant: context.principal.tenant,
            kind: "api_key",
            id: None,
        };
        self.audited::<policy::Anyone, _>(context, "api_key.list", target, async {
            let row = if account == context.principal.id {
                self.store()
                    .account(account)
                    .await?
                    .ok_or(CoreError::NotFound)?
            } else {
                self.administered_account(context, account).await?
            };
            Ok(self
                .store()
                .api_keys(row.id)
                .await?
                .into_iter()
                .map(|key| ApiKeySummary {
                    id: key.id,
                    label: key.label,
                    scopes: key.scopes,
                    created_at: key.created_at,
                    expires_at: key.expires_at,
                    revoked: key.revoked_at.is_some(),
                    last_used_at: key.last_used_at,
                })
                .collect())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_micros(seconds * 1_000_000)
    }

    #[test]
    fn back_off_starts_after_the_free_attempts_and_doubles() {
        let throttle = Throttle::default();
        for n in 0..5 {
            assert_eq!(throttle.wait("k", at(100), 5), None, "attempt {n}");
            throttle.fail("k".into(), at(100));
        }
        assert_eq!(throttle.wait("k", at(100), 5), Some(1));
        throttle.fail("k".into(), at(100));
        assert_eq!(throttle.wait("k", at(100), 5), Some(2));
        throttle.fail("k".into(), at(100));
        assert_eq!(throttle.wait("k", at(100), 5), Some(4));
        assert_eq!(throttle.wait("k", at(104), 5), None);
        assert_eq!(throttle.wait("other", at(100), 5), None);
        throttle.clear("k");
        assert_eq!(throttle.wait("k", at(100), 5), None);
    }

    #[test]
    fn back_off_is_capped_and_forgotten() {
        let throttle = Throttle::default();
        for _ in 0..40 {
            throttle.fail("k".into(), at(0));
        }
        assert_eq!(
            throttle.wait("k", at(0), 5),
            Some(MAX_BACKOFF_SECONDS as u64)
        );
        assert_eq!(throttle.wait("k", at(16 * 60), 5), None);
        throttle.fail("k".into(), at(16 * 60));
        assert_eq!(
            throttle.wait("k", at(16 * 60), 5),
            None,
            "stale failures restart at one"
        );
    }

    #[test]
    fn usernames_are_lower_case_and_plain() {
        assert_eq!(
            normalise_username(" Ann.Lee@Contoso ").ok(),
            Some("ann.lee@contoso".into())
        );
        for bad in ["", "a b", "x\ny", "é", &"a".repeat(65)] {
            assert!(normalise_username(bad).is_err(), "{bad:?}");
        }
    }
}
