//! Layouts v2 and v3 are migrations, not resets: a database written by the statements of the
//! layout before v2 (migrations up to `20261203000001`) is migrated, and everything reads
//! back — the answers byte for byte, observations as typed values, idempotency claims — the
//! log verifies against the moved read models, the writer extends the moved chain, and a
//! rebuild changes nothing. A database as layout v2 left it moves to v3 row for row.

use hale_domain::chain::{GENESIS, entry_hash};
use hale_domain::event::RecordedEvent;
use hale_store::ChainKey;
use hale_store::testing::{fresh_until, migrate_until};
use sqlx::Connection;

use super::*;

/// The last migration of the layout before v2.
const BEFORE_V2: i64 = 20261203000001;

/// The statements that layout's writer and projections ran, as they were.
const OLD_EVENT: &str = "INSERT INTO events (tenant_id, seq, stream_kind, stream_id, \
     stream_version, event_type, payload, actor, recorded_at, prev_hash, hash) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
const OLD_HEAD: &str = "INSERT INTO chain_heads (tenant_id, seq, hash) VALUES ($1, $2, $3)";
const OLD_TENANT: &str = "INSERT INTO tenants (id, slug, name, created_at) VALUES ($1, $2, $3, $4)";
const OLD_SUBJECT: &str =
    "INSERT INTO subjects (tenant_id, id, created_at, payload) VALUES ($1, $2, $3, $4)";
const OLD_IDENTIFIER: &str =
    "INSERT INTO subject_identifiers (tenant_id, identifier_key, subject_id) VALUES ($1, $2, $3)";
const OLD_SUBMISSION: &str = "INSERT INTO submissions (tenant_id, id, subject_id, app_id, \
     app_version, authored_at, recorded_at, actor, payload, scores) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
const OLD_OBSERVATION: &str = "INSERT INTO observations (tenant_id, submission_id, position, \
     subject_id, code, effective_at, payload) VALUES ($1, $2, $3, $4, $5, $6, $7)";
const OLD_CLAIM: &str = "INSERT INTO idempotency_keys (tenant_id, actor, idempotency_key, \
     request_hash, stream_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)";

/// Answers with spacing and key order a parser would not keep: they must come back as sent.
const ANSWERS: &str = r#"{ "temperature" : 36.6,"heart_rate":72 , "note":"é\u00e9" }"#;

/// Chains `events` of one tenant from the genesis hash, as the old writer did.
fn chained(key: &ChainKey, events: Vec<RecordedEvent>) -> Vec<RecordedEvent> {
    let mut prev = GENESIS;
    events
        .into_iter()
        .enumerate()
        .map(|(index, mut event)| {
            event.seq = index as i64 + 1;
            event.prev_hash = prev;
            event.hash = entry_hash(key, &event);
            prev = event.hash;
            event
        })
        .collect()
}

fn recorded(tenant: TenantId, stream: StreamRef, actor: &str, body: &EventBody) -> RecordedEvent {
    RecordedEvent {
        tenant_id: tenant,
        seq: 0,
        stream_kind: stream.kind.to_owned(),
        stream_id: stream.id,
        stream_version: 1,
        event_type: body.event_type().to_owned(),
        payload: body.to_payload(),
        actor: actor.to_owned(),
        recorded_at: at(10),
        prev_hash: GENESIS,
        hash: [0; 32],
    }
}

/// A value bound to one of the old statements.
enum Cell {
    Text(String),
    Integer(i64),
    Null,
}

async fn run(connection: &mut sqlx::AnyConnection, sql: &str, binds: Vec<Cell>) {
    let mut query = sqlx::query(sql);
    for bind in binds {
        query = match bind {
            Cell::Text(text) => query.bind(text),
            Cell::Integer(number) => query.bind(number),
            Cell::Null => query.bind(None::<String>),
        };
    }
    query.execute(&mut *connection).await.unwrap();
}

fn text(value: impl ToString) -> Cell {
    Cell::Text(value.to_string())
}

fn int(value: i64) -> Cell {
    Cell::Integer(value)
}

