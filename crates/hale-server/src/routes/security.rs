//! `GET /security-status`: the platform's security posture, for platform administrators.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::AppState;
use crate::extract::Context;
use crate::posture::{certificate_check, mfa_checks, oidc_checks, rate_limit_checks};
use crate::problem::ApiError;

pub fn routes() -> Router<AppState> {
    Router::new().route("/security-status", get(status))
}

async fn status(
    State(state): State<AppState>,
    Context(context): Context,
) -> Result<Json<Value>, ApiError> {
    // The core checks the caller is a platform administrator (and audits the read).
    let coverage = state.core.mfa_coverage(&context).await?;
    let mut checks = state.posture.startup.as_ref().clone();
    if let Some(tls) = &state.posture.tls {
        let now = state.core.now().as_micros().div_euclid(1_000_000);
        checks.push(certificate_check(tls.validity().as_ref(), now));
    }
    checks.extend(mfa_checks(&coverage));
    checks.extend(rate_limit_checks(&state.rate));
    checks.extend(oidc_checks(&state.oidc));
    Ok(Json(json!({
        "passed": checks.iter().all(|check| check.passed),
        "checks": checks,
    })))
}
