//! Hale's storage: one [`Store`] over embedded SQLite (the default) or PostgreSQL.
//!
//! The store holds the append-only, hash-chained event log and the read models projected from
//! it. Writes go through one group-commit writer: concurrent appends queue, the writer applies a
//! batch in one transaction (each append in its own savepoint, so one failure never takes its
//! neighbours down) and answers each caller only after the commit. Reads go to a pool and touch
//! projections only.
//!
//! Both engines share one schema and one set of statements, written in the subset of SQL they
//! read the same way; the few places that differ are marked by [`Backend`]. The conformance
//! suite in `tests/` runs unchanged against both.
//!
//! Reads of one tenant's rows go through the tenant wall (`tenancy.rs`): on PostgreSQL they run
//! as a role that row-level security confines to that tenant.

mod accounts;
mod bulk;
mod care;
mod conditional;
mod custody;
mod error;
mod expiry;
mod maintenance;
mod migrations;
pub mod packed;
mod plan;
mod projection;
mod queries;
mod sqlite_writer;
mod tenancy;
mod verify;
mod writer;

#[cfg(feature = "testing")]
pub mod testing;

use std::str::FromStr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use tokio::sync::{mpsc, oneshot};

pub use accounts::{AccountRow, ApiKeyRow, SessionRow};
pub use care::{
    AssignmentCheck, AssignmentRow, HomeAssignment, HomeRows, LatestObservation, News2Row,
    PatientRow,
};
pub use conditional::ClaimedKey;
pub use custody::ChainCustody;
pub use error::StoreError;
pub use expiry::{ClaimCursor, ClaimSweep};
pub use hale_domain::chain::ChainKey;
pub use maintenance::TableCounts;
pub use queries::{
    AppRow, AppVersionRow, ObservationRow, Page, SubjectRow, SubmissionRow, TenantRow, TimeRange,
};
pub use verify::{ChainReport, ReadModelDrift, VerifyReport};
pub use writer::{Append, AppendOutcome, BatchCounts, IdempotencyClaim, Precondition};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The database engine behind a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::Config(
                "database URL must start with sqlite: or postgres://".into(),
            ))
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Tuning for a store; the defaults suit a 2-core machine.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Most appends committed in one transaction.
    pub max_batch: usize,
    /// Read connections. On PostgreSQL, this many for reads of one tenant's rows (behind the
    /// tenant wall) and as many again, plus two, shared by the writer and the reads that span
    /// tenants.
    pub read_connections: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_batch: 128,
            read_connections: 8,
        }
    }
}

/// A handle to the database. Cheap to clone; all clones share the pools and the writer.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    /// Reads that span tenants, as the connecting user (on PostgreSQL the same pool as the
    /// writer's).
    read_pool: AnyPool,
    /// Reads of one tenant's rows, through [`Store::scoped_read`] only: on PostgreSQL its
    /// sessions run as the reader role behind the tenant wall; on SQLite it is the read pool.
    scoped_pool: AnyPool,
    write_pool: AnyPool,
    /// Taken by [`Store::close`]: once every sender is gone the writer drains its queue and stops.
    writer: RwLock<Option<mpsc::Sender<writer::WriteJob>>>,
    /// What runs the writer, joined by [`Store::close`].
    writer_tasks: Mutex<Vec<WriterTask>>,
    checkpointer: Arc<custody::Checkpointer>,
    /// What the writer counts of its batches.
    batches: Arc<writer::BatchCounter>,
}

/// A thread or task the store started for its writer.
enum WriterTask {
    Thread(std::thread::JoinHandle<()>),
    Task(tokio::task::JoinHandle<()>),
}

