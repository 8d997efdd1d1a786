//! Runtime values of the expression language, their XPath-style coercions, and their plain
//! JSON encoding (shared with the browser evaluator and the test vectors).

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::json;

use crate::calendar;

/// A calendar date without a time zone, as days since 1970-01-01, within years 0001–9999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateValue {
    days: i64,
}

impl DateValue {
    /// `None` outside years 0001–9999.
    pub fn from_days(days: i64) -> Option<Self> {
        (calendar::min_days()..=calendar::max_days())
            .contains(&days)
            .then_some(Self { days })
    }

    /// `None` for an impossible date or a year outside 0001–9999.
    pub fn from_ymd(year: i64, month: u32, day: u32) -> Option<Self> {
        Self::parse(&format!("{year:04}-{month:02}-{day:02}"))
    }

    /// Parses exactly `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Option<Self> {
        calendar::parse_date(text).and_then(Self::from_days)
    }

    pub fn days_since_epoch(self) -> i64 {
        self.days
    }
}

impl fmt::Display for DateValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&calendar::format_date(self.days))
    }
}

/// An instant with millisecond precision plus the UTC offset of the wall clock it was read
/// from. The offset decides which calendar day `today()` is and how the value prints; two
/// date-times compare by instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateTimeValue {
    unix_millis: i64,
    offset_minutes: i32,
}

impl DateTimeValue {
    /// `None` when the offset exceeds ±23:59 or the local date falls outside years 0001–9999.
    pub fn new(unix_millis: i64, offset_minutes: i32) -> Option<Self> {
        if offset_minutes.abs() > calendar::MAX_OFFSET_MINUTES {
            return None;
        }
        let local = unix_millis.checked_add(i64::from(offset_minutes) * 60_000)?;
        DateValue::from_days(local.div_euclid(calendar::MILLIS_PER_DAY))?;
        Some(Self {
            unix_millis,
            offset_minutes,
        })
    }

    /// Parses RFC 3339 with a required offset, e.g. `2026-01-31T08:00:00Z` or
    /// `2026-01-31T10:00:00.250+02:00`.
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let (unix_millis, offset_minutes) = calendar::parse_datetime(text)?;
        Self::new(unix_millis, offset_minutes)
    }

    pub fn unix_millis(self) -> i64 {
        self.unix_millis
    }

    pub fn offset_minutes(self) -> i32 {
        self.offset_minutes
    }

    /// The calendar date on the wall clock of this value's offset.
    pub fn local_date(self) -> DateValue {
        let local = calendar::local_millis(self.unix_millis, self.offset_minutes);
        DateValue {
            days: local.div_euclid(calendar::MILLIS_PER_DAY),
        }
    }

    /// Wall-clock days since 1970-01-01, with the time of day as the fraction; this is what a
    /// date-time becomes in arithmetic and when compared with a date.
    pub fn local_days(self) -> f64 {
        calendar::local_millis(self.unix_millis, self.offset_minutes) as f64
            / calendar::MILLIS_PER_DAY as f64
    }
}

impl fmt::Display for DateTimeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&calendar::format_datetime(
            self.unix_millis,
            self.offset_minutes,
        ))
    }
}

/// A value an expression reads or produces. `Null` is an unanswered question.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Date(DateValue),
    DateTime(DateTimeValue),
    /// The choices of a select_multiple, in answer order.
    Multi(Vec<String>),
}

impl Value {
    /// A select_multiple answer from its submission form: choice values separated by spaces.
    pub fn multi_from_wire(text: &str) -> Self {
        Self::Multi(text.split_whitespace().map(String::from).collect())
    }

    /// XPath `boolean()`: false for unanswered, `false`, zero, NaN, the empty string and an
    /// empty selection; true for everything else, including the string `"false"`.
    pub fn truthy(&self) -> bool {
        match self {
            Self::Null => false,
            Self::Bool(flag) => *flag,
            Self::Number(number) => *number != 0.0 && !number.is_nan(),
            Self::String(text) => !text.is_empty(),
            Self::Date(_) | Self::DateTime(_) => true,
            Self::Multi(choices) => !choices.is_empty(),
        }
    }

    /// XPath `number()`: NaN for unanswered and for text that is not a plain decimal; dates
    /// become days since 1970-01-01 and date-times fractional wall-clock days.
    pub fn as_number(&self) -> f64 {
        match self {
            Self::Null => f64::NAN,
            Self::Bool(flag) => f64::from(u8::from(*flag)),
            Self::Number(number) => *number,
            Self::String(text) => parse_xpath_number(text),
            Self::Date(date) => date.days_since_epoch() as f64,
            Self::DateTime(datetime) => datetime.local_days(),
            Self::Multi(_) => parse_xpath_number(&self.as_string()),
        }
    }

