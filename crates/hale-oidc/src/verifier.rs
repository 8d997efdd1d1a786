//! The resource-server side: accepting JWT access tokens issued by trusted OpenID providers.
//! The unverified `iss` only chooses whose keys to try; the token is then held to that issuer's
//! policy: an asymmetric algorithm from its allow-list, a published key that fits it, a valid
//! signature, and then `iss`, `aud`, `exp`, `nbf`, `iat` and `sub`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{ConfigError, TokenError};
use crate::fetch;
use crate::keys::KeyCache;
use crate::token::{self, Expected, Unverified};

/// The algorithms accepted when an issuer's configuration names none: what providers sign
/// with today.
pub const DEFAULT_ALGORITHMS: [Algorithm; 4] = [
    Algorithm::RS256,
    Algorithm::PS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// Clocks that disagree by more than this are a misconfiguration, not skew.
const MAX_LEEWAY_SECONDS: u64 = 300;

/// One trusted issuer of access tokens.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    /// The exact `iss` of its tokens; discovery is at `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// The `aud` its tokens must carry (alone or in an array) to be meant for Hale.
    pub audience: String,
    /// The signature algorithms accepted; HMAC and `none` are refused when the verifier is built.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<Algorithm>,
    /// Clock skew allowed on `exp`, `nbf` and `iat`.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
    /// An unknown `kid` refetches the JWKS at most this often.
    #[serde(default = "default_min_refresh")]
    pub jwks_min_refresh_seconds: u64,
    /// Cached keys are refetched once they are this old.
    #[serde(default = "default_max_age")]
    pub jwks_max_age_seconds: u64,
}

fn default_algorithms() -> Vec<Algorithm> {
    DEFAULT_ALGORITHMS.to_vec()
}
const fn default_leeway() -> u64 {
    60
}
const fn default_min_refresh() -> u64 {
    30
}
const fn default_max_age() -> u64 {
    600
}

impl IssuerConfig {
    /// An issuer with the default algorithms, leeway and cache intervals.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            algorithms: default_algorithms(),
            leeway_seconds: default_leeway(),
            jwks_min_refresh_seconds: default_min_refresh(),
            jwks_max_age_seconds: default_max_age(),
        }
    }
}

/// A token that verified: who issued it, whom it is about, and all its claims.
#[derive(Clone, PartialEq)]
pub struct VerifiedToken {
    pub issuer: String,
    pub subject: String,
    pub claims: Map<String, Value>,
    /// Space-separated scopes from `scope`, or else Entra's `scp`; an array of strings (as
    /// some providers write `scp`) is joined with spaces.
    pub scope: Option<String>,
    pub expires_at: i64,
    pub issued_at: Option<i64>,
    pub jwt_id: Option<String>,
}

/// Claims may hold personal data (names, e-mail addresses): only their names are shown.
impl fmt::Debug for VerifiedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedToken")
            .field("issuer", &self.issuer)
            .field("subject", &self.subject)
            .field("claims", &self.claims.keys().collect::<Vec<_>>())
            .field("scope", &self.scope)
            .field("expires_at", &self.expires_at)
            .field("issued_at", &self.issued_at)
            .field("jwt_id", &self.jwt_id)
            .finish()
    }
}

/// One issuer's key cache, for the security posture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuerStatus {
    pub issuer: String,
    pub keys: usize,
    pub keys_age: Option<std::time::Duration>,
    pub max_age: std::time::Duration,
}

/// Verifies access tokens from a fixed set of issuers. Cheap to clone; clones share the key
/// caches.
#[derive(Clone)]
pub struct Verifier {
    issuers: Arc<HashMap<String, TrustedIssuer>>,
}

