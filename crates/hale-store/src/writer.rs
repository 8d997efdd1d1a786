//! The group-commit writer: the only code that appends to the event log.
//!
//! Appends queue on a channel; the writer takes as many as are waiting (up to a batch), plans
//! them together ([`crate::plan`]), writes the whole batch in a handful of multi-row statements
//! inside one transaction, commits once, and only then answers every caller. Under load this
//! turns N fsyncs and N×12 statements into one fsync and about ten statements, without
//! weakening any caller's guarantee: nobody hears "stored" before their data is durable.
//!
//! If a statement of the batch fails (a stream version or unique key taken by someone else),
//! the batch is rolled back and written again one append per savepoint, so only the guilty
//! append fails. PostgreSQL is written through sqlx here; SQLite through rusqlite on a thread
//! of its own ([`crate::sqlite_writer`]), which saves a thread hop per statement.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hale_domain::event::NewEvent;
use hale_domain::{AppId, TenantId, Timestamp};
use sqlx::{AnyConnection, Connection, PgConnection, PgPool, Postgres};
use tokio::sync::{mpsc, oneshot};

use crate::Backend;
use crate::bulk::{Column, Statement, bind_all};
use crate::custody::Checkpointer;
use crate::error::StoreError;
use crate::plan::{self, Lookups, Needed};

/// A retried request's key, and the hash of the request it first came with.
#[derive(Clone, Debug)]
pub struct IdempotencyClaim {
    pub key: String,
    pub request_hash: String,
}

/// Events to append atomically to one tenant's log.
#[derive(Clone, Debug)]
pub struct Append {
    pub tenant: TenantId,
    pub actor: String,
    pub recorded_at: Timestamp,
    pub events: Vec<NewEvent>,
    /// When set, a second append with the same key (for the same tenant and actor) appends
    /// nothing: it replays the first outcome, or fails if the request differs.
    pub idempotency: Option<IdempotencyClaim>,
    /// What must hold in the tenant's read models when the events are appended, checked in the
    /// writer's transaction; an append whose precondition fails appends nothing.
    pub preconditions: Vec<Precondition>,
}

/// A fact an append depends on, checked where no concurrent change can slip in between the
/// check and the write: after the tenant's chain head is locked, in the appending transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Precondition {
    /// The app version exists and is published; fails with [`StoreError::VersionNotPublished`].
    AppVersionPublished { app_id: AppId, version: i64 },
}

/// What an append did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppendOutcome {
    /// The events are in the log; `last_seq` is the tenant chain position of the last one.
    Appended { last_seq: i64 },
    /// Nothing was written: the same request was already applied, creating `stream_id`.
    Replayed { stream_id: String },
}

pub(crate) struct WriteJob {
    pub append: Append,
    pub reply: oneshot::Sender<Result<AppendOutcome, StoreError>>,
}

pub(crate) type Outcomes = Vec<Result<AppendOutcome, StoreError>>;

/// How the group commit has grouped so far: batches committed (or failed) and the appends in
/// them. Counted by the writer as it answers; read by [`crate::Store::batch_counts`].
#[derive(Debug, Default)]
pub(crate) struct BatchCounter {
    batches: AtomicU64,
    appends: AtomicU64,
}

/// What [`crate::Store::batch_counts`] reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchCounts {
    pub batches: u64,
    pub appends: u64,
}

impl BatchCounts {
    /// Appends per batch, 0 before the first.
    pub fn mean_batch(&self) -> f64 {
        if self.batches == 0 {
            0.0
        } else {
            self.appends as f64 / self.batches as f64
        }
    }
}

impl BatchCounter {
    pub(crate) fn counts(&self) -> BatchCounts {
        BatchCounts {
            batches: self.batches.load(Ordering::Relaxed),
            appends: self.appends.load(Ordering::Relaxed),
        }
    }
}

/// Answers every job of a batch, counting it; a caller that gave up waiting has nobody to tell.
pub(crate) fn reply(
    jobs: &mut Vec<WriteJob>,
    result: Result<Outcomes, StoreError>,
    counter: &BatchCounter,
) {
    counter.batches.fetch_add(1, Ordering::Relaxed);
    counter
        .appends
        .fetch_add(jobs.len() as u64, Ordering::Relaxed);
    match result {
        Ok(outcomes) => {
            for (job, outcome) in jobs.drain(..).zip(outcomes) {
                let _ = job.reply.send(outcome);
            }
        }
        Err(error) => {
            tracing::error!(error = %error, batch = jobs.len(), "batch commit failed");
            for job in jobs.drain(..) {
                let _ = job.reply.send(Err(StoreError::Unavailable));
            }
        }
    }
}

