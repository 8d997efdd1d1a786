//! Tamper evidence against someone who can write the database but does not hold the chain key:
//! each tampering is done in SQL behind the store's back, and `verify_chains` must name it.

use hale_domain::chain::entry_hash;
use hale_domain::event::RecordedEvent;
use hale_store::{ChainKey, VerifyReport};

use super::*;

/// One stored entry, read back with the database's own bytes.
async fn stored_event(db: &TestDatabase, tenant: TenantId, seq: i64) -> RecordedEvent {
    hale_store::testing::stored_event(&db.store, tenant, seq)
        .await
        .unwrap()
}

/// The previous, unkeyed entry hash: plain SHA-256 over the same fields.
fn plain_sha256(event: &RecordedEvent) -> [u8; 32] {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(b"hale.event.v1");
    hasher.update(event.prev_hash);
    hasher.update(event.tenant_id.as_uuid().as_bytes());
    hasher.update(event.seq.to_be_bytes());
    for field in [
        event.stream_kind.as_bytes(),
        event.stream_id.as_bytes(),
        event.event_type.as_bytes(),
        event.actor.as_bytes(),
        event.payload.as_bytes(),
    ] {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field);
    }
    hasher.update(event.stream_version.to_be_bytes());
    hasher.update(event.recorded_at.as_micros().to_be_bytes());
    hasher.finalize().into()
}

/// A tenant with a subject and `submissions` submissions: entries 1 ..= 1 + submissions.
async fn busy_tenant(store: &Store, submissions: i64) -> TenantId {
    let tenant = create_tenant(store, "contoso").await;
    let subject = register_subject(store, tenant, "1").await;
    for n in 0..submissions {
        let (_, append) = submission_append(tenant, subject, n, "{\"heart_rate\":72}", None);
        store.append(append).await.unwrap();
    }
    let report = store.verify_chains().await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    tenant
}

fn broken(report: &VerifyReport, tenant: TenantId) -> Option<(i64, &'static str)> {
    let chain = report.chains.iter().find(|chain| chain.tenant == tenant);
    chain
        .unwrap_or_else(|| panic!("tenant {tenant} is not reported: {report:?}"))
        .broken
}

/// Rewrites an entry's actor and seals it (and the head, when it is the last) with `seal`.
async fn rewrite_entry(
    db: &TestDatabase,
    tenant: TenantId,
    seq: i64,
    seal: impl Fn(&RecordedEvent) -> [u8; 32],
) {
    let mut event = stored_event(db, tenant, seq).await;
    event.actor = "mallory".into();
    let hash = hale_store::testing::bytes_sql(&db.url, &seal(&event));
    raw_execute(
        db,
        &format!(
            "UPDATE events SET actor = 'mallory', hash = {hash} \
             WHERE tenant_id = '{tenant}' AND seq = {seq}"
        ),
    )
    .await;
    raw_execute(
        db,
        &format!(
            "UPDATE chain_heads SET hash = {hash} WHERE tenant_id = '{tenant}' AND seq = {seq}"
        ),
    )
    .await;
}

#[tokio::test]
async fn a_deleted_head_row_is_named() {
    each_engine(|db| async move {
        let tenant = busy_tenant(&db.store, 2).await;
        raw_execute(
            &db,
            &format!("DELETE FROM chain_heads WHERE tenant_id = '{tenant}'"),
        )
        .await;
        let report = db.store.verify_chains().await.unwrap();
        assert!(!report.is_intact());
        let (seq, reason) = broken(&report, tenant).unwrap();
        assert_eq!(seq, 3);
        assert!(reason.contains("no head"), "{reason}");
        // The platform chain is untouched.
        assert_eq!(broken(&report, TenantId::PLATFORM), None);
    })
    .await;
}

#[tokio::test]
async fn a_head_without_events_is_named() {
    each_engine(|db| async move {
        let tenant = busy_tenant(&db.store, 1).await;
        raw_execute(
            &db,
            &format!("DELETE FROM events WHERE tenant_id = '{tenant}'"),
        )
        .await;
        let report = db.store.verify_chains().await.unwrap();
        let (seq, reason) = broken(&report, tenant).unwrap();
        assert_eq!(seq, 1);
        assert!(reason.contains("does not hold"), "{reason}");
    })
    .await;
}

