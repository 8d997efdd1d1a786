//! The batch plan: given a batch of appends and what the database holds for them (claimed
//! idempotency keys, chain heads, stream versions, the status of app versions submitted to),
//! decides every append's outcome and the statements that write it — without touching the
//! database. Both writers (sqlx for PostgreSQL, rusqlite for SQLite) fetch the same lookups
//! and run the same plan.

use std::collections::HashMap;

use hale_domain::TenantId;
use hale_domain::chain::{ChainKey, GENESIS, entry_hash};
use hale_domain::event::{EventBody, ExpectedVersion, NewEvent, RecordedEvent, VersionStatus};

use crate::Backend;
use crate::bulk::{Bind, BulkInsert, STREAM_CHANGED, Statement, placeholders};
use crate::error::StoreError;
use crate::writer::{Append, AppendOutcome, Precondition};
use crate::{packed, projection};

/// A chain position: last sequence number and its hash.
pub(crate) type Head = (i64, [u8; 32]);
/// An idempotency claim: tenant, actor, key.
pub(crate) type ClaimKey = (String, String, String);
/// A stream: tenant, kind, id.
pub(crate) type StreamKey = (String, &'static str, String);
/// An app version: tenant, app id, version number.
pub(crate) type AppVersionKey = (String, String, i64);

/// What the plan needs to know from the database.
#[derive(Debug, Default)]
pub(crate) struct Needed {
    pub claims: Vec<ClaimKey>,
    pub tenants: Vec<TenantId>,
    pub streams: Vec<StreamKey>,
    pub app_versions: Vec<AppVersionKey>,
}

/// A claim the lookup finds: tenant, actor, key, and the packed request hash and stream id.
pub(crate) type ClaimRow = (String, String, String, Vec<u8>, Vec<u8>);

/// A claim as stored: its request hash and stream id in their packed forms, read back as text.
pub(crate) fn stored_claim(
    request_hash: &[u8],
    stream_id: &[u8],
) -> Result<(String, String), StoreError> {
    match (
        packed::claim_text(request_hash),
        packed::claim_text(stream_id),
    ) {
        (Some(request_hash), Some(stream_id)) => Ok((request_hash, stream_id)),
        _ => Err(StoreError::Corrupt(
            "an idempotency claim is not readable".into(),
        )),
    }
}

/// What the database holds for a batch.
#[derive(Debug, Default)]
pub(crate) struct Lookups {
    /// Claimed keys → (request hash, stream id).
    pub claims: HashMap<ClaimKey, (String, String)>,
    /// Chain heads; a tenant without one starts from the genesis hash.
    pub heads: HashMap<TenantId, Head>,
    /// Last version of each stream asked about; absent means no events yet.
    pub versions: HashMap<StreamKey, i64>,
    /// Status of each app version asked about; absent means no such version.
    pub statuses: HashMap<AppVersionKey, VersionStatus>,
}

/// Every append's outcome, and the statements that write the successful ones.
pub(crate) struct Plan {
    pub outcomes: Vec<Result<AppendOutcome, StoreError>>,
    pub statements: Vec<Statement>,
    /// The chain heads these statements leave, for the checkpoint once they commit.
    pub heads: Vec<(TenantId, Head)>,
}

/// A submission's payload goes into `packed` (see [`crate::packed`]), any other into `payload`;
/// the previous entry's hash is the row before's own.
pub(crate) const INSERT_EVENTS: &str = "INSERT INTO events (tenant_id, seq, stream_kind, \
     stream_id, stream_version, event_type, payload, packed, actor, recorded_at, hash)";

/// The statement that finds claimed keys among `claims` (in `$1…` triples of tenant id, actor
/// and key). Joined from the wanted rows, so that each claim is one probe of the claims'
/// primary key (a row-value `IN` holding the key's lookup scans the claims instead).
pub(crate) fn claims_sql(claims: usize) -> String {
    let rows: Vec<String> = (0..claims)
        .map(|row| placeholders(row * 3 + 1, 3))
        .collect();
    format!(
        "SELECT t.id, k.actor, k.idempotency_key, k.request_hash, k.stream_id \
         FROM (VALUES {}) AS wanted JOIN tenants t ON t.id = wanted.column1 \
         JOIN idempotency_keys k ON k.tenant_key = t.tenant_key \
         AND k.actor = wanted.column2 AND k.idempotency_key = wanted.column3",
        rows.join(", ")
    )
}

/// The claims among `$1`, `$2`, `$3` (arrays of tenants, actors and keys) on PostgreSQL: one
/// text for any number of claims, and one probe of the claims' primary key per claim asked
/// about, whatever the planner believes of the table. A join (or a `LATERAL` it may flatten
/// into one) is planned, while the table is new and its statistics say it is empty, as a hash
/// join over a scan of every claim; the writer's plan is kept (it is generic, see
/// `writer::connect_options`), so each batch read every claim ever made. `LIMIT 1` (the key is
/// the primary key) keeps each probe a probe.
pub(crate) const CLAIMS_UNNEST_SQL: &str = "SELECT wanted.tenant_id, wanted.actor, \
     wanted.idempotency_key, k.request_hash, k.stream_id \
     FROM UNNEST($1::text[], $2::text[], $3::text[]) AS wanted (tenant_id, actor, idempotency_key) \
     CROSS JOIN LATERAL (SELECT c.request_hash, c.stream_id FROM idempotency_keys c \
     WHERE c.tenant_key = (SELECT t.tenant_key FROM tenants t WHERE t.id = wanted.tenant_id) \
     AND c.actor = wanted.actor AND c.idempotency_key = wanted.idempotency_key LIMIT 1) AS k";

/// The statement reading a tenant's chain head; on PostgreSQL it also locks it, so that several
/// replicas take turns extending one tenant's chain.
pub(crate) fn head_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "SELECT seq, hash FROM chain_heads WHERE tenant_id = $1 FOR UPDATE",
        Backend::Sqlite => "SELECT seq, hash FROM chain_heads WHERE tenant_id = $1",
    }
}

