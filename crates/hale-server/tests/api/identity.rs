//! Accounts, sign-in with password and TOTP, web sessions with CSRF, API keys, revocation and
//! separation of duties across credentials, on both engines, through the HTTP API.

use hale_domain::Timestamp;
use hale_domain::totp::{TotpSecret, TotpStep, totp_code};

use super::*;

const PASSWORD: &str = "violet-harbour-ledger-1987";

fn now() -> Timestamp {
    Timestamp::from_micros(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_micros() as i64,
    )
}

/// A valid code for `step` steps from now (the window accepts one either side).
fn code(secret: &str, step: i64) -> String {
    let secret = TotpSecret::from_base32(secret).unwrap();
    totp_code(&secret, TotpStep(TotpStep::at(now()).0 + step)).unwrap()
}

/// A web session as a browser holds it: the cookie, and the CSRF token it was given.
struct Session {
    cookie: String,
    csrf: String,
}

async fn sign_in(
    h: &Harness,
    username: &str,
    password: &str,
    extra: Value,
) -> (Reply, Option<Session>) {
    let mut body = json!({"tenant": "contoso", "username": username, "password": password});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let response = h
        .app
        .clone()
        .oneshot(request(
            "POST",
            "/api/v1/auth/sign-in",
            None,
            Some(body.to_string()),
            &[],
        ))
        .await
        .unwrap();
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .map(|value| value.to_str().unwrap().to_owned());
    if let Some(cookie) = &cookie {
        for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
    }
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let mut body: Value = serde_json::from_slice(&bytes).unwrap();
    if let Some(retry_after) = retry_after {
        body["retry_after_header"] = json!(retry_after.to_str().unwrap());
    }
    let session = cookie.map(|cookie| Session {
        cookie: cookie.split(';').next().unwrap().to_owned(),
        csrf: body["csrf_token"].as_str().unwrap_or_default().to_owned(),
    });
    (
        Reply {
            status,
            content_type,
            body,
        },
        session,
    )
}

async fn with_session(
    h: &Harness,
    method: &str,
    path: &str,
    session: &Session,
    csrf: bool,
    body: Option<Value>,
) -> Reply {
    let mut headers = vec![("cookie", session.cookie.as_str())];
    if csrf {
        headers.push(("x-csrf-token", session.csrf.as_str()));
    }
    send(
        &h.app,
        method,
        path,
        None,
        body.map(|body| body.to_string()),
        &headers,
    )
    .await
}

