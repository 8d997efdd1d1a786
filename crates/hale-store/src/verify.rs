//! `hale audit verify`: proves, against someone who can write the database but does not hold
//! the chain key, that the log and the read models are what Hale wrote.
//!
//! In one read snapshot it walks every tenant that has events, a chain head, a `tenants` row or
//! a checkpoint; checks each entry's HMAC and link, the head against the last entry, and the
//! log against the heads this process checkpointed (which finds a rolled-back tail); and replays
//! the whole log into a scratch SQLite database to compare every read model with it row by row.
//! Findings name tenants, sequence numbers, tables and primary keys, never payload content.

use std::collections::{BTreeMap, BTreeSet};

use futures::TryStreamExt;
use hale_domain::TenantId;
use hale_domain::chain::{ChainKey, ChainVerifier};
use hale_domain::event::{EventBody, RecordedEvent};
use rusqlite::types::Value;
use sqlx::any::AnyRow;
use sqlx::{Connection, Row};

use crate::error::StoreError;
use crate::maintenance::{EVENT_COLUMNS, event_row};
use crate::plan::Head;
use crate::{Backend, Store, projection, sqlite_writer};

/// The verdict on one tenant's chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainReport {
    pub tenant: TenantId,
    pub verified: i64,
    /// The first entry that fails, and why.
    pub broken: Option<(i64, &'static str)>,
}

/// A read-model row that is not what replaying the log produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadModelDrift {
    pub table: &'static str,
    /// The row's primary key, as `column=value` pairs (ids and hashes only).
    pub key: String,
    pub reason: &'static str,
}

/// The verdict on the whole database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    pub chains: Vec<ChainReport>,
    /// Why the checkpoint file could not be used, if it could not.
    pub checkpoints: Option<&'static str>,
    pub read_models: Vec<ReadModelDrift>,
}

impl VerifyReport {
    pub fn is_intact(&self) -> bool {
        self.chains.iter().all(|chain| chain.broken.is_none())
            && self.checkpoints.is_none()
            && self.read_models.is_empty()
    }

    pub fn entries(&self) -> i64 {
        self.chains.iter().map(|chain| chain.verified).sum()
    }
}

const NO_HEAD: &str = "the chain has no head row";
const HEAD_MISMATCH: &str = "the chain head does not name the last entry (truncated or extended)";
const HEAD_WITHOUT_EVENTS: &str = "a chain head names entries the log does not hold";
const ROLLED_BACK: &str = "the log no longer holds an entry this server checkpointed \
     (rolled back or truncated)";
const CHECKPOINT_DIFFERS: &str = "the entry differs from the one this server checkpointed";
const UNREADABLE_PAYLOAD: &str = "the event's payload cannot be replayed";
const REPLAY_FAILED: &str = "the log cannot be replayed into read models";
const NOT_IN_LOG: &str = "row is not produced by replaying the log (forged or left over)";
const MISSING: &str = "row the log produces is missing";
const DIFFERS: &str = "row differs from the log's replay";

/// Drifting rows reported per table and direction; the first ones are enough to act on.
const DRIFTS_PER_TABLE: usize = 20;

/// Events replayed per batch.
const REPLAY_PAGE: usize = 1000;

/// One tenant's walk, while its events stream past.
struct Walk<'key> {
    tenant: TenantId,
    verifier: ChainVerifier<'key>,
    broken: Option<(i64, &'static str)>,
    checkpoint: Option<Head>,
}

impl<'key> Walk<'key> {
    /// Checks the next entry of the chain, which links to the entry before it.
    fn check(&mut self, event: &mut RecordedEvent) {
        if self.broken.is_some() {
            return;
        }
        event.prev_hash = self.verifier.last_hash();
        if let Err(failure) = self.verifier.check(event) {
            self.broken = Some((failure.seq(), failure.reason()));
        } else if let Some((seq, hash)) = self.checkpoint
            && seq == event.seq
            && hash != event.hash
        {
            self.broken = Some((seq, CHECKPOINT_DIFFERS));
        }
    }

    fn finish(mut self, head: Option<(i64, Vec<u8>)>) -> ChainReport {
        let verified = self.verifier.verified();
        if self.broken.is_none() {
            match head {
                None => self.broken = Some((verified, NO_HEAD)),
                Some((seq, hash)) if seq != verified || hash != self.verifier.last_hash() => {
                    self.broken = Some((verified + 1, HEAD_MISMATCH));
                }
                Some(_) => {}
            }
        }
        if self.broken.is_none()
            && let Some((seq, _)) = self.checkpoint
            && seq > verified
        {
            self.broken = Some((seq, ROLLED_BACK));
        }
        ChainReport {
            tenant: self.tenant,
            verified,
            broken: self.broken,
        }
    }
}

