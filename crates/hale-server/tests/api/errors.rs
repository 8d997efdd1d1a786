//! Every error is problem+json with a stable code, sizes are refused before they are read,
//! limits hold in the core, and responses carry their hygiene headers — on both engines.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use hale_core::{Core, CoreError, VersionPage};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

use super::{Reply, VITALS, assert_problem, each_engine, operator, send};

/// A request through the router with whatever headers the test gives, raw.
async fn send_raw(app: &axum::Router, request: Request<Body>) -> (Reply, axum::http::HeaderMap) {
    use http_body_util::BodyExt;
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (
        Reply {
            status,
            content_type,
            body,
        },
        headers,
    )
}

#[tokio::test]
async fn path_and_query_rejections_and_unknown_routes_are_problems_that_echo_nothing() {
    each_engine(|h| async move {
        let base = format!(
            "/api/v1/tenants/contoso/subjects/{}/observations",
            h.subject
        );
        let bad_limit = send(
            &h.app,
            "GET",
            &format!("{base}?limit=zebra9"),
            Some(&h.clinician),
            None,
            &[],
        )
        .await;
        assert_problem(&bad_limit, StatusCode::BAD_REQUEST, "malformed_request");
        let detail = bad_limit.body["detail"].as_str().unwrap();
        assert!(detail.contains("`limit`"), "{detail}");
        assert!(!bad_limit.body.to_string().contains("zebra9"));
        let unknown = send(
            &h.app,
            "GET",
            &format!("{base}?pat_doe_secret=1"),
            Some(&h.clinician),
            None,
            &[],
        )
        .await;
        assert_problem(&unknown, StatusCode::BAD_REQUEST, "malformed_request");
        assert!(!unknown.body.to_string().contains("pat_doe_secret"));
        let missing = send(
            &h.app,
            "GET",
            &format!("/api/v1/tenants/contoso/apps/{}/diff?from=1", h.app_id),
            Some(&h.analyst),
            None,
            &[],
        )
        .await;
        assert_problem(&missing, StatusCode::BAD_REQUEST, "malformed_request");
        assert!(missing.body["detail"].as_str().unwrap().contains("`to`"));
        let bad_version = send(
            &h.app,
            "GET",
            &format!("/api/v1/tenants/contoso/apps/{}/versions/zebra9", h.app_id),
            Some(&h.analyst),
            None,
            &[],
        )
        .await;
        assert_problem(&bad_version, StatusCode::BAD_REQUEST, "malformed_request");
        assert!(
            bad_version.body["detail"]
                .as_str()
                .unwrap()
                .contains("`version`"),
            "{:?}",
            bad_version.body
        );
        assert!(!bad_version.body.to_string().contains("zebra9"));
        let bad_uuid = send(
            &h.app,
            "GET",
            "/api/v1/tenants/contoso/subjects/not-a-uuid",
            Some(&h.clinician),
            None,
            &[],
        )
        .await;
        assert_problem(&bad_uuid, StatusCode::NOT_FOUND, "not_found");
        let nowhere = send(
            &h.app,
            "GET",
            "/api/v1/nowhere",
            Some(&h.clinician),
            None,
            &[],
        )
        .await;
        assert_problem(&nowhere, StatusCode::NOT_FOUND, "not_found");
    })
    .await;
}