/// The status of one app version, read inside the writer's transaction after the chain head
/// lock: a status change committed before is seen, one committed after waits for this batch.
pub(crate) const STATUS_SQL: &str = "SELECT status FROM app_versions \
     WHERE tenant_id = $1 AND app_id = $2 AND version = $3";

/// Reads a stored status; one this build does not know means the row is corrupt.
pub(crate) fn parse_status(text: &str) -> Result<VersionStatus, StoreError> {
    VersionStatus::parse(text)
        .ok_or_else(|| StoreError::Corrupt("an app version has an unknown status".into()))
}

pub(crate) const VERSION_SQL: &str = "SELECT MAX(stream_version) FROM events \
     WHERE tenant_id = $1 AND stream_kind = $2 AND stream_id = $3";

/// A stored entry or head hash: its 32 bytes.
pub(crate) fn stored_hash(bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes)
        .map_err(|_| StoreError::Corrupt("a stored hash is not 32 bytes".into()))
}

fn app_version_key(tenant: &str, precondition: &Precondition) -> AppVersionKey {
    match precondition {
        Precondition::AppVersionPublished { app_id, version } => {
            (tenant.to_owned(), app_id.to_string(), *version)
        }
    }
}

fn stream_key(tenant: &str, event: &NewEvent) -> StreamKey {
    (
        tenant.to_owned(),
        event.stream.kind,
        event.stream.id.clone(),
    )
}

/// The lookups a batch needs.
pub(crate) fn needed(appends: &[&Append]) -> Needed {
    let mut needed = Needed::default();
    for append in appends {
        let tenant = append.tenant.to_string();
        if let Some(claim) = &append.idempotency {
            needed
                .claims
                .push((tenant.clone(), append.actor.clone(), claim.key.clone()));
        }
        if !needed.tenants.contains(&append.tenant) {
            needed.tenants.push(append.tenant);
        }
        for event in &append.events {
            if event.expected != ExpectedVersion::NoStream {
                needed.streams.push(stream_key(&tenant, event));
            }
        }
        for precondition in &append.preconditions {
            let key = app_version_key(&tenant, precondition);
            if !needed.app_versions.contains(&key) {
                needed.app_versions.push(key);
            }
        }
    }
    // One lock order for every writer: no two can wait on each other.
    needed.tenants.sort();
    needed
}

fn record(
    key: &ChainKey,
    append: &Append,
    event: &NewEvent,
    seq: i64,
    version: i64,
    prev: [u8; 32],
) -> RecordedEvent {
    let mut recorded = RecordedEvent {
        tenant_id: append.tenant,
        seq,
        stream_kind: event.stream.kind.to_owned(),
        stream_id: event.stream.id.clone(),
        stream_version: version,
        event_type: event.body.event_type().to_owned(),
        payload: event.body.to_payload(),
        actor: append.actor.clone(),
        recorded_at: append.recorded_at,
        prev_hash: prev,
        hash: [0; 32],
    };
    recorded.hash = entry_hash(key, &recorded);
    recorded
}

