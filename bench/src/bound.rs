//! The engine bound: the rows one submission writes in the store's current layout, written by
//! the tightest code this benchmark can give each engine — one connection, statements prepared
//! once, one transaction per batch, nothing planned and no JSON built while the clock runs
//! (payloads are made beforehand and reused). What the store reaches is read against this.
//!
//! The rows are those of `crates/hale-store/migrations` as they stand: one event (with its
//! chain hash and its payload packed, `hale_store::packed`), one submission, its five
//! observations and its idempotency claim (these three keyed by the tenant's small
//! `tenant_key`, looked up by id in each statement as the store's are), the newest
//! submission of its subject and app and the newest observation of each of its codes
//! (`latest_submissions`, `latest_observations`, one row per key and batch, as the store
//! keeps them), and the chain head once per batch. The store writes NEWS2 rows
//! (`news2_scores`, `latest_news2`) only for a scored submission, and the bench app maps no
//! score, so neither writes them here. A change of layout changes [`layout`] with it.
//!
//! The same writers fill a large database before a load (`prefill.rs`), with real payloads.

use std::collections::BTreeMap;
use std::sync::Arc;
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

/// One submission's event payload (its JSON text, which the chain hash covers, and the packed
/// form the store keeps, see `hale_store::packed`) and its observations (field, code, value,
/// unit).
pub struct Prepared {
    event_payload: String,
    packed: Option<Vec<u8>>,
    observations: Vec<(String, String, f64, String)>,
}

/// What a submission's event says beyond its vitals.
pub struct Submission {
    pub id: SubmissionId,
    pub subject: SubjectId,
    pub app: AppId,
    pub authored_at: i64,
    pub idempotency_key: String,
    pub request_hash: String,
}

impl Prepared {
    /// The event payload and observations the server records for `vitals` submitted so.
    pub fn new(submission: Submission, vitals: &Vitals) -> Result<Self> {
        let body = EventBody::SubmissionReceived {
            submission_id: submission.id,
            subject_id: submission.subject,
            app_id: submission.app,
            app_version: 1,
            authored_at: Timestamp::from_micros(submission.authored_at),
            answers: RawValue::from_string(vitals.answers_json())?,
            observations: vitals.observations(),
            idempotency_key: Some(submission.idempotency_key),
            request_hash: submission.request_hash,
            // The bench app maps no clinical score.
            scores: None,
        };
        let observations = vitals
            .observations()
            .into_iter()
            .map(|o| (o.field, o.code, o.value, o.unit))
            .collect();
        let event_payload = body.to_payload();
        let packed = hale_store::packed::pack(&body, &event_payload, &submission.id.to_string());
        Ok(Self {
            event_payload,
            packed,
            observations,
        })
    }
}

impl Prepared {
    /// The JSON text the `payload` column keeps: none when the payload is packed.
    fn json_payload(&self) -> Option<&str> {
        self.packed.is_none().then_some(self.event_payload.as_str())
    }
}

fn prepare(rng: &mut StdRng) -> Result<Vec<Arc<Prepared>>> {
    (0..PREPARED)
        .map(|_| {
            let submission = Submission {
                id: SubmissionId::from_uuid(uuid::Uuid::now_v7()),
                subject: SubjectId::from_uuid(uuid::Uuid::new_v4()),
                app: AppId::from_uuid(uuid::Uuid::new_v4()),
                authored_at: unix_micros(),
                idempotency_key: format!("bound-{}", uuid::Uuid::new_v4().simple()),
                request_hash: format!("{:064x}", rng.random::<u128>()),
            };
            Prepared::new(submission, &Vitals::random(rng)).map(Arc::new)
        })
        .collect()
}

