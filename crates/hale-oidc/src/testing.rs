//! A real OpenID provider for tests (npm `oidc-provider`, in `tests/oidc-provider`), for this
//! crate's tests and any other crate's that enables the `testing` feature. Each
//! [`TestProvider`] is its own node process on a free loopback port, killed when dropped.
//!
//! Without node or without `tests/oidc-provider/node_modules` (`npm ci --prefix
//! tests/oidc-provider`), [`TestProvider::start`] fails when `CI` is set and otherwise answers
//! `None` after saying the test is skipped, so `cargo test` on a laptop without node still
//! passes.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, HeaderValue, LOCATION};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::relying_party::{ProviderConfig, default_scopes};
use crate::verifier::{IssuerConfig, unix_now};

/// The `aud` of the provider's access tokens.
pub const AUDIENCE: &str = "hale";
/// The resource indicator its access tokens are issued for.
pub const RESOURCE: &str = "https://hale.test/api";
/// The confidential client that gets access tokens with `client_credentials`.
pub const SERVICE_CLIENT_ID: &str = "hale-service";
pub const SERVICE_CLIENT_SECRET: &str = "hale-service-test-secret";
/// The confidential client for sign-in (authorization code + PKCE).
pub const WEB_CLIENT_ID: &str = "hale-web";
pub const WEB_CLIENT_SECRET: &str = "hale-web-test-secret";
/// The public client for sign-in (PKCE, no secret).
pub const PUBLIC_CLIENT_ID: &str = "hale-web-public";
/// The redirect URI registered when none is given; never fetched.
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1/oidc/callback";

/// Longest wait for the node process to say it is listening (a guard against a hung start,
/// not a measurement).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running provider and the key it signs with.
pub struct TestProvider {
    /// Its issuer URL, `http://127.0.0.1:<port>`.
    pub issuer: String,
    /// The signing key, PKCS#1 PEM, to mint tokens the provider could have issued.
    pub key_pem: String,
    /// The signing key's public half, SPKI PEM.
    pub public_key_pem: String,
    /// The signing key as a private JWK.
    pub private_jwk: Value,
    /// The signing key's kid.
    pub kid: String,
    /// A key the provider never publishes, PKCS#1 PEM.
    pub unpublished_key_pem: String,
    /// The redirect URI registered for the sign-in clients.
    pub redirect_uri: String,
    http: reqwest::Client,
    stderr: Arc<Mutex<String>>,
    child: tokio::process::Child,
    _keys: tempfile::TempDir,
}

impl std::fmt::Debug for TestProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestProvider")
            .field("issuer", &self.issuer)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Where the provider's package lives, found from this crate's manifest directory.
pub fn provider_directory() -> PathBuf {
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc-provider");
    directory.canonicalize().unwrap_or(directory)
}

fn skip_or_fail(reason: &str) -> Option<TestProvider> {
    let help = "run `npm ci --prefix tests/oidc-provider` (scripts/test does)";
    if std::env::var_os("CI").is_some() {
        panic!("the OpenID provider for tests cannot start: {reason}; {help}");
    }
    eprintln!("skipped: the OpenID provider for tests cannot start: {reason}; {help}");
    None
}

impl TestProvider {
    /// Starts a provider whose sign-in clients accept [`DEFAULT_REDIRECT_URI`].
    pub async fn start() -> Option<Self> {
        Self::start_with_redirect_uri(DEFAULT_REDIRECT_URI).await
    }

