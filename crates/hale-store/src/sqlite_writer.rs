//! The SQLite writer: one connection on a thread of its own, running the same batch plan as the
//! PostgreSQL writer. sqlx hands every SQLite statement to a worker thread and back; here the
//! whole batch runs where the connection lives, so a statement costs microseconds and writing
//! the batch's pages to the WAL is most of the work.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{Connection, OpenFlags, ToSql, TransactionBehavior};
use tokio::sync::mpsc;

use crate::Backend;
use crate::bulk::{Bind, Statement};
use crate::custody::Checkpointer;
use crate::error::StoreError;
use crate::plan::{self, Lookups, Needed};
use crate::writer::{Append, Outcomes, WriteJob, reply};

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
            Bind::Blob(bytes) => ToSqlOutput::from(bytes.as_slice()),
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
) -> Result<Vec<std::thread::JoinHandle<()>>, StoreError> {
    let path = path_of(url)?;
    let connection = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(Duration::from_secs(10))?;
    // Same settings as the read pool: WAL, and a commit on disk before anyone hears "stored".
    connection.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
         PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 0;",
    )?;
    connection.set_prepared_statement_cache_capacity(256);
    let writing = Arc::new(AtomicBool::new(true));
    let still_writing = Arc::clone(&writing);
    let writer = std::thread::Builder::new()
        .name("hale-sqlite-writer".into())
        .spawn(move || {
            run(connection, queue, max_batch, &checkpointer);
            still_writing.store(false, Ordering::Relaxed);
        })
        .map_err(|error| StoreError::Config(format!("cannot start the SQLite writer: {error}")))?;
    let checkpointer = std::thread::Builder::new()
        .name("hale-sqlite-checkpointer".into())
        .spawn(move || checkpoint(&path, &writing))
        .map_err(|error| {
            StoreError::Config(format!("cannot start the SQLite checkpointer: {error}"))
        })?;
    Ok(vec![writer, checkpointer])
}

/// WAL length (4 KiB frames, so 64 MiB) past which the checkpointer makes the WAL start over.
const WAL_FRAMES_BEFORE_RESTART: i64 = 16_384;

/// How long a restart checkpoint waits for readers before it gives up until the next turn.
const RESTART_WAIT: Duration = Duration::from_secs(2);

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Copies the WAL back into the database file on a thread of its own. The writer has automatic
/// checkpoints turned off: a checkpoint rewrites every page the WAL holds and syncs the file,
/// and done inside the writer it stalls every caller of that commit. A passive checkpoint here
/// runs beside the writer and never blocks it. Stops when the writer stops.
fn checkpoint(path: &str, writing: &AtomicBool) {
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
    // A restart checkpoint waits for the readers still on the WAL's old frames (reads last
    // milliseconds). Without a wait it fails whenever any read is open, which under load is
    // nearly always, and the WAL grows past its bound (measured: 340 MiB in ten seconds).
    if let Err(error) = connection.busy_timeout(RESTART_WAIT) {
        tracing::warn!(%error, "the SQLite checkpointer cannot set its busy timeout");
    }
    while writing.load(Ordering::Relaxed) {
        std::thread::sleep(CHECKPOINT_EVERY);
        // (busy, frames in the WAL, frames copied back)
        let passive = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, i64>(2)?,
            ))
        });
        match passive {
            // Under constant writes a passive checkpoint never lets the WAL start over, and a
            // long WAL slows every lookup in it: past a bound, a restart checkpoint holds the
            // writer back for one copy-back so the WAL wraps to its beginning.
            Ok((_, frames, _)) if frames > WAL_FRAMES_BEFORE_RESTART => {
                if let Err(error) =
                    connection.query_row("PRAGMA wal_checkpoint(RESTART)", [], |_| Ok(()))
                {
                    tracing::warn!(%error, "SQLite restart checkpoint failed; retrying");
                }
            }
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "SQLite checkpoint failed; retrying"),
        }
    }
}

fn run(
    mut connection: Connection,
    mut queue: mpsc::Receiver<WriteJob>,
    max_batch: usize,
    checkpointer: &Checkpointer,
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
        reply(&mut jobs, result);
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
            lookups.claims.insert(
                (row.get(0)?, row.get(1)?, row.get(2)?),
                (row.get(3)?, row.get(4)?),
            );
        }
    }
    for tenant in &needed.tenants {
        let mut statement =
            connection.prepare_cached(&numbered(plan::head_sql(Backend::Sqlite)))?;
        let mut rows = statement.query([tenant.to_string()])?;
        if let Some(row) = rows.next()? {
            let hash: String = row.get(1)?;
            lookups
                .heads
                .insert(*tenant, (row.get(0)?, plan::decode_hash(&hash)?));
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
