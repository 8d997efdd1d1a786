//! The store conformance suite: every test runs on SQLite and, when configured, PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hale_domain::event::{
    EventBody, ExpectedVersion, Identifier, NewEvent, ObservationRecord, StreamRef,
};
use hale_domain::{AppId, SubjectId, SubmissionId, TenantId, Timestamp};
use hale_store::testing::{TestDatabase, engines, fresh};
use hale_store::{Append, AppendOutcome, IdempotencyClaim, Store, StoreError, TimeRange};
use serde_json::value::RawValue;
use uuid::Uuid;

fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).unwrap()
}

fn at(seconds: i64) -> Timestamp {
    Timestamp::from_micros(1_780_000_000_000_000 + seconds * 1_000_000)
}

async fn create_tenant(store: &Store, slug: &str) -> TenantId {
    let tenant = TenantId::from_uuid(Uuid::new_v4());
    store
        .append(Append {
            tenant: TenantId::PLATFORM,
            actor: "admin".into(),
            recorded_at: at(0),
            events: vec![NewEvent {
                stream: StreamRef::tenant(tenant),
                expected: ExpectedVersion::NoStream,
                body: EventBody::TenantCreated {
                    tenant_id: tenant,
                    slug: slug.into(),
                    name: format!("{slug} health"),
                },
            }],
            idempotency: None,
        })
        .await
        .unwrap();
    tenant
}

async fn register_subject(store: &Store, tenant: TenantId, mrn: &str) -> SubjectId {
    let subject = SubjectId::from_uuid(Uuid::new_v4());
    store
        .append(Append {
            tenant,
            actor: "clinician".into(),
            recorded_at: at(1),
            events: vec![NewEvent {
                stream: StreamRef::subject(subject),
                expected: ExpectedVersion::NoStream,
                body: EventBody::SubjectRegistered {
                    subject_id: subject,
                    identifiers: vec![Identifier {
                        system: "urn:mrn".into(),
                        value: mrn.into(),
                    }],
                    display_name: Some("Pat".into()),
                    birth_date: None,
                    identifier_keys: vec![format!("key-{mrn}")],
                },
            }],
            idempotency: None,
        })
        .await
        .unwrap();
    subject
}