    /// Starts a provider whose sign-in clients accept `redirect_uri` (a server under test's
    /// own callback, say).
    pub async fn start_with_redirect_uri(redirect_uri: &str) -> Option<Self> {
        let directory = provider_directory();
        if !directory.join("node_modules/oidc-provider").is_dir() {
            return skip_or_fail(&format!("{} has no node_modules", directory.display()));
        }
        let keys = match tempfile::tempdir() {
            Ok(keys) => keys,
            Err(error) => panic!("cannot create a directory for the provider's keys: {error}"),
        };
        let spawned = tokio::process::Command::new("node")
            .arg("provider.mjs")
            .arg("--keys")
            .arg(keys.path())
            .arg("--redirect-uri")
            .arg(redirect_uri)
            .current_dir(&directory)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return skip_or_fail("node is not installed");
            }
            Err(error) => panic!("cannot run node: {error}"),
        };
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let stderr = stderr.clone();
            tokio::spawn(async move {
                let mut buffer = [0_u8; 4096];
                while let Ok(read @ 1..) = pipe.read(&mut buffer).await {
                    if let Ok(mut text) = stderr.lock()
                        && text.len() < 64 * 1024
                    {
                        text.push_str(&String::from_utf8_lossy(&buffer[..read]));
                    }
                }
            });
        }
        let Some(stdout) = child.stdout.take() else {
            panic!("the provider's stdout is not piped");
        };
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(START_TIMEOUT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(issuer) = line.strip_prefix("ready ") {
                    return Some(issuer.trim().to_owned());
                }
            }
            None
        })
        .await;
        let issuer = match ready {
            Ok(Some(issuer)) => issuer,
            _ => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                let output = stderr.lock().map(|s| s.clone()).unwrap_or_default();
                panic!("the OpenID provider did not start; its stderr:\n{output}");
            }
        };
        // Keep reading stdout so the process never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let read = |name: &str| match std::fs::read_to_string(keys.path().join(name)) {
            Ok(text) => text,
            Err(error) => panic!("the provider did not write {name}: {error}"),
        };
        let private_jwk = match serde_json::from_str(&read("jwk.json")) {
            Ok(jwk) => jwk,
            Err(error) => panic!("the provider wrote an unreadable jwk.json: {error}"),
        };
        let http = match reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(http) => http,
            Err(error) => panic!("cannot build an HTTP client: {error}"),
        };
        Some(Self {
            issuer,
            key_pem: read("key.pem"),
            public_key_pem: read("public.pem"),
            private_jwk,
            kid: read("kid").trim().to_owned(),
            unpublished_key_pem: read("unpublished.pem"),
            redirect_uri: redirect_uri.to_owned(),
            http,
            stderr,
            child,
            _keys: keys,
        })
    }

    /// Stops the provider and waits until it has exited, so its port is closed on return
    /// (dropping it only sends the kill).
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// What the provider wrote on stderr so far (its warnings), for a failing test's message.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Trust this provider's access tokens for [`AUDIENCE`].
    pub fn issuer_config(&self) -> IssuerConfig {
        IssuerConfig::new(&self.issuer, AUDIENCE)
    }

    /// Sign in with this provider as the confidential web client.
    pub fn provider_config(&self, name: &str) -> ProviderConfig {
        ProviderConfig {
            name: name.to_owned(),
            display_name: format!("Test provider {name}"),
            issuer: self.issuer.clone(),
            client_id: WEB_CLIENT_ID.to_owned(),
            client_secret: Some(WEB_CLIENT_SECRET.to_owned()),
            redirect_uri: self.redirect_uri.clone(),
            scopes: default_scopes(),
        }
    }

    /// Sign in with this provider as the public web client (PKCE, no secret).
    pub fn public_provider_config(&self, name: &str) -> ProviderConfig {
        ProviderConfig {
            client_id: PUBLIC_CLIENT_ID.to_owned(),
            client_secret: None,
            ..self.provider_config(name)
        }
    }

    /// A JWT access token for [`RESOURCE`] from the `client_credentials` grant.
    pub async fn client_credentials_token(&self, scope: &str) -> String {
        let body = form(&[
            ("grant_type", "client_credentials"),
            ("scope", scope),
            ("resource", RESOURCE),
        ]);
        let response = self
            .http
            .post(format!("{}/token", self.issuer))
            .basic_auth(SERVICE_CLIENT_ID, Some(SERVICE_CLIENT_SECRET))
            .header(CONTENT_TYPE, form_content_type())
            .body(body)
            .send()
            .await;
        let answer = match response {
            Ok(response) => response.json::<Value>().await,
            Err(error) => panic!("the token request failed: {error}"),
        };
        match answer
            .as_ref()
            .ok()
            .and_then(|a| a.get("access_token"))
            .and_then(Value::as_str)
        {
            Some(token) => token.to_owned(),
            None => panic!("the provider issued no access token: {answer:?}"),
        }
    }

    /// Follows an authorization URL as a browser would, logging in as `account_id` and
    /// consenting through the provider's development forms; answers the URL the provider
    /// redirects to at the redirect URI (with `code` and `state`, or an `error`).
    pub async fn sign_in(&self, authorization_url: &str, account_id: &str) -> String {
        let browser = match reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
        {
            Ok(browser) => browser,
            Err(error) => panic!("cannot build an HTTP client: {error}"),
        };
        let Ok(mut url) = Url::parse(authorization_url) else {
            panic!("not an authorization URL: {authorization_url}");
        };
        let redirect_uri = url
            .query_pairs()
            .find(|(name, _)| name == "redirect_uri")
            .map_or_else(
                || self.redirect_uri.clone(),
                |(_, value)| value.into_owned(),
            );
        let mut form_body: Option<String> = None;
        for _ in 0..20 {
            let request = match form_body.take() {
                None => browser.get(url.clone()),
                Some(body) => browser
                    .post(url.clone())
                    .header(CONTENT_TYPE, form_content_type())
                    .body(body),
            };
            let response = match request.send().await {
                Ok(response) => response,
                Err(error) => panic!("the sign-in request to {url} failed: {error}"),
            };
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .and_then(|l| url.join(l).ok());
                let Some(location) = location else {
                    panic!("a redirect without a usable Location from {url}");
                };
                let target = location.as_str();
                if target == redirect_uri || target.starts_with(&format!("{redirect_uri}?")) {
                    return location.into();
                }
                url = location;
                continue;
            }
            let html = response.text().await.unwrap_or_default();
            if !status.is_success() {
                panic!("the provider answered {status} at {url}:\n{html}");
            }
            let Some(action) = attribute_after(&html, "<form", "action") else {
                panic!("no form at {url}:\n{html}");
            };
            let Ok(action) = url.join(&action) else {
                panic!("an unusable form action at {url}");
            };
            let body = if html.contains(r#"name="prompt" value="login""#) {
                form(&[
                    ("prompt", "login"),
                    ("login", account_id),
                    ("password", "any"),
                ])
            } else if html.contains(r#"name="prompt" value="consent""#) {
                form(&[("prompt", "consent")])
            } else {
                panic!("neither a login nor a consent form at {url}:\n{html}");
            };
            url = action;
            form_body = Some(body);
        }
        panic!("the sign-in did not reach {redirect_uri} in 20 steps");
    }

    /// How often the provider's JWKS has been fetched, by anyone.
    pub async fn jwks_fetches(&self) -> u64 {
        self.stats("jwks").await
    }

    /// How often the provider's discovery document has been fetched, by anyone.
    pub async fn discovery_fetches(&self) -> u64 {
        self.stats("discovery").await
    }

    async fn stats(&self, name: &str) -> u64 {
        let stats = match self
            .http
            .get(format!("{}/_test/stats", self.issuer))
            .send()
            .await
        {
            Ok(response) => response.json::<Value>().await.ok(),
            Err(error) => panic!("cannot read the provider's counters: {error}"),
        };
        match stats
            .as_ref()
            .and_then(|s| s.get(name))
            .and_then(Value::as_u64)
        {
            Some(count) => count,
            None => panic!("the provider's counters lack {name}: {stats:?}"),
        }
    }

    /// Claims of a valid access token from this provider, to alter before [`Self::sign`].
    pub fn access_token_claims(&self) -> Map<String, Value> {
        let now = unix_now();
        let claims = json!({
            "iss": self.issuer,
            "sub": SERVICE_CLIENT_ID,
            "aud": AUDIENCE,
            "client_id": SERVICE_CLIENT_ID,
            "scope": "system/*.rs",
            "iat": now,
            "exp": now + 300,
            "jti": format!("test-{now}"),
        });
        match claims {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    /// A token with these claims, signed RS256 with the provider's own key and kid.
    pub fn sign(&self, claims: &Map<String, Value>) -> String {
        sign_rs256(&self.key_pem, Some(&self.kid), claims)
    }

    /// A token with these claims, signed RS256 with a key the provider never published,
    /// under `kid`.
    pub fn sign_with_unpublished_key(&self, kid: &str, claims: &Map<String, Value>) -> String {
        sign_rs256(&self.unpublished_key_pem, Some(kid), claims)
    }
}

fn sign_rs256(key_pem: &str, kid: Option<&str>, claims: &Map<String, Value>) -> String {
    let key = match EncodingKey::from_rsa_pem(key_pem.as_bytes()) {
        Ok(key) => key,
        Err(error) => panic!("the provider's key is not an RSA PEM: {error}"),
    };
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_owned);
    header.typ = Some("at+jwt".to_owned());
    match jsonwebtoken::encode(&header, claims, &key) {
        Ok(token) => token,
        Err(error) => panic!("cannot sign a test token: {error}"),
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn form_content_type() -> HeaderValue {
    HeaderValue::from_static("application/x-www-form-urlencoded")
}

/// The value of `attribute` in the first `element` tag of `html`, HTML entities undone.
fn attribute_after(html: &str, element: &str, attribute: &str) -> Option<String> {
    let tag = &html[html.find(element)?..];
    let tag = &tag[..tag.find('>')?];
    let start = tag.find(&format!("{attribute}=\""))? + attribute.len() + 2;
    let value = &tag[start..];
    let value = &value[..value.find('"')?];
    Some(
        value
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_actions_are_read_and_unescaped() {
        let html = r#"<p><form autocomplete="off" action="http://127.0.0.1:1/interaction/a?x=1&amp;y=2" method="post">"#;
        assert_eq!(
            attribute_after(html, "<form", "action").as_deref(),
            Some("http://127.0.0.1:1/interaction/a?x=1&y=2")
        );
        assert_eq!(attribute_after("<p>no form</p>", "<form", "action"), None);
    }
}
