//! Reading a compact JWS before anything is trusted: the length cap, the shape, the header and
//! the claims as JSON (through Hale's strict reader, so a claim repeated to fool one parser is
//! refused), the algorithm policy, and the registered claims once the signature verified.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::TokenError;

/// Longest token read, in bytes: provider tokens are 1–3 KB, and nothing longer is decoded.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Whether `token` has the shape of a compact JWT: three base64url segments separated by dots,
/// the first two non-empty. This lets the edge tell provider tokens from Hale's own opaque
/// tokens without decoding anything; an unsigned token (empty third segment) still counts, so
/// it is refused as one rather than looked up as an opaque token.
pub fn looks_like_jwt(token: &str) -> bool {
    let mut segments = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return false;
    };
    let base64url = |segment: &str| {
        segment
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
    };
    !header.is_empty()
        && !claims.is_empty()
        && base64url(header)
        && base64url(claims)
        && base64url(signature)
}

#[derive(Deserialize)]
pub(crate) struct Header {
    pub(crate) alg: String,
    pub(crate) kid: Option<String>,
    pub(crate) typ: Option<String>,
    /// Extensions the verifier must understand (RFC 7515 §4.1.11); Hale understands none.
    crit: Option<Value>,
}

/// A token split and decoded, nothing verified yet.
pub(crate) struct Unverified<'a> {
    pub(crate) header: Header,
    pub(crate) claims: Map<String, Value>,
    pub(crate) signing_input: &'a str,
    pub(crate) signature: &'a str,
}

impl Unverified<'_> {
    /// The `iss` claim as written, used only to choose whose keys verify the token.
    pub(crate) fn claimed_issuer(&self) -> Result<&str, TokenError> {
        match self.claims.get("iss") {
            Some(Value::String(issuer)) => Ok(issuer),
            Some(_) => Err(TokenError::Malformed),
            None => Err(TokenError::MissingClaim("iss")),
        }
    }
}

pub(crate) fn parse(token: &str) -> Result<Unverified<'_>, TokenError> {
    if token.len() > MAX_TOKEN_BYTES || !looks_like_jwt(token) {
        return Err(TokenError::Malformed);
    }
    let (signing_input, signature) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let (header, claims) = signing_input.split_once('.').ok_or(TokenError::Malformed)?;
    let header: Header = decode_json(header)?;
    if header.crit.is_some() {
        return Err(TokenError::Malformed);
    }
    let claims: Map<String, Value> = decode_json(claims)?;
    Ok(Unverified {
        header,
        claims,
        signing_input,
        signature,
    })
}

fn decode_json<T: serde::de::DeserializeOwned>(segment: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| TokenError::Malformed)?;
    hale_domain::json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

/// The token's algorithm if the policy accepts it. `none` and every HMAC algorithm are refused
/// whatever the allow-list says: a verifier that takes HS256 can be fed a token "signed" with
/// the issuer's public key.
pub(crate) fn algorithm(name: &str, allowed: &[Algorithm]) -> Result<Algorithm, TokenError> {
    let algorithm: Algorithm = name.parse().map_err(|_| TokenError::DisallowedAlgorithm)?;
    if is_symmetric(algorithm) || !allowed.contains(&algorithm) {
        return Err(TokenError::DisallowedAlgorithm);
    }
    Ok(algorithm)
}

pub(crate) fn is_symmetric(algorithm: Algorithm) -> bool {
    algorithm.family() == jsonwebtoken::AlgorithmFamily::Hmac
}

/// What the registered claims say once they passed.
pub(crate) struct Checked {
    pub(crate) subject: String,
    pub(crate) expires_at: i64,
    pub(crate) issued_at: Option<i64>,
}

/// What a verified token must satisfy.
pub(crate) struct Expected<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) audience: &'a str,
    pub(crate) leeway: i64,
    pub(crate) now: i64,
}

