//! Signing in and out, second factors, invitations, accounts and API keys.
//!
//! A web session is a cookie (`HttpOnly; Secure; SameSite=Strict`) plus an anti-forgery token
//! the sign-in answer carries once; every state-changing request on the session must send it
//! back in `X-CSRF-Token`. Secrets are in answers exactly once and never in logs.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use hale_core::{ErrorCode, NewAccount, NewApiKey, Secret, SignIn};
use hale_domain::{AccountKind, PrincipalId, Role, Timestamp};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::extract::{
    CSRF_COOKIE, ClientAddress, Context, JsonBody, Path, SESSION_COOKIE, session_cookie,
};
use crate::problem::{ApiError, Problem};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/sign-in", post(sign_in))
        .route("/auth/sign-out", post(sign_out))
        .route("/auth/sign-out-everywhere", post(sign_out_everywhere))
        .route("/auth/me", get(me))
        .route("/auth/mfa/offer", post(offer_mfa))
        .route("/auth/mfa/confirm", post(confirm_mfa))
        .route("/auth/invites/accept", post(accept_invite))
        .route(
            "/tenants/{tenant}/accounts",
            get(list_accounts).post(create_account),
        )
        .route(
            "/tenants/{tenant}/accounts/{account}/disable",
            post(disable_account),
        )
        .route("/accounts/{account}/keys", get(list_keys).post(create_key))
        .route("/accounts/{account}/keys/{key}", delete(revoke_key))
}

pub(crate) fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-")
        .to_owned()
}

fn rfc3339(time: Timestamp) -> String {
    time.to_rfc3339()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignInBody {
    tenant: Option<String>,
    username: String,
    password: String,
    totp: Option<String>,
    recovery_code: Option<String>,
}

/// The cookie that carries a session; `max_age` 0 clears it.
pub(crate) fn session_cookie_header(value: &str, max_age: i64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age}"
    ))
    .ok()
}

/// The session's anti-forgery token as a cookie the web app's own script may read and send
/// back in `X-CSRF-Token` (double submit): another site can neither read it nor set the
/// header.
pub(crate) fn csrf_cookie_header(value: &str, max_age: i64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{CSRF_COOKIE}={value}; Path=/; Secure; SameSite=Strict; Max-Age={max_age}"
    ))
    .ok()
}

async fn sign_in(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SignInBody>,
) -> Result<Response, ApiError> {
    let context = hale_core::Core::anonymous(request_id(&headers), "rest");
    let session = state
        .core
        .sign_in(
            &context,
            SignIn {
                tenant: body.tenant,
                username: body.username,
                password: Secret::new(body.password),
                totp: body.totp,
                recovery_code: body.recovery_code,
                client,
            },
        )
        .await?;
    let mut response = Json(json!({
        "account_id": session.account_id.to_string(),
        "csrf_token": session.csrf.expose(),
        "expires_at": rfc3339(session.expires_at),
        "mfa_enrolment_required": session.mfa_enrolment_required,
    }))
    .into_response();
    set_session_cookies(&mut response, &session, state.core.now());
    Ok(response)
}

