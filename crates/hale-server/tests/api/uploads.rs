//! Hostile uploads: every one ends in a 4xx problem while the server keeps answering, and only
//! those who build or review apps get their uploads read at all.

use super::*;

#[tokio::test(flavor = "current_thread")]
async fn hostile_uploads_get_a_problem_while_the_server_keeps_answering() {
    // One runtime thread: a parse on it would stall every other request until it ended.
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("sparse corners", hostile::sparse_corners()),
        (
            "a million identical rows",
            hostile::identical_rows(1_000_000),
        ),
        ("zip bomb", hostile::zip_bomb(200 * 1024 * 1024)),
        ("deeply nested", hostile::deeply_nested(200_000)),
        (
            "a million shared strings",
            hostile::shared_strings(1_000_000),
        ),
        ("a 100 MB cell", hostile::large_cell(100 * 1024 * 1024)),
    ];
    each_engine(|h| {
        let files = files.clone();
        async move {
            let app = h.app.clone();
            let analyst = h.analyst.clone();
            let uploads = tokio::spawn(async move {
                let mut replies = Vec::new();
                for (name, bytes) in files {
                    for path in ["/api/v1/lint", "/api/v1/tenants/contoso/apps/import"] {
                        replies.push((
                            name,
                            upload(&app, path, &analyst, XLSX, bytes.clone()).await,
                        ));
                    }
                }
                replies
            });
            // One runtime thread: a parse done on it would hold it for the whole parse, so no
            // request could be answered while a parse is under way. Answered ones prove the
            // parse runs elsewhere.
            let mut answered_during_a_parse = 0;
            while !uploads.is_finished() {
                let health = send(&h.app, "GET", "/health", None, None, &[]).await;
                assert_eq!(health.status, StatusCode::OK);
                if hale_core::uploads_being_parsed() > 0 {
                    answered_during_a_parse += 1;
                }
                tokio::task::yield_now().await;
            }
            eprintln!("/health answered {answered_during_a_parse} times during parses");
            assert!(
                answered_during_a_parse > 0,
                "no other request was answered while an upload was being parsed"
            );
            for (name, reply) in uploads.await.unwrap() {
                if name == "deeply nested" {
                    // Unknown elements between two rows are passed over without recursion,
                    // however deep: what is left is a survey with no fields, which XLSForm
                    // allows. Lint reads it with no error; an import of it has no title to
                    // name the app by, and asks for a name. The server kept answering.
                    if reply.body.get("publishable").is_some() {
                        assert!(reply.status.is_success(), "{name}: {:?}", reply.body);
                        assert_eq!(reply.body["errors"], json!([]), "{name}: {:?}", reply.body);
                    } else {
                        assert_problem(
                            &reply,
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "validation_failed",
                        );
                        assert_eq!(
                            reply.body["errors"][0]["code"], "name_required",
                            "{:?}",
                            reply.body
                        );
                    }
                    continue;
                }
                assert!(
                    reply.status.is_client_error(),
                    "{name}: {} {:?}",
                    reply.status,
                    reply.body
                );
                assert_eq!(reply.content_type, "application/problem+json", "{name}");
                // Each file fits the body limit, so it is the importer that refuses it.
                assert_ne!(reply.body["code"], "payload_too_large", "{name}");
                eprintln!(
                    "{name}: {} {}",
                    reply.status, reply.body["import_errors"][0]["code"]
                );
            }
            // A CSV with a 10 MB line is refused by the body limit before it is read whole.
            let csv = hostile::csv_long_line(10 * 1024 * 1024).into_bytes();
            let reply = upload(&h.app, "/api/v1/lint", &h.analyst, "text/csv", csv).await;
            assert_problem(&reply, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
        }
    })
    .await;
}

#[tokio::test]
async fn uploads_are_read_only_for_those_who_build_or_review_apps() {
    each_engine(|h| async move {
        // Bodies that would fail to parse: a 403 shows the role was checked before parsing.
        let bodies: [(&str, &[u8]); 3] = [
            (XLSX, b"not a workbook"),
            ("application/json", b"{"),
            ("application/fhir+json", b"["),
        ];
        for (content_type, body) in bodies {
            for token in [&h.patient, &h.clinician] {
                for path in ["/api/v1/lint", "/api/v1/tenants/contoso/apps/import"] {
                    let reply = upload(&h.app, path, token, content_type, body.to_vec()).await;
                    assert_problem(&reply, StatusCode::FORBIDDEN, "forbidden");
                }
            }
        }
        let linted = upload(
            &h.app,
            "/api/v1/lint",
            &h.reviewer,
            XLSX,
            DAILY_VITALS_XLSX.to_vec(),
        )
        .await;
        assert_eq!(linted.status, StatusCode::OK, "{:?}", linted.body);
        let malformed = upload(
            &h.app,
            "/api/v1/lint",
            &h.reviewer,
            "application/json",
            b"{".to_vec(),
        )
        .await;
        assert_problem(&malformed, StatusCode::BAD_REQUEST, "malformed_request");
    })
    .await;
}

#[tokio::test]
async fn lint_findings_name_the_questionnaire_link_id_and_list_the_infos() {
    each_engine(|h| async move {
        let questionnaire = json!({"resourceType": "Questionnaire", "status": "active", "title": "T",
            "item": [{"linkId": "why", "type": "string", "text": "Why"}]});
        let reply = upload(&h.app, "/api/v1/lint", &h.analyst, "application/fhir+json", questionnaire.to_string().into_bytes()).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        assert_eq!(reply.body["warnings"][0]["code"], "free_text_without_purpose");
        assert_eq!(reply.body["warnings"][0]["link_id"], "why");
        assert_eq!(reply.body["infos"][0]["code"], "default_rate_limit_policy");
        // Spreadsheets' findings name their cells (`survey!D2`): see hale-forms' and hale-core's
        // tests, since every sample workbook lints clean.
    })
    .await;
}

