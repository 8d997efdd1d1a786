//! REST API tests through the router, on SQLite and (when configured) PostgreSQL: the same
//! requests, the same answers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use hale_core::{Core, IssueToken};
use hale_domain::{Principal, PrincipalId, RequestContext, Role};
use hale_server::{AppState, Limits, router};
use hale_store::testing::{TestDatabase, engines, fresh};
use hale_store::{Store, StoreOptions, TableCounts};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const VITALS: &str = r#"{
  "title": "Daily vitals",
  "rate_limit_policy": "patient-default",
  "fields": [
    {"name": "heart_rate", "type": "integer", "label": "Heart rate", "required": true, "unit": "/min", "min": 20, "max": 300, "code": "8867-4"},
    {"name": "spo2", "type": "integer", "label": "SpO2", "unit": "%", "min": 50, "max": 100, "code": "59408-5"},
    {"name": "body_temperature", "type": "decimal", "label": "Temperature", "unit": "Cel", "accepted_units": ["[degF]"], "min": 30, "max": 45, "code": "8310-5"},
    {"name": "systolic", "type": "integer", "label": "Systolic", "unit": "mm[Hg]", "min": 40, "max": 300, "code": "8480-6"},
    {"name": "diastolic", "type": "integer", "label": "Diastolic", "unit": "mm[Hg]", "min": 20, "max": 200, "code": "8462-4"},
    {"name": "note", "type": "text", "label": "Anything else?", "purpose": "free-text symptom notes for the care team"},
    {"name": "symptoms", "type": "select_multiple", "label": "Symptoms", "choices": [
      {"value": "none", "label": "None"}, {"value": "cough", "label": "Cough"}]}
  ]
}"#;

/// One engine's server, its tokens and the demo-like data the tests act on.
struct Harness {
    _database: TestDatabase,
    url: String,
    app: Router,
    store: Store,
    admin: String,
    analyst: String,
    reviewer: String,
    clinician: String,
    patient: String,
    other_patient_subject: String,
    subject: String,
    app_id: String,
}

/// A destructor makes test closures capture the harness whole; otherwise precise capture would
/// drop the database (and its temporary directory) while the router still uses it.
impl Drop for Harness {
    fn drop(&mut self) {}
}

struct Reply {
    status: StatusCode,
    content_type: String,
    body: Value,
}

/// A request as the tests send it: a bearer token when given, a JSON body when given.
fn request(
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
    headers: &[(&str, &str)],
) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .body(body.map(Body::from).unwrap_or_else(Body::empty))
        .unwrap()
}

async fn send(
    app: &Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
    headers: &[(&str, &str)],
) -> Reply {
    let request = request(method, path, token, body, headers);
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    Reply {
        status,
        content_type,
        body,
    }
}

fn operator() -> RequestContext {
    RequestContext::new(
        Principal {
            id: PrincipalId::from_uuid(uuid::Uuid::nil()),
            tenant: None,
            roles: vec![Role::PlatformAdmin],
            subject: None,
            kind: hale_domain::AccountKind::User,
            scopes: hale_domain::scope::Scopes::unrestricted(),
        },
        "test".into(),
        "test",
    )
}

async fn token(core: &Core, tenant: &str, roles: &[Role], subject: Option<&str>) -> String {
    let tenant = core.resolve_tenant(&operator(), tenant).await.unwrap();
    core.issue_token(
        &operator(),
        IssueToken {
            tenant: Some(tenant),
            roles: roles.to_vec(),
            subject: subject.map(|s| s.parse().unwrap()),
            label: "test".into(),
        },
    )
    .await
    .unwrap()
    .token
    .expose()
    .to_owned()
}

fn build_router(store: Store) -> Router {
    router(
        AppState {
            core: Core::with_system(store),
            oidc: hale_server::Oidc::default(),
            rate: hale_server::RateLimits::default(),
            posture: hale_server::Posture::default(),
            clients: hale_server::TlsClients::default(),
        },
        &Limits::default(),
    )
}

impl Harness {
    async fn start(database: TestDatabase) -> Harness {
        let store = database.store.clone();
        let core = Core::with_system(store.clone());
        let admin = core
            .issue_token(
                &operator(),
                IssueToken {
                    tenant: None,
                    roles: vec![Role::PlatformAdmin],
                    subject: None,
                    label: "platform administrator".into(),
                },
            )
            .await
            .unwrap()
            .token
            .expose()
            .to_owned();
        let app = build_router(store.clone());
        for (slug, name) in [("contoso", "Contoso Health"), ("fabrikam", "Fabrikam Care")] {
            let reply = send(
                &app,
                "POST",
                "/api/v1/tenants",
                Some(&admin),
                Some(json!({"slug": slug, "name": name}).to_string()),
                &[],
            )
            .await;
            assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
            assert_eq!(reply.body["slug"], slug);
        }
        let tenant_admin = token(&core, "contoso", &[Role::TenantAdmin], None).await;
        let mut subjects = Vec::new();
        for mrn in ["MRN-1", "MRN-2"] {
            let reply = send(&app, "POST", "/api/v1/tenants/contoso/subjects", Some(&tenant_admin),
                Some(json!({"identifiers": [{"system": "urn:mrn", "value": mrn}], "display_name": "Pat Doe"}).to_string()), &[]).await;
            assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
            subjects.push(reply.body["id"].as_str().unwrap().to_owned());
        }
        let analyst = token(&core, "contoso", &[Role::Analyst], None).await;
        let reviewer = token(&core, "contoso", &[Role::Reviewer], None).await;
        let clinician = token(&core, "contoso", &[Role::Clinician], None).await;
        let patient = token(&core, "contoso", &[Role::Patient], Some(&subjects[0])).await;
        let definition: Value = serde_json::from_str(VITALS).unwrap();
        let reply = send(
            &app,
            "POST",
            "/api/v1/tenants/contoso/apps",
            Some(&analyst),
            Some(json!({"name": "Daily vitals", "definition": definition}).to_string()),
            &[],
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        let app_id = reply.body["id"].as_str().unwrap().to_owned();
        assert_eq!(reply.body["versions"][0]["status"], "draft");
        let submit = send(
            &app,
            "POST",
            &format!("/api/v1/tenants/contoso/apps/{app_id}/versions/1/submit"),
            Some(&analyst),
            None,
            &[],
        )
        .await;
        assert_eq!(submit.status, StatusCode::OK, "{:?}", submit.body);
        assert_eq!(submit.body["status"], "in_review", "{:?}", submit.body);
        let approve = send(
            &app,
            "POST",
            &format!("/api/v1/tenants/contoso/apps/{app_id}/versions/1/approve"),
            Some(&reviewer),
            Some(json!({"comment": "checked fields and PHI exposure"}).to_string()),
            &[],
        )
        .await;
        assert_eq!(approve.body["status"], "published", "{:?}", approve.body);
        Harness {
            url: database.url.clone(),
            _database: database,
            app,
            store,
            admin,
            analyst,
            reviewer,
            clinician,
            patient,
            subject: subjects[0].clone(),
            other_patient_subject: subjects[1].clone(),
            app_id,
        }
    }

    async fn submit(&self, token: &str, answers: Value, key: Option<&str>) -> Reply {
        let body = json!({"subject_id": self.subject, "app_id": self.app_id, "answers": answers})
            .to_string();
        self.submit_raw(token, body, key).await
    }

    async fn submit_raw(&self, token: &str, body: String, key: Option<&str>) -> Reply {
        let headers: Vec<(&str, &str)> = key
            .map(|key| vec![("idempotency-key", key)])
            .unwrap_or_default();
        send(
            &self.app,
            "POST",
            "/api/v1/tenants/contoso/submissions",
            Some(token),
            Some(body),
            &headers,
        )
        .await
    }

    async fn counts(&self) -> TableCounts {
        self.store.table_counts().await.unwrap()
    }
}

async fn each_engine<F, Fut>(test: F)
where
    F: Fn(Harness) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for backend in engines() {
        eprintln!("engine: {}", backend.name());
        test(Harness::start(fresh(backend).await).await).await;
    }
}

