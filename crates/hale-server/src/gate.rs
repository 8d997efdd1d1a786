//! The gate every request passes before its handler: it authenticates the request once, finds
//! the rate-limit rule that covers the caller, and refuses over-limit calls with 429 before any
//! work is done. Limits key on the account (a person or an integration, whichever credential
//! it presents), its API key, its tenant or the client's address; requests without a usable
//! credential are limited per address. Every limited response carries the IETF `RateLimit`
//! and `RateLimit-Policy` headers.
//!
//! A request is counted under the first rule, in configuration order, that covers it; a rule
//! covers a principal holding any of its roles (or, for `anonymous`, a request with no
//! principal, one whose credential was refused, or one whose principal holds no role yet), and
//! only paths under its prefixes when it names any. A tenant may tighten that: the first rule
//! bound to the caller's tenant that covers the request counts it too. A submission is also
//! counted, per account and app, under the policy its app's published form names
//! (`rate_limit_policy`); an app that names none gets the caller's own rule alone. All of a
//! call's checks are made at once, all or nothing (`Limiter::check_all`), so a call refused
//! under one policy consumes no quota under another.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hale_core::{ErrorCode, token_hash};
use hale_domain::{AppId, Principal, Role, TenantId};
use hale_limit::{Decision, Limiter, Policy, RateLimitHeaders};
use hale_listen::ClientCertificate;
use serde::Deserialize;

use crate::AppState;
use crate::extract::{Authentication, authenticate, has_credential};
use crate::problem::Problem;

/// What a rule counts calls by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKey {
    /// The account, whichever of its credentials it uses.
    Account,
    /// The credential presented (an API key, a session, a provider's token).
    Credential,
    /// The account's tenant: all of its callers together.
    Tenant,
    /// The client's address.
    Address,
}

/// Who a rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Covered {
    Role(Role),
    /// Requests without a principal that holds a role.
    Anonymous,
}

/// One rate-limit rule.
#[derive(Clone, Debug)]
pub struct RateRule {
    pub policy: Policy,
    pub key: LimitKey,
    pub applies_to: Vec<Covered>,
    /// Path prefixes it is limited to; empty for every path.
    pub paths: Vec<String>,
    /// The tenant whose callers it tightens the platform's rules for; `None` for a platform
    /// rule.
    pub tenant: Option<TenantId>,
}

/// The rules in force and the store that counts for them; clones share the store.
#[derive(Clone)]
pub struct RateLimits {
    limiter: Option<Limiter>,
    rules: Arc<Vec<RateRule>>,
}

impl Default for RateLimits {
    /// No limits at all (for tests that exercise something else).
    fn default() -> Self {
        Self {
            limiter: None,
            rules: Arc::new(Vec::new()),
        }
    }
}

impl RateLimits {
    pub fn new(limiter: Limiter, rules: Vec<RateRule>) -> Self {
        Self {
            limiter: Some(limiter),
            rules: Arc::new(rules),
        }
    }

    /// The rules in force, for the security posture report.
    pub fn rules(&self) -> &[RateRule] {
        &self.rules
    }

    /// The platform rule that counts this request, and the caller's tenant's own rule when it
    /// has one that covers the request.
    fn rules_for(
        &self,
        path: &str,
        principal: Option<&Principal>,
    ) -> (Option<&RateRule>, Option<&RateRule>) {
        let roles = principal
            .map(|principal| principal.roles.as_slice())
            .unwrap_or(&[]);
        let covers = |rule: &&RateRule| {
            let on_path =
                rule.paths.is_empty() || rule.paths.iter().any(|prefix| path.starts_with(prefix));
            let covered = rule.applies_to.iter().any(|covered| match covered {
                Covered::Role(role) => roles.contains(role),
                Covered::Anonymous => roles.is_empty(),
            });
            on_path && covered
        };
        let platform = self
            .rules
            .iter()
            .filter(|rule| rule.tenant.is_none())
            .find(covers);
        let tenant = principal.and_then(|principal| principal.tenant);
        let tightened = self
            .rules
            .iter()
            .filter(|rule| tenant.is_some() && rule.tenant == tenant)
            .find(covers);
        (platform, tightened)
    }

