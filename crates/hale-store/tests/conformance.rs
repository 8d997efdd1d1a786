//! The store conformance suite: every test runs on SQLite and, when configured, PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use hale_domain::assignment::{AssignmentId, CalendarDate, Schedule, Weekday};
use hale_domain::event::{
    EventBody, ExpectedVersion, Identifier, NewEvent, ObservationRecord, StreamRef, VersionStatus,
};
use hale_domain::{AppId, PrincipalId, SubjectId, SubmissionId, TenantId, Timestamp};
use hale_store::testing::{TestDatabase, engines, fresh};
use hale_store::{
    Append, AppendOutcome, IdempotencyClaim, Precondition, Store, StoreError, TimeRange,
};
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
            preconditions: Vec::new(),
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
            preconditions: Vec::new(),
        })
        .await
        .unwrap();
    subject
}

/// Scores as the core writes them for a NEWS2 of 1 (SpO2 alone scoring).
const NEWS2_SCORES: &str = r#"{"news2":{"total":1,"parameters":{"respiration_rate":0,"spo2":1,"air_or_oxygen":0,"systolic_bp":0,"pulse":0,"consciousness":0,"temperature":0},"risk":"low"}}"#;

/// Assigns an app to a subject and ends the assignment, then assigns another that stays
/// active: both assignment events, on the subject's stream after its registration.
async fn assign_and_end(store: &Store, tenant: TenantId, subject: SubjectId) {
    let ended = AssignmentId::from_uuid(Uuid::new_v4());
    let events = [
        EventBody::AssignmentMade {
            assignment_id: ended,
            subject_id: subject,
            app_id: AppId::from_uuid(Uuid::from_u128(5)),
            schedule: Schedule::Daily,
            starts_on: CalendarDate::parse("2026-12-01").unwrap(),
        },
        EventBody::AssignmentEnded {
            assignment_id: ended,
            subject_id: subject,
        },
        EventBody::AssignmentMade {
            assignment_id: AssignmentId::from_uuid(Uuid::new_v4()),
            subject_id: subject,
            app_id: AppId::from_uuid(Uuid::from_u128(6)),
            schedule: Schedule::Weekly {
                weekday: Weekday::Friday,
            },
            starts_on: CalendarDate::parse("2026-12-04").unwrap(),
        },
    ];
    for (n, body) in events.into_iter().enumerate() {
        store
            .append(Append {
                tenant,
                actor: "clinician".into(),
                recorded_at: at(2 + n as i64),
                events: vec![NewEvent {
                    stream: StreamRef::subject(subject),
                    expected: ExpectedVersion::Exact(1 + n as i64),
                    body,
                }],
                idempotency: None,
                preconditions: Vec::new(),
            })
            .await
            .unwrap();
    }
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
                scores: Some(raw(NEWS2_SCORES)),
            },
        }],
        idempotency: key.map(|(key, hash)| IdempotencyClaim {
            key: key.into(),
            request_hash: hash.into(),
        }),
        preconditions: Vec::new(),
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
            preconditions: Vec::new(),
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
                            preconditions: Vec::new(),
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
        // The tenant, the subject and the 300 appends, failed ones included, in fewer commits.
        let batches = store.batch_counts();
        assert_eq!(batches.appends, 302, "{batches:?}");
        assert!(batches.batches < batches.appends, "{batches:?}");
        let mean = batches.appends as f64 / batches.batches as f64;
        assert!((batches.mean_batch() - mean).abs() < 1e-9, "{batches:?}");
        let counts = store.table_counts().await.unwrap();
        assert_eq!(counts.submissions, 294);
        assert_eq!(counts.subjects, 1);
        let report = store.verify_chains().await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.entries(), counts.events);
    })
    .await;
}

