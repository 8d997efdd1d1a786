//! The errors a use case can end in. Each has a stable code that transports map to their own
//! status (HTTP, GraphQL, FHIR OperationOutcome); messages are safe to show and never carry PHI.

use hale_forms::xlsform::ImportError;
use hale_forms::{DefinitionError, FieldError, LintReport};

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
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: &'static str,
    },
    #[error("this idempotency key was already used with a different request")]
    IdempotencyMismatch,
    #[error("the service is temporarily unavailable")]
    Unavailable,
    /// Every upload-parsing slot is taken, or the parse ran past its deadline; retry later.
    #[error("the server is busy reading other uploads; retry shortly")]
    Busy,
    /// An uploaded JSON document that does not read as one meaning: malformed, a repeated key,
    /// nested too deep, a number out of range or invalid Unicode.
    #[error("{0}")]
    MalformedJson(hale_domain::json::JsonError),
}

impl CoreError {
    /// The stable, documented code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::Unauthenticated => "unauthenticated",
            CoreError::Forbidden => "forbidden",
            CoreError::NotFound => "not_found",
            CoreError::Invalid(_) => "validation_failed",
            CoreError::InvalidDefinition(_) => "invalid_definition",
            CoreError::InvalidSpreadsheet(_) => "invalid_spreadsheet",
            CoreError::LintFailed(_) => "lint_failed",
            CoreError::Conflict { code, .. } => code,
            CoreError::IdempotencyMismatch => "idempotency_key_reused",
            CoreError::Unavailable => "unavailable",
            CoreError::Busy => "busy",
            CoreError::MalformedJson(error) => match error.kind {
                hale_domain::json::JsonErrorKind::Malformed
                | hale_domain::json::JsonErrorKind::UnexpectedShape => "malformed_request",
                kind => kind.code(),
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
}

impl From<hale_store::StoreError> for CoreError {
    fn from(error: hale_store::StoreError) -> Self {
        use hale_store::StoreError;
        match error {
            StoreError::Conflict(message) => CoreError::Conflict {
                code: "conflict",
                message,
            },
            StoreError::IdempotencyMismatch => CoreError::IdempotencyMismatch,
            // A version that stopped taking submissions answers like one that never existed.
            StoreError::VersionNotPublished => CoreError::NotFound,
            other => {
                // The detail is for operators; callers learn only that it failed.
                tracing::error!(error = %other, "store failure");
                CoreError::Unavailable
            }
        }
    }
}
