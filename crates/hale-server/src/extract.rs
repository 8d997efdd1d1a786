//! Extractors that turn a request into what the core needs: an authenticated
//! [`RequestContext`], and a JSON body parsed without ever echoing its content in an error.

use axum::body::Bytes;
use axum::extract::path::ErrorKind;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRef, FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, Method, header};
use hale_core::Credential;
use hale_domain::{Principal, RequestContext};
use hale_listen::ClientCertificate;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::problem::{ApiError, Problem};
use hale_core::ErrorCode;

/// The caller, authenticated from its bearer API key, a trusted provider's JWT access token,
/// or its web session.
pub struct Context(pub RequestContext);

fn request_id(parts: &Parts) -> String {
    parts
        .headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-")
        .to_owned()
}

impl<S> FromRequestParts<S> for Context
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // The edge's gate authenticated the request already (to key its rate limit); a router
        // without the gate authenticates here.
        let outcome = match parts.extensions.get::<Authentication>() {
            Some(Authentication(outcome)) => outcome.clone(),
            None => authenticate(&AppState::from_ref(state), parts).await,
        };
        let principal = outcome.map_err(|(code, detail)| Problem::new(code, detail))?;
        Ok(Context(RequestContext::new(
            principal,
            request_id(parts),
            "rest",
        )))
    }
}

/// What authenticating a request gave: its principal, or the problem to answer with (a code
/// and a detail that names no credential).
#[derive(Clone, Debug)]
pub struct Authentication(pub Result<Principal, (ErrorCode, String)>);

/// Whether the request carries a credential at all: a bearer token, a session cookie, or a
/// client certificate the TLS layer verified.
pub fn has_credential(headers: &HeaderMap, extensions: &Extensions) -> bool {
    explicit_credential(headers) || extensions.get::<ClientCertificate>().is_some()
}

/// The principal behind the request's credential: a Hale API key, a trusted provider's JWT
/// access token, a web session, or else a verified client certificate bound to an integration
/// account. Every refusal of the credential itself is one `unauthenticated` answer; only
/// unavailability, an internal error and a missing anti-forgery token say more.
pub async fn authenticate(
    state: &AppState,
    parts: &Parts,
) -> Result<Principal, (ErrorCode, String)> {
    let authenticated = match (
        explicit_credential(&parts.headers),
        parts.extensions.get::<ClientCertificate>(),
    ) {
        (false, Some(certificate)) => match state.clients.binding_for(certificate) {
            Some(binding) => {
                state
                    .core
                    .authenticate_certificate(
                        binding.tenant,
                        &binding.account,
                        binding.scopes.clone(),
                    )
                    .await
            }
            None => Err(hale_core::CoreError::Unauthenticated),
        },
        _ => match credential(parts).map_err(|error| (error.code(), error.detail()))? {
            Credential::ApiKey(token) if state.oidc.takes(token) => {
                match state.oidc.identity(token).await {
                    Ok(identity) => state.core.authenticate_external(identity).await,
                    Err(error) => Err(error),
                }
            }
            credential => state.core.authenticate(credential).await,
        },
    };
    authenticated.map_err(|error| match error {
        hale_core::CoreError::Unavailable
        | hale_core::CoreError::Internal
        | hale_core::CoreError::CsrfRejected => (error.code(), error.to_string()),
        _ => (
            ErrorCode::Unauthenticated,
            String::from("the credential is not valid"),
        ),
    })
}

/// Whether the request names its caller in a header (a bearer token or a session cookie),
/// which decides it over any client certificate the connection presented.
fn explicit_credential(headers: &HeaderMap) -> bool {
    headers.contains_key(header::AUTHORIZATION) || session_cookie(headers).is_some()
}

/// The client's address as the edge resolved it (`edge::ClientIp`: the socket's peer, or the
/// client behind a trusted proxy); `-` where the server runs without connection info, as in
/// tests that call the router directly.
pub struct ClientAddress(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(crate::edge::ClientIp::of(&parts.extensions)))
    }
}

/// The name of the web session cookie.
pub const SESSION_COOKIE: &str = "hale_session";
/// The header a web session's state-changing requests carry its anti-forgery token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The cookie the anti-forgery token is also given in, for the web app's script to read.
pub const CSRF_COOKIE: &str = "hale_csrf";

/// The request's credential: its bearer API key, or else its session cookie. A request that
/// carries both is decided by the bearer token alone, which no browser sends on its own.
fn credential(parts: &Parts) -> Result<Credential<'_>, ApiError> {
    if parts.headers.contains_key(header::AUTHORIZATION) {
        return bearer_token(&parts.headers).map(Credential::ApiKey);
    }
    let Some(token) = session_cookie(&parts.headers) else {
        return Err(Problem::new(
            ErrorCode::Unauthenticated,
            "a bearer token or a session is required",
        )
        .into());
    };
    let state_changing = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let csrf = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|value| value.to_str().ok());
    Ok(Credential::Session {
        token,
        csrf,
        state_changing,
    })
}

/// The value of the session cookie, from any `Cookie` header.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    cookie(headers, SESSION_COOKIE)
}

