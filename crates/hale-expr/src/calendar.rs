//! Calendar arithmetic and the two text forms of time that Hale accepts (`YYYY-MM-DD` and
//! RFC 3339 date-times). Written out by hand, without a date library, so that the browser
//! evaluator can mirror every rule line for line.

pub(crate) const MILLIS_PER_DAY: i64 = 86_400_000;
const MILLIS_PER_MINUTE: i64 = 60_000;

/// Supported years. Four-digit years keep the text forms fixed-width and unambiguous.
pub(crate) const MIN_YEAR: i64 = 1;
pub(crate) const MAX_YEAR: i64 = 9999;

/// The largest UTC offset accepted, in minutes (±23:59).
pub(crate) const MAX_OFFSET_MINUTES: i32 = 23 * 60 + 59;

/// Days since 1970-01-01 of a proleptic Gregorian date (month 1–12, day 1–31).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    // Counting years from March puts the leap day at the end of the year, which turns the
    // day-of-year into a closed formula.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let month_from_march = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The (year, month, day) of a count of days since 1970-01-01; inverse of [`days_from_civil`].
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

pub(crate) fn min_days() -> i64 {
    days_from_civil(MIN_YEAR, 1, 1)
}

pub(crate) fn max_days() -> i64 {
    days_from_civil(MAX_YEAR, 12, 31)
}

/// Reads a fixed number of ASCII digits; `None` if any is not a digit.
fn digits(text: &[u8], start: usize, count: usize) -> Option<i64> {
    let slice = text.get(start..start + count)?;
    slice.iter().try_fold(0_i64, |total, byte| {
        byte.is_ascii_digit()
            .then(|| total * 10 + i64::from(byte - b'0'))
    })
}

fn expect_byte(text: &[u8], index: usize, expected: u8) -> Option<()> {
    (text.get(index) == Some(&expected)).then_some(())
}

