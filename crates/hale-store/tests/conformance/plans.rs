//! The PostgreSQL writer keeps one generic plan per statement for the life of its connection
//! (`plan_cache_mode = force_generic_plan`). A plan made while a table is new, when its
//! statistics say it is empty, must still probe keys once the table holds millions of rows:
//! the claims lookup was once planned as a hash join over a scan of every claim, so each batch
//! read every claim ever made and the writer slowed as the table grew.

use hale_store::Backend;
use hale_store::testing::{CLAIMS_LOOKUP_SQL, writer_connect_options};
use sqlx::{Connection, PgConnection};

use super::*;

/// The plan the connection keeps for its prepared `claims` statement, as text.
async fn kept_plan(connection: &mut PgConnection) -> String {
    let rows: Vec<(String,)> = sqlx::query_as("EXPLAIN EXECUTE claims('{t}', '{a}', '{k}')")
        .fetch_all(&mut *connection)
        .await
        .expect("explain the claims lookup");
    rows.into_iter()
        .map(|(line,)| line)
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn the_claims_lookup_probes_the_primary_key_even_when_planned_on_an_empty_table() {
    if !hale_store::testing::engines().contains(&Backend::Postgres) {
        return;
    }
    let db = hale_store::testing::fresh(Backend::Postgres).await;
    let tenant = create_tenant(&db.store, "plans").await;
    let mut connection = PgConnection::connect_with(&writer_connect_options(&db.url))
        .await
        .expect("connect as the writer does");
    sqlx::query(&format!(
        "PREPARE claims (text[], text[], text[]) AS {CLAIMS_LOOKUP_SQL}"
    ))
    .execute(&mut connection)
    .await
    .expect("prepare the claims lookup");
    // Planned now, on a table with no claims, and kept.
    let first = kept_plan(&mut connection).await;
    sqlx::query(
        "INSERT INTO idempotency_keys (tenant_key, actor, idempotency_key, request_hash, \
         stream_id, created_at) SELECT t.tenant_key, 'actor', 'key-' || n, '\\x00', '\\x00', 0 \
         FROM tenants t, generate_series(1, 20000) n WHERE t.id = $1",
    )
    .bind(tenant.to_string())
    .execute(&mut connection)
    .await
    .expect("claims");
    let later = kept_plan(&mut connection).await;
    for plan in [&first, &later] {
        assert!(
            plan.contains("Index Scan using idempotency_keys"),
            "each claim is a probe of the key:\n{plan}"
        );
        assert!(
            !plan.contains("Seq Scan on idempotency_keys"),
            "no claim lookup reads the whole table:\n{plan}"
        );
    }
    db.store.close().await;
}
