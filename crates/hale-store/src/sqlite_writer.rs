//! The SQLite writer: one connection on a thread of its own, running the same batch plan as the
//! PostgreSQL writer. sqlx hands every SQLite statement to a worker thread and back; here the
//! whole batch runs where the connection lives, so a statement costs microseconds and writing
//! the batch's pages to the WAL is most of the work.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{Connection, OpenFlags, ToSql, TransactionBehavior};
use tokio::sync::mpsc;

use crate::Backend;
use crate::bulk::{Bind, Statement};
use crate::custody::Checkpointer;
use crate::error::StoreError;
use crate::plan::{self, Lookups, Needed};
use crate::writer::{Append, BatchCounter, Outcomes, WriteJob, reply};

impl ToSql for Bind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Bind::Text(text) => ToSqlOutput::from(text.as_str()),
            Bind::OptionalText(Some(text)) => ToSqlOutput::from(text.as_str()),
            Bind::OptionalText(None) => ToSqlOutput::Owned(Value::Null),
            Bind::OptionalInteger(Some(number)) => ToSqlOutput::from(*number),
            Bind::OptionalInteger(None) => ToSqlOutput::Owned(Value::Null),
            Bind::Integer(number) => ToSqlOutput::from(*number),
            Bind::Real(number) => ToSqlOutput::from(*number),
            Bind::Blob(bytes) | Bind::OptionalBlob(Some(bytes)) => {
                ToSqlOutput::from(bytes.as_slice())
            }
            Bind::OptionalBlob(None) => ToSqlOutput::Owned(Value::Null),
        })
    }
}

/// The file behind a `sqlite:` URL.
fn path_of(url: &str) -> Result<String, StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| StoreError::Config("not a sqlite: URL".into()))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Err(StoreError::Config(
            "SQLite needs a database file (an in-memory database cannot be shared by the writer and readers)".into(),
        ));
    }
    Ok(path.to_owned())
}

/// Opens the writer's connection and starts its thread and the checkpointer's; both end once
/// every sender of `queue` is gone and the queue is drained.
pub(crate) fn spawn(
    url: &str,
    queue: mpsc::Receiver<WriteJob>,
    max_batch: usize,
    checkpointer: Arc<Checkpointer>,
    counter: Arc<BatchCounter>,
) -> Result<Vec<std::thread::JoinHandle<()>>, StoreError> {
    let path = path_of(url)?;
    let connection = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(WRITE_WAIT)?;
    // Same settings as the read pool: WAL, and a commit on disk before anyone hears "stored".
    connection.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
         PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 0;",
    )?;
    connection.pragma_update(None, "journal_size_limit", WAL_RESTART_BYTES)?;
    connection.set_prepared_statement_cache_capacity(256);
    let writing = Arc::new(AtomicBool::new(true));
    let still_writing = Arc::clone(&writing);
    let turn = Arc::new(Mutex::new(()));
    let wal = WalBound::new(&path, Arc::clone(&turn));
    let writer = std::thread::Builder::new()
        .name("hale-sqlite-writer".into())
        .spawn(move || {
            run(connection, queue, max_batch, &checkpointer, &counter, wal);
            still_writing.store(false, Ordering::Relaxed);
        })
        .map_err(|error| StoreError::Config(format!("cannot start the SQLite writer: {error}")))?;
    let checkpointer = std::thread::Builder::new()
        .name("hale-sqlite-checkpointer".into())
        .spawn(move || checkpoint(&path, &writing, &turn))
        .map_err(|error| {
            StoreError::Config(format!("cannot start the SQLite checkpointer: {error}"))
        })?;
    Ok(vec![writer, checkpointer])
}

/// WAL size (about 16,000 frames of a 4 KiB page) past which the writer, between two batches,
/// copies the rest of the WAL back and makes it start over from its first frame. It is also
/// the WAL's `journal_size_limit`: the first commit after a restart cuts the file back to it,
/// so the file grows past it only once the WAL holds more than this again. The WAL's bound is
/// this plus the frames of the one batch that crossed it.
const WAL_RESTART_BYTES: u64 = 64 * 1024 * 1024;

/// How long a commit waits for the database to be free (the other connections never write, so
/// only migrations make it wait at all).
const WRITE_WAIT: Duration = Duration::from_secs(10);

/// How long the writer's restart waits for reads still on the WAL's old frames (reads last
/// milliseconds) before it gives up for now.
const RESTART_WAIT: Duration = Duration::from_secs(2);

