//! No PHI leaves through an error, a header or a log line, and every call leaves an audit record
//! naming who did what, for which purpose and with what outcome. Log lines of every level and
//! target, from every thread, are captured as JSON into one buffer for the whole test binary.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::fmt::MakeWriter;

use super::*;

/// Every log line written by this test binary, as it would reach an operator.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The shared buffer; installing the subscriber globally is what reaches the writer's thread
/// and tasks as well as the request's own.
fn logs() -> &'static LogBuffer {
    static LOGS: OnceLock<LogBuffer> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = LogBuffer::default();
        tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_max_level(tracing::Level::TRACE)
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(buffer.clone())
            .init();
        buffer
    })
}

fn log_text() -> String {
    String::from_utf8_lossy(&logs().0.lock().unwrap()).into_owned()
}

/// The audit records of one request, parsed.
fn audit_records(request_id: &str) -> Vec<Value> {
    log_text()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["target"] == "hale::audit" && line["request_id"] == request_id)
        .collect()
}

/// A marker no code or fixture contains, so any occurrence was copied from the request.
fn marker() -> String {
    format!("ZQX{}", uuid::Uuid::new_v4().simple()).to_uppercase()
}

/// A response as raw text: status, every header, the body.
struct Exchange {
    status: StatusCode,
    headers: String,
    body: String,
}