impl Store {
    /// Connects to the database at `url` and starts the writer, which authenticates every
    /// entry with the custody's chain key and checkpoints the heads it commits. Does not
    /// migrate.
    pub async fn open(
        url: &str,
        options: StoreOptions,
        custody: ChainCustody,
    ) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let connect = AnyConnectOptions::from_str(url).map_err(|_| StoreError::unparsable_url())?;
        let (read_pool, scoped_pool, write_pool) = match backend {
            Backend::Sqlite => {
                // One writer connection: SQLite has one writer at a time anyway, and a single
                // connection makes the group commit the only queue.
                let write_pool = sqlite_pool(1).connect_with(connect.clone()).await?;
                let read_pool = sqlite_pool(options.read_connections)
                    .connect_with(connect)
                    .await?;
                (read_pool.clone(), read_pool, write_pool)
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(options.read_connections + 2)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(connect.clone())
                    .await?;
                // Lazy: the reader role exists only once the store is migrated.
                let scoped_pool = tenancy::scoped_pool_options(
                    AnyPoolOptions::new()
                        .max_connections(options.read_connections)
                        .acquire_timeout(Duration::from_secs(10)),
                )
                .connect_lazy_with(connect);
                (pool.clone(), scoped_pool, pool)
            }
        };
        let (sender, receiver) = mpsc::channel(options.max_batch * 8);
        let checkpointer = custody::Checkpointer::new(custody);
        let batches = Arc::new(writer::BatchCounter::default());
        let writer_tasks = match backend {
            Backend::Sqlite => sqlite_writer::spawn(
                url,
                receiver,
                options.max_batch,
                Arc::clone(&checkpointer),
                Arc::clone(&batches),
            )?
            .into_iter()
            .map(WriterTask::Thread)
            .collect(),
            Backend::Postgres => vec![WriterTask::Task(writer::spawn(
                // The writer holds one connection at a time; a second lets it begin the next
                // batch while the pool checks the first one back in.
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_lazy_with(writer::connect_options(url)?),
                receiver,
                options.max_batch,
                Arc::clone(&checkpointer),
                Arc::clone(&batches),
            ))],
        };
        custody::Checkpointer::spawn(&checkpointer);
        Ok(Self {
            inner: Arc::new(Inner {
                backend,
                read_pool,
                scoped_pool,
                write_pool,
                writer: RwLock::new(Some(sender)),
                writer_tasks: Mutex::new(writer_tasks),
                checkpointer,
                batches,
            }),
        })
    }

    /// Stops the store as a process exit would, but cleanly: appends already queued are
    /// committed and answered, later ones are refused as unavailable, the writer's threads or
    /// task are joined and the pools closed. Every clone of this store is closed with it.
    pub async fn close(&self) {
        // Dropping the last sender is what lets the writer's queue run dry and its loop end.
        if let Ok(mut writer) = self.inner.writer.write() {
            writer.take();
        }
        let tasks = match self.inner.writer_tasks.lock() {
            Ok(mut tasks) => std::mem::take(&mut *tasks),
            Err(_) => Vec::new(),
        };
        for task in tasks {
            let finished = match task {
                WriterTask::Thread(thread) => tokio::task::spawn_blocking(move || thread.join())
                    .await
                    .map(|joined| joined.is_ok())
                    .unwrap_or(false),
                WriterTask::Task(task) => task.await.is_ok(),
            };
            if !finished {
                tracing::error!("a store writer ended abnormally while closing");
            }
        }
        let counts = self.inner.batches.counts();
        tracing::info!(
            batches = counts.batches,
            appends = counts.appends,
            mean_batch = counts.mean_batch(),
            "the writer stopped"
        );
        // Every commit is in now: the heads it reached are checkpointed before the store goes.
        if self.inner.checkpointer.flush().is_err() {
            tracing::error!("writing the chain checkpoint file while closing failed");
        }
        self.inner.write_pool.close().await;
        self.inner.scoped_pool.close().await;
        self.inner.read_pool.close().await;
    }

    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// Applies every migration not yet applied, then, on PostgreSQL, raises the tenant wall
    /// over the tables they created (idempotent; see `tenancy.rs`).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrations::migrator(self.inner.backend)
            .run(&self.inner.write_pool)
            .await
            .map_err(|error| StoreError::Migration(error.to_string()))?;
        if self.inner.backend == Backend::Postgres {
            tenancy::install(&self.inner.write_pool).await?;
        }
        Ok(())
    }

    /// Whether the database answers, every migration this build knows is applied and, on
    /// PostgreSQL, the tenant wall stands.
    pub async fn is_ready(&self) -> Result<bool, StoreError> {
        let applied: Result<Vec<(i64,)>, sqlx::Error> =
            sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success = TRUE")
                .fetch_all(&self.inner.read_pool)
                .await;
        let applied = match applied {
            Ok(rows) => rows,
            // The table does not exist yet: reachable, not migrated.
            Err(sqlx::Error::Database(_)) => return Ok(false),
            Err(error) => return Err(error.into()),
        };
        let migrated = MIGRATOR.iter().all(|migration| {
            applied
                .iter()
                .any(|(version,)| *version == migration.version)
        });
        if !migrated || self.inner.backend == Backend::Sqlite {
            return Ok(migrated);
        }
        tenancy::installed(&self.inner.read_pool).await
    }

    /// How many batches the writer has committed so far, and the appends in them.
    pub fn batch_counts(&self) -> BatchCounts {
        self.inner.batches.counts()
    }

    /// Appends events through the group-commit writer; returns once they are durable.
    pub async fn append(&self, append: Append) -> Result<AppendOutcome, StoreError> {
        let (reply, outcome) = oneshot::channel();
        let queue = self
            .inner
            .writer
            .read()
            .ok()
            .and_then(|writer| writer.clone())
            .ok_or(StoreError::Unavailable)?;
        queue
            .send(writer::WriteJob { append, reply })
            .await
            .map_err(|_| StoreError::Unavailable)?;
        outcome.await.map_err(|_| StoreError::Unavailable)?
    }

    /// Writes the heads committed since the last checkpoint to the checkpoint file now (the
    /// background task does it once a second); call on a clean shutdown.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        let checkpointer = Arc::clone(&self.inner.checkpointer);
        tokio::task::spawn_blocking(move || checkpointer.flush())
            .await
            .map_err(|_| StoreError::Unavailable)?
    }

    pub(crate) fn custody(&self) -> &ChainCustody {
        self.inner.checkpointer.custody()
    }

    /// The pool for reads that span tenants (tenant and token lookups, verify, snapshots),
    /// which run as the connecting user, past the tenant wall. A read of one tenant's rows
    /// goes through [`Store::scoped_read`] instead.
    pub(crate) fn unscoped_reader(&self) -> &AnyPool {
        &self.inner.read_pool
    }

    pub(crate) fn scoped_pool(&self) -> &AnyPool {
        &self.inner.scoped_pool
    }

    pub(crate) fn write_pool(&self) -> &AnyPool {
        &self.inner.write_pool
    }
}

/// The last handle gone (a command finished, the server shut down cleanly): the heads
/// committed since the last checkpoint are written now, not lost with the process.
impl Drop for Inner {
    fn drop(&mut self) {
        if self.checkpointer.flush().is_err() {
            tracing::error!("writing the chain checkpoint file at shutdown failed");
        }
    }
}

fn sqlite_pool(connections: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(10))
        .after_connect(|connection, _| {
            Box::pin(async move {
                // WAL: readers never block the writer. synchronous=FULL: a commit is on disk
                // before the caller hears "stored", so an acknowledged submission survives a
                // power loss, not only a killed process. Group commit pays for the fsync.
                connection
                    .execute(
                        "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
                         PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
                    )
                    .await?;
                Ok(())
            })
        })
}