/// After a restart that a long read kept from finishing, how much further the WAL may grow
/// before the writer tries again; the step doubles with each restart that fails in a row, so a
/// read that outlasts [`RESTART_WAIT`] (verify, a snapshot) stalls a few batches while it
/// lasts, not every batch.
const RETRY_AFTER_BYTES: u64 = WAL_RESTART_BYTES / 4;

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Copies the WAL back into the database file on a thread of its own. The writer has automatic
/// checkpoints turned off: a checkpoint rewrites every page the WAL holds and syncs the file,
/// and done inside a commit it stalls every caller of that commit. Passive checkpoints here
/// run beside the writer and never block it, and they leave the writer's restart (see
/// [`WalBound`]) only the frames of the last quarter second to copy. Under constant writes a
/// passive checkpoint never lets the WAL start over; the writer does that. Each checkpoint
/// takes its `turn`: SQLite fails a second checkpoint at once instead of waiting, so the
/// writer's restart waits here for the one running, however long its sync takes. Stops when the writer stops.
fn checkpoint(path: &str, writing: &AtomicBool, turn: &Mutex<()>) {
    let connection = match Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) {
        Ok(connection) => connection,
        Err(error) => {
            tracing::error!(%error, "the SQLite checkpointer cannot open the database");
            return;
        }
    };
    while writing.load(Ordering::Relaxed) {
        std::thread::sleep(CHECKPOINT_EVERY);
        let _turn = take(turn);
        if let Err(error) = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(%error, "SQLite checkpoint failed; retrying");
        }
    }
}

/// The turn to checkpoint; a checkpoint that panicked left nothing half done in memory.
fn take(turn: &Mutex<()>) -> MutexGuard<'_, ()> {
    turn.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn is_busy(error: &rusqlite::Error) -> bool {
    error.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy)
}

/// The writer's watch on the WAL's size. Past [`WAL_RESTART_BYTES`], between two batches (the
/// writer holds no transaction then, and no other connection writes), it runs a `RESTART`
/// checkpoint: it copies back what the checkpointer has not, waits for the reads still on old
/// frames and makes the next commit write from the WAL's first frame, over blocks the file
/// already has (a commit that grows the file syncs more than one that overwrites it). The
/// batches queued meanwhile wait for it, once per restart point, never on every commit.
struct WalBound {
    wal: std::path::PathBuf,
    restart_at: u64,
    /// Growth before the next try after a failed restart.
    retry_after: u64,
    /// Shared with the checkpointer: one checkpoint at a time.
    turn: Arc<Mutex<()>>,
}

impl WalBound {
    fn new(database: &str, turn: Arc<Mutex<()>>) -> Self {
        Self {
            wal: format!("{database}-wal").into(),
            restart_at: WAL_RESTART_BYTES,
            retry_after: RETRY_AFTER_BYTES,
            turn,
        }
    }

    fn after_batch(&mut self, connection: &Connection) {
        let Ok(size) = std::fs::metadata(&self.wal).map(|metadata| metadata.len()) else {
            return;
        };
        if size <= self.restart_at {
            return;
        }
        let started = std::time::Instant::now();
        let outcome = {
            let _turn = take(&self.turn);
            restart(connection)
        };
        match outcome {
            Ok(true) => {
                let stalled_ms = started.elapsed().as_millis();
                tracing::debug!(wal_bytes = size, stalled_ms, "the SQLite WAL started over");
                self.restart_at = WAL_RESTART_BYTES;
                self.retry_after = RETRY_AFTER_BYTES;
                return;
            }
            Ok(false) => tracing::warn!(
                wal_bytes = size,
                "a long read kept the SQLite WAL from starting over; retrying later"
            ),
            Err(error) => {
                tracing::warn!(%error, "SQLite restart checkpoint failed; retrying later");
            }
        }
        self.restart_at = size.saturating_add(self.retry_after);
        self.retry_after = self.retry_after.saturating_mul(2);
    }
}

/// A `RESTART` checkpoint, waiting at most [`RESTART_WAIT`] for readers. SQLite reports a
/// checkpoint that readers (or another checkpoint) kept from finishing in its result row
/// (`busy = 1`), not as an error: true only when the WAL will start over.
fn restart(connection: &Connection) -> rusqlite::Result<bool> {
    connection.busy_timeout(RESTART_WAIT)?;
    let busy = connection.query_row("PRAGMA wal_checkpoint(RESTART)", [], |row| {
        row.get::<_, i64>(0)
    });
    connection.busy_timeout(WRITE_WAIT)?;
    match busy {
        Ok(busy) => Ok(busy == 0),
        Err(error) if is_busy(&error) => Ok(false),
        Err(error) => Err(error),
    }
}