/// Every finding's `cell` and `link_id`, in report order.
fn places(lint: &Value) -> Vec<(Value, Value, Value)> {
    ["errors", "warnings", "infos"]
        .iter()
        .flat_map(|severity| lint[severity].as_array().cloned().unwrap_or_default())
        .map(|finding| {
            (
                finding["code"].clone(),
                finding["cell"].clone(),
                finding["link_id"].clone(),
            )
        })
        .collect()
}

/// A stored version's lint names each finding's spreadsheet cell or Questionnaire linkId as
/// the import's lint did, long after the upload is gone: at review, at the submission that
/// lint refuses, and in the next draft a data file makes of it.
#[tokio::test]
async fn a_stored_versions_lint_names_the_cell_or_link_id_its_import_did() {
    each_engine(|h| async move {
        // Free text with no stated purpose (a warning, row 2) and a select from a file not
        // yet attached (an error, row 3).
        let survey = [
            ["type", "name", "label"],
            ["text", "remarks", "Anything else"],
            ["select_one_from_file fruits.csv", "fruit", "Fruit"],
        ];
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet().set_name("survey").unwrap();
        for (row, cells) in survey.iter().enumerate() {
            for (column, cell) in cells.iter().enumerate() {
                sheet.write_string(row as u32, column as u16, *cell).unwrap();
            }
        }
        let xlsx = book.save_to_buffer().unwrap();
        let imported = upload(&h.app, "/api/v1/tenants/contoso/apps/import?name=Fruit", &h.analyst, XLSX, xlsx).await;
        assert_eq!(imported.status, StatusCode::CREATED, "{:?}", imported.body);
        let at_import = places(&imported.body["lint"]);
        assert!(at_import.contains(&(json!("data_file_missing"), json!("survey!A3"), Value::Null)), "{at_import:?}");
        assert!(at_import.contains(&(json!("free_text_without_purpose"), json!("survey!2:2"), Value::Null)), "{at_import:?}");
        let app = imported.body["id"].as_str().unwrap().to_owned();
        let versions = format!("/api/v1/tenants/contoso/apps/{app}/versions");
        let review = send(&h.app, "GET", &format!("{versions}/1/review"), Some(&h.reviewer), None, &[]).await;
        assert_eq!(review.status, StatusCode::OK, "{:?}", review.body);
        assert_eq!(places(&review.body["lint"]), at_import, "{:?}", review.body);
        let refused = send(&h.app, "POST", &format!("{versions}/1/submit"), Some(&h.analyst), None, &[]).await;
        assert_problem(&refused, StatusCode::UNPROCESSABLE_ENTITY, "lint_failed");
        assert_eq!(refused.body["lint"]["errors"][0]["cell"], "survey!A3", "{:?}", refused.body);

        let attached = upload_with("PUT", &h.app, &format!("{versions}/1/files/fruits.csv"), &h.analyst, "text/csv", b"name,label\nkiwi,Kiwi\n".to_vec()).await;
        assert_eq!(attached.status, StatusCode::CREATED, "{:?}", attached.body);
        let expected: Vec<_> = at_import.iter().filter(|(code, ..)| code != "data_file_missing").cloned().collect();
        assert_eq!(places(&attached.body["lint"]), expected, "{:?}", attached.body);
        let second = send(&h.app, "GET", &format!("{versions}/2/review"), Some(&h.reviewer), None, &[]).await;
        assert_eq!(places(&second.body["lint"]), expected, "{:?}", second.body);

        // A Questionnaire's findings name the item's linkId; Hale's own format names neither.
        let questionnaire = json!({"resourceType": "Questionnaire", "status": "active", "title": "T",
            "item": [{"linkId": "why", "type": "string", "text": "Why"}]});
        let imported = upload(&h.app, "/api/v1/tenants/contoso/apps/import", &h.analyst, "application/fhir+json", questionnaire.to_string().into_bytes()).await;
        assert_eq!(imported.status, StatusCode::CREATED, "{:?}", imported.body);
        let app = imported.body["id"].as_str().unwrap();
        let review = send(&h.app, "GET", &format!("/api/v1/tenants/contoso/apps/{app}/versions/1/review"), Some(&h.reviewer), None, &[]).await;
        assert_eq!(review.body["lint"]["warnings"][0]["code"], "free_text_without_purpose", "{:?}", review.body);
        assert_eq!(review.body["lint"]["warnings"][0]["link_id"], "why", "{:?}", review.body);
        let definition = json!({"title": "Plain", "fields": [{"name": "why", "type": "text", "label": "Why"}]});
        let created = send(&h.app, "POST", "/api/v1/tenants/contoso/apps", Some(&h.analyst),
            Some(json!({"name": "Plain", "definition": definition}).to_string()), &[]).await;
        let app = created.body["id"].as_str().unwrap();
        let review = send(&h.app, "GET", &format!("/api/v1/tenants/contoso/apps/{app}/versions/1/review"), Some(&h.reviewer), None, &[]).await;
        assert_eq!(review.body["lint"]["warnings"][0]["code"], "free_text_without_purpose", "{:?}", review.body);
        assert_eq!(places(&review.body["lint"])[0], (json!("free_text_without_purpose"), Value::Null, Value::Null), "{:?}", review.body);
    })
    .await;
}
