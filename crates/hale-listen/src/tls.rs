//! TLS with the customer's certificates: the rustls configuration Hale accepts (TLS 1.2 and 1.3,
//! the Mozilla "intermediate" suites), PEM files read with errors that name the file, optional
//! client certificates, and reload in place on SIGHUP or when the files change.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::{CryptoProvider, ring as provider};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::identity::CertificateValidity;

/// A PEM file larger than this is not a certificate chain or a key.
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// Where the certificates live.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server's certificate first, then its intermediates (PEM).
    pub certificate_chain: PathBuf,
    /// The server's private key: PKCS#8, PKCS#1 (RSA) or SEC1 (ECDSA), unencrypted PEM.
    pub private_key: PathBuf,
    /// CA certificates that sign client certificates (PEM); clients without a certificate
    /// still connect.
    pub client_ca: Option<PathBuf>,
}

/// Why a certificate, key or CA file cannot be used. Messages name the file and what is wrong,
/// never the file's content.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", file.display())]
    Unreadable { file: PathBuf, source: io::Error },
    #[error("{} is larger than 1 MiB, too large for PEM certificates or a key", file.display())]
    TooLarge { file: PathBuf },
    #[error("{} is not valid PEM: {what}", file.display())]
    InvalidPem { file: PathBuf, what: &'static str },
    #[error("{} holds no PEM certificate (`BEGIN CERTIFICATE`)", file.display())]
    NoCertificate { file: PathBuf },
    #[error(
        "{} holds no unencrypted PEM private key (PKCS#8, PKCS#1 or SEC1)",
        file.display()
    )]
    NoPrivateKey { file: PathBuf },
    #[error(
        "the private key in {} does not fit the certificate in {}: {reason}",
        key.display(),
        certificate.display()
    )]
    Unusable {
        certificate: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("{} holds no usable CA certificate: {reason}", file.display())]
    ClientCa { file: PathBuf, reason: String },
}

/// The ring provider restricted to the Mozilla "intermediate" profile: ECDHE with AES-GCM or
/// ChaCha20-Poly1305 on TLS 1.2 (rustls has no DHE suites, the profile's other three) and the
/// three TLS 1.3 suites, over X25519, P-256 and P-384.
pub fn crypto_provider() -> CryptoProvider {
    use provider::cipher_suite as suite;
    use provider::kx_group;
    CryptoProvider {
        cipher_suites: vec![
            suite::TLS13_AES_128_GCM_SHA256,
            suite::TLS13_AES_256_GCM_SHA384,
            suite::TLS13_CHACHA20_POLY1305_SHA256,
            suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
        kx_groups: vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1],
        ..provider::default_provider()
    }
}

/// Reads the files and builds the server configuration: TLS 1.2 and 1.3 only, HTTP/1.1 by ALPN,
/// the whole chain sent, client certificates verified against `client_ca` when one is given.
pub fn server_config(files: &TlsFiles) -> Result<ServerConfig, TlsError> {
    configure(files).map(|(config, _)| config)
}

