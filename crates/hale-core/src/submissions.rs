//! Submissions: answers against one published app version, validated field by field, stored
//! with their derived observations in one append, never lost and never doubled.

use hale_domain::event::{EventBody, ExpectedVersion, NewEvent, StreamRef};
use hale_domain::{AppId, RequestContext, SubjectId, SubmissionId, TenantId, Timestamp};
use hale_store::{
    Append, AppendOutcome, IdempotencyClaim, ObservationRow, Page, Precondition, SubmissionRow,
    TimeRange,
};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::{Core, CoreError, Target, require_subject_access};

/// Earliest `authored_at` accepted, 2000-01-01T00:00:00Z: Hale records what people enter on
/// devices today, and an earlier time is a clock or typing slip (year 1, the Unix epoch).
const EARLIEST_AUTHORED_AT: Timestamp = Timestamp::from_micros(946_684_800_000_000);

/// A request to store one submission.
#[derive(Debug)]
pub struct SubmitAnswers {
    pub subject: SubjectId,
    pub app: AppId,
    /// The version the client filled in; the current published one when absent.
    pub app_version: Option<i64>,
    /// When the answers were given (offline clients submit later); now when absent.
    pub authored_at: Option<Timestamp>,
    /// The answers object exactly as the client sent it.
    pub answers: Box<RawValue>,
    /// Makes retries safe: the same key and request return the first result.
    pub idempotency_key: Option<String>,
}

/// A stored submission, and whether this call stored it or found it stored by an earlier try.
#[derive(Debug)]
pub struct Submitted {
    pub submission: SubmissionRow,
    pub replayed: bool,
}

/// Which page of a subject's history to read.
#[derive(Clone, Debug, Default)]
pub struct Listing {
    pub range: TimeRange,
    pub after: Option<(i64, String, i64)>,
    /// Rows per page: 1 to [`MAX_PAGE_SIZE`], [`DEFAULT_PAGE_SIZE`] when absent.
    pub limit: Option<i64>,
    /// LOINC code filter (observations only).
    pub code: Option<String>,
}

/// Rows in a page when the caller does not say.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// Most rows in one page, whatever the caller asks: bounds each read's memory and time.
pub const MAX_PAGE_SIZE: i64 = 500;

/// The page size a listing may use; every transport gets the same bound from here.
pub(crate) fn page_size(limit: Option<i64>) -> Result<i64, CoreError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if (1..=MAX_PAGE_SIZE).contains(&limit) {
        Ok(limit)
    } else {
        Err(CoreError::invalid(
            "limit",
            "out_of_range",
            "limit must be between 1 and 500",
        ))
    }
}

