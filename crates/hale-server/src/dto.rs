//! Wire types: what the REST API sends and accepts. Domain and store types never reach the
//! wire directly, so either can change without breaking clients.

use std::collections::BTreeMap;

use base64::Engine;
use hale_core::{
    AppRow, AppSummary, AppVersionRow, AssignmentRow, Home, News2Row, ObservationRow, Page,
    PatientOverview, SubjectRow, SubmissionRow, TenantRow,
};
use hale_domain::assignment::Schedule;
use hale_domain::event::Identifier;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::problem::{ApiError, Problem};
use hale_core::ErrorCode;

#[derive(Serialize)]
pub struct TenantDto {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub created_at: String,
}

impl From<TenantRow> for TenantDto {
    fn from(row: TenantRow) -> Self {
        Self {
            id: row.id.to_string(),
            slug: row.slug,
            name: row.name,
            created_at: row.created_at.to_rfc3339(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    pub slug: String,
    pub name: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentifierDto {
    pub system: String,
    pub value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterSubject {
    pub identifiers: Vec<IdentifierDto>,
    pub display_name: Option<String>,
    pub birth_date: Option<String>,
}

impl From<RegisterSubject> for hale_core::RegisterSubject {
    fn from(body: RegisterSubject) -> Self {
        Self {
            identifiers: body
                .identifiers
                .into_iter()
                .map(|identifier| Identifier {
                    system: identifier.system,
                    value: identifier.value,
                })
                .collect(),
            display_name: body.display_name,
            birth_date: body.birth_date,
        }
    }
}

#[derive(Serialize)]
pub struct SubjectDto {
    pub id: String,
    pub identifiers: Vec<IdentifierDto>,
    pub display_name: Option<String>,
    pub birth_date: Option<String>,
    pub created_at: String,
}

impl From<SubjectRow> for SubjectDto {
    fn from(row: SubjectRow) -> Self {
        Self {
            id: row.id.to_string(),
            identifiers: row
                .identifiers
                .into_iter()
                .map(|identifier| IdentifierDto {
                    system: identifier.system,
                    value: identifier.value,
                })
                .collect(),
            display_name: row.display_name,
            birth_date: row.birth_date,
            created_at: row.created_at.to_rfc3339(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApp {
    pub name: String,
    pub definition: Box<RawValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftVersion {
    pub definition: Box<RawValue>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct VersionStep {
    pub comment: Option<String>,
    /// With an approval: the id of each of the version's lint warnings (see its `report`).
    #[serde(default)]
    pub acknowledged: Vec<String>,
}

/// One version whole: its workflow state and its definition and compiled form.
#[derive(Serialize)]
pub struct VersionDto {
    #[serde(flatten)]
    pub summary: VersionSummaryDto,
    pub definition: Box<RawValue>,
    pub compiled: Box<RawValue>,
    /// The lint report of the version's last submission or approval: what the reviewer reads
    /// and acknowledges (each warning by its `id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Box<RawValue>>,
}

fn raw(text: String) -> Box<RawValue> {
    RawValue::from_string(text).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

impl From<AppVersionRow> for VersionDto {
    fn from(mut row: AppVersionRow) -> Self {
        let definition = raw(std::mem::take(&mut row.definition));
        let compiled = raw(std::mem::take(&mut row.compiled));
        let report = row.report.take().map(raw);
        Self {
            summary: VersionSummaryDto::from(row),
            definition,
            compiled,
            report,
        }
    }
}

/// A version in an app's listing: its workflow state, not its definition (read that from
/// `…/versions/{n}`), so an app with many versions stays a small answer.
#[derive(Serialize)]
pub struct VersionSummaryDto {
    pub version: i64,
    pub status: &'static str,
    pub author: String,
    pub created_at: String,
    pub status_by: Option<String>,
    pub status_at: Option<String>,
    pub status_comment: Option<String>,
}

impl From<AppVersionRow> for VersionSummaryDto {
    fn from(row: AppVersionRow) -> Self {
        Self {
            version: row.version,
            status: row.status.as_str(),
            author: row.author,
            created_at: row.created_at.to_rfc3339(),
            status_by: row.status_by,
            status_at: row.status_at.map(|at| at.to_rfc3339()),
            status_comment: row.status_comment,
        }
    }
}

#[derive(Serialize)]
pub struct AppDto {
    pub id: String,
    pub name: String,
    pub created_by: String,
    pub created_at: String,
    pub current_version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions: Option<Vec<VersionSummaryDto>>,
    /// Where the next page of versions starts (`?cursor=`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl From<AppRow> for AppDto {
    fn from(row: AppRow) -> Self {
        Self {
            id: row.id.to_string(),
            name: row.name,
            created_by: row.created_by,
            created_at: row.created_at.to_rfc3339(),
            current_version: row.current_version,
            versions: None,
            next_cursor: None,
        }
    }
}

impl From<AppSummary> for AppDto {
    fn from(summary: AppSummary) -> Self {
        let mut dto = AppDto::from(summary.app);
        dto.versions = Some(
            summary
                .versions
                .into_iter()
                .map(VersionSummaryDto::from)
                .collect(),
        );
        dto.next_cursor = summary.next.map(|version| version.to_string());
        dto
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Submit {
    pub subject_id: String,
    pub app_id: String,
    pub app_version: Option<i64>,
    pub authored_at: Option<String>,
    pub answers: Box<RawValue>,
    pub idempotency_key: Option<String>,
}

#[derive(Serialize)]
pub struct SubmissionDto {
    pub id: String,
    pub subject_id: String,
    pub app_id: String,
    pub app_version: i64,
    pub authored_at: String,
    pub recorded_at: String,
    pub answers: Box<RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scores: Option<Box<RawValue>>,
}

impl From<SubmissionRow> for SubmissionDto {
    fn from(row: SubmissionRow) -> Self {
        Self {
            id: row.id.to_string(),
            subject_id: row.subject_id.to_string(),
            app_id: row.app_id.to_string(),
            app_version: row.app_version,
            authored_at: row.authored_at.to_rfc3339(),
            recorded_at: row.recorded_at.to_rfc3339(),
            answers: raw(row.answers),
            scores: row.scores.map(raw),
        }
    }
}

#[derive(Serialize)]
pub struct ObservationDto {
    pub submission_id: String,
    pub position: i64,
    pub subject_id: String,
    pub code: String,
    pub effective_at: String,
    pub field: String,
    pub value: f64,
    pub unit: String,
}

impl From<ObservationRow> for ObservationDto {
    fn from(row: ObservationRow) -> Self {
        Self {
            submission_id: row.submission_id.to_string(),
            position: row.position,
            subject_id: row.subject_id.to_string(),
            code: row.code,
            effective_at: row.effective_at.to_rfc3339(),
            field: row.field,
            value: row.value,
            unit: row.unit,
        }
    }
}

/// A page of results and the opaque cursor of the next one.
#[derive(Serialize)]
pub struct PageDto<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> PageDto<T> {
    pub fn from_page<R>(page: Page<R>, map: impl Fn(R) -> T) -> Self {
        Self {
            items: page.items.into_iter().map(map).collect(),
            next_cursor: page.next.map(|key| encode_cursor(&key)),
        }
    }
}

pub fn encode_cursor(key: &(i64, String, i64)) -> String {
    let json = serde_json::to_vec(key).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

pub fn decode_cursor(cursor: &str) -> Result<(i64, String, i64), ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| hale_domain::json::from_slice(&bytes).ok())
        .ok_or_else(|| {
            Problem::new(
                ErrorCode::MalformedRequest,
                "the cursor is not one this server issued",
            )
            .into()
        })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateAssignment {
    pub subject_id: String,
    pub app_id: String,
    pub schedule: Schedule,
    pub starts_on: Option<String>,
}

#[derive(Serialize)]
pub struct AssignmentDto {
    pub id: String,
    pub subject_id: String,
    pub app_id: String,
    pub schedule: Schedule,
    pub starts_on: String,
    pub created_at: String,
    pub ended_at: Option<String>,
}

impl From<AssignmentRow> for AssignmentDto {
    fn from(row: AssignmentRow) -> Self {
        Self {
            id: row.id.to_string(),
            subject_id: row.subject_id.to_string(),
            app_id: row.app_id.to_string(),
            schedule: row.schedule,
            starts_on: row.starts_on.to_string(),
            created_at: row.created_at.to_rfc3339(),
            ended_at: row.ended_at.map(|at| at.to_rfc3339()),
        }
    }
}

/// A NEWS2 risk band as the wire names it (`low-medium`), from the score's own name.
fn band(risk: &str) -> String {
    risk.replace('_', "-")
}

#[derive(Serialize)]
pub struct HomeDto {
    pub subject_id: String,
    pub now: String,
    pub assignments: Vec<HomeAssignmentDto>,
    pub apps: BTreeMap<String, PublishedAppDto>,
    pub history: HistoryDto,
}

#[derive(Serialize)]
pub struct HomeAssignmentDto {
    pub id: String,
    pub app_id: String,
    pub title: String,
    pub schedule: Schedule,
    pub due: bool,
    pub last_submitted_at: Option<String>,
}

#[derive(Serialize)]
pub struct PublishedAppDto {
    pub version: i64,
    pub definition: serde_json::Value,
}

#[derive(Serialize)]
pub struct HistoryDto {
    pub observations: Vec<HistoryObservationDto>,
    pub news2: Vec<News2Dto>,
}

#[derive(Serialize)]
pub struct HistoryObservationDto {
    pub code: String,
    pub value: f64,
    pub unit: String,
    pub effective_at: String,
}

#[derive(Serialize)]
pub struct News2Dto {
    pub effective_at: String,
    pub total: i64,
    pub band: String,
}

impl From<&News2Row> for News2Dto {
    fn from(row: &News2Row) -> Self {
        Self {
            effective_at: row.effective_at.to_rfc3339(),
            total: row.total,
            band: band(&row.risk),
        }
    }
}

impl From<Home> for HomeDto {
    fn from(home: Home) -> Self {
        Self {
            subject_id: home.subject.to_string(),
            now: home.now.to_rfc3339(),
            assignments: home
                .assignments
                .into_iter()
                .map(|item| HomeAssignmentDto {
                    id: item.assignment.id.to_string(),
                    app_id: item.assignment.app_id.to_string(),
                    title: item.title,
                    schedule: item.assignment.schedule,
                    due: item.due,
                    last_submitted_at: item.last_submitted_at.map(|at| at.to_rfc3339()),
                })
                .collect(),
            apps: home
                .apps
                .into_iter()
                .map(|app| {
                    (
                        app.app.to_string(),
                        PublishedAppDto {
                            version: app.version,
                            definition: app.definition,
                        },
                    )
                })
                .collect(),
            history: HistoryDto {
                observations: home
                    .observations
                    .into_iter()
                    .map(|row| HistoryObservationDto {
                        code: row.code,
                        value: row.value,
                        unit: row.unit,
                        effective_at: row.effective_at.to_rfc3339(),
                    })
                    .collect(),
                news2: home.news2.iter().map(News2Dto::from).collect(),
            },
        }
    }
}

#[derive(Serialize)]
pub struct LatestDto {
    pub value: f64,
    pub unit: String,
    pub effective_at: String,
}

#[derive(Serialize)]
pub struct PatientRowDto {
    pub subject_id: String,
    pub display_name: Option<String>,
    pub latest: BTreeMap<String, LatestDto>,
    pub news2: Option<News2Dto>,
    pub alert: bool,
    pub last_submitted_at: Option<String>,
}

impl From<PatientOverview> for PatientRowDto {
    fn from(row: PatientOverview) -> Self {
        let patient = row.patient;
        Self {
            subject_id: patient.subject.id.to_string(),
            display_name: patient.subject.display_name,
            latest: patient
                .latest
                .into_iter()
                .map(|latest| {
                    (
                        latest.code,
                        LatestDto {
                            value: latest.value,
                            unit: latest.unit,
                            effective_at: latest.effective_at.to_rfc3339(),
                        },
                    )
                })
                .collect(),
            news2: patient.news2.as_ref().map(News2Dto::from),
            alert: row.alert,
            last_submitted_at: patient.last_submitted_at.map(|at| at.to_rfc3339()),
        }
    }
}

/// `POST …/submissions/batch`: each item exactly the body of a single submission, kept as
/// text so that each is read (and refused) on its own.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitBatch {
    pub submissions: Vec<Box<RawValue>>,
}

/// One item's outcome: its status, and the submission or the problem the single endpoint
/// would have answered.
#[derive(Serialize)]
pub struct BatchResultDto {
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submission: Option<SubmissionDto>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<Problem>,
}
