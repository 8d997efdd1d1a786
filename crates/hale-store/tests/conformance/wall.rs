//! The tenant wall on PostgreSQL: inside a scoped read, statements that forget the tenant
//! still see one tenant's rows, with no tenant they see none, and nothing can be written; every
//! table with a `tenant_id` or `tenant_key` column has the policy. SQLite has no wall, so these
//! run on PostgreSQL only.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hale_store::Backend;
use hale_store::testing::{
    POLICY, READER_ROLE, TENANT_KEY, TENANT_TABLES, fresh_custody, scoped_execute, scoped_scalar,
    tenant_condition,
};
use hale_store::{StoreOptions, TenantRow};
use sqlx::Connection;

use super::*;

async fn postgres() -> Option<TestDatabase> {
    if engines().contains(&Backend::Postgres) {
        Some(fresh(Backend::Postgres).await)
    } else {
        None
    }
}

/// A tenant with a row in every table of the wall: a subject and its identifier and
/// assignments, an app with versions, a submission with observations and a NEWS2 claimed by an
/// idempotency key, an access token.
async fn populated_tenant(store: &Store, slug: &str) -> TenantId {
    let tenant = create_tenant(store, slug).await;
    let subject = register_subject(store, tenant, slug).await;
    assign_and_end(store, tenant, subject).await;
    app_with_history(store, tenant, slug).await;
    let (_, append) = submission_append(tenant, subject, 3, "{}", Some((slug, "hash")));
    store.append(append).await.unwrap();
    issue_token(store, tenant, None, &["clinician"]).await;
    tenant
}

/// The tables with a `tenant_id` or `tenant_key` column, as the database has them, with the
/// wall's own list (which adds `tenants`, keyed by `id`).
async fn tenant_keyed_tables(db: &TestDatabase) -> Vec<(String, String)> {
    let mut connection = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    let found: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text FROM information_schema.columns c \
         JOIN information_schema.tables t \
         ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = current_schema() \
         AND c.column_name IN ('tenant_id', 'tenant_key') \
         AND t.table_type = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    let mut tables: Vec<(String, String)> = TENANT_TABLES
        .iter()
        .map(|(table, column)| ((*table).to_owned(), (*column).to_owned()))
        .collect();
    for (table, column) in found {
        if !tables.iter().any(|(listed, _)| *listed == table) {
            tables.push((table, column));
        }
    }
    tables
}

#[tokio::test]
async fn an_unscoped_select_behind_the_wall_sees_only_the_current_tenant() {
    let Some(db) = postgres().await else { return };
    let store = &db.store;
    let first = populated_tenant(store, "contoso").await;
    let second = populated_tenant(store, "fabrikam").await;
    for (table, column) in tenant_keyed_tables(&db).await {
        let everyone = scalar(&db, &format!("SELECT COUNT(*) FROM {table}")).await;
        for tenant in [first, second] {
            let own = scalar(
                &db,
                &format!(
                    "SELECT COUNT(*) FROM {table} WHERE {}",
                    tenant_condition(&column, tenant)
                ),
            )
            .await;
            let walled = scoped_scalar(
                store,
                Some(tenant),
                &format!("SELECT COUNT(*) FROM {table}"),
            )
            .await
            .unwrap();
            assert_eq!(
                walled, own,
                "{table}: an unscoped count sees only its tenant"
            );
            if TENANT_TABLES.iter().any(|(listed, _)| *listed == table) {
                assert!(own > 0 && everyone > own, "{table}: both tenants have rows");
            }
        }
        let other = scoped_scalar(
            store,
            Some(first),
            &format!(
                "SELECT COUNT(*) FROM {table} WHERE {}",
                tenant_condition(&column, second)
            ),
        )
        .await
        .unwrap();
        assert_eq!(
            other, 0,
            "{table}: asking for another tenant by name finds nothing"
        );
        let unset = scoped_scalar(store, None, &format!("SELECT COUNT(*) FROM {table}"))
            .await
            .unwrap();
        assert_eq!(unset, 0, "{table}: with no tenant set nothing is visible");
    }
    // The tenant is the transaction's alone: a read for one tenant leaves nothing behind on
    // its pooled session for the next, tenant-less one.
    for _ in 0..3 {
        assert!(
            scoped_scalar(store, Some(first), "SELECT COUNT(*) FROM subjects")
                .await
                .unwrap()
                > 0
        );
        assert_eq!(
            scoped_scalar(store, None, "SELECT COUNT(*) FROM subjects")
                .await
                .unwrap(),
            0
        );
    }
    // The store's own reads still answer through the wall, and reads spanning tenants past it.
    let subjects = store.subjects(first, None, 50).await.unwrap();
    assert_eq!(subjects.items.len(), 1);
    let tenants: Vec<TenantRow> = store.tenants().await.unwrap();
    assert!(
        tenants.iter().any(|row| row.id == first) && tenants.iter().any(|row| row.id == second)
    );
    assert!(store.verify_chains().await.unwrap().is_intact());
}

