//! Time, injected. Domain code never reads the system clock; callers pass a [`Clock`].

use std::fmt;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// An instant with microsecond precision, stored as microseconds since the Unix epoch (UTC).
/// Microseconds are what both SQLite and PostgreSQL keep exactly.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// A timestamp that is not RFC 3339 or lies outside the supported range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not an RFC 3339 date-time with offset (e.g. 2026-01-31T08:00:00Z)")]
pub struct InvalidTimestamp;

impl Timestamp {
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub const fn as_micros(self) -> i64 {
        self.0
    }

    pub fn from_datetime(datetime: OffsetDateTime) -> Self {
        let nanos = datetime.unix_timestamp_nanos();
        Self((nanos / 1_000) as i64)
    }

    pub fn to_datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// Parses an RFC 3339 date-time; the offset is required so that no instant is ambiguous.
    pub fn parse_rfc3339(text: &str) -> Result<Self, InvalidTimestamp> {
        OffsetDateTime::parse(text, &Rfc3339)
            .map(Self::from_datetime)
            .map_err(|_| InvalidTimestamp)
    }

    pub fn to_rfc3339(self) -> String {
        self.to_datetime()
            .format(&Rfc3339)
            .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
    }

    pub const fn plus_micros(self, micros: i64) -> Self {
        Self(self.0.saturating_add(micros))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// The source of "now". Production uses the system clock; tests use a fixed or stepping one.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_at_microsecond_precision() {
        let ts = Timestamp::parse_rfc3339("2026-03-01T07:30:15.123456Z").unwrap();
        assert_eq!(ts.to_rfc3339(), "2026-03-01T07:30:15.123456Z");
        assert_eq!(Timestamp::parse_rfc3339(&ts.to_rfc3339()), Ok(ts));
    }

    #[test]
    fn offsets_are_normalised_to_utc() {
        let a = Timestamp::parse_rfc3339("2026-03-01T09:30:00+02:00").unwrap();
        let b = Timestamp::parse_rfc3339("2026-03-01T07:30:00Z").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn a_date_without_offset_is_rejected() {
        assert_eq!(
            Timestamp::parse_rfc3339("2026-03-01T07:30:00"),
            Err(InvalidTimestamp)
        );
        assert_eq!(Timestamp::parse_rfc3339("yesterday"), Err(InvalidTimestamp));
    }
}
