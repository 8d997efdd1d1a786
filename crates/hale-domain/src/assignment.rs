//! App assignments: which app a subject is asked to fill in, on which schedule and from which
//! day, and the rule that says whether it is due. Days and weeks are UTC days and weeks: the
//! server keeps no time zone per patient, and one rule for everyone keeps "due" the same on
//! every replica and in every client.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Date, Duration};

use crate::clock::Timestamp;
pub use crate::ids::AssignmentId;

/// A day of the week, written as the wire and the log write it (`"monday"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl Weekday {
    const fn days_from_monday(self) -> i64 {
        match self {
            Weekday::Monday => 0,
            Weekday::Tuesday => 1,
            Weekday::Wednesday => 2,
            Weekday::Thursday => 3,
            Weekday::Friday => 4,
            Weekday::Saturday => 5,
            Weekday::Sunday => 6,
        }
    }
}

/// How often an assigned app is asked for: `{"kind": "daily"}`, `{"kind": "weekly",
/// "weekday": "monday"}` (weeks start on that day) or `{"kind": "once"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", try_from = "ScheduleText")]
pub enum Schedule {
    Daily,
    Weekly { weekday: Weekday },
    Once,
}

/// A schedule as written, read strictly: serde lets unit variants of a tagged enum ignore
/// fields they do not have, and a `weekday` on a daily schedule is a mistake to name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleText {
    kind: ScheduleKind,
    weekday: Option<Weekday>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum ScheduleKind {
    Daily,
    Weekly,
    Once,
}

impl TryFrom<ScheduleText> for Schedule {
    type Error = &'static str;

    fn try_from(text: ScheduleText) -> Result<Self, Self::Error> {
        match (text.kind, text.weekday) {
            (ScheduleKind::Daily, None) => Ok(Schedule::Daily),
            (ScheduleKind::Once, None) => Ok(Schedule::Once),
            (ScheduleKind::Weekly, Some(weekday)) => Ok(Schedule::Weekly { weekday }),
            (ScheduleKind::Weekly, None) => Err("a weekly schedule names its weekday"),
            (_, Some(_)) => Err("only a weekly schedule names a weekday"),
        }
    }
}

/// A calendar day, `YYYY-MM-DD`, between 2000-01-01 and 9999-12-31.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CalendarDate(Date);

/// Text that is not a `YYYY-MM-DD` day between 2000-01-01 and 9999-12-31.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a calendar date between 2000-01-01 and 9999-12-31 (YYYY-MM-DD)")]
pub struct InvalidDate;

impl CalendarDate {
    pub fn parse(text: &str) -> Result<Self, InvalidDate> {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        Date::parse(text, &format)
            .ok()
            .filter(|date| (2000..=9999).contains(&date.year()) && text.len() == 10)
            .map(Self)
            .ok_or(InvalidDate)
    }

    /// The UTC day an instant falls on.
    pub fn of(instant: Timestamp) -> Self {
        Self(instant.to_datetime().date())
    }

    /// Midnight (UTC) at the start of the day.
    pub fn start(self) -> Timestamp {
        Timestamp::from_datetime(self.0.midnight().assume_utc())
    }

    /// The latest day on or before this one that is a `weekday`.
    fn last(self, weekday: Weekday) -> Self {
        let today = i64::from(self.0.weekday().number_days_from_monday());
        let back = (today - weekday.days_from_monday()).rem_euclid(7);
        Self(self.0.checked_sub(Duration::days(back)).unwrap_or(self.0))
    }
}

impl fmt::Display for CalendarDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}",
            self.0.year(),
            u8::from(self.0.month()),
            self.0.day()
        )
    }
}