/// The statements of the current layout, in both engines' words.
pub mod layout {
    pub const HEAD_SQLITE: &str = "SELECT seq, hash FROM chain_heads WHERE tenant_id = ?1";
    pub const HEAD_POSTGRES: &str =
        "SELECT seq, hash FROM chain_heads WHERE tenant_id = $1 FOR UPDATE";
    pub const UPSERT_HEAD: &str = "INSERT INTO chain_heads (tenant_id, seq, hash) \
         VALUES ($1, $2, $3) ON CONFLICT (tenant_id) DO UPDATE SET seq = excluded.seq, \
         hash = excluded.hash";
    /// A submission's payload packed (its JSON text only where packing would change it); no
    /// previous hash, which is the row before's own.
    pub const EVENT: &str = "INSERT INTO events (tenant_id, seq, stream_kind, stream_id, \
         stream_version, event_type, payload, packed, actor, recorded_at, hash) \
         VALUES (?1, ?2, 'submission', ?3, 1, 'submission_received', ?4, ?5, ?6, ?7, ?8)";
    /// The bound's tenant as its creation leaves it: the tables that grow with every
    /// submission are keyed by its `tenant_key`, which the statements below look up by id as
    /// the store's do.
    pub const TENANT: &str = "INSERT INTO tenants (id, slug, name, created_at, tenant_key) \
         VALUES (?1, 'bound', 'bound', 0, 1)";
    pub const SUBMISSION: &str = "INSERT INTO submissions (tenant_key, event_seq, id, \
         subject_id, app_id, app_version, authored_at, recorded_at) \
         VALUES ((SELECT tenant_key FROM tenants WHERE id = ?1), ?2, ?3, ?4, ?5, 1, ?6, ?6)";
    pub const OBSERVATION: &str = "INSERT INTO observations (tenant_key, subject_id, code, \
         effective_at, submission_id, position, field, value, unit) \
         VALUES ((SELECT tenant_key FROM tenants WHERE id = ?1), ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
    pub const CLAIM: &str = "INSERT INTO idempotency_keys (tenant_key, actor, \
         idempotency_key, request_hash, stream_id, created_at) \
         VALUES ((SELECT tenant_key FROM tenants WHERE id = ?1), ?2, ?3, ?4, ?5, ?6)";

    /// The upserts' conflict clauses: the newer row wins, by time and then submission id.
    const LATEST_SUBMISSION_CONFLICT: &str = "ON CONFLICT (tenant_id, subject_id, app_id) \
         DO UPDATE SET authored_at = excluded.authored_at, \
         submission_id = excluded.submission_id \
         WHERE (excluded.authored_at, excluded.submission_id) > \
         (latest_submissions.authored_at, latest_submissions.submission_id)";
    const LATEST_OBSERVATION_CONFLICT: &str = "ON CONFLICT (tenant_id, subject_id, code) \
         DO UPDATE SET effective_at = excluded.effective_at, \
         submission_id = excluded.submission_id, position = excluded.position, \
         value = excluded.value, unit = excluded.unit \
         WHERE (excluded.effective_at, excluded.submission_id, excluded.position) > \
         (latest_observations.effective_at, latest_observations.submission_id, \
         latest_observations.position)";

    pub fn latest_submission() -> String {
        format!(
            "INSERT INTO latest_submissions (tenant_id, subject_id, app_id, authored_at, \
             submission_id) VALUES (?1, ?2, ?3, ?4, ?5) {LATEST_SUBMISSION_CONFLICT}"
        )
    }

    pub fn latest_observation() -> String {
        format!(
            "INSERT INTO latest_observations (tenant_id, subject_id, code, effective_at, \
             submission_id, position, value, unit) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             {LATEST_OBSERVATION_CONFLICT}"
        )
    }

    pub const EVENTS_POSTGRES: &str = "INSERT INTO events (tenant_id, seq, stream_kind, \
         stream_id, stream_version, event_type, payload, packed, actor, recorded_at, hash) \
         SELECT $1, seq, 'submission', id, 1, 'submission_received', payload, packed, $2, $3, \
         hash FROM UNNEST($4::int8[], $5::text[], $6::text[], $7::bytea[], $8::bytea[]) \
         AS u(seq, id, payload, packed, hash)";
    pub const SUBMISSIONS_POSTGRES: &str = "INSERT INTO submissions (tenant_key, event_seq, \
         id, subject_id, app_id, app_version, authored_at, recorded_at) \
         SELECT (SELECT tenant_key FROM tenants WHERE id = $1), seq, id, subject, $2, 1, $3, $3 \
         FROM UNNEST($4::int8[], $5::bytea[], $6::bytea[]) AS u(seq, id, subject)";
    pub const OBSERVATIONS_POSTGRES: &str = "INSERT INTO observations (tenant_key, \
         subject_id, code, effective_at, submission_id, position, field, value, unit) \
         SELECT (SELECT tenant_key FROM tenants WHERE id = $1), subject, code, $2, id, \
         position, field, value, unit \
         FROM UNNEST($3::bytea[], $4::text[], $5::bytea[], $6::int8[], $7::text[], \
         $8::float8[], $9::text[]) AS u(subject, code, id, position, field, value, unit)";
    pub const CLAIMS_POSTGRES: &str = "INSERT INTO idempotency_keys (tenant_key, actor, \
         idempotency_key, request_hash, stream_id, created_at) \
         SELECT (SELECT tenant_key FROM tenants WHERE id = $1), $2, key, request_hash, id, $3 \
         FROM UNNEST($4::text[], $5::bytea[], $6::bytea[]) AS u(key, request_hash, id)";

