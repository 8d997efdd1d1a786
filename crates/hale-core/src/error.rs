//! The errors a use case can end in. Each has a stable [`ErrorCode`] that transports map to
//! their own status (HTTP, GraphQL, FHIR OperationOutcome); messages are safe to show and never
//! carry PHI.

use hale_domain::json::JsonErrorKind;
use hale_forms::{DefinitionError, FieldError, LintReport, Unacknowledged};
use hale_forms_io::xlsform::ImportError;

/// Every stable error code Hale answers with, in the core and at the edges. Each transport maps
/// it to its own status in one exhaustive `match`, so a new code cannot ship without one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    Unauthenticated,
    Forbidden,
    NotFound,
    ValidationFailed,
    InvalidDefinition,
    InvalidSpreadsheet,
    LintFailed,
    /// An approval that does not acknowledge each of the version's lint warnings.
    WarningsUnacknowledged,
    MalformedRequest,
    DuplicateKey,
    NestingTooDeep,
    NumberOutOfRange,
    InvalidUnicode,
    PayloadTooLarge,
    UriTooLong,
    HeadersTooLarge,
    UnsupportedMediaType,
    MethodNotAllowed,
    Conflict,
    TenantExists,
    IdentifierTaken,
    SelfApproval,
    InvalidTransition,
    ConcurrentChange,
    IdempotencyKeyReused,
    Internal,
    Unavailable,
    Busy,
    MfaRequired,
    CsrfRejected,
    UsernameTaken,
    TooManyAttempts,
    /// The caller's rate-limit policy allows no more calls yet.
    RateLimited,
}

impl ErrorCode {
    /// Every code, for documentation and for the tests that check the table is complete.
    pub const ALL: [ErrorCode; 33] = [
        ErrorCode::Unauthenticated,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::ValidationFailed,
        ErrorCode::InvalidDefinition,
        ErrorCode::InvalidSpreadsheet,
        ErrorCode::LintFailed,
        ErrorCode::WarningsUnacknowledged,
        ErrorCode::MalformedRequest,
        ErrorCode::DuplicateKey,
        ErrorCode::NestingTooDeep,
        ErrorCode::NumberOutOfRange,
        ErrorCode::InvalidUnicode,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UriTooLong,
        ErrorCode::HeadersTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Conflict,
        ErrorCode::TenantExists,
        ErrorCode::IdentifierTaken,
        ErrorCode::SelfApproval,
        ErrorCode::InvalidTransition,
        ErrorCode::ConcurrentChange,
        ErrorCode::IdempotencyKeyReused,
        ErrorCode::Internal,
        ErrorCode::Unavailable,
        ErrorCode::Busy,
        ErrorCode::MfaRequired,
        ErrorCode::CsrfRejected,
        ErrorCode::UsernameTaken,
        ErrorCode::TooManyAttempts,
        ErrorCode::RateLimited,
    ];

