//! Reads for the patient app and the clinicians' overview: assignments and what deciding one
//! needs, a patient's home in one scoped read (a few statements on one connection, however
//! many apps are assigned), and the tenant's patients with their newest readings, riskiest
//! first. All of them run behind the tenant wall.

use hale_domain::assignment::{AssignmentId, CalendarDate, Schedule};
use hale_domain::{AppId, SubjectId, TenantId, Timestamp};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Store;
use crate::bulk::{Bind, bind_all};
use crate::error::StoreError;
use crate::queries::{ObservationRow, SubjectRow, observation_row, parse_id, subject_row};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssignmentRow {
    pub id: AssignmentId,
    pub subject_id: SubjectId,
    pub app_id: AppId,
    pub schedule: Schedule,
    pub starts_on: CalendarDate,
    pub created_by: String,
    pub created_at: Timestamp,
    pub ended_at: Option<Timestamp>,
}

/// What deciding a new assignment needs, read in one statement (one snapshot).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AssignmentCheck {
    /// The version of the subject's stream, which the assignment is appended expecting;
    /// `None` when the tenant has no such subject.
    pub subject_version: Option<i64>,
    /// Whether the tenant has the app.
    pub app_exists: bool,
    /// The app's newest published version, if any.
    pub published_version: Option<i64>,
    /// Whether the app is assigned to the subject already (and not ended).
    pub active: bool,
}

/// An active assignment as a patient's home shows it: with the app's published version and
/// its definition (absent when no version is published) and the subject's newest submission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HomeAssignment {
    pub assignment: AssignmentRow,
    pub published_version: Option<i64>,
    pub definition: Option<String>,
    pub last_submitted_at: Option<Timestamp>,
}

/// A NEWS2 a submission scored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct News2Row {
    pub effective_at: Timestamp,
    pub total: i64,
    /// As the score names it: `low`, `low_medium`, `medium` or `high`.
    pub risk: String,
    /// The highest score any single parameter contributed (0–3).
    pub highest_parameter: i64,
}

/// What a patient's home shows, newest first: observations and NEWS2 since a time, each list
/// at most a limit long.
#[derive(Clone, Debug, PartialEq)]
pub struct HomeRows {
    pub assignments: Vec<HomeAssignment>,
    pub observations: Vec<ObservationRow>,
    pub news2: Vec<News2Row>,
}

/// A subject's newest observation of one code.
#[derive(Clone, Debug, PartialEq)]
pub struct LatestObservation {
    pub code: String,
    pub value: f64,
    pub unit: String,
    pub effective_at: Timestamp,
}

/// One patient in the clinicians' overview.
#[derive(Clone, Debug, PartialEq)]
pub struct PatientRow {
    pub subject: SubjectRow,
    /// The newest observation of each code, by code.
    pub latest: Vec<LatestObservation>,
    pub news2: Option<News2Row>,
    pub last_submitted_at: Option<Timestamp>,
}

const ASSIGNMENT_COLUMNS: &str = "a.id, a.subject_id, a.app_id, a.schedule, a.starts_on, \
     a.created_by, a.created_at, a.ended_at";

fn assignment_row(row: &AnyRow) -> Result<AssignmentRow, StoreError> {
    let corrupt = |what: &str| StoreError::Corrupt(format!("an assignment's {what} is not valid"));
    Ok(AssignmentRow {
        id: parse_id(&row.try_get::<String, _>("id")?)?,
        subject_id: parse_id(&row.try_get::<String, _>("subject_id")?)?,
        app_id: parse_id(&row.try_get::<String, _>("app_id")?)?,
        schedule: serde_json::from_str(&row.try_get::<String, _>("schedule")?)
            .map_err(|_| corrupt("schedule"))?,
        starts_on: CalendarDate::parse(&row.try_get::<String, _>("starts_on")?)
            .map_err(|_| corrupt("first day"))?,
        created_by: row.try_get("created_by")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        ended_at: row
            .try_get::<Option<i64>, _>("ended_at")?
            .map(Timestamp::from_micros),
    })
}

fn news2_row(row: &AnyRow) -> Result<Option<News2Row>, StoreError> {
    let Some(at) = row.try_get::<Option<i64>, _>("news2_at")? else {
        return Ok(None);
    };
    Ok(Some(News2Row {
        effective_at: Timestamp::from_micros(at),
        total: row.try_get("total")?,
        risk: row.try_get("risk")?,
        highest_parameter: row.try_get("highest_parameter")?,
    }))
}

/// The subject stream's version, beside a statement's other columns.
const SUBJECT_VERSION: &str = "(SELECT MAX(stream_version) FROM events WHERE tenant_id = $1 \
     AND stream_kind = 'subject' AND stream_id = $2)";