    pub fn latest_submissions_postgres() -> String {
        format!(
            "INSERT INTO latest_submissions (tenant_id, subject_id, app_id, authored_at, \
             submission_id) SELECT $1, subject, $2, $3, id \
             FROM UNNEST($4::text[], $5::bytea[]) AS u(subject, id) \
             {LATEST_SUBMISSION_CONFLICT}"
        )
    }

    pub fn latest_observations_postgres() -> String {
        format!(
            "INSERT INTO latest_observations (tenant_id, subject_id, code, effective_at, \
             submission_id, position, value, unit) \
             SELECT $1, subject, code, $2, id, position, value, unit \
             FROM UNNEST($3::text[], $4::text[], $5::bytea[], $6::int8[], $7::float8[], \
             $8::text[]) AS u(subject, code, id, position, value, unit) \
             {LATEST_OBSERVATION_CONFLICT}"
        )
    }
}

/// One submission of a batch: its payload, ids, place in the chain and idempotency key.
pub struct Row {
    prepared: Arc<Prepared>,
    id: uuid::Uuid,
    /// An index into [`Fixed::subjects`].
    subject: usize,
    seq: i64,
    hash: [u8; 32],
    key: String,
}

/// The head of the tenant's chain: the last sequence number and its hash.
#[derive(Clone, Copy, Debug)]
pub struct Head {
    pub seq: i64,
    pub hash: [u8; 32],
}

impl Head {
    pub const EMPTY: Head = Head {
        seq: 0,
        hash: GENESIS,
    };
}

