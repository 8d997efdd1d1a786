//! The in-process store: an exact sliding log per key, in shards each behind its own mutex,
//! with a hard cap on keys and idle keys swept.
//!
//! A key's log holds the times of its accepted calls still in the window, oldest first (at most
//! `calls` of them). A call at `now` first drops the times `t` with `t + period <= now` (they
//! left the window), then is accepted iff fewer than `calls` remain. Each time is pushed once
//! and dropped once, so a check is O(1) amortised. A refused call changes nothing.
//!
//! Memory: at most `max_keys` logs of at most `calls` times (8 bytes each) plus a 16-byte
//! digest; keys themselves are never stored. A key is idle once its newest call left the
//! window; idle keys are swept from a shard at most once a second as it is used, and at once
//! when a new key finds its shard full. A full shard whose keys are all active refuses new keys
//! with [`LimitError::Full`] rather than forget calls still in a window.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::clock::{Clock, MonotonicClock, nanos};
use crate::decision::Decision;
use crate::error::LimitError;
use crate::key::KeyDigest;
use crate::policy::Policy;

/// How often a shard looks for idle keys while it is in use (when it is not full).
const SWEEP_INTERVAL: u64 = 1_000_000_000;

/// The memory store's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryConfig {
    /// The most keys held at once, over all shards.
    pub max_keys: usize,
    /// How many independently locked parts the keys are spread over.
    pub shards: usize,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            max_keys: 100_000,
            shards: 32,
        }
    }
}

/// The exact sliding-window limiter for one process. Clones share their state.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

struct Inner {
    clock: Box<dyn Clock>,
    shards: Box<[Padded]>,
    keys_per_shard: usize,
}

impl MemoryStore {
    /// A store on the process's monotonic clock.
    pub fn new(config: MemoryConfig) -> Self {
        Self::with_clock(config, MonotonicClock::new())
    }

    /// A store reading time from `clock`. `shards` is clamped to 1..=`max_keys` and each shard
    /// holds `max_keys / shards` keys, so at most `max_keys` are held.
    pub fn with_clock(config: MemoryConfig, clock: impl Clock) -> Self {
        let max_keys = config.max_keys.max(1);
        let shards = config.shards.clamp(1, max_keys);
        Self {
            inner: Arc::new(Inner {
                clock: Box::new(clock),
                shards: (0..shards)
                    .map(|_| Padded(Mutex::new(Shard::default())))
                    .collect(),
                keys_per_shard: max_keys / shards,
            }),
        }
    }

    /// Decides one call for `key` under `policy`, counting it if allowed. State is per policy
    /// name and key.
    pub fn check(&self, policy: &Policy, key: &str) -> Result<Decision, LimitError> {
        let mut decisions = self.check_all(&[(policy, key)])?;
        decisions.pop().ok_or(LimitError::UnexpectedReply)
    }

    /// Decides one call under several policies at once, all or nothing: it is counted under
    /// every one if each allows it, and under none if any refuses it (a refused call consumes
    /// no quota anywhere). The decisions come in the order of `checks`; each pair should be a
    /// different policy or key.
    pub fn check_all(&self, checks: &[(&Policy, &str)]) -> Result<Vec<Decision>, LimitError> {
        let inner = &*self.inner;
        let count = inner.shards.len();
        let digests: Vec<(KeyDigest, usize)> = checks
            .iter()
            .map(|(policy, key)| {
                let digest = KeyDigest::new(policy.name(), key);
                let shard = digest.shard(count);
                (digest, shard)
            })
            .collect();
        // Shards are locked in ascending order, each once, so two checks never deadlock.
        let mut order: Vec<usize> = digests.iter().map(|(_, shard)| *shard).collect();
        order.sort_unstable();
        order.dedup();
        let mut guards: Vec<std::sync::MutexGuard<'_, Shard>> = order
            .iter()
            .map(|&index| lock(&inner.shards[index].0))
            .collect();
        let now = nanos(inner.clock.now());
        // The guard of a shard, found by its place among the sorted indices.
        let held = |index: &usize| order.binary_search(index).ok();
        let mut peeked = Vec::with_capacity(checks.len());
        for ((policy, _), (digest, index)) in checks.iter().zip(&digests) {
            let place = held(index).ok_or(LimitError::UnexpectedReply)?;
            let shard = &mut *guards[place];
            if now >= shard.earliest_idle && now >= shard.last_sweep.saturating_add(SWEEP_INTERVAL)
            {
                shard.sweep(now);
            }
            if shard.logs.len() >= inner.keys_per_shard && !shard.logs.contains_key(digest) {
                if now >= shard.earliest_idle {
                    shard.sweep(now);
                }
                if shard.logs.len() >= inner.keys_per_shard {
                    return Err(LimitError::Full);
                }
            }
            let log = shard.logs.entry(*digest).or_default();
            peeked.push(log.peek(now, policy.calls(), nanos(policy.period())));
        }
        let allowed = peeked.iter().all(|(decision, _)| decision.is_allowed());
        for ((digest, index), (_, at)) in digests.iter().zip(&peeked) {
            let place = held(index).ok_or(LimitError::UnexpectedReply)?;
            let shard = &mut *guards[place];
            let Some(log) = shard.logs.get_mut(digest) else {
                continue;
            };
            if allowed {
                log.accepted.push_back(*at);
            }
            // A new key, or one whose policy's period was shortened, may go idle before the
            // bound; a new key refused elsewhere is idle at once.
            let idle_at = log.idle_at();
            shard.earliest_idle = shard.earliest_idle.min(idle_at);
        }
        Ok(peeked.into_iter().map(|(decision, _)| decision).collect())
    }