#[tokio::test]
async fn page_sizes_are_bounded_in_the_core_not_only_over_http() {
    each_engine(|h| async move {
        let base = format!("/api/v1/tenants/contoso/subjects/{}/submissions", h.subject);
        for limit in ["0", "501", "-3"] {
            let reply = send(
                &h.app,
                "GET",
                &format!("{base}?limit={limit}"),
                Some(&h.clinician),
                None,
                &[],
            )
            .await;
            assert_problem(
                &reply,
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
            );
            assert_eq!(reply.body["errors"][0]["field"], "limit");
        }
        let core = Core::with_system(h.store.clone());
        let tenant = core.resolve_tenant(&operator(), "contoso").await.unwrap();
        // A clinician: platform administrators reach no tenant's data.
        let clinician = hale_domain::RequestContext::new(
            core.authenticate(hale_core::Credential::ApiKey(&h.clinician))
                .await
                .unwrap(),
            "test".into(),
            "test",
        );
        let huge = core
            .list_subjects(&clinician, tenant, None, Some(1_000_000))
            .await;
        assert!(matches!(huge, Err(CoreError::Invalid(_))), "{huge:?}");
        let default = core
            .list_subjects(&clinician, tenant, None, None)
            .await
            .unwrap();
        assert_eq!(default.items.len(), 2);
        let app = h.app_id.parse().unwrap();
        let versions = core
            .get_app(
                &clinician,
                tenant,
                app,
                VersionPage {
                    after: None,
                    limit: Some(501),
                },
            )
            .await;
        assert!(
            matches!(versions, Err(CoreError::Invalid(_))),
            "{versions:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn an_app_lists_version_summaries_a_page_at_a_time_and_definitions_one_by_one() {
    each_engine(|h| async move {
        let definition: Value = serde_json::from_str(VITALS).unwrap();
        for _ in 0..3 {
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
        }
        let base = format!("/api/v1/tenants/contoso/apps/{}", h.app_id);
        let first = send(
            &h.app,
            "GET",
            &format!("{base}?limit=2"),
            Some(&h.analyst),
            None,
            &[],
        )
        .await;
        assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
        let versions = first.body["versions"].as_array().unwrap();
        assert_eq!(
            versions
                .iter()
                .map(|v| v["version"].as_i64().unwrap())
                .collect::<Vec<_>>(),
            [1, 2]
        );
        assert!(
            versions
                .iter()
                .all(|v| v.get("definition").is_none() && v.get("compiled").is_none()),
            "{versions:?}"
        );
        let cursor = first.body["next_cursor"].as_str().unwrap();
        let second = send(
            &h.app,
            "GET",
            &format!("{base}?limit=2&cursor={cursor}"),
            Some(&h.analyst),
            None,
            &[],
        )
        .await;
        let numbers: Vec<i64> = second.body["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["version"].as_i64().unwrap())
            .collect();
        assert_eq!(numbers, [3, 4]);
        assert!(
            second.body.get("next_cursor").is_none(),
            "{:?}",
            second.body
        );
        let one = send(
            &h.app,
            "GET",
            &format!("{base}/versions/3"),
            Some(&h.analyst),
            None,
            &[],
        )
        .await;
        assert_eq!(one.status, StatusCode::OK, "{:?}", one.body);
        assert_eq!(one.body["title"], "Daily vitals");
        // Patients see only published versions, and a draft's definition looks missing.
        let patient = send(&h.app, "GET", &base, Some(&h.patient), None, &[]).await;
        assert_eq!(patient.body["versions"].as_array().unwrap().len(), 1);
        let draft = send(
            &h.app,
            "GET",
            &format!("{base}/versions/3"),
            Some(&h.patient),
            None,
            &[],
        )
        .await;
        assert_problem(&draft, StatusCode::NOT_FOUND, "not_found");
    })
    .await;
}

#[tokio::test]
async fn nul_characters_get_the_same_validation_error_on_every_engine() {
    each_engine(|h| async move {
        let before = h.counts().await;
        let mut definition: Value = serde_json::from_str(VITALS).unwrap();
        definition["fields"][0]["label"] = json!("Heart\u{0}rate");
        let label = send(&h.app, "POST", &format!("/api/v1/tenants/contoso/apps/{}/versions", h.app_id), Some(&h.analyst),
            Some(json!({"definition": definition}).to_string()), &[]).await;
        assert_problem(&label, StatusCode::UNPROCESSABLE_ENTITY, "invalid_definition");
        assert_eq!(label.body["definition_errors"][0]["code"], "invalid_character");
        let created = send(&h.app, "POST", "/api/v1/tenants/contoso/apps", Some(&h.analyst),
            Some(json!({"name": "Nul\u{0}app", "definition": serde_json::from_str::<Value>(VITALS).unwrap()}).to_string()), &[]).await;
        assert_problem(&created, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        // A second version in review, so that a reject with a comment reaches the store.
        let draft = send(&h.app, "POST", &format!("/api/v1/tenants/contoso/apps/{}/versions", h.app_id), Some(&h.analyst),
            Some(json!({"definition": serde_json::from_str::<Value>(VITALS).unwrap()}).to_string()), &[]).await;
        let version = draft.body["version"].as_i64().unwrap();
        let step = format!("/api/v1/tenants/contoso/apps/{}/versions/{version}", h.app_id);
        send(&h.app, "POST", &format!("{step}/submit"), Some(&h.analyst), None, &[]).await;
        let comment = send(&h.app, "POST", &format!("{step}/reject"), Some(&h.reviewer),
            Some(json!({"comment": "looks\u{0}wrong"}).to_string()), &[]).await;
        assert_problem(&comment, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(comment.body["errors"][0]["field"], "comment");
        assert_eq!(comment.body["errors"][0]["code"], "invalid_character");
        let multiline = send(&h.app, "POST", &format!("{step}/reject"), Some(&h.reviewer),
            Some(json!({"comment": "line one\\nline two"}).to_string()), &[]).await;
        assert_eq!(multiline.body["status"], "rejected", "{:?}", multiline.body);
        let label = send(&h.app, "POST", "/api/v1/tenants/contoso/tokens", Some(&h.admin),
            Some(json!({"roles": ["clinician"], "label": "ward\u{0}7"}).to_string()), &[]).await;
        assert_problem(&label, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(label.body["errors"][0]["field"], "label");
        // Answers are stored as the JSON text sent, where U+0000 stays the escape `\u0000`:
        // both engines keep it and give it back unchanged.
        let answer = h.submit_raw(&h.patient, format!(r#"{{"subject_id":"{}","app_id":"{}","answers":{{"heart_rate":70,"note":"a\u0000b"}}}}"#, h.subject, h.app_id), None).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        assert_eq!(answer.body["answers"]["note"], "a\u{0}b");
        let after = h.counts().await;
        assert_eq!(after.events, before.events + 4, "only the draft, submit, reject and answer were stored");
    })
    .await;
}

#[tokio::test]
async fn unknown_answer_keys_are_counted_never_echoed_and_the_answer_stays_small() {
    each_engine(|h| async move {
        let mut answers = serde_json::Map::new();
        answers.insert("heart_rate".into(), json!(70));
        for n in 0..10_000 {
            answers.insert(format!("pat_doe_{n:05}"), json!(1));
        }
        let reply = h.submit(&h.patient, Value::Object(answers), None).await;
        assert_problem(
            &reply,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        let text = reply.body.to_string();
        assert!(text.len() < 4096, "{} bytes", text.len());
        assert!(!text.contains("pat_doe"), "{text}");
        assert_eq!(reply.body["errors"][0]["field"], "answers");
        assert_eq!(reply.body["errors"][0]["code"], "unknown_field");
        assert!(
            reply.body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("10000")
        );
    })
    .await;
}

#[tokio::test]
async fn a_body_declared_too_large_is_refused_at_once_in_problem_json() {
    each_engine(|h| async move {
        let request = Request::post("/api/v1/tenants/contoso/submissions")
            .header(header::AUTHORIZATION, format!("Bearer {}", h.patient))
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::CONTENT_LENGTH, "100000000")
            .body(Body::from("{}"))
            .unwrap();
        let (reply, _) = send_raw(&h.app, request).await;
        assert_problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

        // Over a real connection the body never arrives: the answer must not wait for it.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(axum::serve(listener, h.app.clone()).into_future());
        let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
        let head = format!(
            "POST /api/v1/tenants/contoso/submissions HTTP/1.1\r\nHost: hale\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{{\"subject_id\":",
            h.patient
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut answer = vec![0_u8; 4096];
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
            .await
            .expect("the 413 came before the (never sent) body")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer[..read]);
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.to_ascii_lowercase().contains("application/problem+json"), "{answer}");
        server.abort();
    })
    .await;
}

#[tokio::test]
async fn authorization_hygiene_and_response_headers() {
    each_engine(|h| async move {
        let path = format!("/api/v1/tenants/contoso/subjects/{}", h.subject);
        for scheme in ["bearer", "BEARER", "Bearer"] {
            let request = Request::get(&path)
                .header(header::AUTHORIZATION, format!("{scheme} {}", h.clinician))
                .body(Body::empty())
                .unwrap();
            let (reply, headers) = send_raw(&h.app, request).await;
            assert_eq!(reply.status, StatusCode::OK, "{scheme}: {:?}", reply.body);
            assert_eq!(headers[header::CACHE_CONTROL], "no-store");
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
            for directive in ["default-src 'none'", "frame-ancestors 'none'"] {
                assert!(policy.contains(directive), "{policy}");
            }
            assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
            assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
        }
        let twice = Request::get(&path)
            .header(header::AUTHORIZATION, format!("Bearer {}", h.clinician))
            .header(header::AUTHORIZATION, format!("Bearer {}", h.patient))
            .body(Body::empty())
            .unwrap();
        let (reply, headers) = send_raw(&h.app, twice).await;
        assert_problem(&reply, StatusCode::BAD_REQUEST, "malformed_request");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        let basic = Request::get(&path)
            .header(header::AUTHORIZATION, format!("Basic {}", h.clinician))
            .body(Body::empty())
            .unwrap();
        assert_problem(
            &send_raw(&h.app, basic).await.0,
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        );
        let long = format!("{path}?cursor={}", "a".repeat(hale_server::MAX_URI_BYTES));
        let request = Request::get(long).body(Body::empty()).unwrap();
        assert_problem(
            &send_raw(&h.app, request).await.0,
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
        );
        let mut request = Request::get(&path);
        for n in 0..40 {
            request = request.header(format!("x-filler-{n}"), "f".repeat(1024));
        }
        let (reply, _) = send_raw(&h.app, request.body(Body::empty()).unwrap()).await;
        assert_problem(
            &reply,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
        );
    })
    .await;
}
