//! How long a check takes: the memory store (one hot key, 10,000 keys, several threads) and the
//! Redis store (one round trip each, one at a time and many in flight). Run with
//! `cargo run --release -p hale-limit --example limiter_bench`; Redis is read from
//! `HALE_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`) and skipped when absent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hale_limit::{MemoryConfig, MemoryStore, Policy, PolicyName, RedisConfig, RedisStore};

fn policy(calls: u32, seconds: u64) -> Policy {
    Policy::new(
        PolicyName::parse("bench").unwrap(),
        calls,
        Duration::from_secs(seconds),
    )
    .unwrap()
}

fn report(label: &str, checks: usize, elapsed: Duration, allowed: usize) {
    println!(
        "{label:<52} {:>9.0} ns/check  {:>11.0} checks/s  ({allowed} of {checks} allowed)",
        elapsed.as_nanos() as f64 / checks as f64,
        checks as f64 / elapsed.as_secs_f64(),
    );
}

fn keys(count: usize) -> Vec<String> {
    (0..count)
        .map(|index| format!("tenant-0193:account-{index:08}"))
        .collect()
}

fn memory(threads: usize) {
    let patient = policy(10, 300);
    let checks = 2_000_000;

    let store = MemoryStore::new(MemoryConfig::default());
    let started = Instant::now();
    let allowed = (0..checks)
        .filter(|_| black_box(store.check(&patient, "tenant:account").unwrap()).is_allowed())
        .count();
    report(
        "memory, 1 hot key, 10 per 5 min (refusals)",
        checks,
        started.elapsed(),
        allowed,
    );

    let store = MemoryStore::new(MemoryConfig::default());
    let wide = policy(10_000, 1);
    let started = Instant::now();
    let allowed = (0..checks)
        .filter(|_| black_box(store.check(&wide, "tenant:account").unwrap()).is_allowed())
        .count();
    report(
        "memory, 1 hot key, 10000 per 1 s (10000-entry log)",
        checks,
        started.elapsed(),
        allowed,
    );

    let store = MemoryStore::new(MemoryConfig::default());
    let names = keys(10_000);
    let started = Instant::now();
    let allowed = (0..checks)
        .filter(|index| {
            let key = &names[index % names.len()];
            black_box(store.check(&patient, key).unwrap()).is_allowed()
        })
        .count();
    report(
        "memory, 10000 keys round robin, 10 per 5 min",
        checks,
        started.elapsed(),
        allowed,
    );

    for threads in [2, threads.max(2) * 2] {
        let store = MemoryStore::new(MemoryConfig::default());
        let names = Arc::new(keys(10_000));
        let per_thread = checks / threads;
        let started = Instant::now();
        let workers: Vec<_> = (0..threads)
            .map(|thread| {
                let (store, names, patient) = (store.clone(), Arc::clone(&names), patient.clone());
                std::thread::spawn(move || {
                    (0..per_thread)
                        .filter(|index| {
                            let key = &names[(index * 7 + thread) % names.len()];
                            black_box(store.check(&patient, key).unwrap()).is_allowed()
                        })
                        .count()
                })
            })
            .collect();
        let allowed = workers
            .into_iter()
            .map(|worker| worker.join().unwrap())
            .sum();
        let elapsed = started.elapsed();
        report(
            &format!("memory, 10000 keys, {threads} threads (wall time per check)"),
            per_thread * threads,
            elapsed,
            allowed,
        );
        println!(
            "{:<52} {:>9.0} ns/check per thread",
            "",
            elapsed.as_nanos() as f64 / per_thread as f64
        );
    }
}

async fn redis() {
    let url =
        std::env::var("HALE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let mut config = RedisConfig::new(url.clone());
    let mut random = [0u8; 6];
    getrandom::fill(&mut random).unwrap();
    config.key_prefix = format!("hale-bench:{}:", hex::encode(random));
    let store = match RedisStore::connect(&config).await {
        Ok(store) => store,
        Err(error) => {
            println!("redis: skipped, no Redis at {url} ({error})");
            return;
        }
    };
    // Keys expire a minute after their last accepted call.
    let minute = policy(10, 60);
    for (label, names) in [
        ("redis, 1 round trip, 10000 keys (accepts)", keys(10_000)),
        (
            "redis, 1 round trip, 1 hot key (refusals)",
            vec!["hot".to_owned()],
        ),
    ] {
        let checks = 10_000;
        let mut latencies = Vec::with_capacity(checks);
        let started = Instant::now();
        let mut allowed = 0;
        for index in 0..checks {
            let begun = Instant::now();
            let decision = store
                .check(&minute, &names[index % names.len()])
                .await
                .unwrap();
            latencies.push(begun.elapsed());
            allowed += usize::from(decision.is_allowed());
        }
        report(label, checks, started.elapsed(), allowed);
        latencies.sort();
        let at = |share: f64| latencies[((latencies.len() - 1) as f64 * share) as usize];
        println!(
            "{:<52} p50 {:?}  p99 {:?}  max {:?}",
            "",
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
    for in_flight in [16, 64] {
        let per_task = 20_000 / in_flight;
        let checks = per_task * in_flight;
        let started = Instant::now();
        let tasks: Vec<_> = (0..in_flight)
            .map(|task| {
                let (store, minute) = (store.clone(), minute.clone());
                tokio::spawn(async move {
                    let mut allowed = 0;
                    for index in 0..per_task {
                        let key = format!("flight-{in_flight}-{task}-{}", index % 500);
                        allowed +=
                            usize::from(store.check(&minute, &key).await.unwrap().is_allowed());
                    }
                    allowed
                })
            })
            .collect();
        let mut allowed = 0;
        for task in tasks {
            allowed += task.await.unwrap();
        }
        report(
            &format!("redis, {in_flight} in flight on one connection"),
            checks,
            started.elapsed(),
            allowed,
        );
    }
}

fn main() {
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    memory(threads);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(redis());
}
