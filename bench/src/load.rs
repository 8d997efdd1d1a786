//! The loads: N clients posting submissions over HTTP to the server as fast as it answers (to
//! one tenant or spread over several), N clients reading observations back, and the same
//! appends made in-process through `hale_store::Store`, which no HTTP server can beat on the
//! same machine and engine; and the sampler of the server's memory and files meanwhile.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hale_domain::event::{EventBody, ExpectedVersion, Identifier, NewEvent, StreamRef};
use hale_domain::{AppId, SubjectId, SubmissionId, TenantId, Timestamp};
use hale_store::{Append, IdempotencyClaim, Store, StoreOptions};
use hdrhistogram::Histogram;
use hyper::body::Bytes;
use hyper::{Method, StatusCode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::value::RawValue;
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use crate::client::Connection;
use crate::server::rss_bytes;
use crate::setup::{Fixture, SUBJECTS};
use crate::workload::Vitals;

/// Latencies are kept in microseconds, up to a minute, to three significant digits.
const HISTOGRAM_MAX_MICROS: u64 = 60_000_000;
const SAMPLE_INTERVAL: Duration = Duration::from_millis(250);

/// How hard and how long to push.
#[derive(Clone, Copy, Debug)]
pub struct Load {
    pub clients: usize,
    pub duration: Duration,
}

/// What one load achieved.
pub struct Outcome {
    /// Requests (or appends) that stored a submission.
    pub successes: u64,
    /// Everything else, by kind ("HTTP 500", "transport", "store: …").
    pub errors: BTreeMap<String, u64>,
    /// From the first request to the last answer, in-flight requests included.
    pub elapsed: Duration,
    /// Latency of the successful requests, in microseconds.
    pub latency: Histogram<u64>,
    /// Store-only: appends per batch the writer committed during the load.
    pub mean_batch: Option<f64>,
}

impl Outcome {
    pub fn per_second(&self) -> f64 {
        self.successes as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// A latency percentile in milliseconds.
    pub fn percentile_ms(&self, percentile: f64) -> f64 {
        if self.latency.is_empty() {
            return 0.0;
        }
        self.latency.value_at_quantile(percentile / 100.0) as f64 / 1000.0
    }
}

/// One client's tally, merged into an [`Outcome`].
struct Tally {
    successes: u64,
    errors: BTreeMap<String, u64>,
    latency: Histogram<u64>,
}

impl Tally {
    fn new() -> Result<Self> {
        Ok(Self {
            successes: 0,
            errors: BTreeMap::new(),
            latency: Histogram::new_with_bounds(1, HISTOGRAM_MAX_MICROS, 3)
                .context("creating a histogram")?,
        })
    }

    fn success(&mut self, took: Duration) {
        self.successes += 1;
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.latency.saturating_record(micros.max(1));
    }

    fn error(&mut self, kind: String) {
        *self.errors.entry(kind).or_default() += 1;
    }
}

async fn gather(mut tasks: JoinSet<Result<Tally>>, started: Instant) -> Result<Outcome> {
    let mut total = Tally::new()?;
    while let Some(joined) = tasks.join_next().await {
        let tally = joined.context("a load task panicked")??;
        total.successes += tally.successes;
        for (kind, count) in tally.errors {
            *total.errors.entry(kind).or_default() += count;
        }
        total
            .latency
            .add(&tally.latency)
            .context("merging histograms")?;
    }
    Ok(Outcome {
        successes: total.successes,
        errors: total.errors,
        elapsed: started.elapsed(),
        latency: total.latency,
        mean_batch: None,
    })
}

/// What was sampled every 250 ms while a load ran: the server's memory and, on SQLite, the
/// size of the database file and of its write-ahead log.
#[derive(Clone, Copy, Debug, Default)]
pub struct Peaks {
    pub rss_bytes: u64,
    pub samples: u64,
    /// SQLite only: the largest `-wal` file seen.
    pub wal_bytes: Option<u64>,
    /// SQLite only: the largest database file seen (without its WAL).
    pub database_file_bytes: Option<u64>,
}

impl Peaks {
    fn note(&mut self, rss: Option<u64>, wal: Option<u64>, database_file: Option<u64>) {
        if let Some(rss) = rss {
            self.rss_bytes = self.rss_bytes.max(rss);
            self.samples += 1;
        }
        let larger = |kept: Option<u64>, seen: Option<u64>| match (kept, seen) {
            (Some(kept), Some(seen)) => Some(kept.max(seen)),
            (kept, seen) => kept.or(seen),
        };
        self.wal_bytes = larger(self.wal_bytes, wal);
        self.database_file_bytes = larger(self.database_file_bytes, database_file);
    }
}

/// Samples a server process (and its SQLite files, when given) every 250 ms until finished.
pub struct Sampler {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Peaks>,
}

impl Sampler {
    pub fn start(pid: u32, sqlite_file: Option<PathBuf>) -> Self {
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let wal_file = sqlite_file.as_deref().map(crate::size::wal_path);
            let file_size = |path: Option<&Path>| {
                path.and_then(|path| std::fs::metadata(path).ok())
                    .map(|meta| meta.len())
            };
            let mut peaks = Peaks::default();
            let mut ticker = tokio::time::interval(SAMPLE_INTERVAL);
            loop {
                tokio::select! {
                    _ = ticker.tick() => peaks.note(
                        rss_bytes(pid).ok(),
                        file_size(wal_file.as_deref()),
                        file_size(sqlite_file.as_deref()),
                    ),
                    _ = &mut stopped => break,
                }
            }
            peaks
        });
        Self { stop, task }
    }

    pub async fn finish(self) -> Result<Peaks> {
        let _ = self.stop.send(());
        self.task.await.context("the sampler panicked")
    }
}

