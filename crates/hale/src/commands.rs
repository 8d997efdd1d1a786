//! The administrative commands. They act as the local operator: whoever can run the binary
//! against the database already holds the keys to it (break-glass access, as with a database
//! console), and every change they make is still an event in the log.

use std::process::ExitCode;

use anyhow::Context;
use hale_core::{Core, IssueToken};
use hale_domain::{Principal, PrincipalId, RequestContext, Role};
use hale_store::{ChainCustody, Store, StoreOptions};
use serde_json::json;

use crate::config::Settings;

/// Opens the store and applies migrations.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    if settings.database_url.expose().starts_with("sqlite:") {
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("creating data directory {}", settings.data_dir.display()))?;
    }
    let custody = ChainCustody::load_or_create(&settings.chain_key_file).with_context(|| {
        format!(
            "opening the chain key {}",
            settings.chain_key_file.display()
        )
    })?;
    let store = Store::open(
        settings.database_url.expose(),
        StoreOptions::default(),
        custody,
    )
    .await
    .context("opening the database")?;
    store.migrate().await.context("applying migrations")?;
    Ok(store)
}

/// The local operator's request context: break-glass, with every role (a platform
/// administrator alone reaches no tenant's data), as whoever can run the binary against the
/// database can read it anyway. Every call is still audited as this operator.
pub fn operator() -> RequestContext {
    let principal = Principal {
        id: PrincipalId::from_uuid(uuid::Uuid::nil()),
        tenant: None,
        roles: vec![
            Role::PlatformAdmin,
            Role::TenantAdmin,
            Role::Analyst,
            Role::Reviewer,
            Role::Clinician,
            Role::Researcher,
            Role::Integration,
        ],
        subject: None,
        kind: hale_domain::AccountKind::User,
        scopes: hale_domain::scope::Scopes::unrestricted(),
    };
    RequestContext::new(principal, format!("cli-{}", uuid::Uuid::new_v4()), "cli")
}

pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    open_store(settings).await?;
    println!("migrations applied");
    Ok(())
}

pub async fn tenant_create(settings: &Settings, slug: &str, name: &str) -> anyhow::Result<()> {
    let core = Core::with_system(open_store(settings).await?);
    let tenant = core
        .create_tenant(&operator(), slug, name)
        .await
        .map_err(describe)?;
    println!(
        "{}",
        json!({"id": tenant.id.to_string(), "slug": tenant.slug, "name": tenant.name})
    );
    Ok(())
}

pub async fn tenant_list(settings: &Settings) -> anyhow::Result<()> {
    let core = Core::with_system(open_store(settings).await?);
    for tenant in core.list_tenants(&operator()).await.map_err(describe)? {
        println!(
            "{}",
            json!({"id": tenant.id.to_string(), "slug": tenant.slug, "name": tenant.name})
        );
    }
    Ok(())
}

pub async fn token_issue(
    settings: &Settings,
    tenant: Option<&str>,
    roles: &[String],
    subject: Option<&str>,
    label: String,
) -> anyhow::Result<()> {
    let core = Core::with_system(open_store(settings).await?);
    let context = operator();
    let tenant = match tenant {
        Some(reference) => Some(
            core.resolve_tenant(&context, reference)
                .await
                .map_err(describe)?,
        ),
        None => None,
    };
    let roles = crate::users::parse_roles(roles)?;
    let subject = subject
        .map(|id| {
            id.parse()
                .map_err(|_| anyhow::anyhow!("--subject must be a subject id"))
        })
        .transpose()?;
    let issued = core
        .issue_token(
            &context,
            IssueToken {
                tenant,
                roles,
                subject,
                label,
            },
        )
        .await
        .map_err(describe)?;
    println!("{}", issued.token.expose());
    Ok(())
}

pub async fn audit_verify(settings: &Settings) -> anyhow::Result<ExitCode> {
    let store = open_store(settings).await?;
    let report = store
        .verify_chains()
        .await
        .context("reading the event log")?;
    for chain in &report.chains {
        match chain.broken {
            None => println!(
                "ok      tenant {} — {} entries verified",
                chain.tenant, chain.verified
            ),
            Some((seq, reason)) => println!(
                "BROKEN  tenant {} — entry {seq}: {reason} ({} entries before it verified)",
                chain.tenant, chain.verified
            ),
        }
    }
    if let Some(reason) = report.checkpoints {
        println!("BROKEN  checkpoints — {reason}");
    }
    for drift in &report.read_models {
        println!(
            "BROKEN  read model {} — {}: {}",
            drift.table, drift.key, drift.reason
        );
    }
    if report.is_intact() {
        println!(
            "event log intact: {} entries in {} chains; read models match the log",
            report.entries(),
            report.chains.len()
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!("event log TAMPERED");
        Ok(ExitCode::FAILURE)
    }
}

pub async fn rebuild(settings: &Settings) -> anyhow::Result<()> {
    let store = open_store(settings).await?;
    let replayed = store
        .rebuild_projections()
        .await
        .context("rebuilding projections")?;
    println!("projections rebuilt from {replayed} events");
    Ok(())
}

/// Turns a core error into a message for the operator.
pub fn describe(error: hale_core::CoreError) -> anyhow::Error {
    match &error {
        hale_core::CoreError::Invalid(errors) => {
            let fields: Vec<String> = errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect();
            anyhow::anyhow!("{error}: {}", fields.join("; "))
        }
        hale_core::CoreError::InvalidDefinition(errors) => {
            let fields: Vec<String> = errors
                .iter()
                .map(|e| format!("{}: {}", e.path, e.message))
                .collect();
            anyhow::anyhow!("{error}: {}", fields.join("; "))
        }
        _ => anyhow::anyhow!("{error}"),
    }
}
