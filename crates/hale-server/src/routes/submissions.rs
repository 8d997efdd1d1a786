//! Submissions: POST with an idempotency key, GET by id.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use hale_core::SubmitAnswers;
use hale_domain::{SubmissionId, Timestamp};

use crate::AppState;
use crate::dto::{SubmissionDto, Submit};
use crate::extract::{Context, JsonBody, Path};
use crate::problem::{ApiError, Problem};
use crate::routes::subjects::path_id;
use hale_core::ErrorCode;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tenants/{tenant}/submissions", post(submit))
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
    let submitted = state.core.submit(&context, tenant, request).await?;
    let status = if submitted.replayed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(submitted.submission.into())))
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
