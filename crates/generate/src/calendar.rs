//! Dates and local times for generated records, counted from a fixed "today" rather than the
//! wall clock, so the output does not depend on when it is generated.

use std::fmt;

/// A calendar day, counted in days since 1970-01-01.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(i32);

/// The fixed "today" of every generated record: nothing happens after this day.
pub const TODAY: Day = Day::from_ymd(2026, 11, 1);

impl Day {
    /// The day of a (proleptic Gregorian) year, month and day of month.
    pub const fn from_ymd(year: i32, month: u32, day: u32) -> Day {
        // Howard Hinnant's days_from_civil.
        let y = if month <= 2 { year - 1 } else { year };
        let era = if y >= 0 { y } else { y - 399 } / 400;
        let yoe = y - era * 400;
        let m = month as i32;
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i32 - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Day(era * 146_097 + doe - 719_468)
    }

    /// Year, month (1–12) and day of month (1–31).
    pub fn ymd(self) -> (i32, u32, u32) {
        // Howard Hinnant's civil_from_days.
        let z = self.0 + 719_468;
        let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i32::from(month <= 2);
        (year, month, day)
    }

    /// The day `days` later (earlier when negative).
    pub fn plus_days(self, days: i64) -> Day {
        Day(self.0 + days as i32)
    }

    /// Days from `earlier` to this day.
    pub fn days_since(self, earlier: Day) -> i64 {
        i64::from(self.0 - earlier.0)
    }

    /// The same day of month `months` later, moved back to the month's last day if needed.
    pub fn plus_months(self, months: i64) -> Day {
        let (y, m, d) = self.ymd();
        let total = i64::from(y) * 12 + i64::from(m - 1) + months;
        let (year, month) = (total.div_euclid(12) as i32, total.rem_euclid(12) as u32 + 1);
        Day::from_ymd(year, month, d.min(days_in_month(year, month)))
    }

    /// Whole months from `earlier` to this day (for ages of infants).
    pub fn months_since(self, earlier: Day) -> i64 {
        let (y1, m1, d1) = earlier.ymd();
        let (y2, m2, d2) = self.ymd();
        let months = i64::from(y2 - y1) * 12 + i64::from(m2) - i64::from(m1);
        if d2 < d1 { months - 1 } else { months }
    }

    /// Day of the week, 0 = Sunday.
    pub fn weekday(self) -> u32 {
        // 1970-01-01 was a Thursday.
        (self.0 + 4).rem_euclid(7) as u32
    }

    /// The US Eastern UTC offset in hours on this day (−4 in daylight saving time, from the
    /// second Sunday of March to the first Sunday of November).
    fn eastern_offset_hours(self) -> i32 {
        let (year, _, _) = self.ymd();
        let first_sunday_on_or_after = |day: Day| day.plus_days(i64::from((7 - day.weekday()) % 7));
        let dst_start = first_sunday_on_or_after(Day::from_ymd(year, 3, 8));
        let dst_end = first_sunday_on_or_after(Day::from_ymd(year, 11, 1));
        if self >= dst_start && self < dst_end {
            -4
        } else {
            -5
        }
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = self.ymd();
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

/// A local wall-clock time at the clinics (US Eastern), to the second.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Moment {
    day: Day,
    second: u32,
}

impl Moment {
    /// `hour:minute` local time on `day`.
    pub fn at(day: Day, hour: u32, minute: u32) -> Moment {
        Moment {
            day,
            second: (hour * 60 + minute) * 60,
        }
    }

    /// The moment `minutes` later, rolling over midnight.
    pub fn plus_minutes(self, minutes: i64) -> Moment {
        let total = i64::from(self.second) + minutes * 60;
        Moment {
            day: self.day.plus_days(total.div_euclid(86_400)),
            second: total.rem_euclid(86_400) as u32,
        }
    }

    /// The day of this moment.
    pub fn day(self) -> Day {
        self.day
    }
}

impl fmt::Display for Moment {
    /// A FHIR dateTime/instant with its offset, e.g. `2024-03-05T09:30:00-05:00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s) = (self.second / 3600, self.second / 60 % 60, self.second % 60);
        let offset = self.day.eastern_offset_hours();
        write!(
            f,
            "{}T{h:02}:{m:02}:{s:02}{}{:02}:00",
            self.day,
            if offset < 0 { '-' } else { '+' },
            offset.abs()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_through_the_civil_calendar_like_jiff() {
        let mut day = Day::from_ymd(1899, 12, 25);
        let mut expected = jiff::civil::date(1899, 12, 25);
        while day <= TODAY {
            assert_eq!(day.to_string(), expected.to_string());
            let (y, m, d) = day.ymd();
            assert_eq!(Day::from_ymd(y, m, d), day);
            assert_eq!(
                day.weekday(),
                expected.weekday().to_sunday_zero_offset() as u32
            );
            day = day.plus_days(1);
            expected = expected.tomorrow().expect("inside jiff's range");
        }
    }

    #[test]
    fn months_are_added_without_overflowing_short_months() {
        assert_eq!(
            Day::from_ymd(2024, 1, 31).plus_months(1),
            Day::from_ymd(2024, 2, 29)
        );
        assert_eq!(
            Day::from_ymd(2023, 11, 15).plus_months(14),
            Day::from_ymd(2025, 1, 15)
        );
        assert_eq!(
            Day::from_ymd(2024, 3, 10).months_since(Day::from_ymd(2023, 3, 11)),
            11
        );
    }

    #[test]
    fn moments_carry_the_eastern_offset_of_their_day() {
        let winter = Moment::at(Day::from_ymd(2024, 1, 15), 9, 5);
        assert_eq!(winter.to_string(), "2024-01-15T09:05:00-05:00");
        let summer = Moment::at(Day::from_ymd(2024, 7, 4), 14, 30);
        assert_eq!(summer.to_string(), "2024-07-04T14:30:00-04:00");
        // 2024: daylight saving time from 10 March to 3 November.
        assert!(
            Moment::at(Day::from_ymd(2024, 3, 10), 12, 0)
                .to_string()
                .ends_with("-04:00")
        );
        assert!(
            Moment::at(Day::from_ymd(2024, 11, 3), 12, 0)
                .to_string()
                .ends_with("-05:00")
        );
    }

    #[test]
    fn minutes_roll_over_midnight() {
        let late = Moment::at(Day::from_ymd(2025, 12, 31), 23, 50).plus_minutes(20);
        assert_eq!(late.day(), Day::from_ymd(2026, 1, 1));
        assert!(late.to_string().starts_with("2026-01-01T00:10:00"));
    }
}