/// The writer task for PostgreSQL. One per process: a second writer taking turns on the queue
/// was measured slower (1.4k against 1.9k submissions/s), as each waited on the other's
/// chain-head lock with a transaction open. Heads are still locked in tenant order, so writers
/// of several replicas never deadlock.
///
/// It runs on a pool of its own, typed for PostgreSQL rather than through `sqlx::Any`, so that
/// a batch's rows go as one array per column (`UNNEST`): every statement it sends has a text
/// that does not depend on the batch's size, and is parsed and planned once per connection.
pub(crate) fn spawn(
    pool: PgPool,
    mut queue: mpsc::Receiver<WriteJob>,
    max_batch: usize,
    checkpointer: Arc<Checkpointer>,
    counter: Arc<BatchCounter>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut jobs = Vec::with_capacity(max_batch);
        while queue.recv_many(&mut jobs, max_batch).await > 0 {
            let result = commit_batch(&pool, &jobs, &checkpointer).await;
            reply(&mut jobs, result, &counter);
        }
    })
}

/// The writer's connections. Each statement the writer sends has one text whatever the batch
/// (its rows go as arrays), so one generic plan can serve it for the life of the connection;
/// left to itself PostgreSQL plans the first executions for their parameters, then may switch
/// to a generic plan of its own accord. Forced, the plan is the same from the first batch, and
/// each statement is written so that its generic plan probes keys even when it was made on an
/// empty table (see `plan::CLAIMS_UNNEST_SQL` and `tests/conformance/plans.rs`).
pub(crate) fn connect_options(url: &str) -> Result<sqlx::postgres::PgConnectOptions, StoreError> {
    use std::str::FromStr as _;
    Ok(sqlx::postgres::PgConnectOptions::from_str(url)
        .map_err(|_| StoreError::unparsable_url())?
        .options([("plan_cache_mode", "force_generic_plan")]))
}

async fn commit_batch(
    pool: &PgPool,
    jobs: &[WriteJob],
    checkpointer: &Checkpointer,
) -> Result<Outcomes, StoreError> {
    let key = checkpointer.custody().key();
    let appends: Vec<&Append> = jobs.iter().map(|job| &job.append).collect();
    let mut connection = pool.acquire().await?;
    let mut transaction = connection.begin().await?;
    let fast = async {
        let lookups = fetch_lookups(&mut transaction, &plan::needed(&appends)).await?;
        let plan = plan::plan(key, &appends, lookups);
        execute_postgres(&mut transaction, &plan.statements).await?;
        Ok::<_, StoreError>((plan.outcomes, plan.heads))
    }
    .await;
    match fast {
        Ok((outcomes, heads)) => {
            transaction.commit().await?;
            checkpointer.committed(&heads);
            Ok(outcomes)
        }
        Err(error) => {
            transaction.rollback().await?;
            tracing::debug!(error = %error, "batch falls back to one savepoint per append");
            let mut transaction = connection.begin().await?;
            // Every head of the batch is locked up front, in the fast path's order: locked one
            // savepoint at a time they would be taken in queue order, and two replicas whose
            // queues interleave tenants differently would deadlock.
            lock_heads(&mut transaction, &plan::needed(&appends).tenants).await?;
            let mut outcomes = Vec::with_capacity(appends.len());
            let mut heads = Vec::new();
            for append in &appends {
                let mut savepoint = Connection::begin(&mut *transaction).await?;
                let single = [*append];
                let result = async {
                    let lookups = fetch_lookups(&mut savepoint, &plan::needed(&single)).await?;
                    let mut plan = plan::plan(key, &single, lookups);
                    execute_postgres(&mut savepoint, &plan.statements).await?;
                    let outcome = plan.outcomes.pop().unwrap_or(Err(StoreError::Unavailable));
                    Ok::<_, StoreError>((outcome?, plan.heads))
                }
                .await;
                let result = match result {
                    Ok((outcome, planned)) => {
                        savepoint.commit().await?;
                        heads.extend(planned);
                        Ok(outcome)
                    }
                    Err(error) => {
                        savepoint.rollback().await?;
                        Err(error)
                    }
                };
                outcomes.push(result);
            }
            transaction.commit().await?;
            checkpointer.committed(&heads);
            Ok(outcomes)
        }
    }
}

