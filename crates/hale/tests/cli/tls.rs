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
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.serial_number = Some(serial.into());
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
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.root.clone()).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        tokio_rustls::TlsConnector::from(Arc::new(config))
    }
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
    let mut child = site
        .command()
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-cert"])
        .arg(chain)
        .arg("--tls-key")
        .arg(key)
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
