//! The tenant wall: on PostgreSQL, row-level security keyed by tenant, a second wall under the
//! core's authorization. Every read of one tenant's rows runs through [`Store::scoped_read`],
//! which on PostgreSQL opens a read-only transaction on a pool whose sessions run as
//! [`READER_ROLE`] (no `BYPASSRLS`, `SELECT` on the tenant tables only) with the tenant set for
//! that transaction alone; each table's policy then hides every row of another tenant, so a
//! query that forgot its `WHERE tenant_id` still returns only the caller's tenant. With no
//! tenant set it returns nothing. The writer and the reads that span tenants (tenant lookup,
//! token lookup, verify, rebuild, snapshots) run as the connecting user, who owns the tables and
//! is not subject to the policies.
//!
//! The wall stops mistakes in Hale's own statements, not someone who can send SQL: `RESET ROLE`
//! leaves it. SQLite has no row-level security; there the scoped read is a plain read and the
//! core's checks are the only wall.
//!
//! The DDL cannot live in `migrations/`, which both engines run as written, so [`install`]
//! applies it from here after the migrations, on PostgreSQL only, idempotently: once the wall
//! stands, installing it again changes nothing and takes no table lock.

use sqlx::any::AnyPoolOptions;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Executor, Transaction};

use hale_domain::TenantId;

use crate::error::StoreError;
use crate::{Backend, Store};

/// The role scoped reads run as. It cannot log in; the connecting user is made a member so that
/// it may `SET ROLE` to it. Roles belong to the whole PostgreSQL server, not to one database.
pub const READER_ROLE: &str = "hale_tenant_reader";

/// The setting that names the tenant of the current transaction; unset or empty sees nothing.
pub const TENANT_SETTING: &str = "hale.tenant";

/// The column of the tables keyed by the tenant's small integer key (`tenants.tenant_key`)
/// rather than its id; their policy looks the current tenant's key up in `tenants`, whose own
/// policy shows the reader that tenant's row alone.
pub const TENANT_KEY: &str = "tenant_key";

/// The name of the policy on every table of [`TENANT_TABLES`].
pub const POLICY: &str = "hale_tenant_wall";

/// Every table that holds rows of one tenant, with the column naming the tenant: its id, or in
/// the tables that grow with every submission its key ([`TENANT_KEY`]). A new tenant-keyed
/// table joins the wall with one line here; the conformance suite fails while a table with a
/// `tenant_id` or `tenant_key` column has no policy.
pub const TENANT_TABLES: &[(&str, &str)] = &[
    ("tenants", "id"),
    ("events", "tenant_id"),
    ("chain_heads", "tenant_id"),
    ("idempotency_keys", "tenant_key"),
    ("accounts", "tenant_id"),
    ("account_invites", "tenant_id"),
    ("recovery_codes", "tenant_id"),
    ("sessions", "tenant_id"),
    ("api_keys", "tenant_id"),
    ("account_links", "tenant_id"),
    ("subjects", "tenant_id"),
    ("subject_identifiers", "tenant_id"),
    ("apps", "tenant_id"),
    ("app_versions", "tenant_id"),
    ("app_media", "tenant_id"),
    ("submissions", "tenant_key"),
    ("observations", "tenant_key"),
    ("assignments", "tenant_id"),
    ("latest_submissions", "tenant_id"),
    ("latest_observations", "tenant_id"),
    ("news2_scores", "tenant_key"),
    ("latest_news2", "tenant_id"),
];

/// A read of one tenant's rows: on PostgreSQL a read-only transaction behind the wall, on
/// SQLite a plain connection. Dropping it ends it: the transaction's `ROLLBACK` is queued and
/// sent by the pool's check of the returned connection, off the caller's path, which saves the
/// round trip a `COMMIT` would cost (there is nothing to commit).
pub(crate) struct ScopedRead {
    scope: Scope,
}

