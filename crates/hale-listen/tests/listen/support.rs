//! Test certificates (rcgen), a server on port 0 over a tiny router, and HTTP/1.1 clients over
//! plain TCP and rustls.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Extension};
use axum::routing::get;
use hale_listen::{ClientCertificate, ConnectionLimits, Counters, Server, Tls, TlsFiles};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::oneshot;

/// `/slow` says it has a request, then answers once released.
pub static SLOW_ARRIVED: tokio::sync::Notify = tokio::sync::Notify::const_new();
pub static SLOW_RELEASE: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// The router the tests serve: `/health`, and `/whoami`, which echoes what the connection layer
/// put into the request.
pub fn router(tls: bool) -> Router {
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                SLOW_ARRIVED.notify_one();
                SLOW_RELEASE.notified().await;
                "done"
            }),
        )
        .route(
            "/whoami",
            get(
                |ConnectInfo(peer): ConnectInfo<SocketAddr>,
                 certificate: Option<Extension<ClientCertificate>>| async move {
                    match certificate {
                        None => format!("peer={} certificate=none", peer.ip()),
                        Some(Extension(c)) => format!(
                            "peer={} cn={} dns={} uris={} sha256={}",
                            peer.ip(),
                            c.common_name.clone().unwrap_or_default(),
                            c.dns_names.join(","),
                            c.uris.join(","),
                            c.fingerprint_hex()
                        ),
                    }
                },
            ),
        );
    if tls {
        app.layer(hale_listen::strict_transport_security())
    } else {
        app
    }
}

/// A server on 127.0.0.1 port 0; stopped (gracefully) when dropped.
pub struct Running {
    pub address: SocketAddr,
    pub counters: Arc<Counters>,
    pub tls: Option<Arc<Tls>>,
    stop: Option<oneshot::Sender<()>>,
    pub task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    pub async fn plain(limits: ConnectionLimits) -> Running {
        Self::start(limits, None, Duration::from_secs(3600), &[]).await
    }

    /// Plain, with a probe reserve answering `probe_paths`.
    pub async fn with_probes(limits: ConnectionLimits, probe_paths: &[&str]) -> Running {
        Self::start(limits, None, Duration::from_secs(3600), probe_paths).await
    }

    pub async fn tls(files: TlsFiles, reload_poll: Duration) -> Running {
        let tls = Arc::new(Tls::load(files).unwrap());
        Self::start(ConnectionLimits::default(), Some(tls), reload_poll, &[]).await
    }

    async fn start(
        limits: ConnectionLimits,
        tls: Option<Arc<Tls>>,
        poll: Duration,
        probe_paths: &[&str],
    ) -> Running {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut server = Server::new(listener, limits).with_probe_paths(probe_paths);
        if let Some(tls) = &tls {
            server = server.with_tls(tls.reloader(poll));
        }
        let address = server.local_addr().unwrap();
        let counters = server.counters();
        let (stop, stopped) = oneshot::channel();
        let app = router(tls.is_some());
        let task = tokio::spawn(server.serve(app, async {
            let _ = stopped.await;
        }));
        Running {
            address,
            counters,
            tls,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Asks the server to stop; the returned handle completes once it has drained.
    pub fn shut_down(&mut self) -> tokio::task::JoinHandle<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.take().unwrap()
    }

    /// Waits (bounded) until the loop has decided about `count` connections in all.
    pub async fn until_decided(&self, count: u64) {
        self.until(|counters| counters.decided() >= count).await;
    }

    pub async fn until(&self, done: impl Fn(&Counters) -> bool) {
        for _ in 0..3000 {
            if done(&self.counters) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the server never got there: {:?}", self.counters);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A TCP connection from a chosen loopback address (all of 127/8 reaches the machine), so that
/// one test can be many clients.
pub async fn connect_from(source: IpAddr, server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(server).await
}

/// An HTTP/1.1 client over one connection, kept alive between requests.
pub struct Client {
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
}

pub struct Answer {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: String,
}

impl Client {
    pub async fn over<I>(io: I) -> hyper::Result<Client>
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Client { sender })
    }

    pub async fn get(&mut self, path: &str) -> hyper::Result<Answer> {
        self.sender.ready().await?;
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, "localhost")
            .body(Empty::new())
            .unwrap();
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

/// One GET on a fresh plain connection from 127.0.0.1.
pub async fn get_plain(server: SocketAddr, path: &str) -> Result<Answer, String> {
    let stream = TcpStream::connect(server)
        .await
        .map_err(|e| e.to_string())?;
    let mut client = Client::over(stream).await.map_err(|e| e.to_string())?;
    client.get(path).await.map_err(|e| e.to_string())
}

// ---- certificates ----------------------------------------------------------------------

/// The kind of key a certificate is issued for.
#[derive(Clone, Copy, Debug)]
pub enum KeyKind {
    EcdsaP256,
    EcdsaP384,
    /// 2048-bit RSA, generated by the `openssl` binary (ring cannot generate RSA keys).
    Rsa,
}

fn key_pair(kind: KeyKind) -> KeyPair {
    match kind {
        KeyKind::EcdsaP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap(),
        KeyKind::EcdsaP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap(),
        KeyKind::Rsa => {
            let output = std::process::Command::new("openssl")
                .args([
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:2048",
                ])
                .output()
                .expect("the openssl binary generates the RSA test key");
            assert!(output.status.success());
            KeyPair::from_pem(std::str::from_utf8(&output.stdout).unwrap()).unwrap()
        }
    }
}

/// A certificate authority that issues test certificates.
pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
    pub certificate: CertificateDer<'static>,
    pub pem: String,
}

/// What a leaf certificate says.
pub struct Leaf<'a> {
    pub common_name: &'a str,
    pub dns_names: &'a [&'a str],
    pub uris: &'a [&'a str],
    pub key: KeyKind,
    pub expired: bool,
    pub client: bool,
    pub serial: u64,
}

