//! The store replicas share: one sorted set per key in Redis, decided by one Lua script per
//! check on the Redis server's clock, so every replica sees one exact log.
//!
//! The script runs atomically: it reads `TIME` (microseconds), drops the members whose score
//! (acceptance time) is at least a period old, counts the rest and, if fewer than the quota,
//! adds the call under a member unique to this process and call and sets the key to expire one
//! period after it — when the key is idle. A refused call writes nothing. Redis sees only
//! `prefix` + the hex of a 128-bit digest of policy name and key.
//!
//! It needs Redis 5 or later (scripts replicated by their effects, so `TIME` may precede the
//! writes). What "exact" rests on: every check of a key runs on one Redis primary, in order. A failover
//! to a replica that had not yet received the latest writes forgets them (more calls can pass);
//! a step of the Redis server's wall clock moves every window with it (forward: calls leave
//! early).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::decision::Decision;
use crate::error::LimitError;
use crate::key::KeyDigest;
use crate::policy::Policy;

/// `KEYS[1..n]` the sorted sets of the policies a call is checked under; `ARGV` each one's
/// quota and period in microseconds, in order, then the member for this call. Numbers go to
/// Redis as `%d` strings, so none is rounded through a float's shortest form. The call is
/// added to every set only if each allows it (all or nothing). Returns three numbers per key:
/// `1, remaining, reset_after` where it allows the call or `0, retry_after, reset_after` where
/// it refuses it, times in microseconds.
const CHECK: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local result = {}
local refused = false
for i = 1, #KEYS do
  local calls = tonumber(ARGV[2 * i - 1])
  local period = tonumber(ARGV[2 * i])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', string.format('%d', now - period))
  local counted = redis.call('ZCARD', KEYS[i])
  if counted < calls then
    table.insert(result, 1)
    table.insert(result, calls - counted - 1)
    table.insert(result, period)
  else
    refused = true
    local blocking = redis.call('ZRANGE', KEYS[i], counted - calls, counted - calls, 'WITHSCORES')
    local newest = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')
    table.insert(result, 0)
    table.insert(result, tonumber(blocking[2]) + period - now)
    table.insert(result, tonumber(newest[2]) + period - now)
  end
end
if not refused then
  local member = ARGV[2 * #KEYS + 1]
  for i = 1, #KEYS do
    redis.call('ZADD', KEYS[i], string.format('%d', now), member)
    redis.call('PEXPIRE', KEYS[i], string.format('%d', tonumber(ARGV[2 * i]) / 1000))
  end
end
return result
";

/// Where the shared store is and how long to wait for it.
#[derive(Clone)]
pub struct RedisConfig {
    /// `redis://[:password@]host:port[/db]`; printed as `[redacted]`, since it may hold a
    /// password.
    pub url: String,
    /// Put before every key this store writes (default `hale:limit:`).
    pub key_prefix: String,
    /// Each connection attempt gives up after this long (default 1 s).
    pub connect_timeout: Duration,
    /// Each check gives up after this long (default 500 ms), waiting for a reconnection
    /// included, and fails closed.
    pub response_timeout: Duration,
}

impl std::fmt::Debug for RedisConfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RedisConfig")
            .field("url", &"[redacted]")
            .field("key_prefix", &self.key_prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .finish()
    }
}

impl RedisConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            key_prefix: "hale:limit:".to_owned(),
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_millis(500),
        }
    }
}

/// The exact sliding-window limiter shared through Redis. Clones share one connection, which
/// reconnects by itself after Redis went away; checks meanwhile fail with
/// [`LimitError::Unavailable`].
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    script: Arc<redis::Script>,
    key_prefix: Arc<str>,
    /// 64 random bits per store, so two processes do not write the same member.
    instance: Arc<str>,
    calls: Arc<AtomicU64>,
    response_timeout: Duration,
}

impl RedisStore {
    /// Connects (once, now) and loads nothing yet: the script is sent by hash, and loaded the
    /// first time Redis does not know it.
    pub async fn connect(config: &RedisConfig) -> Result<Self, LimitError> {
        let client =
            redis::Client::open(config.url.as_str()).map_err(|_| LimitError::InvalidUrl)?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(config.connect_timeout)
            .set_response_timeout(config.response_timeout)
            .set_number_of_retries(2)
            .set_max_delay(1000);
        let connection = ConnectionManager::new_with_config(client, manager)
            .await
            .map_err(LimitError::Unavailable)?;
        let mut instance = [0u8; 8];
        getrandom::fill(&mut instance).map_err(|_| LimitError::NoRandomness)?;
        Ok(Self {
            connection,
            script: Arc::new(redis::Script::new(CHECK)),
            key_prefix: config.key_prefix.as_str().into(),
            instance: hex::encode(instance).into(),
            calls: Arc::new(AtomicU64::new(0)),
            response_timeout: config.response_timeout,
        })
    }