fn unix_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| i64::try_from(since.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The parts every row of one tenant's chain shares.
pub struct Fixed {
    key: ChainKey,
    tenant: TenantId,
    tenant_text: String,
    app: uuid::Uuid,
    app_text: String,
    actor: String,
    subjects: Vec<uuid::Uuid>,
    subject_texts: Vec<String>,
    /// Idempotency keys are this and a counter.
    key_prefix: &'static str,
    request_hash: String,
    /// The request hash as a claim stores it (`hale_store::packed::claim_hash`).
    packed_request_hash: Vec<u8>,
}

impl Fixed {
    /// A tenant's chain: its key, the app and subjects submitted for, the acting principal.
    pub fn new(
        key: ChainKey,
        tenant: TenantId,
        app: uuid::Uuid,
        subjects: Vec<uuid::Uuid>,
        actor: String,
        key_prefix: &'static str,
    ) -> Self {
        Self {
            key,
            tenant,
            tenant_text: tenant.to_string(),
            app,
            app_text: app.to_string(),
            actor,
            subject_texts: subjects.iter().map(ToString::to_string).collect(),
            subjects,
            key_prefix,
            request_hash: format!("{:064x}", 7u8),
            packed_request_hash: hale_store::packed::claim_hash(&format!("{:064x}", 7u8)),
        }
    }

    /// A fresh tenant with random ids and key, as the bound writes.
    fn random() -> Self {
        let mut rng = StdRng::from_os_rng();
        Self::new(
            ChainKey::from_bytes(rng.random()),
            TenantId::from_uuid(uuid::Uuid::new_v4()),
            uuid::Uuid::new_v4(),
            (0..crate::setup::SUBJECTS)
                .map(|_| uuid::Uuid::new_v4())
                .collect(),
            uuid::Uuid::new_v4().to_string(),
            "bound-",
        )
    }

    pub fn tenant_text(&self) -> &str {
        &self.tenant_text
    }

    pub fn app(&self) -> AppId {
        AppId::from_uuid(self.app)
    }

    pub fn subject(&self, index: usize) -> SubjectId {
        SubjectId::from_uuid(self.subjects[index])
    }

    pub fn request_hash(&self) -> &str {
        &self.request_hash
    }

    pub fn idempotency_key(&self, counter: u64) -> String {
        format!("{}{counter}", self.key_prefix)
    }

    /// Plans `size` submissions after `head`, recorded at `at`: ids, a random subject each,
    /// the payload `payload` gives (for the submission's id, subject index and counter), and
    /// the chain hash computed as the writer does. Moves `head` to the last of them.
    pub fn plan(
        &self,
        rng: &mut StdRng,
        counter: &mut u64,
        size: usize,
        head: &mut Head,
        at: i64,
        mut payload: impl FnMut(uuid::Uuid, usize, u64) -> Result<Arc<Prepared>>,
    ) -> Result<Vec<Row>> {
        let mut rows = Vec::with_capacity(size);
        for _ in 0..size {
            *counter += 1;
            let id = uuid::Uuid::now_v7();
            let subject = rng.random_range(0..self.subjects.len());
            let prepared = payload(id, subject, *counter)?;
            let seq = head.seq + 1;
            let event = RecordedEvent {
                tenant_id: self.tenant,
                seq,
                stream_kind: "submission".to_owned(),
                stream_id: id.to_string(),
                stream_version: 1,
                event_type: "submission_received".to_owned(),
                payload: prepared.event_payload.clone(),
                actor: self.actor.clone(),
                recorded_at: Timestamp::from_micros(at),
                prev_hash: head.hash,
                hash: [0; 32],
            };
            let hash = entry_hash(&self.key, &event);
            rows.push(Row {
                prepared,
                id,
                subject,
                seq,
                hash,
                key: self.idempotency_key(*counter),
            });
            *head = Head { seq, hash };
        }
        Ok(rows)
    }

    /// The newest row of each subject in `rows` (ids grow with time, so the last one): what
    /// the newest-of tables keep, one upsert per key and batch as the store makes them.
    fn newest_per_subject<'a>(&self, rows: &'a [Row]) -> Vec<&'a Row> {
        let mut newest = BTreeMap::new();
        for row in rows {
            newest.insert(row.subject, row);
        }
        newest.into_values().collect()
    }
}