fn submission_append(
    tenant: TenantId,
    subject: SubjectId,
    seconds: i64,
    answers: &str,
    key: Option<(&str, &str)>,
) -> (SubmissionId, Append) {
    let id = SubmissionId::from_uuid(Uuid::new_v4());
    let append = Append {
        tenant,
        actor: "patient".into(),
        recorded_at: at(seconds),
        events: vec![NewEvent {
            stream: StreamRef::submission(id),
            expected: ExpectedVersion::NoStream,
            body: EventBody::SubmissionReceived {
                submission_id: id,
                subject_id: subject,
                app_id: AppId::from_uuid(Uuid::from_u128(5)),
                app_version: 1,
                authored_at: at(seconds),
                answers: raw(answers),
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
                idempotency_key: key.map(|(k, _)| k.to_owned()),
                request_hash: key.map(|(_, h)| h.to_owned()).unwrap_or_default(),
                scores: Some(raw(r#"{"news2":{"total":1}}"#)),
            },
        }],
        idempotency: key.map(|(key, hash)| IdempotencyClaim {
            key: key.into(),
            request_hash: hash.into(),
        }),
    };
    (id, append)
}

async fn each_engine<F, Fut>(test: F)
where
    F: Fn(TestDatabase) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for backend in engines() {
        eprintln!("engine: {}", backend.name());
        test(fresh(backend).await).await;
    }
}

#[tokio::test]
async fn migrations_leave_the_store_ready() {
    each_engine(|db| async move {
        assert!(db.store.is_ready().await.unwrap());
        // Migrating twice is harmless.
        db.store.migrate().await.unwrap();
        assert!(db.store.is_ready().await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn a_submission_reads_back_byte_for_byte() {
    each_engine(|db| async move {
        let store = &db.store;
        let tenant = create_tenant(store, "contoso").await;
        let subject = register_subject(store, tenant, "1").await;
        let answers =
            r#"{"heart_rate":72,"temperature":36.6,"note":"naïve – “quoted”\n","tags":["a","b"]}"#;
        let (id, append) = submission_append(tenant, subject, 10, answers, None);
        assert!(matches!(
            store.append(append).await.unwrap(),
            AppendOutcome::Appended { .. }
        ));
        let row = store.submission(tenant, id).await.unwrap().unwrap();
        assert_eq!(row.answers, answers);
        assert_eq!(row.subject_id, subject);
        assert_eq!(row.authored_at, at(10));
        let page = store
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
        assert_eq!(page.items.len(), 1);
        assert_eq!(
            (page.items[0].value, page.items[0].unit.as_str()),
            (36.6, "Cel")
        );
        // Another tenant sees nothing of it.
        let other = create_tenant(store, "fabrikam").await;
        assert_eq!(store.submission(other, id).await.unwrap(), None);
    })
    .await;
}

#[tokio::test]
async fn pages_walk_newest_first_without_gaps_or_repeats() {
    each_engine(|db| async move {
        let store = &db.store;
        let tenant = create_tenant(store, "contoso").await;
        let subject = register_subject(store, tenant, "1").await;
        let mut ids = Vec::new();
        for second in 0..7 {
            let (id, append) = submission_append(tenant, subject, 100 + second, "{}", None);
            store.append(append).await.unwrap();
            ids.push(id);
        }
        ids.reverse();
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = store
                .submissions_for_subject(tenant, subject, TimeRange::default(), after, 3)
                .await
                .unwrap();
            seen.extend(page.items.iter().map(|s| s.id));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, ids);
        let window = store
            .submissions_for_subject(
                tenant,
                subject,
                TimeRange {
                    since: Some(at(102)),
                    until: Some(at(105)),
                },
                None,
                50,
            )
            .await
            .unwrap();
        let times: Vec<_> = window.items.iter().map(|s| s.authored_at).collect();
        assert_eq!(times, [at(104), at(103), at(102)]);
        let observations = store
            .observations_for_subject(tenant, subject, None, TimeRange::default(), None, 5)
            .await
            .unwrap();
        assert_eq!(observations.items.len(), 5);
        let rest = store
            .observations_for_subject(
                tenant,
                subject,
                None,
                TimeRange::default(),
                observations.next,
                50,
            )
            .await
            .unwrap();
        assert_eq!(rest.items.len(), 9);
        assert_eq!(rest.next, None);
    })
    .await;
}

#[tokio::test]
async fn idempotent_retries_replay_and_different_bodies_conflict() {
    each_engine(|db| async move {
        let store = &db.store;
        let tenant = create_tenant(store, "contoso").await;
        let subject = register_subject(store, tenant, "1").await;
        let (first, append) = submission_append(tenant, subject, 5, "{}", Some(("k1", "h1")));
        store.append(append).await.unwrap();
        let before = store.table_counts().await.unwrap();
        let (_, retry) = submission_append(tenant, subject, 6, "{}", Some(("k1", "h1")));
        assert_eq!(
            store.append(retry).await.unwrap(),
            AppendOutcome::Replayed {
                stream_id: first.to_string()
            }
        );
        let (_, different) = submission_append(tenant, subject, 6, "{\"a\":1}", Some(("k1", "h2")));
        assert!(matches!(
            store.append(different).await,
            Err(StoreError::IdempotencyMismatch)
        ));
        assert_eq!(store.table_counts().await.unwrap(), before);
    })
    .await;
}

#[tokio::test]
async fn optimistic_concurrency_refuses_a_stale_writer_and_writes_nothing() {
    each_engine(|db| async move {
        let store = &db.store;
        let tenant = create_tenant(store, "contoso").await;
        let subject = register_subject(store, tenant, "1").await;
        let before = store.table_counts().await.unwrap();
        let duplicate = Append {
            tenant,
            actor: "x".into(),
            recorded_at: at(3),
            events: vec![NewEvent {
                stream: StreamRef::subject(subject),
                expected: ExpectedVersion::NoStream,
                body: EventBody::AppCreated {
                    app_id: AppId::from_uuid(Uuid::new_v4()),
                    name: "a".into(),
                },
            }],
            idempotency: None,
        };
        assert!(matches!(
            store.append(duplicate.clone()).await,
            Err(StoreError::Conflict(_))
        ));
        let mut stale = duplicate.clone();
        stale.events[0].expected = ExpectedVersion::Exact(0);
        assert!(matches!(
            store.append(stale).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(store.table_counts().await.unwrap(), before);
        let mut current = duplicate;
        current.events[0].expected = ExpectedVersion::Exact(1);
        store.append(current).await.unwrap();
        assert_eq!(store.table_counts().await.unwrap().apps, before.apps + 1);
        assert!(store.verify_chains().await.unwrap().is_intact());
    })
    .await;
}

#[tokio::test]
async fn concurrent_appends_share_commits_and_failures_stay_alone() {
    each_engine(|db| async move {
        let store = db.store.clone();
        let tenant = create_tenant(&store, "contoso").await;
        let subject = register_subject(&store, tenant, "1").await;
        let mut tasks = Vec::new();
        for n in 0..300i64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                if n % 50 == 0 {
                    // A second registration of the same identifier key must fail alone.
                    let duplicate = SubjectId::from_uuid(Uuid::new_v4());
                    return store
                        .append(Append {
                            tenant,
                            actor: "c".into(),
                            recorded_at: at(n),
                            events: vec![NewEvent {
                                stream: StreamRef::subject(duplicate),
                                expected: ExpectedVersion::NoStream,
                                body: EventBody::SubjectRegistered {
                                    subject_id: duplicate,
                                    identifiers: vec![],
                                    display_name: None,
                                    birth_date: None,
                                    identifier_keys: vec!["key-1".into()],
                                },
                            }],
                            idempotency: None,
                        })
                        .await
                        .is_ok();
                }
                let (_, append) = submission_append(tenant, subject, n, "{}", None);
                store.append(append).await.is_ok()
            }));
        }
        let mut succeeded = 0;
        for task in tasks {
            succeeded += i64::from(task.await.unwrap());
        }
        assert_eq!(succeeded, 294);
        let counts = store.table_counts().await.unwrap();
        assert_eq!(counts.submissions, 294);
        assert_eq!(counts.subjects, 1);
        let report = store.verify_chains().await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.entries(), counts.events);
    })
    .await;
}

#[tokio::test]
async fn projections_rebuild_to_identical_read_models() {
    each_engine(|db| async move {
        let store = &db.store;
        for slug in ["contoso", "fabrikam"] {
            let tenant = create_tenant(store, slug).await;
            let subject = register_subject(store, tenant, slug).await;
            for n in 0..5 {
                let (_, append) = submission_append(
                    tenant,
                    subject,
                    n,
                    r#"{"a":[1,2.50,"x"]}"#,
                    Some((&format!("k{n}"), "h")),
                );
                store.append(append).await.unwrap();
            }
        }
        let before = store.projection_snapshot().await.unwrap();
        assert!(before.iter().map(|(_, rows)| rows.len()).sum::<usize>() > 20);
        let replayed = store.rebuild_projections().await.unwrap();
        assert_eq!(replayed, store.table_counts().await.unwrap().events);
        assert_eq!(store.projection_snapshot().await.unwrap(), before);
    })
    .await;
}

async fn raw_execute(db: &TestDatabase, sql: &str) {
    let mut connection = <sqlx::AnyConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    sqlx::query(sql).execute(&mut connection).await.unwrap();
}

#[tokio::test]
async fn tampering_with_one_event_is_found_and_named() {
    each_engine(|db| async move {
        let store = &db.store;
        let tenant = create_tenant(store, "contoso").await;
        let subject = register_subject(store, tenant, "1").await;
        for n in 0..4 {
            let (_, append) = submission_append(tenant, subject, n, "{\"heart_rate\":72}", None);
            store.append(append).await.unwrap();
        }
        assert!(store.verify_chains().await.unwrap().is_intact());
        raw_execute(
            &db,
            &format!(
                "UPDATE events SET payload = REPLACE(payload, '72', '27') WHERE tenant_id = '{tenant}' AND seq = 3"
            ),
        )
        .await;
        let report = store.verify_chains().await.unwrap();
        let chain = report.chains.iter().find(|c| c.tenant == tenant).unwrap();
        assert_eq!(chain.broken.map(|(seq, _)| seq), Some(3));
        assert_eq!(chain.verified, 2);
        // The platform chain is untouched and still verifies.
        assert!(report.chains.iter().find(|c| c.tenant == TenantId::PLATFORM).unwrap().broken.is_none());
    })
    .await;
}

#[tokio::test]
async fn a_deleted_last_event_is_found() {
    each_engine(|db| async move {
        let store = &db.store;
        let tenant = create_tenant(store, "contoso").await;
        let subject = register_subject(store, tenant, "1").await;
        let (_, append) = submission_append(tenant, subject, 1, "{}", None);
        store.append(append).await.unwrap();
        raw_execute(
            &db,
            &format!("DELETE FROM events WHERE tenant_id = '{tenant}' AND seq = 2"),
        )
        .await;
        let report = store.verify_chains().await.unwrap();
        let chain = report.chains.iter().find(|c| c.tenant == tenant).unwrap();
        assert_eq!(chain.broken.map(|(seq, _)| seq), Some(2));
    })
    .await;
}

#[tokio::test]
async fn concurrent_retries_with_one_key_store_exactly_once() {
    each_engine(|db| async move {
        let store = db.store.clone();
        let tenant = create_tenant(&store, "contoso").await;
        let subject = register_subject(&store, tenant, "1").await;
        let mut tasks = Vec::new();
        for n in 0..40 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                // Half retry the same request, half reuse the key for another one.
                let hash = if n % 2 == 0 { "same" } else { "other" };
                let (_, append) =
                    submission_append(tenant, subject, n, "{}", Some(("one-key", hash)));
                store.append(append).await
            }));
        }
        let mut appended = 0;
        let mut replayed = 0;
        let mut refused = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(AppendOutcome::Appended { .. }) => appended += 1,
                Ok(AppendOutcome::Replayed { .. }) => replayed += 1,
                Err(StoreError::IdempotencyMismatch) => refused += 1,
                Err(other) => panic!("{other}"),
            }
        }
        assert_eq!(appended, 1);
        assert_eq!(appended + replayed + refused, 40);
        assert_eq!(
            replayed, 19,
            "the 19 other identical requests replay the first"
        );
        assert_eq!(store.table_counts().await.unwrap().submissions, 1);
    })
    .await;
}

/// Tamper evidence against someone who can write the database but does not hold the chain key.
#[path = "conformance/tamper.rs"]
mod tamper;
