//! A large database, made fast: before a load, the bench tenant's chain is extended by many
//! submissions of its own subjects and app, written straight into the database with the
//! engine bound's statements (`bound.rs`) in big transactions while the server is stopped.
//!
//! The rows are real, not placeholders: each event carries the payload the server would
//! record for its submission and is hashed into the tenant's chain with the server's chain key,
//! so the log stays chain-valid and every projection row can be rebuilt from it. Only the actor
//! is the benchmark's own, and the answers are random vitals.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use hale_domain::chain::ChainKey;
use hale_domain::{SubmissionId, TenantId};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;

use crate::bound::{self, Fixed, Head, Prepared, Submission};
use crate::engine::{Engine, FreshDatabase};
use crate::setup::Fixture;
use crate::workload::{VITALS, Vitals};

/// Submissions per transaction: large enough that commits cost nothing beside the rows.
const SQLITE_BATCH: usize = 10_000;
const POSTGRES_BATCH: usize = 5_000;

/// What the prefill wrote and how long it took.
#[derive(Clone, Debug, Serialize)]
pub struct PrefillFigures {
    pub observations: u64,
    pub submissions: u64,
    pub seconds: f64,
    pub submissions_per_second: f64,
    /// Always true: the rows extend the tenant's chain with real hashes (`hale audit verify`
    /// passed on a prefilled database of each engine, read models included).
    pub chain_valid: bool,
}

/// Submissions needed for `observations`: each holds one per vital.
pub fn submissions_for(observations: u64) -> u64 {
    observations.div_ceil(VITALS.len() as u64)
}

/// Fills `database` (its server stopped) with `observations` of `fixture`'s subjects.
pub async fn run(
    database: &FreshDatabase,
    fixture: &Fixture,
    observations: u64,
) -> Result<PrefillFigures> {
    let submissions = submissions_for(observations);
    let key_file = database.data_dir().join("keys").join("chain.key");
    if !key_file.is_file() {
        bail!("the server's chain key is not at {}", key_file.display());
    }
    let custody = hale_store::ChainCustody::load_or_create(&key_file)
        .context("reading the server's chain key")?;
    let subjects = fixture
        .subjects
        .iter()
        .map(|subject| subject.parse::<uuid::Uuid>())
        .collect::<Result<Vec<_>, _>>()
        .context("a subject id is not a UUID")?;
    let app: uuid::Uuid = fixture.app_id.parse().context("the app id is not a UUID")?;
    let order = Order {
        key: custody.key().clone(),
        slug: fixture.tenant.clone(),
        app,
        subjects,
        submissions,
    };
    let started = Instant::now();
    match database.engine {
        Engine::Sqlite => {
            let path = database.sqlite_file();
            tokio::task::spawn_blocking(move || sqlite(&path, order))
                .await
                .context("the SQLite prefill panicked")??;
        }
        Engine::Postgres => {
            postgres(&database.url, order).await?;
        }
    }
    let elapsed = started.elapsed();
    Ok(PrefillFigures {
        observations: submissions * VITALS.len() as u64,
        submissions,
        seconds: elapsed.as_secs_f64(),
        submissions_per_second: submissions as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        chain_valid: true,
    })
}

/// Plans one batch of real submissions: a payload made for each, as the server records it.
fn plan(
    fixed: &Fixed,
    rng: &mut StdRng,
    counter: &mut u64,
    size: usize,
    head: &mut Head,
    at: i64,
) -> Result<Vec<bound::Row>> {
    let mut answers = StdRng::from_os_rng();
    fixed.plan(rng, counter, size, head, at, |id, subject, counter| {
        let submission = Submission {
            id: SubmissionId::from_uuid(id),
            subject: fixed.subject(subject),
            app: fixed.app(),
            authored_at: at,
            idempotency_key: fixed.idempotency_key(counter),
            request_hash: fixed.request_hash().to_owned(),
        };
        Prepared::new(submission, &Vitals::random(&mut answers)).map(Arc::new)
    })
}

fn fixed(key: ChainKey, tenant: TenantId, app: uuid::Uuid, subjects: Vec<uuid::Uuid>) -> Fixed {
    // An actor of its own, so that its idempotency keys meet nobody else's.
    let actor = uuid::Uuid::new_v4().to_string();
    Fixed::new(key, tenant, app, subjects, actor, "prefill-")
}

/// The chain head as stored: its sequence number and the 32 bytes of its hash.
fn decode_head(seq: i64, hash: &[u8]) -> Result<Head> {
    let hash: [u8; 32] = hash
        .try_into()
        .map_err(|_| anyhow!("the chain head's hash is not 32 bytes"))?;
    Ok(Head { seq, hash })
}

/// Prints how far the prefill is, every tenth of the way.
struct Progress {
    total: u64,
    next_tenth: u64,
    started: Instant,
}

