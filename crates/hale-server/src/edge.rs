//! Checks and headers every request and response passes through before any route: sizes the
//! request declares are refused at once, in problem+json, and responses never get cached or
//! sniffed.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hale_core::ErrorCode;

use crate::problem::Problem;

/// Longest request target (path and query) accepted; well below hyper's own limit, so the
/// refusal is ours and in problem+json.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most header bytes (names and values) accepted, likewise below hyper's buffer limit.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// What the size checks compare against.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Uploads: spreadsheets, Questionnaires and definitions.
    pub max_body_bytes: usize,
    /// Every other request body (submissions, sign-in, …).
    pub max_json_bytes: usize,
}

/// Routes that take an app definition or an upload, which may be larger than other bodies.
fn takes_uploads(path: &str) -> bool {
    path == "/api/v1/lint"
        || path.ends_with("/import")
        || path.ends_with("/apps")
        || path.ends_with("/versions")
        || path
            .rsplit_once("/files/")
            .is_some_and(|(version, _)| version.contains("/versions/"))
}

/// Refuses a request whose target, headers or declared body are too large, before its body is
/// read: a `Content-Length` over the limit is answered at once, not after waiting for bytes
/// that may never come.
pub async fn refuse_oversized(
    State(sizes): State<Sizes>,
    request: Request,
    next: Next,
) -> Response {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if target > MAX_URI_BYTES {
        return Problem::new(ErrorCode::UriTooLong, "the request URI is too long").into_response();
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Problem::new(
            ErrorCode::HeadersTooLarge,
            "the request headers are too large",
        )
        .into_response();
    }
    let limit = if takes_uploads(request.uri().path()) {
        sizes.max_body_bytes
    } else {
        sizes.max_json_bytes
    };
    let mut lengths = request.headers().get_all(header::CONTENT_LENGTH).iter();
    let declared = lengths.next().map(|value| {
        value
            .to_str()
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
    });
    match declared {
        Some(None) => {
            return Problem::new(
                ErrorCode::MalformedRequest,
                "Content-Length is not a number",
            )
            .into_response();
        }
        Some(Some(length)) if length > limit as u64 => {
            return Problem::new(
                ErrorCode::PayloadTooLarge,
                "the body is larger than this endpoint accepts",
            )
            .into_response();
        }
        _ => {}
    }
    if lengths.next().is_some() {
        return Problem::new(
            ErrorCode::MalformedRequest,
            "send one Content-Length header",
        )
        .into_response();
    }
    // A body sent without a length (chunked) stops being read one byte past the limit.
    let request = request.map(|body| Body::new(http_body_util::Limited::new(body, limit)));
    next.run(request).await
}

/// The client's address: the socket's peer, or, when that peer is a proxy the configuration
/// trusts, the nearest address in `X-Forwarded-For` that is not one of those proxies. A
/// client cannot choose its own address by sending the header: it is read only from trusted
/// peers, and only up to the first hop they did not add.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub std::net::IpAddr);

impl ClientIp {
    /// The client's address as text, from a request's extensions; `-` where the server runs
    /// without connection info (tests that call the router directly).
    pub fn of(extensions: &axum::http::Extensions) -> String {
        extensions
            .get::<ClientIp>()
            .map_or_else(|| String::from("-"), |client| client.0.to_string())
    }
}

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(pub std::sync::Arc<Vec<ipnet::IpNet>>);

impl TrustedProxies {
    fn trusts(&self, address: std::net::IpAddr) -> bool {
        self.0.iter().any(|network| network.contains(&address))
    }

    /// The client behind `peer`, given the request's `X-Forwarded-For` values in order.
    pub fn client(&self, peer: std::net::IpAddr, forwarded: &[&str]) -> std::net::IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        let hops = forwarded
            .iter()
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in hops.into_iter().rev() {
            let Ok(address) = hop.parse::<std::net::IpAddr>() else {
                // A hop that is not an address: believe nothing before it.
                break;
            };
            client = address;
            if !self.trusts(address) {
                break;
            }
        }
        client
    }
}

