//! Mutual TLS: which verified client certificates stand for which integration accounts.
//!
//! The TLS layer accepts only certificates the customer's client CA signed and hands the edge a
//! [`ClientCertificate`]; a binding here names what in it identifies the client (its SHA-256
//! fingerprint, a URI such as a SPIFFE id, a DNS name, or its common name) and the integration
//! account it acts as. A certificate no binding names authenticates nobody.

use std::sync::Arc;

use hale_domain::TenantId;
use hale_domain::scope::Scopes;
use hale_listen::ClientCertificate;
use subtle::ConstantTimeEq;

/// What in a client certificate a binding matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertificateMatch {
    /// The SHA-256 fingerprint of the certificate's DER bytes: one certificate exactly.
    Fingerprint([u8; 32]),
    /// A URI in the subject alternative names (a SPIFFE id, for one).
    Uri(String),
    /// A DNS name in the subject alternative names.
    Dns(String),
    /// The subject's common name.
    CommonName(String),
}

impl CertificateMatch {
    /// Reads a fingerprint written as 64 hex digits, with or without `:` between the bytes.
    pub fn fingerprint(text: &str) -> Result<Self, String> {
        let digits: String = text.chars().filter(|c| *c != ':').collect();
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&digits, &mut bytes)
            .map(|()| CertificateMatch::Fingerprint(bytes))
            .map_err(|_| String::from("a fingerprint is 64 hex digits (SHA-256 of the DER bytes)"))
    }

    fn matches(&self, certificate: &ClientCertificate) -> bool {
        match self {
            CertificateMatch::Fingerprint(expected) => {
                bool::from(expected.as_slice().ct_eq(certificate.sha256.as_slice()))
            }
            CertificateMatch::Uri(uri) => certificate.uris.iter().any(|given| given == uri),
            CertificateMatch::Dns(name) => certificate
                .dns_names
                .iter()
                .any(|given| given.eq_ignore_ascii_case(name)),
            CertificateMatch::CommonName(name) => {
                certificate.common_name.as_deref() == Some(name.as_str())
            }
        }
    }
}

/// One binding: a certificate (as matched) acts as an integration account.
#[derive(Clone, Debug)]
pub struct TlsClient {
    pub matches: CertificateMatch,
    pub tenant: TenantId,
    /// The integration account's username in `tenant`.
    pub account: String,
    /// What the certificate may do; unrestricted when the binding names no scopes.
    pub scopes: Scopes,
}

/// The bindings in force; clones share them.
#[derive(Clone, Debug, Default)]
pub struct TlsClients(Arc<Vec<TlsClient>>);

impl TlsClients {
    pub fn new(bindings: Vec<TlsClient>) -> Self {
        Self(Arc::new(bindings))
    }

    /// The first binding, in configuration order, that names this certificate.
    pub fn binding_for(&self, certificate: &ClientCertificate) -> Option<&TlsClient> {
        self.0
            .iter()
            .find(|binding| binding.matches.matches(certificate))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn certificate() -> ClientCertificate {
        ClientCertificate {
            common_name: Some(String::from("lab-feed")),
            dns_names: vec![String::from("feed.lab.example")],
            uris: vec![String::from("spiffe://lab.example/feed")],
            sha256: [7; 32],
        }
    }

    fn binding(matches: CertificateMatch, account: &str) -> TlsClient {
        TlsClient {
            matches,
            tenant: TenantId::PLATFORM,
            account: account.to_owned(),
            scopes: Scopes::unrestricted(),
        }
    }

    #[test]
    fn each_kind_of_name_matches_only_its_own_value() {
        let certificate = certificate();
        let yes = [
            CertificateMatch::Fingerprint([7; 32]),
            CertificateMatch::Uri(String::from("spiffe://lab.example/feed")),
            CertificateMatch::Dns(String::from("FEED.lab.example")),
            CertificateMatch::CommonName(String::from("lab-feed")),
        ];
        let no = [
            CertificateMatch::Fingerprint([8; 32]),
            CertificateMatch::Uri(String::from("spiffe://lab.example/other")),
            CertificateMatch::Dns(String::from("lab.example")),
            CertificateMatch::CommonName(String::from("Lab-Feed")),
        ];
        for matches in yes {
            assert!(matches.matches(&certificate), "{matches:?}");
        }
        for matches in no {
            assert!(!matches.matches(&certificate), "{matches:?}");
        }
    }

    #[test]
    fn the_first_binding_that_names_the_certificate_wins() {
        let clients = TlsClients::new(vec![
            binding(CertificateMatch::CommonName(String::from("other")), "a"),
            binding(
                CertificateMatch::Uri(String::from("spiffe://lab.example/feed")),
                "b",
            ),
            binding(CertificateMatch::Fingerprint([7; 32]), "c"),
        ]);
        assert_eq!(clients.binding_for(&certificate()).unwrap().account, "b");
        let stranger = ClientCertificate {
            common_name: None,
            dns_names: Vec::new(),
            uris: Vec::new(),
            sha256: [0; 32],
        };
        assert!(clients.binding_for(&stranger).is_none());
        assert_eq!(clients.len(), 3);
        assert!(!clients.is_empty() && TlsClients::default().is_empty());
    }

    #[test]
    fn fingerprints_read_with_or_without_colons_and_refuse_anything_else() {
        let hex = "07".repeat(32);
        let colons = vec!["07"; 32].join(":");
        for text in [hex.as_str(), colons.as_str()] {
            assert_eq!(
                CertificateMatch::fingerprint(text).unwrap(),
                CertificateMatch::Fingerprint([7; 32])
            );
        }
        for bad in ["", "07", &"0g".repeat(32), &"07".repeat(33)] {
            assert!(CertificateMatch::fingerprint(bad).is_err(), "{bad}");
        }
    }
}
