//! The event vocabulary. Every change to Hale is one or more of these events, appended to the
//! tenant's hash-chained log in the same transaction as the read-model projections. Projections
//! are a pure function of the events, so they can be rebuilt from the log at any time.
//!
//! This is a storage format: variants may gain optional fields, never lose or rename them.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::assignment::{CalendarDate, Schedule};
use crate::clock::Timestamp;
use crate::ids::{AppId, AssignmentId, PrincipalId, SubjectId, SubmissionId, TenantId};

/// The stream an event belongs to; optimistic concurrency is per stream.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StreamRef {
    pub kind: &'static str,
    pub id: String,
}

impl StreamRef {
    pub fn tenant(id: TenantId) -> Self {
        Self {
            kind: "tenant",
            id: id.to_string(),
        }
    }
    pub fn subject(id: SubjectId) -> Self {
        Self {
            kind: "subject",
            id: id.to_string(),
        }
    }
    pub fn app(id: AppId) -> Self {
        Self {
            kind: "app",
            id: id.to_string(),
        }
    }
    pub fn submission(id: SubmissionId) -> Self {
        Self {
            kind: "submission",
            id: id.to_string(),
        }
    }
    pub fn principal(id: PrincipalId) -> Self {
        Self {
            kind: "principal",
            id: id.to_string(),
        }
    }
}

/// What the writer must find before appending to a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// The stream must not exist yet.
    NoStream,
    /// The stream's last event must have exactly this version.
    Exact(i64),
    /// Append whatever the stream's version.
    Any,
}

/// An identifier of a subject in another system (FHIR `Identifier`), e.g. a medical record number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identifier {
    pub system: String,
    pub value: String,
}

/// A numeric observation derived from a coded answer, in the canonical unit of its code.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ObservationRecord {
    /// Position within the submission; with the submission id it identifies the observation.
    pub index: u32,
    /// The form field the value came from.
    pub field: String,
    /// LOINC code.
    pub code: String,
    pub value: f64,
    /// UCUM unit.
    pub unit: String,
}

/// Lifecycle of an app version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionStatus {
    Draft,
    InReview,
    Published,
    Rejected,
    Retired,
}

impl VersionStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            VersionStatus::Draft => "draft",
            VersionStatus::InReview => "in_review",
            VersionStatus::Published => "published",
            VersionStatus::Rejected => "rejected",
            VersionStatus::Retired => "retired",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            VersionStatus::Draft,
            VersionStatus::InReview,
            VersionStatus::Published,
            VersionStatus::Rejected,
            VersionStatus::Retired,
        ]
        .into_iter()
        .find(|status| status.as_str() == text)
    }
}

