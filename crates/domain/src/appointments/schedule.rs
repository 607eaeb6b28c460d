//! Clinicians' schedules: weekly hours at a location, closures (holidays, time off, a blocked
//! hour), and the open times they leave for a kind of visit.
//!
//! Hours are kept in the clinic's wall-clock time and turned into instants date by date in the
//! clinic's zone, so a 9:00 start stays 9:00 on both sides of a daylight-saving change; a wall
//! time the change skips is not offered, and one it repeats is offered once (the first).

use super::{UNIT_MINUTES, VisitType};
use crate::fields::{FieldErrors, Invalid};
use crate::ids::{ClosureId, HoursId, LocationId, UserId, VisitTypeId};
use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use std::collections::HashMap;

/// One weekly block of a clinician's schedule: a weekday, hours and a location, for some or
/// all visit types, optionally only between two dates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeeklyHours {
    /// Its id.
    pub id: HoursId,
    /// Whose hours.
    pub clinician: UserId,
    /// Where.
    pub location: LocationId,
    /// Which day of the week.
    pub weekday: Weekday,
    /// First start, clinic wall-clock time.
    pub start: Time,
    /// When the last visit must have ended, clinic wall-clock time.
    pub end: Time,
    /// The visit types offered in these hours (empty: every type).
    pub visit_types: Vec<VisitTypeId>,
    /// The first date the hours apply (none: from always).
    pub from: Option<Date>,
    /// The last date the hours apply (none: for ever).
    pub until: Option<Date>,
}

impl WeeklyHours {
    /// Whether these hours offer `visit_type`.
    pub fn offers(&self, visit_type: VisitTypeId) -> bool {
        self.visit_types.is_empty() || self.visit_types.contains(&visit_type)
    }

    /// Whether these hours apply on `date`.
    pub fn applies_on(&self, date: Date) -> bool {
        date.weekday() == self.weekday
            && self.from.is_none_or(|from| from <= date)
            && self.until.is_none_or(|until| date <= until)
    }
}

/// A time a clinician, or the whole clinic, sees no one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Closure {
    /// Its id.
    pub id: ClosureId,
    /// Whose time (none: the whole clinic, a holiday).
    pub clinician: Option<UserId>,
    /// From.
    pub starts: Timestamp,
    /// Until (exclusive).
    pub ends: Timestamp,
    /// What the schedule page says ("Holiday", "Time off", "Blocked").
    pub reason: String,
}

impl Closure {
    /// Whether the closure covers any of `[start, end)` for `clinician`.
    pub fn blocks(&self, clinician: UserId, start: Timestamp, end: Timestamp) -> bool {
        self.clinician.is_none_or(|c| c == clinician) && self.starts < end && start < self.ends
    }
}

/// A time a visit could be booked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpenTime {
    /// When it starts.
    pub start: Timestamp,
    /// With whom.
    pub clinician: UserId,
    /// Where.
    pub location: LocationId,
    /// When it ends.
    pub end: Timestamp,
}

/// The units a visit from `start` to `end` holds, as instants (see
/// [`super::UNIT_MINUTES`]).
pub fn units(start: Timestamp, end: Timestamp) -> impl Iterator<Item = Timestamp> {
    let step = SignedDuration::from_mins(UNIT_MINUTES);
    std::iter::successors(Some(start), move |t| t.checked_add(step).ok())
        .take_while(move |t| *t < end)
}

/// Whether `t` falls on a unit boundary (every booking starts on one).
pub fn on_unit(t: Timestamp) -> bool {
    t.as_second().rem_euclid(UNIT_MINUTES * 60) == 0 && t.subsec_nanosecond() == 0
}

/// Time already held by booked visits, per clinician: sorted, non-overlapping intervals in
/// seconds since the epoch.
#[derive(Clone, Debug, Default)]
pub struct Taken(HashMap<UserId, Vec<(i64, i64)>>);

impl Taken {
    /// Records a visit holding `[start, end)` of `clinician`'s time.
    pub fn hold_between(&mut self, clinician: UserId, start: Timestamp, end: Timestamp) {
        let held = self.0.entry(clinician).or_default();
        let (start, end) = (start.as_second(), end.as_second());
        // Visits mostly arrive in time order: the place is then at the end.
        let at = held.partition_point(|&(s, _)| s < start);
        held.insert(at, (start, end));
    }

    /// Records one held unit (see [`super::UNIT_MINUTES`]).
    pub fn hold(&mut self, clinician: UserId, unit: Timestamp) {
        let end = unit
            .checked_add(SignedDuration::from_mins(UNIT_MINUTES))
            .unwrap_or(unit);
        self.hold_between(clinician, unit, end);
    }

