//! Fresh, migrated databases for tests, on SQLite and on PostgreSQL, so that every suite runs
//! unchanged on both engines. PostgreSQL comes from `HALE_TEST_DATABASE_URL`; when CI is set and
//! it is not, the suite fails rather than silently testing one engine.

#![allow(clippy::expect_used)]

use hale_domain::TenantId;
use uuid::Uuid;

pub use crate::tenancy::{POLICY, READER_ROLE, TENANT_KEY, TENANT_SETTING, TENANT_TABLES};
use crate::{Backend, ChainCustody, Store, StoreError, StoreOptions};

/// The PostgreSQL writer's lookup of idempotency claims, as it sends it.
pub const CLAIMS_LOOKUP_SQL: &str = crate::plan::CLAIMS_UNNEST_SQL;

/// How the PostgreSQL writer connects (its session settings included).
pub fn writer_connect_options(url: &str) -> sqlx::postgres::PgConnectOptions {
    crate::writer::connect_options(url).expect("a PostgreSQL URL")
}

/// A migrated store and whatever keeps its database alive.
pub struct TestDatabase {
    pub store: Store,
    pub url: String,
    /// The chain key and checkpoint file of this database, in a directory of its own.
    pub custody: ChainCustody,
    _directory: Option<tempfile::TempDir>,
    _keys: tempfile::TempDir,
}

/// A new chain key and checkpoint file in a new temporary directory.
pub fn fresh_custody() -> (ChainCustody, tempfile::TempDir) {
    let directory = tempfile::tempdir().expect("temporary directory");
    let custody = ChainCustody::load_or_create(&directory.path().join("chain.key"))
        .expect("create a chain key");
    (custody, directory)
}

/// The engines this run tests: SQLite always, PostgreSQL when configured.
pub fn engines() -> Vec<Backend> {
    match std::env::var("HALE_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => vec![Backend::Sqlite, Backend::Postgres],
        _ if std::env::var_os("CI").is_some() => {
            panic!("HALE_TEST_DATABASE_URL must name a PostgreSQL server when CI is set")
        }
        _ => vec![Backend::Sqlite],
    }
}

/// A URL for a new, empty database on `backend` (a temporary file, or a new PostgreSQL
/// database named `hale_t_…` that the test script drops afterwards).
pub async fn fresh_url(backend: Backend) -> (String, Option<tempfile::TempDir>) {
    match backend {
        Backend::Sqlite => {
            let directory = tempfile::tempdir().expect("temporary directory");
            let url = format!(
                "sqlite://{}?mode=rwc",
                directory.path().join("hale.db").display()
            );
            (url, Some(directory))
        }
        Backend::Postgres => {
            let server = std::env::var("HALE_TEST_DATABASE_URL").expect("HALE_TEST_DATABASE_URL");
            let name = format!("hale_t_{}", Uuid::new_v4().simple());
            sqlx::any::install_default_drivers();
            let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&server)
                .await
                .expect("connect to HALE_TEST_DATABASE_URL");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .await
                .expect("create test database");
            let base = server
                .rsplit_once('/')
                .map(|(base, _)| base)
                .expect("database URL with a path");
            (format!("{base}/{name}"), None)
        }
    }
}

/// A fresh, migrated store on `backend`.
pub async fn fresh(backend: Backend) -> TestDatabase {
    let db = unmigrated(backend).await;
    db.store.migrate().await.expect("migrate test store");
    db
}

/// A store on a fresh database migrated only up to `version` (inclusive), as an older build
/// left it: a migration test writes rows with that build's statements, then migrates the rest.
pub async fn fresh_until(backend: Backend, version: i64) -> TestDatabase {
    let db = unmigrated(backend).await;
    migrate_until(&db.store, version).await;
    db
}

async fn unmigrated(backend: Backend) -> TestDatabase {
    let (url, directory) = fresh_url(backend).await;
    let (custody, keys) = fresh_custody();
    let store = Store::open(&url, StoreOptions::default(), custody.clone())
        .await
        .expect("open test store");
    TestDatabase {
        store,
        url,
        custody,
        _directory: directory,
        _keys: keys,
    }
}