    /// XPath `string()`: empty for unanswered; numbers without exponent; dates as
    /// `YYYY-MM-DD`; date-times as RFC 3339 with milliseconds; selections space-separated.
    pub fn as_string(&self) -> String {
        match self {
            Self::Null => String::new(),
            Self::Bool(flag) => flag.to_string(),
            Self::Number(number) => format_number(*number),
            Self::String(text) => text.clone(),
            Self::Date(date) => date.to_string(),
            Self::DateTime(datetime) => datetime.to_string(),
            Self::Multi(choices) => choices.join(" "),
        }
    }

    /// Unanswered, the empty string, or an empty selection: what `coalesce` skips.
    pub fn is_empty(&self) -> bool {
        match self {
            Self::Null => true,
            Self::String(text) => text.is_empty(),
            Self::Multi(choices) => choices.is_empty(),
            _ => false,
        }
    }

    /// The chosen values, reading any non-selection value as its space-separated string.
    pub fn choices(&self) -> Vec<String> {
        match self {
            Self::Multi(choices) => choices.clone(),
            other => other
                .as_string()
                .split_whitespace()
                .map(String::from)
                .collect(),
        }
    }

    /// Equality that treats NaN as equal to itself (and, like JSON, 0 as equal to -0), for
    /// tests and caches.
    pub fn same_as(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Number(left), Self::Number(right)) => {
                (left.is_nan() && right.is_nan()) || left == right
            }
            _ => self == other,
        }
    }

    /// The plain JSON encoding described in the crate documentation.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Null => serde_json::Value::Null,
            Self::Bool(flag) => json!(flag),
            Self::Number(number) if number.is_finite() => json!(number),
            Self::Number(number) => json!({ "number": format_number(*number) }),
            Self::String(text) => json!(text),
            Self::Date(date) => json!({ "date": date.to_string() }),
            Self::DateTime(datetime) => json!({ "datetime": datetime.to_string() }),
            Self::Multi(choices) => json!({ "multi": choices }),
        }
    }

    /// Reads the plain JSON encoding described in the crate documentation.
    pub fn from_json(json: &serde_json::Value) -> Result<Self, String> {
        match json {
            serde_json::Value::Null => Ok(Self::Null),
            serde_json::Value::Bool(flag) => Ok(Self::Bool(*flag)),
            serde_json::Value::Number(number) => number
                .as_f64()
                .map(Self::Number)
                .ok_or_else(|| format!("number {number} is not representable")),
            serde_json::Value::String(text) => Ok(Self::String(text.clone())),
            serde_json::Value::Object(object) if object.len() == 1 => {
                let (key, inner) = object.iter().next().ok_or("empty object")?;
                match (key.as_str(), inner) {
                    ("date", serde_json::Value::String(text)) => DateValue::parse(text)
                        .map(Self::Date)
                        .ok_or_else(|| format!("invalid date {text:?}")),
                    ("datetime", serde_json::Value::String(text)) => {
                        DateTimeValue::parse_rfc3339(text)
                            .map(Self::DateTime)
                            .ok_or_else(|| format!("invalid date-time {text:?}"))
                    }
                    ("number", serde_json::Value::String(text)) => match text.as_str() {
                        "NaN" => Ok(Self::Number(f64::NAN)),
                        "Infinity" => Ok(Self::Number(f64::INFINITY)),
                        "-Infinity" => Ok(Self::Number(f64::NEG_INFINITY)),
                        other => Err(format!("invalid special number {other:?}")),
                    },
                    ("multi", serde_json::Value::Array(items)) => items
                        .iter()
                        .map(|item| {
                            item.as_str()
                                .map(String::from)
                                .ok_or_else(|| String::from("multi choices must be strings"))
                        })
                        .collect::<Result<Vec<_>, _>>()
                        .map(Self::Multi),
                    _ => Err(format!("unknown value object with key {key:?}")),
                }
            }
            other => Err(format!("not a value encoding: {other}")),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = serde_json::Value::deserialize(deserializer)?;
        Self::from_json(&json).map_err(D::Error::custom)
    }
}

impl Serialize for DateTimeValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for DateTimeValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse_rfc3339(&text)
            .ok_or_else(|| D::Error::custom(format!("invalid RFC 3339 date-time {text:?}")))
    }
}

