//! Assignments: a clinician or tenant administrator asks a subject to fill in a published app
//! on a schedule, and ends the request. Each change is an event on the subject's stream,
//! appended expecting the version its checks read, so two concurrent changes to one subject's
//! assignments cannot both pass a check the other invalidates (one gets 409).

use hale_domain::assignment::{AssignmentId, CalendarDate, Schedule};
use hale_domain::event::{EventBody, ExpectedVersion, NewEvent, StreamRef};
use hale_domain::{AppId, RequestContext, SubjectId, TenantId, Timestamp};
use hale_store::{Append, AssignmentRow};

use crate::{Core, CoreError, Target};

/// A request to assign an app to a subject.
#[derive(Clone, Debug)]
pub struct NewAssignment {
    pub subject: SubjectId,
    pub app: AppId,
    pub schedule: Schedule,
    /// The first day it is due, `YYYY-MM-DD`; today (UTC) when absent.
    pub starts_on: Option<String>,
}

const ALREADY_ASSIGNED: &str = "the app is already assigned to this subject";
const NOT_PUBLISHED: &str = "the app has no published version to assign";
const ALREADY_ENDED: &str = "the assignment has already ended";

/// A stream conflict here means another change to the subject's assignments came first.
fn concurrent(error: hale_store::StoreError) -> CoreError {
    match error {
        hale_store::StoreError::Conflict(_) => CoreError::ConcurrentChange,
        other => other.into(),
    }
}

impl Core {
    pub async fn assign(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        request: NewAssignment,
    ) -> Result<AssignmentRow, CoreError> {
        let subject = request.subject.to_string();
        let target = Target {
            tenant: Some(tenant),
            kind: "subject.assignment",
            id: Some(&subject),
        };
        self.audited::<crate::policy::Assign, _>(context, "assignment.create", target, async {
            let now = self.now();
            let starts_on = match request.starts_on.as_deref() {
                Some(text) => CalendarDate::parse(text).map_err(|_| {
                    CoreError::invalid(
                        "starts_on",
                        "invalid_date",
                        "starts_on must be a calendar date between 2000-01-01 and 9999-12-31, \
                         YYYY-MM-DD",
                    )
                })?,
                None => CalendarDate::of(now),
            };
            let check = self
                .store()
                .assignment_check(tenant, request.subject, request.app)
                .await?;
            let (Some(subject_version), true) = (check.subject_version, check.app_exists) else {
                return Err(CoreError::NotFound);
            };
            if check.published_version.is_none() {
                return Err(CoreError::Conflict(NOT_PUBLISHED));
            }
            if check.active {
                return Err(CoreError::Conflict(ALREADY_ASSIGNED));
            }
            let assignment = AssignmentRow {
                id: AssignmentId::from_uuid(self.new_uuid()),
                subject_id: request.subject,
                app_id: request.app,
                schedule: request.schedule,
                starts_on,
                created_by: context.actor(),
                created_at: now,
                ended_at: None,
            };
            let made = EventBody::AssignmentMade {
                assignment_id: assignment.id,
                subject_id: assignment.subject_id,
                app_id: assignment.app_id,
                schedule: assignment.schedule,
                starts_on: assignment.starts_on,
            };
            self.append_to_subject(context, tenant, request.subject, subject_version, now, made)
                .await?;
            // Everything the row holds is known here: no read after the write.
            Ok(assignment)
        })
        .await
    }

    /// A subject's active assignments, oldest first.
    pub async fn list_assignments(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        subject: SubjectId,
    ) -> Result<Vec<AssignmentRow>, CoreError> {
        let id = subject.to_string();
        let target = Target {
            tenant: Some(tenant),
            kind: "subject.assignment",
            id: Some(&id),
        };
        self.audited::<crate::policy::ListAssignments, _>(
            context,
            "assignment.list",
            target,
            async {
                if !self.subject_exists(tenant, subject).await? {
                    return Err(CoreError::NotFound);
                }
                Ok(self.store().active_assignments(tenant, subject).await?)
            },
        )
        .await
    }

    pub async fn end_assignment(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        assignment: AssignmentId,
    ) -> Result<AssignmentRow, CoreError> {
        let id = assignment.to_string();
        let target = Target {
            tenant: Some(tenant),
            kind: "assignment",
            id: Some(&id),
        };
        self.audited::<crate::policy::EndAssignment, _>(context, "assignment.end", target, async {
            let (mut row, subject_version) = self
                .store()
                .assignment_and_subject_version(tenant, assignment)
                .await?
                .ok_or(CoreError::NotFound)?;
            if row.ended_at.is_some() {
                return Err(CoreError::Conflict(ALREADY_ENDED));
            }
            let now = self.now();
            let ended = EventBody::AssignmentEnded {
                assignment_id: row.id,
                subject_id: row.subject_id,
            };
            self.append_to_subject(context, tenant, row.subject_id, subject_version, now, ended)
                .await?;
            row.ended_at = Some(now);
            Ok(row)
        })
        .await
    }

    /// Appends one assignment event to the subject's stream at the version read, so that of
    /// two concurrent changes to one subject's assignments only one succeeds.
    async fn append_to_subject(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        subject: SubjectId,
        subject_version: i64,
        now: Timestamp,
        body: EventBody,
    ) -> Result<(), CoreError> {
        self.store()
            .append(Append {
                tenant,
                actor: context.actor(),
                recorded_at: now,
                events: vec![NewEvent {
                    stream: StreamRef::subject(subject),
                    expected: ExpectedVersion::Exact(subject_version),
                    body,
                }],
                idempotency: None,
                preconditions: Vec::new(),
            })
            .await
            .map_err(concurrent)?;
        Ok(())
    }
}