impl Store {
    /// Whether `app` may be assigned to `subject` now, and the subject stream version to
    /// append the assignment at.
    pub async fn assignment_check(
        &self,
        tenant: TenantId,
        subject: SubjectId,
        app: AppId,
    ) -> Result<AssignmentCheck, StoreError> {
        let mut read = self.scoped_read(tenant).await?;
        let row = sqlx::query(&format!(
            "SELECT {SUBJECT_VERSION} AS subject_version, \
             (SELECT COUNT(*) FROM apps WHERE tenant_id = $1 AND id = $3) AS apps, \
             (SELECT current_version FROM apps WHERE tenant_id = $1 AND id = $3) AS published, \
             (SELECT COUNT(*) FROM assignments WHERE tenant_id = $1 AND subject_id = $2 \
              AND app_id = $3 AND ended_at IS NULL) AS active"
        ))
        .bind(tenant.to_string())
        .bind(subject.to_string())
        .bind(app.to_string())
        .fetch_one(read.connection())
        .await?;
        Ok(AssignmentCheck {
            subject_version: row.try_get("subject_version")?,
            app_exists: row.try_get::<i64, _>("apps")? > 0,
            published_version: row.try_get("published")?,
            active: row.try_get::<i64, _>("active")? > 0,
        })
    }

    /// An assignment and the version of its subject's stream, read together: ending it is
    /// appended expecting that version.
    pub async fn assignment_and_subject_version(
        &self,
        tenant: TenantId,
        id: AssignmentId,
    ) -> Result<Option<(AssignmentRow, i64)>, StoreError> {
        let mut read = self.scoped_read(tenant).await?;
        let row = sqlx::query(&format!(
            "SELECT {ASSIGNMENT_COLUMNS}, (SELECT MAX(stream_version) FROM events \
             WHERE tenant_id = $1 AND stream_kind = 'subject' AND stream_id = a.subject_id) \
             AS subject_version FROM assignments a WHERE a.tenant_id = $1 AND a.id = $2"
        ))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(read.connection())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let version: Option<i64> = row.try_get("subject_version")?;
        let version = version
            .ok_or_else(|| StoreError::Corrupt("an assignment's subject has no stream".into()))?;
        Ok(Some((assignment_row(&row)?, version)))
    }

