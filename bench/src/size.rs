//! What the database holds after a load: bytes on disk per stored submission, indexes included,
//! with SQLite's WAL checkpointed back into the file first; and the machine's load average,
//! since client, server and other work share its cores.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

/// The database after the load.
#[derive(Clone, Debug, Serialize)]
pub struct Footprint {
    pub submissions: i64,
    /// Tables and indexes (SQLite: pages in use; PostgreSQL: every table of the schema with its
    /// indexes and TOAST).
    pub bytes: i64,
    pub bytes_per_submission: f64,
    /// SQLite only: the WAL's size when the load ended, before the checkpoint.
    pub wal_bytes_at_end: Option<u64>,
}

impl Footprint {
    fn new(submissions: i64, bytes: i64, wal_bytes_at_end: Option<u64>) -> Self {
        Self {
            submissions,
            bytes,
            bytes_per_submission: if submissions > 0 {
                bytes as f64 / submissions as f64
            } else {
                0.0
            },
            wal_bytes_at_end,
        }
    }
}

/// SQLite's write-ahead log beside the database file: its name with `-wal` appended.
pub fn wal_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Checkpoints the WAL into the file (truncating it), then measures the pages in use.
pub fn sqlite(path: &Path) -> Result<Footprint> {
    let wal_bytes_at_end = std::fs::metadata(wal_path(path))
        .map(|meta| meta.len())
        .ok();
    let connection = rusqlite::Connection::open(path).context("opening the SQLite file")?;
    connection
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .context("checkpointing the WAL")?;
    let pages: i64 = connection.query_row("PRAGMA page_count", [], |row| row.get(0))?;
    let free: i64 = connection.query_row("PRAGMA freelist_count", [], |row| row.get(0))?;
    let page_size: i64 = connection.query_row("PRAGMA page_size", [], |row| row.get(0))?;
    let submissions: i64 =
        connection.query_row("SELECT COUNT(*) FROM submissions", [], |row| row.get(0))?;
    Ok(Footprint::new(
        submissions,
        (pages - free) * page_size,
        wal_bytes_at_end,
    ))
}

/// Every table of the `public` schema with its indexes and TOAST.
pub async fn postgres(url: &str) -> Result<Footprint> {
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(url)
        .await
        .context("connecting to PostgreSQL")?;
    let (bytes,): (Option<i64>,) = sqlx::query_as(
        "SELECT SUM(pg_total_relation_size(c.oid))::int8 FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind = 'r'",
    )
    .fetch_one(&mut connection)
    .await?;
    let (submissions,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM submissions")
        .fetch_one(&mut connection)
        .await?;
    let _ = connection.close().await;
    Ok(Footprint::new(submissions, bytes.unwrap_or(0), None))
}

/// PostgreSQL's `pg_database_size` of the database at `url`: every relation, WAL excluded.
pub async fn postgres_database_bytes(url: &str) -> Result<i64> {
    use sqlx::Connection;
    let mut connection = sqlx::PgConnection::connect(url)
        .await
        .context("connecting to PostgreSQL")?;
    let (bytes,): (i64,) = sqlx::query_as("SELECT pg_database_size(current_database())")
        .fetch_one(&mut connection)
        .await?;
    let _ = connection.close().await;
    Ok(bytes)
}

/// The 1-minute load average, from /proc/loadavg.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_per_submission_divides_and_never_divides_by_zero() {
        assert_eq!(Footprint::new(4, 1000, None).bytes_per_submission, 250.0);
        assert_eq!(Footprint::new(0, 1000, None).bytes_per_submission, 0.0);
    }

    #[test]
    fn the_wal_is_beside_the_database_file() {
        assert_eq!(
            wal_path(Path::new("/data/hale.db")),
            PathBuf::from("/data/hale.db-wal")
        );
    }

    #[test]
    fn the_load_average_is_read_on_linux() {
        assert!(load_average().is_some_and(|load| load >= 0.0));
    }
}
