//! Real TLS handshakes with certificates made in the test: versions and suites, verification
//! by the client, reload with connections open, client certificates, and file errors.

use std::time::Duration;

use hale_listen::{CertificateValidity, Tls, TlsError, TlsFiles, key_file_is_private};
use rustls::version::{TLS12, TLS13};
use rustls::{AlertDescription, CertificateError, ProtocolVersion};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::support::{
    Authority, Client, Issued, KeyKind, Leaf, Running, client_config, handshake, presented,
    replace_files, rustls_error, set_mode, write_files,
};

/// A root, an intermediate under it, and a server certificate for `localhost` under that.
struct Pki {
    root: Authority,
    intermediate: Authority,
}

impl Pki {
    fn new() -> Pki {
        let root = Authority::root("Hale Test Root");
        let intermediate = root.intermediate("Hale Test Intermediate");
        Pki { root, intermediate }
    }

    fn server(&self, key: KeyKind, serial: u64) -> Issued {
        self.intermediate.issue(Leaf {
            key,
            serial,
            ..Leaf::default()
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_13_and_12_clients_get_health_over_the_whole_chain_with_rsa_and_ecdsa_keys() {
    let pki = Pki::new();
    for key in [KeyKind::EcdsaP256, KeyKind::EcdsaP384, KeyKind::Rsa] {
        let directory = tempfile::tempdir().unwrap();
        let leaf = pki.server(key, 1);
        // The client trusts only the root: the intermediate must come from the server.
        let files = write_files(directory.path(), &leaf, &[&pki.intermediate]);
        let server = Running::tls(files, Duration::from_secs(3600)).await;
        for version in [&TLS13, &TLS12] {
            let config = client_config(&pki.root.certificate, &[version], None);
            let stream = handshake(server.address, config, "localhost")
                .await
                .unwrap();
            let (_, connection) = stream.get_ref();
            assert_eq!(connection.protocol_version(), Some(version.version));
            let suite = connection.negotiated_cipher_suite().unwrap().suite();
            let name = format!("{suite:?}");
            if version.version == ProtocolVersion::TLSv1_2 {
                assert!(name.starts_with("TLS_ECDHE_"), "{key:?}: {name}");
                assert!(
                    name.contains("_GCM_") || name.contains("CHACHA20"),
                    "{name}"
                );
            }
            assert_eq!(connection.alpn_protocol(), Some(&b"http/1.1"[..]));
            assert_eq!(connection.peer_certificates().unwrap().len(), 2);
            let mut client = Client::over(stream).await.unwrap();
            let answer = client.get("/health").await.unwrap();
            assert_eq!((answer.status, answer.body.as_str()), (200, "ok"));
            assert_eq!(
                answer.headers["strict-transport-security"],
                "max-age=63072000; includeSubDomains"
            );
        }
    }
}

/// A TLS 1.1 ClientHello, by hand, as a TLS 1.1 client sends it: version 3.2, two CBC suites,
/// the curves, point formats and signature algorithms it can use, no `supported_versions`.
fn tls11_client_hello() -> Vec<u8> {
    let mut hello = vec![0x03, 0x02];
    hello.extend([0x5a; 32]);
    hello.push(0);
    hello.extend([0x00, 0x04, 0xc0, 0x13, 0x00, 0x2f]);
    hello.extend([0x01, 0x00]);
    let extensions = [
        &[0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x00, 0x1d, 0x00, 0x17][..],
        &[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00][..],
        &[0x00, 0x0d, 0x00, 0x06, 0x00, 0x04, 0x04, 0x03, 0x04, 0x01][..],
    ]
    .concat();
    hello.extend([0x00, u8::try_from(extensions.len()).unwrap()]);
    hello.extend(extensions);
    let mut handshake = vec![0x01, 0x00, 0x00, u8::try_from(hello.len()).unwrap()];
    handshake.extend(hello);
    let mut record = vec![
        0x16,
        0x03,
        0x02,
        0x00,
        u8::try_from(handshake.len()).unwrap(),
    ];
    record.extend(handshake);
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_offering_only_tls_11_is_refused() {
    let pki = Pki::new();
    let directory = tempfile::tempdir().unwrap();
    let files = write_files(directory.path(), &pki.server(KeyKind::EcdsaP256, 1), &[]);
    let server = Running::tls(files, Duration::from_secs(3600)).await;

    let mut stream = tokio::net::TcpStream::connect(server.address)
        .await
        .unwrap();
    stream.write_all(&tls11_client_hello()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut answer))
        .await
        .expect("the server closed the connection")
        .ok();
    // One alert record: fatal (2), protocol_version (70); then the connection closes.
    assert_eq!(answer.first(), Some(&0x15), "{answer:02x?}");
    assert_eq!(answer.get(5..7), Some(&[0x02, 70][..]), "{answer:02x?}");

    // OpenSSL, allowed to offer TLS 1.1 (its default security level would not), is refused
    // too. Its TLS 1.1 hello has no signature algorithms, so rustls stops one step before the
    // version check, with handshake_failure.
    let address = server.address.to_string();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &address,
                "-tls1_1",
                "-cipher",
                "DEFAULT@SECLEVEL=0",
            ])
            .stdin(std::process::Stdio::null())
            .output()
    })
    .await
    .unwrap()
    .expect("the openssl binary is installed");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "{printed}");
    assert!(printed.contains("Cipher is (NONE)"), "{printed}");
    assert!(
        printed.contains("alert handshake failure") || printed.contains("alert protocol version"),
        "{printed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_another_host_or_expired_fails_the_clients_verification() {
    let pki = Pki::new();
    let directory = tempfile::tempdir().unwrap();
    let files = write_files(
        directory.path(),
        &pki.server(KeyKind::EcdsaP256, 1),
        &[&pki.intermediate],
    );
    let server = Running::tls(files, Duration::from_secs(3600)).await;
    let config = client_config(&pki.root.certificate, &[&TLS13], None);
    let error = handshake(server.address, config, "hale.example")
        .await
        .unwrap_err();
    assert!(
        matches!(
            rustls_error(&error),
            Some(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "{error}"
    );

    let expired_directory = tempfile::tempdir().unwrap();
    let expired = pki.intermediate.issue(Leaf {
        expired: true,
        ..Leaf::default()
    });
    let files = write_files(expired_directory.path(), &expired, &[&pki.intermediate]);
    let server = Running::tls(files, Duration::from_secs(3600)).await;
    let config = client_config(&pki.root.certificate, &[&TLS12], None);
    let error = handshake(server.address, config, "localhost")
        .await
        .unwrap_err();
    assert!(
        matches!(
            rustls_error(&error),
            Some(rustls::Error::InvalidCertificate(
                CertificateError::Expired | CertificateError::ExpiredContext { .. }
            ))
        ),
        "{error}"
    );
}

/// Holds a connection open, replaces the files, lets `trigger` reload them, and checks that a
/// new connection sees the new certificate while the old one goes on with the old.
async fn reload_with_a_connection_open(poll: Duration, trigger: impl AsyncFnOnce()) {
    let pki = Pki::new();
    let directory = tempfile::tempdir().unwrap();
    let first = pki.server(KeyKind::EcdsaP256, 1);
    let files = write_files(directory.path(), &first, &[&pki.intermediate]);
    let server = Running::tls(files.clone(), poll).await;
    let config = || client_config(&pki.root.certificate, &[&TLS13], None);

    let old = handshake(server.address, config(), "localhost")
        .await
        .unwrap();
    assert_eq!(presented(&old), first.certificate);
    let mut old = Client::over(old).await.unwrap();
    assert_eq!(old.get("/health").await.unwrap().status, 200);

    let second = pki.server(KeyKind::EcdsaP384, 2);
    replace_files(
        &files.certificate_chain,
        &files.private_key,
        &second,
        &[&pki.intermediate],
    );
    trigger().await;
    let mut seen = None;
    for _ in 0..600 {
        let fresh = handshake(server.address, config(), "localhost")
            .await
            .unwrap();
        if presented(&fresh) == second.certificate {
            seen = Some(fresh);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let fresh = seen.expect("a new connection got the new certificate");
    let mut fresh = Client::over(fresh).await.unwrap();
    assert_eq!(fresh.get("/health").await.unwrap().status, 200);
    // The connection opened before the reload still answers, on the same connection.
    let again = old.get("/health").await.unwrap();
    assert_eq!((again.status, again.body.as_str()), (200, "ok"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate_without_dropping_open_connections() {
    // The files are looked at once an hour: only the signal can reload them in this test.
    reload_with_a_connection_open(Duration::from_secs(3600), async || {
        nix::sys::signal::raise(nix::sys::signal::Signal::SIGHUP).unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_files_are_reloaded_without_a_signal() {
    reload_with_a_connection_open(Duration::from_millis(100), async || {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_reload_keeps_the_certificate_in_force() {
    let pki = Pki::new();
    let directory = tempfile::tempdir().unwrap();
    let first = pki.server(KeyKind::EcdsaP256, 1);
    let files = write_files(directory.path(), &first, &[&pki.intermediate]);
    let server = Running::tls(files.clone(), Duration::from_secs(3600)).await;
    let tls = server.tls.clone().unwrap();

    // A renewal that wrote the certificate but not yet its key: they do not fit.
    let second = pki.server(KeyKind::EcdsaP256, 2);
    std::fs::write(&files.certificate_chain, &second.certificate_pem).unwrap();
    let error = tls.reload().unwrap_err();
    assert!(matches!(error, TlsError::Unusable { .. }), "{error}");
    std::fs::write(&files.certificate_chain, "not a certificate").unwrap();
    let error = tls.reload().unwrap_err();
    assert!(error.to_string().contains("chain.pem"), "{error}");

    let config = client_config(&pki.root.certificate, &[&TLS13], None);
    let stream = handshake(server.address, config, "localhost")
        .await
        .unwrap();
    assert_eq!(presented(&stream), first.certificate);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_signed_by_the_client_ca_reach_the_request() {
    let pki = Pki::new();
    let client_ca = Authority::root("Hale Test Client CA");
    let stranger_ca = Authority::root("Somebody Else's CA");
    let directory = tempfile::tempdir().unwrap();
    let mut files = write_files(
        directory.path(),
        &pki.server(KeyKind::EcdsaP256, 1),
        &[&pki.intermediate],
    );
    let client_ca_file = directory.path().join("client-ca.pem");
    std::fs::write(&client_ca_file, &client_ca.pem).unwrap();
    files.client_ca = Some(client_ca_file);
    let server = Running::tls(files, Duration::from_secs(3600)).await;

    let device = client_ca.issue(Leaf {
        common_name: "lab-analyser-7",
        dns_names: &["analyser7.lab.example"],
        uris: &["spiffe://hale.example/lab/analyser-7"],
        client: true,
        ..Leaf::default()
    });
    let fingerprint = hex_sha256(&device.certificate);
    for version in [&TLS13, &TLS12] {
        let config = client_config(&pki.root.certificate, &[version], Some((&device, &[])));
        let stream = handshake(server.address, config, "localhost")
            .await
            .unwrap();
        let mut client = Client::over(stream).await.unwrap();
        let answer = client.get("/whoami").await.unwrap();
        assert_eq!(
            answer.body,
            format!(
                "peer=127.0.0.1 cn=lab-analyser-7 dns=analyser7.lab.example \
                 uris=spiffe://hale.example/lab/analyser-7 sha256={fingerprint}"
            )
        );
    }

    // No certificate: still served, with no identity.
    let config = client_config(&pki.root.certificate, &[&TLS13], None);
    let stream = handshake(server.address, config, "localhost")
        .await
        .unwrap();
    let answer = Client::over(stream)
        .await
        .unwrap()
        .get("/whoami")
        .await
        .unwrap();
    assert_eq!(answer.body, "peer=127.0.0.1 certificate=none");

    // Signed by another CA: the server refuses the handshake. With TLS 1.2 the client learns
    // it during the handshake; with TLS 1.3 at its first read, from the server's alert.
    let impostor = stranger_ca.issue(Leaf {
        common_name: "lab-analyser-7",
        client: true,
        ..Leaf::default()
    });
    for version in [&TLS12, &TLS13] {
        let config = client_config(&pki.root.certificate, &[version], Some((&impostor, &[])));
        let error = match handshake(server.address, config, "localhost").await {
            Err(error) => error,
            Ok(mut stream) => {
                stream
                    .write_all(b"GET /whoami HTTP/1.1\r\nHost: localhost\r\n\r\n")
                    .await
                    .unwrap();
                let mut answer = Vec::new();
                match stream.read_to_end(&mut answer).await {
                    Err(error) => error,
                    Ok(_) => panic!("served: {}", String::from_utf8_lossy(&answer)),
                }
            }
        };
        assert!(
            matches!(
                rustls_error(&error),
                Some(rustls::Error::AlertReceived(
                    AlertDescription::UnknownCA | AlertDescription::BadCertificate
                ))
            ),
            "{version:?}: {error}"
        );
    }
}

fn hex_sha256(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[test]
fn unusable_files_are_named_with_what_is_wrong() {
    let pki = Pki::new();
    let directory = tempfile::tempdir().unwrap();
    let leaf = pki.server(KeyKind::EcdsaP256, 1);
    let files = write_files(directory.path(), &leaf, &[]);
    assert!(Tls::load(files.clone()).is_ok());
    let with = |change: &dyn Fn(&mut TlsFiles)| {
        let mut files = files.clone();
        change(&mut files);
        Tls::load(files).unwrap_err().to_string()
    };

    let missing = with(&|f| f.private_key = directory.path().join("absent.pem"));
    assert!(
        missing.starts_with("cannot read ") && missing.contains("absent.pem"),
        "{missing}"
    );

    let text = directory.path().join("text.pem");
    std::fs::write(&text, "hello\n").unwrap();
    let no_certificate = with(&|f| f.certificate_chain = text.clone());
    assert!(
        no_certificate.contains("text.pem holds no PEM certificate"),
        "{no_certificate}"
    );
    let no_key = with(&|f| f.private_key = files.certificate_chain.clone());
    assert!(
        no_key.contains("chain.pem holds no unencrypted PEM private key"),
        "{no_key}"
    );

    let truncated = directory.path().join("truncated.pem");
    let cut = &leaf.certificate_pem[..leaf.certificate_pem.len() - 30];
    std::fs::write(&truncated, cut).unwrap();
    let invalid = with(&|f| f.certificate_chain = truncated.clone());
    assert!(
        invalid.contains("truncated.pem is not valid PEM"),
        "{invalid}"
    );

    let other = pki.server(KeyKind::EcdsaP256, 2);
    let other_key = directory.path().join("other-key.pem");
    std::fs::write(&other_key, &other.key_pem).unwrap();
    let mismatch = with(&|f| f.private_key = other_key.clone());
    assert!(
        mismatch.contains("other-key.pem does not fit the certificate in"),
        "{mismatch}"
    );

    let garbage_ca = with(&|f| f.client_ca = Some(text.clone()));
    assert!(
        garbage_ca.contains("text.pem holds no PEM certificate"),
        "{garbage_ca}"
    );

    // No error quotes a file's content.
    let base64_line = leaf.certificate_pem.lines().nth(1).unwrap();
    for message in [&missing, &no_certificate, &no_key, &invalid, &mismatch] {
        assert!(
            !message.contains("hello") && !message.contains(base64_line),
            "{message}"
        );
        assert!(!message.contains("-----"), "{message}");
    }
}

#[test]
fn a_key_readable_by_group_or_others_is_not_private() {
    let directory = tempfile::tempdir().unwrap();
    let key = directory.path().join("key.pem");
    std::fs::write(&key, "x").unwrap();
    set_mode(&key, 0o600);
    assert!(key_file_is_private(&key));
    set_mode(&key, 0o400);
    assert!(key_file_is_private(&key));
    set_mode(&key, 0o640);
    assert!(!key_file_is_private(&key));
    set_mode(&key, 0o604);
    assert!(!key_file_is_private(&key));
    assert!(!key_file_is_private(&directory.path().join("absent")));
}

proptest::proptest! {
    /// Whatever a certificate or key file holds, reading it ends in certificates, a key or an
    /// error naming the file, never a panic, and never an error quoting the content.
    #[test]
    fn any_file_content_is_read_or_refused_by_name(
        content in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
        pem_like in "(-----BEGIN (CERTIFICATE|PRIVATE KEY)-----\n)?[A-Za-z0-9+/=\n]{0,80}(-----END (CERTIFICATE|PRIVATE KEY)-----\n)?",
    ) {
        let directory = tempfile::tempdir().unwrap();
        for (index, bytes) in [content, pem_like.into_bytes()].into_iter().enumerate() {
            let file = directory.path().join(format!("input-{index}.pem"));
            std::fs::write(&file, &bytes).unwrap();
            if let Err(error) = hale_listen::read_certificates(&file) {
                let message = error.to_string();
                proptest::prop_assert!(message.contains(&format!("input-{index}.pem")), "{}", message);
                proptest::prop_assert!(!message.contains("-----"), "{}", message);
            }
            if let Err(error) = hale_listen::read_private_key(&file) {
                let message = error.to_string();
                proptest::prop_assert!(message.contains(&format!("input-{index}.pem")), "{}", message);
                proptest::prop_assert!(!message.contains("-----"), "{}", message);
            }
        }
    }
}

#[test]
fn the_certificate_in_force_reports_its_validity_and_whom_it_names() {
    let pki = Pki::new();
    let directory = tempfile::tempdir().unwrap();
    let expired = pki.intermediate.issue(Leaf {
        common_name: "hale.example",
        expired: true,
        ..Leaf::default()
    });
    let tls = Tls::load(write_files(
        directory.path(),
        &expired,
        &[&pki.intermediate],
    ))
    .unwrap();
    let validity = tls.validity().unwrap();
    assert_eq!(validity.subject.as_deref(), Some("hale.example"));
    // 2020-01-01 and 2021-01-01, midnight UTC.
    assert_eq!(
        (validity.not_before, validity.not_after),
        (1_577_836_800, 1_609_459_200)
    );

    // Without a common name, its first DNS name names it.
    let mut params = rcgen::CertificateParams::new(vec!["only-dns.example".to_owned()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    let key = rcgen::KeyPair::generate().unwrap();
    let der = params.self_signed(&key).unwrap().der().to_vec();
    let unnamed = CertificateValidity::from_der(&der).unwrap();
    assert_eq!(unnamed.subject.as_deref(), Some("only-dns.example"));
    assert!(CertificateValidity::from_der(b"not a certificate").is_none());
}
