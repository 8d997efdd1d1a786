//! "Sign in with …": the authorization code flow with PKCE, state and nonce against the
//! customer's OpenID providers.
//!
//! `start` keeps the pending sign-in in the store (so any replica can finish it) under the hash
//! of its `state`, bound to this browser by a random secret in an `HttpOnly` cookie that is
//! sent only to these routes, and redirects to the provider. `callback` takes the pending
//! sign-in once (a replayed callback finds nothing), checks the binding (a callback carried into
//! another browser is refused: login CSRF), redeems the code and verifies the ID token, then
//! begins a web session like a password sign-in does. The callback answers a small page that
//! moves on to `/`: a `SameSite=Strict` session cookie set during a navigation that began at the
//! provider is only sent from the next same-site navigation on.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hale_core::{ErrorCode, ProviderClaims};
use hale_oidc::PendingLogin;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::extract::{Path, Query};
use crate::problem::{ApiError, Problem};
use crate::routes::auth::{request_id, set_session_cookies};

/// The cookie binding a pending sign-in to the browser that began it.
const BINDING_COOKIE: &str = "hale_login";
/// Where the binding cookie is sent: these routes only.
const BINDING_PATH: &str = "/api/v1/auth/oidc/";
/// The binding cookie outlives no pending sign-in.
const BINDING_MAX_AGE: i64 = 600;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/providers", get(providers))
        .route("/auth/oidc/{provider}/start", get(start))
        .route("/auth/oidc/{provider}/callback", get(callback))
}

fn not_found() -> ApiError {
    Problem::new(ErrorCode::NotFound, "no such sign-in provider").into()
}

fn failed() -> ApiError {
    Problem::new(
        ErrorCode::Unauthenticated,
        "the sign-in with the provider did not complete; start again",
    )
    .into()
}

/// The providers a sign-in screen offers, with where each one starts.
async fn providers(State(state): State<AppState>) -> Json<Value> {
    let providers: Vec<Value> = state
        .oidc
        .providers()
        .map(|provider| {
            let name = provider.party.name();
            json!({
                "name": name,
                "display_name": provider.party.display_name(),
                "start": format!("{BINDING_PATH}{name}/start"),
            })
        })
        .collect();
    Json(json!({ "providers": providers }))
}

async fn start(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let provider = state.oidc.provider(&name).ok_or_else(not_found)?;
    let (url, pending) = provider.party.begin().await.map_err(|error| {
        tracing::warn!(reason = error.code(), "a provider sign-in could not begin");
        ApiError::from(Problem::new(
            ErrorCode::Unavailable,
            "the sign-in provider cannot be reached",
        ))
    })?;
    let binding = state.core.random_secret();
    let payload = serde_json::to_string(&pending).map_err(|_| {
        ApiError::from(Problem::new(
            ErrorCode::Internal,
            "an unexpected error occurred",
        ))
    })?;
    state
        .core
        .keep_pending_login(&pending.state, binding.expose(), &payload)
        .await?;
    let location = HeaderValue::from_str(&url).map_err(|_| failed())?;
    let cookie = binding_cookie(binding.expose(), BINDING_MAX_AGE).ok_or_else(failed)?;
    let mut response = StatusCode::SEE_OTHER.into_response();
    response.headers_mut().insert(header::LOCATION, location);
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// `SameSite=Lax`, unlike the session: the callback is a navigation from the provider's site,
/// which a `Strict` cookie would not accompany.
fn binding_cookie(value: &str, max_age: i64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{BINDING_COOKIE}={value}; Path={BINDING_PATH}; HttpOnly; Secure; SameSite=Lax; \
         Max-Age={max_age}"
    ))
    .ok()
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    /// The provider's refusal (`access_denied`, …); only its presence is used. Other parameters
    /// (`iss`, `session_state`, `error_description`) are ignored.
    error: Option<String>,
}

async fn callback(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(query): Query<CallbackQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let provider = state.oidc.provider(&name).ok_or_else(not_found)?;
    let (Some(code), Some(returned_state), None) = (query.code, query.state, query.error) else {
        return Err(failed());
    };
    let binding = crate::extract::cookie(&headers, BINDING_COOKIE).ok_or_else(failed)?;
    let payload = state
        .core
        .take_pending_login(&returned_state, binding)
        .await?
        .ok_or_else(failed)?;
    let pending: PendingLogin = serde_json::from_str(&payload).map_err(|_| failed())?;
    let signed_in = provider
        .party
        .finish(&pending, &code, &returned_state)
        .await
        .map_err(|error| {
            tracing::info!(reason = error.code(), "a provider sign-in was refused");
            match error {
                hale_oidc::LoginError::ProviderUnavailable => ApiError::from(Problem::new(
                    ErrorCode::Unavailable,
                    "the sign-in provider cannot be reached",
                )),
                _ => failed(),
            }
        })?;
    let identity = provider.mapping.identity(ProviderClaims {
        issuer: &signed_in.issuer,
        claims: &signed_in.claims,
        scope: None,
        issued_at: signed_in.claims.get("iat").and_then(Value::as_i64),
    })?;
    let context = hale_core::Core::anonymous(request_id(&headers), "rest");
    let session = state.core.sign_in_external(&context, identity).await?;
    let mut response = (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        SIGNED_IN_PAGE,
    )
        .into_response();
    set_session_cookies(&mut response, &session, state.core.now());
    if let Some(cleared) = binding_cookie("", 0) {
        response.headers_mut().append(header::SET_COOKIE, cleared);
    }
    Ok(response)
}

/// Moves on to the web app with a same-site navigation, no script needed.
const SIGNED_IN_PAGE: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"refresh\" content=\"0;url=/\"><title>Signed in</title></head>\
<body><p>Signed in. <a href=\"/\">Continue</a></p></body></html>";