/// The first non-empty value of the cookie `name`, from any `Cookie` header.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

/// The token of the request's one `Authorization: Bearer` header. The scheme is matched
/// without regard to case (RFC 9110 §11.1); two headers are refused rather than one picked,
/// since a proxy and a client could each have meant a different one.
fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let missing = || {
        ApiError::from(Problem::new(
            ErrorCode::Unauthenticated,
            "a bearer token is required",
        ))
    };
    let value = values.next().ok_or_else(missing)?;
    if values.next().is_some() {
        return Err(
            Problem::new(ErrorCode::MalformedRequest, "send one Authorization header").into(),
        );
    }
    let (scheme, token) = value
        .to_str()
        .ok()
        .and_then(|text| text.trim_start().split_once(' '))
        .ok_or_else(missing)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(missing());
    }
    Ok(token)
}

/// Path parameters. A value of the wrong shape is a 400 that names the parameter (a name from
/// the route, never from the request) and not the value.
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => {
                let names: Vec<String> = RawPathParams::from_request_parts(parts, state)
                    .await
                    .map(|params| params.iter().map(|(name, _)| name.to_owned()).collect())
                    .unwrap_or_default();
                Err(path_problem(&rejection, &names).into())
            }
        }
    }
}

fn path_problem(rejection: &PathRejection, names: &[String]) -> Problem {
    let PathRejection::FailedToDeserializePathParams(error) = rejection else {
        return Problem::new(ErrorCode::Internal, "an unexpected error occurred");
    };
    let parameter = match error.kind() {
        ErrorKind::ParseErrorAtIndex { index, .. } => names.get(*index).cloned(),
        ErrorKind::ParseErrorAtKey { key, .. }
        | ErrorKind::InvalidUtf8InPathParam { key }
        | ErrorKind::DeserializeError { key, .. } => Some(key.clone()),
        ErrorKind::ParseError { .. } => names.first().cloned(),
        _ => None,
    };
    match parameter.filter(|name| names.contains(name)) {
        Some(name) => Problem::new(
            ErrorCode::MalformedRequest,
            format!("the path parameter `{name}` is not valid"),
        ),
        None => Problem::new(ErrorCode::MalformedRequest, "the path is not valid"),
    }
}

/// Query-string parameters, read like axum's `Query` but refused in problem+json: a bad value
/// names its parameter (a field of `T`), an unknown parameter is not repeated.
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(deserializer)
            .map(Query)
            .map_err(|error| {
                let message = error.inner().to_string();
                let path = error.path().to_string();
                let detail = if message.starts_with("unknown field") {
                    String::from("the query string has a parameter this endpoint does not take")
                } else if let Some(name) = message
                    .strip_prefix("missing field `")
                    .and_then(|rest| rest.strip_suffix('`'))
                {
                    // serde names a field of `T` here, never request text.
                    format!("the query parameter `{name}` is required")
                } else if is_parameter_name(&path) {
                    format!("the query parameter `{path}` is not valid")
                } else {
                    String::from("the query string is not valid")
                };
                Problem::new(ErrorCode::MalformedRequest, detail).into()
            })
    }
}

/// Whether a deserialisation path is one plain field name (so one of ours, with unknown
/// fields refused), not a position or an empty path.
fn is_parameter_name(path: &str) -> bool {
    (1..=64).contains(&path.len())
        && path
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte == b'_')
}

/// A JSON request body. Errors say where the body is wrong, never what it contained: bodies
/// carry PHI, and serde's own messages quote values.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        // A body without a Content-Type is taken as JSON.
        let json = media_type(request.headers()).is_none_or(|media| media == "application/json");
        if !json {
            return Err(Problem::new(
                ErrorCode::UnsupportedMediaType,
                "the body must be application/json",
            )
            .into());
        }
        let bytes = read_body(request, state).await?;
        hale_domain::json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|error| json_problem(&error).into())
    }
}

/// The problem for a refused JSON body: its own code for a body with two meanings or an
/// unrepresentable value, `malformed_request` for plain syntax or shape errors. Only the
/// position is reported, never the content.
pub(crate) fn json_problem(error: &hale_domain::json::JsonError) -> Problem {
    use hale_domain::json::JsonErrorKind;
    let code = match error.kind {
        JsonErrorKind::Malformed | JsonErrorKind::UnexpectedShape => ErrorCode::MalformedRequest,
        JsonErrorKind::DuplicateKey => ErrorCode::DuplicateKey,
        JsonErrorKind::NestingTooDeep => ErrorCode::NestingTooDeep,
        JsonErrorKind::NumberOutOfRange => ErrorCode::NumberOutOfRange,
        JsonErrorKind::InvalidUnicode => ErrorCode::InvalidUnicode,
    };
    Problem::new(code, error.to_string())
}

/// The request's media type without parameters, lower-cased (`application/json`).
fn media_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase())
}

/// Reads the whole body within the router's size limit; a larger one is refused with 413
/// (before it is read, when `Content-Length` already says so).
async fn read_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, Problem> {
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| match rejection {
            BytesRejection::FailedToBufferBody(_) => Problem::new(
                ErrorCode::PayloadTooLarge,
                "the body is larger than this endpoint accepts",
            ),
            _ => Problem::new(ErrorCode::MalformedRequest, "the body could not be read"),
        })
}

