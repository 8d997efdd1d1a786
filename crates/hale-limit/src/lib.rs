//! Exact sliding-window rate limits: at most `calls` accepted calls per key in **every** window
//! of length `period` — not the fixed windows or token buckets (GCRA) of common gateways, which
//! let twice the quota through around a boundary or a burst. Refused calls consume nothing,
//! and a refusal says exactly when the next call would pass.
//!
//! [`Limiter`] decides over one of two stores: [`MemoryStore`] for one process (a sliding log
//! per key, sharded, with a hard cap on keys) or [`RedisStore`], shared by replicas through one
//! atomic Lua script per check on the Redis server's clock. An HTTP edge calls
//! `limiter.check(&policy, key).await`, sends [`Decision::headers`] (`RateLimit-Policy`,
//! `RateLimit`, and `Retry-After` on a 429), and answers 503 on a [`LimitError`]: the limiter
//! fails closed.
//!
//! Keys are opaque strings the caller builds (such as `tenant:account-id`); state is kept per
//! policy name and key, under a SHA-256 digest of both, so no identifier is stored in memory or
//! sent to Redis. This is an outbound adapter: it knows nothing of the store, the core or HTTP.

mod clock;
mod decision;
mod error;
mod key;
mod memory;
mod policy;
mod redis_store;

pub use clock::{Clock, ManualClock, MonotonicClock};
pub use decision::{Decision, RateLimitHeaders, rate_limit_policy};
pub use error::LimitError;
pub use memory::{MemoryConfig, MemoryStore};
pub use policy::{
    MAX_CALLS, MAX_NAME_BYTES, MAX_PERIOD, MIN_PERIOD, Policy, PolicyConfig, PolicyError,
    PolicyName, format_period, parse_period,
};
pub use redis_store::{RedisConfig, RedisStore};

/// A limiter over one store; clones share it.
#[derive(Debug, Clone)]
pub enum Limiter {
    Memory(MemoryStore),
    Redis(RedisStore),
}

impl Limiter {
    /// Decides one call for `key` under `policy`, counting it if allowed.
    pub async fn check(&self, policy: &Policy, key: &str) -> Result<Decision, LimitError> {
        match self {
            Limiter::Memory(store) => store.check(policy, key),
            Limiter::Redis(store) => store.check(policy, key).await,
        }
    }

    /// Decides one call under several policies at once, all or nothing: counted under every
    /// one if each allows it, under none if any refuses it (refused calls consume no quota
    /// anywhere). Decisions come in the order of `checks`.
    pub async fn check_all(&self, checks: &[(&Policy, &str)]) -> Result<Vec<Decision>, LimitError> {
        match self {
            Limiter::Memory(store) => store.check_all(checks),
            Limiter::Redis(store) => store.check_all(checks).await,
        }
    }
}
