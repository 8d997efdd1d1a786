//! RFC 9457 problem details: the one shape every error takes on the wire, and the one table
//! from a core error code to its HTTP status.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hale_core::CoreError;
use hale_forms::xlsform::ImportError;
use hale_forms::{DefinitionError, FieldError, LintReport};
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
    /// Spreadsheet problems, each with its sheet, row and column.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub import_errors: Vec<ImportError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lint: Option<LintReport>,
}

/// The documented status and title of each stable error code.
pub fn status_of(code: &str) -> (StatusCode, &'static str) {
    match code {
        "unauthenticated" => (StatusCode::UNAUTHORIZED, "Authentication required"),
        "forbidden" => (StatusCode::FORBIDDEN, "Forbidden"),
        "not_found" => (StatusCode::NOT_FOUND, "Not found"),
        "validation_failed" | "invalid_definition" | "invalid_spreadsheet" | "lint_failed" => {
            (StatusCode::UNPROCESSABLE_ENTITY, "Validation failed")
        }
        "malformed_request"
        | "duplicate_key"
        | "nesting_too_deep"
        | "number_out_of_range"
        | "invalid_unicode" => (StatusCode::BAD_REQUEST, "Malformed request"),
        "payload_too_large" => (StatusCode::PAYLOAD_TOO_LARGE, "Payload too large"),
        "unsupported_media_type" => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported media type"),
        "idempotency_key_reused"
        | "conflict"
        | "tenant_exists"
        | "identifier_taken"
        | "self_approval"
        | "invalid_transition"
        | "concurrent_change" => (StatusCode::CONFLICT, "Conflict"),
        "unavailable" | "busy" => (StatusCode::SERVICE_UNAVAILABLE, "Service unavailable"),
        "method_not_allowed" => (StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"),
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
            import_errors: Vec::new(),
            lint: None,
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
            CoreError::InvalidSpreadsheet(errors) => problem.import_errors = errors,
            CoreError::LintFailed(report) => problem.lint = Some(report),
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
        if self.code == "busy" {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
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

/// Responses the framework makes on its own (a wrong method, a timeout) carry no body; give
/// them the same problem+json shape as every other error.
pub async fn bare_errors_as_problems(response: Response) -> Response {
    let bare = response.status().is_client_error() || response.status().is_server_error();
    if !bare || response.headers().contains_key(header::CONTENT_TYPE) {
        return response;
    }
    match response.status() {
        StatusCode::METHOD_NOT_ALLOWED => {
            let allow = response.headers().get(header::ALLOW).cloned();
            let mut problem = Problem::new(
                "method_not_allowed",
                "this endpoint does not take that method",
            )
            .into_response();
            if let Some(allow) = allow {
                problem.headers_mut().insert(header::ALLOW, allow);
            }
            problem
        }
        StatusCode::SERVICE_UNAVAILABLE => {
            Problem::new("unavailable", "the request took too long and was stopped").into_response()
        }
        status if status.is_server_error() => {
            Problem::new("internal", "an unexpected error occurred").into_response()
        }
        _ => Problem::new("malformed_request", "the request could not be handled").into_response(),
    }
}
