//! The clinicians' overview: the tenant's patients with their newest readings, riskiest first.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::AppState;
use crate::dto::PatientRowDto;
use crate::extract::{Context, Path};
use crate::problem::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new().route("/tenants/{tenant}/patients", get(overview))
}

async fn overview(
    State(state): State<AppState>,
    Context(context): Context,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let items: Vec<PatientRowDto> = state
        .core
        .patient_overview(&context, tenant)
        .await?
        .into_iter()
        .map(PatientRowDto::from)
        .collect();
    Ok(Json(json!({ "items": items })))
}
