//! The group-commit writer: the only code that appends to the event log.
//!
//! Appends queue on a channel; the writer takes as many as are waiting (up to a batch), applies
//! each in its own savepoint inside one transaction, commits once, and only then answers every
//! caller. Under load this turns N fsyncs into one without weakening any caller's guarantee:
//! nobody hears "stored" before their data is durable, and a failing append rolls back alone.

use std::collections::HashMap;

use hale_domain::chain::{GENESIS, entry_hash};
use hale_domain::event::{EventBody, ExpectedVersion, NewEvent, RecordedEvent};
use hale_domain::{TenantId, Timestamp};
use sqlx::{AnyConnection, AnyPool, Connection};
use tokio::sync::{mpsc, oneshot};

use crate::Backend;
use crate::bulk::{Bind, BulkInsert, bind_all, placeholders};
use crate::error::StoreError;
use crate::projection;

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

type Head = (i64, [u8; 32]);

pub(crate) async fn run(
    backend: Backend,
    pool: AnyPool,
    mut queue: mpsc::Receiver<WriteJob>,
    max_batch: usize,
) {
    let mut jobs = Vec::with_capacity(max_batch);
    while queue.recv_many(&mut jobs, max_batch).await > 0 {
        match commit_batch(backend, &pool, &jobs).await {
            Ok(outcomes) => {
                for (job, outcome) in jobs.drain(..).zip(outcomes) {
                    // A caller that gave up waiting has nobody to tell; its data is stored.
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
}

type Outcomes = Vec<Result<AppendOutcome, StoreError>>;

/// Commits a batch the fast way (a handful of statements for the whole batch); if any statement
/// fails — a stream version or unique key taken under our feet — it rolls back and commits the
/// batch again one append per savepoint, so only the guilty append fails.
async fn commit_batch(
    backend: Backend,
    pool: &AnyPool,
    jobs: &[WriteJob],
) -> Result<Outcomes, StoreError> {
    let mut transaction = pool.begin().await?;
    match plan_and_write(backend, &mut transaction, jobs).await {
        Ok(outcomes) => {
            transaction.commit().await?;
            Ok(outcomes)
        }
        Err(error) => {
            transaction.rollback().await?;
            tracing::debug!(error = %error, "batch falls back to one savepoint per append");
            commit_one_by_one(backend, pool, jobs).await
        }
    }
}

/// The key of an idempotency claim: tenant, actor, key.
type ClaimKey = (String, String, String);

async fn plan_and_write(
    backend: Backend,
    connection: &mut AnyConnection,
    jobs: &[WriteJob],
) -> Result<Outcomes, StoreError> {
    let mut claimed = claimed_keys(connection, jobs).await?;
    let mut heads: HashMap<TenantId, Head> = HashMap::new();
    let mut stream_versions: HashMap<(String, &'static str, String), i64> = HashMap::new();
    let mut recorded: Vec<(RecordedEvent, &EventBody)> = Vec::new();
    let mut new_claims = BulkInsert::new(
        "INSERT INTO idempotency_keys \
         (tenant_id, actor, idempotency_key, request_hash, stream_id, created_at)",
        6,
    );
    let mut outcomes = Vec::with_capacity(jobs.len());
    for job in jobs {
        let append = &job.append;
        let tenant = append.tenant.to_string();
        if let Some(claim) = &append.idempotency {
            let key = (tenant.clone(), append.actor.clone(), claim.key.clone());
            if let Some((request_hash, stream_id)) = claimed.get(&key) {
                outcomes.push(if *request_hash == claim.request_hash {
                    Ok(AppendOutcome::Replayed {
                        stream_id: stream_id.clone(),
                    })
                } else {
                    Err(StoreError::IdempotencyMismatch)
                });
                continue;
            }
        }
        let (mut seq, mut prev_hash) = match heads.get(&append.tenant) {
            Some(head) => *head,
            None => load_head(backend, connection, &tenant).await?,
        };
        let mut planned = Vec::with_capacity(append.events.len());
        // This append's own streams first (it may write one stream twice), then the batch's.
        let mut versions: HashMap<(String, &'static str, String), i64> = HashMap::new();
        let mut refused = None;
        for event in &append.events {
            let stream = (tenant.clone(), event.stream.kind, event.stream.id.clone());
            let known = versions
                .get(&stream)
                .or_else(|| stream_versions.get(&stream));
            let current = match (event.expected, known) {
                (_, Some(version)) => Some(*version),
                (ExpectedVersion::NoStream, None) => None,
                (_, None) => Some(current_version(connection, &tenant, event).await?),
            };
            let version = match (event.expected, current) {
                (ExpectedVersion::NoStream, None | Some(0)) => 1,
                (ExpectedVersion::Exact(expected), Some(current)) if expected == current => {
                    current + 1
                }
                (ExpectedVersion::Any, Some(current)) => current + 1,
                _ => {
                    refused = Some(StoreError::Conflict(
                        "the stream was changed by another request",
                    ));
                    break;
                }
            };
            versions.insert(stream, version);
            seq += 1;
            let event = record(append, event, seq, version, prev_hash);
            prev_hash = event.hash;
            planned.push(event);
        }
        if let Some(error) = refused {
            outcomes.push(Err(error));
            continue;
        }
        heads.insert(append.tenant, (seq, prev_hash));
        stream_versions.extend(versions);
        if let (Some(claim), Some(first)) = (&append.idempotency, append.events.first()) {
            new_claims.row([
                Bind::Text(tenant.clone()),
                Bind::Text(append.actor.clone()),
                Bind::Text(claim.key.clone()),
                Bind::Text(claim.request_hash.clone()),
                Bind::Text(first.stream.id.clone()),
                Bind::Integer(append.recorded_at.as_micros()),
            ]);
            // A second request with the same key later in this batch replays this one.
            claimed.insert(
                (tenant, append.actor.clone(), claim.key.clone()),
                (claim.request_hash.clone(), first.stream.id.clone()),
            );
        }
        recorded.extend(
            planned
                .into_iter()
                .zip(append.events.iter().map(|event| &event.body)),
        );
        outcomes.push(Ok(AppendOutcome::Appended { last_seq: seq }));
    }
    let mut events = BulkInsert::new(INSERT_EVENTS, 11);
    for (event, _) in &recorded {
        events.row(event_values(event));
    }
    events.flush(connection).await?;
    projection::apply_many(connection, &recorded).await?;
    new_claims.flush(connection).await?;
    write_heads(connection, &heads).await?;
    Ok(outcomes)
}

/// Looks up, in one statement, every idempotency key the batch claims.
async fn claimed_keys(
    connection: &mut AnyConnection,
    jobs: &[WriteJob],
) -> Result<HashMap<ClaimKey, (String, String)>, StoreError> {
    let mut binds = Vec::new();
    for job in jobs {
        if let Some(claim) = &job.append.idempotency {
            binds.push(Bind::Text(job.append.tenant.to_string()));
            binds.push(Bind::Text(job.append.actor.clone()));
            binds.push(Bind::Text(claim.key.clone()));
        }
    }
    let mut found = HashMap::new();
    for chunk in binds.chunks(3 * 300) {
        let rows: Vec<String> = (0..chunk.len() / 3)
            .map(|row| placeholders(row * 3 + 1, 3))
            .collect();
        let sql = format!(
            "SELECT tenant_id, actor, idempotency_key, request_hash, stream_id FROM idempotency_keys \
             WHERE (tenant_id, actor, idempotency_key) IN (VALUES {})",
            rows.join(", ")
        );
        let rows: Vec<(String, String, String, String, String)> =
            bind_all(sqlx::query(&sql), chunk)
                .try_map(|row: sqlx::any::AnyRow| {
                    use sqlx::Row;
                    Ok((
                        row.try_get(0)?,
                        row.try_get(1)?,
                        row.try_get(2)?,
                        row.try_get(3)?,
                        row.try_get(4)?,
                    ))
                })
                .fetch_all(&mut *connection)
                .await?;
        for (tenant, actor, key, request_hash, stream_id) in rows {
            found.insert((tenant, actor, key), (request_hash, stream_id));
        }
    }
    Ok(found)
}

fn record(
    append: &Append,
    event: &NewEvent,
    seq: i64,
    stream_version: i64,
    prev_hash: [u8; 32],
) -> RecordedEvent {
    let mut recorded = RecordedEvent {
        tenant_id: append.tenant,
        seq,
        stream_kind: event.stream.kind.to_owned(),
        stream_id: event.stream.id.clone(),
        stream_version,
        event_type: event.body.event_type().to_owned(),
        payload: event.body.to_payload(),
        actor: append.actor.clone(),
        recorded_at: append.recorded_at,
        prev_hash,
        hash: [0; 32],
    };
    recorded.hash = entry_hash(&recorded);
    recorded
}

fn event_values(event: &RecordedEvent) -> [Bind; 11] {
    [
        Bind::Text(event.tenant_id.to_string()),
        Bind::Integer(event.seq),
        Bind::Text(event.stream_kind.clone()),
        Bind::Text(event.stream_id.clone()),
        Bind::Integer(event.stream_version),
        Bind::Text(event.event_type.clone()),
        Bind::Text(event.payload.clone()),
        Bind::Text(event.actor.clone()),
        Bind::Integer(event.recorded_at.as_micros()),
        Bind::Text(hex::encode(event.prev_hash)),
        Bind::Text(hex::encode(event.hash)),
    ]
}

async fn write_heads(
    connection: &mut AnyConnection,
    heads: &HashMap<TenantId, Head>,
) -> Result<(), StoreError> {
    for (tenant, (seq, hash)) in heads {
        sqlx::query(
            "INSERT INTO chain_heads (tenant_id, seq, hash) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        )
        .bind(tenant.to_string())
        .bind(*seq)
        .bind(hex::encode(hash))
        .execute(&mut *connection)
        .await?;
    }
    Ok(())
}

/// The slow path: each append in its own savepoint.
async fn commit_one_by_one(
    backend: Backend,
    pool: &AnyPool,
    jobs: &[WriteJob],
) -> Result<Outcomes, StoreError> {
    let mut transaction = pool.begin().await?;
    let mut heads: HashMap<TenantId, Head> = HashMap::new();
    let mut outcomes = Vec::with_capacity(jobs.len());
    for job in jobs {
        let mut savepoint = Connection::begin(&mut *transaction).await?;
        match apply_append(backend, &mut savepoint, &heads, &job.append).await {
            Ok((outcome, head)) => {
                savepoint.commit().await?;
                if let Some(head) = head {
                    heads.insert(job.append.tenant, head);
                }
                outcomes.push(Ok(outcome));
            }
            Err(error) => {
                savepoint.rollback().await?;
                outcomes.push(Err(error));
            }
        }
    }
    write_heads(&mut transaction, &heads).await?;
    transaction.commit().await?;
    Ok(outcomes)
}

async fn apply_append(
    backend: Backend,
    connection: &mut AnyConnection,
    heads: &HashMap<TenantId, Head>,
    append: &Append,
) -> Result<(AppendOutcome, Option<Head>), StoreError> {
    let tenant = append.tenant.to_string();
    if let Some(claim) = &append.idempotency {
        let previous: Option<(String, String)> = sqlx::query_as(
            "SELECT request_hash, stream_id FROM idempotency_keys \
             WHERE tenant_id = $1 AND actor = $2 AND idempotency_key = $3",
        )
        .bind(&tenant)
        .bind(&append.actor)
        .bind(&claim.key)
        .fetch_optional(&mut *connection)
        .await?;
        if let Some((request_hash, stream_id)) = previous {
            return if request_hash == claim.request_hash {
                Ok((AppendOutcome::Replayed { stream_id }, None))
            } else {
                Err(StoreError::IdempotencyMismatch)
            };
        }
    }
    let (mut seq, mut prev_hash) = match heads.get(&append.tenant) {
        Some(head) => *head,
        None => load_head(backend, connection, &tenant).await?,
    };
    for event in &append.events {
        let stream_version = next_version(connection, &tenant, event).await?;
        seq += 1;
        let recorded = record(append, event, seq, stream_version, prev_hash);
        insert_event(connection, &recorded).await.map_err(|error| {
            if error.is_unique_violation() {
                StoreError::Conflict("the stream was changed by another request")
            } else {
                error
            }
        })?;
        projection::apply(connection, &recorded, &event.body)
            .await
            .map_err(|error| {
                if error.is_unique_violation() {
                    StoreError::Conflict("a record with the same key already exists")
                } else {
                    error
                }
            })?;
        prev_hash = recorded.hash;
    }
    if let (Some(claim), Some(first)) = (&append.idempotency, append.events.first()) {
        sqlx::query(
            "INSERT INTO idempotency_keys \
             (tenant_id, actor, idempotency_key, request_hash, stream_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&tenant)
        .bind(&append.actor)
        .bind(&claim.key)
        .bind(&claim.request_hash)
        .bind(&first.stream.id)
        .bind(append.recorded_at.as_micros())
        .execute(&mut *connection)
        .await?;
    }
    Ok((
        AppendOutcome::Appended { last_seq: seq },
        Some((seq, prev_hash)),
    ))
}

async fn load_head(
    backend: Backend,
    connection: &mut AnyConnection,
    tenant: &str,
) -> Result<Head, StoreError> {
    // On PostgreSQL several replicas may write one tenant's chain: the row lock makes them take
    // turns. SQLite has a single writer already.
    let statement = match backend {
        Backend::Postgres => "SELECT seq, hash FROM chain_heads WHERE tenant_id = $1 FOR UPDATE",
        Backend::Sqlite => "SELECT seq, hash FROM chain_heads WHERE tenant_id = $1",
    };
    let row: Option<(i64, String)> = sqlx::query_as(statement)
        .bind(tenant)
        .fetch_optional(&mut *connection)
        .await?;
    match row {
        None => Ok((0, GENESIS)),
        Some((seq, hash)) => Ok((seq, decode_hash(&hash)?)),
    }
}

pub(crate) fn decode_hash(text: &str) -> Result<[u8; 32], StoreError> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash)
        .map_err(|_| StoreError::Corrupt("a stored hash is not 32 bytes of hex".into()))?;
    Ok(hash)
}

async fn next_version(
    connection: &mut AnyConnection,
    tenant: &str,
    event: &NewEvent,
) -> Result<i64, StoreError> {
    if event.expected == ExpectedVersion::NoStream {
        // The unique index on (tenant, stream, version) refuses a second version 1.
        return Ok(1);
    }
    let current = current_version(connection, tenant, event).await?;
    match event.expected {
        ExpectedVersion::Exact(expected) if expected != current => Err(StoreError::Conflict(
            "the stream was changed by another request",
        )),
        _ => Ok(current + 1),
    }
}

/// The stream's last version, 0 when it has none.
async fn current_version(
    connection: &mut AnyConnection,
    tenant: &str,
    event: &NewEvent,
) -> Result<i64, StoreError> {
    let (current,): (Option<i64>,) = sqlx::query_as(
        "SELECT MAX(stream_version) FROM events \
         WHERE tenant_id = $1 AND stream_kind = $2 AND stream_id = $3",
    )
    .bind(tenant)
    .bind(event.stream.kind)
    .bind(&event.stream.id)
    .fetch_one(&mut *connection)
    .await?;
    Ok(current.unwrap_or(0))
}

const INSERT_EVENTS: &str = "INSERT INTO events (tenant_id, seq, stream_kind, stream_id, \
     stream_version, event_type, payload, actor, recorded_at, prev_hash, hash)";

pub(crate) async fn insert_event(
    connection: &mut AnyConnection,
    event: &RecordedEvent,
) -> Result<(), StoreError> {
    let mut insert = BulkInsert::new(INSERT_EVENTS, 11);
    insert.row(event_values(event));
    insert.flush(connection).await
}
