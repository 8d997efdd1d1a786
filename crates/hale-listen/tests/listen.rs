//! The accept loop against real sockets and real TLS handshakes: connection caps and timeouts
//! under many idle connections, running out of descriptors, TLS versions and verification,
//! certificate reload with connections open, and client certificates.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod listen {
    pub mod connections;
    pub mod support;
    pub mod tls;
}