/// An app definition uploaded in any supported form, told apart by `Content-Type`: an XLSForm
/// workbook, a FHIR Questionnaire (`application/fhir+json`, or JSON with `resourceType`), or
/// Hale's own JSON.
pub struct AppUpload(pub hale_core::AppSource);

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

impl<S: Send + Sync> FromRequest<S> for AppUpload {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = media_type(request.headers()).unwrap_or_default();
        let bytes = read_body(request, state).await?;
        // JSON stays unparsed here: the core parses it only after checking the caller's role.
        let source = match content_type.as_str() {
            XLSX => hale_core::AppSource::Xlsx(bytes.to_vec()),
            "application/fhir+json" => hale_core::AppSource::Json {
                bytes: bytes.to_vec(),
                questionnaire: true,
            },
            "application/json" => hale_core::AppSource::Json {
                bytes: bytes.to_vec(),
                questionnaire: false,
            },
            _ => {
                return Err(Problem::new(ErrorCode::UnsupportedMediaType,
                    "upload an XLSForm (.xlsx), a FHIR Questionnaire (application/fhir+json) or a Hale definition (application/json)",
                )
                .into());
            }
        };
        Ok(AppUpload(source))
    }
}

/// A file attached to an app version, of a media type a version can carry: a data file
/// (`text/csv`, `application/xml` or `text/xml`) or a media file (`image/png`, `audio/mpeg`,
/// …). Any other type is refused before the body is read; whether the type fits the file's
/// name is the route's check.
pub struct FileUpload {
    pub bytes: Vec<u8>,
    /// The declared media type, lower-cased, without parameters.
    pub media_type: String,
}

/// The media types a version's data files may be uploaded as.
pub const DATA_FILE_TYPES: [(&str, &str); 3] = [
    ("csv", "text/csv"),
    ("xml", "application/xml"),
    ("xml", "text/xml"),
];

impl<S: Send + Sync> FromRequest<S> for FileUpload {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let declared = media_type(request.headers()).unwrap_or_default();
        let known = DATA_FILE_TYPES
            .iter()
            .chain(&hale_forms::definition::MEDIA_TYPES)
            .any(|(_, media_type)| *media_type == declared);
        if !known {
            return Err(Problem::new(
                ErrorCode::UnsupportedMediaType,
                "upload a data file as CSV (text/csv) or XML (application/xml), or a media file as PNG, JPEG, GIF or WebP, MP3, Ogg, WAV or M4A, MP4 or WebM",
            )
            .into());
        }
        let bytes = read_body(request, state).await?.to_vec();
        Ok(FileUpload {
            bytes,
            media_type: declared,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::HeaderValue;
    use proptest::prelude::*;

    fn headers(values: &[String]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.append(header::COOKIE, value);
            }
        }
        headers
    }

    /// Cookie names that are not the session's but look like it.
    fn other_name() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z_]{1,12}".prop_filter("not the session cookie", |name| name != SESSION_COOKIE),
            Just(format!("x{SESSION_COOKIE}")),
            Just(format!("{SESSION_COOKIE}x")),
            Just(SESSION_COOKIE.to_ascii_uppercase()),
        ]
    }

    proptest! {
        #[test]
        fn any_cookie_header_parses_without_panicking(values in prop::collection::vec(any::<String>(), 0..4)) {
            let headers = headers(&values);
            if let Some(value) = session_cookie(&headers) {
                prop_assert!(!value.is_empty());
                prop_assert!(!value.contains(';'));
            }
        }

        #[test]
        fn the_session_is_found_among_others_in_any_header_and_order(
            before in prop::collection::vec((other_name(), "[A-Za-z0-9_-]{0,20}"), 0..4),
            after in prop::collection::vec((other_name(), "[A-Za-z0-9_-]{0,20}"), 0..4),
            token in "hs_[A-Za-z0-9_-]{1,60}",
            split in any::<bool>(),
        ) {
            let pairs = |pairs: &[(String, String)]| {
                pairs.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>()
            };
            let mut first = pairs(&before);
            first.push(format!("{SESSION_COOKIE}={token}"));
            let second = pairs(&after);
            let values = if split {
                vec![first.join("; "), second.join("; ")]
            } else {
                first.extend(second);
                vec![first.join(";")]
            };
            let headers = headers(&values);
            prop_assert_eq!(session_cookie(&headers), Some(token.as_str()));
        }

        #[test]
        fn look_alike_names_are_never_the_session(
            cookies in prop::collection::vec((other_name(), "[A-Za-z0-9_-]{1,20}"), 0..6),
        ) {
            let header = cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; ");
            let headers = headers(&[header]);
            prop_assert_eq!(session_cookie(&headers), None);
        }
    }

    #[test]
    fn an_empty_session_value_is_no_session() {
        let headers = headers(&[format!("{SESSION_COOKIE}=; a=b")]);
        assert_eq!(session_cookie(&headers), None);
        assert_eq!(cookie(&headers, "a"), Some("b"));
    }
}
