//! Who reaches what: every role and some scoped keys against the endpoints, on both engines,
//! compared with a table written out by hand (the rules as the product states them, not as the
//! policy code encodes them). A platform administrator runs tenants and accounts and reaches
//! no tenant's apps or health data. `A` is allowed (2xx), `F` forbidden (403), `N` not found (404:
//! another tenant, or another patient's data, answers like a missing resource).

use super::*;

/// Columns of the table: the credentials, in this order.
const WHO: [&str; 8] = [
    "tenant-admin",
    "analyst",
    "reviewer",
    "clinician",
    "researcher",
    "patient",
    "integration",
    "platform-admin",
];

/// One endpoint and the expected outcome for each of [`WHO`].
struct Row {
    what: &'static str,
    method: &'static str,
    /// `{subject}`, `{other}` and `{app}` are filled in; `{mrn}` becomes a fresh MRN.
    path: &'static str,
    body: Option<&'static str>,
    expect: &'static str,
}

const TABLE: &[Row] = &[
    Row {
        what: "list apps",
        method: "GET",
        path: "/api/v1/tenants/contoso/apps",
        body: None,
        expect: "AAAAAAAF",
    },
    Row {
        what: "read an app",
        method: "GET",
        path: "/api/v1/tenants/contoso/apps/{app}",
        body: None,
        expect: "AAAAAAAF",
    },
    Row {
        what: "draft an app",
        method: "POST",
        path: "/api/v1/tenants/contoso/apps",
        body: Some(
            r#"{"name": "Check", "definition": {"title": "Check", "fields": [{"name": "ok", "type": "boolean", "label": "OK?"}]}}"#,
        ),
        expect: "AAFFFFFF",
    },
    Row {
        what: "lint",
        method: "POST",
        path: "/api/v1/lint",
        body: Some(
            r#"{"title": "Check", "fields": [{"name": "ok", "type": "boolean", "label": "OK?"}]}"#,
        ),
        expect: "AAAFFFFF",
    },
    Row {
        what: "list subjects",
        method: "GET",
        path: "/api/v1/tenants/contoso/subjects",
        body: None,
        expect: "AFFAFFAF",
    },
    Row {
        what: "register a subject",
        method: "POST",
        path: "/api/v1/tenants/contoso/subjects",
        body: Some(r#"{"identifiers": [{"system": "urn:mrn", "value": "{mrn}"}]}"#),
        expect: "AFFAFFAF",
    },
    Row {
        what: "read the patient's own subject",
        method: "GET",
        path: "/api/v1/tenants/contoso/subjects/{subject}",
        body: None,
        expect: "AFFAFAAF",
    },
    Row {
        what: "read another patient",
        method: "GET",
        path: "/api/v1/tenants/contoso/subjects/{other}",
        body: None,
        expect: "AFFAFNAF",
    },
    Row {
        what: "own observations",
        method: "GET",
        path: "/api/v1/tenants/contoso/subjects/{subject}/observations",
        body: None,
        expect: "AFFAFAAF",
    },
    Row {
        what: "another patient's observations",
        method: "GET",
        path: "/api/v1/tenants/contoso/subjects/{other}/observations",
        body: None,
        expect: "AFFAFNAF",
    },
    Row {
        what: "own submissions",
        method: "GET",
        path: "/api/v1/tenants/contoso/subjects/{subject}/submissions",
        body: None,
        expect: "AFFAFAAF",
    },
    Row {
        what: "submit for the patient",
        method: "POST",
        path: "/api/v1/tenants/contoso/submissions",
        body: Some(
            r#"{"subject_id": "{subject}", "app_id": "{app}", "answers": {"heart_rate": 70}}"#,
        ),
        expect: "AFFAFAAF",
    },
    Row {
        what: "submit for another patient",
        method: "POST",
        path: "/api/v1/tenants/contoso/submissions",
        body: Some(
            r#"{"subject_id": "{other}", "app_id": "{app}", "answers": {"heart_rate": 70}}"#,
        ),
        expect: "AFFAFNAF",
    },
    Row {
        what: "list accounts",
        method: "GET",
        path: "/api/v1/tenants/contoso/accounts",
        body: None,
        expect: "AFFFFFFA",
    },
    Row {
        what: "another tenant's apps",
        method: "GET",
        path: "/api/v1/tenants/fabrikam/apps",
        body: None,
        expect: "NNNNNNNF",
    },
    Row {
        what: "another tenant's subjects",
        method: "GET",
        path: "/api/v1/tenants/fabrikam/subjects",
        body: None,
        expect: "NNNNNNNF",
    },
    Row {
        what: "create a tenant",
        method: "POST",
        path: "/api/v1/tenants",
        body: Some(r#"{"slug": "t-{mrn}", "name": "New"}"#),
        expect: "FFFFFFFA",
    },
    Row {
        what: "a subject's assignments",
        method: "GET",
        path: "/api/v1/tenants/contoso/assignments?subject_id={subject}",
        body: None,
        expect: "AFFAFFFF",
    },
    Row {
        what: "the patient's home",
        method: "GET",
        path: "/api/v1/tenants/contoso/home",
        body: None,
        expect: "FFFFFAFF",
    },
    Row {
        what: "the patients overview",
        method: "GET",
        path: "/api/v1/tenants/contoso/patients",
        body: None,
        expect: "AFFAFFFF",
    },
];

fn outcome(status: StatusCode) -> char {
    match status {
        status if status.is_success() => 'A',
        StatusCode::FORBIDDEN => 'F',
        StatusCode::NOT_FOUND => 'N',
        _ => '?',
    }
}

fn fill(template: &str, h: &Harness, serial: usize) -> String {
    template
        .replace("{subject}", &h.subject)
        .replace("{other}", &h.other_patient_subject)
        .replace("{app}", &h.app_id)
        .replace("{mrn}", &format!("m{serial}"))
}

async fn outcomes(h: &Harness, token: &str, serial: &mut usize) -> Vec<(String, char, Value)> {
    let mut seen = Vec::new();
    for row in TABLE {
        *serial += 1;
        let path = fill(row.path, h, *serial);
        let body = row.body.map(|body| fill(body, h, *serial));
        let reply = send(&h.app, row.method, &path, Some(token), body, &[]).await;
        seen.push((row.what.to_owned(), outcome(reply.status), reply.body));
    }
    seen
}

/// A key for the account behind `token`, narrowed to `scopes`.
async fn scoped(h: &Harness, token: &str, scopes: &str) -> String {
    let me = send(&h.app, "GET", "/api/v1/auth/me", Some(token), None, &[]).await;
    let account = me.body["account_id"].as_str().unwrap();
    let key = send(
        &h.app,
        "POST",
        &format!("/api/v1/accounts/{account}/keys"),
        Some(token),
        Some(json!({"label": "scoped", "scopes": scopes}).to_string()),
        &[],
    )
    .await;
    assert_eq!(key.status, StatusCode::CREATED, "{:?}", key.body);
    key.body["key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_role_reaches_exactly_what_the_table_says() {
    each_engine(|h| async move {
        let core = Core::with_system(h.store.clone());
        let tokens = [
            token(&core, "contoso", &[Role::TenantAdmin], None).await,
            h.analyst.clone(),
            h.reviewer.clone(),
            h.clinician.clone(),
            token(&core, "contoso", &[Role::Researcher], None).await,
            h.patient.clone(),
            token(&core, "contoso", &[Role::Integration], None).await,
            h.admin.clone(),
        ];
        let mut serial = 0;
        let mut wrong = Vec::new();
        for (column, (who, token)) in WHO.iter().zip(&tokens).enumerate() {
            for (row, (what, got, body)) in TABLE.iter().zip(outcomes(&h, token, &mut serial).await)
            {
                let want = row.expect.as_bytes()[column] as char;
                if got != want {
                    wrong.push(format!("{who} / {what}: expected {want}, got {got} {body}"));
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    })
    .await;
}

/// Scopes narrow a key below its account's roles, never widen them.
const SCOPED: &[(&str, &str, &str)] = &[
    // (account, scopes, expected per row of TABLE)
    ("clinician", "user/Observation.rs", "FFFFFFFFAAFFFFNNFFFF"),
    ("clinician", "user/*.rs", "AAFFAFAAAAAFFFNNFAFA"),
    (
        "clinician",
        "user/Patient.cruds user/QuestionnaireResponse.c",
        "FFFFAAAAFFFAAFNNFAFF",
    ),
    ("patient", "patient/Observation.rs", "FFFFFFFFANFFFFNNFFAF"),
    (
        "integration",
        "system/QuestionnaireResponse.c system/Questionnaire.rs",
        "AAFFFFFFFFFAAFNNFFFF",
    ),
];

#[tokio::test]
async fn scoped_keys_reach_only_what_both_role_and_scope_allow() {
    each_engine(|h| async move {
        let core = Core::with_system(h.store.clone());
        let integration = token(&core, "contoso", &[Role::Integration], None).await;
        let mut serial = 1000;
        let mut wrong = Vec::new();
        for (account, scopes, expect) in SCOPED {
            let base = match *account {
                "clinician" => h.clinician.clone(),
                "patient" => h.patient.clone(),
                _ => integration.clone(),
            };
            let key = scoped(&h, &base, scopes).await;
            for (index, (what, got, body)) in outcomes(&h, &key, &mut serial)
                .await
                .into_iter()
                .enumerate()
            {
                let want = expect.as_bytes()[index] as char;
                if got != want {
                    wrong.push(format!(
                        "{account} [{scopes}] / {what}: expected {want}, got {got} {body}"
                    ));
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    })
    .await;
}

#[tokio::test]
async fn the_security_posture_is_the_platform_administrators_and_names_each_gap() {
    each_engine(|h| async move {
        let core = Core::with_system(h.store.clone());
        let tenant_admin = token(&core, "contoso", &[Role::TenantAdmin], None).await;
        let refused = send(
            &h.app,
            "GET",
            "/api/v1/security-status",
            Some(&tenant_admin),
            None,
            &[],
        )
        .await;
        assert_problem(&refused, StatusCode::FORBIDDEN, "forbidden");
        let posture = send(
            &h.app,
            "GET",
            "/api/v1/security-status",
            Some(&h.admin),
            None,
            &[],
        )
        .await;
        assert_eq!(posture.status, StatusCode::OK, "{:?}", posture.body);
        let checks = posture.body["checks"].as_array().unwrap();
        let check = |id: &str| {
            checks
                .iter()
                .find(|check| check["id"] == id)
                .unwrap_or_else(|| panic!("no {id}: {checks:?}"))
        };
        // The harness's key-only accounts have no second factor: named, with the fix.
        let reviewers = check("mfa.reviewer");
        assert_eq!(reviewers["passed"], false);
        assert!(
            reviewers["detail"]
                .as_str()
                .unwrap()
                .starts_with("0 of 1 reviewer"),
            "{reviewers}"
        );
        assert!(reviewers["fix"].as_str().is_some());
        // This router runs without rate limits: the posture says so.
        assert_eq!(check("rate_limits")["passed"], false);
        assert_eq!(posture.body["passed"], false);
        assert!(
            !posture.body.to_string().contains("hale_"),
            "no secret in the posture"
        );
    })
    .await;
}
