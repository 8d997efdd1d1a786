//! RFC 9457 problem details: the one shape every error takes on the wire, and the one table
//! from a core error code to its HTTP status.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hale_core::CoreError;
use hale_forms::{DefinitionError, FieldError};
use serde::Serialize;

/// A problem+json response body.
#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: &'static str,
    pub status: u16,
    pub code: &'static str,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub definition_errors: Vec<DefinitionError>,
}

/// The documented status and title of each stable error code.
pub fn status_of(code: &str) -> (StatusCode, &'static str) {
    match code {
        "unauthenticated" => (StatusCode::UNAUTHORIZED, "Authentication required"),
        "forbidden" => (StatusCode::FORBIDDEN, "Forbidden"),
        "not_found" => (StatusCode::NOT_FOUND, "Not found"),
        "validation_failed" | "invalid_definition" => {
            (StatusCode::UNPROCESSABLE_ENTITY, "Validation failed")
        }
        "malformed_request" => (StatusCode::BAD_REQUEST, "Malformed request"),
        "payload_too_large" => (StatusCode::PAYLOAD_TOO_LARGE, "Payload too large"),
        "unsupported_media_type" => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported media type"),
        "idempotency_key_reused"
        | "conflict"
        | "tenant_exists"
        | "identifier_taken"
        | "self_approval"
        | "invalid_transition" => (StatusCode::CONFLICT, "Conflict"),
        "unavailable" => (StatusCode::SERVICE_UNAVAILABLE, "Service unavailable"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "Internal error"),
    }
}

impl Problem {
    pub fn new(code: &'static str, detail: impl Into<String>) -> Self {
        let (status, title) = status_of(code);
        Self {
            problem_type: format!("/problems/{code}"),
            title,
            status: status.as_u16(),
            code,
            detail: detail.into(),
            errors: Vec::new(),
            definition_errors: Vec::new(),
        }
    }
}

impl From<CoreError> for Problem {
    fn from(error: CoreError) -> Self {
        let code = error.code();
        let detail = error.to_string();
        let mut problem = Problem::new(code, detail);
        match error {
            CoreError::Invalid(errors) => problem.errors = errors,
            CoreError::InvalidDefinition(errors) => problem.definition_errors = errors,
            _ => {}
        }
        problem
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Lets handlers use `?` on core calls.
pub struct ApiError(pub Box<Problem>);

impl From<CoreError> for ApiError {
    fn from(error: CoreError) -> Self {
        ApiError(Box::new(error.into()))
    }
}

impl From<Problem> for ApiError {
    fn from(problem: Problem) -> Self {
        ApiError(Box::new(problem))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}
