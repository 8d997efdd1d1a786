//! The gate every request passes before its handler: it authenticates the request once, finds
//! the rate-limit rule that covers the caller, and refuses over-limit calls with 429 before any
//! work is done. Limits key on the account (a person or an integration, whichever credential
//! it presents), its API key, its tenant or the client's address; requests without a usable
//! credential are limited per address. Every limited response carries the IETF `RateLimit`
//! and `RateLimit-Policy` headers.
//!
//! One rule applies to a request: the first, in configuration order, that covers it. A rule
//! covers a principal holding any of its roles (or, for `anonymous`, a request with no
//! principal, one whose credential was refused, or one whose principal holds no role yet), and
//! only paths under its prefixes when it names any.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hale_core::{ErrorCode, token_hash};
use hale_domain::{Principal, Role};
use hale_limit::{Decision, Limiter, Policy, RateLimitHeaders};
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

    fn rule_for(&self, path: &str, principal: Option<&Principal>) -> Option<&RateRule> {
        let roles = principal
            .map(|principal| principal.roles.as_slice())
            .unwrap_or(&[]);
        self.rules.iter().find(|rule| {
            let on_path =
                rule.paths.is_empty() || rule.paths.iter().any(|prefix| path.starts_with(prefix));
            let covers = rule.applies_to.iter().any(|covered| match covered {
                Covered::Role(role) => roles.contains(role),
                Covered::Anonymous => roles.is_empty(),
            });
            on_path && covers
        })
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Coverage {
    key: LimitKey,
    applies_to: Vec<String>,
    #[serde(default)]
    paths: Vec<String>,
}

/// Read in two strict halves: serde's `flatten` would let a misspelt key through.
impl TryFrom<serde_json::Map<String, serde_json::Value>> for RateRuleConfig {
    type Error = String;

    fn try_from(
        mut entry: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, Self::Error> {
        let mut coverage = serde_json::Map::new();
        for name in ["key", "applies_to", "paths"] {
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
        })
    }
}

impl RateRuleConfig {
    /// Checks the rule: its policy, each role name, and that it applies to someone.
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
        })
    }
}

/// The credential's own value, hashed (never kept or sent anywhere in the clear).
fn credential_key(request: &Request) -> String {
    let headers = request.headers();
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .or_else(|| crate::extract::session_cookie(headers))
        .unwrap_or_default();
    token_hash(presented)
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

/// The middleware: authenticate, limit, then run the handler (or refuse).
pub async fn gate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let outcome = if has_credential(request.headers()) {
        let (parts, body) = request.into_parts();
        let outcome = authenticate(&state, &parts).await;
        request = Request::from_parts(parts, body);
        Some(outcome)
    } else {
        None
    };
    let principal = outcome.as_ref().and_then(|outcome| outcome.as_ref().ok());
    let limited = match (
        &state.rate.limiter,
        state.rate.rule_for(request.uri().path(), principal),
    ) {
        (Some(limiter), Some(rule)) => {
            let key = key_of(rule, &request, principal);
            match limiter.check(&rule.policy, &key).await {
                Ok(decision) => Some((decision, rule)),
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
        _ => None,
    };
    if let Some((decision @ Decision::Refused { .. }, rule)) = &limited {
        let mut response = Problem::new(
            ErrorCode::RateLimited,
            format!(
                "the rate limit `{}` allows no more calls yet",
                rule.policy.name()
            ),
        )
        .into_response();
        set_headers(&mut response, &decision.headers(&rule.policy));
        return response;
    }
    if let Some(outcome) = outcome {
        request.extensions_mut().insert(Authentication(outcome));
    }
    let mut response = next.run(request).await;
    if let Some((decision, rule)) = limited {
        set_headers(&mut response, &decision.headers(&rule.policy));
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
                .rule_for(path, principal)
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
        assert_eq!(
            RateLimits::default().rule_for("/health", None).map(|_| ()),
            None
        );
    }
}
