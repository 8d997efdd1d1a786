//! The web app served beside the API: revalidation with ETags, gzip, its own caching and
//! Content-Security-Policy, `index.html` for client-side routes, and unknown API paths still
//! answered in problem+json.

use std::io::Read;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::{Harness, each_engine};

struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

async fn fetch(
    h: &Harness,
    method: &str,
    path: &str,
    headers: &[(header::HeaderName, &str)],
) -> Raw {
    let mut request = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    let response = h
        .app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Raw {
        status,
        headers,
        body,
    }
}

fn header_of(raw: &Raw, name: header::HeaderName) -> &str {
    raw.headers
        .get(&name)
        .map(|value| value.to_str().unwrap())
        .unwrap_or_default()
}

#[tokio::test]
async fn the_entry_page_is_served_with_its_own_policy_and_revalidated() {
    each_engine(|h| async move {
        let page = fetch(&h, "GET", "/", &[]).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(
            header_of(&page, header::CONTENT_TYPE),
            "text/html; charset=utf-8"
        );
        assert_eq!(header_of(&page, header::CACHE_CONTROL), "no-cache");
        assert_eq!(
            header_of(&page, header::CONTENT_SECURITY_POLICY),
            hale_web::CONTENT_SECURITY_POLICY
        );
        assert_eq!(header_of(&page, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        assert_eq!(header_of(&page, header::X_FRAME_OPTIONS), "DENY");
        assert!(std::str::from_utf8(&page.body).unwrap().contains("<html"));
        let etag = header_of(&page, header::ETAG).to_owned();
        assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");

        let again = fetch(&h, "GET", "/", &[(header::IF_NONE_MATCH, &etag)]).await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED);
        assert!(again.body.is_empty());
        assert_eq!(header_of(&again, header::ETAG), etag);
        assert_eq!(header_of(&again, header::CACHE_CONTROL), "no-cache");

        let stale = fetch(
            &h,
            "GET",
            "/",
            &[(header::IF_NONE_MATCH, "\"something-else\"")],
        )
        .await;
        assert_eq!(stale.status, StatusCode::OK);
        assert_eq!(stale.body, page.body);

        let head = fetch(&h, "HEAD", "/", &[]).await;
        assert_eq!(head.status, StatusCode::OK);
        assert!(head.body.is_empty());
        assert_eq!(header_of(&head, header::ETAG), etag);
    })
    .await;
}

#[tokio::test]
async fn files_are_gzipped_for_clients_that_take_it() {
    each_engine(|h| async move {
        let plain = fetch(&h, "GET", "/app.css", &[]).await;
        assert_eq!(plain.status, StatusCode::OK);
        assert_eq!(
            header_of(&plain, header::CONTENT_TYPE),
            "text/css; charset=utf-8"
        );
        assert_eq!(header_of(&plain, header::CONTENT_ENCODING), "");
        assert_eq!(header_of(&plain, header::VARY), "Accept-Encoding");

        let zipped = fetch(
            &h,
            "GET",
            "/app.css",
            &[(header::ACCEPT_ENCODING, "gzip, br")],
        )
        .await;
        assert_eq!(zipped.status, StatusCode::OK);
        assert_eq!(header_of(&zipped, header::CONTENT_ENCODING), "gzip");
        assert!(zipped.body.len() < plain.body.len());
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(&zipped.body[..])
            .read_to_end(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, plain.body);
        // Two representations, two strong validators.
        assert_ne!(
            header_of(&zipped, header::ETAG),
            header_of(&plain, header::ETAG)
        );
        let unchanged = fetch(
            &h,
            "GET",
            "/app.css",
            &[
                (header::ACCEPT_ENCODING, "gzip"),
                (header::IF_NONE_MATCH, header_of(&zipped, header::ETAG)),
            ],
        )
        .await;
        assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED);
        let refused = fetch(
            &h,
            "GET",
            "/app.css",
            &[(header::ACCEPT_ENCODING, "gzip;q=0")],
        )
        .await;
        assert_eq!(header_of(&refused, header::CONTENT_ENCODING), "");
    })
    .await;
}

#[tokio::test]
async fn client_side_routes_get_the_entry_page_and_missing_files_a_problem() {
    each_engine(|h| async move {
        let entry = fetch(&h, "GET", "/", &[]).await;
        for route in ["/home", "/clinician/patients/1234", "/apps/abc/fill"] {
            let page = fetch(&h, "GET", route, &[]).await;
            assert_eq!(page.status, StatusCode::OK, "{route}");
            assert_eq!(page.body, entry.body, "{route}");
        }
        let missing = fetch(&h, "GET", "/app/no-such-module.js", &[]).await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        assert_eq!(
            header_of(&missing, header::CONTENT_TYPE),
            "application/problem+json"
        );
        assert_eq!(header_of(&missing, header::CACHE_CONTROL), "no-store");

        let posted = fetch(&h, "POST", "/", &[]).await;
        assert_eq!(posted.status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(
            header_of(&posted, header::CONTENT_TYPE),
            "application/problem+json"
        );
    })
    .await;
}

#[tokio::test]
async fn unknown_api_paths_stay_problem_json_with_the_api_headers() {
    each_engine(|h| async move {
        for path in ["/api/v1/nowhere", "/api/nowhere", "/api", "/api/v1/app.css"] {
            let reply = fetch(&h, "GET", path, &[(header::ACCEPT, "text/html")]).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(
                header_of(&reply, header::CONTENT_TYPE),
                "application/problem+json",
                "{path}"
            );
            assert_eq!(
                header_of(&reply, header::CACHE_CONTROL),
                "no-store",
                "{path}"
            );
            assert!(
                header_of(&reply, header::CONTENT_SECURITY_POLICY)
                    .starts_with("default-src 'none'"),
                "{path}"
            );
            let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
            assert_eq!(body["code"], "not_found", "{path}");
        }
        // An API answer keeps the load-nothing policy even though the web app sits beside it.
        let health = fetch(&h, "GET", "/health", &[]).await;
        assert_eq!(header_of(&health, header::CACHE_CONTROL), "no-store");
    })
    .await;
}

#[tokio::test]
async fn every_embedded_file_is_served_with_a_known_type() {
    each_engine(|h| async move {
        for path in hale_web::paths() {
            let file = fetch(&h, "GET", path, &[]).await;
            assert_eq!(file.status, StatusCode::OK, "{path}");
            assert!(!header_of(&file, header::CONTENT_TYPE).is_empty(), "{path}");
            assert!(!file.body.is_empty(), "{path}");
        }
    })
    .await;
}
