//! `hale demo`: a demo tenant (Contoso Health) with the three sample apps published (daily
//! vitals with NEWS2, a respiratory symptom diary, medication doses), a few
//! patients with several weeks of submissions and the sample apps assigned to them, and
//! credentials for each role. Seeding happens once per data directory; re-running prints the
//! same credentials and writes nothing (a demo seeded before assignments existed gets them).

use std::path::Path;

use anyhow::Context;
use base64::Engine;
use hale_core::{
    AppSource, Core, MFA_ROLES, NewAccount, NewApiKey, NewAssignment, RegisterSubject, Secret,
    StepNote, SubmitAnswers, VersionStep,
};
use hale_domain::assignment::{Schedule, Weekday};
use hale_domain::event::Identifier;
use hale_domain::totp::TotpSecret;
use hale_domain::{AccountKind, Principal, RequestContext, Role, Timestamp};
use serde_json::value::RawValue;

use crate::commands::{describe, operator};

/// The sample apps, as analysts would write them: XLSForm workbooks from `examples/`.
const SAMPLES: [(&str, &[u8]); 3] = [
    (
        "Daily vitals",
        include_bytes!("../../../examples/daily-vitals.xlsx"),
    ),
    (
        "Respiratory symptom diary",
        include_bytes!("../../../examples/respiratory-diary.xlsx"),
    ),
    (
        "Medication doses",
        include_bytes!("../../../examples/medication-doses.xlsx"),
    ),
];

/// How often each sample app is asked of the demo's patients: vitals and doses every day, the
/// symptom diary once a week, so the patient app shows both kinds.
const SCHEDULES: [(&str, Schedule); 3] = [
    ("Daily vitals", Schedule::Daily),
    (
        "Respiratory symptom diary",
        Schedule::Weekly {
            weekday: Weekday::Monday,
        },
    ),
    ("Medication doses", Schedule::Daily),
];

/// The identifier system of the demo's patients' medical record numbers.
const MRN_SYSTEM: &str = "urn:contoso:mrn";

const CREDENTIALS_FILE: &str = crate::posture::DEMO_CREDENTIALS;
const PATIENTS: [(&str, &str); 3] = [
    ("MRN-1001", "Alex Morgan"),
    ("MRN-1002", "Sam Rivera"),
    ("MRN-1003", "Jordan Lee"),
];
const DAYS: i64 = 28;

pub async fn seed_and_print(core: &Core, data_dir: &Path) -> anyhow::Result<()> {
    let path = data_dir.join(CREDENTIALS_FILE);
    let existing = core.store().tenant_by_slug("contoso").await?;
    let credentials = match (existing.as_ref(), path.exists()) {
        (Some(_), true) => std::fs::read_to_string(&path).context("reading demo credentials")?,
        (Some(_), false) => {
            "The demo tenant exists, but its credentials file is missing; create accounts with \
             `hale user invite --tenant contoso --username … --role …` and keys with \
             `hale key create --account …`.\n"
                .to_owned()
        }
        (None, _) => {
            let text = seed(core).await?;
            std::fs::create_dir_all(data_dir)?;
            write_private(&path, &text)?;
            text
        }
    };
    let tenant = match existing {
        Some(tenant) => tenant.id,
        None => {
            core.store()
                .tenant_by_slug("contoso")
                .await?
                .context("the demo tenant was just created")?
                .id
        }
    };
    assign_samples(core, tenant).await?;
    println!("\nDemo tenant: Contoso Health (slug `contoso`)\n{credentials}");
    Ok(())
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .context("writing demo credentials")?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).context("writing demo credentials")
}

/// A demo person or integration: an account with its roles, a password (and, for the roles
/// that need one, an enrolled TOTP secret) for the web, and an API key for `curl`.
struct DemoAccount {
    principal: Principal,
    lines: Vec<String>,
}

