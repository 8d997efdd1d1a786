//! Everything the load needs before it starts: the tenant and tokens through the `hale` CLI,
//! then subjects and the published app through the HTTP API, as a real deployment gets them.

use anyhow::{Context, Result, anyhow};
use hyper::StatusCode;
use serde_json::{Value, json};

use crate::client::Connection;
use crate::server::{Hale, Server};
use crate::workload;

pub const TENANT_SLUG: &str = "bench";
pub const SUBJECTS: usize = 100;
/// How many tenants write at once in the many-tenants load.
pub const TENANTS_AT_ONCE: usize = 10;

/// The tenants of the many-tenants load, beside the main one.
pub fn many_tenant_slugs() -> Vec<String> {
    (1..=TENANTS_AT_ONCE)
        .map(|number| format!("{TENANT_SLUG}-{number:02}"))
        .collect()
}

/// The tokens the benchmark acts with; each is a different principal.
pub struct Tokens {
    /// tenant-admin and analyst: creates subjects and the app, submits it for review.
    pub admin: String,
    /// reviewer: approves the app version.
    pub reviewer: String,
    /// clinician: posts the submissions under load.
    pub clinician: String,
}

/// What the load runs against.
pub struct Fixture {
    /// The tenant as it appears in API paths.
    pub tenant: String,
    pub tokens: Tokens,
    pub subjects: Vec<String>,
    pub app_id: String,
}

/// Before the server starts: migrate, then create each tenant of `slugs` and issue its tokens.
pub async fn provision(hale: &Hale, slugs: &[String]) -> Result<Vec<(String, Tokens)>> {
    hale.run(&["migrate"]).await?;
    let mut provisioned = Vec::with_capacity(slugs.len());
    for slug in slugs {
        provisioned.push((slug.clone(), provision_tenant(hale, slug).await?));
    }
    Ok(provisioned)
}

async fn provision_tenant(hale: &Hale, slug: &str) -> Result<Tokens> {
    let name = format!("Bench Health {slug}");
    let created = hale
        .run(&["tenant", "create", "--slug", slug, "--name", &name])
        .await?;
    let created: Value = serde_json::from_str(created.trim())
        .with_context(|| format!("`hale tenant create` printed {created:?}, not JSON"))?;
    if created.get("id").is_none() {
        return Err(anyhow!("`hale tenant create` printed no id: {created}"));
    }
    let issue = |roles: &'static [&'static str], label: &'static str| async move {
        let mut args = vec!["token", "issue", "--tenant", slug];
        for role in roles {
            args.extend(["--role", role]);
        }
        args.extend(["--label", label]);
        let output = hale.run(&args).await?;
        let token = output
            .lines()
            .map(str::trim)
            .find(|line| line.starts_with("hale_"))
            .ok_or_else(|| anyhow!("`hale token issue` printed no hale_ token"))?;
        Ok::<_, anyhow::Error>(token.to_owned())
    };
    Ok(Tokens {
        admin: issue(&["tenant-admin", "analyst"], "bench admin").await?,
        reviewer: issue(&["reviewer"], "bench reviewer").await?,
        clinician: issue(&["clinician"], "bench clinician").await?,
    })
}

/// Once the server is up: a tenant's subjects, and its app created, submitted and approved.
pub async fn populate(server: &Server, tenant: String, tokens: Tokens) -> Result<Fixture> {
    let mut connection = Connection::open(server.address).await?;
    let base = format!("/api/v1/tenants/{tenant}");

    let mut subjects = Vec::with_capacity(SUBJECTS);
    for number in 1..=SUBJECTS {
        let body = json!({"identifiers": [{"system": "urn:bench", "value": format!("p{number}")}]});
        let created = connection
            .post_json(&format!("{base}/subjects"), &tokens.admin, &body)
            .await?
            .json(StatusCode::CREATED, "creating a subject")?;
        subjects.push(string_member(&created, "id", "a created subject")?);
    }

    let body = json!({"name": "Bench vitals", "definition": workload::app_definition()});
    let app = connection
        .post_json(&format!("{base}/apps"), &tokens.admin, &body)
        .await?
        .json(StatusCode::CREATED, "creating the app")?;
    let app_id = string_member(&app, "id", "the created app")?;
    let version = app
        .get("versions")
        .and_then(|versions| versions.get(0))
        .and_then(|version| version.get("version"))
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let version_path = format!("{base}/apps/{app_id}/versions/{version}");
    let submitted = connection
        .post_json(&format!("{version_path}/submit"), &tokens.admin, &json!({}))
        .await?;
    expect_success(
        &submitted.status,
        &submitted.body,
        "submitting the app for review",
    )?;
    let approved = connection
        .post_json(
            &format!("{version_path}/approve"),
            &tokens.reviewer,
            &json!({}),
        )
        .await?;
    expect_success(&approved.status, &approved.body, "approving the app")?;

    Ok(Fixture {
        tenant,
        tokens,
        subjects,
        app_id,
    })
}

fn string_member(value: &Value, name: &str, what: &str) -> Result<String> {
    value
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("{what} has no string \"{name}\": {value}"))
}

fn expect_success(status: &StatusCode, body: &[u8], what: &str) -> Result<()> {
    if status.is_success() {
        Ok(())
    } else {
        Err(anyhow!(
            "{what}: got {status}: {}",
            String::from_utf8_lossy(body)
        ))
    }
}