/// Writes `rows` and the new chain head inside `transaction` (SQLite), statements cached.
pub fn write_sqlite(
    transaction: &rusqlite::Transaction<'_>,
    fixed: &Fixed,
    rows: &[Row],
    at: i64,
) -> Result<()> {
    let mut events = transaction.prepare_cached(layout::EVENT)?;
    let mut submissions = transaction.prepare_cached(layout::SUBMISSION)?;
    let mut observations = transaction.prepare_cached(layout::OBSERVATION)?;
    let mut claims = transaction.prepare_cached(layout::CLAIM)?;
    let tenant = &fixed.tenant_text;
    let app = fixed.app.as_bytes().as_slice();
    for row in rows {
        let subject = fixed.subjects[row.subject].as_bytes().as_slice();
        let bytes = row.id.as_bytes().as_slice();
        let id = row.id.to_string();
        events.execute(rusqlite::params![
            tenant,
            row.seq,
            id,
            row.prepared.json_payload(),
            row.prepared.packed,
            fixed.actor,
            at,
            row.hash
        ])?;
        submissions.execute(rusqlite::params![tenant, row.seq, bytes, subject, app, at])?;
        for (position, (field, code, value, unit)) in row.prepared.observations.iter().enumerate() {
            observations.execute(rusqlite::params![
                tenant,
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
            tenant,
            fixed.actor,
            row.key,
            fixed.packed_request_hash,
            hale_store::packed::claim_stream(&id),
            at
        ])?;
    }
    let mut latest_submissions = transaction.prepare_cached(&layout::latest_submission())?;
    let mut latest_observations = transaction.prepare_cached(&layout::latest_observation())?;
    for row in fixed.newest_per_subject(rows) {
        let subject = &fixed.subject_texts[row.subject];
        let bytes = row.id.as_bytes().as_slice();
        latest_submissions.execute(rusqlite::params![
            tenant,
            subject,
            fixed.app_text,
            at,
            bytes
        ])?;
        for (position, (_, code, value, unit)) in row.prepared.observations.iter().enumerate() {
            latest_observations.execute(rusqlite::params![
                tenant,
                subject,
                code,
                at,
                bytes,
                position as i64,
                value,
                unit
            ])?;
        }
    }
    if let Some(last) = rows.last() {
        transaction
            .prepare_cached(&layout::UPSERT_HEAD.replace('$', "?"))?
            .execute(rusqlite::params![tenant, last.seq, last.hash.as_slice()])?;
    }
    Ok(())
}

/// Writes `rows` and the new chain head on `connection`, inside the caller's transaction
/// (PostgreSQL): one multi-row insert from arrays (`UNNEST`) per table.
pub async fn write_postgres(
    connection: &mut sqlx::PgConnection,
    fixed: &Fixed,
    rows: &[Row],
    at: i64,
) -> Result<()> {
    let mut seqs = Vec::with_capacity(rows.len());
    let mut ids = Vec::with_capacity(rows.len());
    let mut id_bytes = Vec::with_capacity(rows.len());
    let mut payloads = Vec::with_capacity(rows.len());
    let mut packed = Vec::with_capacity(rows.len());
    let mut hashes = Vec::with_capacity(rows.len());
    let mut subjects = Vec::with_capacity(rows.len());
    let mut keys = Vec::with_capacity(rows.len());
    let mut request_hashes = Vec::with_capacity(rows.len());
    let mut claim_streams = Vec::with_capacity(rows.len());
    let (mut o_ids, mut o_positions, mut o_subjects, mut o_codes) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut o_fields, mut o_values, mut o_units) = (Vec::new(), Vec::new(), Vec::new());
    for row in rows {
        let subject = fixed.subjects[row.subject].as_bytes().as_slice();
        seqs.push(row.seq);
        ids.push(row.id.to_string());
        id_bytes.push(row.id.as_bytes().as_slice());
        payloads.push(row.prepared.json_payload());
        packed.push(row.prepared.packed.as_deref());
        hashes.push(row.hash.as_slice());
        subjects.push(subject);
        keys.push(row.key.as_str());
        request_hashes.push(fixed.packed_request_hash.as_slice());
        claim_streams.push(hale_store::packed::claim_stream(&row.id.to_string()));
        for (position, (field, code, value, unit)) in row.prepared.observations.iter().enumerate() {
            o_ids.push(row.id.as_bytes().as_slice());
            o_positions.push(position as i64);
            o_subjects.push(subject);
            o_codes.push(code.as_str());
            o_fields.push(field.as_str());
            o_values.push(*value);
            o_units.push(unit.as_str());
        }
    }
    let tenant = &fixed.tenant_text;
    sqlx::query(layout::EVENTS_POSTGRES)
        .bind(tenant)
        .bind(&fixed.actor)
        .bind(at)
        .bind(&seqs)
        .bind(&ids)
        .bind(&payloads)
        .bind(&packed)
        .bind(&hashes)
        .execute(&mut *connection)
        .await?;
    sqlx::query(layout::SUBMISSIONS_POSTGRES)
        .bind(tenant)
        .bind(fixed.app.as_bytes().as_slice())
        .bind(at)
        .bind(&seqs)
        .bind(&id_bytes)
        .bind(&subjects)
        .execute(&mut *connection)
        .await?;
    sqlx::query(layout::OBSERVATIONS_POSTGRES)
        .bind(tenant)
        .bind(at)
        .bind(&o_subjects)
        .bind(&o_codes)
        .bind(&o_ids)
        .bind(&o_positions)
        .bind(&o_fields)
        .bind(&o_values)
        .bind(&o_units)
        .execute(&mut *connection)
        .await?;
    sqlx::query(layout::CLAIMS_POSTGRES)
        .bind(tenant)
        .bind(&fixed.actor)
        .bind(at)
        .bind(&keys)
        .bind(&request_hashes)
        .bind(&claim_streams)
        .execute(&mut *connection)
        .await?;

    let newest = fixed.newest_per_subject(rows);
    let (mut l_subjects, mut l_ids) = (Vec::new(), Vec::new());
    let (mut lo_subjects, mut lo_codes, mut lo_ids) = (Vec::new(), Vec::new(), Vec::new());
    let (mut lo_positions, mut lo_values, mut lo_units) = (Vec::new(), Vec::new(), Vec::new());
    for row in newest {
        let subject = fixed.subject_texts[row.subject].as_str();
        l_subjects.push(subject);
        l_ids.push(row.id.as_bytes().as_slice());
        for (position, (_, code, value, unit)) in row.prepared.observations.iter().enumerate() {
            lo_subjects.push(subject);
            lo_codes.push(code.as_str());
            lo_ids.push(row.id.as_bytes().as_slice());
            lo_positions.push(position as i64);
            lo_values.push(*value);
            lo_units.push(unit.as_str());
        }
    }
    sqlx::query(&layout::latest_submissions_postgres())
        .bind(tenant)
        .bind(&fixed.app_text)
        .bind(at)
        .bind(&l_subjects)
        .bind(&l_ids)
        .execute(&mut *connection)
        .await?;
    sqlx::query(&layout::latest_observations_postgres())
        .bind(tenant)
        .bind(at)
        .bind(&lo_subjects)
        .bind(&lo_codes)
        .bind(&lo_ids)
        .bind(&lo_positions)
        .bind(&lo_values)
        .bind(&lo_units)
        .execute(&mut *connection)
        .await?;
    if let Some(last) = rows.last() {
        sqlx::query(layout::UPSERT_HEAD)
            .bind(tenant)
            .bind(last.seq)
            .bind(last.hash.as_slice())
            .execute(&mut *connection)
            .await?;
    }
    Ok(())
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

/// Opens SQLite's file as the store does: WAL, `synchronous = FULL`.
pub fn open_sqlite(path: &std::path::Path) -> Result<rusqlite::Connection> {
    let connection = rusqlite::Connection::open(path).context("opening the SQLite file")?;
    connection.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA cache_size = -65536;",
    )?;
    Ok(connection)
}