#[tokio::test]
async fn the_wall_refuses_every_write_and_every_table_outside_it() {
    let Some(db) = postgres().await else { return };
    let store = &db.store;
    let tenant = populated_tenant(store, "contoso").await;
    let before = store.projection_snapshot().await.unwrap();
    let events = scalar(&db, "SELECT COUNT(*) FROM events").await;
    for (table, column) in TENANT_TABLES {
        for statement in [
            format!("DELETE FROM {table}"),
            format!("UPDATE {table} SET {column} = {column}"),
            format!("INSERT INTO {table} SELECT * FROM {table}"),
        ] {
            let refused = scoped_execute(store, tenant, &statement).await;
            assert!(refused.is_err(), "{statement} went through the wall");
        }
    }
    // Past the read-only transaction, the role itself holds no right to write: a session
    // running as it, writable, with the tenant set, is refused for lack of privilege.
    let mut connection = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    sqlx::raw_sql(&format!(
        "SET ROLE {READER_ROLE}; SELECT set_config('hale.tenant', '{tenant}', false)"
    ))
    .execute(&mut connection)
    .await
    .unwrap();
    for (table, column) in TENANT_TABLES {
        for statement in [
            format!("DELETE FROM {table}"),
            format!("UPDATE {table} SET {column} = {column}"),
            format!("INSERT INTO {table} SELECT * FROM {table}"),
        ] {
            let error = sqlx::query(&statement)
                .execute(&mut connection)
                .await
                .unwrap_err();
            let code = error.as_database_error().and_then(|e| e.code()).unwrap();
            assert_eq!(code, "42501", "{statement}: permission denied");
        }
    }
    // Tables outside the wall are not readable at all.
    let error = sqlx::query("SELECT COUNT(*) FROM _sqlx_migrations")
        .execute(&mut connection)
        .await
        .unwrap_err();
    let code = error.as_database_error().and_then(|e| e.code()).unwrap();
    assert_eq!(code, "42501");
    assert_eq!(store.projection_snapshot().await.unwrap(), before);
    assert_eq!(scalar(&db, "SELECT COUNT(*) FROM events").await, events);
}

