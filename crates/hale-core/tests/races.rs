//! Use cases racing each other and the clock, on SQLite and PostgreSQL: concurrent workflow
//! steps, submissions while a version retires (on two replicas), retries after the world
//! changed, and answers checked against the time they were given.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use hale_core::{
    Core, CoreError, DraftVersion, RegisterSubject, StepNote, SubmitAnswers, SystemRandomness,
    VersionStep,
};
use hale_domain::event::{Identifier, VersionStatus};
use hale_domain::{AppId, Clock, Principal, PrincipalId, RequestContext, Role, SubjectId};
use hale_domain::{TenantId, Timestamp};
use hale_store::testing::{TestDatabase, engines, fresh};
use hale_store::{Store, StoreOptions};
use serde_json::value::RawValue;
use uuid::Uuid;

const DIARY: &str = r#"{
  "title": "Diary",
  "rate_limit_policy": "patient-default",
  "fields": [
    {"name": "heart_rate", "type": "integer", "label": "Heart rate", "required": true, "unit": "/min", "min": 20, "max": 300, "code": "8867-4"},
    {"name": "diary_date", "type": "date", "label": "Date of this entry", "constraint": ". <= today()"},
    {"name": "next_visit", "type": "date", "label": "Next visit", "constraint": ". >= today()"}
  ]
}"#;

const DAY: i64 = 86_400_000_000;

/// A clock the test moves by hand.
struct HandClock(AtomicI64);

impl Clock for HandClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_micros(self.0.load(Ordering::SeqCst))
    }
}

impl HandClock {
    fn advance(&self, micros: i64) {
        self.0.fetch_add(micros, Ordering::SeqCst);
    }
}

fn context(tenant: Option<TenantId>, roles: &[Role]) -> RequestContext {
    RequestContext::new(
        Principal {
            id: PrincipalId::from_uuid(Uuid::new_v4()),
            tenant,
            roles: roles.to_vec(),
            subject: None,
            kind: hale_domain::AccountKind::User,
            scopes: hale_domain::scope::Scopes::unrestricted(),
        },
        "test".into(),
        "test",
    )
}

/// One engine's database, a core over it and a tenant with a subject and a published diary.
struct World {
    database: TestDatabase,
    clock: Arc<HandClock>,
    core: Core,
    tenant: TenantId,
    subject: SubjectId,
    app: AppId,
    analyst: RequestContext,
    reviewer: RequestContext,
    second_reviewer: RequestContext,
    clinician: RequestContext,
}

fn core_over(store: Store, clock: &Arc<HandClock>) -> Core {
    let clock: Arc<dyn Clock> = clock.clone();
    Core::new(store, clock, Arc::new(SystemRandomness))
}

impl World {
    async fn start(database: TestDatabase) -> World {
        // 2026-03-10T12:00:00Z
        let clock = Arc::new(HandClock(AtomicI64::new(1_773_144_000_000_000)));
        let core = core_over(database.store.clone(), &clock);
        let operator = context(None, &[Role::PlatformAdmin]);
        let tenant = core
            .create_tenant(&operator, "contoso", "Contoso Health")
            .await
            .unwrap()
            .id;
        let analyst = context(Some(tenant), &[Role::Analyst]);
        let reviewer = context(Some(tenant), &[Role::Reviewer]);
        let second_reviewer = context(Some(tenant), &[Role::Reviewer]);
        let clinician = context(Some(tenant), &[Role::Clinician]);
        let subject = core
            .register_subject(
                &clinician,
                tenant,
                RegisterSubject {
                    identifiers: vec![Identifier {
                        system: "urn:mrn".into(),
                        value: "MRN-1".into(),
                    }],
                    display_name: None,
                    birth_date: None,
                },
            )
            .await
            .unwrap()
            .id;
        let app = core
            .create_app(&analyst, tenant, "Diary", DraftVersion::hale(DIARY.into()))
            .await
            .unwrap()
            .app
            .id;
        let world = World {
            database,
            clock,
            core,
            tenant,
            subject,
            app,
            analyst,
            reviewer,
            second_reviewer,
            clinician,
        };
        world
            .step(&world.analyst, 1, VersionStep::SubmitForReview)
            .await;
        world.step(&world.reviewer, 1, VersionStep::Approve).await;
        world
    }

    async fn step(&self, who: &RequestContext, version: i64, step: VersionStep) {
        self.core
            .step_version(
                who,
                self.tenant,
                self.app,
                version,
                step,
                StepNote::default(),
            )
            .await
            .unwrap();
    }

    fn answers(
        &self,
        answers: &str,
        authored_at: Option<Timestamp>,
        key: Option<&str>,
    ) -> SubmitAnswers {
        SubmitAnswers {
            subject: self.subject,
            app: self.app,
            app_version: Some(1),
            authored_at,
            answers: RawValue::from_string(answers.to_owned()).unwrap(),
            idempotency_key: key.map(str::to_owned),
        }
    }