enum Scope {
    Plain(PoolConnection<Any>),
    Walled(Transaction<'static, Any>),
}

impl ScopedRead {
    /// The connection to run the tenant's statements on.
    pub(crate) fn connection(&mut self) -> &mut AnyConnection {
        match &mut self.scope {
            Scope::Plain(connection) => connection,
            Scope::Walled(transaction) => transaction,
        }
    }
}

impl Store {
    /// Opens a read of `tenant`'s rows. Every statement that reads one tenant's rows runs on
    /// the connection this returns, and on no other; the statements still filter by tenant
    /// themselves (the first wall, and what the indexes are keyed by).
    pub(crate) async fn scoped_read(&self, tenant: TenantId) -> Result<ScopedRead, StoreError> {
        self.open_scope(Some(tenant)).await
    }

    /// A read behind the wall with no tenant set, which must see nothing (tests only).
    #[cfg(feature = "testing")]
    pub(crate) async fn scoped_read_without_tenant(&self) -> Result<ScopedRead, StoreError> {
        self.open_scope(None).await
    }

    async fn open_scope(&self, tenant: Option<TenantId>) -> Result<ScopedRead, StoreError> {
        let scope = match self.backend() {
            Backend::Sqlite => Scope::Plain(self.scoped_pool().acquire().await?),
            Backend::Postgres => Scope::Walled(
                self.scoped_pool()
                    .begin_with(begin_statement(tenant)?)
                    .await?,
            ),
        };
        Ok(ScopedRead { scope })
    }
}

/// `BEGIN` and the tenant in one simple query: one round trip instead of two. The tenant is
/// written into the text because the simple protocol takes no parameters; it is a UUID's
/// canonical form, checked here to hold nothing but hex digits and hyphens.
fn begin_statement(tenant: Option<TenantId>) -> Result<String, StoreError> {
    let Some(tenant) = tenant else {
        return Ok("BEGIN READ ONLY".to_owned());
    };
    let tenant = tenant.to_string();
    if !tenant.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        return Err(StoreError::Config("a tenant id is not a UUID".into()));
    }
    Ok(format!(
        "BEGIN READ ONLY; SELECT set_config('{TENANT_SETTING}', '{tenant}', true)"
    ))
}

/// The pool of scoped reads on PostgreSQL: every session runs as [`READER_ROLE`] from its
/// first statement, and read-only, so a statement on it that is not given a tenant sees no
/// tenant's rows and none can write.
pub(crate) fn scoped_pool_options(options: AnyPoolOptions) -> AnyPoolOptions {
    options.after_connect(|connection, _| {
        Box::pin(async move {
            connection
                .execute(
                    format!("SET ROLE {READER_ROLE}; SET default_transaction_read_only = on")
                        .as_str(),
                )
                .await?;
            Ok(())
        })
    })
}

/// Creates (if missing) the reader role, its grants, and on every table of [`TENANT_TABLES`]
/// row-level security and the tenant policy. Runs as one statement, so it applies whole or not
/// at all, under an advisory lock, so replicas migrating together take turns.
///
/// Creating the role needs `CREATEROLE` (or a superuser). Without it, and without the role
/// made beforehand by whoever administers the server, this fails with a message that says
/// what to run: Hale does not run on PostgreSQL without the wall.
pub(crate) async fn install(pool: &AnyPool) -> Result<(), StoreError> {
    pool.execute(install_statement().as_str())
        .await
        .map_err(|error| match error {
            sqlx::Error::Database(error) => {
                StoreError::Migration(format!("tenant wall: {}", error.message()))
            }
            other => StoreError::Database(other),
        })?;
    Ok(())
}

