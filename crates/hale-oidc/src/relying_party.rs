//! The relying-party side, "Sign in with …": the authorization code flow with PKCE (S256), a
//! state that ties the callback to the browser that started it, and a nonce that ties the ID
//! token to this login. The ID token is verified with the same key cache as access tokens,
//! with `aud` = the client id.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::Url;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{ConfigError, LoginError, TokenError};
use crate::fetch;
use crate::keys::{Discovery, KeyCache};
use crate::token::{self, Expected};
use crate::verifier::{DEFAULT_ALGORITHMS, unix_now, verify_signature};

/// A login not finished within this many seconds of `begin` is refused.
pub const PENDING_LOGIN_MAX_AGE_SECONDS: i64 = 600;
/// Clock skew allowed on the ID token.
const ID_TOKEN_LEEWAY_SECONDS: i64 = 60;
/// Longest authorization code accepted from a callback.
const MAX_CODE_BYTES: usize = 2048;
/// Keys and discovery of a sign-in provider are cached like an issuer's (see `IssuerConfig`).
const MIN_REFRESH: Duration = Duration::from_secs(30);
const MAX_AGE: Duration = Duration::from_secs(600);
/// The token endpoint's error codes (RFC 6749 §5.2).
const STANDARD_ERRORS: [&str; 6] = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
];

/// The scopes asked for when a configuration names none.
pub fn default_scopes() -> Vec<String> {
    ["openid", "profile", "email"].map(String::from).to_vec()
}

/// One sign-in provider.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Identifies the provider in URLs and in `PendingLogin` (`entra`, `keycloak`): 1–64 of
    /// `a-z`, `0-9`, `-`, `_`.
    pub name: String,
    /// What the sign-in button says.
    pub display_name: String,
    pub issuer: String,
    pub client_id: String,
    /// A confidential client's secret (sent with HTTP Basic, or in the form when the provider
    /// only supports that); `None` for a public client, which PKCE alone protects.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Hale's callback, exactly as registered with the provider.
    pub redirect_uri: String,
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("name", &self.name)
            .field("display_name", &self.display_name)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("redirect_uri", &self.redirect_uri)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// What the server keeps between `begin` and `finish` (server-side, or sealed in a cookie: it
/// holds the PKCE verifier, which must not reach the browser in the clear).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLogin {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub provider: String,
    /// Unix seconds when the login began.
    pub created_at: i64,
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("state", &self.state)
            .field("nonce", &"[redacted]")
            .field("pkce_verifier", &"[redacted]")
            .field("provider", &self.provider)
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A completed sign-in: the provider's account, by its issuer and subject, and the ID token's
/// claims (name, e-mail, groups…) for the core to map onto a principal.
#[derive(Clone, PartialEq)]
pub struct SignedIn {
    pub issuer: String,
    pub subject: String,
    pub claims: Map<String, Value>,
}

/// Claims are personal data: only their names are shown.
impl fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedIn")
            .field("issuer", &self.issuer)
            .field("subject", &self.subject)
            .field("claims", &self.claims.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Signs people in with one provider. Cheap to clone; clones share the provider's cached
/// discovery document and keys.
#[derive(Clone)]
pub struct RelyingParty {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    display_name: String,
    issuer: String,
    client_id: String,
    client_secret: Option<Zeroizing<String>>,
    redirect_uri: String,
    scope: String,
    http: reqwest::Client,
    keys: KeyCache,
}

impl fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelyingParty")
            .field("name", &self.inner.name)
            .field("issuer", &self.inner.issuer)
            .finish_non_exhaustive()
    }
}

