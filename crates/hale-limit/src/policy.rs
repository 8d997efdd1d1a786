//! A rate-limit policy: a name, a number of calls and the window they may fall in, validated,
//! with the configuration form `{ name = "patient", calls = 10, period = "5m" }`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The most calls one policy may allow per window.
pub const MAX_CALLS: u32 = 10_000;
/// The shortest window a policy may have.
pub const MIN_PERIOD: Duration = Duration::from_secs(1);
/// The longest window a policy may have.
pub const MAX_PERIOD: Duration = Duration::from_secs(24 * 60 * 60);
/// The longest policy name, in bytes.
pub const MAX_NAME_BYTES: usize = 64;

/// Why a policy, its name or its period was refused. Messages name the rule, never the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("a policy name is 1 to 64 of a-z, 0-9, '_' and '-'")]
    InvalidName,
    #[error("a policy allows 1 to 10000 calls per period")]
    CallsOutOfRange,
    #[error("a policy's period lies between 1 second and 24 hours")]
    PeriodOutOfRange,
    #[error("a policy's period is a whole number of seconds")]
    PeriodNotWholeSeconds,
    #[error("a period is written as numbers with units s, m or h, such as 30s, 5m or 1h30m")]
    InvalidDuration,
}

/// A policy's name: 1 to 64 of `[a-z0-9_-]`, so it can stand in a header's quoted string and
/// in a Redis key without escaping.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyName(String);

