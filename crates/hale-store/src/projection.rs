//! Read-model projections: a pure function from each event to rows. The writer calls it in the
//! transaction that appends the event; a rebuild calls it again for every event in the log, so
//! nothing here may read the clock or anything but the event.

use hale_domain::event::{EventBody, RecordedEvent};
use sqlx::AnyConnection;

use crate::bulk::{Bind, BulkInsert};
use crate::error::StoreError;

/// Every table this module writes, in an order safe to empty them.
pub(crate) const TABLES: [&str; 8] = [
    "observations",
    "submissions",
    "app_versions",
    "apps",
    "subject_identifiers",
    "subjects",
    "access_tokens",
    "tenants",
];

pub(crate) async fn apply(
    connection: &mut AnyConnection,
    event: &RecordedEvent,
    body: &EventBody,
) -> Result<(), StoreError> {
    let tenant = event.tenant_id.to_string();
    let at = event.recorded_at.as_micros();
    match body {
        EventBody::TenantCreated {
            tenant_id,
            slug,
            name,
        } => {
            sqlx::query("INSERT INTO tenants (id, slug, name, created_at) VALUES ($1, $2, $3, $4)")
                .bind(tenant_id.to_string())
                .bind(slug)
                .bind(name)
                .bind(at)
                .execute(&mut *connection)
                .await?;
        }
        EventBody::AccessTokenIssued {
            principal_id,
            tenant_id,
            token_hash,
            roles,
            subject_id,
            label,
        } => {
            sqlx::query(
                "INSERT INTO access_tokens \
                 (token_hash, principal_id, tenant_id, roles, subject_id, label, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(token_hash)
            .bind(principal_id.to_string())
            .bind(tenant_id.map(|id| id.to_string()))
            .bind(roles.join(" "))
            .bind(subject_id.map(|id| id.to_string()))
            .bind(label)
            .bind(at)
            .execute(&mut *connection)
            .await?;
        }
        EventBody::SubjectRegistered {
            subject_id,
            identifiers,
            display_name,
            birth_date,
            identifier_keys,
        } => {
            let payload = serde_json::json!({
                "identifiers": identifiers,
                "display_name": display_name,
                "birth_date": birth_date,
            });
            sqlx::query(
                "INSERT INTO subjects (tenant_id, id, created_at, payload) VALUES ($1, $2, $3, $4)",
            )
            .bind(&tenant)
            .bind(subject_id.to_string())
            .bind(at)
            .bind(payload.to_string())
            .execute(&mut *connection)
            .await?;
            for key in identifier_keys {
                sqlx::query(
                    "INSERT INTO subject_identifiers (tenant_id, identifier_key, subject_id) \
                     VALUES ($1, $2, $3)",
                )
                .bind(&tenant)
                .bind(key)
                .bind(subject_id.to_string())
                .execute(&mut *connection)
                .await?;
            }
        }
        EventBody::AppCreated { app_id, name } => {
            sqlx::query(
                "INSERT INTO apps (tenant_id, id, name, created_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&tenant)
            .bind(app_id.to_string())
            .bind(name)
            .bind(&event.actor)
            .bind(at)
            .execute(&mut *connection)
            .await?;
        }
        EventBody::AppVersionDrafted {
            app_id,
            version,
            definition,
            compiled,
        } => {
            sqlx::query(
                "INSERT INTO app_versions (tenant_id, app_id, version, status, definition, \
                 compiled, author, created_at) VALUES ($1, $2, $3, 'draft', $4, $5, $6, $7)",
            )
            .bind(&tenant)
            .bind(app_id.to_string())
            .bind(*version)
            .bind(definition.get())
            .bind(compiled.get())
            .bind(&event.actor)
            .bind(at)
            .execute(&mut *connection)
            .await?;
        }
        EventBody::AppVersionStatusChanged {
            app_id,
            version,
            status,
            comment,
            report,
        } => {
            sqlx::query(
                "UPDATE app_versions SET status = $1, status_by = $2, status_at = $3, \
                 status_comment = $4, report = COALESCE($5, report) \
                 WHERE tenant_id = $6 AND app_id = $7 AND version = $8",
            )
            .bind(status.as_str())
            .bind(&event.actor)
            .bind(at)
            .bind(comment.as_deref())
            .bind(report.as_ref().map(|report| report.get()))
            .bind(&tenant)
            .bind(app_id.to_string())
            .bind(*version)
            .execute(&mut *connection)
            .await?;
            // The app's current version is its newest published one.
            sqlx::query(
                "UPDATE apps SET current_version = (SELECT MAX(version) FROM app_versions \
                 WHERE tenant_id = $1 AND app_id = $2 AND status = 'published') \
                 WHERE tenant_id = $1 AND id = $2",
            )
            .bind(&tenant)
            .bind(app_id.to_string())
            .execute(&mut *connection)
            .await?;
        }
        EventBody::SubmissionReceived { .. } => {
            let mut rows = SubmissionRows::new();
            rows.add(event, body);
            rows.flush(connection).await?;
        }
    }
    Ok(())
}

/// Submission and observation rows gathered for multi-row inserts: submissions are the bulk of
/// all events, so the writer and the rebuild insert a batch of them in two statements.
pub(crate) struct SubmissionRows {
    submissions: BulkInsert,
    observations: BulkInsert,
}

impl SubmissionRows {
    pub(crate) fn new() -> Self {
        Self {
            submissions: BulkInsert::new(
                "INSERT INTO submissions (tenant_id, id, subject_id, app_id, app_version, \
                 authored_at, recorded_at, actor, payload, scores)",
                10,
            ),
            observations: BulkInsert::new(
                "INSERT INTO observations (tenant_id, submission_id, position, subject_id, \
                 code, effective_at, payload)",
                7,
            ),
        }
    }

    /// Gathers the rows of a `SubmissionReceived` event; ignores any other event.
    pub(crate) fn add(&mut self, event: &RecordedEvent, body: &EventBody) {
        let EventBody::SubmissionReceived {
            submission_id,
            subject_id,
            app_id,
            app_version,
            authored_at,
            answers,
            observations,
            scores,
            ..
        } = body
        else {
            return;
        };
        let tenant = event.tenant_id.to_string();
        let submission = submission_id.to_string();
        let subject = subject_id.to_string();
        self.submissions.row([
            Bind::Text(tenant.clone()),
            Bind::Text(submission.clone()),
            Bind::Text(subject.clone()),
            Bind::Text(app_id.to_string()),
            Bind::Integer(*app_version),
            Bind::Integer(authored_at.as_micros()),
            Bind::Integer(event.recorded_at.as_micros()),
            Bind::Text(event.actor.clone()),
            Bind::Text(answers.get().to_owned()),
            Bind::OptionalText(scores.as_ref().map(|scores| scores.get().to_owned())),
        ]);
        for observation in observations {
            let payload = serde_json::json!({
                "field": observation.field,
                "value": observation.value,
                "unit": observation.unit,
            });
            self.observations.row([
                Bind::Text(tenant.clone()),
                Bind::Text(submission.clone()),
                Bind::Integer(i64::from(observation.index)),
                Bind::Text(subject.clone()),
                Bind::Text(observation.code.clone()),
                Bind::Integer(authored_at.as_micros()),
                Bind::Text(payload.to_string()),
            ]);
        }
    }

    pub(crate) async fn flush(&mut self, connection: &mut AnyConnection) -> Result<(), StoreError> {
        self.submissions.flush(connection).await?;
        self.observations.flush(connection).await
    }
}

/// Projects many events in log order: submissions in multi-row inserts, everything else one by
/// one (pending submission rows are written first, so order is kept).
pub(crate) async fn apply_many(
    connection: &mut AnyConnection,
    events: &[(RecordedEvent, &EventBody)],
) -> Result<(), StoreError> {
    let mut rows = SubmissionRows::new();
    for (event, body) in events {
        if matches!(body, EventBody::SubmissionReceived { .. }) {
            rows.add(event, body);
        } else {
            rows.flush(connection).await?;
            apply(connection, event, body).await?;
        }
    }
    rows.flush(connection).await
}