    /// The policy called `name` (an app's `rate_limit_policy`), from the platform's rules.
    fn named(&self, name: &str) -> Option<&Policy> {
        self.rules
            .iter()
            .filter(|rule| rule.tenant.is_none())
            .map(|rule| &rule.policy)
            .find(|policy| policy.name().as_str() == name)
    }
}

/// The shipped rules: the customer's own policy for patients (10 calls in any 5 minutes),
/// wider ones for staff and integrations, and per-address ones for callers with no principal
/// (sign-in tighter than the rest).
pub fn default_rules() -> Vec<RateRule> {
    let rule = |name: &str, calls, seconds, key, applies_to: Vec<Covered>, paths: &[&str]| {
        let policy = hale_limit::PolicyName::parse(name)
            .and_then(|name| Policy::new(name, calls, std::time::Duration::from_secs(seconds)));
        policy.ok().map(|policy| RateRule {
            policy,
            key,
            applies_to,
            paths: paths.iter().map(|path| (*path).to_owned()).collect(),
            tenant: None,
        })
    };
    let staff = [
        Role::PlatformAdmin,
        Role::TenantAdmin,
        Role::Analyst,
        Role::Reviewer,
        Role::Clinician,
        Role::Researcher,
    ]
    .map(Covered::Role)
    .to_vec();
    [
        rule(
            "patient",
            10,
            300,
            LimitKey::Account,
            vec![Covered::Role(Role::Patient)],
            &[],
        ),
        rule(
            "integration",
            3000,
            300,
            LimitKey::Account,
            vec![Covered::Role(Role::Integration)],
            &[],
        ),
        rule("staff", 1000, 300, LimitKey::Account, staff, &[]),
        rule(
            "sign-in",
            30,
            300,
            LimitKey::Address,
            vec![Covered::Anonymous],
            &["/api/v1/auth/"],
        ),
        rule(
            "anonymous",
            300,
            60,
            LimitKey::Address,
            vec![Covered::Anonymous],
            &[],
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The configuration form of a rule: a policy (`name`, `calls`, `period`) and whom it covers.
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "serde_json::Map<String, serde_json::Value>")]
pub struct RateRuleConfig {
    pub policy: hale_limit::PolicyConfig,
    pub key: LimitKey,
    /// Role names, or `anonymous`.
    pub applies_to: Vec<String>,
    pub paths: Vec<String>,
    /// The tenant (slug or id) whose callers the rule tightens the platform's rules for.
    pub tenant: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Coverage {
    key: LimitKey,
    applies_to: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
    tenant: Option<String>,
}

/// Read in two strict halves: serde's `flatten` would let a misspelt key through.
impl TryFrom<serde_json::Map<String, serde_json::Value>> for RateRuleConfig {
    type Error = String;

    fn try_from(
        mut entry: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, Self::Error> {
        let mut coverage = serde_json::Map::new();
        for name in ["key", "applies_to", "paths", "tenant"] {
            if let Some(value) = entry.remove(name) {
                coverage.insert(name.to_owned(), value);
            }
        }
        let coverage: Coverage = serde_json::from_value(serde_json::Value::Object(coverage))
            .map_err(|error| error.to_string())?;
        let policy = serde_json::from_value(serde_json::Value::Object(entry))
            .map_err(|error| error.to_string())?;
        Ok(Self {
            policy,
            key: coverage.key,
            applies_to: coverage.applies_to,
            paths: coverage.paths,
            tenant: coverage.tenant,
        })
    }
}

impl RateRuleConfig {
    /// Checks the rule: its policy, each role name, and that it applies to someone. A tenant
    /// rule comes out bound to no tenant yet: the caller resolves [`RateRuleConfig::tenant`]
    /// and sets [`RateRule::tenant`].
    pub fn rule(self) -> Result<RateRule, String> {
        let name = self.policy.name.clone();
        let policy = Policy::try_from(self.policy)
            .map_err(|error| format!("rate limit `{name}`: {error}"))?;
        if self.applies_to.is_empty() {
            return Err(format!("rate limit `{name}`: applies_to names no one"));
        }
        let applies_to = self
            .applies_to
            .iter()
            .map(|who| match who.as_str() {
                "anonymous" => Ok(Covered::Anonymous),
                role => role.parse::<Role>().map(Covered::Role).map_err(|_| {
                    format!("rate limit `{name}`: `{role}` is neither a role nor `anonymous`")
                }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(path) = self.paths.iter().find(|path| !path.starts_with('/')) {
            return Err(format!(
                "rate limit `{name}`: the path `{path}` must start with /"
            ));
        }
        Ok(RateRule {
            policy,
            key: self.key,
            applies_to,
            paths: self.paths,
            tenant: None,
        })
    }
}

/// The credential's own value, hashed (never kept or sent anywhere in the clear); for a
/// client certificate, its fingerprint.
fn credential_key(request: &Request) -> String {
    let headers = request.headers();
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .or_else(|| crate::extract::session_cookie(headers));
    match (presented, request.extensions().get::<ClientCertificate>()) {
        (None, Some(certificate)) => certificate.fingerprint_hex(),
        (presented, _) => token_hash(presented.unwrap_or_default()),
    }
}

fn key_of(rule: &RateRule, request: &Request, principal: Option<&Principal>) -> String {
    let value = match (rule.key, principal) {
        (LimitKey::Account, Some(principal)) => principal.id.to_string(),
        (LimitKey::Tenant, Some(principal)) => principal
            .tenant
            .map_or_else(|| String::from("platform"), |tenant| tenant.to_string()),
        (LimitKey::Credential, Some(_)) => credential_key(request),
        // Without a principal, every key is the address.
        _ => crate::edge::ClientIp::of(request.extensions()),
    };
    format!("{}:{value}", rule.key.as_str())
}

impl LimitKey {
    const fn as_str(self) -> &'static str {
        match self {
            LimitKey::Account => "account",
            LimitKey::Credential => "credential",
            LimitKey::Tenant => "tenant",
            LimitKey::Address => "address",
        }
    }
}

fn set_headers(response: &mut Response, headers: &RateLimitHeaders) {
    let values = [
        ("ratelimit-policy", Some(&headers.rate_limit_policy)),
        ("ratelimit", Some(&headers.rate_limit)),
        ("retry-after", headers.retry_after.as_ref()),
    ];
    for (name, value) in values {
        if let Some(value) = value.and_then(|value| HeaderValue::from_str(value).ok()) {
            response.headers_mut().insert(name, value);
        }
    }
}

/// The calls a submission route makes into apps: `app_id` of a single submission, or of each
/// submission of a batch (none when the body is not of that shape: the handler refuses it).
fn submitted_apps(path: &str, body: &[u8]) -> Vec<AppId> {
    #[derive(Deserialize)]
    struct Item {
        app_id: Option<String>,
    }
    #[derive(Deserialize)]
    struct Batch {
        submissions: Vec<Item>,
    }
    let items = if path.ends_with("/submissions/batch") {
        serde_json::from_slice::<Batch>(body).map(|batch| batch.submissions)
    } else {
        serde_json::from_slice::<Item>(body).map(|item| vec![item])
    };
    let mut apps: Vec<AppId> = items
        .unwrap_or_default()
        .into_iter()
        .take(MAX_APPS_PER_CALL)
        .filter_map(|item| item.app_id?.parse().ok())
        .collect();
    apps.sort_unstable_by_key(ToString::to_string);
    apps.dedup();
    apps
}

/// Most distinct apps whose policies one call is checked under: as many as a batch holds
/// submissions (a larger one is refused by its handler).
const MAX_APPS_PER_CALL: usize = crate::routes::submissions::MAX_BATCH;

/// Whether the request submits answers (a single submission or a batch).
fn submits(request: &Request) -> bool {
    let path = request.uri().path();
    let Some(rest) = path.strip_prefix("/api/v1/tenants/") else {
        return false;
    };
    request.method() == axum::http::Method::POST
        && matches!(
            rest.split_once('/'),
            Some((tenant, "submissions" | "submissions/batch")) if !tenant.is_empty()
        )
}

/// The policies of the apps a submission names, each keyed by account and app; `Err` with the
/// response to send when the body cannot be read or the core cannot say.
async fn app_checks<'a>(
    state: &'a AppState,
    principal: &Principal,
    request: Request,
) -> Result<(Request, Vec<(&'a Policy, String)>), Response> {
    let (parts, body) = request.into_parts();
    // The edge has bounded the body already (`edge::refuse_oversized`).
    let bytes = axum::body::to_bytes(body, usize::MAX).await.map_err(|_| {
        Problem::new(
            ErrorCode::PayloadTooLarge,
            "the body is larger than this endpoint accepts",
        )
        .into_response()
    })?;
    let mut checks = Vec::new();
    if let Some(tenant) = principal.tenant {
        for app in submitted_apps(parts.uri.path(), &bytes) {
            let named = state
                .core
                .submission_rate_policy(tenant, app, None)
                .await
                .map_err(|error| {
                    tracing::warn!(code = %error.code().as_str(), "an app's rate-limit policy cannot be read");
                    Problem::new(ErrorCode::Unavailable, "the service is temporarily unavailable")
                        .into_response()
                })?;
            let Some(name) = named else { continue };
            match state.rate.named(&name) {
                Some(policy) => checks.push((policy, format!("app:{}:{app}", principal.id))),
                // Publication cannot see the server's configuration: the caller's own limit
                // still applies, and the operator hears of it.
                None => {
                    tracing::warn!(policy = %name, "an app names a rate-limit policy that is not configured")
                }
            }
        }
    }
    Ok((
        Request::from_parts(parts, axum::body::Body::from(bytes)),
        checks,
    ))
}

/// The decision to report: the first refusal, or else the one with the fewest calls left.
fn reported<'a>(decided: &[(Decision, &'a Policy)]) -> Option<(Decision, &'a Policy)> {
    decided
        .iter()
        .find(|(decision, _)| !decision.is_allowed())
        .or_else(|| {
            decided
                .iter()
                .min_by_key(|(decision, _)| decision.remaining())
        })
        .copied()
}

/// The middleware: authenticate, limit, then run the handler (or refuse).
pub async fn gate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    // Only the API authenticates: the web app's files and the health probes are the same for
    // everyone, so they never count against a caller's own quota, only their address's.
    let api = request.uri().path().starts_with("/api/");
    let outcome = if api && has_credential(request.headers(), request.extensions()) {
        let (parts, body) = request.into_parts();
        let outcome = authenticate(&state, &parts).await;
        request = Request::from_parts(parts, body);
        Some(outcome)
    } else {
        None
    };
    let principal = outcome.as_ref().and_then(|outcome| outcome.as_ref().ok());
    let mut reported_decision = None;
    if let Some(limiter) = &state.rate.limiter {
        let (platform, tightened) = state.rate.rules_for(request.uri().path(), principal);
        let mut checks: Vec<(&Policy, String)> = [platform, tightened]
            .into_iter()
            .flatten()
            .map(|rule| (&rule.policy, key_of(rule, &request, principal)))
            .collect();
        if let Some(principal) = principal.filter(|_| submits(&request)) {
            match app_checks(&state, principal, request).await {
                Ok((read, apps)) => {
                    request = read;
                    checks.extend(apps);
                }
                Err(response) => return response,
            }
        }
        if !checks.is_empty() {
            let pairs: Vec<(&Policy, &str)> = checks
                .iter()
                .map(|(policy, key)| (*policy, key.as_str()))
                .collect();
            match limiter.check_all(&pairs).await {
                Ok(decisions) => {
                    let decided: Vec<(Decision, &Policy)> = decisions
                        .into_iter()
                        .zip(checks.iter().map(|(policy, _)| *policy))
                        .collect();
                    reported_decision = reported(&decided);
                }
                Err(error) => {
                    // Fail closed: an uncounted call could be one too many.
                    tracing::warn!(code = error.code(), "the rate limiter cannot decide");
                    return Problem::new(
                        ErrorCode::Unavailable,
                        "the service is temporarily unavailable",
                    )
                    .into_response();
                }
            }
        }
    }
    if let Some((decision @ Decision::Refused { .. }, policy)) = reported_decision {
        let mut response = Problem::new(
            ErrorCode::RateLimited,
            format!(
                "the rate limit `{}` allows no more calls yet",
                policy.name()
            ),
        )
        .into_response();
        set_headers(&mut response, &decision.headers(policy));
        return response;
    }
    if let Some(outcome) = outcome {
        request.extensions_mut().insert(Authentication(outcome));
    }
    let mut response = next.run(request).await;
    if let Some((decision, policy)) = reported_decision {
        set_headers(&mut response, &decision.headers(policy));
    }
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn config(text: serde_json::Value) -> Result<RateRule, String> {
        serde_json::from_value::<RateRuleConfig>(text)
            .map_err(|error| error.to_string())?
            .rule()
    }

    #[test]
    fn rules_are_read_and_checked_by_name() {
        let rule = config(serde_json::json!({
            "name": "patient", "calls": 10, "period": "5m", "key": "account",
            "applies_to": ["patient", "anonymous"], "paths": ["/api/v1/"]
        }))
        .unwrap();
        assert_eq!(rule.policy.calls(), 10);
        assert_eq!(
            rule.applies_to,
            vec![Covered::Role(Role::Patient), Covered::Anonymous]
        );
        for (bad, message) in [
            (
                serde_json::json!({"name": "x", "calls": 1, "period": "1m", "key": "account", "applies_to": []}),
                "names no one",
            ),
            (
                serde_json::json!({"name": "x", "calls": 1, "period": "1m", "key": "account", "applies_to": ["surgeon"]}),
                "`surgeon`",
            ),
            (
                serde_json::json!({"name": "x", "calls": 1, "period": "1m", "key": "account", "applies_to": ["patient"], "paths": ["api"]}),
                "must start with /",
            ),
            (
                serde_json::json!({"name": "x", "calls": 0, "period": "1m", "key": "account", "applies_to": ["patient"]}),
                "rate limit `x`",
            ),
            (
                serde_json::json!({"name": "x", "calls": 1, "period": "1m", "key": "everyone", "applies_to": ["patient"]}),
                "everyone",
            ),
        ] {
            let error = config(bad).unwrap_err();
            assert!(error.contains(message), "{error}");
        }
    }

    fn principal(roles: &[Role]) -> Principal {
        Principal {
            id: hale_domain::PrincipalId::from_uuid(uuid::Uuid::nil()),
            tenant: None,
            roles: roles.to_vec(),
            subject: None,
            kind: hale_domain::AccountKind::User,
            scopes: hale_domain::scope::Scopes::unrestricted(),
        }
    }

    #[test]
    fn each_key_kind_counts_by_its_own_value_and_never_holds_a_credential() {
        let rule = |key| RateRule {
            policy: Policy::new(
                hale_limit::PolicyName::parse("p").unwrap(),
                1,
                std::time::Duration::from_secs(1),
            )
            .unwrap(),
            key,
            applies_to: vec![Covered::Anonymous],
            paths: Vec::new(),
            tenant: None,
        };
        let mut request = Request::builder()
            .uri("/x")
            .header(header::AUTHORIZATION, "Bearer hale_secret")
            .body(axum::body::Body::empty())
            .unwrap();
        request
            .extensions_mut()
            .insert(crate::edge::ClientIp("192.0.2.7".parse().unwrap()));
        let mut person = principal(&[Role::Clinician]);
        person.tenant = Some(hale_domain::TenantId::from_uuid(uuid::Uuid::from_u128(5)));
        let keys: Vec<String> = [
            LimitKey::Account,
            LimitKey::Tenant,
            LimitKey::Credential,
            LimitKey::Address,
        ]
        .into_iter()
        .map(|key| key_of(&rule(key), &request, Some(&person)))
        .collect();
        assert_eq!(keys[0], format!("account:{}", person.id));
        assert_eq!(keys[1], format!("tenant:{}", person.tenant.unwrap()));
        assert_eq!(
            keys[2],
            format!("credential:{}", token_hash("Bearer hale_secret"))
        );
        assert_eq!(keys[3], "address:192.0.2.7");
        assert!(keys.iter().all(|key| !key.contains("hale_secret")));
        // Without a principal, every kind counts by address.
        assert_eq!(
            key_of(&rule(LimitKey::Account), &request, None),
            "account:192.0.2.7"
        );
        assert_eq!(
            key_of(
                &rule(LimitKey::Tenant),
                &request,
                Some(&principal(&[Role::PlatformAdmin]))
            ),
            "tenant:platform"
        );
    }

    #[test]
    fn the_first_rule_covering_the_caller_and_path_applies() {
        let limits = RateLimits::new(
            Limiter::Memory(hale_limit::MemoryStore::new(
                hale_limit::MemoryConfig::default(),
            )),
            default_rules(),
        );
        let name = |path: &str, principal: Option<&Principal>| {
            limits
                .rules_for(path, principal)
                .0
                .map(|rule| rule.policy.name().as_str().to_owned())
        };
        let patient = principal(&[Role::Patient]);
        let clinician = principal(&[Role::Clinician, Role::Patient]);
        let pending = principal(&[]);
        assert_eq!(
            name("/api/v1/x", Some(&patient)).as_deref(),
            Some("patient")
        );
        // A principal with several roles gets the first rule that covers any of them.
        assert_eq!(
            name("/api/v1/x", Some(&clinician)).as_deref(),
            Some("patient")
        );
        assert_eq!(
            name("/api/v1/x", Some(&principal(&[Role::Integration]))).as_deref(),
            Some("integration")
        );
        assert_eq!(
            name("/api/v1/x", Some(&principal(&[Role::Reviewer]))).as_deref(),
            Some("staff")
        );
        assert_eq!(
            name("/api/v1/auth/sign-in", None).as_deref(),
            Some("sign-in")
        );
        assert_eq!(
            name("/api/v1/auth/me", Some(&pending)).as_deref(),
            Some("sign-in")
        );
        assert_eq!(name("/health", None).as_deref(), Some("anonymous"));
        assert!(matches!(
            RateLimits::default().rules_for("/health", None),
            (None, None)
        ));
    }

    fn tenant(n: u128) -> TenantId {
        TenantId::from_uuid(uuid::Uuid::from_u128(n))
    }

    #[test]
    fn a_tenant_rule_counts_its_own_callers_beside_the_platform_rule() {
        let mut tight = config(serde_json::json!({
            "name": "patient-clinic", "calls": 5, "period": "5m", "key": "account",
            "applies_to": ["patient"], "tenant": "clinic"
        }))
        .unwrap();
        tight.tenant = Some(tenant(1));
        let mut rules = vec![tight];
        rules.extend(default_rules());
        let limits = RateLimits::new(
            Limiter::Memory(hale_limit::MemoryStore::new(
                hale_limit::MemoryConfig::default(),
            )),
            rules,
        );
        let names = |principal: &Principal| {
            let (platform, tightened) = limits.rules_for("/api/v1/x", Some(principal));
            (
                platform.map(|rule| rule.policy.name().as_str().to_owned()),
                tightened.map(|rule| rule.policy.name().as_str().to_owned()),
            )
        };
        let mut patient = principal(&[Role::Patient]);
        patient.tenant = Some(tenant(1));
        assert_eq!(
            names(&patient),
            (Some("patient".into()), Some("patient-clinic".into()))
        );
        patient.tenant = Some(tenant(2));
        assert_eq!(names(&patient), (Some("patient".into()), None));
        let mut clinician = principal(&[Role::Clinician]);
        clinician.tenant = Some(tenant(1));
        assert_eq!(names(&clinician), (Some("staff".into()), None));
        // A platform caller is never matched to a tenant rule, nor is an app's policy.
        assert_eq!(names(&principal(&[Role::Patient])).1, None);
        assert_eq!(limits.named("patient").map(|p| p.calls()), Some(10));
        assert!(limits.named("patient-clinic").is_none());
        assert!(limits.named("nothing").is_none());
    }

    #[test]
    fn only_submission_posts_name_the_apps_they_submit_to() {
        let request = |method: &str, path: &str| {
            Request::builder()
                .method(method)
                .uri(path)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        assert!(submits(&request("POST", "/api/v1/tenants/t/submissions")));
        assert!(submits(&request(
            "POST",
            "/api/v1/tenants/t/submissions/batch"
        )));
        for (method, path) in [
            ("GET", "/api/v1/tenants/t/submissions"),
            ("POST", "/api/v1/tenants//submissions"),
            ("POST", "/api/v1/tenants/t/submissions/x"),
            ("POST", "/api/v1/tenants/t/apps"),
            ("POST", "/submissions"),
        ] {
            assert!(!submits(&request(method, path)), "{method} {path}");
        }
        let a = "00000000-0000-0000-0000-00000000000a";
        let b = "00000000-0000-0000-0000-00000000000b";
        let single = format!(r#"{{"app_id":"{a}","answers":{{}}}}"#);
        assert_eq!(
            submitted_apps("/api/v1/tenants/t/submissions", single.as_bytes()),
            vec![a.parse().unwrap()]
        );
        let batch = format!(
            r#"{{"submissions":[{{"app_id":"{b}"}},{{"app_id":"{a}"}},{{"app_id":"{b}"}},{{"app_id":"bad"}},{{}}]}}"#
        );
        assert_eq!(
            submitted_apps("/api/v1/tenants/t/submissions/batch", batch.as_bytes()),
            vec![a.parse().unwrap(), b.parse().unwrap()]
        );
        for body in ["", "[]", r#"{"submissions":3}"#, "{"] {
            assert!(
                submitted_apps("/api/v1/tenants/t/submissions/batch", body.as_bytes()).is_empty()
            );
        }
        let many: Vec<String> = (0..60u128)
            .map(|n| format!(r#"{{"app_id":"{}"}}"#, uuid::Uuid::from_u128(n)))
            .collect();
        let many = format!(r#"{{"submissions":[{}]}}"#, many.join(","));
        assert_eq!(
            submitted_apps("/api/v1/tenants/t/submissions/batch", many.as_bytes()).len(),
            MAX_APPS_PER_CALL
        );
    }

    #[test]
    fn the_reported_decision_is_the_refusal_or_else_the_tightest() {
        let policy = |name: &str| {
            Policy::new(
                hale_limit::PolicyName::parse(name).unwrap(),
                10,
                std::time::Duration::from_secs(60),
            )
            .unwrap()
        };
        let (first, second) = (policy("first"), policy("second"));
        let allowed = |remaining| Decision::Allowed {
            limit: 10,
            remaining,
            reset_after: std::time::Duration::from_secs(60),
        };
        let refused = Decision::Refused {
            limit: 10,
            retry_after: std::time::Duration::from_secs(5),
            reset_after: std::time::Duration::from_secs(60),
        };
        let name = |decided: &[(Decision, &Policy)]| {
            reported(decided)
                .map(|(decision, policy)| (decision, policy.name().as_str().to_owned()))
        };
        assert_eq!(
            name(&[(allowed(7), &first), (allowed(2), &second)]),
            Some((allowed(2), "second".into()))
        );
        assert_eq!(
            name(&[(allowed(1), &first), (refused, &second)]),
            Some((refused, "second".into()))
        );
        assert_eq!(name(&[]), None);
    }
}
