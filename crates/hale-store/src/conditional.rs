//! Reads that a use case pairs with a conditional write: the version a decision was made at,
//! so the append can insist on it, and the claim an idempotent retry replays.

use hale_domain::{AppId, TenantId};

use crate::Store;
use crate::error::StoreError;
use crate::queries::{APP_VERSION_COLUMNS, AppVersionRow, app_version_row};

/// An idempotency key already claimed: the request it came with and the stream it created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimedKey {
    /// SHA-256 of the first request, hex.
    pub request_hash: String,
    /// The stream the first request created (a submission's id).
    pub stream_id: String,
}

impl Store {
    /// An app version together with the version of its app's event stream, read in one
    /// statement so that both come from the same snapshot: an append expecting that stream
    /// version fails if anything changed the app since.
    pub async fn app_version_and_stream_version(
        &self,
        tenant: TenantId,
        app: AppId,
        version: i64,
    ) -> Result<Option<(AppVersionRow, i64)>, StoreError> {
        let mut read = self.scoped_read(tenant).await?;
        let row = sqlx::query(&format!(
            "SELECT {APP_VERSION_COLUMNS}, (SELECT MAX(stream_version) FROM events \
             WHERE tenant_id = $1 AND stream_kind = 'app' AND stream_id = $2) AS app_stream_version \
             FROM app_versions WHERE tenant_id = $1 AND app_id = $2 AND version = $3"
        ))
        .bind(tenant.to_string())
        .bind(app.to_string())
        .bind(version)
        .fetch_optional(read.connection())
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let stream_version: Option<i64> = sqlx::Row::try_get(&row, "app_stream_version")?;
        let stream_version = stream_version
            .ok_or_else(|| StoreError::Corrupt("an app version has no app stream".into()))?;
        Ok(Some((app_version_row(&row)?, stream_version)))
    }

    /// The claim on an idempotency key by one actor in one tenant, if any.
    pub async fn claimed_key(
        &self,
        tenant: TenantId,
        actor: &str,
        key: &str,
    ) -> Result<Option<ClaimedKey>, StoreError> {
        let mut read = self.scoped_read(tenant).await?;
        let row: Option<(Vec<u8>, Vec<u8>)> = sqlx::query_as(
            "SELECT request_hash, stream_id FROM idempotency_keys \
             WHERE tenant_key = (SELECT tenant_key FROM tenants WHERE id = $1) AND actor = $2 \
             AND idempotency_key = $3",
        )
        .bind(tenant.to_string())
        .bind(actor)
        .bind(key)
        .fetch_optional(read.connection())
        .await?;
        let Some((request_hash, stream_id)) = row else {
            return Ok(None);
        };
        let (request_hash, stream_id) = crate::plan::stored_claim(&request_hash, &stream_id)?;
        Ok(Some(ClaimedKey {
            request_hash,
            stream_id,
        }))
    }
}
