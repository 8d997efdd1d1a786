//! RFC 9457 problem details: the one shape every error takes on the wire, and the one table
//! from a core error code to its HTTP status.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hale_core::{CoreError, ErrorCode};
use hale_forms::{DefinitionError, FieldError, LintReport};
use hale_forms_io::xlsform::ImportError;
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
    /// How many more field errors there were than `errors` lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub truncated: Option<usize>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub definition_errors: Vec<DefinitionError>,
    /// Spreadsheet problems, each with its sheet, row and column.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub import_errors: Vec<ImportError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lint: Option<LintReport>,
    /// An approval's warnings left unacknowledged (`warnings`) and ids naming none (`unknown`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unacknowledged: Option<hale_forms::Unacknowledged>,
    /// Seconds until a retry can succeed (429); sent as `Retry-After`, not in the body.
    #[serde(skip)]
    pub retry_after: Option<u64>,
    /// The code as a value, for the edge's own decisions.
    #[serde(skip)]
    pub error_code: ErrorCode,
}

/// The status and title of every stable error code: the one table, exhaustive, so a new code
/// does not compile until it has a status here.
pub fn status_of(code: ErrorCode) -> (StatusCode, &'static str) {
    match code {
        ErrorCode::Unauthenticated => (StatusCode::UNAUTHORIZED, "Authentication required"),
        ErrorCode::Forbidden => (StatusCode::FORBIDDEN, "Forbidden"),
        ErrorCode::NotFound => (StatusCode::NOT_FOUND, "Not found"),
        ErrorCode::ValidationFailed
        | ErrorCode::InvalidDefinition
        | ErrorCode::InvalidSpreadsheet
        | ErrorCode::LintFailed
        | ErrorCode::WarningsUnacknowledged => {
            (StatusCode::UNPROCESSABLE_ENTITY, "Validation failed")
        }
        ErrorCode::MalformedRequest
        | ErrorCode::DuplicateKey
        | ErrorCode::NestingTooDeep
        | ErrorCode::NumberOutOfRange
        | ErrorCode::InvalidUnicode => (StatusCode::BAD_REQUEST, "Malformed request"),
        ErrorCode::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "Payload too large"),
        ErrorCode::UriTooLong => (StatusCode::URI_TOO_LONG, "URI too long"),
        ErrorCode::HeadersTooLarge => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Request header fields too large",
        ),
        ErrorCode::UnsupportedMediaType => {
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "Unsupported media type")
        }
        ErrorCode::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "Method not allowed"),
        ErrorCode::Conflict
        | ErrorCode::TenantExists
        | ErrorCode::IdentifierTaken
        | ErrorCode::SelfApproval
        | ErrorCode::InvalidTransition
        | ErrorCode::ConcurrentChange
        | ErrorCode::IdempotencyKeyReused => (StatusCode::CONFLICT, "Conflict"),
        ErrorCode::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "Internal error"),
        ErrorCode::Unavailable | ErrorCode::Busy => {
            (StatusCode::SERVICE_UNAVAILABLE, "Service unavailable")
        }
        ErrorCode::MfaRequired => (StatusCode::UNAUTHORIZED, "Second factor required"),
        ErrorCode::CsrfRejected => (StatusCode::FORBIDDEN, "Forbidden"),
        ErrorCode::UsernameTaken => (StatusCode::CONFLICT, "Conflict"),
        ErrorCode::TooManyAttempts => (StatusCode::TOO_MANY_REQUESTS, "Too many requests"),
        ErrorCode::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "Too many requests"),
    }
}

/// Seconds a client should wait before retrying a 503.
const RETRY_AFTER_SECONDS: &str = "5";

impl Problem {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        let (status, title) = status_of(code);
        Self {
            problem_type: format!("/problems/{code}"),
            title,
            status: status.as_u16(),
            code: code.as_str(),
            error_code: code,
            detail: detail.into(),
            errors: Vec::new(),
            truncated: None,
            definition_errors: Vec::new(),
            import_errors: Vec::new(),
            lint: None,
            unacknowledged: None,
            retry_after: None,
        }
    }
}

/// Field errors listed in one answer; the rest are counted in `truncated`.
pub const MAX_FIELD_ERRORS: usize = 50;