struct TrustedIssuer {
    config: IssuerConfig,
    keys: KeyCache,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("issuers", &self.issuers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Verifier {
    /// Each trusted issuer with its key cache: how many keys, how long since they were fetched
    /// (`None` before the first token from it), and the most age allowed before a refetch.
    pub fn status(&self) -> Vec<IssuerStatus> {
        let mut status: Vec<IssuerStatus> = self
            .issuers
            .values()
            .map(|trusted| {
                let (keys, age) = trusted.keys.status();
                IssuerStatus {
                    issuer: trusted.config.issuer.clone(),
                    keys,
                    keys_age: age,
                    max_age: std::time::Duration::from_secs(trusted.config.jwks_max_age_seconds),
                }
            })
            .collect();
        status.sort_by(|a, b| a.issuer.cmp(&b.issuer));
        status
    }

    /// Checks every issuer's configuration; fetches nothing (keys are fetched on first use).
    pub fn new(issuers: Vec<IssuerConfig>) -> Result<Self, ConfigError> {
        let http = fetch::http_client()?;
        let mut trusted = HashMap::with_capacity(issuers.len());
        for (index, config) in issuers.into_iter().enumerate() {
            let discovery_url =
                fetch::discovery_url(&config.issuer).ok_or(ConfigError::InvalidIssuer {
                    position: index + 1,
                })?;
            if config.audience.is_empty() {
                return Err(ConfigError::EmptyAudience {
                    issuer: config.issuer,
                });
            }
            check_algorithms(&config.issuer, &config.algorithms)?;
            if config.leeway_seconds > MAX_LEEWAY_SECONDS {
                return Err(ConfigError::LeewayTooLarge {
                    issuer: config.issuer,
                    max: MAX_LEEWAY_SECONDS,
                });
            }
            if trusted.contains_key(&config.issuer) {
                return Err(ConfigError::DuplicateIssuer(config.issuer));
            }
            let keys = KeyCache::new(
                config.issuer.clone(),
                discovery_url,
                http.clone(),
                Duration::from_secs(config.jwks_min_refresh_seconds),
                Duration::from_secs(config.jwks_max_age_seconds),
            );
            trusted.insert(config.issuer.clone(), TrustedIssuer { config, keys });
        }
        Ok(Self {
            issuers: Arc::new(trusted),
        })
    }

    /// Whether no issuer is trusted (every JWT is then refused as `UnknownIssuer`).
    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    /// Verifies a JWT access token. Only an issuer's key fetch may wait (at most 5 s per
    /// document); everything else is local.
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, TokenError> {
        let unverified = token::parse(token)?;
        let issuer = self
            .issuers
            .get(unverified.claimed_issuer()?)
            .ok_or(TokenError::UnknownIssuer)?;
        let config = &issuer.config;
        verify_signature(&unverified, &issuer.keys, &config.algorithms).await?;
        let checked = token::check_claims(
            &unverified.claims,
            &Expected {
                issuer: &config.issuer,
                audience: &config.audience,
                leeway: i64::try_from(config.leeway_seconds).unwrap_or(i64::MAX),
                now: unix_now(),
            },
        )?;
        let claims = unverified.claims;
        Ok(VerifiedToken {
            issuer: config.issuer.clone(),
            subject: checked.subject,
            scope: scope_of(&claims),
            expires_at: checked.expires_at,
            issued_at: checked.issued_at,
            jwt_id: claims.get("jti").and_then(Value::as_str).map(str::to_owned),
            claims,
        })
    }
}

pub(crate) fn check_algorithms(issuer: &str, algorithms: &[Algorithm]) -> Result<(), ConfigError> {
    if algorithms.is_empty() {
        return Err(ConfigError::NoAlgorithms {
            issuer: issuer.to_owned(),
        });
    }
    if let Some(algorithm) = algorithms.iter().find(|a| token::is_symmetric(**a)) {
        return Err(ConfigError::ForbiddenAlgorithm {
            issuer: issuer.to_owned(),
            algorithm: *algorithm,
        });
    }
    Ok(())
}

/// The signature check shared by access tokens and ID tokens.
pub(crate) async fn verify_signature(
    unverified: &Unverified<'_>,
    keys: &KeyCache,
    algorithms: &[Algorithm],
) -> Result<(), TokenError> {
    let algorithm = token::algorithm(&unverified.header.alg, algorithms)?;
    let key = keys
        .key_for(unverified.header.kid.as_deref(), algorithm)
        .await?;
    match jsonwebtoken::crypto::verify(
        unverified.signature,
        unverified.signing_input.as_bytes(),
        &key.key,
        algorithm,
    ) {
        Ok(true) => Ok(()),
        Ok(false) | Err(_) => Err(TokenError::BadSignature),
    }
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

fn scope_of(claims: &Map<String, Value>) -> Option<String> {
    ["scope", "scp"]
        .into_iter()
        .find_map(|name| match claims.get(name)? {
            Value::String(scope) => Some(scope.clone()),
            Value::Array(items) => items
                .iter()
                .map(Value::as_str)
                .collect::<Option<Vec<_>>>()
                .map(|scopes| scopes.join(" ")),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_is_checked_up_front() {
        let base = || IssuerConfig::new("https://idp.example", "hale");
        assert!(Verifier::new(vec![base()]).is_ok());
        assert!(Verifier::new(vec![]).is_ok_and(|v| v.is_empty()));
        let mut hmac = base();
        hmac.algorithms.push(Algorithm::HS256);
        assert_eq!(
            Verifier::new(vec![hmac]).err(),
            Some(ConfigError::ForbiddenAlgorithm {
                issuer: "https://idp.example".into(),
                algorithm: Algorithm::HS256
            })
        );
        let mut none = base();
        none.algorithms.clear();
        assert!(matches!(
            Verifier::new(vec![none]),
            Err(ConfigError::NoAlgorithms { .. })
        ));
        let mut audience = base();
        audience.audience.clear();
        assert!(matches!(
            Verifier::new(vec![audience]),
            Err(ConfigError::EmptyAudience { .. })
        ));
        let mut leeway = base();
        leeway.leeway_seconds = 3600;
        assert!(matches!(
            Verifier::new(vec![leeway]),
            Err(ConfigError::LeewayTooLarge { .. })
        ));
        assert!(matches!(
            Verifier::new(vec![base(), base()]),
            Err(ConfigError::DuplicateIssuer(_))
        ));
        let plain = IssuerConfig::new("http://idp.example", "hale");
        assert_eq!(
            Verifier::new(vec![base(), plain]).err(),
            Some(ConfigError::InvalidIssuer { position: 2 })
        );
        let secret = IssuerConfig::new("https://user:hunter2@idp.example", "hale");
        let message = Verifier::new(vec![secret]).err().map(|e| e.to_string());
        assert!(message.is_some_and(|m| !m.contains("hunter2")));
    }

    #[test]
    fn defaults_fill_a_configuration_and_unknown_keys_are_refused() {
        let config: Result<IssuerConfig, _> =
            serde_json::from_str(r#"{"issuer": "https://idp.example", "audience": "hale"}"#);
        assert_eq!(
            config.ok(),
            Some(IssuerConfig::new("https://idp.example", "hale"))
        );
        let config: Result<IssuerConfig, _> = serde_json::from_str(
            r#"{"issuer": "https://idp.example", "audience": "hale", "algorithm": ["HS256"]}"#,
        );
        assert!(config.is_err());
    }

    #[test]
    fn scopes_come_from_scope_or_scp() {
        let map = |value: Value| match value {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let scope = |value| scope_of(&map(value));
        assert_eq!(
            scope(serde_json::json!({"scope": "a b"})).as_deref(),
            Some("a b")
        );
        assert_eq!(
            scope(serde_json::json!({"scp": "a b"})).as_deref(),
            Some("a b")
        );
        assert_eq!(
            scope(serde_json::json!({"scp": ["a", "b"]})).as_deref(),
            Some("a b")
        );
        assert_eq!(scope(serde_json::json!({"scp": [1]})), None);
        assert_eq!(scope(serde_json::json!({})), None);
    }
}
