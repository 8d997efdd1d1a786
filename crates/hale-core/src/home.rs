//! What the patient app and the clinicians read in one call each: a patient's home (their
//! assignments, whether each is due, the published definitions to fill in and their recent
//! history) and the overview of a tenant's patients, riskiest first.

use hale_domain::assignment::due;
use hale_domain::{AppId, RequestContext, SubjectId, TenantId, Timestamp};
use hale_store::{AssignmentRow, News2Row, ObservationRow, PatientRow};

use crate::app_io::stored_definition;
use crate::{Core, CoreError, Target};

/// How far back a home's history reaches.
pub const HISTORY_DAYS: i64 = 90;
/// Most observations (and NEWS2 scores) in a home's history; the newest are kept.
pub const HISTORY_LIMIT: i64 = 5000;
/// Most patients in the overview; the riskiest are kept.
pub const OVERVIEW_LIMIT: i64 = 1000;

const DAY_MICROS: i64 = 86_400_000_000;

/// One active assignment as its patient sees it.
#[derive(Clone, Debug)]
pub struct HomeAssignment {
    pub assignment: AssignmentRow,
    /// The published version's title, in its default language.
    pub title: String,
    pub due: bool,
    pub last_submitted_at: Option<Timestamp>,
}

/// A published version the patient's assignments ask for.
#[derive(Clone, Debug)]
pub struct PublishedApp {
    pub app: AppId,
    pub version: i64,
    /// The Hale JSON definition, as exporting the version gives it.
    pub definition: serde_json::Value,
}

/// A patient's home.
#[derive(Clone, Debug)]
pub struct Home {
    pub subject: SubjectId,
    pub now: Timestamp,
    /// Assignments whose app has a published version, oldest first.
    pub assignments: Vec<HomeAssignment>,
    pub apps: Vec<PublishedApp>,
    /// The last [`HISTORY_DAYS`], oldest first.
    pub observations: Vec<ObservationRow>,
    pub news2: Vec<News2Row>,
}

/// One row of the clinicians' overview.
#[derive(Clone, Debug)]
pub struct PatientOverview {
    pub patient: PatientRow,
    /// NEWS2 of 5 or more, or a single parameter scoring 3 (RCP's trigger for an urgent
    /// response).
    pub alert: bool,
}

/// Whether a NEWS2 calls for an urgent response.
fn alerts(news2: &News2Row) -> bool {
    news2.total >= 5 || news2.highest_parameter >= 3
}

impl Core {
    /// The caller's own home: a patient only ever sees their own subject.
    pub async fn home(
        &self,
        context: &RequestContext,
        tenant: TenantId,
    ) -> Result<Home, CoreError> {
        let subject = context.principal.subject;
        let id = subject.map(|subject| subject.to_string());
        let target = Target {
            tenant: Some(tenant),
            kind: "subject.home",
            id: id.as_deref(),
        };
        self.audited::<crate::policy::ReadHome, _>(context, "home.read", target, async {
            let subject = subject.ok_or(CoreError::NotFound)?;
            let now = self.now();
            let since = now.plus_micros(-HISTORY_DAYS * DAY_MICROS);
            let rows = self
                .store()
                .home(tenant, subject, since, HISTORY_LIMIT)
                .await?;
            let mut assignments = Vec::with_capacity(rows.assignments.len());
            let mut apps = Vec::with_capacity(rows.assignments.len());
            for row in rows.assignments {
                // Published versions can all retire: such an app cannot be filled in.
                let (Some(version), Some(text)) = (row.published_version, row.definition) else {
                    continue;
                };
                let definition = stored_definition(&text)?;
                let title = definition
                    .title
                    .in_language(&definition.default_language)
                    .to_owned();
                let assignment = row.assignment;
                apps.push(PublishedApp {
                    app: assignment.app_id,
                    version,
                    definition: serde_json::to_value(&definition)
                        .map_err(|_| CoreError::internal("a definition did not serialise"))?,
                });
                assignments.push(HomeAssignment {
                    due: due(
                        assignment.schedule,
                        assignment.starts_on,
                        row.last_submitted_at,
                        now,
                    ),
                    title,
                    last_submitted_at: row.last_submitted_at,
                    assignment,
                });
            }
            let mut observations = rows.observations;
            observations.reverse();
            let mut news2 = rows.news2;
            news2.reverse();
            Ok(Home {
                subject,
                now,
                assignments,
                apps,
                observations,
                news2,
            })
        })
        .await
    }

    /// The tenant's patients, riskiest first (newest NEWS2 total, then a single parameter
    /// scoring 3, then the most recent submission), at most [`OVERVIEW_LIMIT`].
    pub async fn patient_overview(
        &self,
        context: &RequestContext,
        tenant: TenantId,
    ) -> Result<Vec<PatientOverview>, CoreError> {
        let target = Target {
            tenant: Some(tenant),
            kind: "patients",
            id: None,
        };
        self.audited::<crate::policy::ReadPatientOverview, _>(
            context,
            "patients.overview",
            target,
            async {
                // Names as well as readings: the credential must reach patients too.
                crate::policy::permit::<crate::policy::ListSubjects>(&context.principal)?;
                let patients = self
                    .store()
                    .patient_overview(tenant, OVERVIEW_LIMIT)
                    .await?;
                Ok(patients
                    .into_iter()
                    .map(|patient| PatientOverview {
                        alert: patient.news2.as_ref().is_some_and(alerts),
                        patient,
                    })
                    .collect())
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn news2(total: i64, highest_parameter: i64) -> News2Row {
        News2Row {
            effective_at: Timestamp::from_micros(0),
            total,
            risk: String::new(),
            highest_parameter,
        }
    }

    #[test]
    fn an_alert_is_news2_of_five_or_a_single_parameter_of_three() {
        assert!(!alerts(&news2(4, 2)));
        assert!(alerts(&news2(5, 1)));
        assert!(alerts(&news2(3, 3)));
        assert!(!alerts(&news2(0, 0)));
    }
}