pub async fn client_ip(
    State(proxies): State<TrustedProxies>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    if let Some(peer) = peer {
        let forwarded: Vec<&str> = request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect();
        let client = proxies.client(peer, &forwarded);
        request.extensions_mut().insert(ClientIp(client));
    }
    next.run(request).await
}

/// How many requests may be in flight at once; past that, new ones are shed at once with 503
/// and `Retry-After` rather than queued. Liveness (`/health`) is never shed.
#[derive(Clone)]
pub struct InFlight(pub std::sync::Arc<tokio::sync::Semaphore>);

pub async fn shed_load(State(slots): State<InFlight>, request: Request, next: Next) -> Response {
    if request.uri().path() == "/health" {
        return next.run(request).await;
    }
    match slots.0.clone().try_acquire_owned() {
        Ok(permit) => {
            let response = next.run(request).await;
            drop(permit);
            response
        }
        Err(_) => Problem::new(
            ErrorCode::Unavailable,
            "the service is at capacity; retry shortly",
        )
        .into_response(),
    }
}

/// Every answer may carry PHI or be read as such: no cache keeps it, no browser guesses
/// another media type for it, frames it, sends its address onward or lets it load anything.
/// The web app's files, the same for everyone, are the one exception to caching and loading.
pub async fn hygiene_headers(mut response: Response) -> Response {
    // The web app's files set their own caching (revalidated, never `no-store`, or the app
    // could not work offline) and a policy that lets them load their own scripts and styles.
    let web_file = response.extensions().get::<hale_web::WebFile>().is_some();
    let headers = response.headers_mut();
    if !web_file {
        for (name, value) in [
            (header::CACHE_CONTROL, "no-store"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            ),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    for (name, value) in [
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    fn proxies(networks: &[&str]) -> TrustedProxies {
        TrustedProxies(Arc::new(
            networks.iter().map(|n| n.parse().unwrap()).collect(),
        ))
    }

    fn ip(text: &str) -> std::net::IpAddr {
        text.parse().unwrap()
    }

    proptest::proptest! {
        /// Any header text, however long or malformed, names the peer or one of its hops:
        /// never a panic, never an address that was not sent.
        #[test]
        fn any_forwarded_header_names_the_peer_or_a_hop_it_carries(
            values in proptest::collection::vec(
                proptest::prop_oneof![
                    ".{0,200}",
                    "((10|198)\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}|junk)(, ?((10|198)\\.[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}|junk)){0,4}",
                ],
                0..4,
            ),
            trusted_peer in proptest::bool::ANY,
        ) {
            let peer = if trusted_peer { ip("10.0.0.1") } else { ip("203.0.113.1") };
            let forwarded: Vec<&str> = values.iter().map(String::as_str).collect();
            let client = proxies(&["10.0.0.0/8"]).client(peer, &forwarded);
            let carried = values
                .iter()
                .flat_map(|value| value.split(','))
                .filter_map(|hop| hop.trim().parse::<std::net::IpAddr>().ok())
                .any(|hop| hop == client);
            proptest::prop_assert!(client == peer || (trusted_peer && carried));
        }
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let trusted = proxies(&["10.0.0.0/8", "192.168.1.1/32"]);
        // A client that is no proxy cannot choose its address.
        assert_eq!(
            trusted.client(ip("203.0.113.9"), &["1.2.3.4"]),
            ip("203.0.113.9")
        );
        assert_eq!(
            proxies(&[]).client(ip("10.0.0.1"), &["1.2.3.4"]),
            ip("10.0.0.1")
        );
        // Through two trusted hops, the nearest untrusted address is the client's, whatever
        // the client wrote further left.
        assert_eq!(
            trusted.client(ip("10.0.0.1"), &["6.6.6.6, 198.51.100.7", "192.168.1.1"]),
            ip("198.51.100.7")
        );
        // A malformed hop ends what is believed.
        assert_eq!(
            trusted.client(ip("10.0.0.1"), &["198.51.100.7, junk"]),
            ip("10.0.0.1")
        );
        // No header: the proxy itself.
        assert_eq!(trusted.client(ip("10.0.0.1"), &[]), ip("10.0.0.1"));
        // Only trusted hops: the leftmost of them.
        assert_eq!(
            trusted.client(ip("10.0.0.1"), &["10.1.1.1"]),
            ip("10.1.1.1")
        );
        assert_eq!(
            proxies(&["::1/128"]).client(ip("::1"), &["2001:db8::5"]),
            ip("2001:db8::5")
        );
    }

    use axum::Router;
    use axum::body::Bytes;
    use axum::http::StatusCode;
    use axum::routing::{get, post};
    use tokio::sync::{Notify, Semaphore};
    use tower::ServiceExt;

    use super::*;

    fn get_request(path: &str) -> Request {
        Request::builder().uri(path).body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn requests_past_the_cap_are_shed_at_once_and_health_never_is() {
        let release = Arc::new(Notify::new());
        let entered = Arc::new(Notify::new());
        let (held, started) = (release.clone(), entered.clone());
        let app = Router::new()
            .route(
                "/slow",
                get(move || {
                    let (held, started) = (held.clone(), started.clone());
                    async move {
                        started.notify_one();
                        held.notified().await;
                        "done"
                    }
                }),
            )
            .route("/fast", get(|| async { "fast" }))
            .route("/health", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(
                InFlight(Arc::new(Semaphore::new(1))),
                shed_load,
            ));
        let slow = tokio::spawn(app.clone().oneshot(get_request("/slow")));
        entered.notified().await;
        let shed = app.clone().oneshot(get_request("/fast")).await.unwrap();
        assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(shed.headers().contains_key(header::RETRY_AFTER));
        let health = app.clone().oneshot(get_request("/health")).await.unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        release.notify_one();
        assert_eq!(slow.await.unwrap().unwrap().status(), StatusCode::OK);
        let after = app.oneshot(get_request("/fast")).await.unwrap();
        assert_eq!(after.status(), StatusCode::OK, "the slot comes back");
    }

    fn sized() -> Router {
        let echo = post(|body: Bytes| async move { body.len().to_string() });
        Router::new()
            .route("/api/v1/tenants/t/submissions", echo.clone())
            .route("/api/v1/tenants/t/apps/import", echo.clone())
            .route(
                "/api/v1/tenants/t/apps/a/versions/1/files/f.csv",
                echo.clone(),
            )
            .route("/api/v1/tenants/t/files/f.csv", echo)
            .layer(axum::middleware::from_fn_with_state(
                Sizes {
                    max_body_bytes: 1000,
                    max_json_bytes: 100,
                },
                refuse_oversized,
            ))
    }

    /// A body streamed in chunks, with no `Content-Length`.
    fn chunked(path: &str, bytes: usize) -> Request {
        let chunks: Vec<Result<Bytes, std::io::Error>> =
            (0..bytes).map(|_| Ok(Bytes::from_static(b"x"))).collect();
        Request::post(path)
            .body(Body::from_stream(futures::stream::iter(chunks)))
            .unwrap()
    }

    #[tokio::test]
    async fn each_route_kind_has_its_own_body_limit_declared_or_streamed() {
        for (path, limit) in [
            ("/api/v1/tenants/t/submissions", 100),
            ("/api/v1/tenants/t/apps/import", 1000),
            ("/api/v1/tenants/t/apps/a/versions/1/files/f.csv", 1000),
            // Only a version's files are uploads.
            ("/api/v1/tenants/t/files/f.csv", 100),
        ] {
            for (bytes, fits) in [(limit, true), (limit + 1, false)] {
                let declared = Request::post(path)
                    .header(header::CONTENT_LENGTH, bytes.to_string())
                    .body(Body::from(vec![b'x'; bytes]))
                    .unwrap();
                let answer = sized().oneshot(declared).await.unwrap();
                assert_eq!(
                    answer.status().is_success(),
                    fits,
                    "{path} declared {bytes}"
                );
                let streamed = sized().oneshot(chunked(path, bytes)).await.unwrap();
                // Past the limit the handler's body extractor fails; 413 is axum's own answer.
                assert_eq!(
                    streamed.status().is_success(),
                    fits,
                    "{path} streamed {bytes}"
                );
                if !fits {
                    assert_eq!(streamed.status(), StatusCode::PAYLOAD_TOO_LARGE);
                }
            }
        }
    }
}