/// Runs the bound on SQLite: the file at `path` already holds the migrated schema.
pub fn sqlite(path: &std::path::Path, duration: Duration, batch: usize) -> Result<BoundOutcome> {
    let fixed = Fixed::random();
    let mut rng = StdRng::from_os_rng();
    let prepared = prepare(&mut rng)?;
    let mut connection = open_sqlite(path)?;
    connection.execute(layout::TENANT, [&fixed.tenant_text])?;
    let mut counter = 0u64;
    let mut head = Head::EMPTY;
    let started = Instant::now();
    let mut submissions = 0u64;
    while started.elapsed() < duration {
        let at = unix_micros();
        let transaction =
            connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let stored: Option<(i64, Vec<u8>)> = transaction
            .prepare_cached(layout::HEAD_SQLITE)?
            .query_row([&fixed.tenant_text], |row| Ok((row.get(0)?, row.get(1)?)))
            .ok();
        if let Some((seq, _)) = stored {
            debug_assert_eq!(seq, head.seq);
        }
        let rows = fixed.plan(&mut rng, &mut counter, batch, &mut head, at, |_, _, n| {
            Ok(prepared[n as usize % prepared.len()].clone())
        })?;
        write_sqlite(&transaction, &fixed, &rows, at)?;
        transaction.commit()?;
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
    let fixed = Fixed::random();
    let mut rng = StdRng::from_os_rng();
    let prepared = prepare(&mut rng)?;
    let mut connection = sqlx::PgConnection::connect(url)
        .await
        .context("connecting to PostgreSQL")?;
    sqlx::query(&layout::TENANT.replace('?', "$"))
        .bind(&fixed.tenant_text)
        .execute(&mut connection)
        .await?;
    let mut counter = 0u64;
    let mut head = Head::EMPTY;
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
        let rows = fixed.plan(&mut rng, &mut counter, batch, &mut head, at, |_, _, n| {
            Ok(prepared[n as usize % prepared.len()].clone())
        })?;
        write_postgres(&mut transaction, &fixed, &rows, at).await?;
        transaction.commit().await?;
        submissions += batch as u64;
    }
    let _ = connection.close().await;
    Ok(BoundOutcome {
        submissions,
        elapsed: started.elapsed(),
        batch,
    })
}
