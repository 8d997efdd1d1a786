//! Health-check apps, their versions, and the review workflow.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use hale_core::{DraftVersion, VersionStep};
use hale_domain::AppId;
use serde_json::{Value, json};

use crate::AppState;
use crate::dto::{AppDto, CreateApp, VersionDto};
use crate::extract::{Context, JsonBody};
use crate::problem::{ApiError, Problem};
use crate::routes::subjects::path_id;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tenants/{tenant}/apps", get(list).post(create))
        .route("/tenants/{tenant}/apps/{app}", get(read))
        .route("/tenants/{tenant}/apps/{app}/versions", post(draft))
        .route(
            "/tenants/{tenant}/apps/{app}/versions/{version}/{step}",
            post(step),
        )
}

async fn create(
    State(state): State<AppState>,
    Context(context): Context,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<CreateApp>,
) -> Result<(StatusCode, Json<AppDto>), ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let draft = DraftVersion {
        definition: body.definition.get().to_owned(),
    };
    let summary = state
        .core
        .create_app(&context, tenant, &body.name, draft)
        .await?;
    Ok((StatusCode::CREATED, Json(summary.into())))
}

async fn list(
    State(state): State<AppState>,
    Context(context): Context,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let apps: Vec<AppDto> = state
        .core
        .list_apps(&context, tenant)
        .await?
        .into_iter()
        .map(AppDto::from)
        .collect();
    Ok(Json(json!({ "items": apps })))
}

async fn read(
    State(state): State<AppState>,
    Context(context): Context,
    Path((tenant, app)): Path<(String, String)>,
) -> Result<Json<AppDto>, ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let app: AppId = path_id(&app)?;
    Ok(Json(
        state.core.get_app(&context, tenant, app).await?.into(),
    ))
}

async fn draft(
    State(state): State<AppState>,
    Context(context): Context,
    Path((tenant, app)): Path<(String, String)>,
    JsonBody(body): JsonBody<crate::dto::DraftVersion>,
) -> Result<(StatusCode, Json<VersionDto>), ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let app: AppId = path_id(&app)?;
    let draft = DraftVersion {
        definition: body.definition.get().to_owned(),
    };
    let version = state
        .core
        .draft_version(&context, tenant, app, draft)
        .await?;
    Ok((StatusCode::CREATED, Json(version.into())))
}

async fn step(
    State(state): State<AppState>,
    Context(context): Context,
    Path((tenant, app, version, step)): Path<(String, String, i64, String)>,
    body: axum::body::Bytes,
) -> Result<Json<VersionDto>, ApiError> {
    let step = match step.as_str() {
        "submit" => VersionStep::SubmitForReview,
        "approve" => VersionStep::Approve,
        "reject" => VersionStep::Reject,
        "retire" => VersionStep::Retire,
        _ => return Err(Problem::new("not_found", "no such endpoint").into()),
    };
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let app: AppId = path_id(&app)?;
    // The body is optional: an empty one means no comment.
    let comment = if body.is_empty() {
        None
    } else {
        serde_json::from_slice::<crate::dto::VersionStep>(&body)
            .map_err(|_| {
                Problem::new(
                    "malformed_request",
                    "the body must be {\"comment\": \"…\"} or empty",
                )
            })?
            .comment
    };
    let row = state
        .core
        .step_version(&context, tenant, app, version, step, comment)
        .await?;
    Ok(Json(row.into()))
}
