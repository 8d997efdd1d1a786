//! The REST routes under `/api/v1`, one module per resource.

pub mod apps;
pub mod assignments;
pub mod auth;
pub mod health;
pub mod home;
pub mod oidc;
pub mod patients;
pub mod security;
pub mod subjects;
pub mod submissions;
pub mod tenants;

use axum::Router;

use crate::AppState;

pub fn api() -> Router<AppState> {
    Router::new()
        .merge(auth::routes())
        .merge(oidc::routes())
        .merge(security::routes())
        .merge(tenants::routes())
        .merge(subjects::routes())
        .merge(apps::routes())
        .merge(submissions::routes())
        .merge(assignments::routes())
        .merge(home::routes())
        .merge(patients::routes())
}
