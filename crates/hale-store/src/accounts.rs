//! Reads of accounts and their credentials. Secrets are looked up by their hash, so timing says
//! nothing about a stored secret; every credential read joins its account, so a disabled
//! account or a revoked credential is refused on the very next request, on every replica.

use hale_domain::{PrincipalId, SubjectId, TenantId, Timestamp};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Store;
use crate::error::StoreError;
use crate::queries::parse_id;

/// An account as stored. `tenant_id` is `None` for platform accounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountRow {
    pub id: PrincipalId,
    pub tenant_id: Option<TenantId>,
    pub kind: String,
    pub username: String,
    pub display_name: String,
    pub roles: Vec<String>,
    pub subject_id: Option<SubjectId>,
    pub disabled: bool,
    pub password_hash: Option<String>,
    pub totp_secret: Option<String>,
    pub totp_last_step: Option<i64>,
    /// Credentials from an identity provider issued before this are void.
    pub signed_out_at: Option<Timestamp>,
    /// The account stream's version: sign-ins append against it.
    pub version: i64,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeyRow {
    pub id: String,
    pub account_id: PrincipalId,
    pub label: String,
    pub scopes: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    pub account_id: PrincipalId,
    pub csrf_hash: String,
    pub mfa: bool,
    pub method: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    /// The roles a provider's claims gave at sign-in; `None` for a local sign-in.
    pub roles: Option<Vec<String>>,
}

const ACCOUNT_COLUMNS: &str = "a.id, a.tenant_id, a.kind, a.username, a.display_name, a.roles, \
     a.subject_id, a.disabled, a.password_hash, a.totp_secret, a.totp_last_step, \
     a.signed_out_at, a.version, a.created_at";

fn time(row: &AnyRow, column: &str) -> Result<Option<Timestamp>, StoreError> {
    Ok(row
        .try_get::<Option<i64>, _>(column)?
        .map(Timestamp::from_micros))
}

fn account_row(row: &AnyRow) -> Result<AccountRow, StoreError> {
    let tenant: TenantId = parse_id(&row.try_get::<String, _>("tenant_id")?)?;
    Ok(AccountRow {
        id: parse_id(&row.try_get::<String, _>("id")?)?,
        tenant_id: (tenant != TenantId::PLATFORM).then_some(tenant),
        kind: row.try_get("kind")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        roles: row
            .try_get::<String, _>("roles")?
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        subject_id: row
            .try_get::<Option<String>, _>("subject_id")?
            .as_deref()
            .map(parse_id)
            .transpose()?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        password_hash: row.try_get("password_hash")?,
        totp_secret: row.try_get("totp_secret")?,
        totp_last_step: row.try_get("totp_last_step")?,
        signed_out_at: time(row, "signed_out_at")?,
        version: row.try_get("version")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
    })
}

fn api_key_row(row: &AnyRow) -> Result<ApiKeyRow, StoreError> {
    Ok(ApiKeyRow {
        id: row.try_get("key_id")?,
        account_id: parse_id(&row.try_get::<String, _>("key_account")?)?,
        label: row.try_get("label")?,
        scopes: row.try_get("scopes")?,
        created_at: Timestamp::from_micros(row.try_get("key_created_at")?),
        expires_at: time(row, "expires_at")?,
        revoked_at: time(row, "revoked_at")?,
        last_used_at: time(row, "last_used_at")?,
    })
}

const API_KEY_COLUMNS: &str = "k.id AS key_id, k.account_id AS key_account, k.label, k.scopes, \
     k.created_at AS key_created_at, k.expires_at, k.revoked_at, u.last_used_at";

impl Store {
    pub async fn account(&self, id: PrincipalId) -> Result<Option<AccountRow>, StoreError> {
        sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(self.unscoped_reader())
        .await?
        .as_ref()
        .map(account_row)
        .transpose()
    }