    /// The code as clients see it; never changes once published.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::ValidationFailed => "validation_failed",
            ErrorCode::InvalidDefinition => "invalid_definition",
            ErrorCode::InvalidSpreadsheet => "invalid_spreadsheet",
            ErrorCode::LintFailed => "lint_failed",
            ErrorCode::WarningsUnacknowledged => "warnings_unacknowledged",
            ErrorCode::MalformedRequest => "malformed_request",
            ErrorCode::DuplicateKey => "duplicate_key",
            ErrorCode::NestingTooDeep => "nesting_too_deep",
            ErrorCode::NumberOutOfRange => "number_out_of_range",
            ErrorCode::InvalidUnicode => "invalid_unicode",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UriTooLong => "uri_too_long",
            ErrorCode::HeadersTooLarge => "headers_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Conflict => "conflict",
            ErrorCode::TenantExists => "tenant_exists",
            ErrorCode::IdentifierTaken => "identifier_taken",
            ErrorCode::SelfApproval => "self_approval",
            ErrorCode::InvalidTransition => "invalid_transition",
            ErrorCode::ConcurrentChange => "concurrent_change",
            ErrorCode::IdempotencyKeyReused => "idempotency_key_reused",
            ErrorCode::Internal => "internal_error",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Busy => "busy",
            ErrorCode::MfaRequired => "mfa_required",
            ErrorCode::CsrfRejected => "csrf_rejected",
            ErrorCode::UsernameTaken => "username_taken",
            ErrorCode::TooManyAttempts => "too_many_attempts",
            ErrorCode::RateLimited => "rate_limited",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// How a command or query failed.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("authentication required")]
    Unauthenticated,
    /// The caller may not perform this kind of action at all (their role forbids it).
    #[error("your role does not allow this action")]
    Forbidden,
    /// Missing, or not the caller's to see: the two are never told apart.
    #[error("not found")]
    NotFound,
    /// Field-level problems with the request.
    #[error("the request has invalid fields")]
    Invalid(Vec<FieldError>),
    #[error("the app definition has errors")]
    InvalidDefinition(Vec<DefinitionError>),
    /// An XLSForm with problems, each named by sheet, row and column.
    #[error("the spreadsheet has errors")]
    InvalidSpreadsheet(Vec<ImportError>),
    /// Lint found problems that block publication.
    #[error("the app version does not pass lint")]
    LintFailed(LintReport),
    /// An approval that leaves warnings unacknowledged, or names warnings the version does
    /// not have.
    #[error("an approval acknowledges each lint warning of the version by its id")]
    WarningsUnacknowledged(Unacknowledged),
    /// Another request changed the same record first; the message is one of the store's fixed
    /// sentences.
    #[error("{0}")]
    Conflict(&'static str),
    #[error("a tenant with this slug already exists")]
    TenantExists,
    #[error("a subject with this identifier already exists")]
    IdentifierTaken,
    #[error("the author of a version cannot approve it")]
    SelfApproval,
    #[error("this step is not allowed from the version's current status")]
    InvalidTransition,
    /// Another step on the same record was recorded between this one's read and its write.
    #[error("the record changed while this request was being handled; read it again and retry")]
    ConcurrentChange,
    #[error("this idempotency key was already used with a different request")]
    IdempotencyMismatch,
    /// A bug or corrupt stored data: retrying will not help. The detail is logged, not sent.
    #[error("an unexpected error occurred")]
    Internal,
    /// The database or writer cannot take the request now; retrying later may succeed.
    #[error("the service is temporarily unavailable")]
    Unavailable,
    /// Every upload-parsing slot is taken, or the parse ran past its deadline; retry later.
    #[error("the server is busy reading other uploads; retry shortly")]
    Busy,
    /// The password was right; the account's second factor (TOTP or a recovery code) is due.
    #[error("a one-time code from your authenticator, or a recovery code, is required")]
    MfaRequired,
    /// A state-changing request on a web session without the session's anti-forgery token.
    #[error("the request lacks this session's CSRF token")]
    CsrfRejected,
    #[error("an account with this username already exists")]
    UsernameTaken,
    /// Too many failed sign-ins for this account name or from this address; retry after
    /// `retry_after` seconds.
    #[error("too many failed sign-in attempts; wait before trying again")]
    TooManyAttempts { retry_after: u64 },
    /// An uploaded JSON document that does not read as one meaning: malformed, a repeated key,
    /// nested too deep, a number out of range or invalid Unicode.
    #[error("{0}")]
    MalformedJson(hale_domain::json::JsonError),
}

impl CoreError {
    /// The stable, documented code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            CoreError::Unauthenticated => ErrorCode::Unauthenticated,
            CoreError::Forbidden => ErrorCode::Forbidden,
            CoreError::NotFound => ErrorCode::NotFound,
            CoreError::Invalid(_) => ErrorCode::ValidationFailed,
            CoreError::InvalidDefinition(_) => ErrorCode::InvalidDefinition,
            CoreError::InvalidSpreadsheet(_) => ErrorCode::InvalidSpreadsheet,
            CoreError::LintFailed(_) => ErrorCode::LintFailed,
            CoreError::WarningsUnacknowledged(_) => ErrorCode::WarningsUnacknowledged,
            CoreError::Conflict(_) => ErrorCode::Conflict,
            CoreError::TenantExists => ErrorCode::TenantExists,
            CoreError::IdentifierTaken => ErrorCode::IdentifierTaken,
            CoreError::SelfApproval => ErrorCode::SelfApproval,
            CoreError::InvalidTransition => ErrorCode::InvalidTransition,
            CoreError::ConcurrentChange => ErrorCode::ConcurrentChange,
            CoreError::IdempotencyMismatch => ErrorCode::IdempotencyKeyReused,
            CoreError::Internal => ErrorCode::Internal,
            CoreError::Unavailable => ErrorCode::Unavailable,
            CoreError::Busy => ErrorCode::Busy,
            CoreError::MfaRequired => ErrorCode::MfaRequired,
            CoreError::CsrfRejected => ErrorCode::CsrfRejected,
            CoreError::UsernameTaken => ErrorCode::UsernameTaken,
            CoreError::TooManyAttempts { .. } => ErrorCode::TooManyAttempts,
            CoreError::MalformedJson(error) => match error.kind {
                JsonErrorKind::Malformed | JsonErrorKind::UnexpectedShape => {
                    ErrorCode::MalformedRequest
                }
                JsonErrorKind::DuplicateKey => ErrorCode::DuplicateKey,
                JsonErrorKind::NestingTooDeep => ErrorCode::NestingTooDeep,
                JsonErrorKind::NumberOutOfRange => ErrorCode::NumberOutOfRange,
                JsonErrorKind::InvalidUnicode => ErrorCode::InvalidUnicode,
            },
        }
    }

    pub(crate) fn invalid(field: &str, code: &'static str, message: &str) -> Self {
        CoreError::Invalid(vec![FieldError {
            field: field.to_owned(),
            code,
            message: message.to_owned(),
        }])
    }

    /// A state the code should never reach (a row just written is gone, stored JSON does not
    /// parse): logged for operators with what was expected, answered as a 500.
    pub(crate) fn internal(what: &'static str) -> Self {
        tracing::error!(what, "internal error");
        CoreError::Internal
    }
}

