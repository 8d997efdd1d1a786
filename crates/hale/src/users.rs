//! `hale user …` and `hale key …`: accounts and API keys from the command line, as the local
//! operator, through the same use cases as the API. Secrets (an invitation, a key) are printed
//! once on stdout and never logged; passwords are read from stdin, never from arguments.

use std::io::BufRead;

use anyhow::Context;
use hale_core::{Core, NewAccount, NewApiKey, Secret};
use hale_domain::{AccountKind, PrincipalId, Role, TenantId, Timestamp};
use serde_json::json;

use crate::commands::{describe, open_store, operator};
use crate::config::Settings;

/// An account to create, as the flags give it.
pub struct UserArgs {
    pub tenant: Option<String>,
    pub username: String,
    pub display_name: Option<String>,
    pub roles: Vec<String>,
    pub subject: Option<String>,
    pub integration: bool,
}

/// How the new account gets its password.
pub enum Password {
    /// Read one line from stdin.
    Stdin,
    /// A one-time invitation, printed once, sets it.
    Invite,
}

pub fn parse_roles(roles: &[String]) -> anyhow::Result<Vec<Role>> {
    roles
        .iter()
        .map(|role| {
            role.parse::<Role>()
                .map_err(|error| anyhow::anyhow!("{role}: {error}"))
        })
        .collect()
}

async fn tenant(core: &Core, reference: Option<&str>) -> anyhow::Result<Option<TenantId>> {
    match reference {
        Some(reference) => Ok(Some(
            core.resolve_tenant(&operator(), reference)
                .await
                .map_err(describe)?,
        )),
        None => Ok(None),
    }
}

fn account_id(text: &str) -> anyhow::Result<PrincipalId> {
    text.parse()
        .map_err(|_| anyhow::anyhow!("`{text}` is not an account id"))
}

fn read_password() -> anyhow::Result<Secret> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        anyhow::bail!("no password on stdin (send it as one line)");
    }
    Ok(Secret::new(password))
}

pub async fn create(settings: &Settings, args: UserArgs, password: Password) -> anyhow::Result<()> {
    let core = Core::with_system(open_store(settings).await?);
    let password = match password {
        Password::Stdin if args.integration => {
            anyhow::bail!("an integration has no password: give it a key (`hale key create`)")
        }
        Password::Stdin => Some(read_password()?),
        Password::Invite => None,
    };
    let request = NewAccount {
        tenant: tenant(&core, args.tenant.as_deref()).await?,
        kind: if args.integration {
            AccountKind::Integration
        } else {
            AccountKind::User
        },
        display_name: args.display_name.unwrap_or_else(|| args.username.clone()),
        username: args.username,
        roles: parse_roles(&args.roles)?,
        subject: args
            .subject
            .map(|id| {
                id.parse()
                    .map_err(|_| anyhow::anyhow!("--subject must be a subject id"))
            })
            .transpose()?,
        password,
    };
    let created = core
        .create_account(&operator(), request)
        .await
        .map_err(describe)?;
    println!(
        "{}",
        json!({
            "account_id": created.account_id.to_string(),
            "invite": created.invite.as_ref().map(Secret::expose),
        })
    );
    Ok(())
}

pub async fn list(settings: &Settings, tenant_reference: &str) -> anyhow::Result<()> {
    let core = Core::with_system(open_store(settings).await?);
    let tenant = tenant(&core, Some(tenant_reference))
        .await?
        .context("a tenant is required")?;
    for account in core
        .list_accounts(&operator(), tenant)
        .await
        .map_err(describe)?
    {
        println!(
            "{}",
            json!({
                "account_id": account.id.to_string(),
                "kind": account.kind.as_str(),
                "username": account.username,
                "display_name": account.display_name,
                "roles": account.roles.iter().map(|role| role.as_str()).collect::<Vec<_>>(),
                "subject_id": account.subject.map(|subject| subject.to_string()),
                "disabled": account.disabled,
                "mfa_enrolled": account.mfa_enrolled,
                "password_set": account.password_set,
            })
        );
    }
    Ok(())
}

pub async fn disable(settings: &Settings, account: &str) -> anyhow::Result<()> {
    let core = Core::with_system(open_store(settings).await?);
    core.disable_account(&operator(), account_id(account)?)
        .await
        .map_err(describe)?;
    println!("{}", json!({ "account_id": account, "disabled": true }));
    Ok(())
}

/// A key to create, as the flags give it.
pub struct KeyArgs {
    pub account: String,
    pub label: String,
    pub scopes: Option<String>,
    pub expires_in_days: Option<u32>,
}

pub async fn key_create(settings: &Settings, args: KeyArgs) -> anyhow::Result<()> {
    let core = Core::with_system(open_store(settings).await?);
    let expires_at = args.expires_in_days.map(|days| {
        Timestamp::from_micros(core.now().as_micros() + i64::from(days) * 86_400 * 1_000_000)
    });
    let issued = core
        .create_api_key(
            &operator(),
            NewApiKey {
                account: Some(account_id(&args.account)?),
                label: args.label,
                scopes: args.scopes,
                expires_at,
            },
        )
        .await
        .map_err(describe)?;
    println!(
        "{}",
        json!({
            "key_id": issued.key_id,
            "account_id": issued.account_id.to_string(),
            "key": issued.key.expose(),
        })
    );
    Ok(())
}

pub async fn key_revoke(settings: &Settings, account: &str, key: &str) -> anyhow::Result<()> {
    let core = Core::with_system(open_store(settings).await?);
    core.revoke_api_key(&operator(), account_id(account)?, key)
        .await
        .map_err(describe)?;
    println!("{}", json!({ "key_id": key, "revoked": true }));
    Ok(())
}
