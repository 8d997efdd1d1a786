//! The memory store against a model that is correct by inspection (every accepted time kept in
//! a `Vec`, the window counted afresh on each call), the cap, sweeping and threads.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::clock::ManualClock;
use crate::policy::PolicyName;

const MICROSECOND: Duration = Duration::from_micros(1);

fn policy(name: &str, calls: u32, seconds: u64) -> Policy {
    Policy::new(
        PolicyName::parse(name).unwrap(),
        calls,
        Duration::from_secs(seconds),
    )
    .unwrap()
}

fn store(max_keys: usize, shards: usize) -> (MemoryStore, ManualClock) {
    let clock = ManualClock::new();
    let store = MemoryStore::with_clock(MemoryConfig { max_keys, shards }, clock.clone());
    (store, clock)
}

/// The sliding log written the obvious way: a call at `now` is accepted iff fewer than `calls`
/// accepted calls lie in `(now - period, now]`.
#[derive(Default)]
struct Model {
    accepted: Vec<u64>,
}

impl Model {
    fn decide(&mut self, now: u64, calls: u32, period: u64) -> Decision {
        let in_window: Vec<u64> = self
            .accepted
            .iter()
            .copied()
            .filter(|&time| time + period > now)
            .collect();
        let counted = in_window.len();
        if counted < calls as usize {
            self.accepted.push(now);
            Decision::Allowed {
                limit: calls,
                remaining: calls - counted as u32 - 1,
                reset_after: Duration::from_nanos(period),
            }
        } else {
            Decision::Refused {
                limit: calls,
                retry_after: Duration::from_nanos(
                    in_window[counted - calls as usize] + period - now,
                ),
                reset_after: Duration::from_nanos(in_window[counted - 1] + period - now),
            }
        }
    }
}

