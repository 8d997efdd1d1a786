//! Liveness (`/health`, no database) and readiness (`/ready`, database reachable and migrated).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::AppState;
use crate::problem::Problem;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/ready", get(ready))
}

async fn ready(State(state): State<AppState>) -> Response {
    match state.core.store().is_ready().await {
        Ok(true) => {
            Json(json!({"status": "ready", "database": state.core.store().backend().name()}))
                .into_response()
        }
        Ok(false) => {
            Problem::new("unavailable", "database migrations are not applied").into_response()
        }
        Err(_) => Problem::new("unavailable", "the database is not reachable").into_response(),
    }
}