/// Runs the migrations up to `version` (inclusive) that the database has not run yet, as a
/// build of that version would on starting.
pub async fn migrate_until(store: &Store, version: i64) {
    let mut migrator = crate::migrations::migrator(store.backend());
    migrator.migrations = migrator
        .iter()
        .filter(|migration| migration.version <= version)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    migrator
        .run(store.write_pool())
        .await
        .expect("migrate test store part of the way");
}

/// Runs `sql` inside the store's scoped read for `tenant` (or behind the wall with no tenant
/// set) and returns the first column of its one row: how a test shows that a statement with
/// no `WHERE` still sees one tenant's rows only.
pub async fn scoped_scalar(
    store: &Store,
    tenant: Option<TenantId>,
    sql: &str,
) -> Result<i64, StoreError> {
    let mut read = match tenant {
        Some(tenant) => store.scoped_read(tenant).await?,
        None => store.scoped_read_without_tenant().await?,
    };
    let (value,): (i64,) = sqlx::query_as(sql).fetch_one(read.connection()).await?;
    Ok(value)
}

/// Runs a statement that is not a query inside the scoped read for `tenant`; the wall must
/// refuse every write.
pub async fn scoped_execute(store: &Store, tenant: TenantId, sql: &str) -> Result<u64, StoreError> {
    let mut read = store.scoped_read(tenant).await?;
    Ok(sqlx::query(sql)
        .execute(read.connection())
        .await?
        .rows_affected())
}

/// The SQL condition that a row's `column` (as [`TENANT_TABLES`] names it) is `tenant`'s:
/// its id, or its key looked up by id.
pub fn tenant_condition(column: &str, tenant: TenantId) -> String {
    if column == TENANT_KEY {
        format!("{column} = (SELECT tenant_key FROM tenants WHERE id = '{tenant}')")
    } else {
        format!("{column} = '{tenant}'")
    }
}

/// `bytes` as a literal of the engine at `url` (SQLite `X'…'`, PostgreSQL `'\x…'::bytea`), for
/// a test that writes stored bytes behind the store's back.
pub fn bytes_sql(url: &str, bytes: &[u8]) -> String {
    match Backend::from_url(url) {
        Ok(Backend::Postgres) => format!("'\\x{}'::bytea", hex::encode(bytes)),
        _ => format!("X'{}'", hex::encode(bytes)),
    }
}

/// Entry `seq` of `tenant`'s chain as the database holds it, read as verification reads it
/// (its payload's text, and the hash of the entry before as `prev_hash`): what someone who can
/// read the database but holds no chain key knows of it.
pub async fn stored_event(
    store: &Store,
    tenant: TenantId,
    seq: i64,
) -> Result<hale_domain::event::RecordedEvent, StoreError> {
    let sql = format!(
        "SELECT {} FROM events WHERE tenant_id = $1 AND seq = $2",
        crate::maintenance::EVENT_COLUMNS
    );
    let row = sqlx::query(&sql)
        .bind(tenant.to_string())
        .bind(seq)
        .fetch_one(store.unscoped_reader())
        .await?;
    let mut event = crate::maintenance::event_row(&row)?;
    if seq > 1 {
        let (hash,): (Vec<u8>,) =
            sqlx::query_as("SELECT hash FROM events WHERE tenant_id = $1 AND seq = $2")
                .bind(tenant.to_string())
                .bind(seq - 1)
                .fetch_one(store.unscoped_reader())
                .await?;
        event.prev_hash = crate::plan::stored_hash(&hash)?;
    }
    Ok(event)
}

/// Having a destructor makes closures capture a `TestDatabase` whole: with precise capture, a
/// test that touches only `db.store` would otherwise drop the temporary directory under it.
impl Drop for TestDatabase {
    fn drop(&mut self) {}
}