fn parse_date_prefix(text: &[u8]) -> Option<i64> {
    let year = digits(text, 0, 4)?;
    expect_byte(text, 4, b'-')?;
    let month = u32::try_from(digits(text, 5, 2)?).ok()?;
    expect_byte(text, 7, b'-')?;
    let day = u32::try_from(digits(text, 8, 2)?).ok()?;
    if !(MIN_YEAR..=MAX_YEAR).contains(&year) || !(1..=12).contains(&month) {
        return None;
    }
    if day < 1 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

/// Parses exactly `YYYY-MM-DD` into days since 1970-01-01.
pub(crate) fn parse_date(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 {
        return None;
    }
    parse_date_prefix(bytes)
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` into (Unix milliseconds, offset minutes).
/// The offset is required so no instant is ambiguous; fractions beyond milliseconds are
/// truncated.
pub(crate) fn parse_datetime(text: &str) -> Option<(i64, i32)> {
    let bytes = text.as_bytes();
    let days = parse_date_prefix(bytes)?;
    expect_byte(bytes, 10, b'T')?;
    let hour = digits(bytes, 11, 2)?;
    expect_byte(bytes, 13, b':')?;
    let minute = digits(bytes, 14, 2)?;
    expect_byte(bytes, 16, b':')?;
    let second = digits(bytes, 17, 2)?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut index = 19;
    let mut millis = 0_i64;
    if bytes.get(index) == Some(&b'.') {
        index += 1;
        let fraction_start = index;
        while bytes.get(index).is_some_and(u8::is_ascii_digit) {
            if index - fraction_start < 3 {
                millis = millis * 10 + i64::from(bytes[index] - b'0');
            }
            index += 1;
        }
        let fraction_digits = index - fraction_start;
        if fraction_digits == 0 {
            return None;
        }
        for _ in fraction_digits..3 {
            millis *= 10;
        }
    }
    let offset_minutes = match bytes.get(index) {
        Some(b'Z') if bytes.len() == index + 1 => 0,
        Some(sign @ (b'+' | b'-')) if bytes.len() == index + 6 => {
            let offset_hour = digits(bytes, index + 1, 2)?;
            expect_byte(bytes, index + 3, b':')?;
            let offset_minute = digits(bytes, index + 4, 2)?;
            if offset_hour > 23 || offset_minute > 59 {
                return None;
            }
            let magnitude = i32::try_from(offset_hour * 60 + offset_minute).ok()?;
            if *sign == b'-' { -magnitude } else { magnitude }
        }
        _ => return None,
    };
    let local_millis = days * MILLIS_PER_DAY
        + hour * 3_600_000
        + minute * MILLIS_PER_MINUTE
        + second * 1000
        + millis;
    Some((
        local_millis - i64::from(offset_minutes) * MILLIS_PER_MINUTE,
        offset_minutes,
    ))
}

pub(crate) fn format_date(days: i64) -> String {
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Milliseconds since 1970-01-01T00:00 on the wall clock of the given offset.
pub(crate) fn local_millis(unix_millis: i64, offset_minutes: i32) -> i64 {
    unix_millis + i64::from(offset_minutes) * MILLIS_PER_MINUTE
}

/// Formats as `YYYY-MM-DDTHH:MM:SS.mmm` followed by `Z` for a zero offset, else `±HH:MM`.
pub(crate) fn format_datetime(unix_millis: i64, offset_minutes: i32) -> String {
    let local = local_millis(unix_millis, offset_minutes);
    let days = local.div_euclid(MILLIS_PER_DAY);
    let within_day = local.rem_euclid(MILLIS_PER_DAY);
    let hour = within_day / 3_600_000;
    let minute = within_day / MILLIS_PER_MINUTE % 60;
    let second = within_day / 1000 % 60;
    let millis = within_day % 1000;
    let offset = if offset_minutes == 0 {
        String::from("Z")
    } else {
        let sign = if offset_minutes < 0 { '-' } else { '+' };
        let magnitude = offset_minutes.unsigned_abs();
        format!("{sign}{:02}:{:02}", magnitude / 60, magnitude % 60)
    };
    format!(
        "{}T{hour:02}:{minute:02}:{second:02}.{millis:03}{offset}",
        format_date(days)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trips_across_the_supported_range() {
        for days in (min_days()..=max_days()).step_by(97) {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }

    #[test]
    fn dates_parse_strictly() {
        assert_eq!(parse_date("2024-02-29"), Some(19_782));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("2024-13-01"), None);
        assert_eq!(parse_date("2024-1-01"), None);
        assert_eq!(parse_date("0000-01-01"), None);
        assert_eq!(parse_date(" 2024-01-01"), None);
    }

    #[test]
    fn datetimes_parse_with_offsets_and_fractions() {
        let (utc, offset) = parse_datetime("2026-01-31T08:00:00Z").unwrap();
        assert_eq!(offset, 0);
        assert_eq!(format_datetime(utc, 0), "2026-01-31T08:00:00.000Z");
        let (shifted, offset) = parse_datetime("2026-01-31T10:30:00.5+02:30").unwrap();
        assert_eq!(offset, 150);
        assert_eq!(shifted, utc + 500);
        assert_eq!(
            format_datetime(shifted, offset),
            "2026-01-31T10:30:00.500+02:30"
        );
        let (west, offset) = parse_datetime("2026-01-31T03:00:00.123456-05:00").unwrap();
        assert_eq!(west, utc + 123);
        assert_eq!(
            format_datetime(west, offset),
            "2026-01-31T03:00:00.123-05:00"
        );
        assert_eq!(parse_datetime("2026-01-31T08:00:00"), None);
        assert_eq!(parse_datetime("2026-01-31T24:00:00Z"), None);
        assert_eq!(parse_datetime("2026-01-31T08:00:00.Z"), None);
        assert_eq!(parse_datetime("2026-01-31T08:00:00+0200"), None);
    }
}
