//! Tenants (platform administrators) and access tokens.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use hale_core::IssueToken;
use hale_domain::Role;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::dto::{CreateTenant, TenantDto};
use crate::extract::{Context, JsonBody, Path};
use crate::problem::{ApiError, Problem};
use hale_core::ErrorCode;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/tenants", get(list).post(create))
        .route("/tenants/{tenant}/tokens", post(issue_token))
}

async fn create(
    State(state): State<AppState>,
    Context(context): Context,
    JsonBody(body): JsonBody<CreateTenant>,
) -> Result<(StatusCode, Json<TenantDto>), ApiError> {
    let tenant = state
        .core
        .create_tenant(&context, &body.slug, &body.name)
        .await?;
    Ok((StatusCode::CREATED, Json(tenant.into())))
}

async fn list(
    State(state): State<AppState>,
    Context(context): Context,
) -> Result<Json<Value>, ApiError> {
    let tenants: Vec<TenantDto> = state
        .core
        .list_tenants(&context)
        .await?
        .into_iter()
        .map(TenantDto::from)
        .collect();
    Ok(Json(json!({ "items": tenants })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IssueTokenBody {
    roles: Vec<String>,
    subject_id: Option<String>,
    #[serde(default)]
    label: String,
}

async fn issue_token(
    State(state): State<AppState>,
    Context(context): Context,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<IssueTokenBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let roles = body
        .roles
        .iter()
        .map(|role| role.parse::<Role>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| Problem::new(ErrorCode::MalformedRequest, "unknown role name"))?;
    let subject = body
        .subject_id
        .map(|id| id.parse())
        .transpose()
        .map_err(|_| Problem::new(ErrorCode::NotFound, "not found"))?;
    let issued = state
        .core
        .issue_token(
            &context,
            IssueToken {
                tenant: Some(tenant),
                roles,
                subject,
                label: body.label,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "principal_id": issued.principal_id.to_string(),
            "token": issued.token.expose(),
        })),
    ))
}