/// Whether the wall stands on every table of [`TENANT_TABLES`] (PostgreSQL).
pub(crate) async fn installed(pool: &AnyPool) -> Result<bool, StoreError> {
    let tables: Vec<String> = TENANT_TABLES
        .iter()
        .map(|(table, _)| format!("'{table}'"))
        .collect();
    let (walled,): (i64,) = sqlx::query_as(&format!(
        "SELECT COUNT(*) FROM pg_policies p JOIN pg_class c \
         ON c.relname = p.tablename AND c.relnamespace = to_regnamespace(p.schemaname) \
         WHERE p.schemaname = current_schema() AND p.policyname = $1 AND c.relrowsecurity \
         AND p.tablename IN ({})",
        tables.join(", ")
    ))
    .bind(POLICY)
    .fetch_one(pool)
    .await?;
    let role: Option<(i32,)> = sqlx::query_as(
        "SELECT 1 FROM pg_roles WHERE rolname = $1 AND NOT rolsuper AND NOT rolbypassrls",
    )
    .bind(READER_ROLE)
    .fetch_optional(pool)
    .await?;
    Ok(role.is_some() && walled == TENANT_TABLES.len() as i64)
}

fn install_statement() -> String {
    let tables: Vec<String> = TENANT_TABLES
        .iter()
        .map(|(table, column)| format!("('{table}', '{column}')"))
        .collect();
    let tables = tables.join(", ");
    format!(
        r#"DO $wall$
DECLARE
    wall record;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('{POLICY}'));
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{READER_ROLE}') THEN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = current_user
                       AND (rolsuper OR rolcreaterole)) THEN
            RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege', MESSAGE =
                'the role {READER_ROLE} is missing and the connecting role may not create it; '
                'as a superuser run CREATE ROLE {READER_ROLE} NOLOGIN and GRANT {READER_ROLE} '
                'TO the connecting role, then migrate again';
        END IF;
        BEGIN
            CREATE ROLE {READER_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            -- another database on this server created it at the same moment
            NULL;
        END;
    END IF;
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{READER_ROLE}'
               AND (rolsuper OR rolbypassrls)) THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege', MESSAGE =
            'the role {READER_ROLE} bypasses row-level security; it must be NOSUPERUSER NOBYPASSRLS';
    END IF;
    IF NOT pg_has_role(current_user, '{READER_ROLE}', 'MEMBER') THEN
        BEGIN
            EXECUTE format('GRANT {READER_ROLE} TO %I', current_user);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege', MESSAGE =
                'the connecting role is not a member of {READER_ROLE} and may not make itself '
                'one; as a superuser run GRANT {READER_ROLE} TO the connecting role';
        END;
    END IF;
    IF NOT has_schema_privilege('{READER_ROLE}', current_schema(), 'USAGE') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO {READER_ROLE}', current_schema());
    END IF;
    FOR wall IN SELECT * FROM (VALUES {tables}) AS t(name, key) LOOP
        IF NOT has_table_privilege('{READER_ROLE}',
                                   format('%I.%I', current_schema(), wall.name), 'SELECT') THEN
            EXECUTE format('GRANT SELECT ON %I TO {READER_ROLE}', wall.name);
        END IF;
        IF NOT (SELECT relrowsecurity FROM pg_class
                WHERE oid = format('%I.%I', current_schema(), wall.name)::regclass) THEN
            EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', wall.name);
        END IF;
        IF wall.key = '{TENANT_KEY}' AND NOT EXISTS (SELECT FROM pg_policies
                       WHERE schemaname = current_schema()
                       AND tablename = wall.name AND policyname = '{POLICY}') THEN
            EXECUTE format('CREATE POLICY {POLICY} ON %I FOR SELECT TO {READER_ROLE} '
                           'USING (%I = (SELECT tenants.tenant_key FROM tenants '
                           'WHERE tenants.id = NULLIF(current_setting(%L, true), %L)))',
                           wall.name, wall.key, '{TENANT_SETTING}', '');
        ELSIF NOT EXISTS (SELECT FROM pg_policies WHERE schemaname = current_schema()
                       AND tablename = wall.name AND policyname = '{POLICY}') THEN
            EXECUTE format('CREATE POLICY {POLICY} ON %I FOR SELECT TO {READER_ROLE} '
                           'USING (%I = NULLIF(current_setting(%L, true), %L))',
                           wall.name, wall.key, '{TENANT_SETTING}', '');
        END IF;
    END LOOP;