/// Writes one tenant, one subject and two submissions (one with an idempotency key and
/// scores) exactly as the old layout stored them, with `tie` a third at the second's moment.
/// Returns the tenant, subject and the first two submissions.
async fn write_old_layout(
    db: &TestDatabase,
    tie: bool,
) -> (TenantId, SubjectId, SubmissionId, SubmissionId) {
    let key = db.custody.key();
    let tenant = TenantId::from_uuid(Uuid::new_v4());
    let subject = SubjectId::from_uuid(Uuid::new_v4());
    let app = AppId::from_uuid(Uuid::from_u128(5));
    let (first, second) = (
        SubmissionId::from_uuid(Uuid::new_v4()),
        SubmissionId::from_uuid(Uuid::new_v4()),
    );
    let created = EventBody::TenantCreated {
        tenant_id: tenant,
        slug: "migrated".into(),
        name: "Migrated health".into(),
    };
    let registered = EventBody::SubjectRegistered {
        subject_id: subject,
        identifiers: vec![Identifier {
            system: "urn:mrn".into(),
            value: "M-1".into(),
        }],
        display_name: Some("Pat".into()),
        birth_date: None,
        identifier_keys: vec!["key-M-1".into()],
    };
    let submission = |id: SubmissionId, seconds: i64, keyed: bool| EventBody::SubmissionReceived {
        submission_id: id,
        subject_id: subject,
        app_id: app,
        app_version: 1,
        authored_at: at(seconds),
        answers: raw(ANSWERS),
        observations: vec![
            ObservationRecord {
                index: 0,
                field: "heart_rate".into(),
                code: "8867-4".into(),
                value: 72.0,
                unit: "/min".into(),
            },
            ObservationRecord {
                index: 1,
                field: "temperature".into(),
                code: "8310-5".into(),
                value: 36.6,
                unit: "Cel".into(),
            },
        ],
        idempotency_key: keyed.then(|| "retry-1".to_owned()),
        request_hash: if keyed {
            "ab".repeat(32)
        } else {
            String::new()
        },
        scores: keyed.then(|| raw(NEWS2_SCORES)),
    };
    let mut written = vec![(first, 20, true), (second, 30, false)];
    if tie {
        written.push((SubmissionId::from_uuid(Uuid::new_v4()), 30, false));
    }
    let platform = chained(
        key,
        vec![recorded(
            TenantId::PLATFORM,
            StreamRef::tenant(tenant),
            "admin",
            &created,
        )],
    );
    let mut entries = vec![recorded(
        tenant,
        StreamRef::subject(subject),
        "clinician",
        &registered,
    )];
    for (id, seconds, keyed) in &written {
        let body = submission(*id, *seconds, *keyed);
        entries.push(recorded(
            tenant,
            StreamRef::submission(*id),
            "patient",
            &body,
        ));
    }
    let own = chained(key, entries);

    let mut connection = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    for event in platform.iter().chain(&own) {
        run(
            &mut connection,
            OLD_EVENT,
            vec![
                text(event.tenant_id),
                int(event.seq),
                text(&event.stream_kind),
                text(&event.stream_id),
                int(event.stream_version),
                text(&event.event_type),
                text(&event.payload),
                text(&event.actor),
                int(event.recorded_at.as_micros()),
                text(hex::encode(event.prev_hash)),
                text(hex::encode(event.hash)),
            ],
        )
        .await;
    }
    for chain in [&platform, &own] {
        let last = chain.last().unwrap();
        run(
            &mut connection,
            OLD_HEAD,
            vec![
                text(last.tenant_id),
                int(last.seq),
                text(hex::encode(last.hash)),
            ],
        )
        .await;
    }
    let recorded_at = at(10).as_micros();
    run(
        &mut connection,
        OLD_TENANT,
        vec![
            text(tenant),
            text("migrated"),
            text("Migrated health"),
            int(recorded_at),
        ],
    )
    .await;
    let payload = serde_json::json!({
        "identifiers": [{"system": "urn:mrn", "value": "M-1"}],
        "display_name": "Pat",
        "birth_date": null,
    });
    run(
        &mut connection,
        OLD_SUBJECT,
        vec![text(tenant), text(subject), int(recorded_at), text(payload)],
    )
    .await;
    run(
        &mut connection,
        OLD_IDENTIFIER,
        vec![text(tenant), text("key-M-1"), text(subject)],
    )
    .await;
    for (id, seconds, keyed) in written {
        run(
            &mut connection,
            OLD_SUBMISSION,
            vec![
                text(tenant),
                text(id),
                text(subject),
                text(app),
                int(1),
                int(at(seconds).as_micros()),
                int(recorded_at),
                text("patient"),
                text(ANSWERS),
                if keyed {
                    text(NEWS2_SCORES)
                } else {
                    Cell::Null
                },
            ],
        )
        .await;
        for (position, field, code, value, unit) in [
            (0, "heart_rate", "8867-4", 72.0, "/min"),
            (1, "temperature", "8310-5", 36.6, "Cel"),
        ] {
            let payload = serde_json::json!({"field": field, "value": value, "unit": unit});
            run(
                &mut connection,
                OLD_OBSERVATION,
                vec![
                    text(tenant),
                    text(id),
                    int(position),
                    text(subject),
                    text(code),
                    int(at(seconds).as_micros()),
                    text(payload),
                ],
            )
            .await;
        }
    }
    // The second claim's request hash is no SHA-256: v3 keeps it as its text.
    for (key, request_hash, stream) in [
        ("retry-1", "ab".repeat(32), first),
        ("retry-2", "h".to_owned(), second),
    ] {
        run(
            &mut connection,
            OLD_CLAIM,
            vec![
                text(tenant),
                text("patient"),
                text(key),
                text(request_hash),
                text(stream),
                int(recorded_at),
            ],
        )
        .await;
    }
    connection.close().await.unwrap();
    (tenant, subject, first, second)
}