/// XPath 1.0 `number(string)`: optional surrounding whitespace, an optional minus, digits
/// with an optional fraction. No plus sign, exponent, `Infinity` or hex; anything else is NaN.
pub(crate) fn parse_xpath_number(text: &str) -> f64 {
    let trimmed = text.trim_matches([' ', '\t', '\n', '\r']);
    let unsigned = trimmed.strip_prefix('-').unwrap_or(trimmed);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let all_digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    let has_digit = !whole.is_empty() || !fraction.is_empty();
    if !has_digit || !all_digits(whole) || !all_digits(fraction) {
        return f64::NAN;
    }
    trimmed.parse().unwrap_or(f64::NAN)
}

/// XPath 1.0 number-to-string: `NaN`, `Infinity`, `-Infinity`, integers without a decimal
/// point, otherwise the shortest decimal that reads back to the same number, never with an
/// exponent. Negative zero prints as `0`.
pub fn format_number(number: f64) -> String {
    if number.is_nan() {
        String::from("NaN")
    } else if number.is_infinite() {
        String::from(if number > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        })
    } else if number == 0.0 {
        String::from("0")
    } else {
        // Rust's Display for f64 is shortest-round-trip and never uses an exponent.
        format!("{number}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_like_xpath() {
        assert_eq!(parse_xpath_number(" 42 "), 42.0);
        assert_eq!(parse_xpath_number("-1.5"), -1.5);
        assert_eq!(parse_xpath_number(".5"), 0.5);
        assert_eq!(parse_xpath_number("5."), 5.0);
        for not_a_number in [
            "", " ", "-", ".", "+1", "1e3", "inf", "NaN", "0x10", "1 2", "--1",
        ] {
            assert!(
                parse_xpath_number(not_a_number).is_nan(),
                "{not_a_number:?}"
            );
        }
    }

    #[test]
    fn numbers_format_like_xpath() {
        assert_eq!(format_number(3.0), "3");
        assert_eq!(format_number(-0.0), "0");
        assert_eq!(format_number(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_number(1e21), "1000000000000000000000");
        assert_eq!(format_number(1.5e-7), "0.00000015");
        assert_eq!(format_number(f64::NAN), "NaN");
        assert_eq!(format_number(f64::NEG_INFINITY), "-Infinity");
    }

    #[test]
    fn coercions_follow_xpath() {
        assert!(!Value::Null.truthy());
        assert!(Value::String(String::from("false")).truthy());
        assert!(!Value::Number(f64::NAN).truthy());
        assert!(Value::Null.as_number().is_nan());
        assert_eq!(Value::Bool(true).as_number(), 1.0);
        let date = DateValue::parse("1970-01-11").unwrap();
        assert_eq!(Value::Date(date).as_number(), 10.0);
        assert_eq!(Value::multi_from_wire(" a  b ").as_string(), "a b");
        assert_eq!(Value::Multi(vec![String::from("7")]).as_number(), 7.0);
    }

    #[test]
    fn json_encoding_round_trips() {
        let values = [
            Value::Null,
            Value::Bool(false),
            Value::Number(2.5),
            Value::Number(f64::NAN),
            Value::Number(f64::NEG_INFINITY),
            Value::String(String::from("x")),
            Value::Date(DateValue::parse("2026-01-31").unwrap()),
            Value::DateTime(DateTimeValue::parse_rfc3339("2026-01-31T08:00:00-03:30").unwrap()),
            Value::multi_from_wire("a b"),
        ];
        for value in values {
            let text = serde_json::to_string(&value).unwrap();
            let back: Value = serde_json::from_str(&text).unwrap();
            assert!(back.same_as(&value), "{text}");
        }
        assert_eq!(
            serde_json::to_string(&Value::Date(DateValue::from_days(0).unwrap())).unwrap(),
            r#"{"date":"1970-01-01"}"#
        );
        assert!(serde_json::from_str::<Value>(r#"{"date":"2026-02-30"}"#).is_err());
        assert!(serde_json::from_str::<Value>("[1]").is_err());
    }

    #[test]
    fn datetimes_reject_out_of_range() {
        assert!(DateTimeValue::new(0, 24 * 60).is_none());
        assert!(DateTimeValue::new(i64::MAX, 0).is_none());
        assert!(DateValue::from_days(calendar::max_days() + 1).is_none());
        let late = DateTimeValue::parse_rfc3339("2026-01-31T23:30:00-01:00").unwrap();
        assert_eq!(late.local_date().to_string(), "2026-01-31");
    }
}