async fn exchange(
    app: &Router,
    method: &str,
    path: &str,
    token: &str,
    body: Option<String>,
    headers: &[(&str, &str)],
) -> Exchange {
    let request = request(method, path, Some(token), body, headers);
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| format!("{name}: {}\n", String::from_utf8_lossy(value.as_bytes())))
        .collect();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Exchange {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Asserts a refused request named no part of what it sent.
fn assert_refused_without_echo(reply: &Exchange, status: StatusCode, marker: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert!(!reply.body.contains(marker), "body echoes: {}", reply.body);
    assert!(
        !reply.headers.contains(marker),
        "headers echo: {}",
        reply.headers
    );
}

fn assert_not_logged(marker: &str) {
    let text = log_text();
    let line = text.lines().find(|line| line.contains(marker));
    assert!(line.is_none(), "logged: {line:?}");
    // The capture works: this binary's requests are being logged at all.
    assert!(text.contains("hale::audit"), "no audit line captured");
}

#[tokio::test]
async fn submitted_values_reach_no_error_header_or_log_line() {
    logs();
    each_engine(|h| async move {
        let marker = marker();
        let path = "/api/v1/tenants/contoso/submissions";
        let submit = |answers: Value| {
            json!({"subject_id": h.subject, "app_id": h.app_id, "answers": answers}).to_string()
        };
        // Each of these is read by the validator: a known field's value of the wrong type, in a
        // choice list, inside a quantity, out of bounds beside text, and text too long.
        let wrong_values = submit(json!({
            "heart_rate": marker,
            "spo2": format!("97 {marker}"),
            "body_temperature": {"value": marker, "unit": marker},
            "systolic": {"value": 120, "unit": marker},
            "diastolic": [marker],
            "symptoms": ["cough", marker],
            "note": format!("{marker} {}", "x".repeat(10_001)),
        }));
        let reply = exchange(&h.app, "POST", path, &h.patient, Some(wrong_values), &[]).await;
        assert_refused_without_echo(&reply, StatusCode::UNPROCESSABLE_ENTITY, &marker);
        for field in ["heart_rate", "spo2", "body_temperature", "systolic", "diastolic", "symptoms", "note"] {
            assert!(reply.body.contains(&format!("\"{field}\"")), "{field} not reported: {}", reply.body);
        }
        // Values the body's own shape reads: an integer field and an id given as text, an
        // answers object that is not one, an idempotency key with a space.
        for body in [
            json!({"subject_id": h.subject, "app_id": h.app_id, "app_version": marker, "answers": {}}),
            json!({"subject_id": marker, "app_id": h.app_id, "answers": {"heart_rate": 70}}),
            json!({"subject_id": h.subject, "app_id": format!("{}{marker}", h.app_id), "answers": {}}),
            json!({"subject_id": h.subject, "app_id": h.app_id, "authored_at": marker, "answers": {}}),
        ] {
            let reply = exchange(&h.app, "POST", path, &h.patient, Some(body.to_string()), &[]).await;
            assert!(reply.status.is_client_error(), "{}", reply.body);
            assert_refused_without_echo(&reply, reply.status, &marker);
        }
        let key = format!("key {marker}");
        let reply = exchange(&h.app, "POST", path, &h.patient, Some(submit(json!({"heart_rate": 70}))), &[("idempotency-key", &key)]).await;
        assert_refused_without_echo(&reply, StatusCode::UNPROCESSABLE_ENTITY, &marker);
        // A valid submission carrying the marker as free text: stored and returned to its
        // caller, yet absent from every header and log line.
        let stored = exchange(&h.app, "POST", path, &h.patient, Some(submit(json!({"heart_rate": 70, "note": marker}))), &[]).await;
        assert_eq!(stored.status, StatusCode::CREATED, "{}", stored.body);
        assert!(stored.body.contains(&marker));
        assert!(!stored.headers.contains(&marker));
        assert_not_logged(&marker);
    })
    .await;
}

#[tokio::test]
async fn subject_identifiers_and_names_reach_no_error_header_or_log_line() {
    logs();
    each_engine(|h| async move {
        let marker = marker();
        let core = Core::with_system(h.store.clone());
        let admin = token(&core, "contoso", &[Role::TenantAdmin], None).await;
        let path = "/api/v1/tenants/contoso/subjects";
        let register = |value: &str, name: &str, birth_date: &str| {
            json!({"identifiers": [{"system": "urn:mrn", "value": value}], "display_name": name, "birth_date": birth_date}).to_string()
        };
        let created = exchange(&h.app, "POST", path, &admin, Some(register(&marker, &format!("Pat {marker}"), "1970-01-01")), &[]).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert!(!created.headers.contains(&marker));
        // The same identifier again: the conflict must not say which identifier.
        let again = exchange(&h.app, "POST", path, &admin, Some(register(&marker, "Other", "1970-01-01")), &[]).await;
        assert_refused_without_echo(&again, StatusCode::CONFLICT, &marker);
        // Values the subject validator reads and refuses.
        let invalid = [
            register(&format!("{marker}\u{7}"), "Pat", "1970-01-01"),
            register(&format!("{marker}{}", "9".repeat(300)), "Pat", "1970-01-01"),
            register("MRN-9", &format!("{marker}{}", "x".repeat(1_000)), "1970-01-01"),
            register("MRN-9", "Pat", &marker),
        ];
        for body in invalid {
            let reply = exchange(&h.app, "POST", path, &admin, Some(body), &[]).await;
            assert!(reply.status.is_client_error(), "{}", reply.body);
            assert_refused_without_echo(&reply, reply.status, &marker);
        }
        assert_not_logged(&marker);
    })
    .await;
}

#[tokio::test]
async fn every_call_leaves_an_audit_record_of_ids_on_success_and_failure() {
    logs();
    each_engine(|h| async move {
        let marker = marker();
        let core = Core::with_system(h.store.clone());
        let contoso = core.resolve_tenant(&operator(), "contoso").await.unwrap().to_string();
        let fabrikam = core.resolve_tenant(&operator(), "fabrikam").await.unwrap().to_string();
        let clinician = core
            .issue_token(&operator(), IssueToken { tenant: Some(contoso.parse().unwrap()), roles: vec![Role::Clinician], subject: None, label: "audit".into() })
            .await
            .unwrap();
        let actor = clinician.principal_id.to_string();
        let token = clinician.token.expose().to_owned();

        // Success: a submission carrying PHI in its answers.
        let request_id = uuid::Uuid::new_v4().to_string();
        let body = json!({"subject_id": h.subject, "app_id": h.app_id, "answers": {"heart_rate": 70, "note": marker}});
        let created = exchange(&h.app, "POST", "/api/v1/tenants/contoso/submissions", &token, Some(body.to_string()), &[("x-request-id", &request_id)]).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let records = audit_records(&request_id);
        let actions: Vec<&str> = records.iter().map(|record| record["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["tenant.resolve", "submission.create"], "{records:?}");
        for record in &records {
            assert_eq!(record["actor"], actor.as_str());
            assert_eq!(record["purpose"], "TREAT");
            assert_eq!(record["channel"], "rest");
            assert_eq!(record["outcome"], "success");
            assert!(record["tenant"].as_str().unwrap().contains(&contoso), "{record}");
        }
        assert_eq!(records[0]["resource"], "tenant");
        assert_eq!(records[1]["resource"], "submission");

        // Failure at tenant resolution: another tenant looks missing, and the attempt is on
        // record with the tenant it named.
        let request_id = uuid::Uuid::new_v4().to_string();
        let refused = exchange(&h.app, "GET", "/api/v1/tenants/fabrikam/subjects", &token, None, &[("x-request-id", &request_id)]).await;
        assert_eq!(refused.status, StatusCode::NOT_FOUND);
        let records = audit_records(&request_id);
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(records[0]["action"], "tenant.resolve");
        assert_eq!(records[0]["outcome"], "not_found");
        assert_eq!(records[0]["actor"], actor.as_str());
        assert!(records[0]["tenant"].as_str().unwrap().contains(&fabrikam), "{:?}", records[0]);

        // Failure inside a use case: an unknown subject.
        let request_id = uuid::Uuid::new_v4().to_string();
        let unknown = uuid::Uuid::new_v4().to_string();
        let missing = exchange(&h.app, "GET", &format!("/api/v1/tenants/contoso/subjects/{unknown}"), &token, None, &[("x-request-id", &request_id)]).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        let records = audit_records(&request_id);
        let last = records.last().unwrap();
        assert_eq!(records.len(), 2, "{records:?}");
        assert_eq!(last["outcome"], "not_found");
        assert_eq!(last["resource_id"], unknown.as_str());

        // Lint and import are audited too, on success and on failure.
        let request_id = uuid::Uuid::new_v4().to_string();
        let lint = exchange(&h.app, "POST", "/api/v1/lint", &h.analyst, Some(VITALS.to_owned()), &[("x-request-id", &request_id)]).await;
        assert_eq!(lint.status, StatusCode::OK, "{}", lint.body);
        let records = audit_records(&request_id);
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(records[0]["action"], "app.lint");
        assert_eq!(records[0]["outcome"], "success");
        assert_eq!(records[0]["purpose"], "HOPERAT");
        let request_id = uuid::Uuid::new_v4().to_string();
        let broken = exchange(&h.app, "POST", "/api/v1/tenants/contoso/apps/import", &h.analyst, Some(json!({"title": marker, "fields": [{"name": "a", "type": "nonsense", "label": marker}]}).to_string()), &[("x-request-id", &request_id)]).await;
        assert!(broken.status.is_client_error(), "{}", broken.body);
        let records = audit_records(&request_id);
        let actions: Vec<&str> = records.iter().map(|record| record["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["tenant.resolve", "app.import"], "{records:?}");
        assert_eq!(records[1]["outcome"], "invalid_definition");

        // No audit line carries PHI: answers, identifiers, names.
        let audit_lines: Vec<String> = log_text().lines().filter(|line| line.contains("hale::audit")).map(str::to_owned).collect();
        for phi in [marker.as_str(), "MRN-1", "Pat Doe"] {
            assert!(!audit_lines.iter().any(|line| line.contains(phi)), "{phi} in an audit line");
        }
    })
    .await;
}