impl RelyingParty {
    /// Checks the configuration; fetches nothing (discovery happens on the first `begin`).
    pub fn new(config: ProviderConfig) -> Result<Self, ConfigError> {
        let name_ok = (1..=64).contains(&config.name.len())
            && config
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(ConfigError::InvalidProviderName);
        }
        let provider = config.name.clone();
        let text_ok = |text: &str| !text.is_empty() && !text.chars().any(char::is_control);
        for (field, value) in [
            ("display_name", &config.display_name),
            ("client_id", &config.client_id),
        ] {
            if !text_ok(value) {
                return Err(ConfigError::InvalidField {
                    provider: provider.clone(),
                    field,
                });
            }
        }
        if config.client_secret.as_deref().is_some_and(|s| !text_ok(s)) {
            return Err(ConfigError::InvalidField {
                provider,
                field: "client_secret",
            });
        }
        let discovery_url = fetch::discovery_url(&config.issuer).ok_or_else(|| {
            ConfigError::InvalidProviderIssuer {
                provider: provider.clone(),
            }
        })?;
        let redirect_ok = Url::parse(&config.redirect_uri)
            .is_ok_and(|url| fetch::acceptable_url(&url) && url.fragment().is_none());
        if !redirect_ok {
            return Err(ConfigError::InvalidRedirectUri { provider });
        }
        // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
        let scope_ok = |scope: &String| {
            !scope.is_empty()
                && scope
                    .bytes()
                    .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
        };
        if !config.scopes.iter().all(scope_ok) || !config.scopes.iter().any(|s| s == "openid") {
            return Err(ConfigError::InvalidScopes { provider });
        }
        let http = fetch::http_client()?;
        let keys = KeyCache::new(
            config.issuer.clone(),
            discovery_url,
            http.clone(),
            MIN_REFRESH,
            MAX_AGE,
        );
        Ok(Self {
            inner: Arc::new(Inner {
                name: config.name,
                display_name: config.display_name,
                issuer: config.issuer,
                client_id: config.client_id,
                client_secret: config.client_secret.map(Zeroizing::new),
                redirect_uri: config.redirect_uri,
                scope: config.scopes.join(" "),
                http,
                keys,
            }),
        })
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub fn display_name(&self) -> &str {
        &self.inner.display_name
    }

    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// Starts a sign-in: the URL to send the browser to, and what to keep until the callback.
    pub async fn begin(&self) -> Result<(String, PendingLogin), LoginError> {
        let inner = &self.inner;
        let discovery = self.discovery().await?;
        let endpoint = discovery
            .authorization_endpoint
            .as_ref()
            .ok_or(LoginError::ProviderUnavailable)?;
        if discovery
            .code_challenge_methods
            .as_ref()
            .is_some_and(|methods| !methods.iter().any(|m| m == "S256"))
        {
            return Err(LoginError::ProviderUnavailable);
        }
        let pending = PendingLogin {
            state: random_token()?,
            nonce: random_token()?,
            pkce_verifier: random_token()?,
            provider: inner.name.clone(),
            created_at: unix_now(),
        };
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(pending.pkce_verifier.as_bytes()));
        let mut url = endpoint.clone();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &inner.client_id)
            .append_pair("redirect_uri", &inner.redirect_uri)
            .append_pair("scope", &inner.scope)
            .append_pair("state", &pending.state)
            .append_pair("nonce", &pending.nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        Ok((url.into(), pending))
    }

    /// Completes a sign-in from the callback's `code` and `state`: checks the state, redeems
    /// the code with the PKCE verifier, and verifies the ID token (signature, `iss`, `aud` =
    /// client id, `azp`, `exp`, `nonce`).
    pub async fn finish(
        &self,
        pending: &PendingLogin,
        code: &str,
        returned_state: &str,
    ) -> Result<SignedIn, LoginError> {
        let inner = &self.inner;
        if pending.provider != inner.name {
            return Err(LoginError::WrongProvider);
        }
        if !bool::from(pending.state.as_bytes().ct_eq(returned_state.as_bytes())) {
            return Err(LoginError::StateMismatch);
        }
        let now = unix_now();
        let age = now.saturating_sub(pending.created_at);
        if !(-ID_TOKEN_LEEWAY_SECONDS..=PENDING_LOGIN_MAX_AGE_SECONDS).contains(&age) {
            return Err(LoginError::Expired);
        }
        if code.is_empty()
            || code.len() > MAX_CODE_BYTES
            || !code.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(LoginError::InvalidCallback);
        }
        let discovery = self.discovery().await?;
        let id_token = self.redeem(&discovery, pending, code).await?;
        let unverified = token::parse(&id_token).map_err(LoginError::InvalidIdToken)?;
        if unverified
            .header
            .typ
            .as_deref()
            .is_some_and(|typ| typ.eq_ignore_ascii_case("at+jwt"))
        {
            // An access token is not an ID token, whoever it is for.
            return Err(LoginError::InvalidIdToken(TokenError::Malformed));
        }
        if unverified
            .claimed_issuer()
            .map_err(LoginError::InvalidIdToken)?
            != inner.issuer
        {
            return Err(LoginError::InvalidIdToken(TokenError::UnknownIssuer));
        }
        verify_signature(&unverified, &inner.keys, &DEFAULT_ALGORITHMS)
            .await
            .map_err(LoginError::InvalidIdToken)?;
        let checked = token::check_claims(
            &unverified.claims,
            &Expected {
                issuer: &inner.issuer,
                audience: &inner.client_id,
                leeway: ID_TOKEN_LEEWAY_SECONDS,
                now,
            },
        )
        .map_err(LoginError::InvalidIdToken)?;
        let claims = unverified.claims;
        // OpenID Connect Core §3.1.3.7: an `azp`, when present, must be this client.
        if claims
            .get("azp")
            .is_some_and(|azp| azp.as_str() != Some(inner.client_id.as_str()))
        {
            return Err(LoginError::InvalidIdToken(TokenError::WrongAudience));
        }
        let nonce_matches = claims
            .get("nonce")
            .and_then(Value::as_str)
            .is_some_and(|nonce| bool::from(nonce.as_bytes().ct_eq(pending.nonce.as_bytes())));
        if !nonce_matches {
            return Err(LoginError::NonceMismatch);
        }
        Ok(SignedIn {
            issuer: inner.issuer.clone(),
            subject: checked.subject,
            claims,
        })
    }

    async fn discovery(&self) -> Result<Arc<Discovery>, LoginError> {
        self.inner
            .keys
            .discovery()
            .await
            .ok_or(LoginError::ProviderUnavailable)
    }

    /// Exchanges the code at the token endpoint; answers the ID token.
    async fn redeem(
        &self,
        discovery: &Discovery,
        pending: &PendingLogin,
        code: &str,
    ) -> Result<String, LoginError> {
        let inner = &self.inner;
        let endpoint = discovery
            .token_endpoint
            .as_ref()
            .ok_or(LoginError::ProviderUnavailable)?;
        // Built in a block: the serializer holds a non-`Sync` encoder and must be gone before
        // the first await, or the future is not `Send`.
        let (body, authorization) = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "authorization_code")
                .append_pair("code", code)
                .append_pair("redirect_uri", &inner.redirect_uri)
                .append_pair("code_verifier", &pending.pkce_verifier);
            let mut authorization = None;
            match &inner.client_secret {
                None => {
                    form.append_pair("client_id", &inner.client_id);
                }
                Some(secret) if self.secret_in_form(discovery) => {
                    form.append_pair("client_id", &inner.client_id);
                    form.append_pair("client_secret", secret);
                }
                Some(secret) => {
                    let mut value = basic_credentials(&inner.client_id, secret)
                        .map_err(|_| LoginError::ProviderRefused)?;
                    value.set_sensitive(true);
                    authorization = Some(value);
                }
            }
            (Zeroizing::new(form.finish()), authorization)
        };
        let mut request = inner
            .http
            .post(endpoint.clone())
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            );
        if let Some(value) = authorization {
            request = request.header(AUTHORIZATION, value);
        }
        let response = request
            .body(body.as_str().to_owned())
            .send()
            .await
            .map_err(|_| LoginError::ProviderUnavailable)?;
        let status = response.status();
        let bytes = fetch::read_capped(response)
            .await
            .map_err(|_| LoginError::ProviderUnavailable)?;
        if status.is_server_error() {
            return Err(LoginError::ProviderUnavailable);
        }
        if !status.is_success() {
            #[derive(Deserialize)]
            struct ErrorAnswer {
                error: String,
            }
            // Only the standard codes (RFC 6749 §5.2) are logged: the rest is the provider's text.
            let error = hale_domain::json::from_slice::<ErrorAnswer>(&bytes)
                .ok()
                .and_then(|answer| {
                    STANDARD_ERRORS
                        .into_iter()
                        .find(|code| *code == answer.error)
                })
                .unwrap_or("other");
            tracing::info!(
                provider = %inner.name,
                status = status.as_u16(),
                error,
                "the token endpoint refused an authorization code"
            );
            return Err(if error == "invalid_grant" {
                LoginError::CodeRejected
            } else {
                LoginError::ProviderRefused
            });
        }
        #[derive(Deserialize)]
        struct TokenAnswer {
            id_token: Option<String>,
        }
        let answer: TokenAnswer =
            hale_domain::json::from_slice(&bytes).map_err(|_| LoginError::ProviderUnavailable)?;
        answer.id_token.ok_or(LoginError::ProviderRefused)
    }

    /// `client_secret_basic` unless the provider says it only takes `client_secret_post`.
    fn secret_in_form(&self, discovery: &Discovery) -> bool {
        discovery
            .token_endpoint_auth_methods
            .as_ref()
            .is_some_and(|methods| {
                !methods.iter().any(|m| m == "client_secret_basic")
                    && methods.iter().any(|m| m == "client_secret_post")
            })
    }
}