/// One app's whole life on its stream: created, three versions drafted, one published then
/// retired, one rejected with a report, one left as a draft; every step by another actor at
/// another time, so a rebuild that lost any column would show.
async fn app_with_history(store: &Store, tenant: TenantId, name: &str) -> AppId {
    let app = AppId::from_uuid(Uuid::new_v4());
    let definition = |version: i64| raw(&format!(r#"{{"title":"{name} v{version}","fields":[]}}"#));
    let mut bodies = vec![EventBody::AppCreated {
        app_id: app,
        name: name.into(),
    }];
    // A media file's bytes, kept once whatever the number of versions naming it; a second
    // event for the same digest changes nothing. Not UTF-8, so a column read as text fails.
    for _ in 0..2 {
        bodies.push(EventBody::MediaAttached {
            sha256: "ab".repeat(32),
            media_type: "image/png".into(),
            content: "iVBORw0KGgr/AA==".into(),
        });
    }
    for version in 1..=3 {
        bodies.push(EventBody::AppVersionDrafted {
            app_id: app,
            version,
            definition: definition(version),
            compiled: raw(&format!(r#"{{"compiled":{version}}}"#)),
            // Where a version was written is kept for some versions only, as for imports.
            source: (version % 2 == 1).then(|| raw(r#""questionnaire""#)),
        });
    }
    let steps = [
        (1, VersionStatus::InReview, None, None),
        (1, VersionStatus::Published, Some("checked"), None),
        (2, VersionStatus::InReview, None, None),
        (
            2,
            VersionStatus::Rejected,
            Some("bounds missing"),
            Some(r#"{"errors":[1]}"#),
        ),
        (1, VersionStatus::Retired, Some("superseded"), None),
    ];
    for (version, status, comment, report) in steps {
        bodies.push(EventBody::AppVersionStatusChanged {
            app_id: app,
            version,
            status,
            comment: comment.map(str::to_owned),
            report: report.map(raw),
        });
    }
    for (n, body) in bodies.into_iter().enumerate() {
        let expected = if n == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(n as i64)
        };
        store
            .append(Append {
                tenant,
                actor: format!("analyst-{n}"),
                recorded_at: at(10 + n as i64),
                events: vec![NewEvent {
                    stream: StreamRef::app(app),
                    expected,
                    body,
                }],
                idempotency: None,
                preconditions: Vec::new(),
            })
            .await
            .unwrap();
    }
    app
}

async fn issue_token(store: &Store, tenant: TenantId, subject: Option<SubjectId>, roles: &[&str]) {
    let principal = PrincipalId::from_uuid(Uuid::new_v4());
    store
        .append(Append {
            tenant,
            actor: "admin".into(),
            recorded_at: at(5),
            // An account with every kind of credential event, so a rebuild covers them all.
            events: [
                EventBody::AccountCreated {
                    account_id: principal,
                    tenant_id: Some(tenant),
                    kind: "user".into(),
                    username: format!("user-{}", &principal.to_string()[..8]),
                    display_name: "rebuild".into(),
                    roles: roles.iter().map(|role| (*role).to_owned()).collect(),
                    subject_id: subject,
                    password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
                },
                EventBody::AccountInvited {
                    account_id: principal,
                    invite_hash: format!("{:064x}", Uuid::new_v4().as_u128()),
                    expires_at: at(99),
                },
                EventBody::MfaEnrolled {
                    account_id: principal,
                    totp_secret: "JBSWY3DPEHPK3PXP".into(),
                    totp_step: 7,
                    recovery_code_hashes: vec!["a".repeat(64), "b".repeat(64)],
                },
                EventBody::SignedIn {
                    account_id: principal,
                    session_hash: format!("{:064x}", Uuid::new_v4().as_u128()),
                    csrf_hash: "c".repeat(64),
                    expires_at: at(99),
                    mfa: true,
                    method: "password".into(),
                    totp_step: None,
                    recovery_code_hash: Some("a".repeat(64)),
                    roles: None,
                },
                EventBody::SignedIn {
                    account_id: principal,
                    session_hash: format!("{:064x}", Uuid::new_v4().as_u128()),
                    csrf_hash: "d".repeat(64),
                    expires_at: at(99),
                    mfa: false,
                    method: "oidc".into(),
                    totp_step: None,
                    recovery_code_hash: None,
                    roles: Some(vec!["clinician".into(), "researcher".into()]),
                },
                EventBody::ApiKeyCreated {
                    account_id: principal,
                    key_id: Uuid::new_v4().to_string(),
                    key_hash: format!("{:064x}", Uuid::new_v4().as_u128()),
                    label: "rebuild".into(),
                    scopes: "user/*.rs".into(),
                    expires_at: Some(at(99)),
                },
                EventBody::AccountLinked {
                    account_id: principal,
                    issuer: "https://idp.test".into(),
                    external_subject: principal.to_string(),
                },
            ]
            .into_iter()
            .enumerate()
            .map(|(n, body)| NewEvent {
                stream: StreamRef::principal(principal),
                expected: if n == 0 {
                    ExpectedVersion::NoStream
                } else {
                    ExpectedVersion::Exact(n as i64)
                },
                body,
            })
            .collect(),
            idempotency: None,
            preconditions: Vec::new(),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn projections_rebuild_to_identical_read_models() {
    each_engine(|db| async move {
        let store = &db.store;
        for slug in ["contoso", "fabrikam"] {
            let tenant = create_tenant(store, slug).await;
            let subject = register_subject(store, tenant, slug).await;
            issue_token(store, tenant, None, &["clinician", "analyst"]).await;
            issue_token(store, tenant, Some(subject), &["patient"]).await;
            app_with_history(store, tenant, &format!("{slug} vitals")).await;
            assign_and_end(store, tenant, subject).await;
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
        // Every read model holds rows, so the comparison below covers every projection.
        for (table, rows) in &before {
            assert!(!rows.is_empty(), "{table} is empty before the rebuild");
        }
        let statuses: Vec<&String> = before
            .iter()
            .filter(|(table, _)| table == "app_versions")
            .flat_map(|(_, rows)| rows)
            .collect();
        for status in ["retired", "rejected", "draft"] {
            let needle = format!("status=Some({status:?})");
            assert!(
                statuses.iter().filter(|row| row.contains(&needle)).count() == 2,
                "{status}: {statuses:?}"
            );
        }
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
        // A submission's payload is packed, its answers kept as their text: one answer's
        // digits swapped in the stored bytes, by each engine's own byte functions.
        let swapped = match hale_store::Backend::from_url(&db.url).unwrap() {
            hale_store::Backend::Sqlite => "CAST(REPLACE(packed, '72', '27') AS BLOB)",
            hale_store::Backend::Postgres => {
                "decode(REPLACE(encode(packed, 'escape'), '72', '27'), 'escape')"
            }
        };
        raw_execute(
            &db,
            &format!(
                "UPDATE events SET packed = {swapped} WHERE tenant_id = '{tenant}' AND seq = 3 \
                 AND packed IS NOT NULL"
            ),
        )
        .await;
        let report = store.verify_chains().await.unwrap();
        let chain = report.chains.iter().find(|c| c.tenant == tenant).unwrap();
        assert_eq!(chain.broken.map(|(seq, _)| seq), Some(3));
        assert_eq!(chain.verified, 2);
        // The platform chain is untouched and still verifies.
        assert!(
            report
                .chains
                .iter()
                .find(|c| c.tenant == TenantId::PLATFORM)
                .unwrap()
                .broken
                .is_none()
        );
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

#[tokio::test]
async fn idempotency_claims_older_than_the_cutoff_expire_step_by_step_and_younger_ones_replay() {
    each_engine(|db| async move {
        let store = &db.store;
        let tenants = [
            create_tenant(store, "contoso").await,
            create_tenant(store, "fabrikam").await,
        ];
        let mut firsts = Vec::new();
        for seconds in 1..=25 {
            let tenant = tenants[usize::try_from(seconds % 2).unwrap()];
            let subject = register_subject(store, tenant, &seconds.to_string()).await;
            let key = format!("key-{seconds:02}");
            let (id, append) = submission_append(tenant, subject, seconds, "{}", Some((&key, "h")));
            store.append(append).await.unwrap();
            firsts.push((tenant, subject, key, id));
        }
        // A step of 4 claims at a time: the walk takes several steps and stops at the end.
        let mut cursor = hale_store::ClaimCursor::default();
        let (mut steps, mut expired) = (0, 0);
        loop {
            let sweep = store
                .expire_idempotency_claims(&cursor, at(13), 4)
                .await
                .unwrap();
            steps += 1;
            expired += sweep.expired;
            match sweep.next {
                Some(next) => cursor = next,
                None => break,
            }
        }
        assert_eq!(expired, 12, "the claims made at seconds 1 to 12 are gone");
        assert_eq!(steps, 7, "25 claims, 4 a step: six full steps and the rest");
        assert_eq!(store.table_counts().await.unwrap().idempotency_keys, 13);
        for (seconds, (tenant, subject, key, first)) in (1..).zip(&firsts) {
            let (_, retry) = submission_append(*tenant, *subject, 99, "{}", Some((key, "h")));
            let outcome = store.append(retry).await.unwrap();
            if seconds < 13 {
                assert!(
                    matches!(outcome, AppendOutcome::Appended { .. }),
                    "an expired key is a new request: {key}"
                );
            } else {
                assert_eq!(
                    outcome,
                    AppendOutcome::Replayed {
                        stream_id: first.to_string()
                    },
                    "a claim younger than the cutoff still replays: {key}"
                );
            }
        }
        // A second pass with a later cutoff empties what is older, in one call.
        let rest = store
            .expire_all_idempotency_claims(at(20), 1000)
            .await
            .unwrap();
        assert_eq!(rest, 7, "seconds 13 to 19");
    })
    .await;
}

// Ordering between writers: preconditions checked in the appending transaction, and one lock
// order on every path.

/// A published app version, written through the log as the core writes it.
async fn publish_app(store: &Store, tenant: TenantId) -> AppId {
    let app_id = AppId::from_uuid(Uuid::new_v4());
    let stream = StreamRef::app(app_id);
    let status = |version: i64, status| NewEvent {
        stream: stream.clone(),
        expected: ExpectedVersion::Exact(version),
        body: EventBody::AppVersionStatusChanged {
            app_id,
            version: 1,
            status,
            comment: None,
            report: None,
        },
    };
    store
        .append(Append {
            tenant,
            actor: "analyst".into(),
            recorded_at: at(2),
            events: vec![
                NewEvent {
                    stream: stream.clone(),
                    expected: ExpectedVersion::NoStream,
                    body: EventBody::AppCreated {
                        app_id,
                        name: "vitals".into(),
                    },
                },
                NewEvent {
                    stream: stream.clone(),
                    expected: ExpectedVersion::Exact(1),
                    body: EventBody::AppVersionDrafted {
                        app_id,
                        version: 1,
                        definition: raw("{}"),
                        compiled: raw("{}"),
                        source: None,
                    },
                },
                status(2, VersionStatus::InReview),
                status(3, VersionStatus::Published),
            ],
            idempotency: None,
            preconditions: Vec::new(),
        })
        .await
        .unwrap();
    app_id
}

fn retire(tenant: TenantId, app_id: AppId) -> Append {
    Append {
        tenant,
        actor: "reviewer".into(),
        recorded_at: at(9),
        events: vec![NewEvent {
            stream: StreamRef::app(app_id),
            expected: ExpectedVersion::Any,
            body: EventBody::AppVersionStatusChanged {
                app_id,
                version: 1,
                status: VersionStatus::Retired,
                comment: None,
                report: None,
            },
        }],
        idempotency: None,
        preconditions: Vec::new(),
    }
}

fn submission_to(tenant: TenantId, subject: SubjectId, app_id: AppId, n: i64) -> Append {
    let (_, mut append) = submission_append(tenant, subject, n, "{}", None);
    if let EventBody::SubmissionReceived { app_id: target, .. } = &mut append.events[0].body {
        *target = app_id;
    }
    append.preconditions = vec![Precondition::AppVersionPublished { app_id, version: 1 }];
    append
}

#[tokio::test]
async fn a_submission_to_a_version_not_published_appends_nothing_even_in_the_retiring_batch() {
    each_engine(|db| async move {
        let store = db.store.clone();
        let tenant = create_tenant(&store, "contoso").await;
        let subject = register_subject(&store, tenant, "1").await;
        let app_id = publish_app(&store, tenant).await;
        store
            .append(submission_to(tenant, subject, app_id, 3))
            .await
            .unwrap();
        // Queued together, the retire and the submissions behind it share one batch: the plan
        // must see the status the retire leaves, not the one it read before the batch.
        let mut tasks = Vec::new();
        tasks.push(tokio::spawn({
            let store = store.clone();
            async move { store.append(retire(tenant, app_id)).await.map(|_| ()) }
        }));
        for n in 10..40 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .append(submission_to(tenant, subject, app_id, n))
                    .await
                    .map(|_| ())
            }));
        }
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(task.await.unwrap());
        }
        assert!(outcomes[0].is_ok(), "{:?}", outcomes[0]);
        for outcome in &outcomes[1..] {
            assert!(
                matches!(outcome, Ok(()) | Err(StoreError::VersionNotPublished)),
                "{outcome:?}"
            );
        }
        let retired_seq: i64 = scalar(
            &db,
            &format!(
                "SELECT seq FROM events WHERE tenant_id = '{tenant}' \
                 AND event_type = 'app_version_status_changed' AND payload LIKE '%retired%'"
            ),
        )
        .await;
        let last_submission: i64 = scalar(
            &db,
            &format!(
                "SELECT MAX(seq) FROM events WHERE tenant_id = '{tenant}' \
                 AND event_type = 'submission_received'"
            ),
        )
        .await;
        assert!(last_submission < retired_seq);
        let stored = 1 + outcomes[1..]
            .iter()
            .filter(|outcome| outcome.is_ok())
            .count();
        assert_eq!(
            store.table_counts().await.unwrap().submissions,
            stored as i64
        );
        let never_published = Precondition::AppVersionPublished { app_id, version: 2 };
        let mut late = submission_to(tenant, subject, app_id, 50);
        late.preconditions = vec![never_published];
        assert!(matches!(
            store.append(late).await,
            Err(StoreError::VersionNotPublished)
        ));
        assert!(matches!(
            store
                .append(submission_to(tenant, subject, app_id, 51))
                .await,
            Err(StoreError::VersionNotPublished)
        ));
        assert!(store.verify_chains().await.unwrap().is_intact());
    })
    .await;
}

async fn scalar(db: &TestDatabase, sql: &str) -> i64 {
    let mut connection = <sqlx::AnyConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    let (value,): (i64,) = sqlx::query_as(sql)
        .fetch_one(&mut connection)
        .await
        .unwrap();
    value
}

/// Two replicas on one PostgreSQL database, each batch sent down the savepoint path by a
/// duplicate, their queues naming two tenants in opposite orders: if any path locked chain
/// heads in queue order, the replicas would deadlock and PostgreSQL would fail one append.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_never_deadlock_on_chain_heads_even_on_the_savepoint_path() {
    if !engines().contains(&hale_store::Backend::Postgres) {
        return;
    }
    let db = fresh(hale_store::Backend::Postgres).await;
    let first = db.store.clone();
    let second = Store::open(
        &db.url,
        hale_store::StoreOptions::default(),
        db.custody.clone(),
    )
    .await
    .unwrap();
    let a = create_tenant(&first, "contoso").await;
    let b = create_tenant(&first, "fabrikam").await;
    let subject_a = register_subject(&first, a, "1").await;
    let subject_b = register_subject(&first, b, "2").await;
    let (taken_a, original_a) = submission_append(a, subject_a, 2, "{}", None);
    let (taken_b, original_b) = submission_append(b, subject_b, 2, "{}", None);
    first.append(original_a).await.unwrap();
    first.append(original_b).await.unwrap();
    let duplicate = |tenant, subject, taken: SubmissionId| {
        let (_, mut append) = submission_append(tenant, subject, 3, "{}", None);
        append.events[0].stream = StreamRef::submission(taken);
        append
    };
    let mut failed = Vec::new();
    for round in 0..30 {
        let mut tasks = Vec::new();
        for (store, order) in [
            (&first, [(a, subject_a), (b, subject_b)]),
            (&second, [(b, subject_b), (a, subject_a)]),
        ] {
            let store = store.clone();
            let dup = if round % 2 == 0 {
                duplicate(a, subject_a, taken_a)
            } else {
                duplicate(b, subject_b, taken_b)
            };
            tasks.push(tokio::spawn(async move {
                // Queued in this order before the writer takes the batch.
                let mut sends = Vec::new();
                for n in 0..6 {
                    let (tenant, subject) = order[n % 2];
                    let (_, append) = submission_append(tenant, subject, 10 + n as i64, "{}", None);
                    sends.push(append);
                }
                sends.insert(3, dup);
                let replies: Vec<_> = sends
                    .into_iter()
                    .map(|append| {
                        let store = store.clone();
                        tokio::spawn(async move { store.append(append).await })
                    })
                    .collect();
                let mut outcomes = Vec::new();
                for reply in replies {
                    outcomes.push(reply.await.unwrap());
                }
                outcomes
            }));
        }
        for task in tasks {
            for (index, outcome) in task.await.unwrap().into_iter().enumerate() {
                match (index, outcome) {
                    (3, Err(StoreError::Conflict(_))) => {}
                    (3, other) => failed.push(format!("duplicate: {other:?}")),
                    (_, Ok(AppendOutcome::Appended { .. })) => {}
                    (_, other) => failed.push(format!("{other:?}")),
                }
            }
        }
    }
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(
        first.table_counts().await.unwrap().submissions,
        2 + 30 * 2 * 6
    );
    assert!(first.verify_chains().await.unwrap().is_intact());
}

#[tokio::test]
async fn a_closed_store_answers_every_queued_append_and_a_reopened_one_has_them_all() {
    each_engine(|db| async move {
        let store = db.store.clone();
        let tenant = create_tenant(&store, "contoso").await;
        let subject = register_subject(&store, tenant, "1").await;
        let mut tasks = Vec::new();
        let started = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        for n in 0..200i64 {
            let store = store.clone();
            let started = started.clone();
            tasks.push(tokio::spawn(async move {
                let (id, append) = submission_append(tenant, subject, n, "{}", None);
                // The queue has room, so the append is queued within this same poll.
                started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                (id, store.append(append).await)
            }));
        }
        while started.load(std::sync::atomic::Ordering::SeqCst) < 200 {
            tokio::task::yield_now().await;
        }
        store.close().await;
        let mut stored = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                (id, Ok(_)) => stored.push(id),
                (_, Err(StoreError::Unavailable)) => {}
                (_, Err(other)) => panic!("an append failed otherwise than unavailable: {other}"),
            }
        }
        // Every append was queued before the close, and a close drains the queue.
        assert_eq!(stored.len(), 200);
        let (_, late) = submission_append(tenant, subject, 999, "{}", None);
        assert!(matches!(
            store.append(late).await,
            Err(StoreError::Unavailable)
        ));

        // What was answered as stored is there after a restart, and nothing else.
        let reopened = Store::open(
            &db.url,
            hale_store::StoreOptions::default(),
            db.custody.clone(),
        )
        .await
        .unwrap();
        let counts = reopened.table_counts().await.unwrap();
        assert_eq!(counts.submissions, stored.len() as i64);
        for id in stored {
            assert!(reopened.submission(tenant, id).await.unwrap().is_some());
        }
        let report = reopened.verify_chains().await.unwrap();
        assert!(report.is_intact(), "{report:?}");
        reopened.close().await;
    })
    .await;
}

/// Layout v2 from the layout before it: data written by the old statements, migrated, read.
#[path = "conformance/migration.rs"]
mod migration;
/// Tamper evidence against someone who can write the database but does not hold the chain key.
#[path = "conformance/tamper.rs"]
mod tamper;

/// The tenant wall: row-level security on PostgreSQL under the core's authorization.
#[path = "conformance/wall.rs"]
mod wall;

/// SQLite's WAL stays under its bound while writes and reads go on.
#[path = "conformance/wal.rs"]
mod wal;

/// The PostgreSQL writer's statements keep a plan that probes keys, whatever the table holds.
#[path = "conformance/plans.rs"]
mod plans;