async fn create_account(h: &Harness, username: &str, roles: &[&str]) -> String {
    let reply = send(
        &h.app,
        "POST",
        "/api/v1/tenants/contoso/accounts",
        Some(&h.admin),
        Some(json!({"username": username, "roles": roles, "password": PASSWORD}).to_string()),
        &[],
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.body["account_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn password_and_totp_sign_in_with_sessions_csrf_and_recovery_codes() {
    each_engine(|h| async move {
        create_account(&h, "ann", &["analyst", "reviewer"]).await;

        // A reviewer must use a second factor: a password-only session has no role until one
        // is enrolled.
        let (reply, session) = sign_in(&h, "Ann", PASSWORD, json!({})).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        assert_eq!(reply.body["mfa_enrolment_required"], true);
        let restricted = session.unwrap();
        let apps = with_session(
            &h,
            "GET",
            "/api/v1/tenants/contoso/apps",
            &restricted,
            false,
            None,
        )
        .await;
        assert_problem(&apps, StatusCode::FORBIDDEN, "forbidden");
        let offer = with_session(
            &h,
            "POST",
            "/api/v1/auth/mfa/offer",
            &restricted,
            true,
            None,
        )
        .await;
        assert_eq!(offer.status, StatusCode::OK, "{:?}", offer.body);
        let secret = offer.body["secret"].as_str().unwrap().to_owned();
        assert!(
            offer.body["otpauth_uri"]
                .as_str()
                .unwrap()
                .starts_with("otpauth://totp/")
        );
        let wrong = with_session(
            &h,
            "POST",
            "/api/v1/auth/mfa/confirm",
            &restricted,
            true,
            Some(json!({"secret": secret, "code": "000000"})),
        )
        .await;
        assert_problem(
            &wrong,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        let confirmed = with_session(
            &h,
            "POST",
            "/api/v1/auth/mfa/confirm",
            &restricted,
            true,
            Some(json!({"secret": secret, "code": code(&secret, 0)})),
        )
        .await;
        assert_eq!(confirmed.status, StatusCode::OK, "{:?}", confirmed.body);
        let recovery: Vec<String> = confirmed.body["recovery_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|code| code.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(recovery.len(), 10);

        // Now the password alone is not enough, a wrong or replayed code fails like a wrong
        // password, and a fresh code opens a full session.
        let (reply, _) = sign_in(&h, "ann", PASSWORD, json!({})).await;
        assert_problem(&reply, StatusCode::UNAUTHORIZED, "mfa_required");
        let (wrong_code, _) = sign_in(&h, "ann", PASSWORD, json!({"totp": "123456"})).await;
        assert_problem(&wrong_code, StatusCode::UNAUTHORIZED, "unauthenticated");
        let next = code(&secret, 1);
        let (reply, session) = sign_in(&h, "ann", PASSWORD, json!({"totp": next})).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        assert_eq!(reply.body["mfa_enrolment_required"], false);
        let session = session.unwrap();
        let (replayed, _) = sign_in(&h, "ann", PASSWORD, json!({"totp": next})).await;
        assert_eq!(
            replayed.body, wrong_code.body,
            "a replayed code answers like a wrong one"
        );

        let me = with_session(&h, "GET", "/api/v1/auth/me", &session, false, None).await;
        assert_eq!(me.body["roles"], json!(["analyst", "reviewer"]));
        // A state-changing request on a session needs its CSRF token.
        let definition: Value = serde_json::from_str(VITALS).unwrap();
        let body = json!({"name": "Session app", "definition": definition});
        let forged = with_session(
            &h,
            "POST",
            "/api/v1/tenants/contoso/apps",
            &session,
            false,
            Some(body.clone()),
        )
        .await;
        assert_problem(&forged, StatusCode::FORBIDDEN, "csrf_rejected");
        let created = with_session(
            &h,
            "POST",
            "/api/v1/tenants/contoso/apps",
            &session,
            true,
            Some(body),
        )
        .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);

        // A recovery code works once.
        let (reply, used) =
            sign_in(&h, "ann", PASSWORD, json!({"recovery_code": recovery[0]})).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        assert!(used.is_some());
        let (again, _) = sign_in(&h, "ann", PASSWORD, json!({"recovery_code": recovery[0]})).await;
        assert_problem(&again, StatusCode::UNAUTHORIZED, "unauthenticated");

        // Signing out ends that session at once; signing out everywhere ends the others.
        let out = with_session(&h, "POST", "/api/v1/auth/sign-out", &session, true, None).await;
        assert_eq!(out.status, StatusCode::NO_CONTENT, "{:?}", out.body);
        let gone = with_session(&h, "GET", "/api/v1/auth/me", &session, false, None).await;
        assert_problem(&gone, StatusCode::UNAUTHORIZED, "unauthenticated");
        let used = used.unwrap();
        let everywhere = with_session(
            &h,
            "POST",
            "/api/v1/auth/sign-out-everywhere",
            &used,
            true,
            None,
        )
        .await;
        assert_eq!(everywhere.status, StatusCode::NO_CONTENT);
        for session in [&used, &restricted] {
            let gone = with_session(&h, "GET", "/api/v1/auth/me", session, false, None).await;
            assert_problem(&gone, StatusCode::UNAUTHORIZED, "unauthenticated");
        }
    })
    .await;
}

#[tokio::test]
async fn an_unknown_account_and_a_wrong_password_answer_alike_and_failures_back_off() {
    each_engine(|h| async move {
        create_account(&h, "bob", &["clinician"]).await;
        let (unknown, session) = sign_in(&h, "nobody", PASSWORD, json!({})).await;
        assert!(session.is_none());
        let (wrong, _) = sign_in(&h, "bob", "not-the-password-at-all", json!({})).await;
        assert_problem(&unknown, StatusCode::UNAUTHORIZED, "unauthenticated");
        assert_eq!(unknown.body, wrong.body);
        let (right, session) = sign_in(&h, "bob", PASSWORD, json!({})).await;
        assert_eq!(right.status, StatusCode::OK, "{:?}", right.body);
        assert!(session.is_some());
        // Five failures are free; the sixth must wait, even with the right password.
        for _ in 0..5 {
            let (reply, _) = sign_in(&h, "bob", "still-not-the-password", json!({})).await;
            assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthenticated");
        }
        let (throttled, _) = sign_in(&h, "bob", PASSWORD, json!({})).await;
        assert_problem(
            &throttled,
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
        );
        assert_eq!(throttled.body["retry_after_header"], "1");
        // An unknown name is throttled the same way, so throttling tells no account apart.
        for _ in 0..5 {
            sign_in(&h, "ghost", PASSWORD, json!({})).await;
        }
        let (ghost, _) = sign_in(&h, "ghost", PASSWORD, json!({})).await;
        assert_problem(&ghost, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts");
    })
    .await;
}

#[tokio::test]
async fn one_person_cannot_approve_their_own_version_whatever_the_credential() {
    each_engine(|h| async move {
        let account = create_account(&h, "cara", &["analyst", "reviewer"]).await;
        // A key for Cara, minted by her tenant's administrator... and one more by the
        // platform administrator: two credentials, one person.
        let mut keys = Vec::new();
        for label in ["laptop", "script"] {
            let reply = send(
                &h.app,
                "POST",
                &format!("/api/v1/accounts/{account}/keys"),
                Some(&h.admin),
                Some(json!({"label": label}).to_string()),
                &[],
            )
            .await;
            assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
            assert!(reply.body["key"].as_str().unwrap().starts_with("hale_"));
            keys.push(reply.body["key"].as_str().unwrap().to_owned());
        }
        let definition: Value = serde_json::from_str(VITALS).unwrap();
        let created = send(
            &h.app,
            "POST",
            "/api/v1/tenants/contoso/apps",
            Some(&keys[0]),
            Some(json!({"name": "Cara's app", "definition": definition}).to_string()),
            &[],
        )
        .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let app = created.body["id"].as_str().unwrap().to_owned();
        let submit = send(
            &h.app,
            "POST",
            &format!("/api/v1/tenants/contoso/apps/{app}/versions/1/submit"),
            Some(&keys[0]),
            None,
            &[],
        )
        .await;
        assert_eq!(submit.status, StatusCode::OK, "{:?}", submit.body);
        let approve = send(
            &h.app,
            "POST",
            &format!("/api/v1/tenants/contoso/apps/{app}/versions/1/approve"),
            Some(&keys[1]),
            Some(json!({"comment": "looks fine"}).to_string()),
            &[],
        )
        .await;
        assert_problem(&approve, StatusCode::CONFLICT, "self_approval");

        // Revoking a key refuses it on the next request; the other key still works.
        let listed = send(
            &h.app,
            "GET",
            &format!("/api/v1/accounts/{account}/keys"),
            Some(&keys[1]),
            None,
            &[],
        )
        .await;
        assert_eq!(
            listed.body["items"].as_array().unwrap().len(),
            2,
            "{:?}",
            listed.body
        );
        let laptop = listed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|key| key["label"] == "laptop")
            .unwrap()["key_id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            !listed.body.to_string().contains("hale_"),
            "a listing never shows a key"
        );
        let revoked = send(
            &h.app,
            "DELETE",
            &format!("/api/v1/accounts/{account}/keys/{laptop}"),
            Some(&keys[1]),
            None,
            &[],
        )
        .await;
        assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{:?}", revoked.body);
        let refused = send(&h.app, "GET", "/api/v1/auth/me", Some(&keys[0]), None, &[]).await;
        assert_problem(&refused, StatusCode::UNAUTHORIZED, "unauthenticated");
        let me = send(&h.app, "GET", "/api/v1/auth/me", Some(&keys[1]), None, &[]).await;
        assert_eq!(me.body["account_id"], account.as_str());

        // Disabling the account refuses every credential it has.
        let disabled = send(
            &h.app,
            "POST",
            &format!("/api/v1/tenants/contoso/accounts/{account}/disable"),
            Some(&h.admin),
            None,
            &[],
        )
        .await;
        assert_eq!(
            disabled.status,
            StatusCode::NO_CONTENT,
            "{:?}",
            disabled.body
        );
        let refused = send(&h.app, "GET", "/api/v1/auth/me", Some(&keys[1]), None, &[]).await;
        assert_problem(&refused, StatusCode::UNAUTHORIZED, "unauthenticated");
        let (signed_in, _) = sign_in(&h, "cara", PASSWORD, json!({})).await;
        assert_problem(&signed_in, StatusCode::UNAUTHORIZED, "unauthenticated");
    })
    .await;
}

#[tokio::test]
async fn scoped_keys_narrow_their_account_and_cannot_mint_wider_ones() {
    each_engine(|h| async move {
        let account = create_account(&h, "dan", &["clinician"]).await;
        let reply = send(
            &h.app,
            "POST",
            &format!("/api/v1/accounts/{account}/keys"),
            Some(&h.admin),
            Some(
                json!({"label": "read only", "scopes": "user/Observation.rs user/Patient.rs"})
                    .to_string(),
            ),
            &[],
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        let key = reply.body["key"].as_str().unwrap().to_owned();
        let subject = &h.subject;
        let observations = send(
            &h.app,
            "GET",
            &format!("/api/v1/tenants/contoso/subjects/{subject}/observations"),
            Some(&key),
            None,
            &[],
        )
        .await;
        assert_eq!(
            observations.status,
            StatusCode::OK,
            "{:?}",
            observations.body
        );
        let submit = h.submit(&key, json!({"heart_rate": 70}), None).await;
        assert_problem(&submit, StatusCode::FORBIDDEN, "forbidden");
        let wider = send(
            &h.app,
            "POST",
            &format!("/api/v1/accounts/{account}/keys"),
            Some(&key),
            Some(json!({"label": "wider"}).to_string()),
            &[],
        )
        .await;
        assert_problem(&wider, StatusCode::FORBIDDEN, "forbidden");
        let malformed = send(
            &h.app,
            "POST",
            &format!("/api/v1/accounts/{account}/keys"),
            Some(&h.admin),
            Some(json!({"label": "bad", "scopes": "user/Observation.sr"}).to_string()),
            &[],
        )
        .await;
        assert_problem(
            &malformed,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
    })
    .await;
}
