//! Rate limits through the router: a tenant's own rule tightens the platform's for its callers,
//! and an app's `rate_limit_policy` counts submissions to it beside the caller's own rule. A
//! call refused under one policy consumes nothing under the others.

use super::*;
use hale_limit::{Limiter, MemoryConfig, MemoryStore};
use hale_server::{RateLimits, RateRule, RateRuleConfig, default_rules};

fn rule(text: Value) -> RateRule {
    serde_json::from_value::<RateRuleConfig>(text)
        .unwrap()
        .rule()
        .unwrap()
}

/// The harness's store behind a router whose limits are `rules`.
fn limited(h: &Harness, rules: Vec<RateRule>) -> Router {
    router(
        AppState {
            core: Core::with_system(h.store.clone()),
            oidc: hale_server::Oidc::default(),
            rate: RateLimits::new(
                Limiter::Memory(MemoryStore::new(MemoryConfig::default())),
                rules,
            ),
            posture: hale_server::Posture::default(),
            clients: hale_server::TlsClients::default(),
        },
        &Limits::default(),
    )
}

/// Status and the `RateLimit-Policy` and `RateLimit` headers of one call.
async fn call(
    app: &Router,
    method: &str,
    path: &str,
    token: &str,
    body: Option<String>,
) -> (StatusCode, String, String) {
    let response = app
        .clone()
        .oneshot(request(method, path, Some(token), body, &[]))
        .await
        .unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    (
        response.status(),
        header("ratelimit-policy"),
        header("ratelimit"),
    )
}

#[tokio::test]
async fn a_tenant_rule_tightens_the_platform_rule_for_its_own_callers_only() {
    each_engine(|h| async move {
        let core = Core::with_system(h.store.clone());
        let contoso = core.resolve_tenant(&operator(), "contoso").await.unwrap();
        let mut tight = rule(json!({
            "name": "patient-contoso", "calls": 3, "period": "5m", "key": "account",
            "applies_to": ["patient"], "tenant": "contoso"
        }));
        tight.tenant = Some(contoso);
        let mut rules = default_rules();
        rules.push(tight);
        let app = limited(&h, rules);
        for call_number in 0..3 {
            let (status, policy, remaining) =
                call(&app, "GET", "/api/v1/auth/me", &h.patient, None).await;
            assert_eq!(status, StatusCode::OK, "call {call_number}");
            // The tighter of the two is reported.
            assert!(policy.contains("\"patient-contoso\";q=3"), "{policy}");
            assert_eq!(
                remaining,
                format!("\"patient-contoso\";r={};t=300", 2 - call_number)
            );
        }
        let (status, policy, _) = call(&app, "GET", "/api/v1/auth/me", &h.patient, None).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(policy.contains("patient-contoso"), "{policy}");
        // A clinician of the same tenant is under the staff rule alone.
        let (status, policy, _) = call(&app, "GET", "/api/v1/auth/me", &h.clinician, None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(policy.starts_with("\"staff\""), "{policy}");
        // A patient of another tenant keeps the platform's ten.
        let fabrikam_admin = token(&core, "fabrikam", &[Role::TenantAdmin], None).await;
        let subject = send(
            &h.app,
            "POST",
            "/api/v1/tenants/fabrikam/subjects",
            Some(&fabrikam_admin),
            Some(json!({"identifiers": [{"system": "urn:mrn", "value": "F-1"}]}).to_string()),
            &[],
        )
        .await;
        assert_eq!(subject.status, StatusCode::CREATED, "{:?}", subject.body);
        let fabrikam = token(
            &core,
            "fabrikam",
            &[Role::Patient],
            subject.body["id"].as_str(),
        )
        .await;
        for _ in 0..5 {
            let (status, policy, _) = call(&app, "GET", "/api/v1/auth/me", &fabrikam, None).await;
            assert_eq!(status, StatusCode::OK);
            assert!(policy.starts_with("\"patient\";q=10"), "{policy}");
        }
        // Outside the API nothing authenticates: a probe or a file carrying the patient's
        // credential counts against the address, never against the patient's ten.
        for _ in 0..12 {
            let (status, policy, _) = call(&app, "GET", "/health", &fabrikam, None).await;
            assert_eq!(status, StatusCode::OK);
            assert!(policy.starts_with("\"anonymous\""), "{policy}");
        }
        let (_, _, left) = call(&app, "GET", "/api/v1/auth/me", &fabrikam, None).await;
        assert!(left.starts_with("\"patient\";r=4;"), "{left}");
    })
    .await;
}

#[tokio::test]
async fn an_apps_policy_counts_its_submissions_and_a_refusal_costs_nothing_elsewhere() {
    each_engine(|h| async move {
        // The harness's app names `patient-default`: here two submissions an hour.
        let mut rules = default_rules();
        rules.push(rule(json!({
            "name": "patient-default", "calls": 2, "period": "1h", "key": "account",
            "applies_to": ["patient"]
        })));
        let app = limited(&h, rules);
        let path = "/api/v1/tenants/contoso/submissions";
        let body = || {
            Some(json!({"subject_id": h.subject, "app_id": h.app_id, "answers": {"heart_rate": 70}}).to_string())
        };
        for remaining in [1, 0] {
            let (status, policy, left) = call(&app, "POST", path, &h.patient, body()).await;
            assert_eq!(status, StatusCode::CREATED);
            assert!(policy.starts_with("\"patient-default\";q=2"), "{policy}");
            assert!(left.starts_with(&format!("\"patient-default\";r={remaining};")), "{left}");
        }
        let before = h.counts().await;
        let (status, policy, _) = call(&app, "POST", path, &h.patient, body()).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert!(policy.contains("patient-default"), "{policy}");
        assert_eq!(h.counts().await, before, "a refused submission stored something");
        // Other calls go on under the patient's own rule, which counted the two submissions
        // and this call, not the refused one: 10 - 3 = 7 left.
        let (status, policy, left) = call(&app, "GET", "/api/v1/auth/me", &h.patient, None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(policy.starts_with("\"patient\";q=10"), "{policy}");
        assert!(left.starts_with("\"patient\";r=7;"), "{left}");
        // The policy is per account: another patient submits to the same app.
        let other = token(
            &Core::with_system(h.store.clone()),
            "contoso",
            &[Role::Patient],
            Some(&h.other_patient_subject),
        )
        .await;
        let other_body = json!({"subject_id": h.other_patient_subject, "app_id": h.app_id, "answers": {"heart_rate": 71}}).to_string();
        let (status, _, _) = call(&app, "POST", path, &other, Some(other_body)).await;
        assert_eq!(status, StatusCode::CREATED);
    })
    .await;
}
