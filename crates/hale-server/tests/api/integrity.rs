//! Integrity of what is stored: one meaning per body, exact numbers, one patient per
//! identifier, bounded dates, well-formed request ids.

use super::*;

fn submission_body(h: &Harness, answers: &str) -> String {
    format!(
        r#"{{"subject_id":"{}","app_id":"{}","answers":{answers}}}"#,
        h.subject, h.app_id
    )
}

#[tokio::test]
async fn bodies_with_two_meanings_are_refused_each_with_its_own_code_and_nothing_is_stored() {
    each_engine(|h| async move {
        let before = h.counts().await;
        let twice = h.submit_raw(&h.patient, submission_body(&h, r#"{"heart_rate":999999,"heart_rate":84}"#), None).await;
        assert_problem(&twice, StatusCode::BAD_REQUEST, "duplicate_key");
        let outer = format!(r#"{{"subject_id":"{0}","subject_id":"{0}","app_id":"{1}","answers":{{"heart_rate":84}}}}"#, h.subject, h.app_id);
        assert_problem(&h.submit_raw(&h.patient, outer, None).await, StatusCode::BAD_REQUEST, "duplicate_key");
        let deep = format!(r#"{{"note":{}{}}}"#, "[".repeat(1000), "]".repeat(1000));
        assert_problem(&h.submit_raw(&h.patient, submission_body(&h, &deep), None).await, StatusCode::BAD_REQUEST, "nesting_too_deep");
        assert_problem(&h.submit_raw(&h.patient, submission_body(&h, r#"{"heart_rate":1e400}"#), None).await, StatusCode::BAD_REQUEST, "number_out_of_range");
        let surrogate = h.submit_raw(&h.patient, submission_body(&h, r#"{"heart_rate":80,"note":"\ud800"}"#), None).await;
        assert_problem(&surrogate, StatusCode::BAD_REQUEST, "invalid_unicode");
        assert!(surrogate.body["detail"].as_str().unwrap().contains("line 1"), "{:?}", surrogate.body);
        let definition = r#"{"name":"Twice","definition":{"title":"T","fields":[{"name":"a","type":"text","label":"A","label":"B"}]}}"#;
        let app = send(&h.app, "POST", "/api/v1/tenants/contoso/apps", Some(&h.analyst), Some(definition.into()), &[]).await;
        assert_problem(&app, StatusCode::BAD_REQUEST, "duplicate_key");
        let upload_twice = br#"{"title":"T","title":"U","fields":[]}"#.to_vec();
        let imported = upload(&h.app, "/api/v1/tenants/contoso/apps/import", &h.analyst, "application/json", upload_twice).await;
        assert_problem(&imported, StatusCode::BAD_REQUEST, "duplicate_key");
        let questionnaire = br#"{"resourceType":"Questionnaire","status":"draft","status":"active","item":[]}"#.to_vec();
        let fhir = upload(&h.app, "/api/v1/tenants/contoso/apps/import", &h.analyst, "application/fhir+json", questionnaire).await;
        assert_problem(&fhir, StatusCode::BAD_REQUEST, "duplicate_key");
        assert_eq!(h.counts().await, before);
    })
    .await;
}

#[tokio::test]
async fn numbers_are_validated_as_the_text_that_is_stored() {
    each_engine(|h| async move {
        let before = h.counts().await;
        let field_codes = |reply: &Reply| -> Vec<(String, String)> {
            reply.body["errors"].as_array().unwrap().iter()
                .map(|e| (e["field"].as_str().unwrap().to_owned(), e["code"].as_str().unwrap().to_owned())).collect()
        };
        let over = h.submit_raw(&h.patient, submission_body(&h, r#"{"heart_rate":300.0000000000000001}"#), None).await;
        assert_problem(&over, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(field_codes(&over), [("heart_rate".to_owned(), "inexact_number".to_owned())]);
        let fraction = h.submit_raw(&h.patient, submission_body(&h, r#"{"heart_rate":84.0}"#), None).await;
        assert_eq!(field_codes(&fraction), [("heart_rate".to_owned(), "not_an_integer".to_owned())]);
        let exponent = h.submit_raw(&h.patient, submission_body(&h, r#"{"heart_rate":8.4e1}"#), None).await;
        assert_eq!(field_codes(&exponent), [("heart_rate".to_owned(), "not_an_integer".to_owned())]);
        let decimal = h.submit_raw(&h.patient, submission_body(&h, r#"{"heart_rate":80,"body_temperature":45.0000000000000001}"#), None).await;
        assert_problem(&decimal, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(field_codes(&decimal), [("body_temperature".to_owned(), "inexact_number".to_owned())]);
        let quantity = h.submit_raw(&h.patient, submission_body(&h, r#"{"heart_rate":80,"body_temperature":{"value":113.00000000000000001,"unit":"[degF]"}}"#), None).await;
        assert_eq!(field_codes(&quantity), [("body_temperature".to_owned(), "inexact_number".to_owned())]);
        assert_eq!(h.counts().await, before);
        let fine = h.submit_raw(&h.patient, submission_body(&h, r#"{"heart_rate":300,"body_temperature":36.60}"#), None).await;
        assert_eq!(fine.status, StatusCode::CREATED, "{:?}", fine.body);
    })
    .await;
}

#[tokio::test]
async fn one_patient_per_identifier_whatever_its_spacing_case_or_dashes() {
    each_engine(|h| async move {
        let before = h.counts().await;
        let register = |system: &'static str, value: &'static str| {
            let body = json!({"identifiers": [{"system": system, "value": value}]}).to_string();
            let app = h.app.clone();
            let token = h.clinician.clone();
            async move {
                send(
                    &app,
                    "POST",
                    "/api/v1/tenants/contoso/subjects",
                    Some(&token),
                    Some(body),
                    &[],
                )
                .await
            }
        };
        for (system, value) in [
            ("urn:mrn", " MRN-1"),
            ("urn:mrn", "mrn-1"),
            ("urn:mrn", "MRN\u{2010}1"),
            ("urn:mrn", "MRN\u{2212}1\u{a0}"),
            ("urn:mrn", "\u{ff2d}\u{ff32}\u{ff2e}-1"),
            ("URN:MRN", "MRN-1"),
            (" urn:mrn ", "MRN-1"),
        ] {
            let reply = register(system, value).await;
            assert_problem(&reply, StatusCode::CONFLICT, "identifier_taken");
        }
        assert_eq!(h.counts().await, before);
        let created = register("https://Hospital.Example/MRN/", " ab\u{2011}7 ").await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        assert_eq!(created.body["identifiers"][0]["value"], "AB-7");
        assert_eq!(
            created.body["identifiers"][0]["system"],
            "https://hospital.example/MRN"
        );
        let again = register("HTTPS://hospital.example/MRN", "ab-7").await;
        assert_problem(&again, StatusCode::CONFLICT, "identifier_taken");
    })
    .await;
}

#[tokio::test]
async fn dates_outside_plausible_bounds_are_refused() {
    each_engine(|h| async move {
        let before = h.counts().await;
        for birth_date in ["2999-01-01", "0000-01-01", "1849-12-31"] {
            let body = json!({"identifiers": [{"system": "urn:mrn", "value": format!("B-{birth_date}")}], "birth_date": birth_date}).to_string();
            let reply = send(&h.app, "POST", "/api/v1/tenants/contoso/subjects", Some(&h.clinician), Some(body), &[]).await;
            assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
            assert_eq!(reply.body["errors"][0]["field"], "birth_date");
            assert_eq!(reply.body["errors"][0]["code"], "out_of_range", "{birth_date}");
        }
        for authored_at in ["0001-01-01T00:00:00Z", "1999-12-31T23:59:59Z"] {
            let body = json!({"subject_id": h.subject, "app_id": h.app_id, "answers": {"heart_rate": 80}, "authored_at": authored_at}).to_string();
            let reply = h.submit_raw(&h.patient, body, None).await;
            assert_problem(&reply, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
            assert_eq!(reply.body["errors"][0]["field"], "authored_at");
            assert_eq!(reply.body["errors"][0]["code"], "out_of_range", "{authored_at}");
        }
        assert_eq!(h.counts().await, before);
        let body = json!({"identifiers": [{"system": "urn:mrn", "value": "B-ok"}], "birth_date": "1850-01-01"}).to_string();
        let reply = send(&h.app, "POST", "/api/v1/tenants/contoso/subjects", Some(&h.clinician), Some(body), &[]).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);
    })
    .await;
}

#[tokio::test]
async fn only_a_well_formed_request_id_is_kept() {
    each_engine(|h| async move {
        let id_of = |headers: Vec<(&'static str, String)>| {
            let app = h.app.clone();
            async move {
                let mut request = Request::get("/health");
                for (name, value) in &headers {
                    request = request.header(*name, value.as_str());
                }
                let response = app
                    .oneshot(request.body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                response
                    .headers()
                    .get("x-request-id")
                    .map(|value| value.to_str().unwrap().to_owned())
            }
        };
        let kept = "req-2026.12_01-abc";
        assert_eq!(
            id_of(vec![("x-request-id", kept.into())]).await.as_deref(),
            Some(kept)
        );
        let uuid = "0b5f8d7e-8c2a-4f7e-9a51-3f2d1c0b9a88";
        assert_eq!(
            id_of(vec![("x-request-id", uuid.into())]).await.as_deref(),
            Some(uuid)
        );
        for hostile in [
            "x actor=00000000-0000-0000-0000-000000000001 outcome=success".to_owned(),
            "a\"b".to_owned(),
            "x".repeat(65),
            String::new(),
        ] {
            let answered = id_of(vec![("x-request-id", hostile.clone())])
                .await
                .unwrap();
            assert_ne!(answered, hostile);
            assert!(uuid::Uuid::parse_str(&answered).is_ok(), "{answered}");
        }
    })
    .await;
}

#[tokio::test]
async fn an_idempotency_key_in_the_header_and_the_body_must_agree() {
    each_engine(|h| async move {
        let with_key = |key: &str| {
            format!(
                r#"{{"subject_id":"{}","app_id":"{}","answers":{{"heart_rate":70}},"idempotency_key":"{key}"}}"#,
                h.subject, h.app_id
            )
        };
        let before = h.counts().await;
        let differ = h.submit_raw(&h.patient, with_key("b-1"), Some("h-1")).await;
        assert_problem(&differ, StatusCode::BAD_REQUEST, "malformed_request");
        assert_eq!(h.counts().await, before, "nothing stored");
        let same = h.submit_raw(&h.patient, with_key("k-1"), Some("k-1")).await;
        assert_eq!(same.status, StatusCode::CREATED, "{:?}", same.body);
        let again = h.submit_raw(&h.patient, with_key("k-1"), None).await;
        assert_eq!(again.status, StatusCode::OK, "a replay under the same key");
        assert_eq!(again.body["id"], same.body["id"]);
    })
    .await;
}
