//! Talking to providers: one HTTP client (rustls, a 5 s timeout, no redirects), a 1 MiB cap on
//! every answer read as it streams in, and the URL policy (https, plain http only on loopback).
//! A provider is outside Hale's trust boundary until its keys verify something, so nothing it
//! sends is allowed to stall a request or fill memory.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{ACCEPT, HeaderValue};
use serde::de::DeserializeOwned;

use crate::error::ConfigError;

/// Longest a discovery, JWKS or token request may take, connection included.
pub(crate) const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer read from a provider; a JWKS is a few KB.
pub(crate) const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// Why a provider document could not be had. Kept for logs only: callers fold every case into
/// "provider unavailable".
#[derive(Debug)]
pub(crate) enum FetchError {
    Transport,
    Status(u16),
    TooLarge,
    NotJson,
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Transport => f.write_str("the request failed or timed out"),
            Self::Status(status) => write!(f, "the provider answered HTTP {status}"),
            Self::TooLarge => write!(f, "the answer exceeds {MAX_DOCUMENT_BYTES} bytes"),
            Self::NotJson => f.write_str("the answer is not the JSON document expected"),
        }
    }
}

/// The client every provider request goes through. Redirects are not followed: discovery and
/// JWKS locations are published, and a redirect could steer key fetches elsewhere.
pub(crate) fn http_client() -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("hale/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|_| ConfigError::HttpClient)
}

/// Whether `url` may be fetched or redirected to: `https`, or `http` to a loopback address (a
/// provider on the same machine, as in tests); never with credentials or a fragment.
pub(crate) fn acceptable_url(url: &Url) -> bool {
    let scheme_ok = match url.scheme() {
        "https" => true,
        "http" => is_loopback(url),
        _ => false,
    };
    scheme_ok
        && url.has_host()
        && url.username().is_empty()
        && url.password().is_none()
        && url.fragment().is_none()
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(address)) => IpAddr::V4(address).is_loopback(),
        Some(url::Host::Ipv6(address)) => IpAddr::V6(address).is_loopback(),
        None => false,
    }
}

/// Parses an issuer identifier as OpenID Connect requires it: an acceptable URL without query.
pub(crate) fn issuer_url(issuer: &str) -> Option<Url> {
    let url = Url::parse(issuer).ok()?;
    (acceptable_url(&url) && url.query().is_none()).then_some(url)
}

/// `{issuer}/.well-known/openid-configuration`, the issuer's path kept (OpenID Connect
/// Discovery 1.0 §4).
pub(crate) fn discovery_url(issuer: &str) -> Option<Url> {
    issuer_url(issuer)?;
    Url::parse(&format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    ))
    .ok()
}

/// GETs a JSON document, read through Hale's strict JSON reader (a key repeated in one object
/// is refused, so no two readers can see two documents).
pub(crate) async fn get_json<T: DeserializeOwned>(
    client: &reqwest::Client,
    url: &Url,
) -> Result<T, FetchError> {
    let response = client
        .get(url.clone())
        .header(ACCEPT, HeaderValue::from_static("application/json"))
        .send()
        .await
        .map_err(|_| FetchError::Transport)?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Status(status.as_u16()));
    }
    let body = read_capped(response).await?;
    hale_domain::json::from_slice(&body).map_err(|_| FetchError::NotJson)
}

/// Reads a whole answer, refusing it once it passes [`MAX_DOCUMENT_BYTES`]. The buffer grows
/// with what arrives, never with what `Content-Length` claims.
pub(crate) async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, FetchError> {
    if response
        .content_length()
        .is_some_and(|length| length > MAX_DOCUMENT_BYTES as u64)
    {
        return Err(FetchError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|_| FetchError::Transport)? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_must_be_https_except_on_loopback() {
        assert!(issuer_url("https://login.example.com/tenant/v2.0").is_some());
        assert!(issuer_url("http://127.0.0.1:8080").is_some());
        assert!(issuer_url("http://localhost:8080/realms/hale").is_some());
        assert!(issuer_url("http://[::1]:8080").is_some());
        assert!(issuer_url("http://login.example.com").is_none());
        assert!(issuer_url("http://10.0.0.1").is_none());
        assert!(issuer_url("https://user:secret@login.example.com").is_none());
        assert!(issuer_url("https://login.example.com/?tenant=1").is_none());
        assert!(issuer_url("https://login.example.com/#x").is_none());
        assert!(issuer_url("ftp://login.example.com").is_none());
        assert!(issuer_url("login.example.com").is_none());
    }

    #[test]
    fn discovery_keeps_the_issuer_path() {
        let url = discovery_url("https://login.example.com/tenant/v2.0/").map(String::from);
        assert_eq!(
            url.as_deref(),
            Some("https://login.example.com/tenant/v2.0/.well-known/openid-configuration")
        );
        let url = discovery_url("http://127.0.0.1:4000").map(String::from);
        assert_eq!(
            url.as_deref(),
            Some("http://127.0.0.1:4000/.well-known/openid-configuration")
        );
    }
}
