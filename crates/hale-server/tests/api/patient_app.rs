//! The patient app's API and the clinicians' overview, on both engines: assignments made,
//! listed and ended (with their conflicts and another tenant's subject looking missing), a
//! patient's home with `due` turning at a submission, batch submissions item by item and as
//! one call for the rate limiter, and the overview sorted by risk with NEWS2 alerts at their
//! edges.

use super::*;
use hale_domain::Timestamp;
use hale_limit::{Limiter, MemoryConfig, MemoryStore};
use hale_server::{RateLimits, RateRuleConfig, default_rules};

/// A form that scores NEWS2: the seven parameters, by LOINC code and the NEWS2 mapping.
const WARD_VITALS: &str = r#"{
  "title": "Ward vitals",
  "news2": {"oxygen": "oxygen", "consciousness": "consciousness"},
  "fields": [
    {"name": "heart_rate", "type": "integer", "label": "Pulse", "required": true, "unit": "/min", "min": 20, "max": 300, "code": "8867-4"},
    {"name": "spo2", "type": "integer", "label": "SpO2", "required": true, "unit": "%", "min": 50, "max": 100, "code": "59408-5"},
    {"name": "temperature", "type": "decimal", "label": "Temperature", "required": true, "unit": "Cel", "min": 30, "max": 45, "code": "8310-5"},
    {"name": "systolic", "type": "integer", "label": "Systolic", "required": true, "unit": "mm[Hg]", "min": 40, "max": 300, "code": "8480-6"},
    {"name": "respiration_rate", "type": "integer", "label": "Respiration", "required": true, "unit": "/min", "min": 2, "max": 120, "code": "9279-1"},
    {"name": "consciousness", "type": "select_one", "label": "Consciousness", "required": true, "choices": [
      {"value": "alert", "label": "Alert"}, {"value": "voice", "label": "Voice"}]},
    {"name": "oxygen", "type": "select_one", "label": "Air or oxygen", "required": true, "choices": [
      {"value": "air", "label": "Air"}, {"value": "oxygen", "label": "Oxygen"}]}
  ]
}"#;

fn assignments_path() -> &'static str {
    "/api/v1/tenants/contoso/assignments"
}

async fn assign(h: &Harness, token: &str, subject: &str, app: &str, schedule: Value) -> Reply {
    send(
        &h.app,
        "POST",
        assignments_path(),
        Some(token),
        Some(json!({"subject_id": subject, "app_id": app, "schedule": schedule}).to_string()),
        &[],
    )
    .await
}

async fn list(h: &Harness, token: &str, subject: &str) -> Reply {
    send(
        &h.app,
        "GET",
        &format!("{}?subject_id={subject}", assignments_path()),
        Some(token),
        None,
        &[],
    )
    .await
}

async fn home(app: &Router, token: &str) -> Reply {
    send(
        app,
        "GET",
        "/api/v1/tenants/contoso/home",
        Some(token),
        None,
        &[],
    )
    .await
}

