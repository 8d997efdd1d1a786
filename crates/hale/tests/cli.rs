//! The `hale` binary end to end: real processes, real sockets, real databases. Covers what only
//! a whole process can show: durability across `kill -9`, `hale audit verify` on a tampered
//! log, the demo's idempotent seeding, and configuration errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hale_store::Backend;
use hale_store::testing::{engines, fresh_url};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod cli {
    pub mod tls;
}

/// A data directory and database for one test.
struct Site {
    data_dir: tempfile::TempDir,
    database_url: String,
    _sqlite_dir: Option<tempfile::TempDir>,
}

impl Site {
    async fn new(backend: Backend) -> Site {
        let (database_url, directory) = fresh_url(backend).await;
        Site {
            data_dir: tempfile::tempdir().unwrap(),
            database_url,
            _sqlite_dir: directory,
        }
    }

    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hale"));
        command
            .env_remove("HALE_CONFIG")
            .env("HALE_LOG", "warn")
            .arg("--data-dir")
            .arg(self.data_dir.path())
            .arg("--database-url")
            .arg(&self.database_url);
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    fn run_ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "hale {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Invites an integration account into `tenant`; returns its account id.
    fn invite_integration(&self, tenant: &str, username: &str) -> String {
        let invited: Value = serde_json::from_str(&self.run_ok(&[
            "user",
            "invite",
            "--tenant",
            tenant,
            "--username",
            username,
            "--role",
            "integration",
            "--integration",
        ]))
        .unwrap();
        invited["account_id"].as_str().unwrap().to_owned()
    }

    fn token(&self, roles: &[&str]) -> String {
        let mut args = vec!["token", "issue", "--tenant", "contoso"];
        for role in roles {
            args.extend(["--role", role]);
        }
        self.run_ok(&args).trim().to_owned()
    }

    /// Starts `hale serve` (or another serving command) on a free port; returns the child, its
    /// address and everything it printed before serving.
    fn serve(&self, command: &str) -> (Child, String, String) {
        let mut child = self
            .command()
            .args([command, "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut printed = String::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let Some(Ok(line)) = lines.next() else { break };
            if let Some(address) = line.strip_prefix("Hale is serving on http://") {
                // Keep draining stdout so the server never blocks on a full pipe.
                std::thread::spawn(move || for _ in lines.by_ref() {});
                return (child, address.to_owned(), printed);
            }
            printed.push_str(&line);
            printed.push('\n');
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("server did not start: {printed}");
    }
}

/// One HTTP/1.1 exchange on a fresh connection.
async fn http(
    address: &str,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> std::io::Result<(u16, Value)> {
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    let status = text
        .get(9..12)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))?;
    let json = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .and_then(|body| serde_json::from_str(body).ok())
        .unwrap_or(Value::Null);
    Ok((status, json))
}

const VITALS: &str = r#"{"title": "Vitals", "rate_limit_policy": "patient-default", "fields": [
  {"name": "heart_rate", "type": "integer", "label": "Heart rate", "required": true, "unit": "/min", "min": 20, "max": 300, "code": "8867-4"},
  {"name": "spo2", "type": "integer", "label": "SpO2", "unit": "%", "min": 50, "max": 100, "code": "59408-5"}]}"#;