impl Default for Leaf<'_> {
    fn default() -> Self {
        Self {
            common_name: "localhost",
            dns_names: &["localhost"],
            uris: &[],
            key: KeyKind::EcdsaP256,
            expired: false,
            client: false,
            serial: 1,
        }
    }
}

/// An issued certificate with its key, as PEM and DER.
pub struct Issued {
    pub certificate: CertificateDer<'static>,
    pub certificate_pem: String,
    pub key_pem: String,
}

impl Issued {
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        use rustls::pki_types::pem::PemObject;
        PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).unwrap()
    }
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

impl Authority {
    pub fn root(name: &str) -> Authority {
        let key = key_pair(KeyKind::EcdsaP256);
        let params = ca_params(name);
        let certificate = params.self_signed(&key).unwrap();
        Authority {
            pem: certificate.pem(),
            certificate: certificate.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// An intermediate CA signed by this one.
    pub fn intermediate(&self, name: &str) -> Authority {
        let key = key_pair(KeyKind::EcdsaP256);
        let params = ca_params(name);
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        Authority {
            pem: certificate.pem(),
            certificate: certificate.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    pub fn issue(&self, leaf: Leaf<'_>) -> Issued {
        let key = key_pair(leaf.key);
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, leaf.common_name);
        for name in leaf.dns_names {
            params
                .subject_alt_names
                .push(SanType::DnsName((*name).try_into().unwrap()));
        }
        for uri in leaf.uris {
            params
                .subject_alt_names
                .push(SanType::URI((*uri).try_into().unwrap()));
        }
        params.serial_number = Some(leaf.serial.into());
        params.extended_key_usages = vec![if leaf.client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        if leaf.expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        Issued {
            certificate_pem: certificate.pem(),
            certificate: certificate.der().clone(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// Writes a chain file (leaf, then the intermediates) and a key file (0600).
pub fn write_files(directory: &Path, leaf: &Issued, intermediates: &[&Authority]) -> TlsFiles {
    let certificate_chain = directory.join("chain.pem");
    let private_key = directory.join("key.pem");
    replace_files(&certificate_chain, &private_key, leaf, intermediates);
    TlsFiles {
        certificate_chain,
        private_key,
        client_ca: None,
    }
}

/// Replaces the files the way a certificate renewal does: written beside, then renamed over.
pub fn replace_files(chain: &Path, key: &Path, leaf: &Issued, intermediates: &[&Authority]) {
    let mut pem = leaf.certificate_pem.clone();
    for authority in intermediates {
        pem.push_str(&authority.pem);
    }
    let staged: PathBuf = chain.with_extension("new");
    std::fs::write(&staged, pem).unwrap();
    std::fs::rename(&staged, chain).unwrap();
    let staged = key.with_extension("new");
    std::fs::write(&staged, &leaf.key_pem).unwrap();
    set_mode(&staged, 0o600);
    std::fs::rename(&staged, key).unwrap();
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

// ---- TLS clients -------------------------------------------------------------------------

/// A rustls client configuration trusting `root`, offering exactly `versions`, optionally
/// presenting a client certificate.
pub fn client_config(
    root: &CertificateDer<'static>,
    versions: &[&'static rustls::SupportedProtocolVersion],
    identity: Option<(&Issued, &[&Authority])>,
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some((leaf, intermediates)) => {
            let mut chain = vec![leaf.certificate.clone()];
            chain.extend(intermediates.iter().map(|a| a.certificate.clone()));
            builder
                .with_client_auth_cert(chain, leaf.key_der())
                .unwrap()
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

pub type TlsStream = tokio_rustls::client::TlsStream<TcpStream>;

/// A TLS handshake with the server under `server_name`.
pub async fn handshake(
    server: SocketAddr,
    config: rustls::ClientConfig,
    server_name: &str,
) -> std::io::Result<TlsStream> {
    let stream = TcpStream::connect(server).await?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from(server_name.to_owned()).unwrap();
    connector.connect(name, stream).await
}

/// The rustls error inside an I/O error from a handshake, if that is what it is.
pub fn rustls_error(error: &std::io::Error) -> Option<&rustls::Error> {
    error.get_ref().and_then(|inner| inner.downcast_ref())
}

/// The end-entity certificate the server presented.
pub fn presented(stream: &TlsStream) -> CertificateDer<'static> {
    stream.get_ref().1.peer_certificates().unwrap()[0].clone()
}
