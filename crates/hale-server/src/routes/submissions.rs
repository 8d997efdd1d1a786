//! Submissions: POST one with an idempotency key, POST a batch of them in one call (what the
//! patient app sends when it syncs), GET one by id. A batch item goes through exactly the code
//! path of a single submission and answers what the single endpoint would have.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use hale_core::SubmitAnswers;
use hale_domain::{RequestContext, SubmissionId, TenantId, Timestamp};
use hale_forms::FieldError;
use serde_json::{Value, json};

use crate::AppState;
use crate::dto::{BatchResultDto, SubmissionDto, Submit, SubmitBatch};
use crate::extract::{Context, JsonBody, Path, json_problem};
use crate::problem::{ApiError, Problem};
use crate::routes::subjects::path_id;
use hale_core::ErrorCode;

/// Most submissions in one batch: a patient's week of forms, well inside the body limit.
pub(crate) const MAX_BATCH: usize = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tenants/{tenant}/submissions", post(submit))
        .route("/tenants/{tenant}/submissions/batch", post(submit_batch))
        .route("/tenants/{tenant}/submissions/{submission}", get(read))
}

/// 201 when this call stored the submission; 200 with the same body when a retry found it.
async fn submit(
    State(state): State<AppState>,
    Context(context): Context,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Submit>,
) -> Result<(StatusCode, Json<SubmissionDto>), ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let header_key = headers
        .get("idempotency-key")
        .map(|value| value.to_str().map(str::to_owned))
        .transpose()
        .map_err(|_| {
            Problem::new(
                ErrorCode::MalformedRequest,
                "Idempotency-Key must be visible ASCII",
            )
        })?;
    let (status, submission) = store(&state, &context, tenant, header_key, body).await?;
    Ok((status, Json(submission)))
}

/// Each item stored (or refused) on its own, in order; 200 with every item's outcome. An
/// empty batch is 422 and one over [`MAX_BATCH`] is 413, with nothing stored.
async fn submit_batch(
    State(state): State<AppState>,
    Context(context): Context,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<SubmitBatch>,
) -> Result<Json<Value>, ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    if body.submissions.is_empty() {
        let mut problem = Problem::new(ErrorCode::ValidationFailed, "the batch is empty");
        problem.errors.push(FieldError {
            field: "submissions".into(),
            code: "empty",
            message: "a batch holds 1 to 50 submissions".into(),
        });
        return Err(problem.into());
    }
    if body.submissions.len() > MAX_BATCH {
        return Err(Problem::new(
            ErrorCode::PayloadTooLarge,
            "a batch holds at most 50 submissions",
        )
        .into());
    }
    let mut results = Vec::with_capacity(body.submissions.len());
    for item in body.submissions {
        let outcome = match hale_domain::json::from_str::<Submit>(item.get()) {
            Ok(submit) => store(&state, &context, tenant, None, submit).await,
            Err(error) => Err(json_problem(&error).into()),
        };
        results.push(match outcome {
            Ok((status, submission)) => BatchResultDto {
                status: status.as_u16(),
                submission: Some(submission),
                problem: None,
            },
            Err(ApiError(problem)) => BatchResultDto {
                status: problem.status,
                submission: None,
                problem: Some(*problem),
            },
        });
    }
    Ok(Json(json!({ "results": results })))
}

/// One submission, for the single endpoint and for each item of a batch: `header_key` is the
/// single endpoint's `Idempotency-Key`, which must agree with the body's when both are given.
async fn store(
    state: &AppState,
    context: &RequestContext,
    tenant: TenantId,
    header_key: Option<String>,
    body: Submit,
) -> Result<(StatusCode, SubmissionDto), ApiError> {
    if header_key.is_some() && body.idempotency_key.is_some() && header_key != body.idempotency_key
    {
        return Err(Problem::new(
            ErrorCode::MalformedRequest,
            "Idempotency-Key header and body field differ",
        )
        .into());
    }
    let authored_at = body
        .authored_at
        .as_deref()
        .map(Timestamp::parse_rfc3339)
        .transpose()
        .map_err(|_| {
            Problem::new(
                ErrorCode::MalformedRequest,
                "authored_at must be an RFC 3339 date-time with offset",
            )
        })?;
    let request = SubmitAnswers {
        subject: path_id(&body.subject_id)?,
        app: path_id(&body.app_id)?,
        app_version: body.app_version,
        authored_at,
        answers: body.answers,
        idempotency_key: header_key.or(body.idempotency_key),
    };
    let submitted = state.core.submit(context, tenant, request).await?;
    let status = if submitted.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, submitted.submission.into()))
}

async fn read(
    State(state): State<AppState>,
    Context(context): Context,
    Path((tenant, submission)): Path<(String, String)>,
) -> Result<Json<SubmissionDto>, ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let submission: SubmissionId = path_id(&submission)?;
    Ok(Json(
        state
            .core
            .get_submission(&context, tenant, submission)
            .await?
            .into(),
    ))
}
