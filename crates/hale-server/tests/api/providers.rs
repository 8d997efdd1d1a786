//! The customer's OpenID provider, both ways, through the HTTP API on both engines, against a
//! real provider (npm `oidc-provider`): its JWT access tokens authenticate API calls (and
//! hostile ones are refused alike), and people sign in with it on the web (code + PKCE +
//! nonce + state) into a session.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hale_core::{ClaimMapping, ClaimMappingConfig};
use hale_oidc::testing::TestProvider;
use hale_oidc::{Algorithm, IssuerConfig};
use serde_json::Map;

use super::*;

const CALLBACK: &str = "http://127.0.0.1/api/v1/auth/oidc/test/callback";

fn mapping_config() -> ClaimMappingConfig {
    serde_json::from_value(json!({
        "tenant": "contoso",
        "role_map": {
            "clinician": ["clinician"],
            "admin": ["tenant-admin"],
            "patient": ["patient"],
        },
        "patient_identifier": {"claim": "mrn", "system": "urn:mrn"},
        "client_roles": { "hale-service": ["integration"] },
    }))
    .unwrap()
}

async fn provider_router(h: &Harness, provider: &TestProvider) -> Router {
    let core = Core::with_system(h.store.clone());
    let tenant = core.resolve_tenant(&operator(), "contoso").await.unwrap();
    let mapping = ClaimMapping::new(&mapping_config(), tenant).unwrap();
    let oidc = hale_server::Oidc::new(
        vec![(provider.issuer_config(), mapping.clone())],
        vec![(provider.provider_config("test"), mapping)],
    )
    .unwrap();
    router(
        AppState {
            core,
            oidc,
            rate: hale_server::RateLimits::default(),
            posture: hale_server::Posture::default(),
            clients: hale_server::TlsClients::default(),
        },
        &Limits::default(),
    )
}

fn with(mut claims: Map<String, Value>, key: &str, value: Value) -> Map<String, Value> {
    claims.insert(key.to_owned(), value);
    claims
}

fn person(provider: &TestProvider, sub: &str, roles: Value) -> Map<String, Value> {
    let claims = provider.access_token_claims();
    let claims = with(claims, "sub", json!(sub));
    let claims = with(claims, "client_id", json!("hale-web"));
    let claims = with(claims, "scope", json!("openid profile"));
    with(claims, "roles", roles)
}

