//! Hale's connection layer, under the HTTP edge: the accept loop that `hale serve` runs. It
//! admits connections below a global and a per-client cap (closing the rest at once), closes
//! connections that are slow to send their headers or idle between requests, keeps accepting
//! when the process runs out of descriptors, and serves TLS with the customer's certificates,
//! reloaded without a restart, optionally verifying client certificates.
//!
//! It knows sockets, TLS and HTTP/1.1 framing, and nothing of Hale's store, core or routes:
//! what it learns about a connection reaches the router as request extensions
//! (`axum::extract::ConnectInfo<SocketAddr>`, [`ClientCertificate`]).

mod identity;
mod limits;
mod server;
mod tls;

pub use identity::{CertificateValidity, ClientCertificate};
pub use limits::{
    Admission, ClientKey, ConnectionLimits, Counters, Permit, Refusal, connection_share,
    raise_file_limit,
};
pub use server::{AcceptFailure, DEFAULT_RELOAD_POLL, Server, classify};
pub use tls::{
    Reloader, Tls, TlsError, TlsFiles, crypto_provider, key_file_is_private, read_certificates,
    read_private_key, server_config,
};

use axum::http::{HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;

/// The `Strict-Transport-Security` value Hale sends over TLS: two years, subdomains included.
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=63072000; includeSubDomains";

/// Adds `Strict-Transport-Security` to every response (replacing any a handler set), for a
/// router served over TLS.
pub fn strict_transport_security() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(STRICT_TRANSPORT_SECURITY),
    )
}
