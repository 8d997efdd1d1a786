//! The Redis store against a real Redis (`HALE_TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379`): replicas sharing one quota, refusals that consume nothing, keys
//! that expire, and a call let through the moment the oldest leaves the window. Without Redis
//! these tests print a note and pass, unless `CI` is set, where they fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use hale_limit::{Decision, LimitError, Limiter, Policy, PolicyName, RedisConfig, RedisStore};

fn url() -> String {
    std::env::var("HALE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A prefix no other test (nor an earlier run) shares.
fn prefix(test: &str) -> String {
    let mut random = [0u8; 6];
    getrandom::fill(&mut random).unwrap();
    format!("hale-test:{test}:{}:", hex::encode(random))
}

/// A store of its own on a connection of its own, as a replica would have; `None` (with a note)
/// when Redis is not there and `CI` is not set.
async fn replica(prefix: &str) -> Option<RedisStore> {
    let mut config = RedisConfig::new(url());
    config.key_prefix = prefix.to_owned();
    match RedisStore::connect(&config).await {
        Ok(store) => Some(store),
        Err(error) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: no Redis at {} ({error})", url());
            None
        }
        Err(error) => panic!("CI needs Redis at {}: {error}", url()),
    }
}

async fn raw_connection() -> redis::aio::MultiplexedConnection {
    redis::Client::open(url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

fn policy(calls: u32, seconds: u64) -> Policy {
    Policy::new(
        PolicyName::parse("patient").unwrap(),
        calls,
        Duration::from_secs(seconds),
    )
    .unwrap()
}

#[tokio::test]
async fn two_replicas_share_ten_calls_and_both_refuse_the_eleventh() {
    let prefix = prefix("replicas");
    let (Some(first), Some(second)) = (replica(&prefix).await, replica(&prefix).await) else {
        return;
    };
    let patient = policy(10, 300);
    let replicas = [Limiter::Redis(first), Limiter::Redis(second)];
    for call in 0..10u32 {
        let decision = replicas[call as usize % 2]
            .check(&patient, "tenant:account")
            .await
            .unwrap();
        assert_eq!(decision.remaining(), 9 - call, "call {call}");
        assert!(decision.is_allowed());
    }
    for replica in &replicas {
        let refused = replica.check(&patient, "tenant:account").await.unwrap();
        let Decision::Refused {
            limit,
            retry_after,
            reset_after,
        } = refused
        else {
            panic!("the eleventh call passed: {refused:?}");
        };
        assert_eq!(limit, 10);
        assert!(retry_after > Duration::from_secs(290) && retry_after <= Duration::from_secs(300));
        assert!(reset_after >= retry_after && reset_after <= Duration::from_secs(300));
    }
    // Another key is untouched.
    assert!(
        replicas[1]
            .check(&patient, "tenant:other")
            .await
            .unwrap()
            .is_allowed()
    );
}

#[tokio::test]
async fn replicas_racing_accept_exactly_the_quota() {
    let prefix = prefix("race");
    let (Some(first), Some(second)) = (replica(&prefix).await, replica(&prefix).await) else {
        return;
    };
    let patient = policy(10, 300);
    let calls: Vec<_> = (0..40)
        .map(|call| {
            let store = if call % 2 == 0 { &first } else { &second }.clone();
            let patient = patient.clone();
            tokio::spawn(async move { store.check(&patient, "k").await.unwrap().is_allowed() })
        })
        .collect();
    let mut allowed = 0;
    for call in calls {
        allowed += usize::from(call.await.unwrap());
    }
    assert_eq!(allowed, 10);
}

#[tokio::test]
async fn refused_calls_consume_nothing_and_the_key_expires_with_its_window() {
    let prefix = prefix("expiry");
    let Some(store) = replica(&prefix).await else {
        return;
    };
    let mut redis = raw_connection().await;
    let tight = policy(2, 60);
    let key = store.redis_key(&tight, "tenant:account");
    assert!(key.starts_with(&prefix) && !key.contains("account"));
    for _ in 0..2 {
        assert!(
            store
                .check(&tight, "tenant:account")
                .await
                .unwrap()
                .is_allowed()
        );
    }
    for _ in 0..20 {
        assert!(
            !store
                .check(&tight, "tenant:account")
                .await
                .unwrap()
                .is_allowed()
        );
    }
    let members: u64 = redis::cmd("ZCARD")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(members, 2, "refusals were recorded");
    let ttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 60_000, "PTTL {ttl}");
}

#[tokio::test]
async fn the_first_call_after_the_oldest_leaves_the_window_passes() {
    let prefix = prefix("window");
    let Some(store) = replica(&prefix).await else {
        return;
    };
    let short = policy(3, 2);
    // Calls 300 ms apart, so which one leaves when never hangs on a round trip's length.
    for _ in 0..2 {
        assert!(store.check(&short, "k").await.unwrap().is_allowed());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(store.check(&short, "k").await.unwrap().is_allowed());
    let refused = store.check(&short, "k").await.unwrap();
    let retry_after = refused
        .retry_after()
        .expect("a fourth call in 2 s is refused");
    assert!(retry_after < Duration::from_secs(2) && refused.reset_after() > retry_after);
    // Still refused until then (a refusal counts nothing, so asking again changes nothing).
    assert!(!store.check(&short, "k").await.unwrap().is_allowed());
    tokio::time::sleep(retry_after).await;
    // The oldest left: one call passes, and the next waits for the second (300 ms younger).
    let passed = store.check(&short, "k").await.unwrap();
    assert_eq!(passed.remaining(), 0, "{passed:?}");
    let refused = store.check(&short, "k").await.unwrap();
    let wait = refused.retry_after().expect("the quota is used up again");
    assert!(wait < short.period(), "{wait:?}");
    // Idle once the newest left: the key is gone from Redis.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut redis = raw_connection().await;
    let exists: u64 = redis::cmd("EXISTS")
        .arg(store.redis_key(&short, "k"))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(exists, 0);
}

#[tokio::test]
async fn an_unreachable_redis_fails_closed() {
    // Nothing listens on port 1; connecting fails with a code the edge maps to 503.
    let mut config = RedisConfig::new("redis://127.0.0.1:1");
    config.connect_timeout = Duration::from_millis(200);
    let Err(error) = RedisStore::connect(&config).await else {
        panic!("connected to nothing");
    };
    assert!(matches!(error, LimitError::Unavailable(_)));
    assert_eq!(error.code(), "limit_store_unavailable");
    let invalid = RedisStore::connect(&RedisConfig::new("http://user:secret@host")).await;
    let Err(error) = invalid else {
        panic!("an http URL was taken for Redis");
    };
    assert!(!error.to_string().contains("secret"));
    assert_eq!(error.code(), "limit_store_invalid_url");
}

/// A Redis server of this test's own (Debian's `redis-server`, nothing kept on disk), which
/// the test may stop and start again on the same port.
struct ThrowawayRedis {
    port: u16,
    process: Option<std::process::Child>,
}

impl ThrowawayRedis {
    /// `None` (with a note) when `redis-server` is not installed and `CI` is not set.
    async fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Self {
            port,
            process: None,
        };
        match server.spawn() {
            Ok(()) => {}
            Err(error) if std::env::var_os("CI").is_none() => {
                eprintln!("skipped: cannot start redis-server ({error})");
                return None;
            }
            Err(error) => panic!("CI needs redis-server: {error}"),
        }
        server.wait_until_listening().await;
        Some(server)
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let child = std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .stdout(std::process::Stdio::null())
            .spawn()?;
        self.process = Some(child);
        Ok(())
    }

    async fn wait_until_listening(&self) {
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not start listening");
    }

    fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill().unwrap();
            process.wait().unwrap();
        }
    }

    async fn restart(&mut self) {
        self.spawn().unwrap();
        self.wait_until_listening().await;
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for ThrowawayRedis {
    fn drop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

#[tokio::test]
async fn checks_fail_closed_while_redis_is_away_and_resume_when_it_returns() {
    let Some(mut server) = ThrowawayRedis::start().await else {
        return;
    };
    let mut config = RedisConfig::new(server.url());
    config.key_prefix = prefix("outage");
    let store = RedisStore::connect(&config).await.unwrap();
    let tight = policy(2, 60);
    assert!(store.check(&tight, "k").await.unwrap().is_allowed());
    server.stop();
    for _ in 0..3 {
        let error = store.check(&tight, "k").await.unwrap_err();
        assert!(
            matches!(error, LimitError::Unavailable(_) | LimitError::TimedOut),
            "{error:?}"
        );
    }
    server.restart().await;
    let mut resumed = None;
    for _ in 0..100 {
        if let Ok(decision) = store.check(&tight, "k").await {
            resumed = Some(decision);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The restarted server kept nothing, so the key starts afresh: what a Redis restart costs.
    let resumed = resumed.expect("the store reconnected");
    assert_eq!(resumed.remaining(), 1);
}

/// The script counts a call under several policies all or nothing, as the memory store does.
#[tokio::test]
async fn a_call_under_several_policies_is_counted_under_all_or_none() {
    let prefix = prefix("several");
    let Some(store) = replica(&prefix).await else {
        return;
    };
    let tight = Policy::new(
        PolicyName::parse("tenant-tight").unwrap(),
        2,
        Duration::from_secs(60),
    )
    .unwrap();
    let wide = policy(3, 60);
    let both = [(&tight, "account"), (&wide, "account")];
    for call in 0..2u32 {
        let decisions = store.check_all(&both).await.unwrap();
        assert!(decisions.iter().all(Decision::is_allowed), "call {call}");
        assert_eq!(decisions[1].remaining(), 2 - call);
    }
    let refused = store.check_all(&both).await.unwrap();
    assert!(
        !refused[0].is_allowed() && refused[1].is_allowed(),
        "{refused:?}"
    );
    let wide_alone = store.check(&wide, "account").await.unwrap();
    assert!(wide_alone.is_allowed() && wide_alone.remaining() == 0);
    assert!(!store.check(&wide, "account").await.unwrap().is_allowed());
}