async fn account(
    core: &Core,
    tenant: hale_domain::TenantId,
    username: &str,
    display_name: &str,
    roles: &[Role],
    subject: Option<hale_domain::SubjectId>,
) -> anyhow::Result<DemoAccount> {
    let operator = operator();
    let integration = roles == [Role::Integration];
    // Random per installation: a demo database is still a database someone may expose.
    let password = (!integration).then(|| {
        let random = core.random_secret();
        Secret::new(format!("demo-{}", &random.expose()[..16]))
    });
    let created = core
        .create_account(
            &operator,
            NewAccount {
                tenant: Some(tenant),
                kind: if integration {
                    AccountKind::Integration
                } else {
                    AccountKind::User
                },
                username: username.to_owned(),
                display_name: display_name.to_owned(),
                roles: roles.to_vec(),
                subject,
                password: password.clone(),
            },
        )
        .await
        .map_err(describe)?;
    let mut lines = vec![format!(
        "  {display_name} ({}) — username `{username}`",
        roles
            .iter()
            .map(|role| role.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )];
    if let Some(password) = &password {
        lines.push(format!("      password     : {}", password.expose()));
    }
    if roles.iter().any(|role| MFA_ROLES.contains(role)) {
        let random = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(core.random_secret().expose())
            .context("decoding fresh randomness")?;
        let mut bytes = [0u8; 20];
        bytes.copy_from_slice(&random[..20]);
        let secret = TotpSecret::from_bytes(bytes);
        let recovery = core
            .enrol_mfa_as_operator(&operator, created.account_id, &secret)
            .await
            .map_err(describe)?;
        lines.push(format!(
            "      TOTP secret  : {} (add it to an authenticator app)",
            secret.to_base32()
        ));
        if let Some(code) = recovery.first() {
            lines.push(format!(
                "      recovery code: {} (one of {})",
                code.expose(),
                recovery.len()
            ));
        }
    }
    let key = core
        .create_api_key(
            &operator,
            NewApiKey {
                account: Some(created.account_id),
                label: format!("demo {username}"),
                scopes: None,
                expires_at: None,
            },
        )
        .await
        .map_err(describe)?;
    lines.push(format!("      API token    : {}", key.key.expose()));
    let principal = core
        .authenticate(hale_core::Credential::ApiKey(key.key.expose()))
        .await
        .map_err(describe)?;
    Ok(DemoAccount { principal, lines })
}

fn as_principal(principal: Principal) -> RequestContext {
    RequestContext::new(principal, "demo-seed".into(), "cli")
}

/// A small deterministic generator, so every demo looks the same.
struct Wobble(u64);

impl Wobble {
    fn next(&mut self, low: i64, high: i64) -> i64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        low + ((self.0 >> 33) % ((high - low + 1) as u64)) as i64
    }
}

async fn seed(core: &Core) -> anyhow::Result<String> {
    let operator = operator();
    let tenant = core
        .create_tenant(&operator, "contoso", "Contoso Health")
        .await
        .map_err(describe)?
        .id;
    let mut lines = vec![String::from(
        "Sign in at POST /api/v1/auth/sign-in {\"tenant\": \"contoso\", \"username\": …, \
         \"password\": …, \"totp\": …}, or call the API with a token:",
    )];
    let mut people = Vec::new();
    for (username, name, role) in [
        ("admin", "Dana Admin", Role::TenantAdmin),
        ("analyst", "Ari Analyst", Role::Analyst),
        ("reviewer", "Robin Reviewer", Role::Reviewer),
        ("clinician", "Dr Casey Clinician", Role::Clinician),
        ("researcher", "Riley Researcher", Role::Researcher),
        ("integration", "Lab integration", Role::Integration),
    ] {
        let demo = account(core, tenant, username, name, &[role], None).await?;
        lines.extend(demo.lines);
        people.push(demo.principal);
    }
    let mut people = people.into_iter();
    let (Some(admin), Some(analyst), Some(reviewer)) =
        (people.next(), people.next(), people.next())
    else {
        anyhow::bail!("the demo accounts were not created");
    };
    let analyst = as_principal(analyst);
    let reviewer = as_principal(reviewer);
    let mut apps = Vec::new();
    for (name, workbook) in SAMPLES {
        let source = AppSource::Xlsx(workbook.to_vec());
        let app = core
            .import_app(&analyst, tenant, Some(name.to_owned()), &source)
            .await
            .map_err(describe)?
            .stored
            .app
            .id;
        core.step_version(
            &analyst,
            tenant,
            app,
            1,
            VersionStep::SubmitForReview,
            StepNote::default(),
        )
        .await
        .map_err(describe)?;
        approve_acknowledging(core, &reviewer, tenant, app).await?;
        apps.push((name, app));
    }
    let app = apps[0].1;

    let admin = as_principal(admin);
    lines.extend(
        apps.iter()
            .map(|(name, id)| format!("  app          : {name}, id {id}")),
    );
    let now = core_now();
    let mut wobble = Wobble(42);
    for (mrn, name) in PATIENTS {
        let subject = core
            .register_subject(
                &admin,
                tenant,
                RegisterSubject {
                    identifiers: vec![Identifier {
                        system: MRN_SYSTEM.into(),
                        value: mrn.into(),
                    }],
                    display_name: Some(name.into()),
                    birth_date: None,
                },
            )
            .await
            .map_err(describe)?
            .id;
        let username = mrn.to_ascii_lowercase();
        let patient = account(
            core,
            tenant,
            &username,
            name,
            &[Role::Patient],
            Some(subject),
        )
        .await?;
        lines.extend(patient.lines);
        lines.push(format!("      patient      : {mrn}, subject {subject}"));
        for day in 0..DAYS {
            let authored_at =
                now.plus_micros(-(DAYS - day) * 86_400_000_000 + wobble.next(0, 3_600) * 1_000_000);
            let answers = format!(
                r#"{{"heart_rate":{},"spo2":{},"temperature":{:.1},"systolic":{},"diastolic":{},"weight":{:.1},"respiration_rate":{},"consciousness":"alert","oxygen":"air","symptoms":{}}}"#,
                wobble.next(58, 96),
                wobble.next(93, 99),
                wobble.next(361, 378) as f64 / 10.0,
                wobble.next(108, 142),
                wobble.next(66, 90),
                wobble.next(700, 720) as f64 / 10.0,
                wobble.next(12, 22),
                [
                    r#"[]"#,
                    r#"[]"#,
                    r#"["cough"]"#,
                    r#"[]"#,
                    r#"["breathless"]"#
                ][wobble.next(0, 4) as usize],
            );
            core.submit(
                &admin,
                tenant,
                SubmitAnswers {
                    subject,
                    app,
                    app_version: Some(1),
                    authored_at: Some(authored_at),
                    answers: RawValue::from_string(answers)?,
                    idempotency_key: Some(format!("demo-{mrn}-{day}")),
                },
            )
            .await
            .map_err(describe)?;
        }
    }
    Ok(lines.join("\n") + "\n")
}