/// Every kind of change Hale records. Stored externally tagged (`{"submission_received": {…}}`):
/// an internally tagged enum would buffer its content and lose the raw answer text.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventBody {
    TenantCreated {
        tenant_id: TenantId,
        slug: String,
        name: String,
    },
    /// A person's or an integration's account. Roles belong to the account, not to any one
    /// credential.
    AccountCreated {
        account_id: PrincipalId,
        /// `None` for platform administrators.
        tenant_id: Option<TenantId>,
        kind: String,
        /// Lower-case, unique within the tenant.
        username: String,
        display_name: String,
        roles: Vec<String>,
        subject_id: Option<SubjectId>,
        /// Argon2id PHC string; `None` until the account's owner sets one (invitation).
        password_hash: Option<String>,
    },
    /// A one-time invitation to set a password; only its SHA-256 is kept.
    AccountInvited {
        account_id: PrincipalId,
        invite_hash: String,
        expires_at: Timestamp,
    },
    /// A new password (an accepted invitation or a change); open invitations lapse.
    PasswordSet {
        account_id: PrincipalId,
        password_hash: String,
    },
    /// TOTP confirmed with a valid code; the recovery codes replace any earlier ones.
    MfaEnrolled {
        account_id: PrincipalId,
        /// Base32 TOTP secret (sealed with the tenant's key once data protection lands).
        totp_secret: String,
        totp_step: i64,
        recovery_code_hashes: Vec<String>,
    },
    /// A web session began. The TOTP step or recovery code it spent is recorded so that
    /// neither can be used twice (the account stream's version orders concurrent sign-ins).
    SignedIn {
        account_id: PrincipalId,
        session_hash: String,
        csrf_hash: String,
        expires_at: Timestamp,
        /// Whether a second factor was verified (or none is required for the account).
        mfa: bool,
        method: String,
        totp_step: Option<i64>,
        recovery_code_hash: Option<String>,
        /// The roles an OpenID provider's claims mapped to at sign-in, which the session
        /// holds instead of the account's own; `None` for a local sign-in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        roles: Option<Vec<String>>,
    },
    SignedOut {
        account_id: PrincipalId,
        session_hash: String,
    },
    /// Every session ends, and tokens from an identity provider issued before now are void.
    SignedOutEverywhere {
        account_id: PrincipalId,
    },
    AccountDisabled {
        account_id: PrincipalId,
    },
    /// An identity at an OpenID provider is this account.
    AccountLinked {
        account_id: PrincipalId,
        issuer: String,
        external_subject: String,
    },
    ApiKeyCreated {
        account_id: PrincipalId,
        key_id: String,
        /// SHA-256 of the key, hex; the key itself is shown once and never stored.
        key_hash: String,
        label: String,
        /// SMART scopes the key is limited to; empty means the account's roles unnarrowed.
        scopes: String,
        expires_at: Option<Timestamp>,
    },
    ApiKeyRevoked {
        account_id: PrincipalId,
        key_id: String,
    },
    SubjectRegistered {
        subject_id: SubjectId,
        /// PHI: sealed per subject once data protection lands.
        identifiers: Vec<Identifier>,
        /// PHI.
        display_name: Option<String>,
        /// PHI, `YYYY-MM-DD`.
        birth_date: Option<String>,
        /// Blind index of each identifier, for lookup without reading PHI.
        identifier_keys: Vec<String>,
    },
    AppCreated {
        app_id: AppId,
        name: String,
    },
    AppVersionDrafted {
        app_id: AppId,
        version: i64,
        definition: Box<RawValue>,
        compiled: Box<RawValue>,
        /// Where the definition was written (a spreadsheet's cells, a Questionnaire), so that a
        /// stored version's lint names the cell or linkId of each finding; absent for Hale's
        /// own format and in events recorded before it was kept.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<Box<RawValue>>,
    },
    /// A media file's bytes (an image, sound or video a version's labels show), kept once per
    /// tenant whatever the number of versions naming it: a version's definition describes the
    /// file by its digest (`media_files`), and the draft that first names it is appended with
    /// this, on the app's stream, in one append.
    MediaAttached {
        /// SHA-256 of the bytes, lowercase hex.
        sha256: String,
        media_type: String,
        /// The bytes, base64 (standard alphabet, padded).
        content: String,
    },
    AppVersionStatusChanged {
        app_id: AppId,
        version: i64,
        status: VersionStatus,
        comment: Option<String>,
        report: Option<Box<RawValue>>,
    },
    SubmissionReceived {
        submission_id: SubmissionId,
        subject_id: SubjectId,
        app_id: AppId,
        app_version: i64,
        authored_at: Timestamp,
        /// PHI: the answers exactly as submitted.
        answers: Box<RawValue>,
        observations: Vec<ObservationRecord>,
        idempotency_key: Option<String>,
        /// SHA-256 of the canonical request, hex: tells a retry from a different request.
        request_hash: String,
        /// Clinical scores computed from the answers (e.g. `{"news2": {…}}`). PHI.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scores: Option<Box<RawValue>>,
    },
    /// An app asked of a subject on a schedule. Assignments are appended to their subject's
    /// stream, expecting the version their check read, so that of two concurrent changes to
    /// one subject's assignments (the same app assigned twice, say) one wins.
    AssignmentMade {
        assignment_id: AssignmentId,
        subject_id: SubjectId,
        app_id: AppId,
        schedule: Schedule,
        starts_on: CalendarDate,
    },
    /// The assignment asks for nothing more; its subject's stream, as for `AssignmentMade`.
    AssignmentEnded {
        assignment_id: AssignmentId,
        subject_id: SubjectId,
    },
}

impl EventBody {
    /// The stable event type name stored beside the payload.
    pub const fn event_type(&self) -> &'static str {
        match self {
            EventBody::TenantCreated { .. } => "tenant_created",
            EventBody::AccountCreated { .. } => "account_created",
            EventBody::AccountInvited { .. } => "account_invited",
            EventBody::PasswordSet { .. } => "password_set",
            EventBody::MfaEnrolled { .. } => "mfa_enrolled",
            EventBody::SignedIn { .. } => "signed_in",
            EventBody::SignedOut { .. } => "signed_out",
            EventBody::SignedOutEverywhere { .. } => "signed_out_everywhere",
            EventBody::AccountDisabled { .. } => "account_disabled",
            EventBody::AccountLinked { .. } => "account_linked",
            EventBody::ApiKeyCreated { .. } => "api_key_created",
            EventBody::ApiKeyRevoked { .. } => "api_key_revoked",
            EventBody::SubjectRegistered { .. } => "subject_registered",
            EventBody::AppCreated { .. } => "app_created",
            EventBody::AppVersionDrafted { .. } => "app_version_drafted",
            EventBody::MediaAttached { .. } => "media_attached",
            EventBody::AppVersionStatusChanged { .. } => "app_version_status_changed",
            EventBody::SubmissionReceived { .. } => "submission_received",
            EventBody::AssignmentMade { .. } => "assignment_made",
            EventBody::AssignmentEnded { .. } => "assignment_ended",
        }
    }

    pub fn to_payload(&self) -> String {
        // Serialising these plain structs cannot fail: no maps with non-string keys, no floats
        // that JSON cannot hold reach here (validated upstream).
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_payload(payload: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(payload)
    }
}

/// Serialises a timestamp as microseconds inside events.
impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.as_micros())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        i64::deserialize(deserializer).map(Timestamp::from_micros)
    }
}

/// An event to append, before the log gives it a sequence number and hash.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub stream: StreamRef,
    pub expected: ExpectedVersion,
    pub body: EventBody,
}

/// An event as stored in the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedEvent {
    pub tenant_id: TenantId,
    pub seq: i64,
    pub stream_kind: String,
    pub stream_id: String,
    pub stream_version: i64,
    pub event_type: String,
    pub payload: String,
    pub actor: String,
    pub recorded_at: Timestamp,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}
