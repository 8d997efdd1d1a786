//! `hale serve` over TLS, as a process: HTTPS with Strict-Transport-Security, reload on
//! SIGHUP with a connection open, and start-up errors that name the missing key or the file.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hale_store::testing::engines;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::Site;

/// A CA and a `localhost` certificate it signed, written as chain and key files.
struct Certificates {
    root: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl Certificates {
    fn new() -> Certificates {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "Hale CLI Test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let root = params.self_signed(&key).unwrap().der().clone();
        Certificates {
            root,
            issuer: Issuer::new(params, key),
        }
    }

    /// Issues a fresh `localhost` certificate and writes it (renamed into place) with its key.
    fn write(&self, chain: &Path, key_file: &Path, serial: u64) -> CertificateDer<'static> {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.serial_number = Some(serial.into());
        self.write_signed(params, chain, key_file)
    }

    /// As [`Certificates::write`], for a certificate that expires at `not_after`.
    fn write_valid_until(&self, chain: &Path, key_file: &Path, not_after: time::OffsetDateTime) {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(1);
        params.not_after = not_after;
        self.write_signed(params, chain, key_file);
    }

    fn write_signed(
        &self,
        params: CertificateParams,
        chain: &Path,
        key_file: &Path,
    ) -> CertificateDer<'static> {
        let key = KeyPair::generate().unwrap();
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        let staged = chain.with_extension("new");
        std::fs::write(&staged, certificate.pem()).unwrap();
        std::fs::rename(&staged, chain).unwrap();
        let staged = key_file.with_extension("new");
        std::fs::write(&staged, key.serialize_pem()).unwrap();
        set_mode(&staged, 0o600);
        std::fs::rename(&staged, key_file).unwrap();
        certificate.der().clone()
    }

    fn client(&self) -> tokio_rustls::TlsConnector {
        tokio_rustls::TlsConnector::from(Arc::new(self.client_builder().with_no_client_auth()))
    }

    fn client_builder(
        &self,
    ) -> rustls::ConfigBuilder<rustls::ClientConfig, rustls::client::WantsClientCert> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.root.clone()).unwrap();
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
    }

    /// A client that trusts this CA and presents `identity` (a certificate and its key).
    fn client_presenting(
        &self,
        identity: (CertificateDer<'static>, KeyPair),
    ) -> tokio_rustls::TlsConnector {
        let (certificate, key) = identity;
        let key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        let config = self
            .client_builder()
            .with_client_auth_cert(vec![certificate], key)
            .unwrap();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }

    /// A client certificate this CA signs, naming `uri` in its subject alternative names.
    fn client_certificate(&self, uri: &str) -> (CertificateDer<'static>, KeyPair) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .subject_alt_names
            .push(rcgen::SanType::URI(uri.try_into().unwrap()));
        params.distinguished_name.push(DnType::CommonName, uri);
        let certificate = params.signed_by(&key, &self.issuer).unwrap();
        (certificate.der().clone(), key)
    }

    /// The CA's own certificate as PEM.
    fn root_pem(&self) -> String {
        let base64 = base64_lines(&self.root);
        format!("-----BEGIN CERTIFICATE-----\n{base64}-----END CERTIFICATE-----\n")
    }
}

fn base64_lines(der: &[u8]) -> String {
    use base64::Engine;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    text.as_bytes()
        .chunks(64)
        .map(|line| format!("{}\n", String::from_utf8_lossy(line)))
        .collect()
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

type Stream = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

async fn connect(connector: &tokio_rustls::TlsConnector, address: &str) -> Stream {
    let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await.unwrap()
}

fn presented(stream: &Stream) -> CertificateDer<'static> {
    stream.get_ref().1.peer_certificates().unwrap()[0].clone()
}

/// One GET on a kept-alive connection: the status line and headers, lower-cased, and the body.
async fn get(stream: &mut Stream, path: &str) -> (String, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(read > 0, "the server closed the connection");
        received.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let head = head.to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length: "))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return (head, body.to_owned());
            }
        }
    }
}

/// `hale serve` over TLS; returns the child, its address and what it logs on stderr.
fn serve_tls(site: &Site, chain: &Path, key: &Path) -> (Child, String, Arc<Mutex<String>>) {
    serve_tls_with(site, chain, key, |_| {})
}