/// Checks `iss` (exactly), `exp` (required), `nbf` and `iat` (within the leeway), `aud`
/// (required; a string or an array holding ours) and `sub` (required).
pub(crate) fn check_claims(
    claims: &Map<String, Value>,
    expected: &Expected<'_>,
) -> Result<Checked, TokenError> {
    match claims.get("iss") {
        Some(Value::String(issuer)) if issuer == expected.issuer => {}
        Some(Value::String(_)) => return Err(TokenError::UnknownIssuer),
        Some(_) => return Err(TokenError::Malformed),
        None => return Err(TokenError::MissingClaim("iss")),
    }
    let expires_at = numeric_date(claims, "exp")?.ok_or(TokenError::MissingClaim("exp"))?;
    if expires_at.saturating_add(expected.leeway) <= expected.now {
        return Err(TokenError::Expired);
    }
    let latest_start = expected.now.saturating_add(expected.leeway);
    if numeric_date(claims, "nbf")?.is_some_and(|not_before| not_before > latest_start) {
        return Err(TokenError::NotYetValid);
    }
    let issued_at = numeric_date(claims, "iat")?;
    if issued_at.is_some_and(|issued_at| issued_at > latest_start) {
        return Err(TokenError::NotYetValid);
    }
    let audience_matches = match claims.get("aud") {
        None => return Err(TokenError::MissingClaim("aud")),
        Some(Value::String(audience)) => audience == expected.audience,
        Some(Value::Array(audiences)) => audiences
            .iter()
            .any(|audience| audience.as_str() == Some(expected.audience)),
        Some(_) => return Err(TokenError::Malformed),
    };
    if !audience_matches {
        return Err(TokenError::WrongAudience);
    }
    let subject = match claims.get("sub") {
        Some(Value::String(subject)) if !subject.is_empty() => subject.clone(),
        Some(Value::String(_)) | None => return Err(TokenError::MissingClaim("sub")),
        Some(_) => return Err(TokenError::Malformed),
    };
    Ok(Checked {
        subject,
        expires_at,
        issued_at,
    })
}