END
$wall$"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names are written into SQL text: they must be plain identifiers (a letter, then
    /// letters, digits and underscores).
    #[test]
    fn every_name_written_into_the_ddl_is_a_plain_identifier() {
        let plain = |name: &str| {
            name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
        };
        for (table, column) in TENANT_TABLES {
            assert!(plain(table) && !table.contains('.'), "{table}");
            assert!(plain(column) && !column.contains('.'), "{column}");
        }
        assert!(plain(READER_ROLE) && plain(POLICY) && plain(TENANT_SETTING));
    }

    #[test]
    fn the_begin_statement_names_the_tenant_or_nothing() {
        let tenant: TenantId = "01234567-89ab-cdef-0123-456789abcdef"
            .parse()
            .unwrap_or(TenantId::PLATFORM);
        let statement = begin_statement(Some(tenant)).unwrap_or_default();
        assert_eq!(
            statement,
            "BEGIN READ ONLY; SELECT set_config('hale.tenant', \
             '01234567-89ab-cdef-0123-456789abcdef', true)"
        );
        assert_eq!(begin_statement(None).unwrap_or_default(), "BEGIN READ ONLY");
    }

    /// The rule the wall rests on, checked in the source: a public read that takes a tenant
    /// opens its scoped read first and touches no unscoped pool.
    #[test]
    fn every_read_that_takes_a_tenant_runs_behind_the_wall() {
        let sources = [
            ("queries.rs", include_str!("queries.rs")),
            ("conditional.rs", include_str!("conditional.rs")),
            ("care.rs", include_str!("care.rs")),
        ];
        let mut scoped = 0;
        for (file, source) in sources {
            for read in source.split("\n    pub async fn ").skip(1) {
                let signature = &read[..read.find('{').unwrap_or(read.len())];
                let name = &read[..read.find('(').unwrap_or(0)];
                let body = &read[signature.len()..];
                let body = &body[..body.find("\n    }\n").unwrap_or(body.len())];
                if signature.contains("tenant: TenantId") {
                    scoped += 1;
                    assert!(
                        body.trim_start_matches('{')
                            .trim_start()
                            .starts_with("let mut read = self.scoped_read(tenant).await?;"),
                        "{file}: {name} must open its scoped read first"
                    );
                    assert!(
                        !body.contains("unscoped_reader") && !body.contains("write_pool"),
                        "{file}: {name} reads a tenant's rows past the wall"
                    );
                }
            }
        }
        assert!(scoped >= 17, "found {scoped} tenant reads");
    }

    proptest::proptest! {
        /// Whatever the tenant, the text written into the statement is its canonical UUID and
        /// nothing else: no quote or semicolon can reach the SQL.
        #[test]
        fn the_begin_statement_holds_the_canonical_tenant_and_nothing_more(bits: u128) {
            let tenant: TenantId = format!("{:032x}", bits).parse().unwrap_or(TenantId::PLATFORM);
            let statement = begin_statement(Some(tenant)).unwrap_or_default();
            let prefix = "BEGIN READ ONLY; SELECT set_config('hale.tenant', '";
            let written = statement
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix("', true)"))
                .unwrap_or_default();
            proptest::prop_assert_eq!(written, tenant.to_string());
            proptest::prop_assert_eq!(written.len(), 36);
            proptest::prop_assert!(written.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-'));
        }
    }

    #[test]
    fn the_install_statement_lists_every_table_once() {
        let statement = install_statement();
        for (table, column) in TENANT_TABLES {
            assert_eq!(
                statement
                    .matches(&format!("('{table}', '{column}')"))
                    .count(),
                1,
                "{table}"
            );
        }
    }
}