fn assert_problem(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    assert_eq!(reply.content_type, "application/problem+json");
    assert_eq!(reply.body["code"], code, "{:?}", reply.body);
    assert_eq!(reply.body["status"], status.as_u16());
    assert_eq!(reply.body["type"], format!("/problems/{code}"));
}

#[tokio::test]
async fn a_submission_reads_back_byte_for_byte_and_survives_a_restart() {
    each_engine(|h| async move {
        // Raw text, so that number formatting and key order are exactly what the client sent.
        let answers = r#"{"symptoms":["cough"],"heart_rate":72,"body_temperature":36.60,"note":"Kopfschmerz – “seit gestern” ✓","systolic":121,"diastolic":79,"spo2":97}"#;
        let body = format!(r#"{{"subject_id":"{}","app_id":"{}","answers":{answers}}}"#, h.subject, h.app_id);
        let created = h.submit_raw(&h.patient, body, Some("k-1")).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let id = created.body["id"].as_str().unwrap().to_owned();
        assert_eq!(created.body["app_version"], 1);

        let path = format!("/api/v1/tenants/contoso/submissions/{id}");
        // serde_json re-serialises Value; compare through the raw HTTP body instead.
        let response = h.app.clone().oneshot(
            Request::get(&path).header(header::AUTHORIZATION, format!("Bearer {}", h.clinician)).body(Body::empty()).unwrap(),
        ).await.unwrap();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(text.contains(&format!(r#""answers":{answers}"#)), "{text}");

        let observations = send(&h.app, "GET", &format!("/api/v1/tenants/contoso/subjects/{}/observations?code=8310-5", h.subject), Some(&h.clinician), None, &[]).await;
        assert_eq!(observations.body["items"][0]["value"], 36.6);
        assert_eq!(observations.body["items"][0]["unit"], "Cel");
        let all = send(&h.app, "GET", &format!("/api/v1/tenants/contoso/subjects/{}/observations", h.subject), Some(&h.clinician), None, &[]).await;
        let mut codes: Vec<&str> = all.body["items"].as_array().unwrap().iter().map(|o| o["code"].as_str().unwrap()).collect();
        codes.sort();
        assert_eq!(codes, ["59408-5", "8310-5", "8462-4", "8480-6", "8867-4"]);

        // A new process over the same database: the first store's writer drains and stops (as
        // at shutdown), then a new store, core and router open it.
        h.store.close().await;
        let closed = h.submit(&h.patient, json!({"heart_rate": 70}), None).await;
        assert!(closed.status.is_server_error(), "a closed store still wrote: {:?}", closed.body);
        let reopened = Store::open(&h.url, StoreOptions::default(), h._database.custody.clone()).await.unwrap();
        let app = build_router(reopened);
        let response = app.oneshot(
            Request::get(&path).header(header::AUTHORIZATION, format!("Bearer {}", h.clinician)).body(Body::empty()).unwrap(),
        ).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert!(String::from_utf8(bytes.to_vec()).unwrap().contains(&format!(r#""answers":{answers}"#)));
    })
    .await;
}

#[tokio::test]
async fn units_are_converted_for_observations_but_answers_stay_as_entered() {
    each_engine(|h| async move {
        let reply = h
            .submit(
                &h.patient,
                json!({"heart_rate": 80, "body_temperature": {"value": 98.6, "unit": "[degF]"}}),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        assert_eq!(reply.body["answers"]["body_temperature"]["unit"], "[degF]");
        let observations = send(
            &h.app,
            "GET",
            &format!(
                "/api/v1/tenants/contoso/subjects/{}/observations?code=8310-5",
                h.subject
            ),
            Some(&h.clinician),
            None,
            &[],
        )
        .await;
        let value = observations.body["items"][0]["value"].as_f64().unwrap();
        assert!((value - 37.0).abs() < 1e-9, "{value}");
        assert_eq!(observations.body["items"][0]["unit"], "Cel");
    })
    .await;
}

#[tokio::test]
async fn invalid_submissions_name_each_field_and_write_nothing() {
    each_engine(|h| async move {
        let before = h.counts().await;
        let marker = "ZQXMARKER";
        let reply = h.submit(&h.patient, json!({"heart_rate": 400, "spo2": marker, "symptoms": [marker], "note": 5, "body_temperature": {"value": 37, "unit": marker}}), Some("bad-1")).await;
        assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let mut errors: Vec<(String, String)> = reply.body["errors"].as_array().unwrap().iter()
            .map(|e| (e["field"].as_str().unwrap().to_owned(), e["code"].as_str().unwrap().to_owned())).collect();
        errors.sort();
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert!(fields.contains(&"heart_rate") && fields.contains(&"spo2") && fields.contains(&"symptoms") && fields.contains(&"note") && fields.contains(&"body_temperature"), "{errors:?}");
        assert!(!reply.body.to_string().contains(marker));
        let missing = h.submit(&h.patient, json!({"spo2": 97}), None).await;
        assert_problem(&missing, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(missing.body["errors"][0]["field"], "heart_rate");
        assert_eq!(missing.body["errors"][0]["code"], "required");
        assert_eq!(h.counts().await, before);
    })
    .await;
}

#[tokio::test]
async fn malformed_oversized_and_mistyped_bodies_get_problems_and_write_nothing() {
    each_engine(|h| async move {
        let before = h.counts().await;
        let malformed = h.submit_raw(&h.patient, r#"{"subject_id": "#.into(), None).await;
        assert_problem(&malformed, StatusCode::BAD_REQUEST, "malformed_request");
        // serde's own messages quote a value of the wrong type: the marker is where they would.
        let wrong_shape = h.submit_raw(&h.patient, json!({"subject_id": h.subject, "app_id": h.app_id, "app_version": "ZQXMARKER", "answers": {}}).to_string(), None).await;
        assert_problem(&wrong_shape, StatusCode::BAD_REQUEST, "malformed_request");
        assert!(!wrong_shape.body.to_string().contains("ZQXMARKER"), "{:?}", wrong_shape.body);
        let bad_id = h.submit_raw(&h.patient, json!({"subject_id": "ZQXMARKER", "app_id": h.app_id, "answers": {}}).to_string(), None).await;
        assert!(bad_id.status.is_client_error(), "{:?}", bad_id.body);
        assert!(!bad_id.body.to_string().contains("ZQXMARKER"), "{:?}", bad_id.body);
        let not_object = h.submit(&h.patient, json!(["heart_rate", 70]), None).await;
        assert_problem(&not_object, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let huge = format!(r#"{{"subject_id":"{}","app_id":"{}","answers":{{"note":"{}"}}}}"#, h.subject, h.app_id, "x".repeat(2 * 1024 * 1024));
        let oversized = h.submit_raw(&h.patient, huge, None).await;
        assert_problem(&oversized, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
        let response = h.app.clone().oneshot(
            Request::post("/api/v1/tenants/contoso/submissions")
                .header(header::AUTHORIZATION, format!("Bearer {}", h.patient))
                .header(header::CONTENT_TYPE, "text/plain")
                .body(Body::from("heart_rate=70")).unwrap(),
        ).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let unknown_app = h.submit_raw(&h.patient, json!({"subject_id": h.subject, "app_id": uuid::Uuid::new_v4().to_string(), "answers": {"heart_rate": 70}}).to_string(), None).await;
        assert_problem(&unknown_app, StatusCode::NOT_FOUND, "not_found");
        assert_eq!(h.counts().await, before);
    })
    .await;
}

#[tokio::test]
async fn retries_are_idempotent_and_a_reused_key_with_another_body_conflicts() {
    each_engine(|h| async move {
        let first = h
            .submit(&h.patient, json!({"heart_rate": 70}), Some("retry-1"))
            .await;
        assert_eq!(first.status, StatusCode::CREATED);
        let after_first = h.counts().await;
        let retry = h
            .submit(&h.patient, json!({"heart_rate": 70}), Some("retry-1"))
            .await;
        assert_eq!(retry.status, StatusCode::OK, "{:?}", retry.body);
        assert_eq!(retry.body["id"], first.body["id"]);
        assert_eq!(retry.body["answers"], first.body["answers"]);
        let different = h
            .submit(&h.patient, json!({"heart_rate": 71}), Some("retry-1"))
            .await;
        assert_problem(&different, StatusCode::CONFLICT, "idempotency_key_reused");
        assert_eq!(h.counts().await, after_first);
        let bad_key = h
            .submit(&h.patient, json!({"heart_rate": 70}), Some("has space"))
            .await;
        assert_problem(
            &bad_key,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(h.counts().await, after_first);
    })
    .await;
}

#[tokio::test]
async fn missing_and_not_yours_look_the_same() {
    each_engine(|h| async move {
        let created = h.submit(&h.patient, json!({"heart_rate": 70}), None).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let id = created.body["id"].as_str().unwrap();
        // A clinician of another tenant.
        let core = Core::with_system(h.store.clone());
        let outsider = token(&core, "fabrikam", &[Role::Clinician], None).await;
        let theirs = send(&h.app, "GET", &format!("/api/v1/tenants/contoso/submissions/{id}"), Some(&outsider), None, &[]).await;
        let missing = send(&h.app, "GET", &format!("/api/v1/tenants/contoso/submissions/{}", uuid::Uuid::new_v4()), Some(&h.clinician), None, &[]).await;
        assert_problem(&theirs, StatusCode::NOT_FOUND, "not_found");
        assert_eq!(theirs.body, missing.body);
        let nonexistent_tenant = send(&h.app, "GET", "/api/v1/tenants/nowhere/subjects", Some(&h.clinician), None, &[]).await;
        assert_eq!(nonexistent_tenant.body, send(&h.app, "GET", "/api/v1/tenants/fabrikam/subjects", Some(&h.clinician), None, &[]).await.body);
        // A patient sees only their own subject.
        let own = send(&h.app, "GET", &format!("/api/v1/tenants/contoso/subjects/{}/submissions", h.subject), Some(&h.patient), None, &[]).await;
        assert_eq!(own.status, StatusCode::OK);
        assert_eq!(own.body["items"].as_array().unwrap().len(), 1);
        let other = send(&h.app, "GET", &format!("/api/v1/tenants/contoso/subjects/{}/submissions", h.other_patient_subject), Some(&h.patient), None, &[]).await;
        assert_problem(&other, StatusCode::NOT_FOUND, "not_found");
        let for_other = h.submit_raw(&h.patient, json!({"subject_id": h.other_patient_subject, "app_id": h.app_id, "answers": {"heart_rate": 70}}).to_string(), None).await;
        assert_problem(&for_other, StatusCode::NOT_FOUND, "not_found");
    })
    .await;
}

#[tokio::test]
async fn requests_without_a_valid_token_are_refused() {
    each_engine(|h| async move {
        let none = send(&h.app, "GET", "/api/v1/tenants", None, None, &[]).await;
        assert_problem(&none, StatusCode::UNAUTHORIZED, "unauthenticated");
        let forged = send(
            &h.app,
            "GET",
            "/api/v1/tenants",
            Some("hale_forged"),
            None,
            &[],
        )
        .await;
        assert_problem(&forged, StatusCode::UNAUTHORIZED, "unauthenticated");
        let tenants = send(&h.app, "GET", "/api/v1/tenants", Some(&h.admin), None, &[]).await;
        assert_eq!(tenants.body["items"].as_array().unwrap().len(), 2);
        let own_only = send(
            &h.app,
            "GET",
            "/api/v1/tenants",
            Some(&h.clinician),
            None,
            &[],
        )
        .await;
        assert_eq!(
            own_only.body["items"].as_array().map(Vec::len),
            Some(1),
            "{:?}",
            own_only.body
        );
        let not_admin = send(
            &h.app,
            "POST",
            "/api/v1/tenants",
            Some(&h.clinician),
            Some(json!({"slug": "x1", "name": "X"}).to_string()),
            &[],
        )
        .await;
        assert_problem(&not_admin, StatusCode::FORBIDDEN, "forbidden");
    })
    .await;
}

#[tokio::test]
async fn review_before_publication_and_versions_never_change_old_submissions() {
    each_engine(|h| async move {
        let old = h.submit(&h.patient, json!({"heart_rate": 70}), None).await;
        assert_eq!(old.status, StatusCode::CREATED, "{:?}", old.body);
        assert_eq!(old.body["app_version"], 1);
        let mut definition: Value = serde_json::from_str(VITALS).unwrap();
        definition["fields"][0]["max"] = json!(250);
        let draft = send(&h.app, "POST", &format!("/api/v1/tenants/contoso/apps/{}/versions", h.app_id), Some(&h.analyst),
            Some(json!({"definition": definition}).to_string()), &[]).await;
        assert_eq!(draft.status, StatusCode::CREATED, "{:?}", draft.body);
        assert_eq!(draft.body["version"], 2);
        let base = format!("/api/v1/tenants/contoso/apps/{}/versions/2", h.app_id);
        // Not yet published: submissions against version 2 are refused.
        let early = h.submit_raw(&h.patient, json!({"subject_id": h.subject, "app_id": h.app_id, "app_version": 2, "answers": {"heart_rate": 70}}).to_string(), None).await;
        assert_problem(&early, StatusCode::NOT_FOUND, "not_found");
        let premature = send(&h.app, "POST", &format!("{base}/approve"), Some(&h.reviewer), None, &[]).await;
        assert_problem(&premature, StatusCode::CONFLICT, "invalid_transition");
        let in_review = send(&h.app, "POST", &format!("{base}/submit"), Some(&h.analyst), None, &[]).await;
        assert_eq!(in_review.body["status"], "in_review", "{:?}", in_review.body);
        // The analyst is the author: even holding the reviewer role they cannot approve.
        let core = Core::with_system(h.store.clone());
        let analyst_reviewer = token(&core, "contoso", &[Role::Analyst, Role::Reviewer], None).await;
        let own_draft = send(&h.app, "POST", &format!("/api/v1/tenants/contoso/apps/{}/versions", h.app_id), Some(&analyst_reviewer),
            Some(json!({"definition": definition}).to_string()), &[]).await;
        assert_eq!(own_draft.status, StatusCode::CREATED, "{:?}", own_draft.body);
        let own_base = format!("/api/v1/tenants/contoso/apps/{}/versions/{}", h.app_id, own_draft.body["version"]);
        let own_in_review = send(&h.app, "POST", &format!("{own_base}/submit"), Some(&analyst_reviewer), None, &[]).await;
        assert_eq!(own_in_review.body["status"], "in_review", "{:?}", own_in_review.body);
        let self_approval = send(&h.app, "POST", &format!("{own_base}/approve"), Some(&analyst_reviewer), None, &[]).await;
        assert_problem(&self_approval, StatusCode::CONFLICT, "self_approval");
        let analyst_approval = send(&h.app, "POST", &format!("{base}/approve"), Some(&h.analyst), None, &[]).await;
        assert_problem(&analyst_approval, StatusCode::FORBIDDEN, "forbidden");
        let approved = send(&h.app, "POST", &format!("{base}/approve"), Some(&h.reviewer), Some(json!({"comment": "ok"}).to_string()), &[]).await;
        assert_eq!(approved.body["status"], "published");
        assert_eq!(approved.body["status_comment"], "ok");
        // Published is final: no edit, only retirement.
        let resubmit = send(&h.app, "POST", &format!("{base}/submit"), Some(&h.analyst), None, &[]).await;
        assert_problem(&resubmit, StatusCode::CONFLICT, "invalid_transition");
        let new = h.submit(&h.patient, json!({"heart_rate": 70}), None).await;
        assert_eq!(new.body["app_version"], 2);
        let old_again = send(&h.app, "GET", &format!("/api/v1/tenants/contoso/submissions/{}", old.body["id"].as_str().unwrap()), Some(&h.clinician), None, &[]).await;
        assert_eq!(old_again.body["app_version"], 1);
        let app = send(&h.app, "GET", &format!("/api/v1/tenants/contoso/apps/{}", h.app_id), Some(&h.patient), None, &[]).await;
        let statuses: Vec<&str> = app.body["versions"].as_array().unwrap().iter().map(|v| v["status"].as_str().unwrap()).collect();
        assert_eq!(statuses, ["published", "published"], "patients see published versions only");
        let invalid = send(&h.app, "POST", &format!("/api/v1/tenants/contoso/apps/{}/versions", h.app_id), Some(&h.analyst),
            Some(json!({"definition": {"title": "t", "fields": [{"name": "a", "type": "integer", "label": "A", "relevant": "${missing} > 1"}]}}).to_string()), &[]).await;
        assert_problem(&invalid, StatusCode::UNPROCESSABLE_ENTITY, "invalid_definition");
        assert_eq!(invalid.body["definition_errors"][0]["code"], "unknown_reference");
    })
    .await;
}

#[tokio::test]
async fn a_reviewer_acknowledges_each_lint_warning_to_approve() {
    each_engine(|h| async move {
        let mut definition: Value = serde_json::from_str(VITALS).unwrap();
        definition["fields"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "remarks", "type": "text", "label": "Remarks"}));
        let field = definition["fields"].as_array().unwrap().len() - 1;
        let warning = format!("free_text_without_purpose@$.fields[{field}].purpose");
        let draft = send(
            &h.app,
            "POST",
            &format!("/api/v1/tenants/contoso/apps/{}/versions", h.app_id),
            Some(&h.analyst),
            Some(json!({"definition": definition}).to_string()),
            &[],
        )
        .await;
        assert_eq!(draft.status, StatusCode::CREATED, "{:?}", draft.body);
        let base = format!(
            "/api/v1/tenants/contoso/apps/{}/versions/{}",
            h.app_id, draft.body["version"]
        );
        // Warnings do not stop a submission for review; only an approval acknowledges them.
        let early = send(
            &h.app,
            "POST",
            &format!("{base}/submit"),
            Some(&h.analyst),
            Some(json!({"acknowledged": [warning]}).to_string()),
            &[],
        )
        .await;
        assert_problem(
            &early,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        let in_review = send(
            &h.app,
            "POST",
            &format!("{base}/submit"),
            Some(&h.analyst),
            None,
            &[],
        )
        .await;
        assert_eq!(
            in_review.body["status"], "in_review",
            "{:?}",
            in_review.body
        );
        assert_eq!(
            in_review.body["report"]["warnings"][0]["id"],
            warning.as_str(),
            "{:?}",
            in_review.body
        );
        // The reviewer reads the version with its lint, each warning with its id.
        let review = send(
            &h.app,
            "GET",
            &format!("{base}/review"),
            Some(&h.reviewer),
            None,
            &[],
        )
        .await;
        assert_eq!(review.body["publishable"], true, "{:?}", review.body);
        assert_eq!(review.body["version"]["status"], "in_review");
        let ids: Vec<String> = review.body["lint"]["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids, std::slice::from_ref(&warning), "{:?}", review.body);
        let patient = send(
            &h.app,
            "GET",
            &format!("{base}/review"),
            Some(&h.patient),
            None,
            &[],
        )
        .await;
        assert_problem(&patient, StatusCode::FORBIDDEN, "forbidden");

        let silent = send(
            &h.app,
            "POST",
            &format!("{base}/approve"),
            Some(&h.reviewer),
            None,
            &[],
        )
        .await;
        assert_problem(
            &silent,
            StatusCode::UNPROCESSABLE_ENTITY,
            "warnings_unacknowledged",
        );
        assert_eq!(
            silent.body["unacknowledged"]["warnings"][0]["id"],
            warning.as_str()
        );
        let wrong = send(
            &h.app,
            "POST",
            &format!("{base}/approve"),
            Some(&h.reviewer),
            Some(json!({"acknowledged": [warning, "missing_translation@$.title"]}).to_string()),
            &[],
        )
        .await;
        assert_problem(
            &wrong,
            StatusCode::UNPROCESSABLE_ENTITY,
            "warnings_unacknowledged",
        );
        assert_eq!(
            wrong.body["unacknowledged"]["unknown"],
            json!(["missing_translation@$.title"])
        );
        assert_eq!(wrong.body["unacknowledged"]["warnings"], json!([]));
        let still = send(
            &h.app,
            "GET",
            &format!("{base}/review"),
            Some(&h.reviewer),
            None,
            &[],
        )
        .await;
        assert_eq!(
            still.body["version"]["status"], "in_review",
            "a refused approval changes nothing"
        );

        let approved = send(
            &h.app,
            "POST",
            &format!("{base}/approve"),
            Some(&h.reviewer),
            Some(
                json!({"comment": "remarks are free text on purpose", "acknowledged": ids})
                    .to_string(),
            ),
            &[],
        )
        .await;
        assert_eq!(approved.body["status"], "published", "{:?}", approved.body);
        assert_eq!(
            approved.body["report"]["warnings"][0]["acknowledged"], true,
            "{:?}",
            approved.body
        );
        let recorded = send(
            &h.app,
            "GET",
            &format!("{base}/review"),
            Some(&h.reviewer),
            None,
            &[],
        )
        .await;
        assert_eq!(
            recorded.body["version"]["report"]["warnings"][0]["acknowledged"], true,
            "{:?}",
            recorded.body
        );
    })
    .await;
}

#[tokio::test]
async fn pages_and_time_ranges() {
    each_engine(|h| async move {
        for day in 1..=5 {
            let body = json!({"subject_id": h.subject, "app_id": h.app_id, "authored_at": format!("2026-01-0{day}T08:00:00Z"), "answers": {"heart_rate": 60 + day}});
            assert_eq!(h.submit_raw(&h.clinician, body.to_string(), None).await.status, StatusCode::CREATED);
        }
        let base = format!("/api/v1/tenants/contoso/subjects/{}/submissions", h.subject);
        let first = send(&h.app, "GET", &format!("{base}?limit=2"), Some(&h.clinician), None, &[]).await;
        assert_eq!(first.body["items"][0]["answers"]["heart_rate"], 65);
        let cursor = first.body["next_cursor"].as_str().unwrap();
        let second = send(&h.app, "GET", &format!("{base}?limit=2&cursor={cursor}"), Some(&h.clinician), None, &[]).await;
        assert_eq!(second.body["items"][0]["answers"]["heart_rate"], 63);
        let window = send(&h.app, "GET", &format!("{base}?since=2026-01-02T00:00:00Z&until=2026-01-04T00:00:00Z"), Some(&h.clinician), None, &[]).await;
        let rates: Vec<i64> = window.body["items"].as_array().unwrap().iter().map(|s| s["answers"]["heart_rate"].as_i64().unwrap()).collect();
        assert_eq!(rates, [63, 62]);
        let bad_cursor = send(&h.app, "GET", &format!("{base}?cursor=nonsense"), Some(&h.clinician), None, &[]).await;
        assert_problem(&bad_cursor, StatusCode::BAD_REQUEST, "malformed_request");
        let bad_time = send(&h.app, "GET", &format!("{base}?since=yesterday"), Some(&h.clinician), None, &[]).await;
        assert_problem(&bad_time, StatusCode::BAD_REQUEST, "malformed_request");
    })
    .await;
}

#[tokio::test]
async fn health_and_readiness() {
    each_engine(|h| async move {
        let health = send(&h.app, "GET", "/health", None, None, &[]).await;
        assert_eq!(health.body["status"], "ok");
        let ready = send(&h.app, "GET", "/ready", None, None, &[]).await;
        assert_eq!(ready.status, StatusCode::OK);
        assert_eq!(
            ready.body,
            json!({"status": "ready"}),
            "no engine name to strangers"
        );
        // Outside `/api/` every path is the web app's (tests/api/web.rs); inside, a problem.
        let unknown = send(&h.app, "GET", "/api/nowhere", None, None, &[]).await;
        assert_problem(&unknown, StatusCode::NOT_FOUND, "not_found");
    })
    .await;
}

const DAILY_VITALS_XLSX: &[u8] = include_bytes!("../../../examples/daily-vitals.xlsx");
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

async fn upload(app: &Router, path: &str, token: &str, content_type: &str, body: Vec<u8>) -> Reply {
    upload_with("POST", app, path, token, content_type, body).await
}

async fn upload_with(
    method: &str,
    app: &Router,
    path: &str,
    token: &str,
    content_type: &str,
    body: Vec<u8>,
) -> Reply {
    let response = app
        .clone()
        .oneshot(
            Request::builder()
                .method(method)
                .uri(path)
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from(body))
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        content_type,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

#[tokio::test]
async fn an_xlsform_is_imported_reviewed_published_and_scores_news2() {
    each_engine(|h| async move {
        let lint = upload(&h.app, "/api/v1/lint", &h.analyst, XLSX, DAILY_VITALS_XLSX.to_vec()).await;
        assert_eq!(lint.body["publishable"], true, "{:?}", lint.body);
        let imported = upload(&h.app, "/api/v1/tenants/contoso/apps/import?name=Vitals%20with%20NEWS2", &h.analyst, XLSX, DAILY_VITALS_XLSX.to_vec()).await;
        assert_eq!(imported.status, StatusCode::CREATED, "{:?}", imported.body);
        assert_eq!(imported.body["name"], "Vitals with NEWS2");
        // The import answers with the upload's lint, findings by cell.
        assert_eq!(imported.body["lint"]["errors"], json!([]), "{:?}", imported.body);
        assert!(imported.body["lint"]["warnings"].as_array().is_some(), "{:?}", imported.body);
        let app = imported.body["id"].as_str().unwrap().to_owned();
        let base = format!("/api/v1/tenants/contoso/apps/{app}/versions/1");
        let in_review = send(&h.app, "POST", &format!("{base}/submit"), Some(&h.analyst), None, &[]).await;
        assert_eq!(in_review.body["status"], "in_review", "{:?}", in_review.body);
        let approved = send(&h.app, "POST", &format!("{base}/approve"), Some(&h.reviewer), None, &[]).await;
        assert_eq!(approved.body["status"], "published", "{:?}", approved.body);

        let answers = json!({"heart_rate": 135, "spo2": 90, "temperature": {"value": 102.2, "unit": "[degF]"}, "systolic": 88, "diastolic": 60,
            "respiration_rate": 26, "consciousness": "voice", "oxygen": "oxygen", "symptoms": ["breathless"]});
        let reply = h.submit_raw(&h.clinician, json!({"subject_id": h.subject, "app_id": app, "answers": answers}).to_string(), None).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        let news2 = &reply.body["scores"]["news2"];
        // RR 26 → 3, SpO2 90 (scale 1) → 3, oxygen → 2, SBP 88 → 3, pulse 135 → 3, voice → 3, 39.0 °C → 1.
        assert_eq!(news2["total"], 18, "{news2}");
        assert_eq!(news2["risk"], "high");
        let temperature = send(&h.app, "GET", &format!("/api/v1/tenants/contoso/subjects/{}/observations?code=8310-5", h.subject), Some(&h.clinician), None, &[]).await;
        let celsius = temperature.body["items"][0]["value"].as_f64().unwrap();
        assert!((celsius - 39.0).abs() < 1e-9, "{celsius}");

        // Skip logic: `other_symptom` is only relevant when "other" is selected.
        let not_relevant = h.submit_raw(&h.clinician, json!({"subject_id": h.subject, "app_id": app, "answers": {"heart_rate": 70, "spo2": 97, "temperature": 36.8, "systolic": 120, "diastolic": 80, "respiration_rate": 14, "consciousness": "alert", "oxygen": "air", "other_symptom": "ZQXMARKER"}}).to_string(), None).await;
        assert_problem(&not_relevant, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(not_relevant.body["errors"][0]["field"], "other_symptom");
        assert_eq!(not_relevant.body["errors"][0]["code"], "not_relevant");
        assert!(!not_relevant.body.to_string().contains("ZQXMARKER"));
        // A constraint: diastolic below systolic.
        let constraint = h.submit_raw(&h.clinician, json!({"subject_id": h.subject, "app_id": app, "answers": {"heart_rate": 70, "spo2": 97, "temperature": 36.8, "systolic": 120, "diastolic": 130, "respiration_rate": 14, "consciousness": "alert", "oxygen": "air"}}).to_string(), None).await;
        assert_eq!(constraint.body["errors"][0]["field"], "diastolic", "{:?}", constraint.body);
        assert_eq!(constraint.body["errors"][0]["code"], "constraint_failed");

        // Export as a FHIR Questionnaire, import that as version 2: nothing changes.
        let questionnaire = send(&h.app, "GET", &format!("{base}?format=questionnaire"), Some(&h.analyst), None, &[]).await;
        assert_eq!(questionnaire.body["resourceType"], "Questionnaire");
        let again = upload(&h.app, &format!("/api/v1/tenants/contoso/apps/{app}/versions/import"), &h.analyst, "application/fhir+json", questionnaire.body.to_string().into_bytes()).await;
        assert_eq!(again.status, StatusCode::CREATED, "{:?}", again.body);
        assert_eq!(again.body["version"], 2);
        let diff = send(&h.app, "GET", &format!("/api/v1/tenants/contoso/apps/{app}/diff?from=1&to=2"), Some(&h.reviewer), None, &[]).await;
        assert_eq!(diff.body["changes"], json!([]), "{:?}", diff.body);
        // What an import drops on purpose is said in its answer, naming the item.
        let mut styled = questionnaire.body.clone();
        styled["item"][0]["_text"] = json!({"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/rendering-style", "valueString": "color: red"}]});
        let link_id = styled["item"][0]["linkId"].as_str().unwrap().to_owned();
        let noted = upload(&h.app, &format!("/api/v1/tenants/contoso/apps/{app}/versions/import"), &h.analyst, "application/fhir+json", styled.to_string().into_bytes()).await;
        assert_eq!(noted.status, StatusCode::CREATED, "{:?}", noted.body);
        assert_eq!(noted.body["version"], 3);
        let dropped: Vec<&Value> = noted.body["lint"]["infos"].as_array().unwrap().iter().filter(|info| info["code"] == "fhir_display_dropped").collect();
        assert_eq!(dropped.len(), 1, "{:?}", noted.body["lint"]);
        assert_eq!(dropped[0]["link_id"], link_id.as_str());
        let hale_v1 = send(&h.app, "GET", &base, Some(&h.analyst), None, &[]).await;
        let hale_v2 = send(&h.app, "GET", &format!("/api/v1/tenants/contoso/apps/{app}/versions/2"), Some(&h.analyst), None, &[]).await;
        assert_eq!(hale_v1.body, hale_v2.body);
    })
    .await;
}

#[tokio::test]
async fn lint_notes_do_not_block_review_and_bad_uploads_name_their_cells() {
    each_engine(|h| async move {
        let unpoliced = json!({"title": "No policy", "fields": [{"name": "hr", "type": "integer", "label": "HR", "unit": "/min", "code": "8867-4"}]});
        let created = send(&h.app, "POST", "/api/v1/tenants/contoso/apps", Some(&h.analyst), Some(json!({"name": "Draft", "definition": unpoliced}).to_string()), &[]).await;
        assert_eq!(created.status, StatusCode::CREATED);
        let app = created.body["id"].as_str().unwrap();
        // No rate-limit policy means the tenant's default, and a vital without bounds gets the
        // catalogue's plausible range: both are notes for the reviewer, not errors.
        let submitted = send(&h.app, "POST", &format!("/api/v1/tenants/contoso/apps/{app}/versions/1/submit"), Some(&h.analyst), None, &[]).await;
        assert_eq!(submitted.status, StatusCode::OK, "{:?}", submitted.body);
        assert_eq!(submitted.body["status"], "in_review", "{:?}", submitted.body);

        let broken = upload(&h.app, "/api/v1/tenants/contoso/apps/import", &h.analyst, XLSX, b"not a workbook".to_vec()).await;
        assert_problem(&broken, StatusCode::UNPROCESSABLE_ENTITY, "invalid_spreadsheet");
        assert!(broken.body["import_errors"].as_array().is_some_and(|errors| !errors.is_empty()));
        let open_choice = json!({"resourceType": "Questionnaire", "status": "active", "item": [{"linkId": "q1", "text": "Q", "type": "open-choice"}]});
        let refused = upload(&h.app, "/api/v1/tenants/contoso/apps/import", &h.analyst, "application/fhir+json", open_choice.to_string().into_bytes()).await;
        assert_problem(&refused, StatusCode::UNPROCESSABLE_ENTITY, "invalid_definition");
        assert!(refused.body["definition_errors"].to_string().contains("q1"), "{:?}", refused.body);
        let wrong_type = upload(&h.app, "/api/v1/tenants/contoso/apps/import", &h.analyst, "text/plain", b"hello".to_vec()).await;
        assert_problem(&wrong_type, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    })
    .await;
}

#[tokio::test]
async fn a_wrong_method_gets_a_problem_too() {
    each_engine(|h| async move {
        let reply = send(
            &h.app,
            "DELETE",
            "/api/v1/tenants",
            Some(&h.admin),
            None,
            &[],
        )
        .await;
        assert_problem(&reply, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
        let health = send(&h.app, "POST", "/health", None, None, &[]).await;
        assert_problem(
            &health,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        );
    })
    .await;
}

// Retiring a version: new submissions are refused at once, retries still get their original.

#[tokio::test]
async fn a_retired_version_refuses_new_submissions_but_replays_retries() {
    each_engine(|h| async move {
        let first = h
            .submit(&h.patient, json!({"heart_rate": 70}), Some("before-retire"))
            .await;
        assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.body);
        let retire = send(
            &h.app,
            "POST",
            &format!("/api/v1/tenants/contoso/apps/{}/versions/1/retire", h.app_id),
            Some(&h.reviewer),
            None,
            &[],
        )
        .await;
        assert_eq!(retire.status, StatusCode::OK, "{:?}", retire.body);
        assert_eq!(retire.body["status"], "retired");
        let after_retire = h.counts().await;
        let retry = h
            .submit(&h.patient, json!({"heart_rate": 70}), Some("before-retire"))
            .await;
        assert_eq!(retry.status, StatusCode::OK, "{:?}", retry.body);
        assert_eq!(retry.body["id"], first.body["id"]);
        let pinned = h
            .submit_raw(
                &h.patient,
                json!({"subject_id": h.subject, "app_id": h.app_id, "app_version": 1, "answers": {"heart_rate": 71}})
                    .to_string(),
                None,
            )
            .await;
        assert_problem(&pinned, StatusCode::NOT_FOUND, "not_found");
        let again = send(
            &h.app,
            "POST",
            &format!("/api/v1/tenants/contoso/apps/{}/versions/1/retire", h.app_id),
            Some(&h.reviewer),
            None,
            &[],
        )
        .await;
        assert_problem(&again, StatusCode::CONFLICT, "invalid_transition");
        assert_eq!(h.counts().await, after_retire);
    })
    .await;
}

#[path = "../../hale-forms-io/tests/hostile/mod.rs"]
mod hostile;

#[path = "api/integrity.rs"]
mod integrity;

#[path = "api/uploads.rs"]
mod uploads;

#[path = "api/identity.rs"]
mod identity;

#[path = "api/access.rs"]
mod access;

#[path = "api/providers.rs"]
mod providers;

#[path = "api/leaks.rs"]
mod leaks;

// Error codes, framework rejections, limits and HTTP hygiene.
#[path = "api/errors.rs"]
mod errors;

#[path = "api/rate.rs"]
mod rate;

// The web app's files: caching, compression, client-side routes, and the API's 404s beside them.
#[path = "api/web.rs"]
mod web;

#[path = "api/patient_app.rs"]
mod patient_app;

#[path = "api/media.rs"]
mod media;

/// A select offering a data file's rows and a price read from it with pulldata(): the draft
/// is stored without the file, its lint says the file is missing (which blocks review), and
/// attaching the file makes the next draft, which publishes and checks submissions against
/// the file's rows.
#[tokio::test]
async fn a_data_file_attached_to_a_version_gives_choices_and_pulldata_values() {
    each_engine(|h| async move {
        let definition = json!({"title": "Fruit", "fields": [
            {"name": "fruit", "type": "select_one", "label": "Fruit", "choice_file": "fruits.csv", "required": true},
            {"name": "price", "type": "calculate", "calculation": "pulldata('fruits', 'price', 'name', ${fruit})"},
            {"name": "qty", "type": "integer", "label": "How many", "constraint": ". * ${price} <= 10"}]});
        let created = send(&h.app, "POST", "/api/v1/tenants/contoso/apps", Some(&h.analyst),
            Some(json!({"name": "Fruit", "definition": definition}).to_string()), &[]).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let app_id = created.body["id"].as_str().unwrap().to_owned();
        let versions = format!("/api/v1/tenants/contoso/apps/{app_id}/versions");
        let review = send(&h.app, "GET", &format!("{versions}/1/review"), Some(&h.analyst), None, &[]).await;
        assert_eq!(review.body["publishable"], false, "{:?}", review.body);
        assert_eq!(review.body["lint"]["errors"][0]["code"], "data_file_missing", "{:?}", review.body);
        let early = send(&h.app, "POST", &format!("{versions}/1/submit"), Some(&h.analyst), None, &[]).await;
        assert_eq!(early.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", early.body);

        let csv = b"name,label,price\nmango,Mango,3\nkiwi,Kiwi,2\n".to_vec();
        let file = format!("{versions}/1/files/fruits.csv");
        let put = |path: String, token: String, content_type: &'static str, body: Vec<u8>| {
            let app = h.app.clone();
            async move { upload_with("PUT", &app, &path, &token, content_type, body).await }
        };
        // The caller's role first, then the media type against the name, then the file itself.
        let patient = put(file.clone(), h.patient.clone(), "text/csv", csv.clone()).await;
        assert_problem(&patient, StatusCode::FORBIDDEN, "forbidden");
        let mismatched = put(file.clone(), h.analyst.clone(), "application/xml", csv.clone()).await;
        assert_problem(&mismatched, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
        let unnamed = put(format!("{versions}/1/files/fruits.txt"), h.analyst.clone(), "text/csv", csv.clone()).await;
        assert_problem(&unnamed, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
        let broken = put(file.clone(), h.analyst.clone(), "text/csv", b"name,label\n,Nothing\n".to_vec()).await;
        assert_problem(&broken, StatusCode::UNPROCESSABLE_ENTITY, "invalid_spreadsheet");
        assert_eq!(broken.body["import_errors"][0]["sheet"], "fruits.csv", "{:?}", broken.body);
        let missing = put(format!("/api/v1/tenants/contoso/apps/{app_id}/versions/9/files/fruits.csv"), h.analyst.clone(), "text/csv", csv.clone()).await;
        assert_problem(&missing, StatusCode::NOT_FOUND, "not_found");

        let attached = put(file.clone(), h.analyst.clone(), "text/csv", csv.clone()).await;
        assert_eq!(attached.status, StatusCode::CREATED, "{:?}", attached.body);
        assert_eq!(attached.body["version"], 2, "{:?}", attached.body);
        assert_eq!(attached.body["lint"]["errors"], json!([]), "{:?}", attached.body);
        let exported = send(&h.app, "GET", &format!("{versions}/2"), Some(&h.analyst), None, &[]).await;
        assert_eq!(exported.body["data_files"]["fruits.csv"][1]["attributes"]["price"], "2", "{:?}", exported.body);
        // Version 1 is as it was: a version never changes once stored.
        let first = send(&h.app, "GET", &format!("{versions}/1"), Some(&h.analyst), None, &[]).await;
        assert!(first.body.get("data_files").is_none(), "{:?}", first.body);

        let submitted = send(&h.app, "POST", &format!("{versions}/2/submit"), Some(&h.analyst), None, &[]).await;
        assert_eq!(submitted.body["status"], "in_review", "{:?}", submitted.body);
        let approved = send(&h.app, "POST", &format!("{versions}/2/approve"), Some(&h.reviewer), Some(json!({"comment": "prices checked"}).to_string()), &[]).await;
        assert_eq!(approved.body["status"], "published", "{:?}", approved.body);
        let submit = |answers: Value| {
            let body = json!({"subject_id": h.subject, "app_id": app_id, "answers": answers}).to_string();
            let app = h.app.clone();
            let token = h.patient.clone();
            async move { send(&app, "POST", "/api/v1/tenants/contoso/submissions", Some(&token), Some(body), &[]).await }
        };
        // An XML file goes to a copy of the published version, as the next draft.
        let xml = b"<root><item><name>lyon</name><label>Lyon</label></item></root>".to_vec();
        let shops = put(format!("{versions}/2/files/shops.xml"), h.analyst.clone(), "application/xml", xml).await;
        assert_eq!(shops.status, StatusCode::CREATED, "{:?}", shops.body);
        assert_eq!(shops.body["version"], 3, "{:?}", shops.body);
        let third = send(&h.app, "GET", &format!("{versions}/3"), Some(&h.analyst), None, &[]).await;
        assert_eq!(third.body["data_files"]["shops.xml"][0]["label"], "Lyon", "{:?}", third.body);
        assert_eq!(third.body["data_files"]["fruits.csv"][0]["value"], "mango", "{:?}", third.body);
        let fits = submit(json!({"fruit": "mango", "qty": 3})).await;
        assert_eq!(fits.status, StatusCode::CREATED, "{:?}", fits.body);
        let too_dear = submit(json!({"fruit": "mango", "qty": 4})).await;
        assert_problem(&too_dear, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(too_dear.body["errors"][0]["code"], "constraint_failed", "{:?}", too_dear.body);
        let cheaper = submit(json!({"fruit": "kiwi", "qty": 5})).await;
        assert_eq!(cheaper.status, StatusCode::CREATED, "{:?}", cheaper.body);
        let unknown = submit(json!({"fruit": "apple", "qty": 1})).await;
        assert_problem(&unknown, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    })
    .await;
}
