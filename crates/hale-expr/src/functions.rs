//! The XLSForm functions over repeats, choices, dates and randomness: `count`, `sum`, `max`,
//! `min`, `indexed-repeat`, `once`, `jr:choice-name`, `format-date`, `decimal-date-time`,
//! `boolean-from-string`, `uuid` and `random`, each as the ODK XPath functions define it.

use crate::calendar::{civil_from_days, local_millis};
use crate::value::{DateTimeValue, Value};

/// `sum` of a node set: every node read as a number, so one empty node makes it NaN, as in
/// XPath.
pub(crate) fn sum(nodes: &[Value]) -> Value {
    Value::Number(nodes.iter().map(Value::as_number).sum())
}

/// `max` / `min` over nodes: NaN when there are none or any is not a number (ODK's rule).
pub(crate) fn extreme(nodes: &[Value], largest: bool) -> Value {
    let mut numbers = nodes.iter().map(Value::as_number);
    let Some(first) = numbers.next() else {
        return Value::Number(f64::NAN);
    };
    let result = numbers.try_fold(first, |best, number| {
        if number.is_nan() || best.is_nan() {
            None
        } else if largest {
            Some(best.max(number))
        } else {
            Some(best.min(number))
        }
    });
    Value::Number(result.filter(|number| !number.is_nan()).unwrap_or(f64::NAN))
}

/// `boolean-from-string(s)`: true exactly for `true` and `1`.
pub(crate) fn boolean_from_string(value: &Value) -> Value {
    Value::Bool(matches!(value.as_string().trim(), "true" | "1"))
}

/// `decimal-date-time(x)`: days since 1970-01-01 with the time of day as a fraction, on the
/// value's own wall clock; unanswered or unreadable values give NaN.
pub(crate) fn decimal_date_time(value: &Value) -> Value {
    match value {
        Value::String(text) => match DateTimeValue::parse_rfc3339(text.trim()) {
            Some(datetime) => Value::Number(datetime.local_days()),
            None => Value::Number(value.as_number()),
        },
        other => Value::Number(other.as_number()),
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

/// `format-date(value, format)` with ODK's directives: `%Y` `%y` `%m` `%n` `%b` `%d` `%e`
/// `%a` `%H` `%h` `%M` `%S` `%3`; anything else is copied. An unanswered or unreadable
/// value gives `""`.
pub(crate) fn format_date(value: &Value, format: &str) -> Value {
    let millis = match value {
        Value::Date(date) => date.days_since_epoch().saturating_mul(86_400_000),
        Value::DateTime(datetime) => {
            local_millis(datetime.unix_millis(), datetime.offset_minutes())
        }
        Value::String(text) => {
            let text = text.trim();
            if let Some(date) = crate::value::DateValue::parse(text) {
                date.days_since_epoch().saturating_mul(86_400_000)
            } else if let Some(datetime) = DateTimeValue::parse_rfc3339(text) {
                local_millis(datetime.unix_millis(), datetime.offset_minutes())
            } else {
                return Value::String(String::new());
            }
        }
        _ => return Value::String(String::new()),
    };
    let days = millis.div_euclid(86_400_000);
    let of_day = millis.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute) = (of_day / 3_600_000, of_day / 60_000 % 60);
    let (second, milli) = (of_day / 1000 % 60, of_day % 1000);
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(character) = chars.next() {
        if character != '%' {
            out.push(character);
            continue;
        }
        let month_index = (month as usize).saturating_sub(1).min(11);
        let weekday = WEEKDAYS[days.rem_euclid(7) as usize];
        match chars.next() {
            Some('Y') => out.push_str(&format!("{year:04}")),
            Some('y') => out.push_str(&format!("{:02}", year.rem_euclid(100))),
            Some('m') => out.push_str(&format!("{month:02}")),
            Some('n') => out.push_str(&month.to_string()),
            Some('b') => out.push_str(MONTHS[month_index]),
            Some('d') => out.push_str(&format!("{day:02}")),
            Some('e') => out.push_str(&day.to_string()),
            Some('a') => out.push_str(weekday),
            Some('H') => out.push_str(&format!("{hour:02}")),
            Some('h') => out.push_str(&hour.to_string()),
            Some('M') => out.push_str(&format!("{minute:02}")),
            Some('S') => out.push_str(&format!("{second:02}")),
            Some('3') => out.push_str(&format!("{milli:03}")),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    Value::String(out)
}

/// FNV-1a, 64 bits: a fixed, portable hash the browser computes identically.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// SplitMix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The `draw`-th 64-bit number for a call `site` (field name and row) under the
/// submission's `seed`: `mix(fnv1a(seed + "\n" + site) + draw)`.
pub fn seeded_draw(seed: &str, site: &str, draw: u64) -> u64 {
    mix(fnv1a(&format!("{seed}\n{site}")).wrapping_add(draw))
}

/// `random()`: uniform in [0, 1) from the top 53 bits of draw 0, so the server and the
/// browser compute the same number for one submission.
pub fn seeded_random(seed: &str, site: &str) -> f64 {
    (seeded_draw(seed, site, 0) >> 11) as f64 / (1_u64 << 53) as f64
}

/// `uuid()`: a version 4 UUID from draws 1 and 2 of the same sequence.
pub fn seeded_uuid(seed: &str, site: &str) -> String {
    let high = seeded_draw(seed, site, 1);
    let low = seeded_draw(seed, site, 2);
    let high = (high & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
    let low = (low & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xffff,
        low >> 48,
        low & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_values_are_fixed_by_seed_and_site() {
        let first = seeded_random("s1", "q");
        assert!((0.0..1.0).contains(&first));
        assert_eq!(first, seeded_random("s1", "q"));
        assert_ne!(first, seeded_random("s2", "q"));
        assert_ne!(first, seeded_random("s1", "r#1"));
        let uuid = seeded_uuid("s1", "q");
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
        assert!(matches!(&uuid[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(fnv1a(""), 0xcbf2_9ce4_8422_2325);
    }

    #[test]
    fn extremes_follow_odk() {
        let numbers = [Value::Number(3.0), Value::String("7".into())];
        assert!(extreme(&numbers, true).same_as(&Value::Number(7.0)));
        assert!(extreme(&numbers, false).same_as(&Value::Number(3.0)));
        assert!(extreme(&[], true).as_number().is_nan());
        assert!(
            extreme(&[Value::Null, Value::Number(1.0)], true)
                .as_number()
                .is_nan()
        );
    }
}
