//! Checks and headers every request and response passes through before any route: sizes the
//! request declares are refused at once, in problem+json, and responses never get cached or
//! sniffed.

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
    pub max_body_bytes: usize,
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
        Some(Some(length)) if length > sizes.max_body_bytes as u64 => {
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
    next.run(request).await
}

/// Every answer may carry PHI or be read as such: no cache keeps it, and no browser guesses
/// another media type for it.
pub async fn hygiene_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
