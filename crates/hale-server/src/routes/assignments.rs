//! Assignments: the apps a subject is asked to fill in, on which schedule; made, listed and
//! ended by clinicians and tenant administrators.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use hale_core::NewAssignment;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::dto::{AssignmentDto, CreateAssignment};
use crate::extract::{Context, JsonBody, Path, Query};
use crate::problem::ApiError;
use crate::routes::subjects::path_id;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tenants/{tenant}/assignments", get(list).post(create))
        .route("/tenants/{tenant}/assignments/{assignment}/end", post(end))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    subject_id: String,
}

async fn create(
    State(state): State<AppState>,
    Context(context): Context,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<CreateAssignment>,
) -> Result<(StatusCode, Json<AssignmentDto>), ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let request = NewAssignment {
        subject: path_id(&body.subject_id)?,
        app: path_id(&body.app_id)?,
        schedule: body.schedule,
        starts_on: body.starts_on,
    };
    let assignment = state.core.assign(&context, tenant, request).await?;
    Ok((StatusCode::CREATED, Json(assignment.into())))
}

/// The subject's active assignments.
async fn list(
    State(state): State<AppState>,
    Context(context): Context,
    Path(tenant): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let subject = path_id(&query.subject_id)?;
    let items: Vec<AssignmentDto> = state
        .core
        .list_assignments(&context, tenant, subject)
        .await?
        .into_iter()
        .map(AssignmentDto::from)
        .collect();
    Ok(Json(json!({ "items": items })))
}

async fn end(
    State(state): State<AppState>,
    Context(context): Context,
    Path((tenant, assignment)): Path<(String, String)>,
) -> Result<Json<AssignmentDto>, ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let assignment = path_id(&assignment)?;
    Ok(Json(
        state
            .core
            .end_assignment(&context, tenant, assignment)
            .await?
            .into(),
    ))
}
