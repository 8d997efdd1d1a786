//! SQLite's write-ahead log stays bounded under a sustained write load with reads beside it:
//! the store makes the WAL start over before it passes its bound, however busy the writer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use hale_store::Backend;

use super::*;

/// The bound the SQLite writer keeps the `-wal` file under (see `sqlite_writer.rs`): it starts
/// the WAL over once it holds 64 MiB, before its next batch, and one batch of these
/// submissions adds well under a MiB (peaks seen: 64.3 and 64.4 MiB). The reads here last
/// milliseconds, far under the 2 s a restart waits for them, so no restart may fail; one that
/// did would let the WAL grow 16 MiB more and fail this.
const WAL_BOUND: u64 = 72 * 1024 * 1024;

/// How far the WAL must get before it starts over: the writer restarts it at its restart point
/// (64 MiB), not on every batch, which would stall every batch behind a checkpoint. This load
/// writes several times that much WAL, so the file reaches the restart point whatever the
/// machine's speed.
const WAL_REACHED: u64 = 48 * 1024 * 1024;

/// Clients submitting at once, as the load benchmark's.
const WRITERS: usize = 16;
/// Submissions each client makes: enough that a WAL which never started over would hold
/// several times the bound (298 MiB before the writer restarted it).
const SUBMISSIONS_PER_WRITER: usize = 2_500;
/// Clients reading a subject's observations while the writers run.
const READERS: usize = 4;

fn database_file(url: &str) -> String {
    let path = url.strip_prefix("sqlite://").expect("a sqlite:// URL");
    path.split('?').next().unwrap_or_default().to_owned()
}

/// Samples the `-wal` file's size every few milliseconds until `stop`; the largest size seen.
fn sample_wal(wal: String, stop: Arc<AtomicBool>, peak: Arc<AtomicU64>) {
    while !stop.load(Ordering::Relaxed) {
        if let Ok(metadata) = std::fs::metadata(&wal) {
            peak.fetch_max(metadata.len(), Ordering::Relaxed);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

async fn submit(store: Store, tenant: TenantId, subject: SubjectId, writer: usize) {
    for n in 0..SUBMISSIONS_PER_WRITER {
        let key = format!("wal-{writer}-{n}");
        let (_, append) = submission_append(
            tenant,
            subject,
            n as i64,
            r#"{"heart_rate":72,"temperature":36.6,"note":"sustained load"}"#,
            Some((&key, "hash")),
        );
        let outcome = store.append(append).await.unwrap();
        assert!(matches!(outcome, AppendOutcome::Appended { .. }));
    }
}

async fn read_until(store: Store, tenant: TenantId, subject: SubjectId, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        store
            .observations_for_subject(
                tenant,
                subject,
                Some("8867-4"),
                TimeRange::default(),
                None,
                50,
            )
            .await
            .unwrap();
        store
            .submissions_for_subject(tenant, subject, TimeRange::default(), None, 20)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_stays_bounded_under_sustained_writes_and_concurrent_reads() {
    let db = fresh(Backend::Sqlite).await;
    let store = db.store.clone();
    let tenant = create_tenant(&store, "wal").await;
    let subjects = [
        register_subject(&store, tenant, "wal-1").await,
        register_subject(&store, tenant, "wal-2").await,
    ];
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = std::thread::spawn({
        let wal = format!("{}-wal", database_file(&db.url));
        let (stop, peak) = (Arc::clone(&stop_sampling), Arc::clone(&peak));
        move || sample_wal(wal, stop, peak)
    });
    let stop_reading = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..READERS)
        .map(|reader| {
            let subject = subjects[reader % subjects.len()];
            tokio::spawn(read_until(
                store.clone(),
                tenant,
                subject,
                Arc::clone(&stop_reading),
            ))
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let subject = subjects[writer % subjects.len()];
            tokio::spawn(submit(store.clone(), tenant, subject, writer))
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    stop_reading.store(true, Ordering::Relaxed);
    for reader in readers {
        reader.await.unwrap();
    }
    stop_sampling.store(true, Ordering::Relaxed);
    sampler.join().unwrap();

    let stored = scalar(&db, "SELECT COUNT(*) FROM submissions").await;
    assert_eq!(stored, (WRITERS * SUBMISSIONS_PER_WRITER) as i64);
    let peak = peak.load(Ordering::Relaxed);
    eprintln!("WAL peak: {:.1} MiB", peak as f64 / (1024.0 * 1024.0));
    assert!(
        peak <= WAL_BOUND,
        "the WAL reached {peak} bytes, past its bound of {WAL_BOUND}"
    );
    assert!(
        peak >= WAL_REACHED,
        "the WAL never grew past {peak} bytes: it starts over long before its restart point"
    );
    db.store.close().await;
}
