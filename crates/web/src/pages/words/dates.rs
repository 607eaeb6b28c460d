//! Dates and times for people: in the clinic's time zone, written the way the clinic's locale
//! writes them ("Jul 14, 1977", "Jul 14, 1977, 4:17 PM EDT"). ISO 8601 stays in machine output
//! (FHIR, exports); date inputs accept the locale's common form as well as ISO.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// The locales dates can be written for. en-US is the one until translations come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Locale {
    /// United States English: "Jul 14, 1977", 12-hour clock, dates typed as MM/DD/YYYY.
    EnUs,
}

impl Locale {
    /// The locale named by a BCP 47 tag, if the portal can write it.
    pub fn from_tag(tag: &str) -> Option<Locale> {
        match tag.trim() {
            "en-US" | "en-us" | "en" => Some(Locale::EnUs),
            _ => None,
        }
    }

    /// How a date input's label tells people to type a date.
    pub fn date_hint(self) -> &'static str {
        match self {
            Locale::EnUs => "MM/DD/YYYY",
        }
    }
}

/// How the clinic writes dates and times: its time zone and locale (a setting of the portal).
#[derive(Clone, Debug)]
pub struct Dates {
    zone: TimeZone,
    locale: Locale,
}

impl Default for Dates {
    fn default() -> Self {
        Dates {
            zone: TimeZone::UTC,
            locale: Locale::EnUs,
        }
    }
}

impl Dates {
    /// The clinic's dates, from an IANA time zone name ("America/New_York"; empty for the
    /// machine's own zone) and a locale tag.
    pub fn new(name: &str, locale: &str) -> Result<Dates, String> {
        let zone = if name.trim().is_empty() {
            Ok(TimeZone::system())
        } else {
            TimeZone::get(name.trim())
        };
        let zone = zone.map_err(|_| {
            format!("unknown time zone {name:?}: use an IANA name such as America/New_York")
        })?;
        let locale = Locale::from_tag(locale)
            .ok_or_else(|| format!("unsupported locale {locale:?}: the portal writes en-US"))?;
        Ok(Dates { zone, locale })
    }

    /// The locale dates are written for.
    pub fn locale(&self) -> Locale {
        self.locale
    }

    /// The day a moment falls on in the clinic's zone: "Jul 14, 1977".
    pub fn day(&self, at: Timestamp) -> String {
        let zoned = at.to_zoned_datetime(self.zone.clone());
        self.civil_day(zoned.date())
    }

    /// The day of a stored moment (microseconds since 1970), or words saying there is none.
    pub fn day_of(&self, micros: Option<i64>) -> String {
        micros
            .and_then(|at| Timestamp::from_microsecond(at).ok())
            .map(|t| self.day(t))
            .unwrap_or_else(|| "Date not recorded".into())
    }

    /// Today's date on the clinic's calendar.
    pub fn civil_today(&self, now: Timestamp) -> Date {
        now.to_zoned_datetime(self.zone.clone()).date()
    }

    /// A calendar date as written for people.
    pub fn civil_day(&self, date: Date) -> String {
        match self.locale {
            Locale::EnUs => date.strftime("%b %-d, %Y").to_string(),
        }
    }

    /// A moment to the minute in the clinic's zone, with the zone's abbreviation:
    /// "Jul 14, 1977, 4:17 PM EDT".
    /// Written field by field rather than through a format string, which is parsed anew at
    /// each call: an access-log page writes fifty of these.
    pub fn minute(&self, at: Timestamp) -> String {
        let info = self.zone.to_offset_info(at);
        let local = info.offset().to_datetime(at);
        match self.locale {
            Locale::EnUs => {
                const MONTHS: [&str; 12] = [
                    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                    "Dec",
                ];
                let month = usize::try_from(local.month() - 1)
                    .ok()
                    .and_then(|m| MONTHS.get(m))
                    .copied()
                    .unwrap_or_default();
                let hour = local.hour();
                let twelve = if hour % 12 == 0 { 12 } else { hour % 12 };
                let half = if hour < 12 { "AM" } else { "PM" };
                format!(
                    "{month} {}, {}, {twelve}:{:02} {half} {}",
                    local.day(),
                    local.year(),
                    local.minute(),
                    info.abbreviation()
                )
            }
        }
    }

    /// A calendar day with its weekday, for appointment lists: "Monday, Jan 5, 2026".
    pub fn weekday_day(&self, date: Date) -> String {
        match self.locale {
            Locale::EnUs => date.strftime("%A, %b %-d, %Y").to_string(),
        }
    }

    /// The day a moment falls on, with its weekday: "Monday, Jan 5, 2026".
    pub fn weekday_of(&self, at: Timestamp) -> String {
        self.weekday_day(self.civil_today(at))
    }

    /// The clock time of a moment in the clinic's zone: "9:00 AM".
    pub fn clock(&self, at: Timestamp) -> String {
        let local = at.to_zoned_datetime(self.zone.clone());
        match self.locale {
            Locale::EnUs => local.strftime("%-I:%M %p").to_string(),
        }
    }

    /// A wall-clock time of day: "9:00 AM".
    pub fn time_of_day(&self, time: jiff::civil::Time) -> String {
        match self.locale {
            Locale::EnUs => time.strftime("%-I:%M %p").to_string(),
        }
    }

    /// When an appointment is, in full: "Monday, Jan 5, 2026 at 9:00 AM EST".
    pub fn appointment(&self, at: Timestamp) -> String {
        let zoned = at.to_zoned_datetime(self.zone.clone());
        match self.locale {
            Locale::EnUs => zoned.strftime("%A, %b %-d, %Y at %-I:%M %p %Z").to_string(),
        }
    }