/// Every way the database strays from the wall: a table with a tenant column and no policy
/// (or a policy that is not the tenant's), a table the reader may read that is not walled, a
/// reader role that bypasses the policies. Empty when the wall stands.
async fn wall_gaps(db: &TestDatabase) -> Vec<String> {
    let mut connection = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    let tables = tenant_keyed_tables(db).await;
    let mut gaps = Vec::new();
    for (table, column) in &tables {
        let walled: Option<(bool, String, String)> = sqlx::query_as(
            "SELECT c.relrowsecurity, p.cmd::text, p.qual::text FROM pg_class c \
             JOIN pg_policies p ON p.tablename = c.relname AND p.schemaname = current_schema() \
             WHERE c.oid = to_regclass($1) AND p.policyname = $2 AND $3 = ANY (p.roles)",
        )
        .bind(table)
        .bind(POLICY)
        .bind(READER_ROLE)
        .fetch_optional(&mut connection)
        .await
        .unwrap();
        match walled {
            None => gaps.push(format!("{table} has no {POLICY} policy")),
            Some((false, _, _)) => gaps.push(format!("{table}: row-level security is off")),
            Some((true, command, qual)) => {
                let keyed = if column.as_str() == TENANT_KEY {
                    qual.starts_with(&format!("({column} = ( SELECT tenants.tenant_key"))
                        && qual.contains("(tenants.id = NULLIF(current_setting('hale.tenant'")
                } else {
                    qual.contains(&format!("({column} = NULLIF(current_setting('hale.tenant'"))
                };
                if command != "SELECT" || !keyed {
                    gaps.push(format!("{table}: the policy is {command} {qual}"));
                }
            }
        }
    }
    let readable: Vec<(String,)> = sqlx::query_as(
        "SELECT c.relname::text FROM pg_class c \
         WHERE c.relnamespace = to_regnamespace(current_schema()) \
         AND c.relkind IN ('r', 'v', 'm', 'p', 'f') \
         AND has_table_privilege($1, c.oid, 'SELECT') ORDER BY 1",
    )
    .bind(READER_ROLE)
    .fetch_all(&mut connection)
    .await
    .unwrap();
    for (table,) in readable {
        if !tables.iter().any(|(walled, _)| *walled == table) {
            gaps.push(format!("{READER_ROLE} may read {table}, which has no wall"));
        }
    }
    let (bypasses,): (bool,) =
        sqlx::query_as("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = $1")
            .bind(READER_ROLE)
            .fetch_one(&mut connection)
            .await
            .unwrap();
    if bypasses {
        gaps.push(format!("{READER_ROLE} bypasses row-level security"));
    }
    gaps
}

/// A table added with a `tenant_id` column and no line in `TENANT_TABLES` fails here.
#[tokio::test]
async fn every_table_with_a_tenant_column_has_the_policy_and_nothing_else_is_readable() {
    let Some(db) = postgres().await else { return };
    assert!(tenant_keyed_tables(&db).await.len() >= TENANT_TABLES.len());
    assert_eq!(wall_gaps(&db).await, Vec::<String>::new());
}

/// The check above is not vacuous: a new tenant table that no one added to the list, a
/// readable table outside the wall and a weakened policy are each named.
#[tokio::test]
async fn the_coverage_check_names_a_tenant_table_left_out_of_the_wall() {
    let Some(db) = postgres().await else { return };
    raw_execute(
        &db,
        "CREATE TABLE unlisted_notes (tenant_id TEXT NOT NULL, id TEXT NOT NULL)",
    )
    .await;
    raw_execute(
        &db,
        &format!("GRANT SELECT ON _sqlx_migrations TO {READER_ROLE}"),
    )
    .await;
    raw_execute(&db, "DROP POLICY hale_tenant_wall ON subjects").await;
    raw_execute(
        &db,
        &format!(
            "CREATE POLICY hale_tenant_wall ON subjects FOR SELECT TO {READER_ROLE} USING (true)"
        ),
    )
    .await;
    // Migrating again neither walls a table it was not told of nor rewrites a policy in place.
    db.store.migrate().await.unwrap();
    let gaps = wall_gaps(&db).await;
    assert_eq!(gaps.len(), 3, "{gaps:?}");
    assert!(
        gaps[0].starts_with("subjects: the policy is SELECT true"),
        "{gaps:?}"
    );
    assert!(gaps[1].starts_with("unlisted_notes has no"), "{gaps:?}");
    assert!(gaps[2].contains("may read _sqlx_migrations"), "{gaps:?}");
}