/// An app drafted by the analyst and, when `publish`, published by the reviewer.
async fn app(h: &Harness, name: &str, definition: &str, publish: bool) -> String {
    let definition: Value = serde_json::from_str(definition).unwrap();
    let created = send(
        &h.app,
        "POST",
        "/api/v1/tenants/contoso/apps",
        Some(&h.analyst),
        Some(json!({"name": name, "definition": definition}).to_string()),
        &[],
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    if publish {
        let base = format!("/api/v1/tenants/contoso/apps/{id}/versions/1");
        let submitted = send(
            &h.app,
            "POST",
            &format!("{base}/submit"),
            Some(&h.analyst),
            None,
            &[],
        )
        .await;
        assert_eq!(submitted.status, StatusCode::OK, "{:?}", submitted.body);
        let approved = send(
            &h.app,
            "POST",
            &format!("{base}/approve"),
            Some(&h.reviewer),
            None,
            &[],
        )
        .await;
        assert_eq!(approved.body["status"], "published", "{:?}", approved.body);
    }
    id
}

async fn register(h: &Harness, mrn: &str, name: &str) -> String {
    let core = Core::with_system(h.store.clone());
    let admin = token(&core, "contoso", &[Role::TenantAdmin], None).await;
    let reply = send(
        &h.app,
        "POST",
        "/api/v1/tenants/contoso/subjects",
        Some(&admin),
        Some(
            json!({"identifiers": [{"system": "urn:mrn", "value": mrn}], "display_name": name})
                .to_string(),
        ),
        &[],
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    reply.body["id"].as_str().unwrap().to_owned()
}

fn batch(items: Vec<Value>) -> String {
    json!({ "submissions": items }).to_string()
}

async fn send_batch(app: &Router, token: &str, body: String) -> Reply {
    send(
        app,
        "POST",
        "/api/v1/tenants/contoso/submissions/batch",
        Some(token),
        Some(body),
        &[],
    )
    .await
}

fn statuses(reply: &Reply) -> Vec<u64> {
    reply.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|result| result["status"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn assignments_are_made_listed_and_ended_once_each() {
    each_engine(|h| async move {
        let daily = json!({"kind": "daily"});
        let made = send(
            &h.app,
            "POST",
            assignments_path(),
            Some(&h.clinician),
            Some(json!({"subject_id": h.subject, "app_id": h.app_id, "schedule": daily, "starts_on": "2026-12-01"}).to_string()),
            &[],
        )
        .await;
        assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
        assert_eq!(made.body["subject_id"], h.subject.as_str());
        assert_eq!(made.body["app_id"], h.app_id.as_str());
        assert_eq!(made.body["schedule"], daily);
        assert_eq!(made.body["starts_on"], "2026-12-01");
        assert_eq!(made.body["ended_at"], Value::Null);
        assert!(Timestamp::parse_rfc3339(made.body["created_at"].as_str().unwrap()).is_ok());
        let id = made.body["id"].as_str().unwrap().to_owned();

        // The same app again while one is active: 409, and nothing more is listed.
        let again = assign(&h, &h.clinician, &h.subject, &h.app_id, json!({"kind": "once"})).await;
        assert_problem(&again, StatusCode::CONFLICT, "conflict");
        let listed = list(&h, &h.clinician, &h.subject).await;
        assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
        assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
        assert_eq!(listed.body["items"][0], made.body);
        assert_eq!(list(&h, &h.clinician, &h.other_patient_subject).await.body["items"], json!([]));

        // A tenant administrator manages them too; weekly schedules name their weekday.
        let core = Core::with_system(h.store.clone());
        let admin = token(&core, "contoso", &[Role::TenantAdmin], None).await;
        let weekly = json!({"kind": "weekly", "weekday": "monday"});
        let other = assign(&h, &admin, &h.other_patient_subject, &h.app_id, weekly.clone()).await;
        assert_eq!(other.status, StatusCode::CREATED, "{:?}", other.body);
        assert_eq!(other.body["schedule"], weekly);

        let ended = send(&h.app, "POST", &format!("{}/{id}/end", assignments_path()), Some(&h.clinician), None, &[]).await;
        assert_eq!(ended.status, StatusCode::OK, "{:?}", ended.body);
        assert_eq!(ended.body["id"], id.as_str());
        assert!(Timestamp::parse_rfc3339(ended.body["ended_at"].as_str().unwrap()).is_ok());
        let twice = send(&h.app, "POST", &format!("{}/{id}/end", assignments_path()), Some(&h.clinician), None, &[]).await;
        assert_problem(&twice, StatusCode::CONFLICT, "conflict");
        assert_eq!(list(&h, &h.clinician, &h.subject).await.body["items"], json!([]));
        // Once ended, the app may be assigned afresh.
        let renewed = assign(&h, &h.clinician, &h.subject, &h.app_id, json!({"kind": "once"})).await;
        assert_eq!(renewed.status, StatusCode::CREATED, "{:?}", renewed.body);
        assert_ne!(renewed.body["id"], id.as_str());

        // An app with no published version cannot be assigned.
        let draft = app(&h, "Draft only", VITALS, false).await;
        let unpublished = assign(&h, &h.clinician, &h.subject, &draft, daily.clone()).await;
        assert_problem(&unpublished, StatusCode::CONFLICT, "conflict");

        // Unknown subjects and apps, and another tenant's subject, look the same: 404.
        let missing = uuid::Uuid::new_v4().to_string();
        let no_subject = assign(&h, &h.clinician, &missing, &h.app_id, daily.clone()).await;
        assert_problem(&no_subject, StatusCode::NOT_FOUND, "not_found");
        let no_app = assign(&h, &h.clinician, &h.subject, &missing, daily.clone()).await;
        assert_problem(&no_app, StatusCode::NOT_FOUND, "not_found");
        let fabrikam_admin = token(&core, "fabrikam", &[Role::TenantAdmin], None).await;
        let theirs = send(&h.app, "POST", "/api/v1/tenants/fabrikam/subjects", Some(&fabrikam_admin),
            Some(json!({"identifiers": [{"system": "urn:mrn", "value": "F-9"}]}).to_string()), &[]).await;
        let theirs = theirs.body["id"].as_str().unwrap().to_owned();
        let foreign = assign(&h, &h.clinician, &theirs, &h.app_id, daily.clone()).await;
        assert_problem(&foreign, StatusCode::NOT_FOUND, "not_found");
        assert_eq!(foreign.body, no_subject.body);
        let foreign_list = list(&h, &h.clinician, &theirs).await;
        assert_problem(&foreign_list, StatusCode::NOT_FOUND, "not_found");
        let no_assignment = send(&h.app, "POST", &format!("{}/{missing}/end", assignments_path()), Some(&h.clinician), None, &[]).await;
        assert_problem(&no_assignment, StatusCode::NOT_FOUND, "not_found");

        // Malformed schedules and days are refused without echoing them.
        for schedule in [json!({"kind": "hourly"}), json!({"kind": "weekly"}), json!({"kind": "daily", "weekday": "monday"})] {
            let bad = assign(&h, &h.clinician, &h.other_patient_subject, &h.app_id, schedule).await;
            assert_problem(&bad, StatusCode::BAD_REQUEST, "malformed_request");
            assert!(!bad.body.to_string().contains("hourly"), "{:?}", bad.body);
        }
        let bad_day = send(&h.app, "POST", assignments_path(), Some(&h.clinician),
            Some(json!({"subject_id": h.subject, "app_id": draft, "schedule": daily, "starts_on": "2026-02-30"}).to_string()), &[]).await;
        assert_problem(&bad_day, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(bad_day.body["errors"][0]["field"], "starts_on");

        // Patients manage and list none, not even their own.
        let by_patient = assign(&h, &h.patient, &h.subject, &draft, daily.clone()).await;
        assert_problem(&by_patient, StatusCode::FORBIDDEN, "forbidden");
        assert_problem(&list(&h, &h.patient, &h.subject).await, StatusCode::FORBIDDEN, "forbidden");
        let end_by_patient = send(&h.app, "POST", &format!("{}/{}/end", assignments_path(), other.body["id"].as_str().unwrap()), Some(&h.patient), None, &[]).await;
        assert_problem(&end_by_patient, StatusCode::FORBIDDEN, "forbidden");

        // Assignments are in the log like everything else: a rebuild reproduces them.
        let before = h.store.projection_snapshot().await.unwrap();
        h.store.rebuild_projections().await.unwrap();
        assert_eq!(h.store.projection_snapshot().await.unwrap(), before);
        assert!(h.store.verify_chains().await.unwrap().is_intact());
    })
    .await;
}

#[tokio::test]
async fn a_patients_home_is_their_own_and_a_submission_makes_it_not_due() {
    each_engine(|h| async move {
        let mine = assign(&h, &h.clinician, &h.subject, &h.app_id, json!({"kind": "daily"})).await;
        assert_eq!(mine.status, StatusCode::CREATED, "{:?}", mine.body);
        let ward = app(&h, "Ward vitals", WARD_VITALS, true).await;
        let theirs = assign(&h, &h.clinician, &h.other_patient_subject, &ward, json!({"kind": "once"})).await;
        assert_eq!(theirs.status, StatusCode::CREATED, "{:?}", theirs.body);

        let before = home(&h.app, &h.patient).await;
        assert_eq!(before.status, StatusCode::OK, "{:?}", before.body);
        assert_eq!(before.body["subject_id"], h.subject.as_str());
        assert!(Timestamp::parse_rfc3339(before.body["now"].as_str().unwrap()).is_ok());
        let items = before.body["assignments"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{items:?}");
        assert_eq!(items[0]["id"], mine.body["id"]);
        assert_eq!(items[0]["app_id"], h.app_id.as_str());
        assert_eq!(items[0]["title"], "Daily vitals");
        assert_eq!(items[0]["schedule"], json!({"kind": "daily"}));
        assert_eq!(items[0]["due"], true);
        assert_eq!(items[0]["last_submitted_at"], Value::Null);
        // Only the apps of their own assignments, each as exporting its version gives it.
        let apps = before.body["apps"].as_object().unwrap();
        assert_eq!(apps.keys().collect::<Vec<_>>(), [&h.app_id]);
        assert_eq!(apps[&h.app_id]["version"], 1);
        let exported = send(&h.app, "GET", &format!("/api/v1/tenants/contoso/apps/{}/versions/1?format=hale", h.app_id), Some(&h.patient), None, &[]).await;
        assert_eq!(exported.status, StatusCode::OK);
        assert_eq!(apps[&h.app_id]["definition"], exported.body);
        assert_eq!(before.body["history"], json!({"observations": [], "news2": []}));

        let submitted = h.submit(&h.patient, json!({"heart_rate": 72, "spo2": 97}), Some("home-1")).await;
        assert_eq!(submitted.status, StatusCode::CREATED, "{:?}", submitted.body);
        let after = home(&h.app, &h.patient).await;
        let item = &after.body["assignments"][0];
        assert_eq!(item["due"], false, "{:?}", after.body);
        assert_eq!(item["last_submitted_at"], submitted.body["authored_at"]);
        let history = after.body["history"]["observations"].as_array().unwrap();
        let mut codes: Vec<&str> = history.iter().map(|o| o["code"].as_str().unwrap()).collect();
        codes.sort();
        assert_eq!(codes, ["59408-5", "8867-4"]);
        let pulse = history.iter().find(|o| o["code"] == "8867-4").unwrap();
        assert_eq!(pulse["value"], 72.0);
        assert_eq!(pulse["unit"], "/min");
        assert_eq!(pulse["effective_at"], submitted.body["authored_at"]);

        let other = token(&Core::with_system(h.store.clone()), "contoso", &[Role::Patient], Some(&h.other_patient_subject)).await;
        let their_home = home(&h.app, &other).await;
        assert_eq!(their_home.body["assignments"].as_array().unwrap().len(), 1);
        assert_eq!(their_home.body["assignments"][0]["app_id"], ward.as_str());
        assert_eq!(their_home.body["assignments"][0]["title"], "Ward vitals");
        assert_eq!(their_home.body["history"]["observations"], json!([]));
        // Answers given yesterday and synced later do not move the newest submission back.
        let yesterday = Timestamp::from_micros(Core::with_system(h.store.clone()).now().as_micros() - 86_400_000_000);
        let late = json!({"subject_id": h.subject, "app_id": h.app_id, "authored_at": yesterday.to_rfc3339(), "answers": {"heart_rate": 70}});
        let stored = h.submit_raw(&h.clinician, late.to_string(), None).await;
        assert_eq!(stored.status, StatusCode::CREATED, "{:?}", stored.body);
        let still = home(&h.app, &h.patient).await;
        assert_eq!(still.body["assignments"][0]["last_submitted_at"], submitted.body["authored_at"]);
        let observations = still.body["history"]["observations"].as_array().unwrap();
        assert_eq!(observations.len(), 3);
        assert_eq!(observations[0]["value"], 70.0, "oldest first: {observations:?}");

        // Only patients have a home.
        assert_problem(&home(&h.app, &h.clinician).await, StatusCode::FORBIDDEN, "forbidden");
    })
    .await;
}

#[tokio::test]
async fn a_batch_answers_each_item_in_order_as_the_single_endpoint_would() {
    each_engine(|h| async move {
        let item = |key: &str, answers: Value| {
            json!({"subject_id": h.subject, "app_id": h.app_id, "answers": answers, "idempotency_key": key})
        };
        let items = vec![
            item("b-1", json!({"heart_rate": 70})),
            item("b-2", json!({"heart_rate": 400})),
            json!({"subject_id": h.subject, "app_id": h.app_id, "answers": {}, "surprise": "ZQXMARKER"}),
            item("b-1", json!({"heart_rate": 70})),
            json!({"subject_id": h.other_patient_subject, "app_id": h.app_id, "answers": {"heart_rate": 70}, "idempotency_key": "b-3"}),
            item("b-1", json!({"heart_rate": 71})),
            item("b-4", json!({"heart_rate": 80, "spo2": 96})),
        ];
        let before = h.counts().await;
        let reply = send_batch(&h.app, &h.patient, batch(items.clone())).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        assert_eq!(statuses(&reply), [201, 422, 400, 200, 404, 409, 201]);
        let results = &reply.body["results"];
        assert_eq!(results[0]["submission"]["answers"], json!({"heart_rate": 70}));
        assert_eq!(results[3]["submission"]["id"], results[0]["submission"]["id"]);
        assert!(results[1].get("submission").is_none());
        // Each refusal is the problem the single endpoint gives for the same body.
        for (index, code) in [(1, "validation_failed"), (2, "malformed_request"), (4, "not_found"), (5, "idempotency_key_reused")] {
            let problem = &results[index]["problem"];
            assert_eq!(problem["code"], code, "{index}: {problem:?}");
            assert_eq!(problem["status"], results[index]["status"]);
            assert!(results[index].get("submission").is_none());
        }
        assert!(!reply.body.to_string().contains("ZQXMARKER"));
        let single = h.submit_raw(&h.patient, items[1].to_string(), None).await;
        assert_eq!(results[1]["problem"], single.body);
        let stored = h.counts().await;
        assert_eq!(stored.submissions, before.submissions + 2);

        // The same batch again stores nothing: its stored items replay.
        let replay = send_batch(&h.app, &h.patient, batch(items)).await;
        assert_eq!(statuses(&replay), [200, 422, 400, 200, 404, 409, 200]);
        assert_eq!(replay.body["results"][6]["submission"], results[6]["submission"]);
        assert_eq!(h.counts().await, stored);

        // Empty and oversized batches store nothing at all.
        let empty = send_batch(&h.app, &h.patient, batch(Vec::new())).await;
        assert_problem(&empty, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let many = (0..51).map(|n| item(&format!("many-{n}"), json!({"heart_rate": 60}))).collect();
        let too_many = send_batch(&h.app, &h.patient, batch(many)).await;
        assert_problem(&too_many, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
        let fifty = (0..50).map(|n| item(&format!("fifty-{n}"), json!({"heart_rate": 60}))).collect();
        let full = send_batch(&h.app, &h.patient, batch(fifty)).await;
        assert_eq!(statuses(&full), vec![201; 50]);
        assert_eq!(h.counts().await.submissions, stored.submissions + 50);
        let not_a_batch = send_batch(&h.app, &h.patient, json!({"submissions": {}}).to_string()).await;
        assert_problem(&not_a_batch, StatusCode::BAD_REQUEST, "malformed_request");
    })
    .await;
}

/// The harness's store behind a router with the shipped rate limits and `extra` rules.
fn limited(h: &Harness, extra: &[Value]) -> Router {
    let mut rules = default_rules();
    for rule in extra {
        rules.push(
            serde_json::from_value::<RateRuleConfig>(rule.clone())
                .unwrap()
                .rule()
                .unwrap(),
        );
    }
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

#[tokio::test]
async fn a_patient_syncing_in_batches_stays_inside_the_shipped_limit() {
    each_engine(|h| async move {
        let assigned = assign(&h, &h.clinician, &h.subject, &h.app_id, json!({"kind": "daily"})).await;
        assert_eq!(assigned.status, StatusCode::CREATED, "{:?}", assigned.body);
        let app = limited(&h, &[]);
        for n in 0..5 {
            let body = batch(vec![json!({"subject_id": h.subject, "app_id": h.app_id, "answers": {"heart_rate": 60 + n}, "idempotency_key": format!("sync-{n}")})]);
            let response = app.clone().oneshot(request("POST", "/api/v1/tenants/contoso/submissions/batch", Some(&h.patient), Some(body), &[])).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "batch {n}");
            // Each batch is one call under the patient's ten.
            let left = response.headers()["ratelimit"].to_str().unwrap().to_owned();
            assert!(left.starts_with(&format!("\"patient\";r={};", 9 - n)), "{left}");
        }
        let response = app.clone().oneshot(request("GET", "/api/v1/tenants/contoso/home", Some(&h.patient), None, &[])).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers()["ratelimit"].to_str().unwrap().starts_with("\"patient\";r=4;"));
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["assignments"][0]["due"], false);
        assert_eq!(body["history"]["observations"].as_array().unwrap().len(), 5);
    })
    .await;
}

#[tokio::test]
async fn an_apps_policy_counts_batches_that_submit_to_it() {
    each_engine(|h| async move {
        // The harness's app names `patient-default`: here two calls an hour.
        let app = limited(&h, &[json!({"name": "patient-default", "calls": 2, "period": "1h", "key": "account", "applies_to": ["patient"]})]);
        let body = |n: i64| batch(vec![
            json!({"subject_id": h.subject, "app_id": h.app_id, "answers": {"heart_rate": 60 + n}}),
            json!({"subject_id": h.subject, "app_id": h.app_id, "answers": {"heart_rate": 70 + n}}),
        ]);
        for n in 0..2 {
            let response = app.clone().oneshot(request("POST", "/api/v1/tenants/contoso/submissions/batch", Some(&h.patient), Some(body(n)), &[])).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let policy = response.headers()["ratelimit-policy"].to_str().unwrap().to_owned();
            assert!(policy.starts_with("\"patient-default\";q=2"), "{policy}");
        }
        let before = h.counts().await;
        let refused = app.clone().oneshot(request("POST", "/api/v1/tenants/contoso/submissions/batch", Some(&h.patient), Some(body(3)), &[])).await.unwrap();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(h.counts().await, before, "a refused batch stored something");
    })
    .await;
}

/// Answers to the ward form scoring the given NEWS2 parameters.
fn ward(respiration: i64, spo2: i64, pulse: i64, temperature: f64, consciousness: &str) -> Value {
    json!({"respiration_rate": respiration, "spo2": spo2, "heart_rate": pulse, "temperature": temperature,
           "systolic": 120, "consciousness": consciousness, "oxygen": "air"})
}

#[tokio::test]
async fn the_overview_puts_the_riskiest_first_and_alerts_at_five_or_a_single_three() {
    each_engine(|h| async move {
        let form = app(&h, "Ward vitals", WARD_VITALS, true).await;
        let four = register(&h, "W-4", "Four Low").await;
        let five = register(&h, "W-5", "Five Medium").await;
        let single = register(&h, "W-3", "Three Single").await;
        let three = register(&h, "W-3b", "Three Plain").await;
        // 22/min scores 2, SpO2 94 % 1, pulse 95 1, 38.5 °C 1; responding to voice alone 3.
        for (subject, answers) in [
            (&four, ward(22, 94, 95, 37.0, "alert")),
            (&five, ward(22, 94, 95, 38.5, "alert")),
            (&single, ward(16, 97, 70, 37.0, "voice")),
            (&three, ward(22, 97, 95, 37.0, "alert")),
        ] {
            let body = json!({"subject_id": subject, "app_id": form, "answers": answers});
            let reply = h.submit_raw(&h.clinician, body.to_string(), None).await;
            assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
        }
        let overview = send(
            &h.app,
            "GET",
            "/api/v1/tenants/contoso/patients",
            Some(&h.clinician),
            None,
            &[],
        )
        .await;
        assert_eq!(overview.status, StatusCode::OK, "{:?}", overview.body);
        let items = overview.body["items"].as_array().unwrap();
        let order: Vec<&str> = items
            .iter()
            .map(|row| row["subject_id"].as_str().unwrap())
            .collect();
        assert_eq!(&order[..4], [&five, &four, &single, &three]);
        // The harness's two patients have no NEWS2: last, by their ids.
        let mut rest = vec![h.subject.as_str(), h.other_patient_subject.as_str()];
        rest.sort();
        assert_eq!(&order[4..], rest);
        let expect = [
            (5, "medium", true),
            (4, "low", false),
            (3, "low-medium", true),
            (3, "low", false),
        ];
        for (row, (total, band, alert)) in items.iter().zip(expect) {
            assert_eq!(row["news2"]["total"], total, "{row:?}");
            assert_eq!(row["news2"]["band"], band, "{row:?}");
            assert_eq!(row["alert"], alert, "{row:?}");
            assert!(row["last_submitted_at"].is_string());
            assert_eq!(row["news2"]["effective_at"], row["last_submitted_at"]);
        }
        assert_eq!(items[0]["display_name"], "Five Medium");
        assert_eq!(items[0]["latest"]["8310-5"]["value"], 38.5);
        assert_eq!(items[0]["latest"]["8310-5"]["unit"], "Cel");
        assert_eq!(items[0]["latest"]["8867-4"]["value"], 95.0);
        assert_eq!(items[0]["latest"].as_object().unwrap().len(), 5);
        assert_eq!(items[4]["news2"], Value::Null);
        assert_eq!(items[4]["alert"], false);
        assert_eq!(items[4]["latest"], json!({}));
        assert_eq!(items[4]["last_submitted_at"], Value::Null);

        // A newer reading replaces the older one: the five drops to a zero.
        let calm =
            json!({"subject_id": five, "app_id": form, "answers": ward(16, 97, 70, 37.0, "alert")});
        assert_eq!(
            h.submit_raw(&h.clinician, calm.to_string(), None)
                .await
                .status,
            StatusCode::CREATED
        );
        let again = send(
            &h.app,
            "GET",
            "/api/v1/tenants/contoso/patients",
            Some(&h.clinician),
            None,
            &[],
        )
        .await;
        let first: Vec<&str> = again.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .take(4)
            .map(|row| row["subject_id"].as_str().unwrap())
            .collect();
        assert_eq!(first, [&four, &single, &three, &five]);
        assert_eq!(again.body["items"][3]["news2"]["total"], 0);
        assert_eq!(again.body["items"][3]["latest"]["8310-5"]["value"], 37.0);

        // The same history in the patient's own home, oldest first, with its bands.
        let patient = token(
            &Core::with_system(h.store.clone()),
            "contoso",
            &[Role::Patient],
            Some(&five),
        )
        .await;
        let own = home(&h.app, &patient).await;
        let news2: Vec<(i64, &str)> = own.body["history"]["news2"]
            .as_array()
            .unwrap()
            .iter()
            .map(|score| {
                (
                    score["total"].as_i64().unwrap(),
                    score["band"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(news2, [(5, "medium"), (0, "low")]);

        // Patients and the other staff roles get 403; a tenant administrator reads it.
        for who in [&h.patient, &h.analyst, &h.reviewer] {
            let refused = send(
                &h.app,
                "GET",
                "/api/v1/tenants/contoso/patients",
                Some(who),
                None,
                &[],
            )
            .await;
            assert_problem(&refused, StatusCode::FORBIDDEN, "forbidden");
        }
        let admin = token(
            &Core::with_system(h.store.clone()),
            "contoso",
            &[Role::TenantAdmin],
            None,
        )
        .await;
        let by_admin = send(
            &h.app,
            "GET",
            "/api/v1/tenants/contoso/patients",
            Some(&admin),
            None,
            &[],
        )
        .await;
        assert_eq!(by_admin.body, again.body);
        // Another tenant's clinician sees none of these patients.
        let outsider = token(
            &Core::with_system(h.store.clone()),
            "fabrikam",
            &[Role::Clinician],
            None,
        )
        .await;
        let elsewhere = send(
            &h.app,
            "GET",
            "/api/v1/tenants/fabrikam/patients",
            Some(&outsider),
            None,
            &[],
        )
        .await;
        assert_eq!(elsewhere.body["items"], json!([]));
        let not_theirs = send(
            &h.app,
            "GET",
            "/api/v1/tenants/contoso/patients",
            Some(&outsider),
            None,
            &[],
        )
        .await;
        assert_problem(&not_theirs, StatusCode::NOT_FOUND, "not_found");

        // The newest-of read models replay to the same rows and verify.
        let before = h.store.projection_snapshot().await.unwrap();
        h.store.rebuild_projections().await.unwrap();
        assert_eq!(h.store.projection_snapshot().await.unwrap(), before);
        assert!(h.store.verify_chains().await.unwrap().is_intact());
    })
    .await;
}
