//! Media files attached to an app version: the images, sounds and videos that labels and
//! choices show, checked by their bytes, kept once and read back by those who may see the
//! version.

use super::*;

/// A real 4×4 PNG.
pub const PNG: [u8; 73] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x04, 0x08, 0x02, 0x00, 0x00, 0x00, 0x26, 0x93, 0x09,
    0x29, 0x00, 0x00, 0x00, 0x10, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xb8, 0x60, 0x60, 0x00,
    0x47, 0x0c, 0xc4, 0x71, 0x00, 0xf8, 0x43, 0x13, 0x01, 0xae, 0xe8, 0xe9, 0x1b, 0x00, 0x00, 0x00,
    0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// A GET answered with its raw bytes and headers.
async fn fetch(
    app: &Router,
    path: &str,
    token: &str,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let response = app
        .clone()
        .oneshot(request("GET", path, Some(token), None, &[]))
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes().to_vec();
    (parts.status, parts.headers, bytes)
}

/// How many media files the store keeps, across tenants.
async fn media_rows(store: &Store) -> usize {
    let snapshot = store.projection_snapshot().await.unwrap();
    snapshot
        .iter()
        .find(|(table, _)| table == "app_media")
        .map_or(0, |(_, rows)| rows.len())
}

#[tokio::test]
async fn a_media_file_attached_to_a_version_is_checked_kept_and_read_back() {
    each_engine(|h| async move {
        let definition = json!({"title": "Pain", "choice_lists": {"faces": [
                {"value": "0", "label": "None", "media": {"image": "none.png"}},
                {"value": "1", "label": "Some"}]},
            "fields": [{"name": "pain", "type": "select_one", "label": "How is the pain?", "choice_list": "faces",
                "media": {"image": "pain.png", "audio": "pain.mp3"}}]});
        let created = send(&h.app, "POST", "/api/v1/tenants/contoso/apps", Some(&h.analyst),
            Some(json!({"name": "Pain", "definition": definition}).to_string()), &[]).await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
        let app = created.body["id"].as_str().unwrap().to_owned();
        let versions = format!("/api/v1/tenants/contoso/apps/{app}/versions");
        let review = send(&h.app, "GET", &format!("{versions}/1/review"), Some(&h.reviewer), None, &[]).await;
        let codes: Vec<&str> = review.body["lint"]["warnings"].as_array().unwrap().iter().map(|w| w["code"].as_str().unwrap()).collect();
        assert_eq!(codes, ["media_missing", "media_missing", "media_missing"], "{:?}", review.body);
        let put = |path: String, token: String, content_type: &'static str, body: Vec<u8>| {
            let app = h.app.clone();
            async move { upload_with("PUT", &app, &path, &token, content_type, body).await }
        };

        // The role first, then the type against the name, then the bytes against the type.
        let patient = put(format!("{versions}/1/files/pain.png"), h.patient.clone(), "image/png", PNG.to_vec()).await;
        assert_problem(&patient, StatusCode::FORBIDDEN, "forbidden");
        let svg = put(format!("{versions}/1/files/pain.svg"), h.analyst.clone(), "image/svg+xml", b"<svg/>".to_vec()).await;
        assert_problem(&svg, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
        // A type no file may have is refused before its body is read: not even its size counts.
        let large_svg = put(format!("{versions}/1/files/pain.svg"), h.analyst.clone(), "image/svg+xml", vec![b' '; 2 * 1024 * 1024]).await;
        assert_problem(&large_svg, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
        let misnamed = put(format!("{versions}/1/files/pain.png"), h.analyst.clone(), "image/jpeg", PNG.to_vec()).await;
        assert_problem(&misnamed, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
        let script = put(format!("{versions}/1/files/pain.png"), h.analyst.clone(), "image/png", b"<script>alert(1)</script>".to_vec()).await;
        assert_problem(&script, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(script.body["errors"][0]["code"], "media_type_mismatch", "{:?}", script.body);
        let empty = put(format!("{versions}/1/files/pain.png"), h.analyst.clone(), "image/png", Vec::new()).await;
        assert_eq!(empty.body["errors"][0]["code"], "invalid_media_file", "{:?}", empty.body);

        let events = || async { h.store.table_counts().await.unwrap().events };
        let before_first = events().await;
        let attached = put(format!("{versions}/1/files/pain.png"), h.analyst.clone(), "image/png", PNG.to_vec()).await;
        assert_eq!(attached.status, StatusCode::CREATED, "{:?}", attached.body);
        assert_eq!(events().await - before_first, 2, "the file's bytes, then the draft that names it");
        assert_eq!(attached.body["version"], 2, "{:?}", attached.body);
        let warnings = attached.body["lint"]["warnings"].as_array().unwrap();
        assert_eq!(warnings.len(), 2, "pain.png is attached, none.png and pain.mp3 are not: {warnings:?}");
        assert!(warnings.iter().all(|w| !w["message"].as_str().unwrap().contains("pain.png")), "{warnings:?}");
        let second = send(&h.app, "GET", &format!("{versions}/2"), Some(&h.analyst), None, &[]).await;
        let described = &second.body["media_files"]["pain.png"];
        assert_eq!(described["media_type"], "image/png", "{:?}", second.body);
        assert_eq!(described["size"], PNG.len(), "{:?}", second.body);
        let digest = described["sha256"].as_str().unwrap().to_owned();
        assert_eq!(digest.len(), 64);
        // The same bytes under another name share the row the first one made.
        let media_before = media_rows(&h.store).await;
        let before_again = events().await;
        let again = put(format!("{versions}/2/files/none.png"), h.analyst.clone(), "image/png", PNG.to_vec()).await;
        assert_eq!(again.status, StatusCode::CREATED, "{:?}", again.body);
        assert_eq!(events().await - before_again, 1, "bytes the tenant keeps already are not logged again");
        assert_eq!(media_rows(&h.store).await, media_before, "one row per digest");
        assert_eq!(media_before, 1);

        // Staff read a draft's file; it comes back as it went in, typed, and cannot be sniffed
        // or run as anything else.
        let (status, headers, bytes) = fetch(&h.app, &format!("{versions}/3/files/none.png"), &h.analyst).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(bytes, PNG);
        assert_eq!(headers[header::CONTENT_TYPE], "image/png");
        assert_eq!(headers[header::ETAG], format!("\"{digest}\"").as_str());
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert!(headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().starts_with("default-src 'none'"));
        // A patient reads published versions only; a name the version does not describe, a
        // data file's name and a version of none are missing alike.
        let (draft_for_patient, _, _) = fetch(&h.app, &format!("{versions}/3/files/none.png"), &h.patient).await;
        assert_eq!(draft_for_patient, StatusCode::NOT_FOUND);
        for path in [format!("{versions}/3/files/other.png"), format!("{versions}/3/files/fruits.csv"), format!("{versions}/9/files/none.png"), format!("{versions}/1/files/pain.png")] {
            let (status, _, _) = fetch(&h.app, &path, &h.analyst).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
        let submitted = send(&h.app, "POST", &format!("{versions}/3/submit"), Some(&h.analyst), None, &[]).await;
        assert_eq!(submitted.body["status"], "in_review", "{:?}", submitted.body);
        let review = send(&h.app, "GET", &format!("{versions}/3/review"), Some(&h.reviewer), None, &[]).await;
        let acknowledged: Vec<Value> = review.body["lint"]["warnings"].as_array().unwrap().iter().map(|w| w["id"].clone()).collect();
        assert_eq!(acknowledged.len(), 1, "only pain.mp3 is missing now: {:?}", review.body);
        let approved = send(&h.app, "POST", &format!("{versions}/3/approve"), Some(&h.reviewer),
            Some(json!({"acknowledged": acknowledged}).to_string()), &[]).await;
        assert_eq!(approved.body["status"], "published", "{:?}", approved.body);
        let (status, _, bytes) = fetch(&h.app, &format!("{versions}/3/files/pain.png"), &h.patient).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(bytes, PNG);
    })
    .await;
}