/// A connecting user that may neither create the reader role nor join it cannot migrate, and
/// is told what an administrator must run.
#[tokio::test]
async fn a_user_that_cannot_join_the_reader_role_is_refused_with_the_fix() {
    let Some(db) = postgres().await else { return };
    let server = std::env::var("HALE_TEST_DATABASE_URL").unwrap();
    let mut admin = sqlx::AnyConnection::connect(&server).await.unwrap();
    let user = format!("hale_t_{}", Uuid::new_v4().simple());
    let name = format!("{user}_db");
    // Each alone: CREATE and DROP DATABASE refuse to run inside a transaction block.
    for statement in [
        format!("CREATE ROLE {user} LOGIN NOCREATEROLE"),
        format!("CREATE DATABASE {name} OWNER {user}"),
    ] {
        sqlx::raw_sql(&statement).execute(&mut admin).await.unwrap();
    }
    let base = server.rsplit_once('/').unwrap().0;
    let url = base.replacen("postgres@", &format!("{user}@"), 1) + "/" + &name;
    let (custody, _keys) = fresh_custody();
    let store = Store::open(&url, StoreOptions::default(), custody)
        .await
        .unwrap();
    let outcome = store.migrate().await;
    let ready = store.is_ready().await;
    store.close().await;
    for statement in [
        format!("DROP DATABASE {name} WITH (FORCE)"),
        format!("DROP ROLE {user}"),
    ] {
        sqlx::raw_sql(&statement).execute(&mut admin).await.unwrap();
    }
    drop(db);
    match outcome {
        Err(StoreError::Migration(message)) => {
            assert!(
                message.contains(&format!("GRANT {READER_ROLE}")),
                "{message}"
            );
        }
        other => panic!("migrating without the reader role: {other:?}"),
    }
    assert!(!ready.unwrap(), "a store without the wall is not ready");
}

/// A TCP relay to the PostgreSQL server that counts `ReadyForQuery` messages: one per round
/// trip the client waits for.
async fn counting_relay() -> (String, Arc<AtomicU64>) {
    let server = std::env::var("HALE_TEST_DATABASE_URL").unwrap();
    let address = server
        .split_once('@')
        .unwrap()
        .1
        .split_once('/')
        .unwrap()
        .0
        .to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = tokio::net::TcpStream::connect(&address).await.unwrap();
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let (mut client_read, mut client_write) = client.into_split();
                let (mut upstream_read, mut upstream_write) = upstream.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut upstream_write).await;
                });
                let mut pending: Vec<u8> = Vec::new();
                let mut buffer = vec![0u8; 64 * 1024];
                while let Ok(read) = upstream_read.read(&mut buffer).await {
                    if read == 0 || client_write.write_all(&buffer[..read]).await.is_err() {
                        break;
                    }
                    pending.extend_from_slice(&buffer[..read]);
                    while pending.len() >= 5 {
                        let length =
                            u32::from_be_bytes([pending[1], pending[2], pending[3], pending[4]])
                                as usize;
                        if pending.len() < 1 + length {
                            break;
                        }
                        if pending[0] == b'Z' {
                            counter.fetch_add(1, Ordering::Relaxed);
                        }
                        pending.drain(..1 + length);
                    }
                }
            });
        }
    });
    let base = server.rsplit_once('@').unwrap().0;
    (format!("{base}@127.0.0.1:{port}"), count)
}

/// The ways of reading one subject that `wall_cost` compares.
#[derive(Clone, Copy, Debug)]
enum Scheme {
    /// The statement on the owner's pool, no wall: what the store did before.
    Unwalled,
    /// `Store::subject`: the scoped pool (sessions already the reader role), `BEGIN` and the
    /// tenant in one message, `ROLLBACK` left to the pool's release check.
    Scoped,
    /// The owner's pool, `BEGIN; SET LOCAL ROLE; set_config` in one message, dropped.
    LocalRole,
    /// As `LocalRole`, waiting for a `COMMIT`.
    LocalRoleCommitted,
    /// One statement at a time: `BEGIN`, `SET LOCAL ROLE`, `set_config($1)`, query, `COMMIT`.
    Naive,
}

const SCHEMES: [Scheme; 5] = [
    Scheme::Unwalled,
    Scheme::Scoped,
    Scheme::LocalRole,
    Scheme::LocalRoleCommitted,
    Scheme::Naive,
];

