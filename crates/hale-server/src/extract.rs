//! Extractors that turn a request into what the core needs: an authenticated
//! [`RequestContext`], and a JSON body parsed without ever echoing its content in an error.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use hale_domain::RequestContext;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::problem::{ApiError, Problem};

/// The caller, authenticated from its bearer token.
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
        let state = AppState::from_ref(state);
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or_else(|| Problem::new("unauthenticated", "a bearer token is required"))?;
        let principal =
            state
                .core
                .authenticate(token.trim())
                .await
                .map_err(|error| match error {
                    hale_core::CoreError::Unavailable => ApiError::from(error),
                    _ => Problem::new("unauthenticated", "the bearer token is not valid").into(),
                })?;
        Ok(Context(RequestContext::new(
            principal,
            request_id(parts),
            "rest",
        )))
    }
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
                "unsupported_media_type",
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
fn json_problem(error: &hale_domain::json::JsonError) -> Problem {
    use hale_domain::json::JsonErrorKind;
    let code = match error.kind {
        JsonErrorKind::Malformed | JsonErrorKind::UnexpectedShape => "malformed_request",
        kind => kind.code(),
    };
    Problem::new(code, error.to_string())
}

/// The request's media type without parameters, lower-cased (`application/json`).
fn media_type(headers: &axum::http::HeaderMap) -> Option<String> {
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
                "payload_too_large",
                "the body is larger than this endpoint accepts",
            ),
            _ => Problem::new("malformed_request", "the body could not be read"),
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
                return Err(Problem::new(
                    "unsupported_media_type",
                    "upload an XLSForm (.xlsx), a FHIR Questionnaire (application/fhir+json) or a Hale definition (application/json)",
                )
                .into());
            }
        };
        Ok(AppUpload(source))
    }
}