    /// The status changes the log holds for one version, in log order.
    async fn logged_statuses(&self, version: i64) -> Vec<(i64, String)> {
        let mut connection = <sqlx::AnyConnection as sqlx::Connection>::connect(&self.database.url)
            .await
            .unwrap();
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT seq, payload FROM events WHERE tenant_id = $1 \
             AND event_type = 'app_version_status_changed' ORDER BY seq",
        )
        .bind(self.tenant.to_string())
        .fetch_all(&mut connection)
        .await
        .unwrap();
        rows.into_iter()
            .filter_map(|(seq, payload)| {
                let event: serde_json::Value = serde_json::from_str(&payload).unwrap();
                let change = &event["app_version_status_changed"];
                (change["version"] == version)
                    .then(|| (seq, change["status"].as_str().unwrap().to_owned()))
            })
            .collect()
    }

    /// Log positions of every stored submission.
    async fn submission_positions(&self) -> Vec<i64> {
        let mut connection = <sqlx::AnyConnection as sqlx::Connection>::connect(&self.database.url)
            .await
            .unwrap();
        let rows: Vec<(i64,)> = sqlx::query_as(
            "SELECT seq FROM events WHERE tenant_id = $1 AND event_type = 'submission_received'",
        )
        .bind(self.tenant.to_string())
        .fetch_all(&mut connection)
        .await
        .unwrap();
        rows.into_iter().map(|(seq,)| seq).collect()
    }
}

async fn each_engine<F, Fut>(test: F)
where
    F: Fn(World) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for backend in engines() {
        eprintln!("engine: {}", backend.name());
        test(World::start(fresh(backend).await).await).await;
    }
}

