//! Hale's web app: the patient and clinician PWA under `assets/` (plain ES modules, CSS, a
//! manifest and a service worker), embedded in the binary at build time and served by
//! [`router`]. Every file carries a strong ETag (`If-None-Match` answers 304), a gzip copy for
//! clients that accept it, and a Content-Security-Policy that lets the app load only its own
//! files. A path that names no file and looks like a page (no extension) is a client-side
//! route and gets `index.html`.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// One embedded file.
struct Asset {
    /// The URL path it is served at.
    path: &'static str,
    content_type: &'static str,
    /// Hex hash of `body`; the ETag of each representation is derived from it.
    hash: &'static str,
    body: &'static [u8],
    /// The gzip copy, when it is smaller than `body`.
    gzip: Option<&'static [u8]>,
}

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// What the app's pages may load: their own scripts, styles, images and API, nothing inline,
/// no framing.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; manifest-src 'self'; \
     worker-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Files a browser must ask about every time: the entry page, the service worker (whose
/// update check depends on it) and the manifest. The other files are not content-hashed
/// either, so they are revalidated too; offline and repeat visits are served by the service
/// worker's own copy.
const REVALIDATE: &str = "no-cache";

/// Marks a response as one of the web app's files, whose `Cache-Control` and
/// `Content-Security-Policy` are its own: the API's blanket `no-store` and load-nothing policy
/// must leave them alone.
#[derive(Clone, Copy, Debug)]
pub struct WebFile;

/// Serves the embedded files: GET and HEAD on any path.
pub fn router() -> Router {
    Router::new().fallback(serve)
}

/// Every embedded path, sorted; for tests and tooling.
pub fn paths() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|asset| asset.path)
}

async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        let mut response = StatusCode::METHOD_NOT_ALLOWED.into_response();
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let Some(asset) = find(uri.path()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let gzip = asset.gzip.filter(|_| accepts_gzip(&headers));
    let etag = match gzip {
        Some(_) => format!("\"{}-gz\"", asset.hash),
        None => format!("\"{}\"", asset.hash),
    };
    let fresh = matches_etag(&headers, &etag);
    let (status, body) = match (fresh, gzip) {
        (true, _) => (StatusCode::NOT_MODIFIED, &[][..]),
        (false, Some(gzip)) => (StatusCode::OK, gzip),
        (false, None) => (StatusCode::OK, asset.body),
    };
    let body = if method == Method::HEAD || status == StatusCode::NOT_MODIFIED {
        Body::empty()
    } else {
        Body::from(body)
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    if status == StatusCode::OK {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        if gzip.is_some() {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
    }
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(REVALIDATE));
    headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response.extensions_mut().insert(WebFile);
    response
}

/// The file at `path`; the entry page for `/` and for any path whose last segment has no
/// extension (a route the app draws itself); none for a missing file.
fn find(path: &str) -> Option<&'static Asset> {
    let by_path = |wanted: &str| {
        ASSETS
            .binary_search_by(|asset| asset.path.cmp(wanted))
            .ok()
            .map(|index| &ASSETS[index])
    };
    if let Some(asset) = by_path(path) {
        return Some(asset);
    }
    let last = path.rsplit('/').next().unwrap_or_default();
    if last.contains('.') {
        return None;
    }
    by_path("/index.html")
}

/// Whether the client takes gzip: named (or `*`) with a quality above zero.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|parameter| {
                parameter
                    .strip_prefix("q=")
                    .and_then(|quality| quality.parse::<f32>().ok())
                    .is_some_and(|quality| quality <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

/// `If-None-Match` with the weak comparison RFC 9110 prescribes for it: `W/` is ignored.
fn matches_etag(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_start_matches("W/") == etag)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn gzip_is_taken_unless_refused() {
        for (value, taken) in [
            ("gzip", true),
            ("br, gzip;q=0.5", true),
            ("GZIP", true),
            ("*", true),
            ("gzip;q=0", false),
            ("gzip; q=0.0", false),
            ("br, deflate", false),
            ("", false),
        ] {
            assert_eq!(
                accepts_gzip(&headers(&[(header::ACCEPT_ENCODING, value)])),
                taken,
                "{value}"
            );
        }
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn etags_match_weakly_in_lists() {
        let etag = "\"abc\"";
        for (value, matched) in [
            ("\"abc\"", true),
            ("W/\"abc\"", true),
            ("\"x\", \"abc\"", true),
            ("*", true),
            ("\"abcd\"", false),
            ("abc", false),
        ] {
            assert_eq!(
                matches_etag(&headers(&[(header::IF_NONE_MATCH, value)]), etag),
                matched,
                "{value}"
            );
        }
    }

    #[test]
    fn routes_get_the_entry_page_and_missing_files_nothing() {
        assert_eq!(find("/").unwrap().path, "/index.html");
        assert_eq!(find("/patients/abc").unwrap().path, "/index.html");
        assert_eq!(find("/app.css").unwrap().path, "/app.css");
        assert!(find("/app/missing.js").is_none());
        assert!(find("/favicon.ico").is_none());
    }

    #[test]
    fn the_service_worker_knows_every_other_file_and_a_version() {
        let worker = find("/sw.js").unwrap();
        let text = std::str::from_utf8(worker.body).unwrap();
        assert!(!text.contains("__HALE_"), "placeholders left in sw.js");
        for path in paths().filter(|path| *path != "/sw.js") {
            assert!(
                text.contains(&format!("{path:?}")),
                "{path} is not precached"
            );
        }
    }

    #[test]
    fn assets_are_sorted_for_lookup() {
        assert!(ASSETS.windows(2).all(|pair| pair[0].path < pair[1].path));
    }
}