#[tokio::test]
async fn a_tail_and_head_rewritten_with_a_correct_plain_sha256_are_found() {
    each_engine(|db| async move {
        let tenant = busy_tenant(&db.store, 3).await;
        rewrite_entry(&db, tenant, 4, plain_sha256).await;
        let report = db.store.verify_chains().await.unwrap();
        let (seq, reason) = broken(&report, tenant).unwrap();
        assert_eq!(seq, 4);
        assert!(reason.contains("stored hash"), "{reason}");
    })
    .await;
}

#[tokio::test]
async fn a_tail_and_head_resealed_with_another_key_are_found() {
    each_engine(|db| async move {
        let tenant = busy_tenant(&db.store, 3).await;
        let other = ChainKey::from_bytes([42; 32]);
        rewrite_entry(&db, tenant, 4, |event| entry_hash(&other, event)).await;
        let report = db.store.verify_chains().await.unwrap();
        assert_eq!(broken(&report, tenant).map(|(seq, _)| seq), Some(4));
    })
    .await;
}

#[tokio::test]
async fn a_forged_api_key_row_is_named() {
    each_engine(|db| async move {
        busy_tenant(&db.store, 1).await;
        let forged = "f".repeat(64);
        raw_execute(
            &db,
            &format!(
                "INSERT INTO api_keys \
                 (key_hash, tenant_id, id, account_id, label, scopes, created_at) \
                 VALUES ('{forged}', '{}', 'forged', '{}', '', '', 0)",
                Uuid::new_v4(),
                Uuid::new_v4()
            ),
        )
        .await;
        let report = db.store.verify_chains().await.unwrap();
        assert!(!report.is_intact());
        assert!(report.chains.iter().all(|chain| chain.broken.is_none()));
        assert_eq!(report.read_models.len(), 1, "{report:?}");
        let drift = &report.read_models[0];
        assert_eq!(drift.table, "api_keys");
        assert_eq!(drift.key, format!("key_hash={forged}"));
        assert!(drift.reason.contains("not produced"), "{}", drift.reason);
    })
    .await;
}

#[tokio::test]
async fn a_changed_app_version_status_is_named() {
    each_engine(|db| async move {
        let store = &db.store;
        let tenant = create_tenant(store, "contoso").await;
        let app = AppId::from_uuid(Uuid::new_v4());
        store
            .append(Append {
                tenant,
                actor: "author".into(),
                recorded_at: at(2),
                events: vec![
                    NewEvent {
                        stream: StreamRef::app(app),
                        expected: ExpectedVersion::NoStream,
                        body: EventBody::AppCreated {
                            app_id: app,
                            name: "vitals".into(),
                        },
                    },
                    NewEvent {
                        stream: StreamRef::app(app),
                        expected: ExpectedVersion::Any,
                        body: EventBody::AppVersionDrafted {
                            app_id: app,
                            version: 1,
                            definition: raw("{}"),
                            compiled: raw("{}"),
                            source: None,
                        },
                    },
                ],
                idempotency: None,
                preconditions: Vec::new(),
            })
            .await
            .unwrap();
        assert!(store.verify_chains().await.unwrap().is_intact());
        raw_execute(&db, "UPDATE app_versions SET status = 'published'").await;
        let report = store.verify_chains().await.unwrap();
        assert_eq!(report.read_models.len(), 1, "{report:?}");
        let drift = &report.read_models[0];
        assert_eq!(drift.table, "app_versions");
        assert_eq!(
            drift.key,
            format!("tenant_id={tenant}, app_id={app}, version=1")
        );
        assert!(drift.reason.contains("differs"), "{}", drift.reason);
    })
    .await;
}