/// The customer's property itself: no window `[start, start + period)` holds more than `calls`
/// accepted times (checking windows that start at an accepted time covers every window).
fn most_in_any_window(accepted: &[u64], period: u64) -> usize {
    accepted
        .iter()
        .map(|&start| {
            accepted
                .iter()
                .filter(|&&time| time >= start && time < start + period)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn ten_calls_in_five_minutes_then_the_eleventh_waits_for_the_first_to_leave() {
    let (store, clock) = store(100, 4);
    let patient = policy("patient", 10, 300);
    for call in 0..10u32 {
        let decision = store.check(&patient, "tenant:account").unwrap();
        assert_eq!(
            decision,
            Decision::Allowed {
                limit: 10,
                remaining: 9 - call,
                reset_after: Duration::from_secs(300),
            }
        );
        clock.advance(Duration::from_secs(10));
    }
    // The first call was at 0 s, it is now 100 s: it leaves the window at 300 s.
    let refused = store.check(&patient, "tenant:account").unwrap();
    assert_eq!(
        refused,
        Decision::Refused {
            limit: 10,
            retry_after: Duration::from_secs(200),
            reset_after: Duration::from_secs(290),
        }
    );
    assert_eq!(refused.retry_after_seconds(), Some(200));
    clock.advance(Duration::from_secs(200) - MICROSECOND);
    assert!(
        !store
            .check(&patient, "tenant:account")
            .unwrap()
            .is_allowed()
    );
    clock.advance(MICROSECOND);
    assert_eq!(
        store.check(&patient, "tenant:account").unwrap().remaining(),
        0
    );
    // The next slot frees when the second call (at 10 s) leaves, at 310 s.
    let refused = store.check(&patient, "tenant:account").unwrap();
    assert_eq!(refused.retry_after(), Some(Duration::from_secs(10)));
    // Other keys and other policies keep their own quota.
    assert!(store.check(&patient, "tenant:other").unwrap().is_allowed());
    assert!(
        store
            .check(&policy("sign-in", 10, 300), "tenant:account")
            .unwrap()
            .is_allowed()
    );
}

#[test]
fn refused_calls_consume_nothing() {
    let (store, clock) = store(10, 1);
    let tight = policy("p", 2, 60);
    store.check(&tight, "k").unwrap();
    store.check(&tight, "k").unwrap();
    for _ in 0..1000 {
        clock.advance(Duration::from_millis(50));
        assert!(!store.check(&tight, "k").unwrap().is_allowed());
    }
    // 50 s of refusals later, the quota still frees 60 s after the accepted calls.
    clock.advance(Duration::from_secs(10));
    assert!(store.check(&tight, "k").unwrap().is_allowed());
}

#[test]
fn a_clock_set_back_is_read_as_standing_still() {
    let (store, clock) = store(10, 1);
    let tight = policy("p", 1, 10);
    clock.set(Duration::from_secs(100));
    assert!(store.check(&tight, "k").unwrap().is_allowed());
    clock.set(Duration::from_secs(50));
    let refused = store.check(&tight, "k").unwrap();
    assert_eq!(refused.retry_after(), Some(Duration::from_secs(10)));
}

#[test]
fn a_lowered_policy_waits_until_the_calls_over_its_quota_left() {
    let (store, clock) = store(10, 1);
    for _ in 0..5 {
        store.check(&policy("p", 5, 100), "k").unwrap();
        clock.advance(Duration::from_secs(1));
    }
    // Calls at 0..=4 s; with 2 allowed, the call waits until those at 0, 1 and 2 s left.
    let refused = store.check(&policy("p", 2, 100), "k").unwrap();
    assert_eq!(refused.retry_after(), Some(Duration::from_secs(98)));
    assert_eq!(refused.reset_after(), Duration::from_secs(99));
}

#[test]
fn a_full_store_refuses_new_keys_until_one_goes_idle() {
    let (store, clock) = store(4, 1);
    let minute = policy("p", 3, 60);
    for key in ["a", "b", "c", "d"] {
        assert!(store.check(&minute, key).unwrap().is_allowed());
    }
    assert!(matches!(store.check(&minute, "e"), Err(LimitError::Full)));
    assert_eq!(
        store.check(&minute, "e").unwrap_err().code(),
        "limit_store_full"
    );
    // Keys already held are still decided.
    assert!(store.check(&minute, "a").unwrap().is_allowed());
    clock.advance(Duration::from_secs(30));
    assert!(store.check(&minute, "b").unwrap().is_allowed());
    // At 60 s "a", "c" and "d" are idle (their newest calls were at 0 s), "b" is not.
    clock.advance(Duration::from_secs(30));
    assert!(matches!(
        store.check(&minute, "e"),
        Ok(Decision::Allowed { remaining: 2, .. })
    ));
    assert_eq!(store.len(), 2);
    for key in ["f", "g"] {
        assert!(store.check(&minute, key).unwrap().is_allowed());
    }
    assert!(matches!(store.check(&minute, "h"), Err(LimitError::Full)));
    // "a" was forgotten with its calls: it starts afresh once there is room.
    clock.advance(Duration::from_secs(30));
    assert_eq!(store.check(&minute, "a").unwrap().remaining(), 2);
}

#[test]
fn idle_keys_are_swept_as_the_store_is_used() {
    let (store, clock) = store(1000, 1);
    let second = policy("p", 1, 1);
    for key in 0..500 {
        store.check(&second, &key.to_string()).unwrap();
    }
    assert_eq!(store.len(), 500);
    clock.advance(Duration::from_secs(2));
    store.check(&second, "fresh").unwrap();
    assert_eq!(store.len(), 1);
    clock.advance(Duration::from_secs(2));
    store.sweep();
    assert!(store.is_empty());
}

#[test]
fn the_cap_holds_over_shards() {
    let (store, _clock) = store(64, 8);
    let minute = policy("p", 1, 60);
    let admitted = (0..1000)
        .filter(|key| store.check(&minute, &key.to_string()).is_ok())
        .count();
    assert_eq!(admitted, 64);
    assert_eq!(store.len(), 64);
}

#[test]
fn threads_racing_on_one_key_get_exactly_the_quota() {
    let (store, _clock) = store(100, 4);
    let quota = Arc::new(policy("p", 37, 60));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let quota = Arc::clone(&quota);
            std::thread::spawn(move || {
                (0..100)
                    .filter(|_| store.check(&quota, "shared").unwrap().is_allowed())
                    .count()
            })
        })
        .collect();
    let allowed: usize = threads
        .into_iter()
        .map(|thread| thread.join().unwrap())
        .sum();
    assert_eq!(allowed, 37);
}

fn scenario() -> impl Strategy<Value = (u32, u64, Vec<(u64, usize)>)> {
    (1u32..=12, 1u64..=20).prop_flat_map(|(calls, seconds)| {
        let period = seconds * 1_000_000_000;
        // Gaps from none at all to past a whole period, weighted toward bursts.
        // Quarter-period steps land calls exactly where older ones leave the window.
        let gap = prop_oneof![
            3 => Just(0u64),
            6 => 0..period / 8,
            3 => 0..period * 3 / 2,
            4 => (0u64..=5).prop_map(move |quarters| quarters * period / 4),
        ];
        (
            Just(calls),
            Just(seconds),
            prop::collection::vec((gap, 0usize..3), 1..200),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn the_store_decides_as_the_model_and_no_window_holds_more_than_the_quota(
        (calls, seconds, steps) in scenario()
    ) {
        let (store, clock) = store(16, 2);
        let quota = policy("p", calls, seconds);
        let period = seconds * 1_000_000_000;
        let mut models: [Model; 3] = Default::default();
        let mut now = 0;
        for (gap, key) in steps {
            now += gap;
            clock.set(Duration::from_nanos(now));
            let decided = store.check(&quota, &key.to_string()).unwrap();
            prop_assert_eq!(decided, models[key].decide(now, calls, period));
        }
        for model in &models {
            prop_assert!(most_in_any_window(&model.accepted, period) <= calls as usize);
        }
    }

    #[test]
    fn retry_after_is_exactly_when_the_next_call_is_accepted(
        (calls, seconds, steps) in scenario()
    ) {
        let (store, clock) = store(16, 1);
        let quota = policy("p", calls, seconds);
        let mut now = Duration::ZERO;
        for (gap, _) in steps {
            now += Duration::from_nanos(gap);
            clock.set(now);
            let Decision::Refused { retry_after, reset_after, .. } =
                store.check(&quota, "k").unwrap()
            else {
                continue;
            };
            prop_assert!(retry_after > Duration::ZERO && retry_after <= quota.period());
            prop_assert!(reset_after >= retry_after);
            if retry_after > MICROSECOND {
                clock.set(now + retry_after - MICROSECOND);
                let early = store.check(&quota, "k").unwrap();
                prop_assert_eq!(early.retry_after(), Some(MICROSECOND));
            }
            clock.set(now + retry_after);
            prop_assert!(store.check(&quota, "k").unwrap().is_allowed());
            now += retry_after;
        }
    }
}

/// A call checked under two policies is counted under both or neither: the tighter one's
/// refusal leaves the wider one's quota untouched, on one shard or across shards.
#[test]
fn a_call_under_several_policies_is_counted_under_all_or_none() {
    for shards in [1, 32] {
        let (store, clock) = store(1024, shards);
        let tight = policy("tenant-tight", 2, 10);
        let wide = policy("patient", 3, 10);
        let both = [(&tight, "account"), (&wide, "account")];
        for call in 0..2u32 {
            let decisions = store.check_all(&both).unwrap();
            assert!(decisions.iter().all(Decision::is_allowed), "call {call}");
            assert_eq!(decisions[0].remaining(), 1 - call);
            assert_eq!(decisions[1].remaining(), 2 - call);
        }
        let refused = store.check_all(&both).unwrap();
        assert!(!refused[0].is_allowed(), "{refused:?}");
        assert!(refused[1].is_allowed() && refused[1].remaining() == 0);
        // The refusal counted nothing under the wide policy: it still has its third call.
        let wide_alone = store.check(&wide, "account").unwrap();
        assert!(wide_alone.is_allowed() && wide_alone.remaining() == 0);
        assert!(!store.check(&wide, "account").unwrap().is_allowed());
        // Once the window has passed, both allow again.
        clock.set(Duration::from_secs(10));
        assert!(
            store
                .check_all(&both)
                .unwrap()
                .iter()
                .all(Decision::is_allowed)
        );
        assert!(store.check_all(&[]).unwrap().is_empty());
    }
}

/// The limiter over a memory store hands every check on and keeps their order.
#[tokio::test]
async fn the_limiter_decides_every_check_in_order() {
    let (store, _clock) = store(1024, 4);
    let limiter = crate::Limiter::Memory(store);
    let one = policy("one", 1, 60);
    let three = policy("three", 3, 60);
    let decisions = limiter
        .check_all(&[(&three, "a"), (&one, "a")])
        .await
        .unwrap();
    let remaining: Vec<u32> = decisions.iter().map(Decision::remaining).collect();
    assert_eq!(remaining, [2, 0]);
    let refused = limiter.check(&one, "a").await.unwrap();
    assert!(!refused.is_allowed());
}
