//! Hale's pure domain model: identifiers, principals and roles, the per-request context, the
//! event vocabulary and the tamper-evident hash chain. Nothing here does I/O; the clock and
//! randomness are passed in by callers.

pub mod app;
pub mod chain;
pub mod clock;
pub mod context;
pub mod event;
pub mod ids;
pub mod json;
pub mod password;
pub mod scope;
pub mod totp;
pub mod subject;
pub mod tenant;

pub use clock::{Clock, Timestamp};
pub use context::{AccountKind, Principal, Purpose, RequestContext, Role};
pub use ids::{AppId, PrincipalId, SubjectId, SubmissionId, TenantId};
