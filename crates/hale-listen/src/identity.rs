//! The verified client certificate of a mutual-TLS connection, as a request extension: who the
//! certificate names, and its SHA-256 fingerprint, for the edge to map to an integration.

use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// The end-entity certificate a client presented and the client CA verified. Present in a
/// request's extensions only on a TLS connection whose client sent a certificate; the
/// handshake refuses one the CA did not sign, so a value here is always verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCertificate {
    /// The subject's first common name, when it has one in UTF-8.
    pub common_name: Option<String>,
    /// DNS names of the subject alternative name extension, in order.
    pub dns_names: Vec<String>,
    /// URIs of the subject alternative name extension (SPIFFE ids, for one), in order.
    pub uris: Vec<String>,
    /// SHA-256 over the certificate's DER bytes.
    pub sha256: [u8; 32],
}

impl ClientCertificate {
    /// Reads the names from a DER certificate. A certificate whose names cannot be read (the
    /// verifier accepted it, so this is not expected) keeps its fingerprint and no names.
    pub fn from_der(der: &[u8]) -> Self {
        let sha256: [u8; 32] = Sha256::digest(der).into();
        let mut identity = Self {
            common_name: None,
            dns_names: Vec::new(),
            uris: Vec::new(),
            sha256,
        };
        let Ok((_, certificate)) = X509Certificate::from_der(der) else {
            return identity;
        };
        identity.common_name = certificate
            .subject()
            .iter_common_name()
            .next()
            .and_then(|name| name.as_str().ok())
            .map(str::to_owned);
        if let Ok(Some(names)) = certificate.subject_alternative_name() {
            for name in &names.value.general_names {
                match name {
                    GeneralName::DNSName(dns) => identity.dns_names.push((*dns).to_owned()),
                    GeneralName::URI(uri) => identity.uris.push((*uri).to_owned()),
                    _ => {}
                }
            }
        }
        identity
    }

    /// The fingerprint as lower-case hex, 64 characters.
    pub fn fingerprint_hex(&self) -> String {
        hex::encode(self.sha256)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Bytes that are no certificate yield no names, never a panic, and the fingerprint
        /// of exactly those bytes.
        #[test]
        fn any_bytes_keep_their_fingerprint(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let identity = ClientCertificate::from_der(&bytes);
            let expected: [u8; 32] = Sha256::digest(&bytes).into();
            prop_assert_eq!(identity.sha256, expected);
            prop_assert_eq!(identity.fingerprint_hex().len(), 64);
            prop_assert!(identity.common_name.is_none() && identity.uris.is_empty());
        }
    }
}

/// When a certificate is valid, and whom it names: what the security posture reports of the
/// server's certificate in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateValidity {
    /// The subject's first common name, or the first DNS name when it has none.
    pub subject: Option<String>,
    /// Seconds since the Unix epoch.
    pub not_before: i64,
    /// Seconds since the Unix epoch.
    pub not_after: i64,
}

impl CertificateValidity {
    /// Reads the validity of a DER certificate; `None` when it cannot be parsed.
    pub fn from_der(der: &[u8]) -> Option<Self> {
        let (_, certificate) = X509Certificate::from_der(der).ok()?;
        let validity = certificate.validity();
        let dns = || {
            certificate
                .subject_alternative_name()
                .ok()
                .flatten()
                .and_then(|names| {
                    names
                        .value
                        .general_names
                        .iter()
                        .find_map(|name| match name {
                            GeneralName::DNSName(dns) => Some((*dns).to_owned()),
                            _ => None,
                        })
                })
        };
        let subject = certificate
            .subject()
            .iter_common_name()
            .next()
            .and_then(|name| name.as_str().ok())
            .map(str::to_owned)
            .or_else(dns);
        Some(Self {
            subject,
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
        })
    }
}
