//! What can go wrong in the store, in terms the core can act on. Database detail stays in the
//! log; callers see a kind.

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A stream was not at the expected version, or a unique key is taken.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The idempotency key was used before with a different request.
    #[error("idempotency key reused with a different request")]
    IdempotencyMismatch,
    /// An append's precondition failed: the app version it submits to is not published (it
    /// was retired, or never published).
    #[error("the app version is not published")]
    VersionNotPublished,
    /// The database is closed or the writer has stopped.
    #[error("store unavailable")]
    Unavailable,
    #[error("configuration: {0}")]
    Config(String),
    #[error("migration failed: {0}")]
    Migration(String),
    /// A stored row could not be read back (corruption or a bug).
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl StoreError {
    /// A database URL no driver could read (the URL itself is not repeated: it may hold a
    /// password).
    pub(crate) fn unparsable_url() -> Self {
        StoreError::Config("the database URL could not be parsed".into())
    }

    pub(crate) fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(error)) => error.is_unique_violation(),
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(error, _)) => matches!(
                error.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            ),
            _ => false,
        }
    }

    /// Whether the failure is the database being out of reach or too busy (pool exhausted,
    /// connection lost, writer stopped, lock contention), so that the same request may succeed
    /// later; everything else is a bug or corrupt data and retrying will not help.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Unavailable => true,
            StoreError::Database(error) => match error {
                sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::WorkerCrashed => true,
                sqlx::Error::Database(error) => error
                    .code()
                    .is_some_and(|code| transient_database_code(&code)),
                _ => false,
            },
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(error, _)) => matches!(
                error.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            _ => false,
        }
    }

    /// A unique-key violation becomes the conflict it means in its statement; anything else
    /// stays as it is.
    pub(crate) fn conflict_as(self, meaning: &'static str) -> Self {
        if self.is_unique_violation() {
            StoreError::Conflict(meaning)
        } else {
            self
        }
    }
}

/// Whether a database error code, as `sqlx` reports it, means "busy or unreachable".
/// PostgreSQL's are five-character SQLSTATEs (classes 08 connection, 53 resources, 57P
/// shutdown; 40001 and 40P01 lost a race); SQLite's are numbers whose low byte is the primary
/// code (5 busy, 6 locked).
fn transient_database_code(code: &str) -> bool {
    if code.len() == 5 {
        return code.starts_with("08")
            || code.starts_with("53")
            || code.starts_with("57P")
            || code == "40001"
            || code == "40P01";
    }
    code.parse::<u32>()
        .is_ok_and(|number| matches!(number & 0xff, 5 | 6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unreachable_or_busy_databases_are_transient() {
        assert!(StoreError::Unavailable.is_transient());
        assert!(StoreError::Database(sqlx::Error::PoolTimedOut).is_transient());
        assert!(StoreError::Database(sqlx::Error::PoolClosed).is_transient());
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert!(StoreError::Sqlite(busy).is_transient());
        assert!(!StoreError::Corrupt("x".into()).is_transient());
        assert!(!StoreError::Migration("x".into()).is_transient());
        assert!(!StoreError::Database(sqlx::Error::RowNotFound).is_transient());
        let constraint = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT),
            None,
        );
        assert!(!StoreError::Sqlite(constraint).is_transient());
        assert!(transient_database_code("08006"));
        assert!(transient_database_code("40P01"));
        assert!(!transient_database_code("22021"));
        assert!(!transient_database_code("23505"));
        assert!(transient_database_code("517"));
        assert!(!transient_database_code("2067"));
    }
}