fn field_codes(error: &CoreError) -> Vec<(String, &'static str)> {
    match error {
        CoreError::Invalid(errors) => errors
            .iter()
            .map(|error| (error.field.clone(), error.code))
            .collect(),
        other => panic!("expected field errors, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_approve_and_reject_end_in_one_order() {
    each_engine(|world| async move {
        for round in 0..12 {
            let version = if round == 0 {
                // Version 1 is published by the set-up; each round reviews a new draft.
                2
            } else {
                round + 2
            };
            world
                .core
                .draft_version(
                    &world.analyst,
                    world.tenant,
                    world.app,
                    DraftVersion::hale(DIARY.into()),
                )
                .await
                .unwrap();
            world
                .step(&world.analyst, version, VersionStep::SubmitForReview)
                .await;
            let approve = tokio::spawn({
                let (core, who, tenant, app) = (
                    world.core.clone(),
                    world.reviewer.clone(),
                    world.tenant,
                    world.app,
                );
                async move {
                    core.step_version(
                        &who,
                        tenant,
                        app,
                        version,
                        VersionStep::Approve,
                        StepNote::default(),
                    )
                    .await
                }
            });
            let reject = tokio::spawn({
                let (core, who, tenant, app) = (
                    world.core.clone(),
                    world.second_reviewer.clone(),
                    world.tenant,
                    world.app,
                );
                async move {
                    core.step_version(
                        &who,
                        tenant,
                        app,
                        version,
                        VersionStep::Reject,
                        StepNote::default(),
                    )
                    .await
                }
            });
            let (approve, reject) = (approve.await.unwrap(), reject.await.unwrap());
            let winner = match (&approve, &reject) {
                (Ok(_), Err(loser)) => {
                    assert!(
                        ["concurrent_change", "invalid_transition"]
                            .contains(&loser.code().as_str()),
                        "{loser:?}"
                    );
                    VersionStatus::Published
                }
                (Err(loser), Ok(_)) => {
                    assert!(
                        ["concurrent_change", "invalid_transition"]
                            .contains(&loser.code().as_str()),
                        "{loser:?}"
                    );
                    VersionStatus::Rejected
                }
                other => panic!("round {round}: exactly one step must win, got {other:?}"),
            };
            let stored = world
                .core
                .store()
                .app_version(world.tenant, world.app, version)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(stored.status, winner, "round {round}");
            let logged = world.logged_statuses(version).await;
            let statuses: Vec<&str> = logged.iter().map(|(_, status)| status.as_str()).collect();
            assert_eq!(statuses, ["in_review", winner.as_str()], "round {round}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retired_version_refuses_submissions_at_once_on_every_replica() {
    each_engine(|world| async move {
        let world = Arc::new(world);
        // A second process on the same database, its compiled-form cache warmed by a
        // submission made before the retire.
        let replica_store = Store::open(
            &world.database.url,
            StoreOptions::default(),
            world.database.custody.clone(),
        )
        .await
        .unwrap();
        let replica = core_over(replica_store, &world.clock);
        replica
            .submit(
                &world.clinician,
                world.tenant,
                world.answers(r#"{"heart_rate": 70}"#, None, None),
            )
            .await
            .unwrap();
        let stored = Arc::new(AtomicUsize::new(1));
        let mut workers = Vec::new();
        for worker in 0..4 {
            let core = if worker % 2 == 0 {
                world.core.clone()
            } else {
                replica.clone()
            };
            let (world, stored) = (Arc::clone(&world), Arc::clone(&stored));
            workers.push(tokio::spawn(async move {
                let mut refused = 0;
                for _ in 0..150 {
                    let outcome = core
                        .submit(
                            &world.clinician,
                            world.tenant,
                            world.answers(r#"{"heart_rate": 71}"#, None, None),
                        )
                        .await;
                    match outcome {
                        Ok(_) => {
                            stored.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(CoreError::NotFound) => {
                            refused += 1;
                            if refused == 5 {
                                break;
                            }
                        }
                        Err(other) => panic!("unexpected {other:?}"),
                    }
                }
                refused
            }));
        }
        while stored.load(Ordering::SeqCst) < 40 {
            tokio::task::yield_now().await;
        }
        world
            .core
            .step_version(
                &world.reviewer,
                world.tenant,
                world.app,
                1,
                VersionStep::Retire,
                StepNote::default(),
            )
            .await
            .unwrap();
        let mut refused = 0;
        for worker in workers {
            refused += worker.await.unwrap();
        }
        assert!(refused > 0, "the retire came after every submission");
        let retired = world
            .logged_statuses(1)
            .await
            .into_iter()
            .find(|(_, status)| status == "retired")
            .map(|(seq, _)| seq)
            .unwrap();
        let positions = world.submission_positions().await;
        assert_eq!(positions.len(), stored.load(Ordering::SeqCst));
        let late: Vec<&i64> = positions.iter().filter(|seq| **seq > retired).collect();
        assert!(
            late.is_empty(),
            "{} submissions stored after the retire",
            late.len()
        );
        // The replica's cache still holds the compiled form; the version refuses anyway.
        let after = replica
            .submit(
                &world.clinician,
                world.tenant,
                world.answers(r#"{"heart_rate": 72}"#, None, None),
            )
            .await;
        assert!(matches!(after, Err(CoreError::NotFound)), "{after:?}");
    })
    .await;
}

#[tokio::test]
async fn a_retry_after_the_version_retired_returns_the_original() {
    each_engine(|world| async move {
        let request = || world.answers(r#"{"heart_rate": 70}"#, None, Some("retry-1"));
        let first = world
            .core
            .submit(&world.clinician, world.tenant, request())
            .await
            .unwrap();
        assert!(!first.replayed);
        world.step(&world.reviewer, 1, VersionStep::Retire).await;
        let retry = world
            .core
            .submit(&world.clinician, world.tenant, request())
            .await
            .unwrap();
        assert!(retry.replayed);
        assert_eq!(retry.submission.id, first.submission.id);
        let other = world
            .core
            .submit(
                &world.clinician,
                world.tenant,
                world.answers(r#"{"heart_rate": 99}"#, None, Some("retry-1")),
            )
            .await;
        assert!(
            matches!(other, Err(CoreError::IdempotencyMismatch)),
            "{other:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_retry_the_next_day_returns_the_original_despite_a_today_constraint() {
    each_engine(|world| async move {
        let request = || {
            world.answers(
                r#"{"heart_rate": 70, "next_visit": "2026-03-10"}"#,
                None,
                Some("visit"),
            )
        };
        let first = world
            .core
            .submit(&world.clinician, world.tenant, request())
            .await
            .unwrap();
        world.clock.advance(DAY);
        let retry = world
            .core
            .submit(&world.clinician, world.tenant, request())
            .await
            .unwrap();
        assert!(retry.replayed);
        assert_eq!(retry.submission.id, first.submission.id);
        assert_eq!(world.submission_positions().await.len(), 1);
    })
    .await;
}

#[tokio::test]
async fn time_functions_mean_the_time_the_answers_were_given() {
    each_engine(|world| async move {
        // Filled in offline yesterday evening, sent this morning.
        world.clock.advance(-3 * 3_600_000_000);
        let yesterday_evening =
            Timestamp::from_micros(world.clock.now().as_micros() - 12 * 3_600_000_000);
        let offline = world
            .core
            .submit(
                &world.clinician,
                world.tenant,
                world.answers(
                    r#"{"heart_rate": 70, "diary_date": "2026-03-09", "next_visit": "2026-03-09"}"#,
                    Some(yesterday_evening),
                    None,
                ),
            )
            .await
            .unwrap();
        assert_eq!(offline.submission.authored_at, yesterday_evening);
        let after_authored = world
            .core
            .submit(
                &world.clinician,
                world.tenant,
                world.answers(
                    r#"{"heart_rate": 70, "diary_date": "2026-03-10"}"#,
                    Some(yesterday_evening),
                    None,
                ),
            )
            .await
            .unwrap_err();
        assert_eq!(
            field_codes(&after_authored),
            [("diary_date".to_owned(), "constraint_failed")]
        );
        let ahead = world
            .core
            .submit(
                &world.clinician,
                world.tenant,
                world.answers(
                    r#"{"heart_rate": 70}"#,
                    Some(world.clock.now().plus_micros(10 * 60 * 1_000_000)),
                    None,
                ),
            )
            .await
            .unwrap_err();
        assert_eq!(
            field_codes(&ahead),
            [("authored_at".to_owned(), "in_future")]
        );
        assert_eq!(world.submission_positions().await.len(), 1);
    })
    .await;
}