/// Approves version 1 as the demo's reviewer, who acknowledges each lint warning the version
/// has (the sample apps have none today; a sample that gains one still seeds).
async fn approve_acknowledging(
    core: &Core,
    reviewer: &RequestContext,
    tenant: hale_domain::TenantId,
    app: hale_domain::AppId,
) -> anyhow::Result<()> {
    let mut note = StepNote {
        comment: Some("Demo app reviewed".into()),
        acknowledged: Vec::new(),
    };
    let approve =
        |note: StepNote| core.step_version(reviewer, tenant, app, 1, VersionStep::Approve, note);
    match approve(note.clone()).await {
        Err(hale_core::CoreError::WarningsUnacknowledged(open)) => {
            note.acknowledged = open
                .warnings
                .into_iter()
                .map(|warning| warning.id)
                .collect();
            approve(note).await.map_err(describe)?;
        }
        other => {
            other.map_err(describe)?;
        }
    }
    Ok(())
}

/// Assigns each sample app to each demo patient that does not have it yet: everything in a
/// fresh demo, nothing in one already assigned. Patients registered later are left alone.
async fn assign_samples(core: &Core, tenant: hale_domain::TenantId) -> anyhow::Result<()> {
    let operator = operator();
    let apps = core.list_apps(&operator, tenant).await.map_err(describe)?;
    let subjects = core
        .list_subjects(&operator, tenant, None, Some(hale_core::MAX_PAGE_SIZE))
        .await
        .map_err(describe)?;
    let patients = subjects.items.iter().filter(|subject| {
        subject.identifiers.iter().any(|identifier| {
            identifier.system == MRN_SYSTEM
                && PATIENTS.iter().any(|(mrn, _)| *mrn == identifier.value)
        })
    });
    for patient in patients {
        let assigned = core
            .list_assignments(&operator, tenant, patient.id)
            .await
            .map_err(describe)?;
        for (name, schedule) in SCHEDULES {
            let Some(app) = apps.iter().find(|app| app.name == name) else {
                continue;
            };
            if assigned
                .iter()
                .any(|assignment| assignment.app_id == app.id)
            {
                continue;
            }
            core.assign(
                &operator,
                tenant,
                NewAssignment {
                    subject: patient.id,
                    app: app.id,
                    schedule,
                    starts_on: None,
                },
            )
            .await
            .map_err(describe)?;
        }
    }
    Ok(())
}

fn core_now() -> Timestamp {
    use hale_domain::Clock;
    hale_core::SystemClock.now()
}
