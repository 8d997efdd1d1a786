//! A patient's home: the one call the patient app makes to start (its assignments, the apps to
//! fill in and its recent history), so that it stays within the patient's rate limit.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use crate::AppState;
use crate::dto::HomeDto;
use crate::extract::{Context, Path};
use crate::problem::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new().route("/tenants/{tenant}/home", get(home))
}

async fn home(
    State(state): State<AppState>,
    Context(context): Context,
    Path(tenant): Path<String>,
) -> Result<Json<HomeDto>, ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    Ok(Json(state.core.home(&context, tenant).await?.into()))
}