    /// Whether all of `[start, end)` is free for `clinician`.
    pub fn free(&self, clinician: UserId, start: Timestamp, end: Timestamp) -> bool {
        let Some(held) = self.0.get(&clinician) else {
            return true;
        };
        let (start, end) = (start.as_second(), end.as_second());
        // The first visit starting at or after `end` and every later one cannot overlap; of
        // those before it, any that ends after `start` does. Visits of one clinician never
        // overlap each other, so only the last one before `end` can.
        let after = held.partition_point(|&(s, _)| s < end);
        after == 0 || held[after - 1].1 <= start
    }
}

/// What an open-time search asks for.
#[derive(Clone, Debug)]
pub struct Search<'a> {
    /// The kind of visit.
    pub visit_type: &'a VisitType,
    /// Only this clinician's times.
    pub clinician: Option<UserId>,
    /// Only times at this location.
    pub location: Option<LocationId>,
    /// No start before this.
    pub from: Timestamp,
    /// No start after this.
    pub until: Timestamp,
}

/// The instant a clinic wall-clock time names: `None` for a time the zone skips (the hour a
/// daylight-saving change jumps over); the first of the two for a time it repeats.
pub fn instant(zone: &TimeZone, at: DateTime) -> Option<Timestamp> {
    let ambiguous = zone.to_ambiguous_timestamp(at);
    match ambiguous.offset() {
        AmbiguousOffset::Gap { .. } => None,
        AmbiguousOffset::Unambiguous { .. } | AmbiguousOffset::Fold { .. } => {
            ambiguous.earlier().ok()
        }
    }
}

/// The open times `hours` leave for a search, earliest first (and by clinician at the same
/// time): each block offers starts every visit length from its first start, skipping those that
/// would run past its end, touch a closure or a unit already held. At most `limit`.
pub fn open_times(
    search: &Search<'_>,
    hours: &[WeeklyHours],
    closures: &[Closure],
    taken: &Taken,
    zone: &TimeZone,
    limit: usize,
) -> Vec<OpenTime> {
    let length = search.visit_type.length();
    let step = jiff::Span::new().minutes(search.visit_type.minutes);
    if search.visit_type.minutes <= 0 || search.from > search.until {
        return Vec::new();
    }
    let relevant: Vec<&WeeklyHours> = hours
        .iter()
        .filter(|h| h.offers(search.visit_type.id))
        .filter(|h| search.clinician.is_none_or(|c| c == h.clinician))
        .filter(|h| search.location.is_none_or(|l| l == h.location))
        .collect();
    let first_day = search.from.to_zoned_datetime(zone.clone()).date();
    let last_day = search.until.to_zoned_datetime(zone.clone()).date();
    let mut found = Vec::new();
    let mut day = first_day;
    while day <= last_day {
        for block in relevant.iter().filter(|h| h.applies_on(day)) {
            let close = day.to_datetime(block.end);
            let mut at = day.to_datetime(block.start);
            while let Ok(end_wall) = at.checked_add(step) {
                if end_wall > close {
                    break;
                }
                if let Some(start) = instant(zone, at)
                    && let Ok(end) = start.checked_add(length)
                    && start >= search.from
                    && start <= search.until
                    && on_unit(start)
                    && !closures
                        .iter()
                        .any(|c| c.blocks(block.clinician, start, end))
                    && taken.free(block.clinician, start, end)
                {
                    found.push(OpenTime {
                        start,
                        clinician: block.clinician,
                        location: block.location,
                        end,
                    });
                }
                at = end_wall;
            }
        }
        match day.tomorrow() {
            Ok(next) => day = next,
            Err(_) => break,
        }
        // Enough found on whole days: a later day's times all come after these.
        if found.len() >= limit {
            break;
        }
    }
    found.sort();
    found.dedup();
    found.truncate(limit);
    found
}

/// The `count` open times nearest to `wanted`, nearest first: what a patient whose time was
/// just taken is offered instead.
pub fn nearest(mut open: Vec<OpenTime>, wanted: Timestamp, count: usize) -> Vec<OpenTime> {
    open.sort_by_key(|o| (o.start.duration_since(wanted).abs(), o.start));
    open.truncate(count);
    open.sort();
    open
}

/// Weekly hours as an admin's form (or the command line) sent them, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewHours {
    /// The days of the week.
    pub weekdays: Vec<Weekday>,
    /// First start.
    pub start: Time,
    /// End.
    pub end: Time,
    /// The first date, if any.
    pub from: Option<Date>,
    /// The last date, if any.
    pub until: Option<Date>,
}

/// Reads a weekday's short English name ("mon", "Tuesday").
pub fn parse_weekday(raw: &str) -> Result<Weekday, Invalid> {
    let lower = raw.trim().to_ascii_lowercase();
    let day = match lower.get(..3).unwrap_or("") {
        "mon" => Weekday::Monday,
        "tue" => Weekday::Tuesday,
        "wed" => Weekday::Wednesday,
        "thu" => Weekday::Thursday,
        "fri" => Weekday::Friday,
        "sat" => Weekday::Saturday,
        "sun" => Weekday::Sunday,
        _ => {
            return Err(Invalid(format!(
                "{:?} is not a day of the week.",
                raw.trim()
            )));
        }
    };
    Ok(day)
}

