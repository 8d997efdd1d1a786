//! Expiry of idempotency claims. A claim lets a retried request replay its first outcome; it
//! only has to outlive the retries, so claims older than the retention are deleted. The claims
//! table keeps one tree, clustered by (tenant, actor, key), and no index on time: instead of
//! an insert into a second tree with every submission, a sweep walks the claims in key order
//! a bounded step at a time and deletes, in each step's key range, those created before the
//! cutoff. A claim younger than the retention is never deleted; an older one is gone once the
//! walk has passed it.

use hale_domain::Timestamp;

use crate::Store;
use crate::error::StoreError;

/// Where a sweep stands: the last claim key a step covered. [`ClaimCursor::default`] is the
/// start, before every key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClaimCursor {
    /// The tenant's key (`tenants.tenant_key`, at least 1: the default is before them all).
    tenant_key: i64,
    actor: String,
    key: String,
}

/// What one step did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimSweep {
    /// Claims deleted in this step.
    pub expired: u64,
    /// Where the next step starts; `None` once the walk has reached the last claim.
    pub next: Option<ClaimCursor>,
}

/// The `step`-th key after the cursor: the end of this step's range.
const RANGE_END_SQL: &str = "SELECT tenant_key, actor, idempotency_key FROM idempotency_keys \
     WHERE (tenant_key, actor, idempotency_key) > ($1, $2, $3) \
     ORDER BY tenant_key, actor, idempotency_key LIMIT 1 OFFSET $4";

const DELETE_RANGE_SQL: &str = "DELETE FROM idempotency_keys \
     WHERE (tenant_key, actor, idempotency_key) > ($1, $2, $3) \
     AND (tenant_key, actor, idempotency_key) <= ($4, $5, $6) AND created_at < $7";

const DELETE_REST_SQL: &str = "DELETE FROM idempotency_keys \
     WHERE (tenant_key, actor, idempotency_key) > ($1, $2, $3) AND created_at < $4";

impl Store {
    /// One step of the sweep: looks at the next `step` claims after `cursor` (at least one) in
    /// key order and deletes those created before `cutoff`. Each step is one short write, so
    /// the writer waits at most for one step.
    pub async fn expire_idempotency_claims(
        &self,
        cursor: &ClaimCursor,
        cutoff: Timestamp,
        step: u32,
    ) -> Result<ClaimSweep, StoreError> {
        let offset = i64::from(step.max(1)) - 1;
        let end: Option<(i64, String, String)> = sqlx::query_as(RANGE_END_SQL)
            .bind(cursor.tenant_key)
            .bind(&cursor.actor)
            .bind(&cursor.key)
            .bind(offset)
            .fetch_optional(self.write_pool())
            .await?;
        let (expired, next) = match end {
            Some((tenant_key, actor, key)) => {
                let deleted = sqlx::query(DELETE_RANGE_SQL)
                    .bind(cursor.tenant_key)
                    .bind(&cursor.actor)
                    .bind(&cursor.key)
                    .bind(tenant_key)
                    .bind(&actor)
                    .bind(&key)
                    .bind(cutoff.as_micros())
                    .execute(self.write_pool())
                    .await?;
                let next = ClaimCursor {
                    tenant_key,
                    actor,
                    key,
                };
                (deleted.rows_affected(), Some(next))
            }
            None => {
                let deleted = sqlx::query(DELETE_REST_SQL)
                    .bind(cursor.tenant_key)
                    .bind(&cursor.actor)
                    .bind(&cursor.key)
                    .bind(cutoff.as_micros())
                    .execute(self.write_pool())
                    .await?;
                (deleted.rows_affected(), None)
            }
        };
        Ok(ClaimSweep { expired, next })
    }

    /// A whole pass of the sweep, `step` claims at a time; returns the number deleted.
    pub async fn expire_all_idempotency_claims(
        &self,
        cutoff: Timestamp,
        step: u32,
    ) -> Result<u64, StoreError> {
        let mut cursor = ClaimCursor::default();
        let mut expired = 0;
        loop {
            let sweep = self
                .expire_idempotency_claims(&cursor, cutoff, step)
                .await?;
            expired += sweep.expired;
            match sweep.next {
                Some(next) => cursor = next,
                None => return Ok(expired),
            }
        }
    }
}