/// A cell of a read-model row, in the four types the schema uses.
fn cell(row: &AnyRow, index: usize) -> Result<Value, StoreError> {
    if let Ok(text) = row.try_get::<Option<String>, _>(index) {
        return Ok(text.map_or(Value::Null, Value::Text));
    }
    if let Ok(number) = row.try_get::<Option<i64>, _>(index) {
        return Ok(number.map_or(Value::Null, Value::Integer));
    }
    if let Ok(number) = row.try_get::<Option<f64>, _>(index) {
        return Ok(number.map_or(Value::Null, Value::Real));
    }
    Ok(row
        .try_get::<Option<Vec<u8>>, _>(index)?
        .map_or(Value::Null, Value::Blob))
}

/// A scratch SQLite database (a temporary file SQLite deletes on close) holding the replay of
/// the log and a copy of the stored read models. Its connection is used on blocking threads.
struct Replay {
    connection: Option<rusqlite::Connection>,
}

impl Replay {
    async fn open() -> Result<Self, StoreError> {
        let connection = tokio::task::spawn_blocking(|| {
            // An empty path is a private temporary database on disk, not in memory.
            let connection = rusqlite::Connection::open("")?;
            for migration in crate::MIGRATOR.iter() {
                connection.execute_batch(&crate::migrations::for_engine(
                    &migration.sql,
                    Backend::Sqlite,
                ))?;
            }
            for table in projection::TABLES {
                connection.execute_batch(&format!(
                    "CREATE TABLE stored_{table} AS SELECT * FROM {table} WHERE 0"
                ))?;
            }
            Ok::<_, StoreError>(connection)
        })
        .await
        .map_err(|_| StoreError::Unavailable)??;
        Ok(Self {
            connection: Some(connection),
        })
    }

    async fn run<T: Send + 'static>(
        &mut self,
        work: impl FnOnce(&rusqlite::Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let connection = self.connection.take().ok_or(StoreError::Unavailable)?;
        let (connection, result) = tokio::task::spawn_blocking(move || {
            let result = work(&connection);
            (connection, result)
        })
        .await
        .map_err(|_| StoreError::Unavailable)?;
        self.connection = Some(connection);
        result
    }

    async fn apply(&mut self, page: &[(RecordedEvent, EventBody)]) -> Result<(), StoreError> {
        let statements = projection::statements(page.iter().map(|(event, body)| (event, body)));
        self.run(move |connection| {
            let transaction = connection.unchecked_transaction()?;
            sqlite_writer::execute(&transaction, &statements)?;
            transaction.commit()?;
            Ok(())
        })
        .await
    }