/// Where one client's submissions go: a tenant, its clinician's token, its subjects and app.
#[derive(Clone)]
struct Target {
    submissions_path: Arc<str>,
    token: Arc<str>,
    subjects: Arc<[String]>,
    app_id: Arc<str>,
}

impl Target {
    fn of(fixture: &Fixture) -> Self {
        Self {
            submissions_path: format!("/api/v1/tenants/{}/submissions", fixture.tenant).into(),
            token: fixture.tokens.clinician.as_str().into(),
            subjects: fixture.subjects.clone().into(),
            app_id: fixture.app_id.as_str().into(),
        }
    }
}

/// One request a client sends, and the status that counts it a success.
struct Call {
    method: Method,
    path: String,
    token: Arc<str>,
    idempotency_key: Option<String>,
    body: Option<Bytes>,
    expected: StatusCode,
}

/// `load.clients` keep-alive clients, each sending the calls `next` makes for it (given its
/// number, the count of calls it made so far and its own random source) as fast as the server
/// answers, until the load's time is up.
async fn run_clients<F>(address: SocketAddr, load: Load, next: F) -> Result<Outcome>
where
    F: Fn(usize, u64, &mut StdRng) -> Call + Send + Sync + 'static,
{
    let next = Arc::new(next);
    let started = Instant::now();
    let deadline = started + load.duration;
    let mut tasks = JoinSet::new();
    for client in 0..load.clients {
        let next = next.clone();
        tasks.spawn(async move {
            let mut tally = Tally::new()?;
            let mut rng = StdRng::from_os_rng();
            let mut connection: Option<Connection> = None;
            let mut sequence = 0u64;
            while Instant::now() < deadline {
                let open = match connection.as_mut() {
                    Some(open) => open,
                    None => match Connection::open(address).await {
                        Ok(opened) => connection.insert(opened),
                        Err(_) => {
                            tally.error("connect".to_owned());
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                };
                sequence += 1;
                let call = next(client, sequence, &mut rng);
                let headers: Vec<(&'static str, &str)> = call
                    .idempotency_key
                    .as_deref()
                    .map(|key| ("idempotency-key", key))
                    .into_iter()
                    .collect();
                let sent = Instant::now();
                let reply = open
                    .send(
                        call.method,
                        &call.path,
                        Some(&call.token),
                        &headers,
                        call.body,
                    )
                    .await;
                match reply {
                    Ok(reply) if reply.status == call.expected => tally.success(sent.elapsed()),
                    Ok(reply) => tally.error(format!("HTTP {}", reply.status.as_u16())),
                    Err(_) => {
                        // The connection is in an unknown state: start a new one.
                        tally.error("transport".to_owned());
                        connection = None;
                    }
                }
            }
            Ok(tally)
        });
    }
    gather(tasks, started).await
}

/// Submissions over HTTP to a running server: client `n` posts to `fixtures[n % len]`, a
/// random subject of that tenant each time, each with an idempotency key of its own.
pub async fn submissions(address: SocketAddr, fixtures: &[Fixture], load: Load) -> Result<Outcome> {
    let targets: Vec<Target> = fixtures.iter().map(Target::of).collect();
    if targets.is_empty() {
        bail!("no tenant to submit to");
    }
    let run = uuid::Uuid::new_v4().simple().to_string();
    run_clients(address, load, move |client, sequence, rng| {
        let target = &targets[client % targets.len()];
        let subject = &target.subjects[rng.random_range(0..target.subjects.len())];
        let answers = Vitals::random(rng).answers_json();
        let app_id = &target.app_id;
        let body =
            format!(r#"{{"subject_id":"{subject}","app_id":"{app_id}","answers":{answers}}}"#);
        Call {
            method: Method::POST,
            path: target.submissions_path.to_string(),
            token: target.token.clone(),
            idempotency_key: Some(format!("bench-{run}-{client}-{sequence}")),
            body: Some(Bytes::from(body)),
            expected: StatusCode::CREATED,
        }
    })
    .await
}

/// The code the read load asks for: heart rate, one of each submission's observations.
pub const READ_CODE: &str = "8867-4";
/// How many observations each read asks for.
pub const READ_LIMIT: usize = 50;

/// Reads over HTTP: each call asks for a random subject's last 50 heart rates.
pub async fn reads(address: SocketAddr, fixture: &Fixture, load: Load) -> Result<Outcome> {
    let base = format!("/api/v1/tenants/{}/subjects", fixture.tenant);
    let token: Arc<str> = fixture.tokens.clinician.as_str().into();
    let subjects: Arc<[String]> = fixture.subjects.clone().into();
    run_clients(address, load, move |_, _, rng| {
        let subject = &subjects[rng.random_range(0..subjects.len())];
        Call {
            method: Method::GET,
            path: format!("{base}/{subject}/observations?code={READ_CODE}&limit={READ_LIMIT}"),
            token: token.clone(),
            idempotency_key: None,
            body: None,
            expected: StatusCode::OK,
        }
    })
    .await
}

/// The lower bound: the same appends through the store, in-process, on the database at `url`
/// (fresh and empty), with the same number of concurrent tasks for the same time.
pub async fn store_only(url: &str, load: Load) -> Result<Outcome> {
    // A chain key of its own: the bench measures the writer, not key custody.
    let keys = tempfile::tempdir().context("a directory for the chain key")?;
    let custody = hale_store::ChainCustody::load_or_create(&keys.path().join("chain.key"))
        .context("creating a chain key")?;
    let store = Store::open(url, StoreOptions::default(), custody)
        .await
        .context("opening the store")?;
    store.migrate().await.context("migrating the store")?;
    let clock = || Timestamp::from_micros(unix_micros());

    let tenant = TenantId::from_uuid(uuid::Uuid::new_v4());
    let actor = uuid::Uuid::new_v4().to_string();
    store
        .append(Append {
            tenant: TenantId::PLATFORM,
            actor: actor.clone(),
            recorded_at: clock(),
            events: vec![NewEvent {
                stream: StreamRef::tenant(tenant),
                expected: ExpectedVersion::NoStream,
                body: EventBody::TenantCreated {
                    tenant_id: tenant,
                    slug: crate::setup::TENANT_SLUG.to_owned(),
                    name: "Bench Health".to_owned(),
                },
            }],
            idempotency: None,
            preconditions: Vec::new(),
        })
        .await
        .context("creating the tenant")?;
    let mut subjects = Vec::with_capacity(SUBJECTS);
    for number in 1..=SUBJECTS {
        let subject = SubjectId::from_uuid(uuid::Uuid::new_v4());
        store
            .append(Append {
                tenant,
                actor: actor.clone(),
                recorded_at: clock(),
                events: vec![NewEvent {
                    stream: StreamRef::subject(subject),
                    expected: ExpectedVersion::NoStream,
                    body: EventBody::SubjectRegistered {
                        subject_id: subject,
                        identifiers: vec![Identifier {
                            system: "urn:bench".to_owned(),
                            value: format!("p{number}"),
                        }],
                        display_name: None,
                        birth_date: None,
                        identifier_keys: vec![format!("urn:bench|p{number}")],
                    },
                }],
                idempotency: None,
                preconditions: Vec::new(),
            })
            .await
            .context("registering a subject")?;
        subjects.push(subject);
    }
    let subjects: Arc<[SubjectId]> = subjects.into();
    let app = AppId::from_uuid(uuid::Uuid::new_v4());
    let actor: Arc<str> = actor.into();

    let before = store.batch_counts();
    let started = Instant::now();
    let deadline = started + load.duration;
    let mut tasks = JoinSet::new();
    for client in 0..load.clients {
        let (store, subjects, actor) = (store.clone(), subjects.clone(), actor.clone());
        tasks.spawn(async move {
            let mut tally = Tally::new()?;
            let mut rng = StdRng::from_os_rng();
            let mut sequence = 0u64;
            while Instant::now() < deadline {
                sequence += 1;
                let vitals = Vitals::random(&mut rng);
                let answers = RawValue::from_string(vitals.answers_json())?;
                let id = SubmissionId::from_uuid(uuid::Uuid::now_v7());
                let key = format!("store-{client}-{sequence}");
                let request_hash = format!("{:032x}{:032x}", rng.random::<u128>(), sequence);
                let now = clock();
                let append = Append {
                    tenant,
                    actor: actor.to_string(),
                    recorded_at: now,
                    events: vec![NewEvent {
                        stream: StreamRef::submission(id),
                        expected: ExpectedVersion::NoStream,
                        body: EventBody::SubmissionReceived {
                            submission_id: id,
                            subject_id: subjects[rng.random_range(0..subjects.len())],
                            app_id: app,
                            app_version: 1,
                            authored_at: now,
                            answers,
                            observations: vitals.observations(),
                            idempotency_key: Some(key.clone()),
                            request_hash: request_hash.clone(),
                            // The bench app maps no clinical score.
                            scores: None,
                        },
                    }],
                    idempotency: Some(IdempotencyClaim { key, request_hash }),
                    preconditions: Vec::new(),
                };
                let sent = Instant::now();
                match store.append(append).await {
                    Ok(_) => tally.success(sent.elapsed()),
                    Err(error) => tally.error(format!("store: {error}")),
                }
            }
            Ok(tally)
        });
    }
    let mut outcome = gather(tasks, started).await?;
    let after = store.batch_counts();
    outcome.mean_batch = Some(
        hale_store::BatchCounts {
            batches: after.batches - before.batches,
            appends: after.appends - before.appends,
        }
        .mean_batch(),
    );
    Ok(outcome)
}

fn unix_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|since| i64::try_from(since.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Engine, FreshDatabase};

    /// Correctness only: every append of a short store-only load on SQLite succeeds.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_short_store_only_load_stores_without_errors() -> Result<()> {
        let database = FreshDatabase::create(Engine::Sqlite).await?;
        let load = Load {
            clients: 4,
            duration: Duration::from_millis(500),
        };
        let outcome = store_only(&database.url, load).await?;
        assert!(outcome.successes > 0);
        assert_eq!(outcome.errors, BTreeMap::new());
        assert_eq!(outcome.latency.len(), outcome.successes);
        Ok(())
    }
}