/// Decides each append in order, as if applied one after another.
pub(crate) fn plan(key: &ChainKey, appends: &[&Append], mut lookups: Lookups) -> Plan {
    let mut outcomes = Vec::with_capacity(appends.len());
    let mut recorded: Vec<(RecordedEvent, &EventBody)> = Vec::new();
    let mut claims = BulkInsert::new(
        "INSERT INTO idempotency_keys \
         (tenant_key, actor, idempotency_key, request_hash, stream_id, created_at)",
        6,
    )
    .tenant_keyed();
    let mut touched: Vec<TenantId> = Vec::new();
    for append in appends {
        let tenant = append.tenant.to_string();
        if let Some(claim) = &append.idempotency {
            let key = (tenant.clone(), append.actor.clone(), claim.key.clone());
            if let Some((request_hash, stream_id)) = lookups.claims.get(&key) {
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
        let unmet = append
            .preconditions
            .iter()
            .any(|precondition| match precondition {
                Precondition::AppVersionPublished { .. } => {
                    lookups
                        .statuses
                        .get(&app_version_key(&tenant, precondition))
                        != Some(&VersionStatus::Published)
                }
            });
        if unmet {
            outcomes.push(Err(StoreError::VersionNotPublished));
            continue;
        }
        let (mut seq, mut prev) = lookups
            .heads
            .get(&append.tenant)
            .copied()
            .unwrap_or((0, GENESIS));
        // This append's own stream versions first (it may write one stream twice).
        let mut versions: HashMap<StreamKey, i64> = HashMap::new();
        let mut planned = Vec::with_capacity(append.events.len());
        let mut refused = false;
        for event in &append.events {
            let stream = stream_key(&tenant, event);
            let known = versions
                .get(&stream)
                .or_else(|| lookups.versions.get(&stream))
                .copied();
            let version = match (event.expected, known) {
                // A first version taken meanwhile is refused by the unique index.
                (ExpectedVersion::NoStream, None | Some(0)) => 1,
                (ExpectedVersion::Exact(expected), current) if expected == current.unwrap_or(0) => {
                    expected + 1
                }
                (ExpectedVersion::Any, current) => current.unwrap_or(0) + 1,
                _ => {
                    refused = true;
                    break;
                }
            };
            versions.insert(stream, version);
            seq += 1;
            let event = record(key, append, event, seq, version, prev);
            prev = event.hash;
            planned.push(event);
        }
        if refused {
            outcomes.push(Err(StoreError::Conflict(STREAM_CHANGED)));
            continue;
        }
        lookups.heads.insert(append.tenant, (seq, prev));
        if !touched.contains(&append.tenant) {
            touched.push(append.tenant);
        }
        lookups.versions.extend(versions);
        // A status changed earlier in this batch is what a later append of it must see.
        for event in &append.events {
            match &event.body {
                EventBody::AppVersionDrafted {
                    app_id, version, ..
                } => {
                    lookups.statuses.insert(
                        (tenant.clone(), app_id.to_string(), *version),
                        VersionStatus::Draft,
                    );
                }
                EventBody::AppVersionStatusChanged {
                    app_id,
                    version,
                    status,
                    ..
                } => {
                    lookups
                        .statuses
                        .insert((tenant.clone(), app_id.to_string(), *version), *status);
                }
                _ => {}
            }
        }
        if let (Some(claim), Some(first)) = (&append.idempotency, append.events.first()) {
            claims.row([
                Bind::Text(tenant.clone()),
                Bind::Text(append.actor.clone()),
                Bind::Text(claim.key.clone()),
                Bind::Blob(packed::claim_hash(&claim.request_hash)),
                Bind::Blob(packed::claim_stream(&first.stream.id)),
                Bind::Integer(append.recorded_at.as_micros()),
            ]);
            // A second request with the same key later in this batch replays this one.
            lookups.claims.insert(
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
    let mut statements = Vec::new();
    let mut events = BulkInsert::new(INSERT_EVENTS, 11).on_conflict(STREAM_CHANGED);
    for (event, body) in &recorded {
        let packed = packed::pack(body, &event.payload, &event.stream_id);
        events.row([
            Bind::Text(event.tenant_id.to_string()),
            Bind::Integer(event.seq),
            Bind::Text(event.stream_kind.clone()),
            Bind::Text(event.stream_id.clone()),
            Bind::Integer(event.stream_version),
            Bind::Text(event.event_type.clone()),
            Bind::OptionalText(packed.is_none().then(|| event.payload.clone())),
            Bind::OptionalBlob(packed),
            Bind::Text(event.actor.clone()),
            Bind::Integer(event.recorded_at.as_micros()),
            Bind::Blob(event.hash.to_vec()),
        ]);
    }
    events.drain_into(&mut statements);
    statements.extend(projection::statements(
        recorded.iter().map(|(event, body)| (event, *body)),
    ));
    claims.drain_into(&mut statements);
    let mut heads = Vec::with_capacity(touched.len());
    for tenant in touched {
        if let Some((seq, hash)) = lookups.heads.get(&tenant) {
            heads.push((tenant, (*seq, *hash)));
            statements.push(Statement::new(
                "INSERT INTO chain_heads (tenant_id, seq, hash) VALUES ($1, $2, $3) \
                 ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                vec![
                    Bind::Text(tenant.to_string()),
                    Bind::Integer(*seq),
                    Bind::Blob(hash.to_vec()),
                ],
            ));
        }
    }
    Plan {
        outcomes,
        statements,
        heads,
    }
}