fn segment(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn provider_tokens_authenticate_and_forged_ones_get_one_answer() {
    let Some(provider) = TestProvider::start_with_redirect_uri(CALLBACK).await else {
        return;
    };
    each_engine(|h| {
        let provider = &provider;
        async move {
            let app = provider_router(&h, provider).await;
            let me = |token: String| {
                let app = app.clone();
                async move { send(&app, "GET", "/api/v1/auth/me", Some(&token), None, &[]).await }
            };

            // A person with a mapped role: one account, the same id on every request.
            let clinician = provider.sign(&person(provider, "casey", json!(["clinician"])));
            let first = me(clinician.clone()).await;
            assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
            assert_eq!(first.body["roles"], json!(["clinician"]));
            assert_eq!(first.body["kind"], "user");
            assert_eq!(first.body["scopes"], "");
            let again = me(clinician.clone()).await;
            assert_eq!(again.body["account_id"], first.body["account_id"]);
            let observations = send(
                &app,
                "GET",
                &format!(
                    "/api/v1/tenants/contoso/subjects/{}/observations",
                    h.subject
                ),
                Some(&clinician),
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
            // Unmapped claims give no role, so no access.
            let nobody = provider.sign(&person(provider, "nobody", json!(["visitor"])));
            assert_eq!(me(nobody.clone()).await.body["roles"], json!([]));
            let refused = send(
                &app,
                "GET",
                &format!(
                    "/api/v1/tenants/contoso/subjects/{}/observations",
                    h.subject
                ),
                Some(&nobody),
                None,
                &[],
            )
            .await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{:?}", refused.body);

            // A role that needs a second factor needs the provider to show one.
            let admin_claims = person(provider, "dana", json!(["admin"]));
            let without = me(provider.sign(&admin_claims)).await;
            assert_eq!(without.body["roles"], json!([]), "{:?}", without.body);
            let with_otp = with(admin_claims, "amr", json!(["pwd", "otp"]));
            let with_mfa = me(provider.sign(&with_otp)).await;
            assert_eq!(with_mfa.body["roles"], json!(["tenant-admin"]));

            // A real client-credentials token from the provider: an integration, narrowed by
            // its SMART scope.
            let service = provider
                .client_credentials_token("system/Observation.rs")
                .await;
            let integration = me(service).await;
            assert_eq!(integration.status, StatusCode::OK, "{:?}", integration.body);
            assert_eq!(integration.body["kind"], "integration");
            assert_eq!(integration.body["roles"], json!(["integration"]));
            assert_eq!(integration.body["scopes"], "system/Observation.rs");

            // Forgeries and misfits: the same 401, the same body.
            let valid = person(provider, "casey", json!(["clinician"]));
            let now = valid["iat"].as_i64().unwrap();
            let mut hs256 = jsonwebtoken::Header::new(Algorithm::HS256);
            hs256.kid = Some(provider.kid.clone());
            let confused = jsonwebtoken::encode(
                &hs256,
                &valid,
                &jsonwebtoken::EncodingKey::from_secret(provider.public_key_pem.as_bytes())
                    .unwrap(),
            )
            .unwrap();
            let unsigned = format!(
                "{}.{}.",
                segment(&json!({"alg": "none", "typ": "at+jwt", "kid": provider.kid})),
                segment(&Value::Object(valid.clone()))
            );
            let forged = [
                (
                    "wrong audience",
                    provider.sign(&with(valid.clone(), "aud", json!("someone-else"))),
                ),
                (
                    "expired",
                    provider.sign(&with(valid.clone(), "exp", json!(now - 3600))),
                ),
                (
                    "not yet valid",
                    provider.sign(&with(valid.clone(), "nbf", json!(now + 3600))),
                ),
                (
                    "unknown issuer",
                    provider.sign(&with(valid.clone(), "iss", json!("https://evil.example"))),
                ),
                ("alg none", unsigned),
                ("HS256 keyed with the public key", confused),
                (
                    "unknown kid",
                    provider.sign_with_unpublished_key("never-published", &valid),
                ),
                (
                    "known kid, other key",
                    provider.sign_with_unpublished_key(&provider.kid, &valid),
                ),
                (
                    "no subject",
                    provider.sign(&{
                        let mut claims = valid.clone();
                        claims.remove("sub");
                        claims
                    }),
                ),
            ];
            let mut bodies = Vec::new();
            for (what, token) in forged {
                let reply = me(token).await;
                assert_problem(&reply, StatusCode::UNAUTHORIZED, "unauthenticated");
                bodies.push((what, reply.body["detail"].clone()));
            }
            for (what, detail) in &bodies {
                assert_eq!(detail, &bodies[0].1, "{what} answered differently");
            }

            // Disabling the linked account in Hale refuses its provider tokens at once.
            let account = first.body["account_id"].as_str().unwrap().to_owned();
            let tenant_admin = token(
                &Core::with_system(h.store.clone()),
                "contoso",
                &[Role::TenantAdmin],
                None,
            )
            .await;
            let disabled = send(
                &h.app,
                "POST",
                &format!("/api/v1/tenants/contoso/accounts/{account}/disable"),
                Some(&tenant_admin),
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
            assert_problem(
                &me(clinician).await,
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
            );
        }
    })
    .await;
    provider.stop().await;
}

/// The value of cookie `name` among a response's `Set-Cookie` headers, with its attributes.
fn set_cookie(response: &axum::response::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .map(|(_, value)| value.to_owned())
        .unwrap()
}

/// Begins a sign-in: the provider's authorization URL and the browser's binding cookie.
async fn start(app: &Router) -> (String, String) {
    let response = app
        .clone()
        .oneshot(request(
            "GET",
            "/api/v1/auth/oidc/test/start",
            None,
            None,
            &[],
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let binding = set_cookie(&response, "hale_login").unwrap();
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/api/v1/auth/oidc/",
    ] {
        assert!(binding.contains(attribute), "{binding}");
    }
    (location, cookie_value(&binding))
}

async fn callback(
    app: &Router,
    redirected_to: &str,
    binding: Option<&str>,
) -> axum::response::Response {
    let path = redirected_to.strip_prefix("http://127.0.0.1").unwrap();
    let cookie = binding.map(|value| format!("hale_login={value}"));
    let headers: Vec<(&str, &str)> = cookie.iter().map(|c| ("cookie", c.as_str())).collect();
    app.clone()
        .oneshot(request("GET", path, None, None, &headers))
        .await
        .unwrap()
}

#[tokio::test]
async fn signing_in_with_the_provider_begins_a_session_once() {
    let Some(provider) = TestProvider::start_with_redirect_uri(CALLBACK).await else {
        return;
    };
    each_engine(|h| {
        let provider = &provider;
        async move {
            let app = provider_router(&h, provider).await;
            let listed = send(&app, "GET", "/api/v1/auth/providers", None, None, &[]).await;
            assert_eq!(listed.body["providers"][0]["name"], "test");
            assert_eq!(
                listed.body["providers"][0]["start"],
                "/api/v1/auth/oidc/test/start"
            );

            let (authorize, binding) = start(&app).await;
            assert!(authorize.starts_with(&provider.issuer), "{authorize}");
            let redirected = provider.sign_in(&authorize, "casey").await;
            let response = callback(&app, &redirected, Some(&binding)).await;
            assert_eq!(response.status(), StatusCode::OK);
            let session = set_cookie(&response, "hale_session").unwrap();
            for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
                assert!(session.contains(attribute), "{session}");
            }
            let csrf = set_cookie(&response, "hale_csrf").unwrap();
            assert!(
                !csrf.contains("HttpOnly") && csrf.contains("SameSite=Strict"),
                "{csrf}"
            );
            assert!(
                set_cookie(&response, "hale_login")
                    .unwrap()
                    .contains("Max-Age=0")
            );
            let cookie = format!("hale_session={}", cookie_value(&session));
            let me = send(
                &app,
                "GET",
                "/api/v1/auth/me",
                None,
                None,
                &[("cookie", &cookie)],
            )
            .await;
            assert_eq!(me.status, StatusCode::OK, "{:?}", me.body);
            assert_eq!(me.body["roles"], json!(["clinician"]));
            // The session's CSRF token is the cookie's: a state-changing call with it works.
            let csrf = cookie_value(&csrf);
            let out = send(
                &app,
                "POST",
                "/api/v1/auth/sign-out",
                None,
                None,
                &[("cookie", &cookie), ("x-csrf-token", &csrf)],
            )
            .await;
            assert_eq!(out.status, StatusCode::NO_CONTENT, "{:?}", out.body);

            // The same callback again finds nothing: a code and a state work once.
            let replayed = callback(&app, &redirected, Some(&binding)).await;
            assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);

            // A callback carried into another browser (no binding, or another one) is refused.
            let (authorize, _) = start(&app).await;
            let redirected = provider.sign_in(&authorize, "casey").await;
            assert_eq!(
                callback(&app, &redirected, None).await.status(),
                StatusCode::UNAUTHORIZED
            );
            let (_, other_binding) = start(&app).await;
            let crossed = callback(&app, &redirected, Some(&other_binding)).await;
            assert_eq!(crossed.status(), StatusCode::UNAUTHORIZED);

            // A role that needs a second factor is left out of a session the provider did not
            // show one for (its dev login is a password alone).
            let (authorize, binding) = start(&app).await;
            let redirected = provider.sign_in(&authorize, "admin-dana").await;
            let response = callback(&app, &redirected, Some(&binding)).await;
            assert_eq!(response.status(), StatusCode::OK);
            let cookie = format!(
                "hale_session={}",
                cookie_value(&set_cookie(&response, "hale_session").unwrap())
            );
            let me = send(
                &app,
                "GET",
                "/api/v1/auth/me",
                None,
                None,
                &[("cookie", &cookie)],
            )
            .await;
            assert_eq!(me.body["roles"], json!([]), "{:?}", me.body);

            let unknown = send(&app, "GET", "/api/v1/auth/oidc/nope/start", None, None, &[]).await;
            assert_problem(&unknown, StatusCode::NOT_FOUND, "not_found");
        }
    })
    .await;
    provider.stop().await;
}

#[test]
fn issuer_config_defaults_refuse_symmetric_algorithms() {
    let mut config = IssuerConfig::new("https://idp.example", "hale");
    config.algorithms = vec![Algorithm::HS256];
    let mapping = ClaimMapping::new(
        &mapping_config(),
        hale_domain::TenantId::from_uuid(uuid::Uuid::nil()),
    )
    .unwrap();
    assert!(hale_server::Oidc::new(vec![(config, mapping)], vec![]).is_err());
}

/// A GET with a bearer token.
async fn get(app: &Router, token: &str, path: &str) -> Reply {
    send(app, "GET", path, Some(token), None, &[]).await
}

#[tokio::test]
async fn a_provider_patient_acts_for_the_subject_their_identifier_names() {
    let Some(provider) = TestProvider::start_with_redirect_uri(CALLBACK).await else {
        return;
    };
    each_engine(|h| {
        let provider = &provider;
        async move {
            let app = provider_router(&h, provider).await;
            // MRN-1 is the harness's first subject, written as people do: in lower case.
            let claims = with(
                person(provider, "pat", json!(["patient"])),
                "mrn",
                json!("mrn-1"),
            );
            let patient = provider.sign(&claims);
            let me = get(&app, &patient, "/api/v1/auth/me").await;
            assert_eq!(me.status, StatusCode::OK, "{:?}", me.body);
            assert_eq!(me.body["roles"], json!(["patient"]));
            assert_eq!(me.body["subject_id"], json!(h.subject));
            let home = get(&app, &patient, "/api/v1/tenants/contoso/home").await;
            assert_eq!(home.status, StatusCode::OK, "{:?}", home.body);
            assert_eq!(home.body["subject_id"], json!(h.subject));

            // An identifier no subject has links no record: the patient sees nothing.
            let claims = with(
                person(provider, "stranger", json!(["patient"])),
                "mrn",
                json!("MRN-404"),
            );
            let stranger = provider.sign(&claims);
            let me = get(&app, &stranger, "/api/v1/auth/me").await;
            assert_eq!(me.body["subject_id"], Value::Null, "{:?}", me.body);
            let home = get(&app, &stranger, "/api/v1/tenants/contoso/home").await;
            assert_eq!(home.status, StatusCode::NOT_FOUND, "{:?}", home.body);

            // Staff carrying an MRN claim are not made that patient.
            let claims = with(
                person(provider, "nurse", json!(["clinician"])),
                "mrn",
                json!("MRN-2"),
            );
            let me = get(&app, &provider.sign(&claims), "/api/v1/auth/me").await;
            assert_eq!(me.body["subject_id"], Value::Null, "{:?}", me.body);
        }
    })
    .await;
}