/// As [`serve_tls`], with more flags or environment.
fn serve_tls_with(
    site: &Site,
    chain: &Path,
    key: &Path,
    configure: impl FnOnce(&mut Command),
) -> (Child, String, Arc<Mutex<String>>) {
    let mut command = site.command();
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(chain)
        .arg("--tls-key")
        .arg(key);
    configure(&mut command);
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let logged = Arc::new(Mutex::new(String::new()));
    let mut stderr = child.stderr.take().unwrap();
    let sink = Arc::clone(&logged);
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(read) = stderr.read(&mut buffer) {
            if read == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buffer[..read]));
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let Some(Ok(line)) = lines.next() else { break };
        if let Some(address) = line.strip_prefix("Hale is serving on https://") {
            std::thread::spawn(move || for _ in lines.by_ref() {});
            return (child, address.to_owned(), logged);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("server did not start: {}", logged.lock().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_answers_over_tls_and_reloads_its_certificate_on_sighup() {
    for backend in engines() {
        eprintln!("engine: {}", backend.name());
        let site = Site::new(backend).await;
        let certificates = Certificates::new();
        let chain = site.data_dir.path().join("chain.pem");
        let key = site.data_dir.path().join("key.pem");
        let first = certificates.write(&chain, &key, 1);
        let (mut child, address, logged) = serve_tls(&site, &chain, &key);
        let connector = certificates.client();

        let mut old = connect(&connector, &address).await;
        assert_eq!(presented(&old), first);
        let (head, body) = get(&mut old, "/health").await;
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(body.contains("\"ok\""), "{body}");
        assert!(
            head.contains("strict-transport-security: max-age=63072000; includesubdomains"),
            "{head}"
        );

        let second = certificates.write(&chain, &key, 2);
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
        let mut renewed = None;
        for _ in 0..600 {
            let fresh = connect(&connector, &address).await;
            if presented(&fresh) == second {
                renewed = Some(fresh);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut fresh = renewed.expect("a new connection got the renewed certificate");
        assert!(
            get(&mut fresh, "/health")
                .await
                .0
                .starts_with("http/1.1 200")
        );
        // Still the same process, and the connection from before the reload still answers.
        assert!(
            child.try_wait().unwrap().is_none(),
            "SIGHUP ended the server"
        );
        assert!(get(&mut old, "/health").await.0.starts_with("http/1.1 200"));

        let _ = child.kill();
        let _ = child.wait();
        let logged = logged.lock().unwrap().clone();
        assert!(!logged.contains("readable by group or others"), "{logged}");
    }
}

fn hale(args: &[&str], configure: impl FnOnce(&mut Command)) -> (bool, String) {
    let data_dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_hale"));
    command
        .env_remove("HALE_CONFIG")
        .env_remove("HALE_TLS_CERT")
        .env_remove("HALE_TLS_KEY")
        .env("HALE_LOG", "warn")
        .arg("--data-dir")
        .arg(data_dir.path())
        .args(args);
    configure(&mut command);
    let output = command.output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn path(directory: &Path, name: &str, text: &str) -> PathBuf {
    let path = directory.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn tls_start_up_errors_name_the_missing_key_or_the_file() {
    let directory = tempfile::tempdir().unwrap();
    let chain = path(directory.path(), "chain.pem", "");
    let key = path(directory.path(), "key.pem", "");
    let chain_arg = chain.to_str().unwrap();

    let (ok, stderr) = hale(&["serve", "--tls-cert", chain_arg], |_| {});
    assert!(!ok);
    assert!(
        stderr.contains("tls_cert is set but tls_key is missing"),
        "{stderr}"
    );
    let (ok, stderr) = hale(&["serve"], |command| {
        command.env("HALE_TLS_KEY", &key);
    });
    assert!(!ok);
    assert!(
        stderr.contains("tls_key is set but tls_cert is missing"),
        "{stderr}"
    );
    let config = path(
        directory.path(),
        "hale.toml",
        &format!("version = 1\ntls_cert = \"{chain_arg}\"\n"),
    );
    let (ok, stderr) = hale(&["--config", config.to_str().unwrap(), "serve"], |_| {});
    assert!(!ok);
    assert!(stderr.contains("tls_key is missing"), "{stderr}");

    // A key others may read is warned about; a chain that holds no certificate stops the start,
    // naming the file.
    std::fs::write(&chain, "not a certificate\n").unwrap();
    set_mode(&key, 0o644);
    let (ok, stderr) = hale(
        &[
            "serve",
            "--tls-cert",
            chain_arg,
            "--tls-key",
            key.to_str().unwrap(),
        ],
        |_| {},
    );
    assert!(!ok);
    assert!(stderr.contains("readable by group or others"), "{stderr}");
    assert!(
        stderr.contains(&format!("{chain_arg} holds no PEM certificate")),
        "{stderr}"
    );
    assert!(!stderr.contains("not a certificate"), "{stderr}");
}

/// Mutual TLS: a client certificate that `[[tls_clients]]` binds to an integration account
/// authenticates as that account, with no token; an unbound one from the same CA and none at
/// all authenticate nobody; disabling the account refuses its certificate at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_bound_in_the_configuration_acts_as_its_integration() {
    for backend in engines() {
        eprintln!("engine: {}", backend.name());
        let site = Site::new(backend).await;
        site.run_ok(&["tenant", "create", "--slug", "contoso", "--name", "Contoso"]);
        let lab_id = site.invite_integration("contoso", "lab");
        let server = Certificates::new();
        let clients = Certificates::new();
        let chain = site.data_dir.path().join("chain.pem");
        let key = site.data_dir.path().join("key.pem");
        server.write(&chain, &key, 1);
        let client_ca = path(site.data_dir.path(), "clients.pem", &clients.root_pem());
        let config = path(
            site.data_dir.path(),
            "hale.toml",
            "version = 1\n[[tls_clients]]\ntenant = \"contoso\"\naccount = \"lab\"\n\
             uri = \"spiffe://lab.example/feed\"\nscopes = \"system/Observation.rs\"\n",
        );
        let (mut child, address, _) = serve_tls_with(&site, &chain, &key, |command| {
            command
                .arg("--tls-client-ca")
                .arg(&client_ca)
                .env("HALE_CONFIG", &config);
        });

        let bound =
            server.client_presenting(clients.client_certificate("spiffe://lab.example/feed"));
        let mut stream = connect(&bound, &address).await;
        let (head, body) = get(&mut stream, "/api/v1/auth/me").await;
        assert!(head.starts_with("http/1.1 200"), "{head}{body}");
        let me: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(me["account_id"], lab_id.as_str());
        assert_eq!(me["kind"], "integration");
        assert_eq!(me["scopes"], "system/Observation.rs");

        let unbound =
            server.client_presenting(clients.client_certificate("spiffe://lab.example/other"));
        for connector in [unbound, server.client()] {
            let mut stream = connect(&connector, &address).await;
            let (head, body) = get(&mut stream, "/api/v1/auth/me").await;
            assert!(head.starts_with("http/1.1 401"), "{head}{body}");
        }

        site.run_ok(&["user", "disable", &lab_id]);
        let (head, _) = get(&mut stream, "/api/v1/auth/me").await;
        assert!(head.starts_with("http/1.1 401"), "{head}");
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// `hale doctor` reports the certificate's expiry: a long-lived one passes, one expiring
/// within the renewal window fails with what to do.
#[tokio::test]
async fn doctor_reports_the_certificates_expiry() {
    let site = Site::new(engines()[0]).await;
    let certificates = Certificates::new();
    let chain = site.data_dir.path().join("chain.pem");
    let key = site.data_dir.path().join("key.pem");
    certificates.write(&chain, &key, 1);
    let config = path(
        site.data_dir.path(),
        "hale.toml",
        &format!(
            "version = 1\ntls_cert = {:?}\ntls_key = {:?}\n",
            chain.display().to_string(),
            key.display().to_string()
        ),
    );
    let doctor = |site: &Site| {
        let output = site
            .command()
            .arg("doctor")
            .env("HALE_CONFIG", &config)
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let report = doctor(&site);
    let line = report
        .lines()
        .find(|line| line.contains("tls_certificate"))
        .unwrap_or_else(|| panic!("{report}"));
    assert!(
        line.starts_with("ok") && line.contains("more days"),
        "{line}"
    );

    let soon = time::OffsetDateTime::now_utc() + time::Duration::days(5);
    certificates.write_valid_until(&chain, &key, soon);
    let report = doctor(&site);
    assert!(
        report.contains("FAILED  tls_certificate")
            && (report.contains("expires in 4 days") || report.contains("expires in 5 days")),
        "{report}"
    );
    assert!(report.contains("reloads them"), "{report}");
}