fn run(
    mut connection: Connection,
    mut queue: mpsc::Receiver<WriteJob>,
    max_batch: usize,
    checkpointer: &Checkpointer,
    counter: &BatchCounter,
    mut wal: WalBound,
) {
    let mut jobs = Vec::with_capacity(max_batch);
    while let Some(first) = queue.blocking_recv() {
        jobs.push(first);
        while jobs.len() < max_batch {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let result = commit_batch(&mut connection, &jobs, checkpointer);
        reply(&mut jobs, result, counter);
        wal.after_batch(&connection);
    }
}

fn commit_batch(
    connection: &mut Connection,
    jobs: &[WriteJob],
    checkpointer: &Checkpointer,
) -> Result<Outcomes, StoreError> {
    let key = checkpointer.custody().key();
    let appends: Vec<&Append> = jobs.iter().map(|job| &job.append).collect();
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let fast = fetch_lookups(&transaction, &plan::needed(&appends)).and_then(|lookups| {
        let plan = plan::plan(key, &appends, lookups);
        execute(&transaction, &plan.statements)?;
        Ok((plan.outcomes, plan.heads))
    });
    match fast {
        Ok((outcomes, heads)) => {
            transaction.commit()?;
            checkpointer.committed(&heads);
            Ok(outcomes)
        }
        Err(error) => {
            transaction.rollback()?;
            tracing::debug!(error = %error, "batch falls back to one savepoint per append");
            let mut transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut outcomes = Vec::with_capacity(appends.len());
            let mut heads = Vec::new();
            for append in &appends {
                let savepoint = transaction.savepoint()?;
                let single = [*append];
                let result =
                    fetch_lookups(&savepoint, &plan::needed(&single)).and_then(|lookups| {
                        let mut plan = plan::plan(key, &single, lookups);
                        execute(&savepoint, &plan.statements)?;
                        let outcome = plan.outcomes.pop().unwrap_or(Err(StoreError::Unavailable));
                        Ok((outcome?, plan.heads))
                    });
                let result = match result {
                    Ok((outcome, planned)) => {
                        savepoint.commit()?;
                        heads.extend(planned);
                        Ok(outcome)
                    }
                    Err(error) => {
                        savepoint.finish()?;
                        Err(error)
                    }
                };
                outcomes.push(result);
            }
            transaction.commit()?;
            checkpointer.committed(&heads);
            Ok(outcomes)
        }
    }
}

/// `$1` placeholders, as the shared statements are written, become SQLite's numbered `?1`, so
/// that binding by position can never depend on the order names first appear in.
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

pub(crate) fn execute(connection: &Connection, statements: &[Statement]) -> Result<(), StoreError> {
    for statement in statements {
        let mut prepared = connection.prepare_cached(&numbered(&statement.sql))?;
        prepared
            .execute(rusqlite::params_from_iter(statement.binds.iter()))
            .map_err(|error| StoreError::from(error).conflict_as(statement.on_conflict))?;
    }
    Ok(())
}

fn fetch_lookups(connection: &Connection, needed: &Needed) -> Result<Lookups, StoreError> {
    let mut lookups = Lookups::default();
    for chunk in needed.claims.chunks(300) {
        let binds: Vec<&String> = chunk
            .iter()
            .flat_map(|(tenant, actor, key)| [tenant, actor, key])
            .collect();
        let mut statement = connection.prepare_cached(&numbered(&plan::claims_sql(chunk.len())))?;
        let mut rows = statement.query(rusqlite::params_from_iter(binds))?;
        while let Some(row) = rows.next()? {
            let (request_hash, stream_id): (Vec<u8>, Vec<u8>) = (row.get(3)?, row.get(4)?);
            lookups.claims.insert(
                (row.get(0)?, row.get(1)?, row.get(2)?),
                plan::stored_claim(&request_hash, &stream_id)?,
            );
        }
    }
    for tenant in &needed.tenants {
        let mut statement =
            connection.prepare_cached(&numbered(plan::head_sql(Backend::Sqlite)))?;
        let mut rows = statement.query([tenant.to_string()])?;
        if let Some(row) = rows.next()? {
            let hash: Vec<u8> = row.get(1)?;
            lookups
                .heads
                .insert(*tenant, (row.get(0)?, plan::stored_hash(&hash)?));
        }
    }
    for stream in &needed.streams {
        let mut statement = connection.prepare_cached(&numbered(plan::VERSION_SQL))?;
        let version: Option<i64> = statement
            .query_row(rusqlite::params![stream.0, stream.1, stream.2], |row| {
                row.get(0)
            })?;
        if let Some(version) = version {
            lookups.versions.insert(stream.clone(), version);
        }
    }
    for key in &needed.app_versions {
        let mut statement = connection.prepare_cached(&numbered(plan::STATUS_SQL))?;
        let mut rows = statement.query(rusqlite::params![key.0, key.1, key.2])?;
        if let Some(row) = rows.next()? {
            let status: String = row.get(0)?;
            lookups
                .statuses
                .insert(key.clone(), plan::parse_status(&status)?);
        }
    }
    Ok(lookups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_numbered() {
        assert_eq!(
            numbered("SELECT a FROM t WHERE b = $1 AND c = $12 AND d = 'x$'"),
            "SELECT a FROM t WHERE b = ?1 AND c = ?12 AND d = 'x$'"
        );
    }

    #[test]
    fn urls_name_their_file() {
        assert_eq!(
            path_of("sqlite:///tmp/h/hale.db?mode=rwc").unwrap(),
            "/tmp/h/hale.db"
        );
        assert_eq!(path_of("sqlite:relative.db").unwrap(), "relative.db");
        assert!(path_of("sqlite::memory:").is_err());
    }
}
