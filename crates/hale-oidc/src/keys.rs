//! One issuer's discovery document and signing keys (its JWKS), fetched on first use and
//! cached. Keys are refreshed after `max_age`; a token naming an unknown `kid` (a rotation)
//! refetches the JWKS, but at most once per `min_refresh`, so a flood of made-up kids costs the
//! provider one request, not one per token. Concurrent callers share one fetch. While the
//! provider is unreachable, keys already fetched keep verifying.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use jsonwebtoken::{Algorithm, DecodingKey};
use reqwest::Url;
use serde::Deserialize;
use tokio::time::Instant;

use crate::error::TokenError;
use crate::fetch::{self, FetchError};

/// More keys than any provider publishes; the rest of a larger set is ignored.
const MAX_KEYS: usize = 100;
/// RSA keys below this are refused (NIST SP 800-131A); above it, verification cost grows for
/// nothing.
const MIN_RSA_BITS: usize = 2048;
const MAX_RSA_BITS: usize = 8192;

/// base64url as JWKs are written, tolerating the padding a few providers add.
const JWK_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What discovery tells: where the keys are and, for sign-in, the endpoints.
#[derive(Debug)]
pub(crate) struct Discovery {
    pub(crate) jwks_uri: Url,
    pub(crate) authorization_endpoint: Option<Url>,
    pub(crate) token_endpoint: Option<Url>,
    pub(crate) token_endpoint_auth_methods: Option<Vec<String>>,
    pub(crate) code_challenge_methods: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct RawDiscovery {
    issuer: String,
    jwks_uri: String,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    code_challenge_methods_supported: Option<Vec<String>>,
}

impl Discovery {
    /// The document must name exactly the issuer it was fetched for (Discovery 1.0 §4.3),
    /// and every URL in it must be one we would fetch.
    fn from_raw(raw: RawDiscovery, issuer: &str) -> Option<Self> {
        if raw.issuer != issuer {
            return None;
        }
        let endpoint = |value: Option<String>| -> Option<Option<Url>> {
            match value {
                None => Some(None),
                Some(text) => {
                    let url = Url::parse(&text).ok()?;
                    fetch::acceptable_url(&url).then_some(Some(url))
                }
            }
        };
        Some(Self {
            jwks_uri: endpoint(Some(raw.jwks_uri))??,
            authorization_endpoint: endpoint(raw.authorization_endpoint)?,
            token_endpoint: endpoint(raw.token_endpoint)?,
            token_endpoint_auth_methods: raw.token_endpoint_auth_methods_supported,
            code_challenge_methods: raw.code_challenge_methods_supported,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    P256,
    P384,
    Ed25519,
}

impl KeyKind {
    fn fits(self, algorithm: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            Self::Rsa => matches!(algorithm, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            Self::P256 => algorithm == ES256,
            Self::P384 => algorithm == ES384,
            Self::Ed25519 => algorithm == EdDSA,
        }
    }
}

/// One published verification key, with what the JWK says it may be used for.
pub(crate) struct PublishedKey {
    kid: Option<String>,
    alg: Option<String>,
    kind: KeyKind,
    /// False when `use` or `key_ops` say this key is not for verifying signatures.
    for_signatures: bool,
    pub(crate) key: DecodingKey,
}

impl PublishedKey {
    /// A key verifies a token only when its type, curve, `alg`, `use` and `key_ops` all agree
    /// with the token's algorithm.
    fn fits(&self, algorithm: Algorithm) -> bool {
        self.for_signatures
            && self.kind.fits(algorithm)
            && self
                .alg
                .as_deref()
                .is_none_or(|alg| alg.parse::<Algorithm>().ok() == Some(algorithm))
    }
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

/// The keys of one JWKS. Symmetric (`oct`) and unknown key types are dropped on reading: no
/// published key is ever used as an HMAC secret.
#[derive(Default)]
pub(crate) struct KeySet {
    keys: Vec<Arc<PublishedKey>>,
}

pub(crate) enum Selection {
    Found(Arc<PublishedKey>),
    /// A key with the token's kid exists, but not for this algorithm.
    Incompatible,
    Missing,
}

impl KeySet {
    fn from_raw(raw: RawJwks) -> Self {
        let keys = raw
            .keys
            .into_iter()
            .take(MAX_KEYS)
            .filter_map(|value| serde_json::from_value::<RawJwk>(value).ok())
            .filter_map(published_key)
            .map(Arc::new)
            .collect();
        Self { keys }
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The key for a token: the one with its kid that fits its algorithm; a token without a
    /// kid only when exactly one key fits.
    pub(crate) fn select(&self, kid: Option<&str>, algorithm: Algorithm) -> Selection {
        match kid {
            Some(kid) => {
                let mut named = self
                    .keys
                    .iter()
                    .filter(|key| key.kid.as_deref() == Some(kid))
                    .peekable();
                if named.peek().is_none() {
                    return Selection::Missing;
                }
                named
                    .find(|key| key.fits(algorithm))
                    .map_or(Selection::Incompatible, |key| Selection::Found(key.clone()))
            }
            None => {
                let mut fitting = self.keys.iter().filter(|key| key.fits(algorithm));
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => Selection::Found(key.clone()),
                    _ => Selection::Missing,
                }
            }
        }
    }
}

fn published_key(raw: RawJwk) -> Option<PublishedKey> {
    let (kind, key) = match raw.kty.as_str() {
        "RSA" => {
            let n = JWK_BASE64.decode(raw.n?).ok()?;
            let e = JWK_BASE64.decode(raw.e?).ok()?;
            let n = strip_leading_zeros(&n);
            let bits = n.len() * 8 - n.first().map_or(8, |byte| byte.leading_zeros() as usize);
            if !(MIN_RSA_BITS..=MAX_RSA_BITS).contains(&bits) || e.is_empty() || e.len() > 8 {
                return None;
            }
            (
                KeyKind::Rsa,
                DecodingKey::from_rsa_raw_components(n, strip_leading_zeros(&e)),
            )
        }
        "EC" => {
            let (kind, size) = match raw.crv.as_deref()? {
                "P-256" => (KeyKind::P256, 32),
                "P-384" => (KeyKind::P384, 48),
                _ => return None,
            };
            let x = JWK_BASE64.decode(raw.x?).ok()?;
            let y = JWK_BASE64.decode(raw.y?).ok()?;
            if x.len() != size || y.len() != size {
                return None;
            }
            let key = DecodingKey::from_ec_components(
                &URL_SAFE_NO_PAD.encode(x),
                &URL_SAFE_NO_PAD.encode(y),
            )
            .ok()?;
            (kind, key)
        }
        "OKP" => {
            if raw.crv.as_deref()? != "Ed25519" {
                return None;
            }
            let x = JWK_BASE64.decode(raw.x?).ok()?;
            if x.len() != 32 {
                return None;
            }
            let key = DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(x)).ok()?;
            (KeyKind::Ed25519, key)
        }
        _ => return None,
    };
    let for_signatures = raw.use_.as_deref().is_none_or(|use_| use_ == "sig")
        && raw
            .key_ops
            .as_ref()
            .is_none_or(|ops| ops.iter().any(|op| op == "verify"));
    Some(PublishedKey {
        kid: raw.kid,
        alg: raw.alg,
        kind,
        for_signatures,
        key,
    })
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|byte| *byte != 0)
        .unwrap_or(bytes.len());
    &bytes[start..]
}

#[derive(Default)]
struct Snapshot {
    /// Bumped whenever a JWKS fetch succeeds, so a caller that waited for a refresh can tell
    /// that one happened while it waited.
    keys_generation: u64,
    keys: Arc<KeySet>,
    keys_fetched_at: Option<Instant>,
    discovery: Option<Arc<Discovery>>,
    discovered_at: Option<Instant>,
}

#[derive(Default)]
struct RefreshState {
    jwks_attempt: Option<Instant>,
    jwks_failed: bool,
    discovery_failed_at: Option<Instant>,
}

/// The cached documents of one issuer.
pub(crate) struct KeyCache {
    issuer: String,
    discovery_url: Url,
    http: reqwest::Client,
    min_refresh: Duration,
    max_age: Duration,
    current: RwLock<Arc<Snapshot>>,
    /// Held by the one caller that fetches; the others wait for it rather than fetch too.
    refresh: tokio::sync::Mutex<RefreshState>,
}

impl KeyCache {
    pub(crate) fn new(
        issuer: String,
        discovery_url: Url,
        http: reqwest::Client,
        min_refresh: Duration,
        max_age: Duration,
    ) -> Self {
        Self {
            issuer,
            discovery_url,
            http,
            min_refresh,
            max_age,
            current: RwLock::new(Arc::new(Snapshot::default())),
            refresh: tokio::sync::Mutex::new(RefreshState::default()),
        }
    }

    /// How many keys are cached and how long ago they were fetched (`None`: never yet).
    pub(crate) fn status(&self) -> (usize, Option<Duration>) {
        let snapshot = self.snapshot();
        (
            snapshot.keys.len(),
            snapshot.keys_fetched_at.map(|at| at.elapsed()),
        )
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        // A poisoned lock still holds a whole Arc: writers only swap it.
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn store(&self, snapshot: Snapshot) -> Arc<Snapshot> {
        let snapshot = Arc::new(snapshot);
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = snapshot.clone();
        snapshot
    }

    fn fresh(&self, at: Option<Instant>, now: Instant) -> bool {
        at.is_some_and(|at| now.duration_since(at) < self.max_age)
    }

    fn recent(&self, at: Option<Instant>, now: Instant) -> bool {
        at.is_some_and(|at| now.duration_since(at) < self.min_refresh)
    }

    /// The key that verifies a token with this kid and algorithm.
    pub(crate) async fn key_for(
        &self,
        kid: Option<&str>,
        algorithm: Algorithm,
    ) -> Result<Arc<PublishedKey>, TokenError> {
        let seen = self.snapshot();
        let selection = seen.keys.select(kid, algorithm);
        let mut state = if self.fresh(seen.keys_fetched_at, Instant::now()) {
            match selection {
                Selection::Found(key) => return Ok(key),
                Selection::Incompatible => return Err(TokenError::DisallowedAlgorithm),
                Selection::Missing => self.refresh.lock().await,
            }
        } else if let Selection::Found(key) = selection {
            // Stale but known: refresh if nobody else is, and never make this caller wait.
            match self.refresh.try_lock() {
                Ok(state) => state,
                Err(_) => return Ok(key),
            }
        } else {
            self.refresh.lock().await
        };

        let current = self.snapshot();
        if current.keys_fetched_at.is_some() && current.keys_generation != seen.keys_generation {
            return outcome(current.keys.select(kid, algorithm), state.jwks_failed);
        }
        let now = Instant::now();
        if self.recent(state.jwks_attempt, now) {
            return outcome(current.keys.select(kid, algorithm), state.jwks_failed);
        }
        state.jwks_attempt = Some(now);
        // Stays set if this fetch is cancelled halfway, so waiters answer "unavailable".
        state.jwks_failed = true;
        let Some((discovery, discovered_at)) = self.discovery_in(&mut state, &current, now).await
        else {
            return outcome(current.keys.select(kid, algorithm), true);
        };
        match fetch::get_json::<RawJwks>(&self.http, &discovery.jwks_uri).await {
            Ok(raw) => {
                let keys = KeySet::from_raw(raw);
                tracing::debug!(issuer = %self.issuer, keys = keys.len(), "fetched signing keys");
                state.jwks_failed = false;
                let stored = self.store(Snapshot {
                    keys_generation: current.keys_generation + 1,
                    keys: Arc::new(keys),
                    keys_fetched_at: Some(now),
                    discovery: Some(discovery),
                    discovered_at,
                });
                outcome(stored.keys.select(kid, algorithm), false)
            }
            Err(error) => {
                tracing::warn!(issuer = %self.issuer, %error, "could not fetch signing keys");
                outcome(current.keys.select(kid, algorithm), true)
            }
        }
    }

    /// The discovery document, fetched on first use and after `max_age`.
    pub(crate) async fn discovery(&self) -> Option<Arc<Discovery>> {
        let seen = self.snapshot();
        if self.fresh(seen.discovered_at, Instant::now()) {
            return seen.discovery.clone();
        }
        let mut state = self.refresh.lock().await;
        let current = self.snapshot();
        let now = Instant::now();
        let (discovery, discovered_at) = self.discovery_in(&mut state, &current, now).await?;
        if discovered_at != current.discovered_at {
            self.store(Snapshot {
                keys_generation: current.keys_generation,
                keys: current.keys.clone(),
                keys_fetched_at: current.keys_fetched_at,
                discovery: Some(discovery.clone()),
                discovered_at,
            });
        }
        Some(discovery)
    }

    /// The discovery document to use now: the cached one while fresh, else a new fetch (not
    /// retried within `min_refresh` of a failure), else the stale one.
    async fn discovery_in(
        &self,
        state: &mut RefreshState,
        current: &Snapshot,
        now: Instant,
    ) -> Option<(Arc<Discovery>, Option<Instant>)> {
        let cached = current
            .discovery
            .clone()
            .map(|d| (d, current.discovered_at));
        if self.fresh(current.discovered_at, now) || self.recent(state.discovery_failed_at, now) {
            return cached;
        }
        let fetched = fetch::get_json::<RawDiscovery>(&self.http, &self.discovery_url)
            .await
            .and_then(|raw| Discovery::from_raw(raw, &self.issuer).ok_or(FetchError::NotJson));
        match fetched {
            Ok(discovery) => {
                state.discovery_failed_at = None;
                Some((Arc::new(discovery), Some(now)))
            }
            Err(error) => {
                tracing::warn!(issuer = %self.issuer, %error, "could not fetch the discovery document");
                state.discovery_failed_at = Some(now);
                cached
            }
        }
    }
}

fn outcome(selection: Selection, fetch_failed: bool) -> Result<Arc<PublishedKey>, TokenError> {
    match selection {
        Selection::Found(key) => Ok(key),
        Selection::Incompatible => Err(TokenError::DisallowedAlgorithm),
        Selection::Missing if fetch_failed => Err(TokenError::ProviderUnavailable),
        Selection::Missing => Err(TokenError::UnknownKey),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rsa_jwk(kid: &str, extra: serde_json::Value) -> serde_json::Value {
        let mut n = vec![0xc5_u8];
        n.extend(std::iter::repeat_n(0x17, 255));
        let mut jwk = serde_json::json!({
            "kty": "RSA", "kid": kid, "n": URL_SAFE_NO_PAD.encode(&n), "e": "AQAB",
        });
        if let (Some(jwk), Some(extra)) = (jwk.as_object_mut(), extra.as_object()) {
            jwk.extend(extra.clone());
        }
        jwk
    }

    fn set(keys: Vec<serde_json::Value>) -> KeySet {
        KeySet::from_raw(RawJwks { keys })
    }

    #[test]
    fn keys_are_chosen_by_kid_and_must_fit_the_algorithm() {
        let keys = set(vec![
            rsa_jwk("a", serde_json::json!({"alg": "RS256", "use": "sig"})),
            rsa_jwk("enc", serde_json::json!({"use": "enc"})),
            rsa_jwk("ops", serde_json::json!({"key_ops": ["encrypt"]})),
        ]);
        assert!(matches!(
            keys.select(Some("a"), Algorithm::RS256),
            Selection::Found(_)
        ));
        assert!(matches!(
            keys.select(Some("a"), Algorithm::PS256),
            Selection::Incompatible
        ));
        assert!(matches!(
            keys.select(Some("a"), Algorithm::ES256),
            Selection::Incompatible
        ));
        assert!(matches!(
            keys.select(Some("enc"), Algorithm::RS256),
            Selection::Incompatible
        ));
        assert!(matches!(
            keys.select(Some("ops"), Algorithm::RS256),
            Selection::Incompatible
        ));
        assert!(matches!(
            keys.select(Some("b"), Algorithm::RS256),
            Selection::Missing
        ));
        // Without a kid, only a single fitting key is used.
        assert!(matches!(
            keys.select(None, Algorithm::RS256),
            Selection::Found(_)
        ));
        let two = set(vec![
            rsa_jwk("a", serde_json::json!({})),
            rsa_jwk("b", serde_json::json!({})),
        ]);
        assert!(matches!(
            two.select(None, Algorithm::RS256),
            Selection::Missing
        ));
    }

    #[test]
    fn symmetric_weak_and_broken_keys_are_dropped() {
        let mut short = vec![0xc5_u8];
        short.extend(std::iter::repeat_n(0x17, 127));
        let keys = set(vec![
            serde_json::json!({"kty": "oct", "kid": "h", "k": "c2VjcmV0"}),
            serde_json::json!({"kty": "RSA", "kid": "short", "n": URL_SAFE_NO_PAD.encode(&short), "e": "AQAB"}),
            serde_json::json!({"kty": "RSA", "kid": "no-e", "n": "AQAB"}),
            serde_json::json!({"kty": "EC", "kid": "ec", "crv": "P-256", "x": "AQAB", "y": "AQAB"}),
            serde_json::json!({"kty": "OKP", "kid": "x448", "crv": "Ed448", "x": "AQAB"}),
            serde_json::json!({"kty": 7}),
            serde_json::json!("not an object"),
        ]);
        assert_eq!(keys.len(), 0);
    }

    #[test]
    fn discovery_must_name_its_issuer_and_use_acceptable_urls() {
        let raw = |issuer: &str, jwks: &str| RawDiscovery {
            issuer: issuer.to_owned(),
            jwks_uri: jwks.to_owned(),
            authorization_endpoint: None,
            token_endpoint: None,
            token_endpoint_auth_methods_supported: None,
            code_challenge_methods_supported: None,
        };
        let issuer = "https://login.example.com";
        assert!(
            Discovery::from_raw(raw(issuer, "https://login.example.com/jwks"), issuer).is_some()
        );
        assert!(
            Discovery::from_raw(
                raw("https://evil.example", "https://login.example.com/jwks"),
                issuer
            )
            .is_none()
        );
        assert!(
            Discovery::from_raw(
                raw(
                    "https://login.example.com/",
                    "https://login.example.com/jwks"
                ),
                issuer
            )
            .is_none()
        );
        assert!(
            Discovery::from_raw(raw(issuer, "http://login.example.com/jwks"), issuer).is_none()
        );
    }
}
