//! Whole-database work: rebuilding the projections from the log, and the counts and snapshots
//! that tests and operators compare. Verification is in [`crate::verify`].

use hale_domain::Timestamp;
use hale_domain::chain::GENESIS;
use hale_domain::event::{EventBody, RecordedEvent};
use sqlx::any::AnyRow;
use sqlx::{Column, Connection, Row};

use crate::error::StoreError;
use crate::plan::stored_hash;
use crate::{Backend, Store, packed, projection};

/// Row counts of the tables a request may write.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableCounts {
    pub events: i64,
    pub tenants: i64,
    pub subjects: i64,
    pub apps: i64,
    pub app_versions: i64,
    pub submissions: i64,
    pub observations: i64,
    pub idempotency_keys: i64,
}

pub(crate) const EVENT_COLUMNS: &str = "tenant_id, seq, stream_kind, stream_id, stream_version, event_type, \
     payload, packed, actor, recorded_at, hash";

/// An event as stored: its payload's JSON text from `payload` or unpacked from `packed` (empty
/// when the packed bytes are damaged, which no entry's hash matches and no replay reads). The
/// previous entry's hash is not stored: `prev_hash` is the genesis hash here, and whoever walks
/// a chain in order sets it to the hash of the entry before.
pub(crate) fn event_row(row: &AnyRow) -> Result<RecordedEvent, StoreError> {
    let tenant: String = row.try_get("tenant_id")?;
    let stream_id: String = row.try_get("stream_id")?;
    let payload = match row.try_get::<Option<String>, _>("payload")? {
        Some(payload) => payload,
        None => row
            .try_get::<Option<Vec<u8>>, _>("packed")?
            .and_then(|packed| packed::unpack(&packed, &stream_id))
            .unwrap_or_default(),
    };
    Ok(RecordedEvent {
        tenant_id: tenant
            .parse()
            .map_err(|_| StoreError::Corrupt("an event's tenant is not a UUID".into()))?,
        seq: row.try_get("seq")?,
        stream_kind: row.try_get("stream_kind")?,
        stream_id,
        stream_version: row.try_get("stream_version")?,
        event_type: row.try_get("event_type")?,
        payload,
        actor: row.try_get("actor")?,
        recorded_at: Timestamp::from_micros(row.try_get("recorded_at")?),
        prev_hash: GENESIS,
        hash: stored_hash(&row.try_get::<Vec<u8>, _>("hash")?)?,
    })
}

impl Store {
    /// Empties every projection and replays the whole log into it, in one transaction.
    /// Returns the number of events replayed.
    pub async fn rebuild_projections(&self) -> Result<i64, StoreError> {
        let mut connection = self.write_pool().acquire().await?;
        let mut transaction = connection.begin().await?;
        if self.backend() == Backend::Postgres {
            // Writers wait until the rebuild commits, so no event slips between replay and commit.
            sqlx::query("LOCK TABLE events IN SHARE MODE")
                .execute(&mut *transaction)
                .await?;
        }
        for table in projection::TABLES {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *transaction)
                .await?;
        }
        let mut replayed = 0;
        let mut position = (String::new(), 0i64);
        loop {
            let sql = format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE (tenant_id, seq) > ($1, $2) \
                 ORDER BY tenant_id, seq LIMIT 1000"
            );
            let rows = sqlx::query(&sql)
                .bind(&position.0)
                .bind(position.1)
                .fetch_all(&mut *transaction)
                .await?;
            if rows.is_empty() {
                break;
            }
            let mut page = Vec::with_capacity(rows.len());
            for row in &rows {
                let event = event_row(row)?;
                let body = EventBody::from_payload(&event.payload).map_err(|_| {
                    StoreError::Corrupt(format!(
                        "event {} of tenant {} has an unreadable payload",
                        event.seq, event.tenant_id
                    ))
                })?;
                page.push((event, body));
            }
            if let Some((last, _)) = page.last() {
                position = (last.tenant_id.to_string(), last.seq);
            }
            replayed += page.len() as i64;
            let statements = projection::statements(page.iter().map(|(event, body)| (event, body)));
            crate::writer::execute(&mut transaction, &statements).await?;
        }
        transaction.commit().await?;
        Ok(replayed)
    }

    pub async fn table_counts(&self) -> Result<TableCounts, StoreError> {
        let mut counts = [0i64; 8];
        let tables = [
            "events",
            "tenants",
            "subjects",
            "apps",
            "app_versions",
            "submissions",
            "observations",
            "idempotency_keys",
        ];
        for (count, table) in counts.iter_mut().zip(tables) {
            let (value,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {table}"))
                .fetch_one(self.unscoped_reader())
                .await?;
            *count = value;
        }
        let [
            events,
            tenants,
            subjects,
            apps,
            app_versions,
            submissions,
            observations,
            idempotency_keys,
        ] = counts;
        Ok(TableCounts {
            events,
            tenants,
            subjects,
            apps,
            app_versions,
            submissions,
            observations,
            idempotency_keys,
        })
    }

    /// Every projection row, as text, in a stable order: two snapshots are equal exactly when
    /// the read models hold the same data.
    pub async fn projection_snapshot(&self) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        let mut snapshot = Vec::new();
        for table in projection::TABLES {
            let rows = sqlx::query(&format!("SELECT * FROM {table}"))
                .fetch_all(self.unscoped_reader())
                .await?;
            let mut lines: Vec<String> = rows.iter().map(row_text).collect::<Result<_, _>>()?;
            lines.sort();
            snapshot.push((table.to_owned(), lines));
        }
        Ok(snapshot)
    }
}

fn row_text(row: &AnyRow) -> Result<String, StoreError> {
    let mut cells = Vec::new();
    for column in row.columns() {
        let name = column.name();
        let cell = if let Ok(number) = row.try_get::<Option<i64>, _>(name) {
            format!("{name}={number:?}")
        } else if let Ok(number) = row.try_get::<Option<f64>, _>(name) {
            // Exact: the shortest text that reads back as the same f64.
            format!("{name}={number:?}")
        } else if let Ok(bytes) = row.try_get::<Option<Vec<u8>>, _>(name) {
            format!("{name}={:?}", bytes.map(hex::encode))
        } else {
            format!("{name}={:?}", row.try_get::<Option<String>, _>(name)?)
        };
        cells.push(cell);
    }
    Ok(cells.join("|"))
}
