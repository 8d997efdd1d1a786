//! The event vocabulary. Every change to Hale is one or more of these events, appended to the
//! tenant's hash-chained log in the same transaction as the read-model projections. Projections
//! are a pure function of the events, so they can be rebuilt from the log at any time.
//!
//! This is a storage format: variants may gain optional fields, never lose or rename them.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::clock::Timestamp;
use crate::ids::{AppId, PrincipalId, SubjectId, SubmissionId, TenantId};

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
    AccessTokenIssued {
        principal_id: PrincipalId,
        tenant_id: Option<TenantId>,
        /// SHA-256 of the token, hex; the token itself is never stored.
        token_hash: String,
        roles: Vec<String>,
        subject_id: Option<SubjectId>,
        label: String,
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
}

impl EventBody {
    /// The stable event type name stored beside the payload.
    pub const fn event_type(&self) -> &'static str {
        match self {
            EventBody::TenantCreated { .. } => "tenant_created",
            EventBody::AccessTokenIssued { .. } => "access_token_issued",
            EventBody::SubjectRegistered { .. } => "subject_registered",
            EventBody::AppCreated { .. } => "app_created",
            EventBody::AppVersionDrafted { .. } => "app_version_drafted",
            EventBody::AppVersionStatusChanged { .. } => "app_version_status_changed",
            EventBody::SubmissionReceived { .. } => "submission_received",
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