    /// How many keys are held now (idle ones included until they are swept).
    pub fn len(&self) -> usize {
        self.inner
            .shards
            .iter()
            .map(|shard| lock(&shard.0).logs.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every idle key now, shard by shard (for a background task, or before measuring).
    pub fn sweep(&self) {
        for shard in self.inner.shards.iter() {
            let now = nanos(self.inner.clock.now());
            lock(&shard.0).sweep(now);
        }
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("MemoryStore")
            .field("shards", &self.inner.shards.len())
            .field("keys_per_shard", &self.inner.keys_per_shard)
            .finish_non_exhaustive()
    }
}

fn lock(shard: &Mutex<Shard>) -> std::sync::MutexGuard<'_, Shard> {
    // A panic cannot leave a log half-updated (each update is a push or a pop), so a poisoned
    // shard is still sound.
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A shard on cache lines of its own, so threads locking neighbouring shards do not contend.
#[repr(align(128))]
struct Padded(Mutex<Shard>);

#[derive(Default)]
struct Shard {
    logs: HashMap<KeyDigest, Log>,
    /// No key of this shard is idle before this time: the exact minimum after a sweep, lowered
    /// by every check whose key would go idle sooner, so it stays a lower bound.
    earliest_idle: u64,
    last_sweep: u64,
}

impl Shard {
    fn sweep(&mut self, now: u64) {
        self.logs.retain(|_, log| log.idle_at() > now);
        self.earliest_idle = self
            .logs
            .values()
            .map(Log::idle_at)
            .min()
            .unwrap_or(u64::MAX);
        self.last_sweep = now;
    }
}

/// One key's accepted calls still in the window, oldest first, in nanoseconds on the clock.
#[derive(Default)]
struct Log {
    accepted: VecDeque<u64>,
    /// The period of the latest check, for sweeping.
    period: u64,
}

impl Log {
    /// Drops the times that left the window and decides a call at `now` without counting it;
    /// also returns the time it would be counted at (times in a log never go backwards,
    /// whatever the clock does).
    fn peek(&mut self, now: u64, calls: u32, period: u64) -> (Decision, u64) {
        let now = self.accepted.back().map_or(now, |&newest| now.max(newest));
        self.period = period;
        while let Some(&oldest) = self.accepted.front() {
            if oldest.saturating_add(period) > now {
                break;
            }
            self.accepted.pop_front();
        }
        let limit = calls;
        let counted = self.accepted.len();
        let calls = calls as usize;
        if counted < calls {
            let decision = Decision::Allowed {
                limit,
                remaining: (calls - counted - 1) as u32,
                reset_after: Duration::from_nanos(period),
            };
            return (decision, now);
        }
        // The call is accepted once all but `calls - 1` of the counted ones have left (only
        // more than `calls` after the policy was lowered).
        let blocking = self.accepted[counted - calls];
        let newest = self.accepted[counted - 1];
        let decision = Decision::Refused {
            limit,
            retry_after: Duration::from_nanos(blocking.saturating_add(period) - now),
            reset_after: Duration::from_nanos(newest.saturating_add(period) - now),
        };
        (decision, now)
    }

    /// When the newest call leaves the window (0 for a log that never counted a call).
    fn idle_at(&self) -> u64 {
        self.accepted
            .back()
            .map_or(0, |&newest| newest.saturating_add(self.period))
    }
}

#[cfg(test)]
mod tests;