/// A NumericDate claim (seconds since the epoch; a fraction is dropped).
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(number)) => {
            if let Some(seconds) = number.as_i64() {
                return Ok(Some(seconds));
            }
            match number.as_f64() {
                Some(seconds) if seconds.is_finite() && seconds.abs() < 1e15 => {
                    Ok(Some(seconds.floor() as i64))
                }
                _ => Err(TokenError::Malformed),
            }
        }
        Some(_) => Err(TokenError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn claims(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    const NOW: i64 = 1_800_000_000;

    fn expected() -> Expected<'static> {
        Expected {
            issuer: "https://idp.example",
            audience: "hale",
            leeway: 60,
            now: NOW,
        }
    }

    fn valid() -> Value {
        json!({"iss": "https://idp.example", "aud": "hale", "sub": "alice", "exp": NOW + 300, "iat": NOW})
    }

    fn with(key: &str, value: Value) -> Map<String, Value> {
        let mut map = claims(valid());
        map.insert(key.to_owned(), value);
        map
    }

    fn without(key: &str) -> Map<String, Value> {
        let mut map = claims(valid());
        map.remove(key);
        map
    }

    #[test]
    fn registered_claims_are_checked() {
        let checked = check_claims(&claims(valid()), &expected());
        assert_eq!(checked.map(|c| c.subject).ok().as_deref(), Some("alice"));
        let check = |map: Map<String, Value>| check_claims(&map, &expected()).err();
        assert_eq!(
            check(with("exp", json!(NOW - 61))),
            Some(TokenError::Expired)
        );
        assert_eq!(check(with("exp", json!(NOW - 30))), None, "within leeway");
        assert_eq!(
            check(with("exp", json!("soon"))),
            Some(TokenError::Malformed)
        );
        assert_eq!(
            check(with("exp", json!(1e300))),
            Some(TokenError::Malformed)
        );
        assert_eq!(check(without("exp")), Some(TokenError::MissingClaim("exp")));
        assert_eq!(
            check(with("nbf", json!(NOW + 61))),
            Some(TokenError::NotYetValid)
        );
        assert_eq!(check(with("nbf", json!(NOW + 30))), None);
        assert_eq!(
            check(with("iat", json!(NOW + 3600))),
            Some(TokenError::NotYetValid)
        );
        assert_eq!(
            check(with("aud", json!("other"))),
            Some(TokenError::WrongAudience)
        );
        assert_eq!(check(with("aud", json!(["other", "hale"]))), None);
        assert_eq!(
            check(with("aud", json!(["other"]))),
            Some(TokenError::WrongAudience)
        );
        assert_eq!(check(with("aud", json!(7))), Some(TokenError::Malformed));
        assert_eq!(check(without("aud")), Some(TokenError::MissingClaim("aud")));
        assert_eq!(check(without("sub")), Some(TokenError::MissingClaim("sub")));
        assert_eq!(
            check(with("sub", json!(""))),
            Some(TokenError::MissingClaim("sub"))
        );
        assert_eq!(
            check(with("iss", json!("https://idp.example/"))),
            Some(TokenError::UnknownIssuer)
        );
        assert_eq!(
            check(with("exp", json!(NOW as f64 + 300.5))),
            None,
            "fractional dates are read"
        );
    }

    #[test]
    fn none_and_hmac_are_refused_whatever_the_allow_list() {
        let all = [Algorithm::HS256, Algorithm::RS256, Algorithm::ES256];
        assert_eq!(algorithm("RS256", &all), Ok(Algorithm::RS256));
        assert_eq!(
            algorithm("HS256", &all),
            Err(TokenError::DisallowedAlgorithm)
        );
        assert_eq!(
            algorithm("none", &all),
            Err(TokenError::DisallowedAlgorithm)
        );
        assert_eq!(
            algorithm("rs256", &all),
            Err(TokenError::DisallowedAlgorithm)
        );
        assert_eq!(
            algorithm("PS256", &all),
            Err(TokenError::DisallowedAlgorithm)
        );
    }

    #[test]
    fn shapes_and_headers() {
        assert!(looks_like_jwt("eyJh.eyJi.c2ln"));
        assert!(looks_like_jwt("eyJh.eyJi."));
        assert!(!looks_like_jwt("hale_abcdef"));
        assert!(!looks_like_jwt("a.b"));
        assert!(!looks_like_jwt("a.b.c.d"));
        assert!(!looks_like_jwt(".b.c"));
        assert!(!looks_like_jwt("a=.b.c"));
        let segment = |value: Value| URL_SAFE_NO_PAD.encode(value.to_string());
        let claims = segment(json!({"iss": "x"}));
        let token = format!(
            "{}.{claims}.",
            segment(json!({"alg": "RS256", "crit": ["b64"]}))
        );
        assert_eq!(parse(&token).err(), Some(TokenError::Malformed));
        let token = format!(
            "{}.{claims}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","alg":"none"}"#)
        );
        assert_eq!(
            parse(&token).err(),
            Some(TokenError::Malformed),
            "a repeated key is refused"
        );
        let long = format!(
            "{}.{claims}.{}",
            segment(json!({"alg": "RS256"})),
            "A".repeat(MAX_TOKEN_BYTES)
        );
        assert_eq!(parse(&long).err(), Some(TokenError::Malformed));
        let token = format!("{}.{claims}.", segment(json!({"alg": "RS256", "kid": "k"})));
        let parsed = parse(&token).ok();
        assert_eq!(
            parsed.as_ref().and_then(|p| p.claimed_issuer().ok()),
            Some("x")
        );
        assert_eq!(parsed.and_then(|p| p.header.kid), Some("k".to_owned()));
    }

    proptest! {
        #[test]
        fn looks_like_jwt_never_panics_and_parse_agrees(token in "[A-Za-z0-9_.=-]{0,64}") {
            if !looks_like_jwt(&token) {
                prop_assert_eq!(parse(&token).err(), Some(TokenError::Malformed));
            }
        }
    }
}