impl From<CoreError> for Problem {
    fn from(error: CoreError) -> Self {
        let code = error.code();
        let detail = error.to_string();
        let mut problem = Problem::new(code, detail);
        match error {
            CoreError::Invalid(mut errors) => {
                // A hostile body can produce an error per byte; the list stays readable and
                // small, and says how much it left out.
                if errors.len() > MAX_FIELD_ERRORS {
                    problem.truncated = Some(errors.len() - MAX_FIELD_ERRORS);
                    errors.truncate(MAX_FIELD_ERRORS);
                }
                problem.errors = errors;
            }
            CoreError::InvalidDefinition(errors) => problem.definition_errors = errors,
            CoreError::InvalidSpreadsheet(errors) => problem.import_errors = errors,
            CoreError::LintFailed(report) => problem.lint = Some(report),
            CoreError::WarningsUnacknowledged(unacknowledged) => {
                problem.unacknowledged = Some(unacknowledged);
            }
            CoreError::TooManyAttempts { retry_after } => {
                problem.retry_after = Some(retry_after.max(1));
            }
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
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            headers.insert(header::RETRY_AFTER, value);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

/// Lets handlers use `?` on core calls.
pub struct ApiError(pub Box<Problem>);

impl ApiError {
    /// The problem's stable code.
    pub fn code(&self) -> ErrorCode {
        self.0.error_code
    }

    /// The problem's detail.
    pub fn detail(&self) -> String {
        self.0.detail.clone()
    }
}

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

/// Responses the framework makes on its own (a wrong method, a timeout, a rejected extractor
/// of axum's) carry no body or a plain-text one; give them the same problem+json shape as every
/// other error, without repeating the framework's text, which can quote the request.
pub async fn bare_errors_as_problems(response: Response) -> Response {
    let status = response.status();
    let error = status.is_client_error() || status.is_server_error();
    let problem_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes() == b"application/problem+json");
    if !error || problem_json {
        return response;
    }
    let (code, detail) = match status {
        StatusCode::METHOD_NOT_ALLOWED => (
            ErrorCode::MethodNotAllowed,
            "this endpoint does not take that method",
        ),
        StatusCode::SERVICE_UNAVAILABLE => (
            ErrorCode::Unavailable,
            "the request took too long and was stopped",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            ErrorCode::PayloadTooLarge,
            "the body is larger than this endpoint accepts",
        ),
        StatusCode::NOT_FOUND => (ErrorCode::NotFound, "no such endpoint"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (
            ErrorCode::UnsupportedMediaType,
            "the body's media type is not accepted here",
        ),
        StatusCode::URI_TOO_LONG => (ErrorCode::UriTooLong, "the request URI is too long"),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => (
            ErrorCode::HeadersTooLarge,
            "the request headers are too large",
        ),
        status if status.is_server_error() => (ErrorCode::Internal, "an unexpected error occurred"),
        _ => (
            ErrorCode::MalformedRequest,
            "the request could not be handled",
        ),
    };
    let allow = response.headers().get(header::ALLOW).cloned();
    let mut problem = Problem::new(code, detail).into_response();
    if let Some(allow) = allow {
        problem.headers_mut().insert(header::ALLOW, allow);
    }
    problem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_an_error_status_and_a_title() {
        for code in ErrorCode::ALL {
            let (status, title) = status_of(code);
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{code} maps to {status}"
            );
            assert!(!title.is_empty(), "{code} has no title");
            let problem = Problem::new(code, "detail");
            assert_eq!(problem.code, code.as_str());
            assert_eq!(problem.problem_type, format!("/problems/{}", code.as_str()));
        }
        assert_eq!(
            status_of(ErrorCode::Internal).0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            status_of(ErrorCode::Unavailable).0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        for code in [
            ErrorCode::DuplicateKey,
            ErrorCode::NestingTooDeep,
            ErrorCode::NumberOutOfRange,
            ErrorCode::InvalidUnicode,
        ] {
            assert_eq!(status_of(code).0, StatusCode::BAD_REQUEST, "{code}");
        }
    }

    #[test]
    fn only_unavailability_asks_for_a_retry() {
        let unavailable = Problem::from(CoreError::Unavailable).into_response();
        assert_eq!(unavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(unavailable.headers().contains_key(header::RETRY_AFTER));
        let internal = Problem::from(CoreError::Internal).into_response();
        assert_eq!(internal.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!internal.headers().contains_key(header::RETRY_AFTER));
    }

    #[test]
    fn field_errors_are_capped_and_counted() {
        let errors = (0..120)
            .map(|_| FieldError {
                field: "answers".into(),
                code: "unknown_field",
                message: "this app has no such field".into(),
            })
            .collect();
        let problem = Problem::from(CoreError::Invalid(errors));
        assert_eq!(problem.errors.len(), MAX_FIELD_ERRORS);
        assert_eq!(problem.truncated, Some(120 - MAX_FIELD_ERRORS));
    }
}
