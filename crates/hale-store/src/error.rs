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