    /// A subject's active assignments, oldest first.
    pub async fn active_assignments(
        &self,
        tenant: TenantId,
        subject: SubjectId,
    ) -> Result<Vec<AssignmentRow>, StoreError> {
        let mut read = self.scoped_read(tenant).await?;
        sqlx::query(&format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM assignments a WHERE a.tenant_id = $1 \
             AND a.subject_id = $2 AND a.ended_at IS NULL ORDER BY a.created_at, a.id"
        ))
        .bind(tenant.to_string())
        .bind(subject.to_string())
        .fetch_all(read.connection())
        .await?
        .iter()
        .map(assignment_row)
        .collect()
    }

    /// Everything a patient's home shows, on one connection in three statements: the active
    /// assignments with their apps' published definitions and the newest submission of each,
    /// then observations and NEWS2 scores since `since`, newest first, at most `limit` each.
    pub async fn home(
        &self,
        tenant: TenantId,
        subject: SubjectId,
        since: Timestamp,
        limit: i64,
    ) -> Result<HomeRows, StoreError> {
        let mut read = self.scoped_read(tenant).await?;
        let assignments = sqlx::query(&format!(
            "SELECT {ASSIGNMENT_COLUMNS}, p.current_version, v.definition, \
             l.authored_at AS last_submitted_at FROM assignments a \
             JOIN apps p ON p.tenant_id = a.tenant_id AND p.id = a.app_id \
             LEFT JOIN app_versions v ON v.tenant_id = a.tenant_id AND v.app_id = a.app_id \
              AND v.version = p.current_version \
             LEFT JOIN latest_submissions l ON l.tenant_id = a.tenant_id \
              AND l.subject_id = a.subject_id AND l.app_id = a.app_id \
             WHERE a.tenant_id = $1 AND a.subject_id = $2 AND a.ended_at IS NULL \
             ORDER BY a.created_at, a.id"
        ))
        .bind(tenant.to_string())
        .bind(subject.to_string())
        .fetch_all(read.connection())
        .await?
        .iter()
        .map(|row| {
            Ok(HomeAssignment {
                assignment: assignment_row(row)?,
                published_version: row.try_get("current_version")?,
                definition: row.try_get("definition")?,
                last_submitted_at: row
                    .try_get::<Option<i64>, _>("last_submitted_at")?
                    .map(Timestamp::from_micros),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
        let binds = vec![
            Bind::Text(tenant.to_string()),
            Bind::id(subject.as_uuid()),
            Bind::Integer(since.as_micros()),
            Bind::Integer(limit),
        ];
        let observations = bind_all(
            sqlx::query(
                "SELECT submission_id, position, subject_id, code, effective_at, field, value, \
                 unit FROM observations WHERE tenant_key = (SELECT tenant_key FROM tenants WHERE id = $1) \
                 AND subject_id = $2 \
                 AND effective_at >= $3 \
                 ORDER BY effective_at DESC, submission_id DESC, position DESC LIMIT $4",
            ),
            &binds,
        )
        .fetch_all(read.connection())
        .await?
        .iter()
        .map(observation_row)
        .collect::<Result<Vec<_>, _>>()?;
        let news2 = bind_all(
            sqlx::query(
                "SELECT effective_at AS news2_at, total, risk, highest_parameter \
                 FROM news2_scores WHERE tenant_key = (SELECT tenant_key FROM tenants WHERE id = $1) \
                 AND subject_id = $2 \
                 AND effective_at >= $3 ORDER BY effective_at DESC, submission_id DESC LIMIT $4",
            ),
            &binds,
        )
        .fetch_all(read.connection())
        .await?
        .iter()
        .filter_map(|row| news2_row(row).transpose())
        .collect::<Result<Vec<_>, _>>()?;
        Ok(HomeRows {
            assignments,
            observations,
            news2,
        })
    }

    /// The tenant's patients at highest risk, at most `limit`, in two statements: by newest
    /// NEWS2 total (none last), then a single parameter scoring 3 first, then the most recent
    /// submission first (none last), then by id; each with the newest observation of each code.
    pub async fn patient_overview(
        &self,
        tenant: TenantId,
        limit: i64,
    ) -> Result<Vec<PatientRow>, StoreError> {
        let mut read = self.scoped_read(tenant).await?;
        // The sort keys are computed in a derived table: PostgreSQL does not let ORDER BY
        // use an output column's name inside an expression.
        let rows = sqlx::query(
            "SELECT * FROM (SELECT s.id, s.created_at, s.payload, n.effective_at AS news2_at, \
             n.total, n.risk, n.highest_parameter, \
             (SELECT MAX(l.authored_at) FROM latest_submissions l \
              WHERE l.tenant_id = s.tenant_id AND l.subject_id = s.id) AS last_submitted_at \
             FROM subjects s LEFT JOIN latest_news2 n \
              ON n.tenant_id = s.tenant_id AND n.subject_id = s.id \
             WHERE s.tenant_id = $1) AS patients \
             ORDER BY COALESCE(total, -1) DESC, \
             CASE WHEN highest_parameter = 3 THEN 1 ELSE 0 END DESC, \
             COALESCE(last_submitted_at, -1) DESC, id LIMIT $2",
        )
        .bind(tenant.to_string())
        .bind(limit)
        .fetch_all(read.connection())
        .await?;
        let mut patients = rows
            .iter()
            .map(|row| {
                Ok(PatientRow {
                    subject: subject_row(row)?,
                    latest: Vec::new(),
                    news2: news2_row(row)?,
                    last_submitted_at: row
                        .try_get::<Option<i64>, _>("last_submitted_at")?
                        .map(Timestamp::from_micros),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        if patients.is_empty() {
            return Ok(patients);
        }
        let mut binds = vec![Bind::Text(tenant.to_string())];
        binds.extend(
            patients
                .iter()
                .map(|patient| Bind::Text(patient.subject.id.to_string())),
        );
        let placeholders: Vec<String> = (2..=binds.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT subject_id, code, value, unit, effective_at FROM latest_observations \
             WHERE tenant_id = $1 AND subject_id IN ({}) ORDER BY subject_id, code",
            placeholders.join(", ")
        );
        let latest = bind_all(sqlx::query(&sql), &binds)
            .fetch_all(read.connection())
            .await?;
        let index: std::collections::HashMap<SubjectId, usize> = patients
            .iter()
            .enumerate()
            .map(|(position, patient)| (patient.subject.id, position))
            .collect();
        for row in &latest {
            let subject: SubjectId = parse_id(&row.try_get::<String, _>("subject_id")?)?;
            if let Some(&position) = index.get(&subject) {
                patients[position].latest.push(LatestObservation {
                    code: row.try_get("code")?,
                    value: row.try_get("value")?,
                    unit: row.try_get("unit")?,
                    effective_at: Timestamp::from_micros(row.try_get("effective_at")?),
                });
            }
        }
        Ok(patients)
    }
}
