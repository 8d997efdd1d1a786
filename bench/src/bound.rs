//! The engine bound: the rows one submission writes in the store's current layout, written by
//! the tightest code this benchmark can give each engine — one connection, statements prepared
//! once, one transaction per batch, nothing planned and no JSON built while the clock runs
//! (payloads are made beforehand and reused). What the store reaches is read against this.
//!
//! The rows are those of `crates/hale-store/migrations` as they stand: one event (with its
//! chain hash), one submission, its five observations, its idempotency claim, and the chain
//! head once per batch. A change of layout changes [`layout`] with it.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hale_domain::chain::{ChainKey, GENESIS, entry_hash};
use hale_domain::event::{EventBody, RecordedEvent};
use hale_domain::{AppId, SubjectId, SubmissionId, TenantId, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::value::RawValue;

use crate::workload::Vitals;

/// Payloads made before the clock starts, reused round-robin.
const PREPARED: usize = 512;

/// What the bound achieved.
pub struct BoundOutcome {
    pub submissions: u64,
    pub elapsed: Duration,
    pub batch: usize,
}

impl BoundOutcome {
    pub fn per_second(&self) -> f64 {
        self.submissions as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

/// One submission's values, everything but ids and times ready.
struct Prepared {
    event_payload: String,
    observations: Vec<(String, String, f64, String)>,
}

fn prepare(rng: &mut StdRng) -> Result<Vec<Prepared>> {
    let mut prepared = Vec::with_capacity(PREPARED);
    for _ in 0..PREPARED {
        let vitals = Vitals::random(rng);
        let body = EventBody::SubmissionReceived {
            submission_id: SubmissionId::from_uuid(uuid::Uuid::now_v7()),
            subject_id: SubjectId::from_uuid(uuid::Uuid::new_v4()),
            app_id: AppId::from_uuid(uuid::Uuid::new_v4()),
            app_version: 1,
            authored_at: Timestamp::from_micros(unix_micros()),
            answers: RawValue::from_string(vitals.answers_json())?,
            observations: vitals.observations(),
            idempotency_key: Some(format!("bound-{}", uuid::Uuid::new_v4().simple())),
            request_hash: format!("{:064x}", rng.random::<u128>()),
            scores: None,
        };
        let observations = vitals
            .observations()
            .into_iter()
            .map(|o| (o.field, o.code, o.value, o.unit))
            .collect();
        prepared.push(Prepared {
            event_payload: body.to_payload(),
            observations,
        });
    }
    Ok(prepared)
}

/// The statements of the current layout, in both engines' words.
pub mod layout {
    pub const HEAD_SQLITE: &str = "SELECT seq, hash FROM chain_heads WHERE tenant_id = ?1";
    pub const HEAD_POSTGRES: &str =
        "SELECT seq, hash FROM chain_heads WHERE tenant_id = $1 FOR UPDATE";
    pub const UPSERT_HEAD: &str = "INSERT INTO chain_heads (tenant_id, seq, hash) \
         VALUES ($1, $2, $3) ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, \
         hash = excluded.hash";
    pub const EVENT: &str = "INSERT INTO events (tenant_id, seq, stream_kind, stream_id, \
         stream_version, event_type, payload, actor, recorded_at, prev_hash, hash) \
         VALUES (?1, ?2, 'submission', ?3, 1, 'submission_received', ?4, ?5, ?6, ?7, ?8)";
    pub const SUBMISSION: &str = "INSERT INTO submissions (tenant_id, event_seq, id, \
         subject_id, app_id, app_version, authored_at, recorded_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?6)";
    pub const OBSERVATION: &str = "INSERT INTO observations (tenant_id, subject_id, code, \
         effective_at, submission_id, position, field, value, unit) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
    pub const CLAIM: &str = "INSERT INTO idempotency_keys (tenant_id, actor, idempotency_key, \
         request_hash, stream_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

    pub const EVENTS_POSTGRES: &str = "INSERT INTO events (tenant_id, seq, stream_kind, \
         stream_id, stream_version, event_type, payload, actor, recorded_at, prev_hash, hash) \
         SELECT $1, seq, 'submission', id, 1, 'submission_received', payload, $2, $3, prev, hash \
         FROM UNNEST($4::int8[], $5::text[], $6::text[], $7::text[], $8::text[]) \
         AS u(seq, id, payload, prev, hash)";
    pub const SUBMISSIONS_POSTGRES: &str = "INSERT INTO submissions (tenant_id, event_seq, id, \
         subject_id, app_id, app_version, authored_at, recorded_at) \
         SELECT $1, seq, id, subject, $2, 1, $3, $3 \
         FROM UNNEST($4::int8[], $5::bytea[], $6::bytea[]) AS u(seq, id, subject)";
    pub const OBSERVATIONS_POSTGRES: &str = "INSERT INTO observations (tenant_id, subject_id, \
         code, effective_at, submission_id, position, field, value, unit) \
         SELECT $1, subject, code, $2, id, position, field, value, unit \
         FROM UNNEST($3::bytea[], $4::text[], $5::bytea[], $6::int8[], $7::text[], \
         $8::float8[], $9::text[]) AS u(subject, code, id, position, field, value, unit)";
    pub const CLAIMS_POSTGRES: &str = "INSERT INTO idempotency_keys (tenant_id, actor, \
         idempotency_key, request_hash, stream_id, created_at) \
         SELECT $1, $2, key, request_hash, id, $3 \
         FROM UNNEST($4::text[], $5::text[], $6::text[]) AS u(key, request_hash, id)";
}

/// Ids, hashes and times for one batch; the chain hash is computed as the writer does.
struct Batch {
    submissions: Vec<(usize, uuid::Uuid, usize, i64, String, String, String)>,
}

fn unix_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| i64::try_from(since.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The fixed parts every row shares.
struct Fixed {
    key: ChainKey,
    tenant: TenantId,
    tenant_text: String,
    app: Vec<u8>,
    actor: String,
    subjects: Vec<Vec<u8>>,
    prepared: Vec<Prepared>,
}

impl Fixed {
    fn new() -> Result<Self> {
        let mut rng = StdRng::from_os_rng();
        let tenant = TenantId::from_uuid(uuid::Uuid::new_v4());
        Ok(Self {
            key: ChainKey::from_bytes(rng.random()),
            tenant,
            tenant_text: tenant.to_string(),
            app: uuid::Uuid::new_v4().as_bytes().to_vec(),
            actor: uuid::Uuid::new_v4().to_string(),
            subjects: (0..crate::setup::SUBJECTS)
                .map(|_| uuid::Uuid::new_v4().as_bytes().to_vec())
                .collect(),
            prepared: prepare(&mut rng)?,
        })
    }

    /// Plans `size` submissions after `(seq, prev)`: ids, chain hashes. Returns the new head.
    fn batch(
        &self,
        rng: &mut StdRng,
        counter: &mut u64,
        size: usize,
        mut seq: i64,
        mut prev: [u8; 32],
        at: i64,
    ) -> (Batch, i64, [u8; 32]) {
        let mut submissions = Vec::with_capacity(size);
        for _ in 0..size {
            *counter += 1;
            let prepared = (*counter as usize) % self.prepared.len();
            let uuid = uuid::Uuid::now_v7();
            let id = uuid.to_string();
            seq += 1;
            let event = RecordedEvent {
                tenant_id: self.tenant,
                seq,
                stream_kind: "submission".to_owned(),
                stream_id: id,
                stream_version: 1,
                event_type: "submission_received".to_owned(),
                payload: self.prepared[prepared].event_payload.clone(),
                actor: self.actor.clone(),
                recorded_at: Timestamp::from_micros(at),
                prev_hash: prev,
                hash: [0; 32],
            };
            let hash = entry_hash(&self.key, &event);
            submissions.push((
                prepared,
                uuid,
                rng.random_range(0..self.subjects.len()),
                seq,
                hex::encode(prev),
                hex::encode(hash),
                format!("bound-{counter}"),
            ));
            prev = hash;
        }
        (Batch { submissions }, seq, prev)
    }
}

/// Creates the store's schema at `url` with the store's own migrations, then lets go of it.
pub async fn migrate(url: &str) -> Result<()> {
    let keys = tempfile::tempdir().context("a directory for the chain key")?;
    let custody = hale_store::ChainCustody::load_or_create(&keys.path().join("chain.key"))
        .context("creating a chain key")?;
    let store = hale_store::Store::open(url, hale_store::StoreOptions::default(), custody)
        .await
        .context("opening the store")?;
    store.migrate().await.context("migrating the store")?;
    store.close().await;
    Ok(())
}

/// Runs the bound on SQLite: the file at `path` already holds the migrated schema.
pub fn sqlite(path: &std::path::Path, duration: Duration, batch: usize) -> Result<BoundOutcome> {
    let fixed = Fixed::new()?;
    let mut connection = rusqlite::Connection::open(path).context("opening the SQLite file")?;
    connection.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA cache_size = -65536;",
    )?;
    let mut rng = StdRng::from_os_rng();
    let mut counter = 0u64;
    let mut head: (i64, [u8; 32]) = (0, GENESIS);
    let request_hash = format!("{:064x}", 7u8);
    let started = Instant::now();
    let mut submissions = 0u64;
    while started.elapsed() < duration {
        let at = unix_micros();
        let transaction =
            connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let stored: Option<(i64, String)> = transaction
            .prepare_cached(layout::HEAD_SQLITE)?
            .query_row([&fixed.tenant_text], |row| Ok((row.get(0)?, row.get(1)?)))
            .ok();
        if let Some((seq, _)) = stored {
            debug_assert_eq!(seq, head.0);
        }
        let (planned, seq, hash) = fixed.batch(&mut rng, &mut counter, batch, head.0, head.1, at);
        {
            let mut events = transaction.prepare_cached(layout::EVENT)?;
            let mut rows = transaction.prepare_cached(layout::SUBMISSION)?;
            let mut observations = transaction.prepare_cached(layout::OBSERVATION)?;
            let mut claims = transaction.prepare_cached(layout::CLAIM)?;
            for (prepared, id, subject, seq, prev, hash, key) in &planned.submissions {
                let prepared = &fixed.prepared[*prepared];
                let subject = &fixed.subjects[*subject];
                let bytes = id.as_bytes().as_slice();
                let id = id.to_string();
                events.execute(rusqlite::params![
                    fixed.tenant_text,
                    seq,
                    id,
                    prepared.event_payload,
                    fixed.actor,
                    at,
                    prev,
                    hash
                ])?;
                rows.execute(rusqlite::params![
                    fixed.tenant_text,
                    seq,
                    bytes,
                    subject,
                    fixed.app,
                    at
                ])?;
                for (position, (field, code, value, unit)) in
                    prepared.observations.iter().enumerate()
                {
                    observations.execute(rusqlite::params![
                        fixed.tenant_text,
                        subject,
                        code,
                        at,
                        bytes,
                        position as i64,
                        field,
                        value,
                        unit
                    ])?;
                }
                claims.execute(rusqlite::params![
                    fixed.tenant_text,
                    fixed.actor,
                    key,
                    request_hash,
                    id,
                    at
                ])?;
            }
            transaction
                .prepare_cached(&layout::UPSERT_HEAD.replace('$', "?"))?
                .execute(rusqlite::params![fixed.tenant_text, seq, hex::encode(hash)])?;
        }
        transaction.commit()?;
        head = (seq, hash);
        submissions += batch as u64;
    }
    Ok(BoundOutcome {
        submissions,
        elapsed: started.elapsed(),
        batch,
    })
}

/// Runs the bound on PostgreSQL at `url` (already migrated): multi-row inserts from arrays
/// (`UNNEST`), prepared once, the chain head locked as the writer locks it.
pub async fn postgres(url: &str, duration: Duration, batch: usize) -> Result<BoundOutcome> {
    use sqlx::{Connection, Row};
    let fixed = Fixed::new()?;
    let mut connection = sqlx::PgConnection::connect(url)
        .await
        .context("connecting to PostgreSQL")?;
    let mut rng = StdRng::from_os_rng();
    let mut counter = 0u64;
    let mut head: (i64, [u8; 32]) = (0, GENESIS);
    let request_hash = format!("{:064x}", 7u8);
    let started = Instant::now();
    let mut submissions = 0u64;
    while started.elapsed() < duration {
        let at = unix_micros();
        let mut transaction = connection.begin().await?;
        let _stored = sqlx::query(layout::HEAD_POSTGRES)
            .bind(&fixed.tenant_text)
            .fetch_optional(&mut *transaction)
            .await?
            .map(|row| row.get::<i64, _>(0));
        let (planned, seq, hash) = fixed.batch(&mut rng, &mut counter, batch, head.0, head.1, at);
        let mut seqs = Vec::with_capacity(batch);
        let mut ids = Vec::with_capacity(batch);
        let mut id_bytes = Vec::with_capacity(batch);
        let mut payloads = Vec::with_capacity(batch);
        let mut prevs = Vec::with_capacity(batch);
        let mut hashes = Vec::with_capacity(batch);
        let mut subjects = Vec::with_capacity(batch);
        let mut keys = Vec::with_capacity(batch);
        let mut request_hashes = Vec::with_capacity(batch);
        let (mut o_ids, mut o_positions, mut o_subjects, mut o_codes) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut o_fields, mut o_values, mut o_units) = (Vec::new(), Vec::new(), Vec::new());
        for (prepared, id, subject, seq, prev, hash, key) in &planned.submissions {
            let prepared = &fixed.prepared[*prepared];
            let subject = &fixed.subjects[*subject];
            seqs.push(*seq);
            ids.push(id.to_string());
            id_bytes.push(id.as_bytes().to_vec());
            payloads.push(prepared.event_payload.as_str());
            prevs.push(prev.as_str());
            hashes.push(hash.as_str());
            subjects.push(subject.clone());
            keys.push(key.as_str());
            request_hashes.push(request_hash.as_str());
            for (position, (field, code, value, unit)) in prepared.observations.iter().enumerate() {
                o_ids.push(id.as_bytes().to_vec());
                o_positions.push(position as i64);
                o_subjects.push(subject.clone());
                o_codes.push(code.as_str());
                o_fields.push(field.as_str());
                o_values.push(*value);
                o_units.push(unit.as_str());
            }
        }
        sqlx::query(layout::EVENTS_POSTGRES)
            .bind(&fixed.tenant_text)
            .bind(&fixed.actor)
            .bind(at)
            .bind(&seqs)
            .bind(&ids)
            .bind(&payloads)
            .bind(&prevs)
            .bind(&hashes)
            .execute(&mut *transaction)
            .await?;
        sqlx::query(layout::SUBMISSIONS_POSTGRES)
            .bind(&fixed.tenant_text)
            .bind(&fixed.app)
            .bind(at)
            .bind(&seqs)
            .bind(&id_bytes)
            .bind(&subjects)
            .execute(&mut *transaction)
            .await?;
        sqlx::query(layout::OBSERVATIONS_POSTGRES)
            .bind(&fixed.tenant_text)
            .bind(at)
            .bind(&o_subjects)
            .bind(&o_codes)
            .bind(&o_ids)
            .bind(&o_positions)
            .bind(&o_fields)
            .bind(&o_values)
            .bind(&o_units)
            .execute(&mut *transaction)
            .await?;
        sqlx::query(layout::CLAIMS_POSTGRES)
            .bind(&fixed.tenant_text)
            .bind(&fixed.actor)
            .bind(at)
            .bind(&keys)
            .bind(&request_hashes)
            .bind(&ids)
            .execute(&mut *transaction)
            .await?;
        sqlx::query(layout::UPSERT_HEAD)
            .bind(&fixed.tenant_text)
            .bind(seq)
            .bind(hex::encode(hash))
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        head = (seq, hash);
        submissions += batch as u64;
    }
    let _ = connection.close().await;
    Ok(BoundOutcome {
        submissions,
        elapsed: started.elapsed(),
        batch,
    })
}
