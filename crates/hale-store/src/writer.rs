//! The group-commit writer: the only code that appends to the event log.
//!
//! Appends queue on a channel; the writer takes as many as are waiting (up to a batch), applies
//! each in its own savepoint inside one transaction, commits once, and only then answers every
//! caller. Under load this turns N fsyncs into one without weakening any caller's guarantee:
//! nobody hears "stored" before their data is durable, and a failing append rolls back alone.

use std::collections::HashMap;

use hale_domain::chain::{GENESIS, entry_hash};
use hale_domain::event::{ExpectedVersion, NewEvent, RecordedEvent};
use hale_domain::{TenantId, Timestamp};
use sqlx::{AnyConnection, AnyPool, Connection};
use tokio::sync::{mpsc, oneshot};

use crate::Backend;
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

async fn commit_batch(
    backend: Backend,
    pool: &AnyPool,
    jobs: &[WriteJob],
) -> Result<Vec<Result<AppendOutcome, StoreError>>, StoreError> {
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
    for (tenant, (seq, hash)) in &heads {
        sqlx::query(
            "INSERT INTO chain_heads (tenant_id, seq, hash) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        )
        .bind(tenant.to_string())
        .bind(*seq)
        .bind(hex::encode(hash))
        .execute(&mut *transaction)
        .await?;
    }
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
    let (current,): (Option<i64>,) = sqlx::query_as(
        "SELECT MAX(stream_version) FROM events \
         WHERE tenant_id = $1 AND stream_kind = $2 AND stream_id = $3",
    )
    .bind(tenant)
    .bind(event.stream.kind)
    .bind(&event.stream.id)
    .fetch_one(&mut *connection)
    .await?;
    let current = current.unwrap_or(0);
    match event.expected {
        ExpectedVersion::Exact(expected) if expected != current => Err(StoreError::Conflict(
            "the stream was changed by another request",
        )),
        _ => Ok(current + 1),
    }
}

pub(crate) async fn insert_event(
    connection: &mut AnyConnection,
    event: &RecordedEvent,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO events (tenant_id, seq, stream_kind, stream_id, stream_version, event_type, \
         payload, actor, recorded_at, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(event.tenant_id.to_string())
    .bind(event.seq)
    .bind(&event.stream_kind)
    .bind(&event.stream_id)
    .bind(event.stream_version)
    .bind(&event.event_type)
    .bind(&event.payload)
    .bind(&event.actor)
    .bind(event.recorded_at.as_micros())
    .bind(hex::encode(event.prev_hash))
    .bind(hex::encode(event.hash))
    .execute(&mut *connection)
    .await?;
    Ok(())
}