/// Reads and locks the chain heads of `tenants`, which come sorted from [`plan::needed`] so
/// that every writer locks in one order.
async fn lock_heads(
    connection: &mut PgConnection,
    tenants: &[TenantId],
) -> Result<HashMap<TenantId, plan::Head>, StoreError> {
    let mut heads = HashMap::with_capacity(tenants.len());
    for tenant in tenants {
        let head: Option<(i64, Vec<u8>)> = sqlx::query_as(plan::head_sql(Backend::Postgres))
            .bind(tenant.to_string())
            .fetch_optional(&mut *connection)
            .await?;
        if let Some((seq, hash)) = head {
            heads.insert(*tenant, (seq, plan::stored_hash(&hash)?));
        }
    }
    Ok(heads)
}

/// Reads what the plan needs: the same lookups the SQLite writer makes, the claims in one
/// statement whatever their number.
async fn fetch_lookups(
    connection: &mut PgConnection,
    needed: &Needed,
) -> Result<Lookups, StoreError> {
    // Heads first: once this writer holds its tenants' heads, every claim, stream version and
    // status committed by another writer is visible to the lookups that follow.
    let mut lookups = Lookups {
        heads: lock_heads(connection, &needed.tenants).await?,
        ..Lookups::default()
    };
    if !needed.claims.is_empty() {
        let mut tenants = Vec::with_capacity(needed.claims.len());
        let mut actors = Vec::with_capacity(needed.claims.len());
        let mut keys = Vec::with_capacity(needed.claims.len());
        for (tenant, actor, key) in &needed.claims {
            tenants.push(tenant.as_str());
            actors.push(actor.as_str());
            keys.push(key.as_str());
        }
        let rows: Vec<plan::ClaimRow> = sqlx::query_as(plan::CLAIMS_UNNEST_SQL)
            .bind(tenants)
            .bind(actors)
            .bind(keys)
            .fetch_all(&mut *connection)
            .await?;
        for (tenant, actor, key, request_hash, stream_id) in rows {
            lookups.claims.insert(
                (tenant, actor, key),
                plan::stored_claim(&request_hash, &stream_id)?,
            );
        }
    }
    for stream in &needed.streams {
        let (version,): (Option<i64>,) = sqlx::query_as(plan::VERSION_SQL)
            .bind(&stream.0)
            .bind(stream.1)
            .bind(&stream.2)
            .fetch_one(&mut *connection)
            .await?;
        if let Some(version) = version {
            lookups.versions.insert(stream.clone(), version);
        }
    }
    for key in &needed.app_versions {
        let status: Option<(String,)> = sqlx::query_as(plan::STATUS_SQL)
            .bind(&key.0)
            .bind(&key.1)
            .bind(key.2)
            .fetch_optional(&mut *connection)
            .await?;
        if let Some((status,)) = status {
            lookups
                .statuses
                .insert(key.clone(), plan::parse_status(&status)?);
        }
    }
    Ok(lookups)
}

/// Runs the plan's statements in order on PostgreSQL, each multi-row insert as arrays; a
/// unique-key violation becomes the conflict it means.
async fn execute_postgres(
    connection: &mut PgConnection,
    statements: &[Statement],
) -> Result<(), StoreError> {
    for statement in statements {
        let columns = statement
            .rows
            .and_then(|rows| Some((rows, rows.columns(&statement.binds)?)));
        let done = match &columns {
            Some((rows, columns)) => {
                let sql = rows.unnest_sql(columns);
                let mut query = sqlx::query::<Postgres>(&sql);
                for column in columns {
                    query = match column {
                        Column::Text(values) => query.bind(values),
                        Column::Integer(values) => query.bind(values),
                        Column::Real(values) => query.bind(values),
                        Column::Blob(values) => query.bind(values),
                    };
                }
                query.execute(&mut *connection).await
            }
            None => {
                bind_all(sqlx::query::<Postgres>(&statement.sql), &statement.binds)
                    .execute(&mut *connection)
                    .await
            }
        };
        done.map_err(|error| StoreError::from(error).conflict_as(statement.on_conflict))?;
    }
    Ok(())
}

/// Runs statements in order through `sqlx::Any` (a rebuild, on either engine), each multi-row
/// insert in its `VALUES` form; a unique-key violation becomes the conflict it means.
pub(crate) async fn execute(
    connection: &mut AnyConnection,
    statements: &[Statement],
) -> Result<(), StoreError> {
    for statement in statements {
        bind_all(sqlx::query(&statement.sql), &statement.binds)
            .execute(&mut *connection)
            .await
            .map_err(|error| StoreError::from(error).conflict_as(statement.on_conflict))?;
    }
    Ok(())
}