impl Serialize for CalendarDate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CalendarDate {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        CalendarDate::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Whether an assignment asks for a submission now, given the newest time the subject filled
/// in its app (`authored_at`, so answers given offline count for the day they were given).
///
/// Nothing is due before `starts_on`, and submissions from before it never count: an app
/// assigned again asks afresh. Daily: due until a submission since the start of today; weekly:
/// since the start of the current week, which begins on the schedule's weekday; once: due until
/// the first submission.
pub fn due(
    schedule: Schedule,
    starts_on: CalendarDate,
    last_submitted_at: Option<Timestamp>,
    now: Timestamp,
) -> bool {
    let today = CalendarDate::of(now);
    if today < starts_on {
        return false;
    }
    let period = match schedule {
        Schedule::Daily => today,
        Schedule::Weekly { weekday } => today.last(weekday),
        Schedule::Once => starts_on,
    };
    let since = period.max(starts_on).start();
    last_submitted_at.is_none_or(|at| at < since)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn day(text: &str) -> CalendarDate {
        CalendarDate::parse(text).unwrap()
    }

    const MONDAY: Schedule = Schedule::Weekly {
        weekday: Weekday::Monday,
    };

    #[test]
    fn schedules_read_and_write_the_contract_shape() {
        for (text, schedule) in [
            (r#"{"kind":"daily"}"#, Schedule::Daily),
            (r#"{"kind":"weekly","weekday":"monday"}"#, MONDAY),
            (r#"{"kind":"once"}"#, Schedule::Once),
        ] {
            assert_eq!(serde_json::from_str::<Schedule>(text).unwrap(), schedule);
            assert_eq!(serde_json::to_string(&schedule).unwrap(), text);
        }
        for bad in [
            r#"{"kind":"hourly"}"#,
            r#"{"kind":"weekly"}"#,
            r#"{"kind":"weekly","weekday":"Monday"}"#,
            r#"{"kind":"daily","weekday":"monday"}"#,
            r#"{"kind":"weekly","weekday":"monday","every":2}"#,
            r#"{"weekday":"monday"}"#,
        ] {
            assert!(serde_json::from_str::<Schedule>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_are_plain_days_in_range() {
        assert_eq!(day("2026-12-01").to_string(), "2026-12-01");
        assert_eq!(day("2026-12-01").start(), at("2026-12-01T00:00:00Z"));
        for bad in [
            "2026-13-01",
            "2026-02-30",
            "1999-12-31",
            "26-12-01",
            "2026-12-1",
            "+2026-12-01",
            "2026-12-01T00:00:00Z",
            "",
        ] {
            assert_eq!(CalendarDate::parse(bad), Err(InvalidDate), "{bad}");
        }
        assert_eq!(
            serde_json::from_str::<CalendarDate>(r#""2026-12-01""#).unwrap(),
            day("2026-12-01")
        );
        assert_eq!(
            CalendarDate::of(at("2026-12-01T23:59:59.999999Z")),
            day("2026-12-01")
        );
        assert_eq!(
            CalendarDate::of(at("2026-12-02T01:00:00+02:00")),
            day("2026-12-01")
        );
    }

    #[test]
    fn daily_turns_due_at_midnight_utc() {
        let starts = day("2026-12-01");
        let submitted = Some(at("2026-12-03T23:59:59.999999Z"));
        assert!(!due(
            Schedule::Daily,
            starts,
            submitted,
            at("2026-12-03T23:59:59.999999Z")
        ));
        assert!(due(
            Schedule::Daily,
            starts,
            submitted,
            at("2026-12-04T00:00:00Z")
        ));
        // A submission at midnight itself belongs to the new day.
        assert!(!due(
            Schedule::Daily,
            starts,
            Some(at("2026-12-04T00:00:00Z")),
            at("2026-12-04T18:00:00Z")
        ));
        assert!(due(
            Schedule::Daily,
            starts,
            None,
            at("2026-12-04T18:00:00Z")
        ));
    }

    #[test]
    fn weekly_turns_due_when_its_week_begins() {
        let starts = day("2026-11-02");
        // 2026-12-07 is a Monday.
        let sunday_night = at("2026-12-06T23:59:59Z");
        let thursday = Some(at("2026-12-03T09:00:00Z"));
        assert!(!due(MONDAY, starts, thursday, sunday_night));
        assert!(due(MONDAY, starts, thursday, at("2026-12-07T00:00:00Z")));
        assert!(!due(
            MONDAY,
            starts,
            Some(at("2026-12-07T00:00:00Z")),
            at("2026-12-13T23:59:59Z")
        ));
        // A week that starts on Thursday: Wednesday's submission is last week's.
        let thursdays = Schedule::Weekly {
            weekday: Weekday::Thursday,
        };
        assert!(due(
            thursdays,
            starts,
            Some(at("2026-12-02T12:00:00Z")),
            at("2026-12-03T00:00:00Z")
        ));
        assert!(!due(
            thursdays,
            starts,
            Some(at("2026-12-02T12:00:00Z")),
            at("2026-12-02T23:00:00Z")
        ));
    }

    #[test]
    fn nothing_is_due_before_the_first_day_and_earlier_submissions_never_count() {
        let starts = day("2026-12-10");
        for schedule in [Schedule::Daily, MONDAY, Schedule::Once] {
            assert!(!due(schedule, starts, None, at("2026-12-09T23:59:59Z")));
            assert!(due(schedule, starts, None, at("2026-12-10T00:00:00Z")));
            assert!(due(
                schedule,
                starts,
                Some(at("2026-12-09T23:59:59Z")),
                at("2026-12-10T08:00:00Z")
            ));
        }
        // The week began on Monday the 7th, before the first day: the week counts from then.
        assert!(due(
            MONDAY,
            starts,
            Some(at("2026-12-08T08:00:00Z")),
            at("2026-12-11T08:00:00Z")
        ));
    }

    #[test]
    fn once_is_due_until_its_first_submission_and_never_again() {
        let starts = day("2026-12-01");
        assert!(due(
            Schedule::Once,
            starts,
            None,
            at("2027-06-01T00:00:00Z")
        ));
        let first = Some(at("2026-12-05T10:00:00Z"));
        for now in [
            "2026-12-05T10:00:00Z",
            "2026-12-06T00:00:00Z",
            "2030-01-01T00:00:00Z",
        ] {
            assert!(!due(Schedule::Once, starts, first, at(now)), "{now}");
        }
    }

    fn schedule() -> impl Strategy<Value = Schedule> {
        prop_oneof![
            Just(Schedule::Daily),
            Just(Schedule::Once),
            (0usize..7).prop_map(|n| Schedule::Weekly {
                weekday: [
                    Weekday::Monday,
                    Weekday::Tuesday,
                    Weekday::Wednesday,
                    Weekday::Thursday,
                    Weekday::Friday,
                    Weekday::Saturday,
                    Weekday::Sunday,
                ][n]
            }),
        ]
    }

    /// 2000-01-01 to 2100-01-01, in microseconds.
    const RANGE: std::ops::Range<i64> = 946_684_800_000_000..4_102_444_800_000_000;

    proptest! {
        /// Whatever the schedule, the first day and the moment: a submission made now leaves
        /// nothing due now.
        #[test]
        fn nothing_is_due_right_after_a_submission_made_now(
            schedule in schedule(),
            starts in RANGE,
            now in RANGE,
        ) {
            let starts_on = CalendarDate::of(Timestamp::from_micros(starts));
            let now = Timestamp::from_micros(now);
            prop_assert!(!due(schedule, starts_on, Some(now), now));
        }

        /// Without any submission an assignment is due exactly from its first day on.
        #[test]
        fn without_submissions_due_means_on_or_after_the_first_day(
            schedule in schedule(),
            starts in RANGE,
            now in RANGE,
        ) {
            let starts_on = CalendarDate::of(Timestamp::from_micros(starts));
            let now = Timestamp::from_micros(now);
            prop_assert_eq!(due(schedule, starts_on, None, now), CalendarDate::of(now) >= starts_on);
        }
    }
}