/// The configuration and the validity of the server's own certificate (the chain's first),
/// from one reading of the files.
fn configure(files: &TlsFiles) -> Result<(ServerConfig, Option<CertificateValidity>), TlsError> {
    let chain = read_certificates(&files.certificate_chain)?;
    let validity = chain
        .first()
        .and_then(|leaf| CertificateValidity::from_der(leaf.as_ref()));
    let key = read_private_key(&files.private_key)?;
    let provider = Arc::new(crypto_provider());
    let unusable = |error: rustls::Error| TlsError::Unusable {
        certificate: files.certificate_chain.clone(),
        key: files.private_key.clone(),
        reason: error.to_string(),
    };
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(unusable)?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(file) => {
            let client_ca = |reason: String| TlsError::ClientCa {
                file: file.clone(),
                reason,
            };
            let mut roots = RootCertStore::empty();
            for certificate in read_certificates(file)? {
                roots
                    .add(certificate)
                    .map_err(|error| client_ca(error.to_string()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .map_err(|error| client_ca(error.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, key).map_err(unusable)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((config, validity))
}

fn read_pem(file: &Path) -> Result<Vec<u8>, TlsError> {
    let unreadable = |source| TlsError::Unreadable {
        file: file.to_owned(),
        source,
    };
    let length = std::fs::metadata(file).map_err(unreadable)?.len();
    if length > MAX_PEM_BYTES {
        return Err(TlsError::TooLarge {
            file: file.to_owned(),
        });
    }
    std::fs::read(file).map_err(unreadable)
}

/// What is wrong with a PEM file, in words that quote none of it (a key file's lines are
/// secret).
fn describe(error: &pem::Error) -> &'static str {
    match error {
        pem::Error::MissingSectionEnd { .. } => "a section has no END line",
        pem::Error::IllegalSectionStart { .. } => "a BEGIN line is malformed",
        pem::Error::Base64Decode(_) => "a section is not valid base64",
        pem::Error::SectionTooLarge => "a section is too large",
        _ => "it cannot be parsed",
    }
}

/// Every certificate in a PEM file, in order.
pub fn read_certificates(file: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let text = read_pem(file)?;
    let certificates = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::InvalidPem {
            file: file.to_owned(),
            what: describe(&error),
        })?;
    if certificates.is_empty() {
        return Err(TlsError::NoCertificate {
            file: file.to_owned(),
        });
    }
    Ok(certificates)
}

/// The first private key in a PEM file.
pub fn read_private_key(file: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let text = read_pem(file)?;
    PrivateKeyDer::from_pem_slice(&text).map_err(|error| match error {
        pem::Error::NoItemsFound => TlsError::NoPrivateKey {
            file: file.to_owned(),
        },
        other => TlsError::InvalidPem {
            file: file.to_owned(),
            what: describe(&other),
        },
    })
}

/// Whether only the owner may read the file (no permission bits for group or other). A key
/// file that does not exist or cannot be examined is not private.
pub fn key_file_is_private(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|metadata| metadata.permissions().mode() & 0o077 == 0)
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(path).is_ok()
    }
}

/// The files' modification time, length and inode, which change when a file is rewritten or
/// replaced (a rename, or a symbolic link switched to a new target).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stamp(Vec<Option<(SystemTime, u64, u64)>>);

impl Stamp {
    fn of(files: &TlsFiles) -> Self {
        let paths = [Some(&files.certificate_chain), Some(&files.private_key)]
            .into_iter()
            .chain([files.client_ca.as_ref()])
            .flatten();
        Self(
            paths
                .map(|path| {
                    let metadata = std::fs::metadata(path).ok()?;
                    #[cfg(unix)]
                    let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
                    #[cfg(not(unix))]
                    let inode = 0;
                    Some((metadata.modified().ok()?, metadata.len(), inode))
                })
                .collect(),
        )
    }
}

/// The certificate in force, replaced in place. Each handshake takes the configuration current
/// when it starts; connections already open keep the one they began with.
#[derive(Debug)]
pub struct Tls {
    files: TlsFiles,
    current: RwLock<(Arc<ServerConfig>, Option<CertificateValidity>)>,
    /// The files as they were when last read, successfully or not.
    seen: Mutex<Stamp>,
}

impl Tls {
    /// Reads the files; fails, naming the file, when one is missing or unusable.
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let seen = Stamp::of(&files);
        let (config, validity) = configure(&files)?;
        Ok(Self {
            files,
            current: RwLock::new((Arc::new(config), validity)),
            seen: Mutex::new(seen),
        })
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// The configuration for the next handshake.
    pub fn config(&self) -> Arc<ServerConfig> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .0,
        )
    }

    /// When the certificate in force is valid; `None` when it could not be parsed for that
    /// (rustls accepted it, so this is not expected).
    pub fn validity(&self) -> Option<CertificateValidity> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .1
            .clone()
    }

    /// Reads the files again; on failure the configuration in force stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = Stamp::of(&self.files);
        let (config, validity) = configure(&self.files)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) =
            (Arc::new(config), validity);
        Ok(())
    }

    /// Whether a file changed since it was last read.
    fn changed(&self) -> bool {
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) != Stamp::of(&self.files)
    }

    fn reload_and_log(&self, why: &'static str) {
        match self.reload() {
            Ok(()) => tracing::info!(
                trigger = why,
                certificate = %self.files.certificate_chain.display(),
                "TLS certificate reloaded"
            ),
            Err(error) => tracing::warn!(
                trigger = why,
                %error,
                "TLS certificate not reloaded; the one in force stays"
            ),
        }
    }

    /// Starts listening for SIGHUP at once (from here on the signal reloads instead of ending
    /// the process); the returned reloader acts on it, and on changed files, once it runs.
    pub fn reloader(self: &Arc<Self>, poll: Duration) -> Reloader {
        Reloader {
            tls: Arc::clone(self),
            poll,
            #[cfg(unix)]
            hangup: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok(),
        }
    }
}

/// Reloads the certificates on SIGHUP and whenever the files change.
#[derive(Debug)]
pub struct Reloader {
    tls: Arc<Tls>,
    poll: Duration,
    #[cfg(unix)]
    hangup: Option<tokio::signal::unix::Signal>,
}

impl Reloader {
    pub fn tls(&self) -> &Arc<Tls> {
        &self.tls
    }

    /// Runs until dropped as a future. Files are looked at every `poll`; each reload reads
    /// them on a blocking thread.
    pub async fn run(mut self) {
        let mut ticks = tokio::time::interval(self.poll);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            #[cfg(unix)]
            let hangup_received = async {
                match self.hangup.as_mut() {
                    Some(signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            };
            #[cfg(not(unix))]
            let hangup_received = std::future::pending::<Option<()>>();
            let why = tokio::select! {
                _ = hangup_received => "SIGHUP",
                _ = ticks.tick() => "files changed",
            };
            let tls = Arc::clone(&self.tls);
            let _ = tokio::task::spawn_blocking(move || {
                if why == "SIGHUP" || tls.changed() {
                    tls.reload_and_log(why);
                }
            })
            .await;
        }
    }
}