impl PolicyName {
    pub fn parse(name: &str) -> Result<Self, PolicyError> {
        let allowed = |byte: u8| matches!(byte, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-');
        if name.is_empty() || name.len() > MAX_NAME_BYTES || !name.bytes().all(allowed) {
            return Err(PolicyError::InvalidName);
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PolicyName {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// At most `calls` accepted calls per key in any window of length `period`. The period is a
/// whole number of seconds, since the `w` of `RateLimit-Policy` is one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "PolicyConfig", into = "PolicyConfig")]
pub struct Policy {
    name: PolicyName,
    calls: u32,
    period: Duration,
}

impl Policy {
    pub fn new(name: PolicyName, calls: u32, period: Duration) -> Result<Self, PolicyError> {
        if !(1..=MAX_CALLS).contains(&calls) {
            return Err(PolicyError::CallsOutOfRange);
        }
        if !(MIN_PERIOD..=MAX_PERIOD).contains(&period) {
            return Err(PolicyError::PeriodOutOfRange);
        }
        if period.subsec_nanos() != 0 {
            return Err(PolicyError::PeriodNotWholeSeconds);
        }
        Ok(Self {
            name,
            calls,
            period,
        })
    }

    pub fn name(&self) -> &PolicyName {
        &self.name
    }

    pub fn calls(&self) -> u32 {
        self.calls
    }

    pub fn period(&self) -> Duration {
        self.period
    }
}

/// The configuration form of a [`Policy`]; unknown keys are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    pub name: String,
    pub calls: u32,
    /// Such as `30s`, `5m`, `1h` or `1h30m`.
    pub period: String,
}

impl TryFrom<PolicyConfig> for Policy {
    type Error = PolicyError;

    fn try_from(config: PolicyConfig) -> Result<Self, Self::Error> {
        let name = PolicyName::parse(&config.name)?;
        Policy::new(name, config.calls, parse_period(&config.period)?)
    }
}

impl From<Policy> for PolicyConfig {
    fn from(policy: Policy) -> Self {
        Self {
            name: policy.name.0,
            calls: policy.calls,
            period: format_period(policy.period),
        }
    }
}

/// Reads a period written as one or more `<number><unit>` parts, units `h`, `m`, `s` in that
/// order, each at most once (`30s`, `5m`, `1h30m`). Only the range of a [`Policy`] is
/// representable: anything past 24 hours is refused here already.
pub fn parse_period(text: &str) -> Result<Duration, PolicyError> {
    const UNITS: [(u8, u64); 3] = [(b'h', 3600), (b'm', 60), (b's', 1)];
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return Err(PolicyError::InvalidDuration);
    }
    let mut seconds: u64 = 0;
    let mut next_unit = 0;
    let mut position = 0;
    while position < bytes.len() {
        let start = position;
        while position < bytes.len() && bytes[position].is_ascii_digit() {
            position += 1;
        }
        // Ten digits hold any number a valid period needs, and cannot overflow below.
        if position == start || position - start > 10 || position == bytes.len() {
            return Err(PolicyError::InvalidDuration);
        }
        let mut value: u64 = 0;
        for digit in &bytes[start..position] {
            value = value * 10 + u64::from(digit - b'0');
        }
        let unit = bytes[position];
        let Some(offset) = UNITS[next_unit..]
            .iter()
            .position(|(name, _)| *name == unit)
        else {
            return Err(PolicyError::InvalidDuration);
        };
        seconds += value * UNITS[next_unit + offset].1;
        if seconds > MAX_PERIOD.as_secs() {
            return Err(PolicyError::PeriodOutOfRange);
        }
        next_unit += offset + 1;
        position += 1;
    }
    Ok(Duration::from_secs(seconds))
}

/// Writes a whole-second period in the form [`parse_period`] reads, largest units first
/// (`300 s` → `5m`, `5400 s` → `1h30m`, `0 s` → `0s`).
pub fn format_period(period: Duration) -> String {
    let total = period.as_secs();
    let (hours, minutes, seconds) = (total / 3600, total % 3600 / 60, total % 60);
    let mut text = String::new();
    for (value, unit) in [(hours, 'h'), (minutes, 'm'), (seconds, 's')] {
        if value > 0 {
            text.push_str(&value.to_string());
            text.push(unit);
        }
    }
    if text.is_empty() {
        text.push_str("0s");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn name(text: &str) -> PolicyName {
        PolicyName::parse(text).unwrap()
    }

    #[test]
    fn names_are_lower_case_ascii_digits_underscore_and_dash() {
        for good in ["patient", "a", "sign-in_2", &"x".repeat(64)] {
            assert_eq!(PolicyName::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", "Patient", "a b", "a:b", "é", "a\"b", &"x".repeat(65)] {
            assert_eq!(
                PolicyName::parse(bad),
                Err(PolicyError::InvalidName),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn calls_and_period_are_bounded() {
        let policy = |calls, seconds| Policy::new(name("p"), calls, Duration::from_secs(seconds));
        assert!(policy(1, 1).is_ok());
        assert!(policy(10_000, 86_400).is_ok());
        assert_eq!(policy(0, 60), Err(PolicyError::CallsOutOfRange));
        assert_eq!(policy(10_001, 60), Err(PolicyError::CallsOutOfRange));
        assert_eq!(policy(10, 0), Err(PolicyError::PeriodOutOfRange));
        assert_eq!(policy(10, 86_401), Err(PolicyError::PeriodOutOfRange));
        assert_eq!(
            Policy::new(name("p"), 10, Duration::from_millis(1500)),
            Err(PolicyError::PeriodNotWholeSeconds)
        );
    }

    #[test]
    fn periods_read_hours_minutes_and_seconds() {
        for (text, seconds) in [
            ("30s", 30),
            ("5m", 300),
            ("1h", 3600),
            ("1h30m", 5400),
            ("2m5s", 125),
            ("1h0m1s", 3601),
            ("24h", 86_400),
            ("0s", 0),
            ("0010s", 10),
        ] {
            assert_eq!(
                parse_period(text),
                Ok(Duration::from_secs(seconds)),
                "{text}"
            );
        }
        for bad in [
            "", "5", "m", "5x", "5 m", " 5m", "5m ", "-5m", "1.5m", "5s1m", "1m1m", "5M", "1d",
            "5ms",
        ] {
            assert_eq!(
                parse_period(bad),
                Err(PolicyError::InvalidDuration),
                "{bad:?}"
            );
        }
        assert_eq!(parse_period("25h"), Err(PolicyError::PeriodOutOfRange));
        assert_eq!(
            parse_period("9999999999h"),
            Err(PolicyError::PeriodOutOfRange)
        );
        assert_eq!(
            parse_period("99999999999s"),
            Err(PolicyError::InvalidDuration)
        );
    }

    #[test]
    fn the_configuration_form_reads_and_writes_a_policy() {
        let policy: Policy =
            toml::from_str("name = \"patient\"\ncalls = 10\nperiod = \"5m\"\n").unwrap();
        assert_eq!(policy.name().as_str(), "patient");
        assert_eq!(policy.calls(), 10);
        assert_eq!(policy.period(), Duration::from_secs(300));
        assert_eq!(
            toml::to_string(&policy).unwrap(),
            "name = \"patient\"\ncalls = 10\nperiod = \"5m\"\n"
        );
        let unknown = toml::from_str::<Policy>("name = \"p\"\ncalls = 1\nperiod = \"1s\"\nx = 1\n");
        assert!(unknown.is_err());
        let invalid = toml::from_str::<Policy>("name = \"p\"\ncalls = 0\nperiod = \"1s\"\n");
        assert!(
            invalid
                .unwrap_err()
                .to_string()
                .contains("1 to 10000 calls")
        );
    }

    proptest! {
        #[test]
        fn every_period_in_range_survives_writing_and_reading(seconds in 0u64..=86_400) {
            let period = Duration::from_secs(seconds);
            prop_assert_eq!(parse_period(&format_period(period)), Ok(period));
        }

        #[test]
        fn reading_any_text_never_panics_and_stays_in_range(text in "[0-9hms ]{0,24}|\\PC{0,24}") {
            if let Ok(period) = parse_period(&text) {
                prop_assert!(period <= MAX_PERIOD);
                prop_assert!(text.bytes().all(|b| b.is_ascii_digit() || b"hms".contains(&b)));
            }
        }

        #[test]
        fn a_name_is_accepted_exactly_when_it_matches_the_pattern(text in "[a-z0-9_\\-A-Z: ]{0,70}") {
            let matches = (1..=64).contains(&text.len())
                && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
            prop_assert_eq!(PolicyName::parse(&text).is_ok(), matches);
        }
    }
}