#[tokio::test]
async fn a_truncated_tail_with_its_head_rolled_back_is_found_by_the_checkpoint() {
    each_engine(|db| async move {
        let tenant = busy_tenant(&db.store, 4).await;
        db.store.checkpoint().await.unwrap();
        let kept = stored_event(&db, tenant, 3).await;
        // A consistent older state: entries 4 and 5 gone, the head back at 3, and the read
        // models replayed from what is left (which needs no key).
        raw_execute(
            &db,
            &format!("DELETE FROM events WHERE tenant_id = '{tenant}' AND seq > 3"),
        )
        .await;
        raw_execute(
            &db,
            &format!(
                "UPDATE chain_heads SET seq = 3, hash = {} WHERE tenant_id = '{tenant}'",
                hale_store::testing::bytes_sql(&db.url, &kept.hash)
            ),
        )
        .await;
        db.store.rebuild_projections().await.unwrap();
        let report = db.store.verify_chains().await.unwrap();
        assert!(report.read_models.is_empty(), "{report:?}");
        let (seq, reason) = broken(&report, tenant).unwrap();
        assert_eq!(seq, 5);
        assert!(reason.contains("checkpointed"), "{reason}");
    })
    .await;
}

#[tokio::test]
async fn a_missing_checkpoint_file_is_named() {
    each_engine(|db| async move {
        busy_tenant(&db.store, 1).await;
        db.store.checkpoint().await.unwrap();
        std::fs::remove_file(db.custody.checkpoint_file()).unwrap();
        let report = db.store.verify_chains().await.unwrap();
        assert!(!report.is_intact());
        assert!(report.checkpoints.unwrap().contains("missing"));
    })
    .await;
}

#[tokio::test]
async fn reordered_and_inserted_entries_are_found() {
    each_engine(|db| async move {
        let tenant = busy_tenant(&db.store, 3).await;
        for (from, to) in [(2, -2), (3, 2), (-2, 3)] {
            raw_execute(
                &db,
                &format!(
                    "UPDATE events SET seq = {to} WHERE tenant_id = '{tenant}' AND seq = {from}"
                ),
            )
            .await;
        }
        let report = db.store.verify_chains().await.unwrap();
        assert_eq!(broken(&report, tenant).map(|(seq, _)| seq), Some(2));

        let tenant = create_tenant(&db.store, "fabrikam").await;
        let subject = register_subject(&db.store, tenant, "2").await;
        let (_, append) = submission_append(tenant, subject, 1, "{}", None);
        db.store.append(append).await.unwrap();
        // A copy of the last entry appended as a new one, with the head moved to it.
        raw_execute(
            &db,
            &format!(
                "INSERT INTO events SELECT tenant_id, 3, stream_kind, stream_id, 2, event_type, \
                 payload, packed, actor, recorded_at, hash FROM events \
                 WHERE tenant_id = '{tenant}' AND seq = 2"
            ),
        )
        .await;
        raw_execute(
            &db,
            &format!("UPDATE chain_heads SET seq = 3 WHERE tenant_id = '{tenant}'"),
        )
        .await;
        let report = db.store.verify_chains().await.unwrap();
        assert_eq!(broken(&report, tenant).map(|(seq, _)| seq), Some(3));
    })
    .await;
}

#[tokio::test]
async fn a_removed_read_model_row_is_named() {
    each_engine(|db| async move {
        let tenant = busy_tenant(&db.store, 1).await;
        raw_execute(&db, "DELETE FROM subject_identifiers").await;
        let report = db.store.verify_chains().await.unwrap();
        assert_eq!(report.read_models.len(), 1, "{report:?}");
        let drift = &report.read_models[0];
        assert_eq!(drift.table, "subject_identifiers");
        assert_eq!(
            drift.key,
            format!("tenant_id={tenant}, identifier_key=key-1")
        );
        assert!(drift.reason.contains("missing"), "{}", drift.reason);
    })
    .await;
}

#[tokio::test]
async fn committed_heads_reach_the_checkpoint_file_within_seconds_unasked() {
    each_engine(|db| async move {
        let tenant = busy_tenant(&db.store, 2).await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let checkpoints = db.custody.read_checkpoints().unwrap();
            if checkpoints.get(&tenant).map(|(seq, _)| *seq) == Some(3) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{checkpoints:?}");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await;
}