async fn read_subject(
    scheme: Scheme,
    store: &Store,
    owner: &sqlx::AnyPool,
    tenant: TenantId,
    subject: SubjectId,
) -> bool {
    let statement = "SELECT id, created_at, payload FROM subjects WHERE tenant_id = $1 AND id = $2";
    let query = || {
        sqlx::query(statement)
            .bind(tenant.to_string())
            .bind(subject.to_string())
    };
    let local_role = format!(
        "BEGIN READ ONLY; SET LOCAL ROLE {READER_ROLE}; \
         SELECT set_config('hale.tenant', '{tenant}', true)"
    );
    match scheme {
        Scheme::Unwalled => query().fetch_optional(owner).await.unwrap().is_some(),
        Scheme::Scoped => store.subject(tenant, subject).await.unwrap().is_some(),
        Scheme::LocalRole | Scheme::LocalRoleCommitted => {
            let mut transaction = owner.begin_with(local_role).await.unwrap();
            let found = query()
                .fetch_optional(&mut *transaction)
                .await
                .unwrap()
                .is_some();
            if matches!(scheme, Scheme::LocalRoleCommitted) {
                transaction.commit().await.unwrap();
            }
            found
        }
        Scheme::Naive => {
            let mut transaction = owner.begin().await.unwrap();
            sqlx::query(&format!("SET LOCAL ROLE {READER_ROLE}"))
                .execute(&mut *transaction)
                .await
                .unwrap();
            sqlx::query("SELECT set_config('hale.tenant', $1, true)")
                .bind(tenant.to_string())
                .execute(&mut *transaction)
                .await
                .unwrap();
            let found = query()
                .fetch_optional(&mut *transaction)
                .await
                .unwrap()
                .is_some();
            transaction.commit().await.unwrap();
            found
        }
    }
}

/// Latency and round trips of one tenant read, before the wall and through it, beside the
/// other schemes considered. Prints only (no timed assertion); run with
/// `cargo test -p hale-store --test conformance -- --ignored --nocapture wall_cost`.
/// Round trips are counted through a relay, pool checks included; latency is measured on a
/// direct connection, the schemes taking turns read by read so that the load of a shared
/// machine falls on all of them alike.
#[tokio::test]
#[ignore]
async fn wall_cost() {
    let Some(db) = postgres().await else { return };
    let tenant = populated_tenant(&db.store, "contoso").await;
    let subject = db.store.subjects(tenant, None, 1).await.unwrap().items[0].id;
    let owner_pool = |url: String| async move {
        sqlx::any::AnyPoolOptions::new()
            .max_connections(2)
            .connect(&url)
            .await
            .unwrap()
    };

    let (relay, round_trips) = counting_relay().await;
    let name = db.url.rsplit_once('/').unwrap().1;
    let relayed = format!("{relay}/{name}?sslmode=disable");
    let (custody, _keys) = fresh_custody();
    let store = Store::open(&relayed, StoreOptions::default(), custody)
        .await
        .unwrap();
    let owner = owner_pool(relayed).await;
    let mut trips = Vec::new();
    for scheme in SCHEMES {
        // Warm: connections opened and statements prepared before counting.
        assert!(read_subject(scheme, &store, &owner, tenant, subject).await);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let before = round_trips.load(Ordering::Relaxed);
        for _ in 0..200 {
            assert!(read_subject(scheme, &store, &owner, tenant, subject).await);
        }
        // Let the last release check finish before counting.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        trips.push((round_trips.load(Ordering::Relaxed) - before) as f64 / 200.0);
    }
    store.close().await;

    let owner = owner_pool(db.url.clone()).await;
    let mut samples: Vec<Vec<u128>> = vec![Vec::new(); SCHEMES.len()];
    for _ in 0..3000 {
        for (n, scheme) in SCHEMES.iter().enumerate() {
            let started = std::time::Instant::now();
            assert!(read_subject(*scheme, &db.store, &owner, tenant, subject).await);
            samples[n].push(started.elapsed().as_micros());
        }
    }
    for ((scheme, trips), mut samples) in SCHEMES.iter().zip(trips).zip(samples) {
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
        eprintln!(
            "{scheme:?}: p50 {} µs, p90 {} µs, {trips:.2} round trips per read (pool checks included)",
            at(0.5),
            at(0.9)
        );
    }
}