impl Progress {
    fn new(total: u64) -> Self {
        Self {
            total,
            next_tenth: 1,
            started: Instant::now(),
        }
    }

    fn wrote(&mut self, done: u64) {
        if self.total > 0 && done * 10 >= self.next_tenth * self.total {
            eprintln!(
                "   prefill: {done} of {} submissions ({} s)",
                self.total,
                self.started.elapsed().as_secs()
            );
            self.next_tenth = done * 10 / self.total + 1;
        }
    }
}

fn unix_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| i64::try_from(since.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// What to prefill: the tenant's slug and chain key, its app and subjects, how many submissions.
struct Order {
    key: ChainKey,
    slug: String,
    app: uuid::Uuid,
    subjects: Vec<uuid::Uuid>,
    submissions: u64,
}

fn sqlite(path: &std::path::Path, order: Order) -> Result<()> {
    let Order {
        key,
        slug,
        app,
        subjects,
        submissions,
    } = order;
    let mut connection = bound::open_sqlite(path)?;
    // Setup, not a measured write: one sync per checkpoint is enough.
    connection.execute_batch("PRAGMA synchronous = NORMAL;")?;
    let tenant: String = connection
        .query_row("SELECT id FROM tenants WHERE slug = ?1", [&slug], |row| {
            row.get(0)
        })
        .context("finding the bench tenant")?;
    let tenant: TenantId = tenant
        .parse()
        .map_err(|_| anyhow!("a tenant id is not a UUID"))?;
    let fixed = fixed(key, tenant, app, subjects);
    let (seq, hash): (i64, Vec<u8>) = connection
        .query_row(bound::layout::HEAD_SQLITE, [fixed.tenant_text()], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .context("reading the tenant's chain head")?;
    let mut head = decode_head(seq, &hash)?;
    let mut rng = StdRng::from_os_rng();
    let (mut counter, mut written) = (0u64, 0u64);
    let mut progress = Progress::new(submissions);
    while written < submissions {
        let size = usize::try_from(submissions - written)?.min(SQLITE_BATCH);
        let at = unix_micros();
        let rows = plan(&fixed, &mut rng, &mut counter, size, &mut head, at)?;
        let transaction =
            connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        bound::write_sqlite(&transaction, &fixed, &rows, at)?;
        transaction.commit()?;
        written += size as u64;
        progress.wrote(written);
    }
    connection
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .context("checkpointing the WAL after the prefill")?;
    Ok(())
}

async fn postgres(url: &str, order: Order) -> Result<()> {
    let Order {
        key,
        slug,
        app,
        subjects,
        submissions,
    } = order;
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(url)
        .await
        .context("connecting to PostgreSQL")?;
    let (tenant,): (String,) = sqlx::query_as("SELECT id FROM tenants WHERE slug = $1")
        .bind(&slug)
        .fetch_one(&mut connection)
        .await
        .context("finding the bench tenant")?;
    let tenant: TenantId = tenant
        .parse()
        .map_err(|_| anyhow!("a tenant id is not a UUID"))?;
    let fixed = fixed(key, tenant, app, subjects);
    let mut rng = StdRng::from_os_rng();
    let (mut counter, mut written) = (0u64, 0u64);
    let mut progress = Progress::new(submissions);
    while written < submissions {
        let size = usize::try_from(submissions - written)?.min(POSTGRES_BATCH);
        let at = unix_micros();
        let mut transaction = connection.begin().await?;
        let (seq, hash): (i64, Vec<u8>) = sqlx::query_as(bound::layout::HEAD_POSTGRES)
            .bind(fixed.tenant_text())
            .fetch_one(&mut *transaction)
            .await
            .context("reading the tenant's chain head")?;
        let mut head = decode_head(seq, &hash)?;
        let rows = plan(&fixed, &mut rng, &mut counter, size, &mut head, at)?;
        bound::write_postgres(&mut transaction, &fixed, &rows, at).await?;
        transaction.commit().await?;
        written += size as u64;
        progress.wrote(written);
    }
    // What autovacuum would have done to a database that grew this large over time.
    sqlx::query("ANALYZE")
        .execute(&mut connection)
        .await
        .context("analysing after the prefill")?;
    let _ = connection.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_round_up_to_whole_submissions() {
        assert_eq!(submissions_for(10_000_000), 2_000_000);
        assert_eq!(submissions_for(11), 3);
        assert_eq!(submissions_for(0), 0);
    }

    #[test]
    fn a_head_decodes_from_its_bytes() -> Result<()> {
        let head = decode_head(7, &[0xab; 32])?;
        assert_eq!(head.seq, 7);
        assert_eq!(head.hash, [0xab; 32]);
        assert!(decode_head(1, &[0xab; 31]).is_err());
        assert!(decode_head(1, &[0xab; 33]).is_err());
        Ok(())
    }
}