impl From<hale_store::StoreError> for CoreError {
    fn from(error: hale_store::StoreError) -> Self {
        use hale_store::StoreError;
        match error {
            StoreError::Conflict(message) => CoreError::Conflict(message),
            StoreError::IdempotencyMismatch => CoreError::IdempotencyMismatch,
            // A version that stopped taking submissions answers like one that never existed.
            StoreError::VersionNotPublished => CoreError::NotFound,
            other if other.is_transient() => {
                // The detail is for operators; callers learn only to retry.
                tracing::warn!(error = %other, "store unavailable");
                CoreError::Unavailable
            }
            other => {
                tracing::error!(error = %other, "store failure");
                CoreError::Internal
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once_and_is_snake_case() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} appears twice");
            assert!(
                !text.is_empty()
                    && text
                        .bytes()
                        .all(|byte| byte.is_ascii_lowercase() || byte == b'_')
                    && !text.starts_with('_')
                    && !text.ends_with('_'),
                "{text} is not snake_case"
            );
        }
        // This match is exhaustive: a new code does not compile until it has a place here,
        // and the loop then fails until it has the same place in `ALL`.
        fn place(code: ErrorCode) -> usize {
            match code {
                ErrorCode::Unauthenticated => 0,
                ErrorCode::Forbidden => 1,
                ErrorCode::NotFound => 2,
                ErrorCode::ValidationFailed => 3,
                ErrorCode::InvalidDefinition => 4,
                ErrorCode::InvalidSpreadsheet => 5,
                ErrorCode::LintFailed => 6,
                ErrorCode::WarningsUnacknowledged => 7,
                ErrorCode::MalformedRequest => 8,
                ErrorCode::DuplicateKey => 9,
                ErrorCode::NestingTooDeep => 10,
                ErrorCode::NumberOutOfRange => 11,
                ErrorCode::InvalidUnicode => 12,
                ErrorCode::PayloadTooLarge => 13,
                ErrorCode::UriTooLong => 14,
                ErrorCode::HeadersTooLarge => 15,
                ErrorCode::UnsupportedMediaType => 16,
                ErrorCode::MethodNotAllowed => 17,
                ErrorCode::Conflict => 18,
                ErrorCode::TenantExists => 19,
                ErrorCode::IdentifierTaken => 20,
                ErrorCode::SelfApproval => 21,
                ErrorCode::InvalidTransition => 22,
                ErrorCode::ConcurrentChange => 23,
                ErrorCode::IdempotencyKeyReused => 24,
                ErrorCode::Internal => 25,
                ErrorCode::Unavailable => 26,
                ErrorCode::Busy => 27,
                ErrorCode::MfaRequired => 28,
                ErrorCode::CsrfRejected => 29,
                ErrorCode::UsernameTaken => 30,
                ErrorCode::TooManyAttempts => 31,
                ErrorCode::RateLimited => 32,
            }
        }
        for (position, code) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(place(*code), position, "{code} is out of place in ALL");
        }
    }

    #[test]
    fn store_failures_are_internal_unless_the_database_is_unreachable() {
        use hale_store::StoreError;
        assert!(matches!(
            CoreError::from(StoreError::Corrupt("x".into())),
            CoreError::Internal
        ));
        assert!(matches!(
            CoreError::from(StoreError::Migration("x".into())),
            CoreError::Internal
        ));
        assert!(matches!(
            CoreError::from(StoreError::Unavailable),
            CoreError::Unavailable
        ));
    }
}