fn request_hash(request: &SubmitAnswers) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"hale.submission.v1");
    for part in [
        request.subject.to_string(),
        request.app.to_string(),
        request
            .app_version
            .map_or_else(|| "-".into(), |v| v.to_string()),
        request
            .authored_at
            .map_or_else(|| "-".into(), |t| t.as_micros().to_string()),
        request.answers.get().to_owned(),
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

fn check_idempotency_key(key: &str) -> Result<(), CoreError> {
    let valid = (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic());
    if valid {
        Ok(())
    } else {
        Err(CoreError::invalid(
            "idempotency_key",
            "invalid_idempotency_key",
            "an idempotency key is 1-255 visible ASCII characters",
        ))
    }
}

/// How far ahead of the server's clock `authored_at` may lie: clients' clocks drift.
const AUTHORED_AHEAD_MICROS: i64 = 5 * 60 * 1_000_000;

/// When the answers were given: `authored_at` as the client sent it (offline clients submit
/// later, so a past time back to [`EARLIEST_AUTHORED_AT`] is kept as recorded), `now` when
/// absent. A time more than five minutes ahead of the server's clock is refused: it would let
/// `now()`/`today()` in constraints run ahead of the present.
fn authored_time(authored_at: Option<Timestamp>, now: Timestamp) -> Result<Timestamp, CoreError> {
    let authored_at = authored_at.unwrap_or(now);
    if authored_at > now.plus_micros(AUTHORED_AHEAD_MICROS) {
        return Err(CoreError::invalid(
            "authored_at",
            "in_future",
            "authored_at lies more than five minutes in the future",
        ));
    }
    if authored_at < EARLIEST_AUTHORED_AT {
        return Err(CoreError::invalid(
            "authored_at",
            "out_of_range",
            "authored_at lies before 2000-01-01",
        ));
    }
    Ok(authored_at)
}

impl Core {
    /// The submission an earlier try with this key stored, if any: the same request replays
    /// it, another request with the same key is refused. Absent, the writer still claims the
    /// key atomically with the submission, so two first tries racing store one.
    async fn replay(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        key: &str,
        request_hash: &str,
    ) -> Result<Option<Submitted>, CoreError> {
        let Some(claim) = self
            .store()
            .claimed_key(tenant, &context.actor(), key)
            .await?
        else {
            return Ok(None);
        };
        if claim.request_hash != request_hash {
            return Err(CoreError::IdempotencyMismatch);
        }
        self.original_submission(tenant, &claim.stream_id)
            .await
            .map(Some)
    }

    /// The submission a claimed key points at; its absence means the store lost it.
    async fn original_submission(
        &self,
        tenant: TenantId,
        stream_id: &str,
    ) -> Result<Submitted, CoreError> {
        let original: SubmissionId = stream_id
            .parse()
            .map_err(|_| CoreError::internal("a replayed stream id is not a submission id"))?;
        let submission = self
            .store()
            .submission(tenant, original)
            .await?
            .ok_or_else(|| CoreError::internal("a replayed submission is missing"))?;
        Ok(Submitted {
            submission,
            replayed: true,
        })
    }

    /// Who may read a subject's history: a reading role, the patient's own record, and a
    /// subject that exists — all three failing alike when the subject is not the caller's.
    async fn require_subject_history(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        subject: SubjectId,
    ) -> Result<(), CoreError> {
        require_subject_access(&context.principal, subject)?;
        if self.subject_exists(tenant, subject).await? {
            Ok(())
        } else {
            Err(CoreError::NotFound)
        }
    }

    pub async fn submit(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        request: SubmitAnswers,
    ) -> Result<Submitted, CoreError> {
        let target = Target {
            tenant: Some(tenant),
            kind: "submission",
            id: None,
        };
        self.audited::<crate::policy::Submit, _>(context, "submission.create", target, async {
            require_subject_access(&context.principal, request.subject)?;
            let hash = request_hash(&request);
            let Some(key) = request.idempotency_key.clone() else {
                return self
                    .validate_and_store(context, tenant, request, hash)
                    .await;
            };
            check_idempotency_key(&key)?;
            // A retry answers with what the first try stored, whatever has changed since (the
            // version retired, the day moved on): it is never refused by validation. The claim
            // is read only when the request is refused, so a first try pays nothing for it; one
            // that passes meets its claim in the writer, which replays it atomically.
            match self
                .validate_and_store(context, tenant, request, hash.clone())
                .await
            {
                Err(refusal @ (CoreError::NotFound | CoreError::Invalid(_))) => self
                    .replay(context, tenant, &key, &hash)
                    .await?
                    .ok_or(refusal),
                outcome => outcome,
            }
        })
        .await
    }

    /// Validates a submission against its published version and appends it with its
    /// observations and idempotency claim.
    async fn validate_and_store(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        request: SubmitAnswers,
        hash: String,
    ) -> Result<Submitted, CoreError> {
        if !self.subject_exists(tenant, request.subject).await? {
            return Err(CoreError::NotFound);
        }
        let (app_version, form) = self
            .published_form(tenant, request.app, request.app_version)
            .await?;
        let answers =
            hale_forms::parse_answers(request.answers.get()).map_err(CoreError::Invalid)?;
        let now = self.now();
        let authored_at = authored_time(request.authored_at, now)?;
        // `now()` and `today()` mean the moment the answers were given, as they did in the
        // form the patient filled in, not the moment the server happens to receive them.
        let valid = form
            .validate(&answers, authored_at)
            .map_err(CoreError::Invalid)?;
        let scores = match &valid.news2 {
            Some(news2) => Some(
                serde_json::to_string(&serde_json::json!({ "news2": news2 }))
                    .ok()
                    .and_then(|text| RawValue::from_string(text).ok())
                    .ok_or_else(|| CoreError::internal("scores did not serialise"))?,
            ),
            None => None,
        };
        let id = SubmissionId::from_uuid(self.new_uuid());
        let answers_text = request.answers.get().to_owned();
        let outcome = self
            .store()
            .append(Append {
                tenant,
                actor: context.actor(),
                recorded_at: now,
                events: vec![NewEvent {
                    stream: StreamRef::submission(id),
                    expected: ExpectedVersion::NoStream,
                    body: EventBody::SubmissionReceived {
                        submission_id: id,
                        subject_id: request.subject,
                        app_id: request.app,
                        app_version,
                        authored_at,
                        answers: request.answers,
                        observations: valid.observations,
                        idempotency_key: request.idempotency_key.clone(),
                        request_hash: hash.clone(),
                        scores: scores.clone(),
                    },
                }],
                idempotency: request.idempotency_key.map(|key| IdempotencyClaim {
                    key,
                    request_hash: hash,
                }),
                // Checked where a retire cannot slip in between check and write.
                preconditions: vec![Precondition::AppVersionPublished {
                    app_id: request.app,
                    version: app_version,
                }],
            })
            .await?;
        match outcome {
            // Everything the row holds is known here: no read after the write.
            AppendOutcome::Appended { .. } => Ok(Submitted {
                submission: SubmissionRow {
                    id,
                    subject_id: request.subject,
                    app_id: request.app,
                    app_version,
                    authored_at,
                    recorded_at: now,
                    actor: context.actor(),
                    answers: answers_text,
                    scores: scores.map(|scores| scores.get().to_owned()),
                },
                replayed: false,
            }),
            AppendOutcome::Replayed { stream_id } => {
                self.original_submission(tenant, &stream_id).await
            }
        }
    }

    pub async fn get_submission(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        id: SubmissionId,
    ) -> Result<SubmissionRow, CoreError> {
        let text = id.to_string();
        let target = Target {
            tenant: Some(tenant),
            kind: "submission",
            id: Some(&text),
        };
        self.audited::<crate::policy::ReadSubmissions, _>(
            context,
            "submission.read",
            target,
            async {
                let submission = self
                    .store()
                    .submission(tenant, id)
                    .await?
                    .ok_or(CoreError::NotFound)?;
                require_subject_access(&context.principal, submission.subject_id)?;
                Ok(submission)
            },
        )
        .await
    }

    pub async fn list_submissions(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        subject: SubjectId,
        listing: Listing,
    ) -> Result<Page<SubmissionRow>, CoreError> {
        let text = subject.to_string();
        let target = Target {
            tenant: Some(tenant),
            kind: "subject.submissions",
            id: Some(&text),
        };
        self.audited::<crate::policy::ListSubmissions, _>(
            context,
            "submission.list",
            target,
            async {
                let limit = page_size(listing.limit)?;
                self.require_subject_history(context, tenant, subject)
                    .await?;
                Ok(self
                    .store()
                    .submissions_for_subject(tenant, subject, listing.range, listing.after, limit)
                    .await?)
            },
        )
        .await
    }

    pub async fn list_observations(
        &self,
        context: &RequestContext,
        tenant: TenantId,
        subject: SubjectId,
        listing: Listing,
    ) -> Result<Page<ObservationRow>, CoreError> {
        let text = subject.to_string();
        let target = Target {
            tenant: Some(tenant),
            kind: "subject.observations",
            id: Some(&text),
        };
        self.audited::<crate::policy::ListObservations, _>(
            context,
            "observation.list",
            target,
            async {
                let limit = page_size(listing.limit)?;
                self.require_subject_history(context, tenant, subject)
                    .await?;
                Ok(self
                    .store()
                    .observations_for_subject(
                        tenant,
                        subject,
                        listing.code.as_deref(),
                        listing.range,
                        listing.after,
                        limit,
                    )
                    .await?)
            },
        )
        .await
    }
}
