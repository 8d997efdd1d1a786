//! Reads over the projections. Filters use only non-PHI indexed columns (tenant, subject id,
//! app version, LOINC code, time); PHI comes back in payload columns, untouched.
//!
//! Two kinds of read, told apart by their pool: a read that takes a `TenantId` reads that
//! tenant's rows and runs on the connection of [`Store::scoped_read`], behind the tenant wall;
//! the few that span tenants (tenants, token lookup) run on [`Store::unscoped_reader`].

use hale_domain::event::{EventBody, Identifier, VersionStatus};
use hale_domain::{AppId, SubjectId, SubmissionId, TenantId, Timestamp};
use serde::Deserialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::bulk::{Bind, bind_all};
use crate::error::StoreError;
use crate::tenancy::ScopedRead;
use crate::{Store, packed};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantRow {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub created_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectRow {
    pub id: SubjectId,
    pub created_at: Timestamp,
    pub identifiers: Vec<Identifier>,
    pub display_name: Option<String>,
    pub birth_date: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppRow {
    pub id: AppId,
    pub name: String,
    pub created_by: String,
    pub created_at: Timestamp,
    pub current_version: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppVersionRow {
    pub app_id: AppId,
    pub version: i64,
    pub status: VersionStatus,
    pub definition: String,
    pub compiled: String,
    pub author: String,
    pub created_at: Timestamp,
    pub status_by: Option<String>,
    pub status_at: Option<Timestamp>,
    pub status_comment: Option<String>,
    pub report: Option<String>,
    /// Where the definition was written, as the draft's event recorded it (JSON).
    pub source: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubmissionRow {
    pub id: SubmissionId,
    pub subject_id: SubjectId,
    pub app_id: AppId,
    pub app_version: i64,
    pub authored_at: Timestamp,
    pub recorded_at: Timestamp,
    pub actor: String,
    /// The answers, exactly as submitted (JSON text).
    pub answers: String,
    /// Clinical scores computed from the answers (JSON text), if any.
    pub scores: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ObservationRow {
    pub submission_id: SubmissionId,
    pub position: i64,
    pub subject_id: SubjectId,
    pub code: String,
    pub effective_at: Timestamp,
    pub field: String,
    pub value: f64,
    pub unit: String,
}

/// Half-open time window `[since, until)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

/// One page of a newest-first listing; `next` is the keyset position after the last item.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<(i64, String, i64)>,
}

/// Builds `WHERE … ORDER BY … LIMIT` for newest-first keyset listings, so that absent filters
/// leave no `IS NULL OR` in the statement for the planner to trip over.
struct Listing {
    conditions: Vec<String>,
    binds: Vec<Bind>,
}

impl Listing {
    fn new() -> Self {
        Self {
            conditions: Vec::new(),
            binds: Vec::new(),
        }
    }

    fn condition(&mut self, sql: &str, bind: Bind) -> &mut Self {
        self.binds.push(bind);
        let placeholder = format!("${}", self.binds.len());
        self.conditions.push(sql.replace('?', &placeholder));
        self
    }

    /// Keeps only rows before a keyset position: `(a, b) < ($m, $n)`, newest first.
    fn before(&mut self, columns: &[&str], values: Vec<Bind>) -> &mut Self {
        let first = self.binds.len() + 1;
        self.binds.extend(values);
        let placeholders: Vec<String> = (first..=self.binds.len())
            .map(|n| format!("${n}"))
            .collect();
        self.conditions.push(format!(
            "({}) < ({})",
            columns.join(", "),
            placeholders.join(", ")
        ));
        self
    }

    fn time_range(&mut self, column: &str, range: TimeRange) -> &mut Self {
        if let Some(since) = range.since {
            self.condition(&format!("{column} >= ?"), Bind::Integer(since.as_micros()));
        }
        if let Some(until) = range.until {
            self.condition(&format!("{column} < ?"), Bind::Integer(until.as_micros()));
        }
        self
    }

    fn sql(&self, select: &str, order: &str, limit: i64) -> String {
        format!(
            "{select} WHERE {} ORDER BY {order} LIMIT {}",
            self.conditions.join(" AND "),
            limit + 1
        )
    }

    async fn fetch(&self, read: &mut ScopedRead, sql: &str) -> Result<Vec<AnyRow>, StoreError> {
        Ok(bind_all(sqlx::query(sql), &self.binds)
            .fetch_all(read.connection())
            .await?)
    }
}

pub(crate) fn parse_id<T: std::str::FromStr>(text: &str) -> Result<T, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Corrupt("a stored id is not a UUID".into()))
}

fn tenant_row(row: &AnyRow) -> Result<TenantRow, StoreError> {
    Ok(TenantRow {
        id: parse_id(&row.try_get::<String, _>("id")?)?,
        slug: row.try_get("slug")?,
        name: row.try_get("name")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
    })
}

#[derive(Deserialize)]
struct SubjectPayload {
    identifiers: Vec<Identifier>,
    display_name: Option<String>,
    birth_date: Option<String>,
}

pub(crate) fn subject_row(row: &AnyRow) -> Result<SubjectRow, StoreError> {
    let payload: SubjectPayload = serde_json::from_str(&row.try_get::<String, _>("payload")?)
        .map_err(|_| StoreError::Corrupt("a subject payload is not valid".into()))?;
    Ok(SubjectRow {
        id: parse_id(&row.try_get::<String, _>("id")?)?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        identifiers: payload.identifiers,
        display_name: payload.display_name,
        birth_date: payload.birth_date,
    })
}

fn app_row(row: &AnyRow) -> Result<AppRow, StoreError> {
    Ok(AppRow {
        id: parse_id(&row.try_get::<String, _>("id")?)?,
        name: row.try_get("name")?,
        created_by: row.try_get("created_by")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        current_version: row.try_get("current_version")?,
    })
}

pub(crate) fn app_version_row(row: &AnyRow) -> Result<AppVersionRow, StoreError> {
    let status: String = row.try_get("status")?;
    Ok(AppVersionRow {
        app_id: parse_id(&row.try_get::<String, _>("app_id")?)?,
        version: row.try_get("version")?,
        status: VersionStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt("unknown version status".into()))?,
        definition: row.try_get("definition")?,
        compiled: row.try_get("compiled")?,
        author: row.try_get("author")?,
        created_at: Timestamp::from_micros(row.try_get("created_at")?),
        status_by: row.try_get("status_by")?,
        status_at: row
            .try_get::<Option<i64>, _>("status_at")?
            .map(Timestamp::from_micros),
        status_comment: row.try_get("status_comment")?,
        report: row.try_get("report")?,
        source: row.try_get("source")?,
    })
}

/// A compact id column: a UUID's 16 bytes.
fn id_column(row: &AnyRow, column: &str) -> Result<uuid::Uuid, StoreError> {
    let bytes: Vec<u8> = row.try_get(column)?;
    uuid::Uuid::from_slice(&bytes)
        .map_err(|_| StoreError::Corrupt("a stored id is not 16 bytes".into()))
}

/// A keyset position's id as the bytes it is stored as. A position is one this store handed
/// out; text that is no UUID (a cursor tampered with) compares as its own bytes, harmlessly.
fn id_bind(text: &str) -> Bind {
    match uuid::Uuid::parse_str(text) {
        Ok(id) => Bind::id(&id),
        Err(_) => Bind::Blob(text.as_bytes().to_vec()),
    }
}

/// The columns of a submission read: its row, and from its event (the one place the answers
/// are stored) the actor and the payload.
const SUBMISSION_COLUMNS: &str = "s.id, s.subject_id, s.app_id, s.app_version, s.authored_at, \
     s.recorded_at, e.actor, e.stream_id, e.payload, e.packed";

/// `submissions s` joined to the event each row points at.
const SUBMISSIONS_WITH_EVENTS: &str = "submissions s \
     JOIN tenants t ON t.tenant_key = s.tenant_key \
     JOIN events e ON e.tenant_id = t.id AND e.seq = s.event_seq";

fn submission_row(row: &AnyRow) -> Result<SubmissionRow, StoreError> {
    // Packed (see `packed.rs`) unless written before packing or packing would change it.
    let body = match row.try_get::<Option<String>, _>("payload")? {
        Some(payload) => EventBody::from_payload(&payload).ok(),
        None => row
            .try_get::<Option<Vec<u8>>, _>("packed")?
            .and_then(|packed| {
                packed::unpack_body(&packed, &row.try_get::<String, _>("stream_id").ok()?)
            }),
    };
    let Some(EventBody::SubmissionReceived {
        answers, scores, ..
    }) = body
    else {
        return Err(StoreError::Corrupt(
            "a submission's event is not a readable submission".into(),
        ));
    };
    Ok(SubmissionRow {
        id: SubmissionId::from_uuid(id_column(row, "id")?),
        subject_id: SubjectId::from_uuid(id_column(row, "subject_id")?),
        app_id: AppId::from_uuid(id_column(row, "app_id")?),
        app_version: row.try_get("app_version")?,
        authored_at: Timestamp::from_micros(row.try_get("authored_at")?),
        recorded_at: Timestamp::from_micros(row.try_get("recorded_at")?),
        actor: row.try_get("actor")?,
        answers: answers.get().to_owned(),
        scores: scores.map(|scores| scores.get().to_owned()),
    })
}

pub(crate) fn observation_row(row: &AnyRow) -> Result<ObservationRow, StoreError> {
    Ok(ObservationRow {
        submission_id: SubmissionId::from_uuid(id_column(row, "submission_id")?),
        position: row.try_get("position")?,
        subject_id: SubjectId::from_uuid(id_column(row, "subject_id")?),
        code: row.try_get("code")?,
        effective_at: Timestamp::from_micros(row.try_get("effective_at")?),
        field: row.try_get("field")?,
        value: row.try_get("value")?,
        unit: row.try_get("unit")?,
    })
}

pub(crate) const APP_VERSION_COLUMNS: &str = "app_id, version, status, definition, compiled, author, \
     created_at, status_by, status_at, status_comment, report, source";

impl Store {
    pub async fn tenant(&self, id: TenantId) -> Result<Option<TenantRow>, StoreError> {
        sqlx::query("SELECT id, slug, name, created_at FROM tenants WHERE id = $1")
            .bind(id.to_string())
            .fetch_optional(self.unscoped_reader())
            .await?
            .as_ref()
            .map(tenant_row)
            .transpose()
    }

    pub async fn tenant_by_slug(&self, slug: &str) -> Result<Option<TenantRow>, StoreError> {
        sqlx::query("SELECT id, slug, name, created_at FROM tenants WHERE slug = $1")
            .bind(slug)
            .fetch_optional(self.unscoped_reader())
            .await?
            .as_ref()
            .map(tenant_row)
            .transpose()
    }

    pub async fn tenants(&self) -> Result<Vec<TenantRow>, StoreError> {
        sqlx::query("SELECT id, slug, name, created_at FROM tenants ORDER BY slug")
            .fetch_all(self.unscoped_reader())
            .await?
            .iter()
            .map(tenant_row)
            .collect()
    }

    pub async fn subject(
        &self,
        tenant: TenantId,
        id: SubjectId,
    ) -> Result<Option<SubjectRow>, StoreError> {
        let mut read = self.scoped_read(tenant).await?;
        sqlx::query("SELECT id, created_at, payload FROM subjects WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .fetch_optional(read.connection())
            .await?
            .as_ref()
            .map(subject_row)
            .transpose()
    }

    pub async fn subject_by_identifier_key(
        &self,
        tenant: TenantId,
        key: &str,
    ) -> Result<Option<SubjectId>, StoreError> {
        let mut read = self.scoped_read(tenant).await?;
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT subject_id FROM subject_identifiers \
             WHERE tenant_id = $1 AND identifier_key = $2",
        )
        .bind(tenant.to_string())
        .bind(key)
        .fetch_optional(read.connection())
        .await?;
        row.map(|(id,)| parse_id(&id)).transpose()
    }

    pub async fn subjects(
        &self,
        tenant: TenantId,
        after: Option<(i64, String, i64)>,
        limit: i64,
    ) -> Result<Page<SubjectRow>, StoreError> {
        let mut read = self.scoped_read(tenant).await?;
        let mut listing = Listing::new();
        listing.condition("tenant_id = ?", Bind::Text(tenant.to_string()));
        if let Some((time, id, _)) = after {
            listing.before(
                &["created_at", "id"],
                vec![Bind::Integer(time), Bind::Text(id)],
            );
        }
        let sql = listing.sql(
            "SELECT id, created_at, payload FROM subjects",
            "created_at DESC, id DESC",
            limit,
        );
        let rows = listing.fetch(&mut read, &sql).await?;
        paginate(rows, limit, subject_row, |s| {
            (s.created_at.as_micros(), s.id.to_string(), 0)
        })
    }

    pub async fn app(&self, tenant: TenantId, id: AppId) -> Result<Option<AppRow>, StoreError> {
        let mut read = self.scoped_read(tenant).await?;
        sqlx::query(
            "SELECT id, name, created_by, created_at, current_version FROM apps \
             WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(read.connection())
        .await?
        .as_ref()
        .map(app_row)
        .transpose()
    }

    pub async fn apps(&self, tenant: TenantId) -> Result<Vec<AppRow>, StoreError> {
        let mut read = self.scoped_read(tenant).await?;
        sqlx::query(
            "SELECT id, name, created_by, created_at, current_version FROM apps \
             WHERE tenant_id = $1 ORDER BY name, id",
        )
        .bind(tenant.to_string())
        .fetch_all(read.connection())
        .await?
        .iter()
        .map(app_row)
        .collect()
    }

    /// A media file's type and bytes, by the SHA-256 (lowercase hex) a version describes it by.
    pub async fn app_media(
        &self,
        tenant: TenantId,
        sha256: &str,
    ) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let mut read = self.scoped_read(tenant).await?;
        let row = sqlx::query(
            "SELECT media_type, content FROM app_media WHERE tenant_id = $1 AND sha256 = $2",
        )
        .bind(tenant.to_string())
        .bind(sha256)
        .fetch_optional(read.connection())
        .await?;
        row.map(|row| Ok((row.try_get("media_type")?, row.try_get("content")?)))
            .transpose()
    }

    /// Whether the tenant keeps a media file of this SHA-256 already.
    pub async fn has_app_media(&self, tenant: TenantId, sha256: &str) -> Result<bool, StoreError> {
        let mut read = self.scoped_read(tenant).await?;
        let row =
            sqlx::query("SELECT 1 AS found FROM app_media WHERE tenant_id = $1 AND sha256 = $2")
                .bind(tenant.to_string())
                .bind(sha256)
                .fetch_optional(read.connection())
                .await?;
        Ok(row.is_some())
    }

    pub async fn app_version(
        &self,
        tenant: TenantId,
        app: AppId,
        version: i64,
    ) -> Result<Option<AppVersionRow>, StoreError> {
        let mut read = self.scoped_read(tenant).await?;
        sqlx::query(&format!(
            "SELECT {APP_VERSION_COLUMNS} FROM app_versions \
             WHERE tenant_id = $1 AND app_id = $2 AND version = $3"
        ))
        .bind(tenant.to_string())
        .bind(app.to_string())
        .bind(version)
        .fetch_optional(read.connection())
        .await?
        .as_ref()
        .map(app_version_row)
        .transpose()
    }

    pub async fn app_versions(
        &self,
        tenant: TenantId,
        app: AppId,
    ) -> Result<Vec<AppVersionRow>, StoreError> {
        let mut read = self.scoped_read(tenant).await?;
        sqlx::query(&format!(
            "SELECT {APP_VERSION_COLUMNS} FROM app_versions \
             WHERE tenant_id = $1 AND app_id = $2 ORDER BY version"
        ))
        .bind(tenant.to_string())
        .bind(app.to_string())
        .fetch_all(read.connection())
        .await?
        .iter()
        .map(app_version_row)
        .collect()
    }

    /// Up to `limit` versions after `after`, oldest first; only published ones when
    /// `published_only`. Reads at most `limit + 1` rows, so the caller can tell whether more follow.
    pub async fn app_version_page(
        &self,
        tenant: TenantId,
        app: AppId,
        after: Option<i64>,
        limit: i64,
        published_only: bool,
    ) -> Result<Vec<AppVersionRow>, StoreError> {
        let mut read = self.scoped_read(tenant).await?;
        let status = if published_only {
            " AND status = 'published'"
        } else {
            ""
        };
        sqlx::query(&format!(
            "SELECT {APP_VERSION_COLUMNS} FROM app_versions \
             WHERE tenant_id = $1 AND app_id = $2 AND version > $3{status} \
             ORDER BY version LIMIT $4"
        ))
        .bind(tenant.to_string())
        .bind(app.to_string())
        .bind(after.unwrap_or(0))
        .bind(limit.saturating_add(1))
        .fetch_all(read.connection())
        .await?
        .iter()
        .map(app_version_row)
        .collect()
    }

    pub async fn submission(
        &self,
        tenant: TenantId,
        id: SubmissionId,
    ) -> Result<Option<SubmissionRow>, StoreError> {
        let mut read = self.scoped_read(tenant).await?;
        // Found through the event's stream key, which the log keeps unique anyway.
        sqlx::query(&format!(
            "SELECT {SUBMISSION_COLUMNS} FROM {SUBMISSIONS_WITH_EVENTS} \
             WHERE e.tenant_id = $1 AND e.stream_kind = 'submission' AND e.stream_id = $2 \
             AND e.stream_version = 1"
        ))
        .bind(tenant.to_string())
        .bind(id.to_string())
        .fetch_optional(read.connection())
        .await?
        .as_ref()
        .map(submission_row)
        .transpose()
    }

    pub async fn submissions_for_subject(
        &self,
        tenant: TenantId,
        subject: SubjectId,
        range: TimeRange,
        after: Option<(i64, String, i64)>,
        limit: i64,
    ) -> Result<Page<SubmissionRow>, StoreError> {
        let mut read = self.scoped_read(tenant).await?;
        let mut listing = Listing::new();
        listing
            .condition(
                "s.tenant_key = (SELECT tenant_key FROM tenants WHERE id = ?)",
                Bind::Text(tenant.to_string()),
            )
            .condition("s.subject_id = ?", Bind::id(subject.as_uuid()))
            .time_range("s.authored_at", range);
        if let Some((time, id, _)) = after {
            listing.before(
                &["s.authored_at", "s.id"],
                vec![Bind::Integer(time), id_bind(&id)],
            );
        }
        let sql = listing.sql(
            &format!("SELECT {SUBMISSION_COLUMNS} FROM {SUBMISSIONS_WITH_EVENTS}"),
            "s.authored_at DESC, s.id DESC",
            limit,
        );
        let rows = listing.fetch(&mut read, &sql).await?;
        paginate(rows, limit, submission_row, |s| {
            (s.authored_at.as_micros(), s.id.to_string(), 0)
        })
    }

    pub async fn observations_for_subject(
        &self,
        tenant: TenantId,
        subject: SubjectId,
        code: Option<&str>,
        range: TimeRange,
        after: Option<(i64, String, i64)>,
        limit: i64,
    ) -> Result<Page<ObservationRow>, StoreError> {
        let mut read = self.scoped_read(tenant).await?;
        let mut listing = Listing::new();
        listing
            .condition(
                "tenant_key = (SELECT tenant_key FROM tenants WHERE id = ?)",
                Bind::Text(tenant.to_string()),
            )
            .condition("subject_id = ?", Bind::id(subject.as_uuid()));
        if let Some(code) = code {
            listing.condition("code = ?", Bind::Text(code.to_owned()));
        }
        listing.time_range("effective_at", range);
        if let Some((time, id, position)) = after {
            listing.before(
                &["effective_at", "submission_id", "position"],
                vec![Bind::Integer(time), id_bind(&id), Bind::Integer(position)],
            );
        }
        let sql = listing.sql(
            "SELECT submission_id, position, subject_id, code, effective_at, field, value, unit \
             FROM observations",
            "effective_at DESC, submission_id DESC, position DESC",
            limit,
        );
        let rows = listing.fetch(&mut read, &sql).await?;
        paginate(rows, limit, observation_row, |o| {
            (
                o.effective_at.as_micros(),
                o.submission_id.to_string(),
                o.position,
            )
        })
    }
}

/// Turns `limit + 1` fetched rows into a page and the keyset of its last item.
fn paginate<T>(
    rows: Vec<AnyRow>,
    limit: i64,
    parse: fn(&AnyRow) -> Result<T, StoreError>,
    key: fn(&T) -> (i64, String, i64),
) -> Result<Page<T>, StoreError> {
    let has_more = rows.len() as i64 > limit;
    let items = rows
        .iter()
        .take(limit.max(0) as usize)
        .map(parse)
        .collect::<Result<Vec<_>, _>>()?;
    let next = if has_more {
        items.last().map(key)
    } else {
        None
    };
    Ok(Page { items, next })
}