    /// A FHIR date or dateTime as sent ("1977-07-14T04:17:45-04:00", "1977-07", "1977") written
    /// for people. A full dateTime is shown on the clinic's calendar; a bare date is a calendar
    /// day already and is never shifted; partial dates stay partial ("Jul 1977", "1977").
    pub fn fhir(&self, text: &str) -> String {
        let text = text.trim();
        if text.len() > 10
            && let Ok(at) = text.parse::<Timestamp>()
        {
            return self.day(at);
        }
        if let Ok(date) = text.parse::<Date>() {
            return self.civil_day(date);
        }
        if text.len() == 7
            && let Ok(date) = format!("{text}-01").parse::<Date>()
        {
            return date.strftime("%b %Y").to_string();
        }
        // A year alone, or something the sender wrote that is not a date: shown as sent.
        text.get(..10).unwrap_or(text).to_string()
    }

    /// A date a person typed: ISO (`1972-11-05`) or the locale's form (`11/05/1972`,
    /// `11/5/1972`, `11-05-1972`). `None` when it is not a real calendar date.
    pub fn parse_day(&self, text: &str) -> Option<Date> {
        let text = text.trim();
        if let Ok(date) = text.parse::<Date>() {
            return Some(date);
        }
        let parts: Vec<&str> = text.split(['/', '-', '.']).map(str::trim).collect();
        let [first, second, year] = parts.as_slice() else {
            return None;
        };
        let (month, day) = match self.locale {
            Locale::EnUs => (first, second),
        };
        if year.len() != 4 || month.is_empty() || day.is_empty() || month.len() > 2 || day.len() > 2
        {
            return None;
        }
        let year: i16 = year.parse().ok()?;
        let month: i8 = month.parse().ok()?;
        let day: i8 = day.parse().ok()?;
        Date::new(year, month, day).ok()
    }

    /// The start of a calendar day in the clinic's zone, as stored microseconds.
    pub fn start_of(&self, date: Date) -> Option<i64> {
        date.to_zoned_datetime(self.zone.clone())
            .ok()
            .map(|z| z.timestamp().as_microsecond())
    }

    /// A date in the form a date input shows back to its writer.
    pub fn input_value(&self, date: Date) -> String {
        match self.locale {
            Locale::EnUs => date.strftime("%m/%d/%Y").to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_york() -> Dates {
        Dates::new("America/New_York", "en-US").expect("a real zone")
    }

    #[test]
    fn days_are_written_for_people_on_the_clinics_calendar() {
        let at: Timestamp = "1977-07-14T02:30:00Z".parse().expect("a timestamp");
        // 02:30 UTC is still the evening before in New York.
        assert_eq!(new_york().day(at), "Jul 13, 1977");
        assert_eq!(Dates::default().day(at), "Jul 14, 1977");
        assert_eq!(new_york().day_of(None), "Date not recorded");
    }

    #[test]
    fn minutes_carry_the_zone() {
        let at: Timestamp = "2026-01-05T21:07:00Z".parse().expect("a timestamp");
        assert_eq!(new_york().minute(at), "Jan 5, 2026, 4:07 PM EST");
        let summer: Timestamp = "2026-07-05T12:00:00Z".parse().expect("a timestamp");
        assert_eq!(new_york().minute(summer), "Jul 5, 2026, 8:00 AM EDT");
    }

    /// The same words as the format string "%b %-d, %Y, %-I:%M %p %Z" gives, hour by hour
    /// through a year with both changes of clock, in zones east and west and in UTC.
    #[test]
    fn minutes_are_written_as_the_format_string_writes_them() {
        let start: Timestamp = "2026-01-01T00:07:00Z".parse().expect("a timestamp");
        for zone in [
            "America/New_York",
            "Asia/Kolkata",
            "Australia/Adelaide",
            "UTC",
        ] {
            let dates = Dates::new(zone, "en-US").expect("a zone");
            for hour in 0..(366 * 24) {
                let at = start + jiff::SignedDuration::from_hours(hour);
                let expected = at
                    .to_zoned_datetime(dates.zone.clone())
                    .strftime("%b %-d, %Y, %-I:%M %p %Z")
                    .to_string();
                assert_eq!(dates.minute(at), expected, "{zone} {at}");
            }
        }
    }

    #[test]
    fn fhir_dates_keep_their_precision() {
        let dates = new_york();
        assert_eq!(dates.fhir("1977-07-14T04:17:45-04:00"), "Jul 14, 1977");
        assert_eq!(dates.fhir("1977-07-14"), "Jul 14, 1977");
        assert_eq!(dates.fhir("1977-07"), "Jul 1977");
        assert_eq!(dates.fhir("1977"), "1977");
    }

    #[test]
    fn typed_dates_accept_iso_and_the_local_form() {
        let dates = new_york();
        let expected = Date::new(1972, 11, 5).expect("a date");
        for typed in [
            "1972-11-05",
            "11/05/1972",
            "11/5/1972",
            " 11-05-1972 ",
            "11.05.1972",
        ] {
            assert_eq!(dates.parse_day(typed), Some(expected), "{typed}");
        }
        for wrong in [
            "13/05/1972",
            "02/30/2024",
            "11/05/72",
            "yesterday",
            "",
            "1/2/3/4",
        ] {
            assert_eq!(dates.parse_day(wrong), None, "{wrong}");
        }
        assert_eq!(dates.input_value(expected), "11/05/1972");
    }

    #[test]
    fn unknown_zones_and_locales_are_refused() {
        assert!(Dates::new("Mars/Olympus", "en-US").is_err());
        assert!(Dates::new("Europe/Paris", "fr-FR").is_err());
        assert!(Dates::new("Europe/Paris", "en-US").is_ok());
    }
}