/// HTTP Basic credentials as RFC 6749 §2.3.1 wants them: id and secret form-urlencoded first.
fn basic_credentials(
    client_id: &str,
    secret: &str,
) -> Result<HeaderValue, reqwest::header::InvalidHeaderValue> {
    let encode = |text: &str| form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    let credentials = Zeroizing::new(format!("{}:{}", encode(client_id), encode(secret)));
    let value = Zeroizing::new(format!("Basic {}", STANDARD.encode(credentials.as_bytes())));
    HeaderValue::from_str(&value)
}

/// 32 random bytes, base64url: 43 characters, within PKCE's 43–128 for the verifier.
fn random_token() -> Result<String, LoginError> {
    let mut bytes = Zeroizing::new([0_u8; 32]);
    getrandom::fill(bytes.as_mut_slice()).map_err(|_| LoginError::RandomnessUnavailable)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes.as_slice()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ProviderConfig {
        ProviderConfig {
            name: "entra".into(),
            display_name: "Microsoft".into(),
            issuer: "https://login.example.com/tenant/v2.0".into(),
            client_id: "hale".into(),
            client_secret: Some("hunter2".into()),
            redirect_uri: "https://hale.example/auth/oidc/entra/callback".into(),
            scopes: default_scopes(),
        }
    }

    #[test]
    fn configuration_is_checked_up_front() {
        assert!(RelyingParty::new(config()).is_ok());
        let refused = |change: fn(&mut ProviderConfig)| {
            let mut config = config();
            change(&mut config);
            RelyingParty::new(config).err()
        };
        assert_eq!(
            refused(|c| c.name = "Entra ID".into()),
            Some(ConfigError::InvalidProviderName)
        );
        assert_eq!(
            refused(|c| c.name = String::new()),
            Some(ConfigError::InvalidProviderName)
        );
        assert!(matches!(
            refused(|c| c.client_id.clear()),
            Some(ConfigError::InvalidField {
                field: "client_id",
                ..
            })
        ));
        assert!(matches!(
            refused(|c| c.issuer = "http://idp.example".into()),
            Some(ConfigError::InvalidProviderIssuer { .. })
        ));
        assert!(matches!(
            refused(|c| c.redirect_uri = "http://hale.example/cb".into()),
            Some(ConfigError::InvalidRedirectUri { .. })
        ));
        assert!(matches!(
            refused(|c| c.redirect_uri = "https://hale.example/cb#x".into()),
            Some(ConfigError::InvalidRedirectUri { .. })
        ));
        assert!(matches!(
            refused(|c| c.scopes = vec!["profile".into()]),
            Some(ConfigError::InvalidScopes { .. })
        ));
        assert!(matches!(
            refused(|c| c.scopes.push("two words".into())),
            Some(ConfigError::InvalidScopes { .. })
        ));
        assert!(refused(|c| c.redirect_uri = "http://127.0.0.1:8080/cb".into()).is_none());
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let text = format!("{:?}", config());
        assert!(!text.contains("hunter2"), "{text}");
        let pending = PendingLogin {
            state: "s".into(),
            nonce: "the-nonce".into(),
            pkce_verifier: "the-verifier".into(),
            provider: "entra".into(),
            created_at: 0,
        };
        let text = format!("{pending:?}");
        assert!(
            !text.contains("the-verifier") && !text.contains("the-nonce"),
            "{text}"
        );
    }

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        let value = basic_credentials("a b", "p:w");
        let expected = format!("Basic {}", STANDARD.encode("a+b:p%3Aw"));
        assert_eq!(
            value.ok().as_ref().and_then(|v| v.to_str().ok()),
            Some(expected.as_str())
        );
    }

    #[test]
    fn random_tokens_are_pkce_sized_and_differ() {
        let one = random_token().ok();
        let two = random_token().ok();
        assert_eq!(one.as_ref().map(String::len), Some(43));
        assert_ne!(one, two);
    }
}
