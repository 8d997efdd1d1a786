//! Hale's HTTP edge. `router(state)` is the whole REST API; handlers only extract, parse into
//! domain types, call the core and map the result to wire types. Nothing below this crate knows
//! HTTP.

mod clients;
mod dto;
mod edge;
mod extract;
mod gate;
mod oidc;
mod posture;
mod problem;
mod routes;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};
use axum::response::IntoResponse;
use hale_core::Core;
use hale_core::ErrorCode;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use clients::{CertificateMatch, TlsClient, TlsClients};
pub use edge::{ClientIp, MAX_HEADER_BYTES, MAX_URI_BYTES};
pub use gate::{Covered, LimitKey, RateLimits, RateRule, RateRuleConfig, default_rules};
pub use oidc::{Oidc, SignInProvider};
pub use posture::{
    Check, Posture, RENEW_WITHIN_DAYS, certificate_check, mfa_checks, oidc_checks,
    rate_limit_checks,
};
pub use problem::{MAX_FIELD_ERRORS, Problem, status_of};

/// Limits the edge enforces before the core sees a request.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest upload (spreadsheet, Questionnaire, definition), in bytes; larger ones get 413
    /// before they are read whole.
    pub max_body_bytes: usize,
    /// Largest body of every other request (submissions, sign-in, …).
    pub max_json_bytes: usize,
    /// Most requests in flight at once; more are shed with 503 (never queued).
    pub max_in_flight: usize,
    /// Proxies (addresses or networks) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Longest a request may take end to end.
    pub request_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_json_bytes: 256 * 1024,
            max_in_flight: 1024,
            trusted_proxies: Vec::new(),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub core: Core,
    /// The customer's OpenID providers; empty when none is configured.
    pub oidc: Oidc,
    /// Rate limits per caller; none by default.
    pub rate: RateLimits,
    /// The checks made at start, reported by `GET /security-status`.
    pub posture: Posture,
    /// Client certificates bound to integration accounts (mutual TLS); none by default.
    pub clients: TlsClients,
}

/// The whole HTTP API.
pub fn router(state: AppState, limits: &Limits) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .merge(routes::health::routes())
        .nest("/api/v1", routes::api())
        .fallback(web_app_or_not_found)
        // Authenticates once and applies the caller's rate limit before any handler runs.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            gate::gate,
        ))
        .with_state(state)
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(CatchPanicLayer::custom(|_| {
            Problem::new(ErrorCode::Internal, "an unexpected error occurred").into_response()
        }))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ))
        // Outside the timeout too, so a timed-out request also answers in problem+json.
        .layer(axum::middleware::map_response(
            problem::bare_errors_as_problems,
        ))
        // Outside every handler, so a declared size is refused before anything reads the body.
        .layer(axum::middleware::from_fn_with_state(
            edge::Sizes {
                max_body_bytes: limits.max_body_bytes,
                max_json_bytes: limits.max_json_bytes.min(limits.max_body_bytes),
            },
            edge::refuse_oversized,
        ))
        // Before the size checks read anything, and before the gate reads the database.
        .layer(axum::middleware::from_fn_with_state(
            edge::InFlight(std::sync::Arc::new(tokio::sync::Semaphore::new(
                limits.max_in_flight.max(1),
            ))),
            edge::shed_load,
        ))
        .layer(axum::middleware::map_response(edge::hygiene_headers))
        .layer(axum::middleware::from_fn_with_state(
            edge::TrustedProxies(std::sync::Arc::new(limits.trusted_proxies.clone())),
            edge::client_ip,
        ))
        // Traces carry method, path, status and latency: never headers or bodies.
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        // Outermost, so that a malformed client id never reaches the id layer, the logs, the
        // audit record or the response: the request gets a fresh UUID instead.
        .layer(axum::middleware::map_request(drop_malformed_request_id))
}

/// Everything outside the API is the web app; an unknown API path stays a problem+json 404.
async fn web_app_or_not_found(request: axum::extract::Request) -> axum::response::Response {
    let path = request.uri().path();
    if path == "/api" || path.starts_with("/api/") {
        return Problem::new(ErrorCode::NotFound, "no such endpoint").into_response();
    }
    match tower::ServiceExt::oneshot(web_app(), request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// The web app's router, built once: its file table is static.
fn web_app() -> Router {
    static WEB_APP: std::sync::OnceLock<Router> = std::sync::OnceLock::new();
    WEB_APP.get_or_init(hale_web::router).clone()
}

/// Removes the client's `X-Request-Id` unless there is exactly one and it is well formed.
async fn drop_malformed_request_id(mut request: axum::extract::Request) -> axum::extract::Request {
    let mut ids = request.headers().get_all("x-request-id").iter();
    let well_formed = match (ids.next(), ids.next()) {
        (Some(id), None) => hale_domain::context::is_well_formed_request_id(id.as_bytes()),
        _ => false,
    };
    if !well_formed {
        request.headers_mut().remove("x-request-id");
    }
    request
}