/// The short name of a weekday ("mon"), as forms and the command line write it.
pub fn weekday_code(day: Weekday) -> &'static str {
    match day {
        Weekday::Monday => "mon",
        Weekday::Tuesday => "tue",
        Weekday::Wednesday => "wed",
        Weekday::Thursday => "thu",
        Weekday::Friday => "fri",
        Weekday::Saturday => "sat",
        Weekday::Sunday => "sun",
    }
}

/// Reads a wall-clock time "HH:MM" on a unit boundary.
pub fn parse_time(raw: &str) -> Result<Time, Invalid> {
    let t: Time = raw
        .trim()
        .parse()
        .map_err(|_| Invalid(format!("Enter the time as HH:MM, not {:?}.", raw.trim())))?;
    if i64::from(t.minute()) % UNIT_MINUTES != 0 || t.second() != 0 {
        return Err(Invalid(
            "Enter a time on a 5-minute step (09:00, 09:05 …).".into(),
        ));
    }
    Ok(t)
}

fn optional_date(raw: &str) -> Result<Option<Date>, Invalid> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    raw.trim()
        .parse()
        .map(Some)
        .map_err(|_| Invalid("Enter the date as YYYY-MM-DD.".into()))
}

impl NewHours {
    /// Checks the form: `weekdays` a comma-separated list of day names, times as HH:MM.
    pub fn parse(
        weekdays: &[String],
        start: &str,
        end: &str,
        from: &str,
        until: &str,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let mut days = Vec::new();
        for raw in weekdays.iter().flat_map(|w| w.split(',')) {
            if raw.trim().is_empty() {
                continue;
            }
            if let Some(day) = errors.take("weekdays", parse_weekday(raw))
                && !days.contains(&day)
            {
                days.push(day);
            }
        }
        if days.is_empty() && errors.get("weekdays").is_none() {
            errors.add("weekdays", "Choose at least one day of the week.");
        }
        let start = errors.take("start", parse_time(start));
        let end = errors.take("end", parse_time(end));
        if let (Some(s), Some(e)) = (start, end)
            && e <= s
        {
            errors.add("end", "The end must be after the start.");
        }
        let from = errors.take("from", optional_date(from));
        let until = errors.take("until", optional_date(until));
        if let (Some(Some(f)), Some(Some(u))) = (from, until)
            && u < f
        {
            errors.add("until", "The last date must not be before the first.");
        }
        match (start, end, from, until) {
            (Some(start), Some(end), Some(from), Some(until)) if errors.is_empty() => {
                Ok(NewHours {
                    weekdays: days,
                    start,
                    end,
                    from,
                    until,
                })
            }
            _ => Err(errors),
        }
    }
}

/// A closure as an admin's form sent it, in the clinic's wall-clock time, checked.
pub fn parse_closure(
    zone: &TimeZone,
    from: &str,
    until: &str,
    reason: &str,
) -> Result<(Timestamp, Timestamp, String), FieldErrors> {
    let mut errors = FieldErrors::new();
    let read = |raw: &str, end_of_day: bool| -> Result<Timestamp, Invalid> {
        let raw = raw.trim().replace(' ', "T");
        let wall: DateTime = if raw.len() == 10 {
            let date: Date = raw
                .parse()
                .map_err(|_| Invalid("Enter YYYY-MM-DD or YYYY-MM-DD HH:MM.".into()))?;
            if end_of_day {
                date.tomorrow()
                    .map_err(|_| Invalid("That date is out of range.".into()))?
                    .to_datetime(Time::midnight())
            } else {
                date.to_datetime(Time::midnight())
            }
        } else {
            raw.parse()
                .map_err(|_| Invalid("Enter YYYY-MM-DD or YYYY-MM-DD HH:MM.".into()))?
        };
        zone.to_ambiguous_timestamp(wall)
            .compatible()
            .map_err(|_| Invalid("That time does not exist in the clinic's time zone.".into()))
    };
    let starts = errors.take("from", read(from, false));
    let ends = errors.take("until", read(until, true));
    if let (Some(s), Some(e)) = (starts, ends)
        && e <= s
    {
        errors.add("until", "The end must be after the start.");
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 80 || reason.chars().any(char::is_control) {
        errors.add(
            "reason",
            "Say in up to 80 characters why (Holiday, Time off …).",
        );
    }
    match (starts, ends) {
        (Some(s), Some(e)) if errors.is_empty() => Ok((s, e, reason.to_string())),
        _ => Err(errors),
    }
}