/// The submissions `write_old_layout` wrote, read through the store after a migration: the
/// answers byte for byte, scores, actor and times, newest first.
async fn reads_back(
    store: &Store,
    tenant: TenantId,
    subject: SubjectId,
    first: SubmissionId,
    second: SubmissionId,
) {
    let read = store.submission(tenant, first).await.unwrap().unwrap();
    assert_eq!(read.answers, ANSWERS, "answers come back byte for byte");
    assert_eq!(read.scores.as_deref(), Some(NEWS2_SCORES));
    assert_eq!((read.subject_id, read.actor.as_str()), (subject, "patient"));
    assert_eq!(read.recorded_at, at(10));
    let unscored = store.submission(tenant, second).await.unwrap().unwrap();
    assert_eq!(unscored.scores, None);
    let listed = store
        .submissions_for_subject(tenant, subject, TimeRange::default(), None, 10)
        .await
        .unwrap();
    let ids: Vec<SubmissionId> = listed.items.iter().map(|row| row.id).collect();
    assert_eq!(ids, [second, first], "newest first");
}

#[tokio::test]
async fn the_old_layout_is_migrated_and_reads_back() {
    for backend in engines() {
        eprintln!("engine: {}", backend.name());
        let db = fresh_until(backend, BEFORE_V2).await;
        let (tenant, subject, first, second) = write_old_layout(&db, false).await;
        db.store.migrate().await.unwrap();
        let store = &db.store;
        reads_back(store, tenant, subject, first, second).await;

        let temperatures = store
            .observations_for_subject(
                tenant,
                subject,
                Some("8310-5"),
                TimeRange::default(),
                None,
                10,
            )
            .await
            .unwrap();
        assert_eq!(temperatures.items.len(), 2);
        for observation in &temperatures.items {
            assert_eq!(
                (
                    observation.field.as_str(),
                    observation.value,
                    observation.unit.as_str()
                ),
                ("temperature", 36.6, "Cel")
            );
            assert_eq!(observation.position, 1);
        }
        assert_eq!(temperatures.items[0].submission_id, second);

        let claim = store
            .claimed_key(tenant, "patient", "retry-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(claim.stream_id, first.to_string());
        // A retry of the migrated request replays it; the writer then extends the moved chain.
        let (_, retry) = submission_append(
            tenant,
            subject,
            20,
            ANSWERS,
            Some(("retry-1", &"ab".repeat(32))),
        );
        assert_eq!(
            store.append(retry).await.unwrap(),
            AppendOutcome::Replayed {
                stream_id: first.to_string()
            }
        );
        let (third, append) = submission_append(tenant, subject, 40, r#"{"heart_rate":80}"#, None);
        assert_eq!(
            store.append(append).await.unwrap(),
            AppendOutcome::Appended { last_seq: 4 }
        );
        assert_eq!(
            store
                .submission(tenant, third)
                .await
                .unwrap()
                .unwrap()
                .answers,
            r#"{"heart_rate":80}"#
        );
        store.checkpoint().await.unwrap();

        let report = store.verify_chains().await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        let counts = store.table_counts().await.unwrap();
        assert_eq!((counts.submissions, counts.observations), (3, 6));
        assert_eq!(counts.idempotency_keys, 2);
        let before = store.projection_snapshot().await.unwrap();
        store.rebuild_projections().await.unwrap();
        assert_eq!(store.projection_snapshot().await.unwrap(), before);
        store.close().await;
    }
}

/// The patient app's read models (`20261205000001`) are filled from the rows a database
/// holds, as a replay of the log fills them ("newest" ties on time broken alike), so an
/// upgraded database verifies.
/// The database is the old layout's (two submissions of one subject at the same moment, an
/// older one), migrated to the layout the patient app's migration ran on, then the rest.
#[tokio::test]
async fn the_patient_app_read_models_are_back_filled_as_a_replay_fills_them() {
    for backend in engines() {
        eprintln!("engine: {}", backend.name());
        let db = fresh_until(backend, BEFORE_V2).await;
        write_old_layout(&db, true).await;
        migrate_until(&db.store, LAYOUT_V2).await;
        let store = &db.store;
        store.migrate().await.unwrap();
        assert!(store.is_ready().await.unwrap());
        let migrated = store.projection_snapshot().await.unwrap();
        for table in [
            "latest_submissions",
            "latest_observations",
            "news2_scores",
            "latest_news2",
        ] {
            let rows = &migrated.iter().find(|(name, _)| name == table).unwrap().1;
            assert!(!rows.is_empty(), "{table} is empty");
        }
        assert!(store.verify_chains().await.unwrap().is_intact());
        store.rebuild_projections().await.unwrap();
        assert_eq!(store.projection_snapshot().await.unwrap(), migrated);
        store.close().await;
    }
}

/// The migration of layout v2, which the patient app's migration followed.
const LAYOUT_V2: i64 = 20261204000001;

/// The compact log and tenant keys (layout v3).
const COMPACT_LOG: i64 = 20261208000001;

/// Every migration before layout v3: the database as the build before it left it.
const BEFORE_V3: i64 = COMPACT_LOG - 1;

/// One cell of a row, as text that tells the types apart.
fn cell(row: &sqlx::any::AnyRow, index: usize) -> String {
    use sqlx::Row;
    if let Ok(value) = row.try_get::<Option<i64>, _>(index) {
        return format!("{value:?}");
    }
    if let Ok(value) = row.try_get::<Option<f64>, _>(index) {
        return format!("{value:?}");
    }
    if let Ok(value) = row.try_get::<Option<String>, _>(index) {
        return format!("{value:?}");
    }
    // Bytes as hex, so that a hash moved from hex text to its bytes reads the same.
    let bytes = row.try_get::<Option<Vec<u8>>, _>(index).unwrap();
    format!("{:?}", bytes.map(hex::encode))
}

async fn rows(db: &TestDatabase, sql: &str) -> Vec<Vec<String>> {
    use sqlx::Row;
    let mut connection = sqlx::AnyConnection::connect(&db.url).await.unwrap();
    let rows = sqlx::query(sql).fetch_all(&mut connection).await.unwrap();
    connection.close().await.unwrap();
    rows.iter()
        .map(|row| (0..row.len()).map(|index| cell(row, index)).collect())
        .collect()
}

/// Each table the compact layout moves, read before (v2: by tenant id) and after (v3: by
/// tenant key, joined to its id) in one row shape.
const MOVED: [(&str, &str, &str); 5] = [
    (
        "events",
        "SELECT tenant_id, seq, stream_kind, stream_id, stream_version, event_type, payload, \
         actor, recorded_at, hash FROM events ORDER BY tenant_id, seq",
        "SELECT tenant_id, seq, stream_kind, stream_id, stream_version, event_type, payload, \
         actor, recorded_at, hash FROM events ORDER BY tenant_id, seq",
    ),
    (
        "submissions",
        "SELECT tenant_id, event_seq, id, subject_id, app_id, app_version, authored_at, \
         recorded_at FROM submissions ORDER BY tenant_id, event_seq",
        "SELECT t.id, s.event_seq, s.id, s.subject_id, s.app_id, s.app_version, s.authored_at, \
         s.recorded_at FROM submissions s JOIN tenants t ON t.tenant_key = s.tenant_key \
         ORDER BY t.id, s.event_seq",
    ),
    (
        "observations",
        "SELECT tenant_id, subject_id, code, effective_at, submission_id, position, field, \
         value, unit FROM observations ORDER BY submission_id, position",
        "SELECT t.id, o.subject_id, o.code, o.effective_at, o.submission_id, o.position, \
         o.field, o.value, o.unit FROM observations o JOIN tenants t \
         ON t.tenant_key = o.tenant_key ORDER BY o.submission_id, o.position",
    ),
    (
        "news2_scores",
        "SELECT tenant_id, subject_id, effective_at, submission_id, total, risk, \
         highest_parameter FROM news2_scores ORDER BY submission_id",
        "SELECT t.id, n.subject_id, n.effective_at, n.submission_id, n.total, n.risk, \
         n.highest_parameter FROM news2_scores n JOIN tenants t ON t.tenant_key = n.tenant_key \
         ORDER BY n.submission_id",
    ),
    (
        "idempotency_keys",
        // The request hash and stream id are packed: read back through the store below.
        "SELECT tenant_id, actor, idempotency_key, created_at \
         FROM idempotency_keys ORDER BY idempotency_key",
        "SELECT t.id, k.actor, k.idempotency_key, k.created_at \
         FROM idempotency_keys k JOIN tenants t ON t.tenant_key = k.tenant_key \
         ORDER BY k.idempotency_key",
    ),
];

/// The compact layout is a migration too: a database as layout v2 left it (here, the old
/// layout's rows moved by the v2 migration) keeps every row of the log, the submissions,
/// observations, NEWS2 scores and claims, each read back the same under its tenant's key; the
/// tenants get the key a replay gives them, the log verifies, and new submissions are packed.
#[tokio::test]
async fn the_layout_before_the_compact_log_is_migrated_row_for_row() {
    for backend in engines() {
        eprintln!("engine: {}", backend.name());
        let db = fresh_until(backend, BEFORE_V2).await;
        let (tenant, subject, first, second) = write_old_layout(&db, false).await;
        migrate_until(&db.store, BEFORE_V3).await;
        let mut before = Vec::new();
        for (table, old, _) in MOVED {
            let read = rows(&db, old).await;
            assert!(!read.is_empty(), "{table} has rows to move");
            before.push(read);
        }

        db.store.migrate().await.unwrap();
        assert!(db.store.is_ready().await.unwrap());
        for ((table, _, new), before) in MOVED.iter().zip(&before) {
            assert_eq!(&rows(&db, new).await, before, "{table} moved row for row");
        }
        // The tenant's key is its creation's place in the platform chain, as a replay sets it.
        assert_eq!(
            rows(
                &db,
                &format!("SELECT tenant_key FROM tenants WHERE id = '{tenant}'")
            )
            .await,
            [["Some(1)".to_owned()]]
        );
        let store = &db.store;
        reads_back(store, tenant, subject, first, second).await;
        let claim = store
            .claimed_key(tenant, "patient", "retry-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(claim.stream_id, first.to_string());
        assert_eq!(claim.request_hash, "ab".repeat(32));
        let claim = store
            .claimed_key(tenant, "patient", "retry-2")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (claim.request_hash.as_str(), claim.stream_id),
            ("h", second.to_string())
        );
        assert!(store.verify_chains().await.unwrap().is_intact());

        // The writer extends the moved chain, and packs what it writes.
        let (third, append) = submission_append(tenant, subject, 40, r#"{"heart_rate":80}"#, None);
        assert_eq!(
            store.append(append).await.unwrap(),
            AppendOutcome::Appended { last_seq: 4 }
        );
        assert_eq!(
            rows(
                &db,
                &format!(
                    "SELECT seq FROM events WHERE tenant_id = '{tenant}' AND packed IS NOT NULL"
                )
            )
            .await,
            [["Some(4)".to_owned()]]
        );
        let read = store.submission(tenant, third).await.unwrap().unwrap();
        assert_eq!(read.answers, r#"{"heart_rate":80}"#);
        store.checkpoint().await.unwrap();
        assert!(store.verify_chains().await.unwrap().is_intact());
        let snapshot = store.projection_snapshot().await.unwrap();
        store.rebuild_projections().await.unwrap();
        assert_eq!(store.projection_snapshot().await.unwrap(), snapshot);
        store.close().await;
    }
}