    /// Decides one call for `key` under `policy` in one round trip, counting it if allowed.
    pub async fn check(&self, policy: &Policy, key: &str) -> Result<Decision, LimitError> {
        let mut decisions = self.check_all(&[(policy, key)]).await?;
        decisions.pop().ok_or(LimitError::UnexpectedReply)
    }

    /// Decides one call under several policies in one round trip, all or nothing: counted
    /// under every one if each allows it, under none if any refuses it. Decisions come in the
    /// order of `checks`.
    pub async fn check_all(&self, checks: &[(&Policy, &str)]) -> Result<Vec<Decision>, LimitError> {
        let call = self.calls.fetch_add(1, Ordering::Relaxed);
        let member = format!("{}:{call}", self.instance);
        let mut connection = self.connection.clone();
        let mut invocation = self.script.prepare_invoke();
        for (policy, key) in checks {
            let period = u64::try_from(policy.period().as_micros()).unwrap_or(u64::MAX);
            invocation
                .key(self.redis_key(policy, key))
                .arg(policy.calls())
                .arg(period);
        }
        invocation.arg(member);
        // The response timeout covers a command on a live connection; this also bounds the
        // wait for a reconnection while Redis is away.
        let reply: Vec<i64> = tokio::time::timeout(
            self.response_timeout,
            invocation.invoke_async(&mut connection),
        )
        .await
        .map_err(|_| LimitError::TimedOut)?
        .map_err(LimitError::Unavailable)?;
        if reply.len() != checks.len() * 3 {
            return Err(LimitError::UnexpectedReply);
        }
        checks
            .iter()
            .zip(reply.chunks_exact(3))
            .map(|((policy, _), triple)| decode(policy.calls(), triple))
            .collect()
    }

    /// The Redis key that holds `key`'s log under `policy`: for an operator looking at Redis.
    pub fn redis_key(&self, policy: &Policy, key: &str) -> String {
        format!(
            "{}{}",
            self.key_prefix,
            KeyDigest::new(policy.name(), key).hex()
        )
    }
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RedisStore")
            .field("key_prefix", &self.key_prefix)
            .field("response_timeout", &self.response_timeout)
            .finish_non_exhaustive()
    }
}

fn decode(limit: u32, reply: &[i64]) -> Result<Decision, LimitError> {
    let micros = |value: i64| {
        u64::try_from(value)
            .map(Duration::from_micros)
            .map_err(|_| LimitError::UnexpectedReply)
    };
    match *reply {
        [1, remaining, reset_after] => Ok(Decision::Allowed {
            limit,
            remaining: u32::try_from(remaining)
                .ok()
                .filter(|&remaining| remaining < limit)
                .ok_or(LimitError::UnexpectedReply)?,
            reset_after: micros(reset_after)?,
        }),
        [0, retry_after, reset_after] => Ok(Decision::Refused {
            limit,
            retry_after: micros(retry_after)?,
            reset_after: micros(reset_after)?,
        }),
        _ => Err(LimitError::UnexpectedReply),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_never_prints_its_url() {
        let config = RedisConfig::new("redis://:hunter2@cache.internal:6379/0");
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2") && !printed.contains("cache.internal"));
        assert!(printed.contains("[redacted]"));
    }

    #[test]
    fn replies_decode_into_decisions_and_anything_else_is_refused() {
        assert_eq!(
            decode(10, &[1, 3, 300_000_000]).unwrap(),
            Decision::Allowed {
                limit: 10,
                remaining: 3,
                reset_after: Duration::from_secs(300),
            }
        );
        assert_eq!(
            decode(10, &[0, 1_500_001, 2_000_000]).unwrap(),
            Decision::Refused {
                limit: 10,
                retry_after: Duration::from_micros(1_500_001),
                reset_after: Duration::from_secs(2),
            }
        );
        for bad in [
            &[][..],
            &[1, 3],
            &[2, 0, 0],
            &[1, 10, 0],
            &[1, -1, 0],
            &[0, -5, 0],
            &[0, 1, 1, 1],
        ] {
            assert!(
                matches!(decode(10, bad), Err(LimitError::UnexpectedReply)),
                "{bad:?}"
            );
        }
    }
}
