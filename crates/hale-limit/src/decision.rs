//! What a check decided, and the `RateLimit-Policy`, `RateLimit` and `Retry-After` header
//! values it gives (draft-ietf-httpapi-ratelimit-headers, the structured-field form of its
//! revisions 08 to 10: `"name";q=10;w=300` and `"name";r=3;t=42`).

use std::time::Duration;

use crate::policy::Policy;

/// The outcome of one check. `reset_after` is how long until the full quota is back, i.e. until
/// the newest call counted in the window leaves it; `retry_after` how long until the next call
/// would be accepted, i.e. until the oldest call still blocking it leaves the window. Both are
/// exact, not rounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The call is counted; `remaining` more may follow at once.
    Allowed {
        limit: u32,
        remaining: u32,
        reset_after: Duration,
    },
    /// The call is not counted: refused calls consume no quota.
    Refused {
        limit: u32,
        retry_after: Duration,
        reset_after: Duration,
    },
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }

    pub fn limit(&self) -> u32 {
        match *self {
            Decision::Allowed { limit, .. } | Decision::Refused { limit, .. } => limit,
        }
    }

    pub fn remaining(&self) -> u32 {
        match *self {
            Decision::Allowed { remaining, .. } => remaining,
            Decision::Refused { .. } => 0,
        }
    }

    pub fn reset_after(&self) -> Duration {
        match *self {
            Decision::Allowed { reset_after, .. } | Decision::Refused { reset_after, .. } => {
                reset_after
            }
        }
    }

    /// `None` when allowed; when refused, the exact wait before a call would be accepted.
    pub fn retry_after(&self) -> Option<Duration> {
        match *self {
            Decision::Allowed { .. } => None,
            Decision::Refused { retry_after, .. } => Some(retry_after),
        }
    }

    /// The `Retry-After` value in seconds for a refusal: rounded up (a client that waits that
    /// long is accepted) and at least 1 (`Retry-After: 0` invites a busy loop).
    pub fn retry_after_seconds(&self) -> Option<u64> {
        self.retry_after()
            .map(|wait| seconds_rounded_up(wait).max(1))
    }

    /// The header values an HTTP edge sends for this decision under `policy`.
    pub fn headers(&self, policy: &Policy) -> RateLimitHeaders {
        RateLimitHeaders {
            rate_limit_policy: rate_limit_policy(policy),
            rate_limit: format!(
                "\"{}\";r={};t={}",
                policy.name(),
                self.remaining(),
                seconds_rounded_up(self.reset_after())
            ),
            retry_after: self
                .retry_after_seconds()
                .map(|seconds| seconds.to_string()),
        }
    }
}

/// Header values, ready for `HeaderValue::from_str` (printable ASCII only: policy names are
/// `[a-z0-9_-]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitHeaders {
    /// `RateLimit-Policy`, such as `"patient";q=10;w=300`.
    pub rate_limit_policy: String,
    /// `RateLimit`, such as `"patient";r=3;t=42`; `t` is rounded up to whole seconds.
    pub rate_limit: String,
    /// `Retry-After` in seconds, only on a refusal.
    pub retry_after: Option<String>,
}

/// The `RateLimit-Policy` value for `policy`: its name, quota `q` and window `w` in seconds.
pub fn rate_limit_policy(policy: &Policy) -> String {
    format!(
        "\"{}\";q={};w={}",
        policy.name(),
        policy.calls(),
        policy.period().as_secs()
    )
}

fn seconds_rounded_up(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PolicyName;

    fn patient() -> Policy {
        Policy::new(
            PolicyName::parse("patient").unwrap(),
            10,
            Duration::from_secs(300),
        )
        .unwrap()
    }

    #[test]
    fn an_allowed_call_renders_policy_and_remaining_quota() {
        let decision = Decision::Allowed {
            limit: 10,
            remaining: 3,
            reset_after: Duration::from_millis(41_200),
        };
        let headers = decision.headers(&patient());
        assert_eq!(headers.rate_limit_policy, "\"patient\";q=10;w=300");
        assert_eq!(headers.rate_limit, "\"patient\";r=3;t=42");
        assert_eq!(headers.retry_after, None);
        assert_eq!(decision.retry_after_seconds(), None);
    }

    #[test]
    fn a_refusal_renders_no_remaining_quota_and_a_retry_after_rounded_up() {
        let decision = Decision::Refused {
            limit: 10,
            retry_after: Duration::from_micros(12_000_001),
            reset_after: Duration::from_secs(290),
        };
        let headers = decision.headers(&patient());
        assert_eq!(headers.rate_limit, "\"patient\";r=0;t=290");
        assert_eq!(headers.retry_after.as_deref(), Some("13"));
    }

    #[test]
    fn retry_after_is_at_least_one_second() {
        for (wait, seconds) in [
            (Duration::from_nanos(1), 1),
            (Duration::ZERO, 1),
            (Duration::from_secs(1), 1),
            (Duration::from_nanos(1_000_000_001), 2),
            (Duration::from_secs(300), 300),
        ] {
            let decision = Decision::Refused {
                limit: 1,
                retry_after: wait,
                reset_after: wait,
            };
            assert_eq!(decision.retry_after_seconds(), Some(seconds), "{wait:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn retry_after_seconds_never_promise_a_call_too_early(nanos in 0u64..=86_400_000_000_000) {
            let wait = Duration::from_nanos(nanos);
            let decision = Decision::Refused { limit: 1, retry_after: wait, reset_after: wait };
            let seconds = decision.retry_after_seconds().unwrap();
            proptest::prop_assert!(seconds >= 1);
            proptest::prop_assert!(Duration::from_secs(seconds) >= wait);
            proptest::prop_assert!(seconds == 1 || Duration::from_secs(seconds - 1) < wait);
            let t: u64 = decision.headers(&patient()).rate_limit.rsplit("t=").next().unwrap().parse().unwrap();
            proptest::prop_assert!(Duration::from_secs(t) >= wait && (t == 0 || Duration::from_secs(t - 1) < wait));
        }
    }

    #[test]
    fn accessors_agree_with_the_variant() {
        let allowed = Decision::Allowed {
            limit: 5,
            remaining: 4,
            reset_after: Duration::from_secs(9),
        };
        assert!(allowed.is_allowed());
        assert_eq!(
            (allowed.limit(), allowed.remaining(), allowed.retry_after()),
            (5, 4, None)
        );
        let refused = Decision::Refused {
            limit: 5,
            retry_after: Duration::from_secs(2),
            reset_after: Duration::from_secs(9),
        };
        assert!(!refused.is_allowed());
        assert_eq!(refused.remaining(), 0);
        assert_eq!(refused.retry_after(), Some(Duration::from_secs(2)));
        assert_eq!(refused.reset_after(), Duration::from_secs(9));
    }
}