    /// The account named `username` (already normalised) in `tenant`, or on the platform.
    pub async fn account_by_username(
        &self,
        tenant: Option<TenantId>,
        username: &str,
    ) -> Result<Option<AccountRow>, StoreError> {
        sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.tenant_id = $1 AND a.username = $2"
        ))
        .bind(tenant.unwrap_or(TenantId::PLATFORM).to_string())
        .bind(username)
        .fetch_optional(self.unscoped_reader())
        .await?
        .as_ref()
        .map(account_row)
        .transpose()
    }

    /// A tenant's accounts (or the platform's, for `None`), by username.
    pub async fn accounts(&self, tenant: Option<TenantId>) -> Result<Vec<AccountRow>, StoreError> {
        sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.tenant_id = $1 ORDER BY a.username"
        ))
        .bind(tenant.unwrap_or(TenantId::PLATFORM).to_string())
        .fetch_all(self.unscoped_reader())
        .await?
        .iter()
        .map(account_row)
        .collect()
    }

    /// Whether any account exists at all (the first start bootstraps an administrator).
    pub async fn has_accounts(&self) -> Result<bool, StoreError> {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM accounts")
            .fetch_one(self.unscoped_reader())
            .await?;
        Ok(count > 0)
    }

    /// The API key with this hash and its account, revoked or expired ones included (the core
    /// decides), in one read.
    pub async fn api_key_by_hash(
        &self,
        key_hash: &str,
    ) -> Result<Option<(ApiKeyRow, AccountRow)>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {API_KEY_COLUMNS}, {ACCOUNT_COLUMNS} FROM api_keys k \
             JOIN accounts a ON a.id = k.account_id \
             LEFT JOIN credential_activity u ON u.credential_hash = k.key_hash \
             WHERE k.key_hash = $1"
        ))
        .bind(key_hash)
        .fetch_optional(self.unscoped_reader())
        .await?;
        row.map(|row| Ok((api_key_row(&row)?, account_row(&row)?)))
            .transpose()
    }

    /// An account's API keys, newest first.
    pub async fn api_keys(&self, account: PrincipalId) -> Result<Vec<ApiKeyRow>, StoreError> {
        sqlx::query(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys k \
             LEFT JOIN credential_activity u ON u.credential_hash = k.key_hash \
             WHERE k.account_id = $1 ORDER BY k.created_at DESC, k.id"
        ))
        .bind(account.to_string())
        .fetch_all(self.unscoped_reader())
        .await?
        .iter()
        .map(api_key_row)
        .collect()
    }

    /// The web session with this hash and its account, in one read.
    pub async fn session_by_hash(
        &self,
        session_hash: &str,
    ) -> Result<Option<(SessionRow, AccountRow)>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT s.account_id AS session_account, s.csrf_hash, s.mfa, s.method, \
             s.created_at AS session_created_at, s.expires_at AS session_expires_at, \
             s.roles AS session_roles, \
             u.last_used_at, {ACCOUNT_COLUMNS} FROM sessions s \
             JOIN accounts a ON a.id = s.account_id \
             LEFT JOIN credential_activity u ON u.credential_hash = s.session_hash \
             WHERE s.session_hash = $1"
        ))
        .bind(session_hash)
        .fetch_optional(self.unscoped_reader())
        .await?;
        row.map(|row| {
            let session = SessionRow {
                account_id: parse_id(&row.try_get::<String, _>("session_account")?)?,
                csrf_hash: row.try_get("csrf_hash")?,
                mfa: row.try_get::<i64, _>("mfa")? != 0,
                method: row.try_get("method")?,
                created_at: Timestamp::from_micros(row.try_get("session_created_at")?),
                expires_at: Timestamp::from_micros(row.try_get("session_expires_at")?),
                last_used_at: time(&row, "last_used_at")?,
                roles: row
                    .try_get::<Option<String>, _>("session_roles")?
                    .map(|roles| roles.split_whitespace().map(String::from).collect()),
            };
            Ok((session, account_row(&row)?))
        })
        .transpose()
    }

    /// The account an invitation is for, and when the invitation lapses.
    pub async fn invite(
        &self,
        invite_hash: &str,
    ) -> Result<Option<(AccountRow, Timestamp)>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT i.expires_at AS invite_expires_at, {ACCOUNT_COLUMNS} FROM account_invites i \
             JOIN accounts a ON a.id = i.account_id WHERE i.invite_hash = $1"
        ))
        .bind(invite_hash)
        .fetch_optional(self.unscoped_reader())
        .await?;
        row.map(|row| {
            Ok((
                account_row(&row)?,
                Timestamp::from_micros(row.try_get("invite_expires_at")?),
            ))
        })
        .transpose()
    }

    /// The hashes of an account's recovery codes not yet used.
    pub async fn unused_recovery_codes(
        &self,
        account: PrincipalId,
    ) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT code_hash FROM recovery_codes WHERE account_id = $1 AND used_at IS NULL \
             ORDER BY code_hash",
        )
        .bind(account.to_string())
        .fetch_all(self.unscoped_reader())
        .await?;
        Ok(rows.into_iter().map(|(hash,)| hash).collect())
    }

    /// The account linked to an identity at an OpenID provider.
    pub async fn account_by_link(
        &self,
        issuer: &str,
        external_subject: &str,
    ) -> Result<Option<AccountRow>, StoreError> {
        sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM account_links l JOIN accounts a ON a.id = l.account_id \
             WHERE l.issuer = $1 AND l.external_subject = $2"
        ))
        .bind(issuer)
        .bind(external_subject)
        .fetch_optional(self.unscoped_reader())
        .await?
        .as_ref()
        .map(account_row)
        .transpose()
    }

    /// Records that a session or API key was used now. Not an event: callers touch a
    /// credential at most about once a minute, and the row is never rebuilt.
    pub async fn touch_credential(
        &self,
        credential_hash: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO credential_activity (credential_hash, last_used_at) VALUES ($1, $2) \
             ON CONFLICT (credential_hash) DO UPDATE SET last_used_at = excluded.last_used_at",
        )
        .bind(credential_hash)
        .bind(at.as_micros())
        .execute(self.unscoped_reader())
        .await?;
        Ok(())
    }

    /// Keeps a sign-in begun at a provider until its callback, sweeping the ones that lapsed.
    pub async fn put_pending_login(
        &self,
        state_hash: &str,
        binding_hash: &str,
        payload: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM pending_logins WHERE expires_at <= $1")
            .bind(now.as_micros())
            .execute(self.unscoped_reader())
            .await?;
        sqlx::query(
            "INSERT INTO pending_logins (state_hash, binding_hash, payload, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(state_hash)
        .bind(binding_hash)
        .bind(payload)
        .bind(expires_at.as_micros())
        .execute(self.unscoped_reader())
        .await?;
        Ok(())
    }

    /// Takes a pending sign-in once: the row is deleted as it is read, so a replayed callback
    /// finds nothing. Answers its payload and binding hash, unless it lapsed.
    pub async fn take_pending_login(
        &self,
        state_hash: &str,
        now: Timestamp,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM pending_logins WHERE state_hash = $1 \
             RETURNING payload, binding_hash, expires_at",
        )
        .bind(state_hash)
        .fetch_optional(self.unscoped_reader())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        if row.try_get::<i64, _>("expires_at")? <= now.as_micros() {
            return Ok(None);
        }
        Ok(Some((
            row.try_get("payload")?,
            row.try_get("binding_hash")?,
        )))
    }

    /// Every enabled person's roles, and whether they have a second factor enrolled or sign in
    /// through a provider: what the security posture reports as MFA coverage.
    pub async fn account_factors(&self) -> Result<Vec<AccountFactors>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.roles, \
             CASE WHEN a.totp_secret IS NULL THEN 0 ELSE 1 END AS totp, \
             CASE WHEN EXISTS (SELECT 1 FROM account_links l WHERE l.account_id = a.id) \
             THEN 1 ELSE 0 END AS linked \
             FROM accounts a WHERE a.disabled = 0 AND a.kind = 'user'",
        )
        .fetch_all(self.unscoped_reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AccountFactors {
                    roles: row
                        .try_get::<String, _>("roles")?
                        .split_whitespace()
                        .map(String::from)
                        .collect(),
                    totp: row.try_get::<i64, _>("totp")? != 0,
                    linked: row.try_get::<i64, _>("linked")? != 0,
                })
            })
            .collect()
    }
}

/// One person's roles and second factors, for the MFA coverage report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountFactors {
    pub roles: Vec<String>,
    pub totp: bool,
    /// Signs in through an OpenID provider (whose second factor Hale does not see here).
    pub linked: bool,
}