    async fn columns(&mut self, table: &'static str) -> Result<Vec<(String, i64)>, StoreError> {
        self.run(move |connection| {
            let mut statement = connection.prepare(&format!("PRAGMA table_info({table})"))?;
            let columns = statement
                .query_map([], |row| {
                    Ok((row.get::<_, String>(1)?, row.get::<_, i64>(5)?))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(columns)
        })
        .await
    }

    async fn store_rows(
        &mut self,
        table: &'static str,
        width: usize,
        rows: Vec<Vec<Value>>,
    ) -> Result<(), StoreError> {
        self.run(move |connection| {
            let transaction = connection.unchecked_transaction()?;
            {
                let placeholders: Vec<String> = (1..=width).map(|n| format!("?{n}")).collect();
                let mut insert = transaction.prepare(&format!(
                    "INSERT INTO stored_{table} VALUES ({})",
                    placeholders.join(", ")
                ))?;
                for row in rows {
                    insert.execute(rusqlite::params_from_iter(row))?;
                }
            }
            transaction.commit()?;
            Ok(())
        })
        .await
    }

    /// Rows of `table` in one copy and not the other, by primary key.
    async fn differences(
        &mut self,
        table: &'static str,
        columns: &[(String, i64)],
    ) -> Result<Vec<ReadModelDrift>, StoreError> {
        let names: Vec<&str> = columns.iter().map(|(name, _)| name.as_str()).collect();
        let mut key: Vec<&(String, i64)> = columns.iter().filter(|(_, pk)| *pk > 0).collect();
        key.sort_by_key(|(_, pk)| *pk);
        let key: Vec<String> = if key.is_empty() {
            names.iter().map(|name| (*name).to_owned()).collect()
        } else {
            key.iter().map(|(name, _)| name.clone()).collect()
        };
        let all = names.join(", ");
        let keys = key.join(", ");
        let only_in = |left: &str, right: &str| {
            format!(
                "SELECT {keys} FROM (SELECT {all} FROM {left} EXCEPT SELECT {all} FROM {right}) \
                 ORDER BY {keys} LIMIT {DRIFTS_PER_TABLE}"
            )
        };
        let missing_sql = only_in(table, &format!("stored_{table}"));
        let forged_sql = only_in(&format!("stored_{table}"), table);
        self.run(move |connection| {
            let keyed = |sql: &str| -> Result<Vec<String>, StoreError> {
                let mut statement = connection.prepare(sql)?;
                let mut rows = statement.query([])?;
                let mut found = Vec::new();
                while let Some(row) = rows.next()? {
                    let mut pairs = Vec::with_capacity(key.len());
                    for (index, name) in key.iter().enumerate() {
                        let value = match row.get::<_, Value>(index)? {
                            Value::Integer(number) => number.to_string(),
                            Value::Text(text) => printable(&text),
                            Value::Null => "null".to_owned(),
                            // Compact ids: their UUID text; other bytes as hex.
                            Value::Blob(bytes) => uuid::Uuid::from_slice(&bytes)
                                .map_or_else(|_| hex::encode(&bytes), |id| id.to_string()),
                            Value::Real(_) => "?".to_owned(),
                        };
                        pairs.push(format!("{name}={value}"));
                    }
                    found.push(pairs.join(", "));
                }
                Ok(found)
            };
            let missing = keyed(&missing_sql)?;
            let forged = keyed(&forged_sql)?;
            let mut drifts = Vec::new();
            for key in &forged {
                let reason = if missing.contains(key) {
                    DIFFERS
                } else {
                    NOT_IN_LOG
                };
                drifts.push(ReadModelDrift {
                    table,
                    key: key.clone(),
                    reason,
                });
            }
            for key in missing.into_iter().filter(|key| !forged.contains(key)) {
                drifts.push(ReadModelDrift {
                    table,
                    key,
                    reason: MISSING,
                });
            }
            Ok(drifts)
        })
        .await
    }
}

/// Longest key value printed; a forged row's key is whatever the forger chose.
const LONGEST_KEY_VALUE: usize = 100;

/// A key value safe to print on an operator's terminal: ids and hex as they are, anything else
/// (control characters, a fake report line) escaped, and every value cut to a bounded length.
fn printable(text: &str) -> String {
    let cut: String = text.chars().take(LONGEST_KEY_VALUE).collect();
    let plain = cut
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'));
    let shown = if plain { cut } else { format!("{cut:?}") };
    if text.chars().count() > LONGEST_KEY_VALUE {
        format!("{shown}…")
    } else {
        shown
    }
}

impl Store {
    /// Verifies every tenant's chain, the heads, the checkpoints and every read model against
    /// a replay of the log, in one read snapshot.
    pub async fn verify_chains(&self) -> Result<VerifyReport, StoreError> {
        let key: ChainKey = self.custody().key().clone();
        let (checkpointed, checkpoints) = match self.custody().read_checkpoints() {
            Ok(heads) => (heads, None),
            Err(error) => (BTreeMap::new(), Some(error.reason())),
        };
        let mut connection = self.unscoped_reader().acquire().await?;
        let mut transaction = connection.begin().await?;
        if self.backend() == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *transaction)
                .await?;
        }
        let mut heads: BTreeMap<String, (i64, Vec<u8>)> = BTreeMap::new();
        let rows: Vec<(String, i64, Vec<u8>)> =
            sqlx::query_as("SELECT tenant_id, seq, hash FROM chain_heads")
                .fetch_all(&mut *transaction)
                .await?;
        for (tenant, seq, hash) in rows {
            heads.insert(tenant, (seq, hash));
        }
        let tenant_rows: Vec<(String,)> = sqlx::query_as("SELECT id FROM tenants")
            .fetch_all(&mut *transaction)
            .await?;

        let mut replay = Replay::open().await?;
        let mut replay_failed = false;
        let mut read_models = Vec::new();
        let mut chains: BTreeMap<TenantId, ChainReport> = BTreeMap::new();
        let mut walk: Option<(String, Walk<'_>)> = None;
        let mut page: Vec<(RecordedEvent, EventBody)> = Vec::with_capacity(REPLAY_PAGE);
        {
            // Grouped by tenant in whatever order the engine sorts tenant ids.
            let sql = format!("SELECT {EVENT_COLUMNS} FROM events ORDER BY tenant_id, seq");
            let mut rows = sqlx::query(&sql).fetch(&mut *transaction);
            while let Some(row) = rows.try_next().await? {
                let tenant_text: String = row.try_get("tenant_id")?;
                let mut event = event_row(&row)?;
                if walk.as_ref().is_none_or(|(text, _)| *text != tenant_text) {
                    if let Some((text, done)) = walk.take() {
                        let report = done.finish(heads.remove(&text));
                        chains.insert(report.tenant, report);
                    }
                    walk = Some((
                        tenant_text,
                        Walk {
                            tenant: event.tenant_id,
                            verifier: ChainVerifier::new(&key),
                            broken: None,
                            checkpoint: checkpointed.get(&event.tenant_id).copied(),
                        },
                    ));
                }
                if let Some((_, current)) = walk.as_mut() {
                    current.check(&mut event);
                }
                match EventBody::from_payload(&event.payload) {
                    Ok(body) => page.push((event, body)),
                    Err(_) => read_models.push(ReadModelDrift {
                        table: "events",
                        key: format!("tenant_id={}, seq={}", event.tenant_id, event.seq),
                        reason: UNREADABLE_PAYLOAD,
                    }),
                }
                if page.len() >= REPLAY_PAGE && !replay_failed {
                    replay_failed = replay.apply(&page).await.is_err();
                    page.clear();
                }
            }
        }
        if let Some((text, done)) = walk.take() {
            let report = done.finish(heads.remove(&text));
            chains.insert(report.tenant, report);
        }
        if !replay_failed && !page.is_empty() {
            replay_failed = replay.apply(&page).await.is_err();
        }
        drop(page);

        for (tenant, _) in heads {
            let tenant: TenantId = tenant
                .parse()
                .map_err(|_| StoreError::Corrupt("a chain head's tenant is not a UUID".into()))?;
            chains.entry(tenant).or_insert(ChainReport {
                tenant,
                verified: 0,
                broken: Some((1, HEAD_WITHOUT_EVENTS)),
            });
        }
        for (tenant, (seq, _)) in &checkpointed {
            chains.entry(*tenant).or_insert(ChainReport {
                tenant: *tenant,
                verified: 0,
                broken: Some((*seq, ROLLED_BACK)),
            });
        }
        // A tenant may exist before anything is written to its own chain. A `tenants` row that
        // is not a UUID is left to the read-model comparison below.
        let listed: BTreeSet<TenantId> = tenant_rows
            .iter()
            .filter_map(|(id,)| id.parse().ok())
            .collect();
        for tenant in listed {
            chains.entry(tenant).or_insert(ChainReport {
                tenant,
                verified: 0,
                broken: None,
            });
        }

        if replay_failed {
            read_models.push(ReadModelDrift {
                table: "events",
                key: String::new(),
                reason: REPLAY_FAILED,
            });
        } else {
            for table in projection::TABLES {
                read_models.extend(compare_table(&mut transaction, &mut replay, table).await?);
            }
        }
        transaction.rollback().await?;
        Ok(VerifyReport {
            chains: chains.into_values().collect(),
            checkpoints,
            read_models,
        })
    }
}

/// Copies the stored rows of `table` into the scratch database, a page at a time, and compares
/// them with the replay.
async fn compare_table(
    connection: &mut sqlx::AnyConnection,
    replay: &mut Replay,
    table: &'static str,
) -> Result<Vec<ReadModelDrift>, StoreError> {
    let columns = replay.columns(table).await?;
    let names: Vec<&str> = columns.iter().map(|(name, _)| name.as_str()).collect();
    let sql = format!("SELECT {} FROM {table}", names.join(", "));
    let mut rows = sqlx::query(&sql).fetch(&mut *connection);
    let mut batch = Vec::with_capacity(REPLAY_PAGE);
    while let Some(row) = rows.try_next().await? {
        let cells = (0..columns.len())
            .map(|index| cell(&row, index))
            .collect::<Result<Vec<_>, _>>()?;
        batch.push(cells);
        if batch.len() >= REPLAY_PAGE {
            replay
                .store_rows(table, columns.len(), std::mem::take(&mut batch))
                .await?;
        }
    }
    drop(rows);
    if !batch.is_empty() {
        replay.store_rows(table, columns.len(), batch).await?;
    }
    replay.differences(table, &columns).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forged_keys_cannot_fake_report_lines() {
        assert_eq!(printable("0a1b-2c"), "0a1b-2c");
        assert_eq!(printable("x\nevent log intact"), "\"x\\nevent log intact\"");
        assert_eq!(printable(&"a".repeat(150)), format!("{}…", "a".repeat(100)));
    }
}
