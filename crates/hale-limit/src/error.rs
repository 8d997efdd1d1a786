//! `LimitError`: a check that could not be decided. Every variant is meant to become a 503:
//! the limiter fails closed, so an unreachable store never lets unlimited calls through.

/// A check that could not be decided. The HTTP edge answers 503 with a `Retry-After`; messages
/// carry no key (keys name people) and no Redis address.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// Redis could not be reached, timed out or failed the script. The call may or may not have
    /// been counted (a reply lost after the script ran counts it): never more than the policy
    /// allows, sometimes fewer.
    #[error("the rate-limit store is unavailable")]
    Unavailable(#[source] redis::RedisError),
    /// Redis did not answer within the response timeout (the same uncertainty as above).
    #[error("the rate-limit store did not answer in time")]
    TimedOut,
    /// Redis answered the script with something it never returns: a different script under the
    /// same hash, or a proxy in between rewriting replies.
    #[error("the rate-limit store answered unexpectedly")]
    UnexpectedReply,
    /// The Redis URL does not parse (the URL, which may hold a password, is not repeated).
    #[error("the rate-limit store's URL is not a Redis URL")]
    InvalidUrl,
    /// The operating system gave no randomness for this process's member names.
    #[error("no randomness for the rate-limit store")]
    NoRandomness,
    /// The memory store holds its most keys and none of them is idle: evicting an active one
    /// would forget calls still in its window.
    #[error("the rate-limit store is full")]
    Full,
}

impl LimitError {
    /// A stable code for logs and problem+json.
    pub fn code(&self) -> &'static str {
        match self {
            LimitError::Unavailable(_) => "limit_store_unavailable",
            LimitError::TimedOut => "limit_store_timed_out",
            LimitError::UnexpectedReply => "limit_store_unexpected_reply",
            LimitError::InvalidUrl => "limit_store_invalid_url",
            LimitError::NoRandomness => "limit_store_no_randomness",
            LimitError::Full => "limit_store_full",
        }
    }
}
