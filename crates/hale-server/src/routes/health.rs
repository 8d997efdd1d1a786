//! Liveness (`/health`, no database) and readiness (`/ready`, database reachable and migrated).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::AppState;
use crate::problem::Problem;
use hale_core::ErrorCode;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/ready", get(ready))
}

async fn ready(State(state): State<AppState>) -> Response {
    match state.core.store().is_ready().await {
        Ok(true) => {
            // Which engine runs is for operators, not for whoever can reach the port.
            Json(json!({"status": "ready"})).into_response()
        }
        Ok(false) => Problem::new(
            ErrorCode::Unavailable,
            "database migrations are not applied",
        )
        .into_response(),
        Err(_) => {
            Problem::new(ErrorCode::Unavailable, "the database is not reachable").into_response()
        }
    }
}