/// Gives a new session to the browser: its cookie, and its anti-forgery token as a cookie the
/// web app's script can read, both until the session's absolute expiry.
pub(crate) fn set_session_cookies(
    response: &mut Response,
    session: &hale_core::NewSession,
    now: Timestamp,
) {
    let max_age = ((session.expires_at.as_micros() - now.as_micros()) / 1_000_000).max(0);
    let cookies = [
        session_cookie_header(session.token.expose(), max_age),
        csrf_cookie_header(session.csrf.expose(), max_age),
    ];
    for cookie in cookies.into_iter().flatten() {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
}

fn cleared(status: StatusCode) -> Response {
    let mut response = status.into_response();
    for cookie in [session_cookie_header("", 0), csrf_cookie_header("", 0)]
        .into_iter()
        .flatten()
    {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

async fn sign_out(
    State(state): State<AppState>,
    Context(context): Context,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(session) = session_cookie(&headers) else {
        return Err(Problem::new(ErrorCode::Unauthenticated, "no session to end").into());
    };
    state.core.sign_out(&context, session).await?;
    Ok(cleared(StatusCode::NO_CONTENT))
}

async fn sign_out_everywhere(
    State(state): State<AppState>,
    Context(context): Context,
) -> Result<Response, ApiError> {
    state.core.sign_out_everywhere(&context).await?;
    Ok(cleared(StatusCode::NO_CONTENT))
}

async fn me(Context(context): Context) -> Json<Value> {
    let principal = &context.principal;
    Json(json!({
        "account_id": principal.id.to_string(),
        "tenant_id": principal.tenant.map(|tenant| tenant.to_string()),
        "kind": principal.kind.as_str(),
        "roles": principal.roles.iter().map(|role| role.as_str()).collect::<Vec<_>>(),
        "subject_id": principal.subject.map(|subject| subject.to_string()),
        "scopes": principal.scopes.to_string(),
    }))
}

async fn offer_mfa(
    State(state): State<AppState>,
    Context(context): Context,
) -> Result<Json<Value>, ApiError> {
    let offer = state.core.offer_mfa(&context).await?;
    Ok(Json(json!({
        "secret": offer.secret.expose(),
        "otpauth_uri": offer.otpauth_uri.expose(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfirmMfaBody {
    secret: String,
    code: String,
}

async fn confirm_mfa(
    State(state): State<AppState>,
    Context(context): Context,
    JsonBody(body): JsonBody<ConfirmMfaBody>,
) -> Result<Json<Value>, ApiError> {
    let codes = state
        .core
        .confirm_mfa(&context, &Secret::new(body.secret), &body.code)
        .await?;
    Ok(Json(json!({
        "recovery_codes": codes.iter().map(|code| code.expose()).collect::<Vec<_>>(),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AcceptInviteBody {
    code: String,
    password: String,
}

async fn accept_invite(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<AcceptInviteBody>,
) -> Result<Json<Value>, ApiError> {
    let context = hale_core::Core::anonymous(request_id(&headers), "rest");
    let account = state
        .core
        .accept_invite(
            &context,
            &Secret::new(body.code),
            &Secret::new(body.password),
        )
        .await?;
    Ok(Json(json!({ "account_id": account.to_string() })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateAccountBody {
    username: String,
    #[serde(default)]
    display_name: String,
    roles: Vec<String>,
    #[serde(default)]
    kind: Option<String>,
    subject_id: Option<String>,
    password: Option<String>,
}

fn parse_roles(names: &[String]) -> Result<Vec<Role>, ApiError> {
    names
        .iter()
        .map(|role| role.parse::<Role>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| Problem::new(ErrorCode::MalformedRequest, "unknown role name").into())
}

async fn create_account(
    State(state): State<AppState>,
    Context(context): Context,
    Path(tenant): Path<String>,
    JsonBody(body): JsonBody<CreateAccountBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let kind = match body.kind.as_deref() {
        None => AccountKind::User,
        Some(text) => AccountKind::parse(text).ok_or_else(|| {
            Problem::new(
                ErrorCode::MalformedRequest,
                "kind is \"user\" or \"integration\"",
            )
        })?,
    };
    let subject = body
        .subject_id
        .map(|id| id.parse())
        .transpose()
        .map_err(|_| Problem::new(ErrorCode::NotFound, "not found"))?;
    let display_name = if body.display_name.is_empty() {
        body.username.clone()
    } else {
        body.display_name
    };
    let created = state
        .core
        .create_account(
            &context,
            NewAccount {
                tenant: Some(tenant),
                kind,
                username: body.username,
                display_name,
                roles: parse_roles(&body.roles)?,
                subject,
                password: body.password.map(Secret::new),
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "account_id": created.account_id.to_string(),
            "invite_code": created.invite.as_ref().map(Secret::expose),
        })),
    ))
}

async fn list_accounts(
    State(state): State<AppState>,
    Context(context): Context,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tenant = state.core.resolve_tenant(&context, &tenant).await?;
    let accounts = state.core.list_accounts(&context, tenant).await?;
    let items: Vec<Value> = accounts
        .iter()
        .map(|account| {
            json!({
                "account_id": account.id.to_string(),
                "kind": account.kind.as_str(),
                "username": account.username,
                "display_name": account.display_name,
                "roles": account.roles.iter().map(|role| role.as_str()).collect::<Vec<_>>(),
                "subject_id": account.subject.map(|subject| subject.to_string()),
                "disabled": account.disabled,
                "mfa_enrolled": account.mfa_enrolled,
                "password_set": account.password_set,
            })
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

async fn disable_account(
    State(state): State<AppState>,
    Context(context): Context,
    Path((tenant, account)): Path<(String, PrincipalId)>,
) -> Result<StatusCode, ApiError> {
    state.core.resolve_tenant(&context, &tenant).await?;
    state.core.disable_account(&context, account).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKeyBody {
    #[serde(default)]
    label: String,
    scopes: Option<String>,
    /// RFC 3339.
    expires_at: Option<String>,
}

async fn create_key(
    State(state): State<AppState>,
    Context(context): Context,
    Path(account): Path<PrincipalId>,
    JsonBody(body): JsonBody<CreateKeyBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let expires_at = body
        .expires_at
        .as_deref()
        .map(Timestamp::parse_rfc3339)
        .transpose()
        .map_err(|_| {
            Problem::new(
                ErrorCode::MalformedRequest,
                "expires_at is an RFC 3339 time",
            )
        })?;
    let issued = state
        .core
        .create_api_key(
            &context,
            NewApiKey {
                account: Some(account),
                label: body.label,
                scopes: body.scopes,
                expires_at,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "key_id": issued.key_id,
            "account_id": issued.account_id.to_string(),
            "key": issued.key.expose(),
        })),
    ))
}

async fn list_keys(
    State(state): State<AppState>,
    Context(context): Context,
    Path(account): Path<PrincipalId>,
) -> Result<Json<Value>, ApiError> {
    let keys = state.core.list_api_keys(&context, account).await?;
    let items: Vec<Value> = keys
        .iter()
        .map(|key| {
            json!({
                "key_id": key.id,
                "label": key.label,
                "scopes": key.scopes,
                "created_at": rfc3339(key.created_at),
                "expires_at": key.expires_at.map(rfc3339),
                "revoked": key.revoked,
                "last_used_at": key.last_used_at.map(rfc3339),
            })
        })
        .collect();
    Ok(Json(json!({ "items": items })))
}

async fn revoke_key(
    State(state): State<AppState>,
    Context(context): Context,
    Path((account, key)): Path<(PrincipalId, String)>,
) -> Result<StatusCode, ApiError> {
    state.core.revoke_api_key(&context, account, &key).await?;
    Ok(StatusCode::NO_CONTENT)
}