/// Tenant, tokens, one subject and a published app, through the CLI and the API.
async fn prepare(site: &Site, address: &str) -> (String, String, String) {
    let builder = site.token(&["tenant-admin", "analyst"]);
    let reviewer = site.token(&["reviewer"]);
    let (status, subject) = http(
        address,
        "POST",
        "/api/v1/tenants/contoso/subjects",
        &builder,
        Some(&json!({"identifiers": [{"system": "urn:mrn", "value": "1"}]})),
    )
    .await
    .unwrap();
    assert_eq!(status, 201, "{subject}");
    let definition: Value = serde_json::from_str(VITALS).unwrap();
    let (status, app) = http(
        address,
        "POST",
        "/api/v1/tenants/contoso/apps",
        &builder,
        Some(&json!({"name": "Vitals", "definition": definition})),
    )
    .await
    .unwrap();
    assert_eq!(status, 201, "{app}");
    let app_id = app["id"].as_str().unwrap().to_owned();
    let versions = format!("/api/v1/tenants/contoso/apps/{app_id}/versions/1");
    assert_eq!(
        http(
            address,
            "POST",
            &format!("{versions}/submit"),
            &builder,
            None
        )
        .await
        .unwrap()
        .0,
        200
    );
    assert_eq!(
        http(
            address,
            "POST",
            &format!("{versions}/approve"),
            &reviewer,
            None
        )
        .await
        .unwrap()
        .0,
        200
    );
    (builder, subject["id"].as_str().unwrap().to_owned(), app_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_submissions_survive_kill_9() {
    for backend in engines() {
        eprintln!("engine: {}", backend.name());
        let site = Site::new(backend).await;
        site.run_ok(&[
            "tenant",
            "create",
            "--slug",
            "contoso",
            "--name",
            "Contoso Health",
        ]);
        let (mut server, address, _) = site.serve("serve");
        let (token, subject, app) = prepare(&site, &address).await;
        let acknowledged = Arc::new(Mutex::new(Vec::<(String, i64)>::new()));
        let mut clients = Vec::new();
        for client in 0..8 {
            let (address, token, subject, app, acknowledged) = (
                address.clone(),
                token.clone(),
                subject.clone(),
                app.clone(),
                Arc::clone(&acknowledged),
            );
            clients.push(tokio::spawn(async move {
                for n in 0..100_000i64 {
                    let rate = 40 + (n + client) % 100;
                    let body = json!({"subject_id": subject, "app_id": app, "idempotency_key": format!("c{client}-{n}"), "answers": {"heart_rate": rate}});
                    match http(&address, "POST", "/api/v1/tenants/contoso/submissions", &token, Some(&body)).await {
                        Ok((201, reply)) => acknowledged.lock().unwrap().push((reply["id"].as_str().unwrap().to_owned(), rate)),
                        // The server is gone: stop, as a client whose connection dropped would.
                        _ => return,
                    }
                }
            }));
        }
        // Kill the server mid-load, after enough acknowledgements to mean something.
        let deadline = Instant::now() + Duration::from_secs(30);
        while acknowledged.lock().unwrap().len() < 200 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server.kill().unwrap(); // SIGKILL
        server.wait().unwrap();
        for client in clients {
            client.await.unwrap();
        }
        let acknowledged = acknowledged.lock().unwrap().clone();
        assert!(
            acknowledged.len() >= 200,
            "only {} acknowledged",
            acknowledged.len()
        );

        let (mut server, address, _) = site.serve("serve");
        let clinician = site.token(&["clinician"]);
        for (id, rate) in &acknowledged {
            let (status, body) = http(
                &address,
                "GET",
                &format!("/api/v1/tenants/contoso/submissions/{id}"),
                &clinician,
                None,
            )
            .await
            .unwrap();
            assert_eq!(status, 200, "acknowledged submission {id} lost");
            assert_eq!(body["answers"]["heart_rate"], *rate);
        }
        let mut stored = 0;
        let mut cursor = String::new();
        loop {
            let path =
                format!("/api/v1/tenants/contoso/subjects/{subject}/submissions?limit=500{cursor}");
            let (_, page) = http(&address, "GET", &path, &clinician, None)
                .await
                .unwrap();
            stored += page["items"].as_array().unwrap().len();
            match page["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => break,
            }
        }
        // Every acknowledged one is there; at most the few in flight at the kill were stored
        // without their acknowledgement reaching the client (8 clients, one request each).
        assert!(
            stored >= acknowledged.len() && stored <= acknowledged.len() + 8,
            "stored {stored}, acknowledged {}",
            acknowledged.len()
        );
        server.kill().unwrap();
        server.wait().unwrap();
        assert!(
            site.run_ok(&["audit", "verify"])
                .contains("event log intact")
        );
    }
}

async fn raw_execute(url: &str, sql: &str) {
    sqlx::any::install_default_drivers();
    let mut connection = <sqlx::AnyConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap();
    sqlx::query(sql).execute(&mut connection).await.unwrap();
}

#[tokio::test]
async fn audit_verify_names_the_tampered_entry() {
    for backend in engines() {
        eprintln!("engine: {}", backend.name());
        let site = Site::new(backend).await;
        let tenant: Value = serde_json::from_str(
            &site.run_ok(&["tenant", "create", "--slug", "contoso", "--name", "Contoso"]),
        )
        .unwrap();
        let tenant = tenant["id"].as_str().unwrap().to_owned();
        for _ in 0..4 {
            site.token(&["clinician"]);
        }
        let clean = site.run_ok(&["audit", "verify"]);
        assert!(
            clean.contains("event log intact: 9 entries in 2 chains"),
            "{clean}"
        );
        raw_execute(
            &site.database_url,
            &format!(
                "UPDATE events SET actor = 'mallory' WHERE tenant_id = '{tenant}' AND seq = 3"
            ),
        )
        .await;
        let output = site.run(&["audit", "verify"]);
        let report = String::from_utf8(output.stdout).unwrap();
        assert_eq!(output.status.code(), Some(1), "{report}");
        assert!(
            report.contains(&format!(
                "BROKEN  tenant {tenant} — entry 3: stored hash does not match"
            )),
            "{report}"
        );
        assert!(report.contains("event log TAMPERED"));
    }
}

#[tokio::test]
async fn the_demo_seeds_once_and_prints_the_same_credentials_again() {
    for backend in engines() {
        eprintln!("engine: {}", backend.name());
        let site = Site::new(backend).await;
        let (mut first, address, printed) = site.serve("demo");
        let (status, body) = http(&address, "GET", "/ready", "", None).await.unwrap();
        assert_eq!((status, &body["status"]), (200, &json!("ready")));
        first.kill().unwrap();
        first.wait().unwrap();
        let entries = |site: &Site| {
            site.run_ok(&["audit", "verify"])
                .lines()
                .last()
                .unwrap()
                .to_owned()
        };
        let before = entries(&site);
        assert!(printed.contains("Demo tenant: Contoso Health"), "{printed}");
        let credentials: Vec<&str> = printed
            .lines()
            .filter(|line| line.contains("API token    : hale_"))
            .collect();
        assert_eq!(credentials.len(), 9, "{printed}");
        for role in [
            "tenant-admin",
            "analyst",
            "reviewer",
            "clinician",
            "researcher",
            "integration",
            "patient",
        ] {
            assert!(
                printed.contains(&format!("({role})")),
                "no demo account for {role}: {printed}"
            );
        }
        let (mut second, _, printed_again) = site.serve("demo");
        second.kill().unwrap();
        second.wait().unwrap();
        assert_eq!(
            entries(&site),
            before,
            "a second demo run must write nothing"
        );
        for line in &credentials {
            assert!(printed_again.contains(line), "credentials differ on re-run");
        }
        // The printed sign-in details work: the reviewer signs in with password and TOTP, and
        // every printed token authenticates.
        let (mut third, address, _) = site.serve("demo");
        let block = demo_block(&printed, "reviewer");
        let secret = hale_domain::totp::TotpSecret::from_base32(&block["TOTP secret"]).unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        let step = hale_domain::totp::TotpStep::at(hale_domain::Timestamp::from_micros(
            i64::try_from(now.as_micros()).unwrap(),
        ));
        let code = hale_domain::totp::totp_code(&secret, step).unwrap();
        let sign_in = json!({
            "tenant": "contoso",
            "username": "reviewer",
            "password": block["password"],
            "totp": code,
        });
        let (status, body) = http(&address, "POST", "/api/v1/auth/sign-in", "", Some(&sign_in))
            .await
            .unwrap();
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["mfa_enrolment_required"], json!(false), "{body}");
        for line in &credentials {
            let token = line.rsplit(' ').next().unwrap();
            let (status, me) = http(&address, "GET", "/api/v1/auth/me", token, None)
                .await
                .unwrap();
            assert_eq!(status, 200, "{me}");
        }
        // Each demo patient has the sample apps assigned, vitals daily, the diary weekly.
        let patient = demo_block(&printed, "mrn-1001");
        let (status, home) = http(
            &address,
            "GET",
            "/api/v1/tenants/contoso/home",
            &patient["API token"],
            None,
        )
        .await
        .unwrap();
        assert_eq!(status, 200, "{home}");
        let assigned: Vec<(&str, &str)> = home["assignments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| {
                (
                    item["title"].as_str().unwrap(),
                    item["schedule"]["kind"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(assigned.len(), 3, "{home}");
        assert!(assigned.contains(&("Daily vital signs", "daily")), "{home}");
        assert!(assigned.iter().any(|(_, kind)| *kind == "weekly"), "{home}");
        assert_eq!(home["apps"].as_object().unwrap().len(), 3, "{home}");
        assert!(
            !home["history"]["observations"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        third.kill().unwrap();
        third.wait().unwrap();
    }
}

/// The `name: value` details printed under the demo account `username`.
fn demo_block(printed: &str, username: &str) -> std::collections::HashMap<String, String> {
    let header = format!("username `{username}`");
    printed
        .lines()
        .skip_while(|line| !line.contains(&header))
        .skip(1)
        .take_while(|line| line.starts_with("      "))
        .filter_map(|line| line.split_once(" : ").or_else(|| line.split_once(": ")))
        .map(|(name, value)| {
            let value = value.split(" (").next().unwrap_or(value);
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect()
}

fn write(directory: &Path, name: &str, text: &str) -> PathBuf {
    let path = directory.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn configuration_errors_name_the_key_and_flags_win() {
    let directory = tempfile::tempdir().unwrap();
    let bad = write(
        directory.path(),
        "bad.toml",
        "version = 1\nlisten_address = \"0.0.0.0:80\"\n",
    );
    let output = Command::new(env!("CARGO_BIN_EXE_hale"))
        .arg("--config")
        .arg(&bad)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("listen_address"), "{stderr}");

    // The file names one data directory, the environment another: the environment wins.
    let from_file = directory.path().join("from-file");
    let from_env = directory.path().join("from-env");
    let good = write(
        directory.path(),
        "good.toml",
        &format!("version = 1\ndata_dir = \"{}\"\n", from_file.display()),
    );
    let output = Command::new(env!("CARGO_BIN_EXE_hale"))
        .env("HALE_DATA_DIR", &from_env)
        .env_remove("HALE_DATABASE_URL")
        .arg("--config")
        .arg(&good)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(from_env.join("hale.db").exists());
    assert!(!from_file.exists());

    // The same two settings named by file, environment and flag at once: the flag wins each.
    let from_flag = directory.path().join("from-flag");
    let database = |name: &str| directory.path().join(format!("{name}.db"));
    let url = |name: &str| format!("sqlite://{}?mode=rwc", database(name).display());
    let everywhere = write(
        directory.path(),
        "everywhere.toml",
        &format!(
            "version = 1\ndata_dir = \"{}\"\ndatabase_url = \"{}\"\n",
            from_file.display(),
            url("file")
        ),
    );
    let output = Command::new(env!("CARGO_BIN_EXE_hale"))
        .env("HALE_DATA_DIR", &from_env)
        .env("HALE_DATABASE_URL", url("env"))
        .arg("--config")
        .arg(&everywhere)
        .arg("--data-dir")
        .arg(&from_flag)
        .arg("--database-url")
        .arg(url("flag"))
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        database("flag").exists(),
        "the flag's database was not used"
    );
    assert!(!database("env").exists() && !database("file").exists());
    // Without a database URL anywhere, the data directory decides where the database lives.
    let output = Command::new(env!("CARGO_BIN_EXE_hale"))
        .env("HALE_DATA_DIR", &from_env)
        .env_remove("HALE_DATABASE_URL")
        .arg("--config")
        .arg(&good)
        .arg("--data-dir")
        .arg(&from_flag)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        from_flag.join("hale.db").exists(),
        "the flag's data directory was not used"
    );
    assert!(!from_file.exists());
}

#[tokio::test]
async fn projections_rebuild_from_the_command_line() {
    for backend in engines() {
        eprintln!("engine: {}", backend.name());
        let site = Site::new(backend).await;
        site.run_ok(&["tenant", "create", "--slug", "contoso", "--name", "Contoso"]);
        site.token(&["clinician"]);
        let output = site.run_ok(&["projections", "rebuild"]);
        assert_eq!(output.trim(), "projections rebuilt from 3 events");
        let tenants = site.run_ok(&["tenant", "list"]);
        assert!(tenants.contains("\"slug\":\"contoso\""), "{tenants}");
    }
}

/// Every Rust module in the workspace starts by saying what it is for (a `//!` line), so the
/// code map stays navigable.
#[test]
fn every_module_says_what_it_is_for() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut missing = Vec::new();
    let mut pending = vec![root.join("crates"), root.join("bench")];
    while let Some(directory) = pending.pop() {
        for entry in std::fs::read_dir(&directory).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !matches!(name.as_str(), "target" | "fuzz" | "proptest-regressions") {
                    pending.push(path);
                }
            } else if name.ends_with(".rs") && path.to_string_lossy().contains("/src/") {
                let text = std::fs::read_to_string(&path).unwrap();
                if !text.trim_start().starts_with("//!") {
                    missing.push(path.display().to_string());
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "modules without a //! line: {missing:?}"
    );
}

#[tokio::test]
async fn apps_are_linted_imported_and_exported_from_the_command_line() {
    for backend in engines() {
        eprintln!("engine: {}", backend.name());
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let site = Site::new(backend).await;
        for sample in [
            "daily-vitals.xlsx",
            "respiratory-diary.xlsx",
            "medication-doses.xlsx",
            "daily-vitals",
        ] {
            let output = site.run_ok(&["app", "lint", examples.join(sample).to_str().unwrap()]);
            assert!(output.contains("lint clean"), "{sample}: {output}");
        }
        let directory = tempfile::tempdir().unwrap();
        write(
            directory.path(),
            "survey.csv",
            "type,name,label\ninteger,hr,Heart rate\nselect_one colours,c,Colour\nbegin_group,g,G\n",
        );
        let output = site.run(&["app", "lint", directory.path().to_str().unwrap()]);
        assert!(!output.status.success());
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains("survey row 3 column type"), "{stderr}");
        assert!(stderr.contains("survey row 4"), "{stderr}");

        site.run_ok(&["tenant", "create", "--slug", "contoso", "--name", "Contoso"]);
        let imported: Value = serde_json::from_str(&site.run_ok(&[
            "app",
            "import",
            examples.join("medication-doses.xlsx").to_str().unwrap(),
            "--tenant",
            "contoso",
        ]))
        .unwrap();
        let app = imported["app_id"].as_str().unwrap();
        let questionnaire: Value = serde_json::from_str(&site.run_ok(&[
            "app",
            "export",
            app,
            "--tenant",
            "contoso",
            "--format",
            "questionnaire",
        ]))
        .unwrap();
        assert_eq!(questionnaire["resourceType"], "Questionnaire");
        let exported = write(
            directory.path(),
            "questionnaire.json",
            &questionnaire.to_string(),
        );
        let second: Value = serde_json::from_str(&site.run_ok(&[
            "app",
            "import",
            exported.to_str().unwrap(),
            "--tenant",
            "contoso",
            "--app",
            app,
        ]))
        .unwrap();
        assert_eq!(second["version"], 2);
        let v1 = site.run_ok(&[
            "app",
            "export",
            app,
            "--tenant",
            "contoso",
            "--version",
            "1",
        ]);
        let v2 = site.run_ok(&[
            "app",
            "export",
            app,
            "--tenant",
            "contoso",
            "--version",
            "2",
        ]);
        assert_eq!(v1, v2);

        // A form whose choices come from a data file lints with that file missing, imports
        // as a draft, and takes the file as its next version.
        let fruit = tempfile::tempdir().unwrap();
        write(
            fruit.path(),
            "survey.csv",
            "type,name,label,calculation\nselect_one_from_file fruits.csv,fruit,Fruit,\ncalculate,named,,\"pulldata('fruits', 'label', 'name', ${fruit})\"\n",
        );
        write(fruit.path(), "settings.csv", "form_title\nFruit\n");
        let output = site.run(&["app", "lint", fruit.path().to_str().unwrap()]);
        assert!(!output.status.success());
        let stdout = String::from_utf8(output.stdout).unwrap();
        assert!(stdout.contains("data_file_missing"), "{stdout}");
        let imported: Value = serde_json::from_str(&site.run_ok(&[
            "app",
            "import",
            fruit.path().to_str().unwrap(),
            "--tenant",
            "contoso",
        ]))
        .unwrap();
        let fruit_app = imported["app_id"].as_str().unwrap();
        let data = write(fruit.path(), "fruits.csv", "name,label\nmango,Mango\n");
        let attached: Value = serde_json::from_str(&site.run_ok(&[
            "app",
            "attach",
            data.to_str().unwrap(),
            "--tenant",
            "contoso",
            "--app",
            fruit_app,
        ]))
        .unwrap();
        assert_eq!(attached["version"], 2, "{attached}");
        assert_eq!(attached["publishable"], true, "{attached}");
        let exported: Value = serde_json::from_str(
            &site.run_ok(&["app", "export", fruit_app, "--tenant", "contoso"]),
        )
        .unwrap();
        assert_eq!(exported["data_files"]["fruits.csv"][0]["value"], "mango");

        // A media file, checked by its bytes: a text named .png is refused, a PNG attached as
        // version 3 and described by its digest; after it `audit verify` still finds the log
        // and every read model (the file's bytes among them) as a replay gives them.
        let png: &[u8] = &[
            0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
            0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00,
            0x00,
        ];
        let fake = write(fruit.path(), "fake.png", "not an image");
        let refused = site.run(&[
            "app",
            "attach",
            fake.to_str().unwrap(),
            "--tenant",
            "contoso",
            "--app",
            fruit_app,
        ]);
        assert!(!refused.status.success());
        let stderr = String::from_utf8(refused.stderr).unwrap();
        assert!(stderr.contains("media_type_mismatch"), "{stderr}");
        let image = fruit.path().join("mango.png");
        std::fs::write(&image, png).unwrap();
        let attached: Value = serde_json::from_str(&site.run_ok(&[
            "app",
            "attach",
            image.to_str().unwrap(),
            "--tenant",
            "contoso",
            "--app",
            fruit_app,
        ]))
        .unwrap();
        assert_eq!(attached["version"], 3, "{attached}");
        let exported: Value = serde_json::from_str(
            &site.run_ok(&["app", "export", fruit_app, "--tenant", "contoso"]),
        )
        .unwrap();
        assert_eq!(
            exported["media_files"]["mango.png"]["size"],
            png.len(),
            "{exported}"
        );
        assert!(
            site.run_ok(&["audit", "verify"])
                .contains("event log intact")
        );
    }
}

/// Someone who can write the database but not the key: a deleted head row, a forged
/// platform-admin token row, and a tail truncated together with its head are each named.
#[tokio::test]
async fn audit_verify_names_a_deleted_head_a_forged_token_and_a_rolled_back_tail() {
    for backend in engines() {
        eprintln!("engine: {}", backend.name());
        let site = Site::new(backend).await;
        let tenant: Value = serde_json::from_str(
            &site.run_ok(&["tenant", "create", "--slug", "contoso", "--name", "Contoso"]),
        )
        .unwrap();
        let tenant = tenant["id"].as_str().unwrap().to_owned();
        for _ in 0..3 {
            site.token(&["clinician"]);
        }
        let key_file = site.data_dir.path().join("keys").join("chain.key");
        assert_eq!(std::fs::metadata(&key_file).unwrap().len(), 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(
            site.run_ok(&["audit", "verify"])
                .contains("event log intact")
        );
        // The same database checked under another key (a new one is created there) verifies
        // nothing: the key, not the database, vouches for the log.
        let other_key = site.data_dir.path().join("elsewhere").join("chain.key");
        let output = site
            .command()
            .arg("--chain-key-file")
            .arg(&other_key)
            .args(["audit", "verify"])
            .output()
            .unwrap();
        let report = String::from_utf8(output.stdout).unwrap();
        assert_eq!(output.status.code(), Some(1), "{report}");
        assert!(
            report.contains(&format!(
                "BROKEN  tenant {tenant} — entry 1: stored hash does not match"
            )),
            "{report}"
        );
        let verify_fails = |site: &Site| {
            let output = site.run(&["audit", "verify"]);
            let report = String::from_utf8(output.stdout).unwrap();
            assert_eq!(output.status.code(), Some(1), "{report}");
            assert!(report.contains("event log TAMPERED"), "{report}");
            report
        };

        raw_execute(
            &site.database_url,
            &format!(
                "INSERT INTO api_keys \
                 (key_hash, tenant_id, id, account_id, label, scopes, created_at) \
                 VALUES ('{}', '{}', 'forged', '{}', 'forged', '', 0)",
                "e".repeat(64),
                "00000000-0000-0000-0000-00000000feed",
                "00000000-0000-0000-0000-00000000beef"
            ),
        )
        .await;
        let report = verify_fails(&site);
        assert!(
            report.contains(&format!(
                "BROKEN  read model api_keys — key_hash={}: row is not produced",
                "e".repeat(64)
            )),
            "{report}"
        );
        raw_execute(
            &site.database_url,
            "DELETE FROM api_keys WHERE label = 'forged'",
        )
        .await;

        // Entries after the first gone and the head rolled back to entry 1: consistent in the
        // database, but the checkpoint written when `token issue` finished holds its last entry.
        raw_execute(
            &site.database_url,
            &format!("DELETE FROM events WHERE tenant_id = '{tenant}' AND seq > 1"),
        )
        .await;
        raw_execute(
            &site.database_url,
            &format!(
                "UPDATE chain_heads SET seq = 1, hash = (SELECT hash FROM events \
                 WHERE tenant_id = '{tenant}' AND seq = 1) WHERE tenant_id = '{tenant}'"
            ),
        )
        .await;
        let report = verify_fails(&site);
        assert!(
            report.contains(&format!(
                "BROKEN  tenant {tenant} — entry 6: the log no longer holds an entry this server checkpointed"
            )),
            "{report}"
        );

        raw_execute(
            &site.database_url,
            &format!("DELETE FROM chain_heads WHERE tenant_id = '{tenant}'"),
        )
        .await;
        let report = verify_fails(&site);
        assert!(
            report.contains(&format!(
                "BROKEN  tenant {tenant} — entry 1: the chain has no head row"
            )),
            "{report}"
        );
    }
}

/// One raw HTTP/1.1 exchange: the status, the head, and the body.
async fn raw(address: &str, request: &str) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text[9..12].parse().unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_owned(), body.to_owned())
}

/// A second replica's data directory: its own copy of `site`'s chain key (and, once it
/// serves, its own checkpoint file).
fn replica_dir(site: &Site) -> tempfile::TempDir {
    let directory = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(directory.path().join("keys")).unwrap();
    std::fs::copy(
        site.data_dir.path().join("keys/chain.key"),
        directory.path().join("keys/chain.key"),
    )
    .unwrap();
    directory
}

#[tokio::test]
async fn accounts_and_keys_from_the_command_line_and_revocation_on_every_replica_at_once() {
    for backend in engines() {
        eprintln!("engine: {}", backend.name());
        let site = Site::new(backend).await;
        site.run_ok(&["tenant", "create", "--slug", "contoso", "--name", "Contoso"]);
        // A person with a password from stdin, an invited one, and an integration.
        let mut create = site
            .command()
            .args([
                "user",
                "create",
                "--tenant",
                "contoso",
                "--username",
                "casey",
                "--role",
                "clinician",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        {
            use std::io::Write;
            let mut stdin = create.stdin.take().unwrap();
            writeln!(stdin, "violet-harbour-ledger-1987").unwrap();
        }
        let output = create.wait_with_output().unwrap();
        assert!(output.status.success(), "{output:?}");
        let casey: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(casey["invite"], Value::Null);
        let invited: Value = serde_json::from_str(&site.run_ok(&[
            "user",
            "invite",
            "--tenant",
            "contoso",
            "--username",
            "robin",
            "--role",
            "reviewer",
        ]))
        .unwrap();
        assert!(
            invited["invite"]
                .as_str()
                .is_some_and(|code| code.len() > 20)
        );
        let lab_id = site.invite_integration("contoso", "lab");
        let key: Value = serde_json::from_str(&site.run_ok(&[
            "key",
            "create",
            "--account",
            &lab_id,
            "--label",
            "feed",
            "--scopes",
            "system/Observation.rs",
        ]))
        .unwrap();
        let lab_key = key["key"].as_str().unwrap().to_owned();
        let listed = site.run_ok(&["user", "list", "--tenant", "contoso"]);
        assert_eq!(listed.lines().count(), 3, "{listed}");
        assert!(
            !listed.contains("hale_"),
            "a listing shows no secret: {listed}"
        );
        // A password on the command line is not an option, and an integration has none.
        let refused = site.run(&[
            "user",
            "create",
            "--tenant",
            "contoso",
            "--username",
            "x",
            "--role",
            "integration",
            "--integration",
        ]);
        assert!(!refused.status.success());

        let admin = site.token(&["tenant-admin"]);
        let (mut first, first_address, _) = site.serve("serve");
        let second_dir = replica_dir(&site);
        let (mut second, second_address) = serve_in(&site, second_dir.path(), None);
        let (status, me) = http(&second_address, "GET", "/api/v1/auth/me", &lab_key, None)
            .await
            .unwrap();
        assert_eq!(
            (status, &me["scopes"]),
            (200, &json!("system/Observation.rs")),
            "{me}"
        );
        // A session begun on one replica works on the other, and signing out on that one ends
        // it on the first at once.
        let body = json!({"tenant": "contoso", "username": "casey",
                          "password": "violet-harbour-ledger-1987"})
        .to_string();
        let (status, head, answer) = raw(
            &second_address,
            &format!(
                "POST /api/v1/auth/sign-in HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        )
        .await;
        assert_eq!(status, 200, "{head}");
        let session = head
            .lines()
            .find_map(|line| {
                line.to_ascii_lowercase()
                    .starts_with("set-cookie: hale_session=")
                    .then(|| &line["set-cookie: hale_session=".len()..])
            })
            .and_then(|rest| rest.split(';').next())
            .unwrap()
            .to_owned();
        let csrf = serde_json::from_str::<Value>(&answer).unwrap()["csrf_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let me = |address: &str| {
            format!(
                "GET /api/v1/auth/me HTTP/1.1\r\nHost: {address}\r\nCookie: hale_session={session}\r\n\
                 Connection: close\r\n\r\n"
            )
        };
        assert_eq!(raw(&first_address, &me(&first_address)).await.0, 200);
        let (status, head, _) = raw(
            &first_address,
            &format!(
                "POST /api/v1/auth/sign-out HTTP/1.1\r\nHost: x\r\nCookie: hale_session={session}\r\n\
                 X-CSRF-Token: {csrf}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            ),
        )
        .await;
        assert_eq!(status, 204, "{head}");
        assert_eq!(
            raw(&second_address, &me(&second_address)).await.0,
            401,
            "a signed-out session still works on the other replica"
        );

        // Revoked on one replica: refused on the other at once, with no cache to wait out.
        let key_id = key["key_id"].as_str().unwrap();
        let (status, _) = http(
            &first_address,
            "DELETE",
            &format!("/api/v1/accounts/{lab_id}/keys/{key_id}"),
            &admin,
            None,
        )
        .await
        .unwrap();
        assert_eq!(status, 204);
        let (status, _) = http(&second_address, "GET", "/api/v1/auth/me", &lab_key, None)
            .await
            .unwrap();
        assert_eq!(
            status, 401,
            "a revoked key still works on the other replica"
        );

        // Disabled from the command line while both serve: every credential stops.
        let casey_id = casey["account_id"].as_str().unwrap();
        let casey_key: Value =
            serde_json::from_str(&site.run_ok(&["key", "create", "--account", casey_id])).unwrap();
        let casey_key = casey_key["key"].as_str().unwrap();
        for address in [&first_address, &second_address] {
            let (status, _) = http(address, "GET", "/api/v1/auth/me", casey_key, None)
                .await
                .unwrap();
            assert_eq!(status, 200);
        }
        site.run_ok(&["user", "disable", casey_id]);
        for address in [&first_address, &second_address] {
            let (status, _) = http(address, "GET", "/api/v1/auth/me", casey_key, None)
                .await
                .unwrap();
            assert_eq!(status, 401, "a disabled account still works on {address}");
        }
        let listed = site.run_ok(&["user", "list", "--tenant", "contoso"]);
        assert!(
            listed
                .lines()
                .any(|line| line.contains("\"casey\"") && line.contains("\"disabled\":true")),
            "{listed}"
        );
        for child in [&mut first, &mut second] {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

/// `hale serve` over `site`'s database in `data_dir` (the site's own, or a replica's), with a
/// configuration file when given.
fn serve_in(site: &Site, data_dir: &Path, config: Option<&Path>) -> (Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hale"));
    command.env_remove("HALE_CONFIG").env("HALE_LOG", "warn");
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let mut child = command
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--database-url")
        .arg(&site.database_url)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(address) = line.strip_prefix("Hale is serving on http://") {
            std::thread::spawn(move || for _ in lines.by_ref() {});
            return (child, address.to_owned());
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("hale serve did not start in {}", data_dir.display());
}

/// One HTTP/1.1 GET with a bearer token; answers the status and the head in lower case.
async fn get_headers(address: &str, path: &str, token: &str) -> (u16, String) {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    let (status, head, _) = raw(address, &request).await;
    (status, head.to_ascii_lowercase())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}: ")))
        .map(str::trim)
}

#[tokio::test]
async fn ten_calls_in_the_window_across_two_replicas_and_the_eleventh_is_refused() {
    let redis = std::env::var("HALE_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    for backend in engines() {
        eprintln!("engine: {}", backend.name());
        let site = Site::new(backend).await;
        site.run_ok(&["tenant", "create", "--slug", "contoso", "--name", "Contoso"]);
        let admin = site.token(&["tenant-admin"]);
        // The shipped patient policy's count, over a window short enough to wait out. A
        // namespace of its own per run: the key is the account, new in every run anyway.
        let config = write(
            site.data_dir.path(),
            "hale.toml",
            &format!(
                "version = 1\nrate_limit_store = \"{redis}\"\n\
                 [[rate_limits]]\nname = \"patient\"\ncalls = 10\nperiod = \"4s\"\n\
                 key = \"account\"\napplies_to = [\"patient\"]\n"
            ),
        );
        let second_dir = replica_dir(&site);
        let (mut first, a) = serve_in(&site, site.data_dir.path(), Some(&config));
        let (mut second, b) = serve_in(&site, second_dir.path(), Some(&config));
        let (status, subject) = http(
            &a,
            "POST",
            "/api/v1/tenants/contoso/subjects",
            &admin,
            Some(&json!({"identifiers": [{"system": "urn:mrn", "value": "MRN-1"}]})),
        )
        .await
        .unwrap();
        assert_eq!(status, 201, "{subject}");
        let patient = site
            .run_ok(&[
                "token",
                "issue",
                "--tenant",
                "contoso",
                "--role",
                "patient",
                "--subject",
                subject["id"].as_str().unwrap(),
            ])
            .trim()
            .to_owned();
        let started = Instant::now();
        let mut remaining = Vec::new();
        for call in 0..10 {
            let address = if call % 2 == 0 { &a } else { &b };
            let (status, head) = get_headers(address, "/api/v1/auth/me", &patient).await;
            assert_eq!(status, 200, "call {call}: {head}");
            assert_eq!(
                header(&head, "ratelimit-policy"),
                Some("\"patient\";q=10;w=4")
            );
            remaining.push(header(&head, "ratelimit").unwrap().to_owned());
        }
        assert!(
            remaining[9].starts_with("\"patient\";r=0;"),
            "{remaining:?}"
        );
        let window_left = Duration::from_secs(4).saturating_sub(started.elapsed());
        assert!(
            !window_left.is_zero(),
            "the machine was too slow to test within one window"
        );
        // The eleventh, on either replica, is refused — and refusals consume nothing.
        let mut retry_after = 0;
        for address in [&a, &b, &a] {
            let (status, head) = get_headers(address, "/api/v1/auth/me", &patient).await;
            assert_eq!(status, 429, "{head}");
            assert!(head.contains("application/problem+json"), "{head}");
            retry_after = header(&head, "retry-after")
                .unwrap()
                .parse::<u64>()
                .unwrap();
            assert!((1..=4).contains(&retry_after), "{head}");
            assert!(
                header(&head, "ratelimit")
                    .unwrap()
                    .starts_with("\"patient\";r=0;")
            );
        }
        // Once the oldest call leaves the window, a call is accepted again.
        tokio::time::sleep(Duration::from_secs(retry_after)).await;
        let (status, head) = get_headers(&b, "/api/v1/auth/me", &patient).await;
        assert_eq!(status, 200, "after Retry-After: {head}");
        for child in [&mut first, &mut second] {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

#[tokio::test]
async fn production_mode_refuses_each_misconfiguration_and_doctor_reports_every_check() {
    let backend = engines()[0];
    let site = Site::new(backend).await;
    site.run_ok(&["migrate"]);
    // A clean site on loopback passes every check.
    let report = site.run_ok(&["doctor"]);
    for id in [
        "listen",
        "chain_key",
        "demo_users",
        "mfa",
        "oidc_https",
        "rate_limits",
    ] {
        assert!(
            report
                .lines()
                .any(|line| line.starts_with("ok") && line.contains(id)),
            "{id}: {report}"
        );
    }
    let refused = |args: &[&str], config: Option<&str>| {
        let mut command = site.command();
        if let Some(text) = config {
            command
                .arg("--config")
                .arg(write(site.data_dir.path(), "hale.toml", text));
        }
        let output = command
            .args(["serve", "--production"])
            .args(args)
            .stdout(Stdio::null())
            .output()
            .unwrap();
        assert!(
            !output.status.success(),
            "production mode started: {args:?}"
        );
        String::from_utf8(output.stderr).unwrap()
    };
    let message = refused(&["--listen", "0.0.0.0:0"], None);
    assert!(
        message.contains("listen: listening on 0.0.0.0:0 without TLS"),
        "{message}"
    );
    assert!(message.contains("fix: serve TLS"), "{message}");
    let message = refused(
        &["--listen", "127.0.0.1:0"],
        Some(
            "version = 1\n[[oidc.issuers]]\nissuer = \"http://idp.example\"\naudience = \"hale\"\n\
             mapping = { tenant = \"contoso\" }\n",
        ),
    );
    assert!(message.contains("oidc_https"), "{message}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = site.data_dir.path().join("keys/chain.key");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let message = refused(&["--listen", "127.0.0.1:0"], None);
        assert!(
            message.contains("chain_key") && message.contains("chmod 600"),
            "{message}"
        );
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    std::fs::write(site.data_dir.path().join("demo-credentials.txt"), "x").unwrap();
    let message = refused(&["--listen", "127.0.0.1:0"], None);
    assert!(message.contains("demo_users"), "{message}");
    std::fs::remove_file(site.data_dir.path().join("demo-credentials.txt")).unwrap();
    let demo = site
        .command()
        .args(["demo", "--production"])
        .output()
        .unwrap();
    assert!(!demo.status.success());

    // A reviewer without a second factor: the doctor names the gap and exits 1.
    site.run_ok(&["tenant", "create", "--slug", "contoso", "--name", "Contoso"]);
    site.token(&["reviewer"]);
    let output = site.run(&["doctor"]);
    assert!(!output.status.success());
    let report = String::from_utf8(output.stdout).unwrap();
    assert!(
        report
            .lines()
            .any(|line| line.starts_with("FAILED") && line.contains("mfa.reviewer")),
        "{report}"
    );
    assert!(report.contains("fix:"), "{report}");
}
