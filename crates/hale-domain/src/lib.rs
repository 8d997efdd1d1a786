//! Hale's pure domain model: identifiers, principals and roles, the per-request context, the
//! event vocabulary, app assignments and when they fall due, the tamper-evident hash chain, and
//! the identity primitives (SMART scopes, password policy, TOTP and recovery codes). Nothing
//! here does I/O; the clock and randomness are passed in by callers.

pub mod app;
pub mod assignment;
pub mod chain;
pub mod clock;
pub mod context;
pub mod event;
pub mod ids;
pub mod json;
pub mod password;
pub mod scope;
pub mod subject;
pub mod tenant;
pub mod totp;

pub use clock::{Clock, Timestamp};
pub use context::{AccountKind, Principal, Purpose, RequestContext, Role};
pub use ids::{AppId, AssignmentId, PrincipalId, SubjectId, SubmissionId, TenantId};
pub use password::{PasswordPolicy, PasswordProblem};
pub use scope::{
    Interaction, InteractionSet, ResourceType, Scope, ScopeContext, ScopeError, Scopes,
};
pub use totp::{
    RecoveryCode, TotpError, TotpSecret, TotpStep, recovery_code_from_bytes, recovery_code_hash,
    recovery_code_matches, verify_totp,
};
