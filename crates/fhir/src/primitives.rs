//! Checks of FHIR R4 primitive values, following the regular expressions of the R4 spec, with
//! the calendar checks the expressions leave out (no 30 February, 29 February only in leap
//! years), and a sortable UTC value for dates and times.

use crate::json::{JsonValueTrait, Value};

/// A date or date-time taken apart; `month`/`day`/`time` are `None` for partial values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Moment {
    year: i64,
    month: Option<u32>,
    day: Option<u32>,
    time: Option<Clock>,
    /// Offset from UTC in minutes (`Z` is 0); present whenever `time` is.
    offset_minutes: Option<i64>,
}

/// A time of day: hours, minutes, seconds (60 allowed for a leap second), microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Clock {
    hour: u32,
    minute: u32,
    second: u32,
    micros: u32,
}

/// Reads ASCII text from left to right; every parse step either advances or fails.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            bytes: text.as_bytes(),
            at: 0,
        }
    }

    fn done(&self) -> bool {
        self.at == self.bytes.len()
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        if self.peek() == Some(byte) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// Exactly `count` ASCII digits as a number.
    fn digits(&mut self, count: usize) -> Option<u32> {
        let slice = self.bytes.get(self.at..self.at + count)?;
        let mut value = 0u32;
        for byte in slice {
            if !byte.is_ascii_digit() {
                return None;
            }
            value = value * 10 + u32::from(byte - b'0');
        }
        self.at += count;
        Some(value)
    }
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `YYYY(-MM(-DD)?)?` with year 0001..9999 and real months and days.
fn read_date(cursor: &mut Cursor<'_>) -> Option<Moment> {
    let year = i64::from(cursor.digits(4)?);
    if year == 0 {
        return None;
    }
    let mut moment = Moment {
        year,
        month: None,
        day: None,
        time: None,
        offset_minutes: None,
    };
    if !cursor.eat(b'-') {
        return Some(moment);
    }
    let month = cursor.digits(2)?;
    if !(1..=12).contains(&month) {
        return None;
    }
    moment.month = Some(month);
    if !cursor.eat(b'-') {
        return Some(moment);
    }
    let day = cursor.digits(2)?;
    if day == 0 || day > days_in_month(year, month) {
        return None;
    }
    moment.day = Some(day);
    Some(moment)
}

/// `hh:mm:ss(.fraction)?` with hours 00..23, minutes 00..59, seconds 00..60.
fn read_clock(cursor: &mut Cursor<'_>) -> Option<Clock> {
    let hour = cursor.digits(2)?;
    if hour > 23 || !cursor.eat(b':') {
        return None;
    }
    let minute = cursor.digits(2)?;
    if minute > 59 || !cursor.eat(b':') {
        return None;
    }
    let second = cursor.digits(2)?;
    if second > 60 {
        return None;
    }
    let mut micros = 0u32;
    if cursor.eat(b'.') {
        let mut count = 0usize;
        while let Some(byte) = cursor.peek().filter(u8::is_ascii_digit) {
            // Digits past the sixth are below a microsecond: checked, not kept.
            if count < 6 {
                micros = micros * 10 + u32::from(byte - b'0');
            }
            count += 1;
            cursor.at += 1;
        }
        if count == 0 {
            return None;
        }
        for _ in count..6 {
            micros *= 10;
        }
    }
    Some(Clock {
        hour,
        minute,
        second,
        micros,
    })
}

/// `Z` or `(+|-)hh:mm` with hh 00..13 (any minutes) or exactly 14:00.
fn read_zone(cursor: &mut Cursor<'_>) -> Option<i64> {
    if cursor.eat(b'Z') {
        return Some(0);
    }
    let sign = if cursor.eat(b'+') {
        1
    } else if cursor.eat(b'-') {
        -1
    } else {
        return None;
    };
    let hours = cursor.digits(2)?;
    if !cursor.eat(b':') {
        return None;
    }
    let minutes = cursor.digits(2)?;
    let fits = (hours <= 13 && minutes <= 59) || (hours == 14 && minutes == 0);
    fits.then(|| sign * i64::from(hours * 60 + minutes))
}

fn parse_date(text: &str) -> Option<Moment> {
    let mut cursor = Cursor::new(text);
    let moment = read_date(&mut cursor)?;
    cursor.done().then_some(moment)
}

fn parse_date_time(text: &str) -> Option<Moment> {
    let mut cursor = Cursor::new(text);
    let mut moment = read_date(&mut cursor)?;
    if cursor.done() {
        return Some(moment);
    }
    // A time is allowed only after a full date, and then its zone is required.
    moment.day?;
    if !cursor.eat(b'T') {
        return None;
    }
    moment.time = Some(read_clock(&mut cursor)?);
    moment.offset_minutes = Some(read_zone(&mut cursor)?);
    cursor.done().then_some(moment)
}

/// A FHIR `date`: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`, with real months and days.
pub fn is_date(text: &str) -> bool {
    parse_date(text).is_some()
}

/// A FHIR `dateTime`: a `date`, or a full date with `Thh:mm:ss(.fraction)?` and a zone
/// (`Z` or `±hh:mm`), which R4 requires whenever a time is given.
pub fn is_date_time(text: &str) -> bool {
    parse_date_time(text).is_some()
}

/// A FHIR `instant`: a full date, time and zone (a `dateTime` to the second or finer).
pub fn is_instant(text: &str) -> bool {
    parse_date_time(text).is_some_and(|moment| moment.time.is_some())
}

/// A FHIR `time` of day: `hh:mm:ss(.fraction)?`, with no zone.
pub fn is_time(text: &str) -> bool {
    let mut cursor = Cursor::new(text);
    read_clock(&mut cursor).is_some() && cursor.done()
}

/// A FHIR `id`: 1 to 64 of `A-Z a-z 0-9 - .`.
pub fn is_id(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'.')
}

/// A FHIR `code`: not empty, no whitespace at either end, no run of two whitespace characters.
pub fn is_code(text: &str) -> bool {
    !text.is_empty() && text.split(char::is_whitespace).all(|word| !word.is_empty())
}

/// A FHIR `uri` (and `url`, `canonical`, `oid`, `uuid` as far as R4's regex goes): no whitespace.
/// Empty strings are refused too, as FHIR JSON allows no empty string.
pub fn is_uri(text: &str) -> bool {
    !text.is_empty() && !text.chars().any(char::is_whitespace)
}

/// A FHIR `boolean`: a JSON `true` or `false` (not the string `"true"`).
pub fn is_boolean(value: &Value) -> bool {
    value.is_boolean()
}

/// A FHIR `decimal`: a JSON number (not a string holding one).
pub fn is_decimal(value: &Value) -> bool {
    value.is_number()
}

/// A FHIR `integer`: a JSON whole number within a signed 32-bit range.
pub fn is_integer(value: &Value) -> bool {
    value
        .as_i64()
        .is_some_and(|number| i32::try_from(number).is_ok())
}

/// A FHIR `unsignedInt`: a JSON whole number from 0 to 2^31-1.
pub fn is_unsigned_int(value: &Value) -> bool {
    value
        .as_i64()
        .is_some_and(|number| (0..=i64::from(i32::MAX)).contains(&number))
}

/// A FHIR `positiveInt`: a JSON whole number from 1 to 2^31-1.
pub fn is_positive_int(value: &Value) -> bool {
    value
        .as_i64()
        .is_some_and(|number| (1..=i64::from(i32::MAX)).contains(&number))
}

/// The bytes of a FHIR `base64Binary` (standard alphabet, padded; whitespace between groups is
/// ignored), or `None` when it is not valid base64.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let compact: Vec<u8> = text
        .bytes()
        .filter(|byte| !byte.is_ascii_whitespace())
        .collect();
    if compact.is_empty() {
        return None;
    }
    data_encoding::BASE64.decode(&compact).ok()
}

/// A FHIR `base64Binary` that decodes.
pub fn is_base64_binary(text: &str) -> bool {
    decode_base64(text).is_some()
}

/// Days from 1970-01-01 to the given civil date (proleptic Gregorian calendar).
fn days_since_epoch(year: i64, month: u32, day: u32) -> i64 {
    // Count years from March so that the leap day is the last day of the counted year.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// A sortable UTC value in microseconds since 1970 for a FHIR `date`, `dateTime` or `instant`:
/// partial dates give the start of their period (`2020` is 2020-01-01T00:00:00Z), dates without
/// a time are taken as UTC midnight, and times with a zone are moved to UTC. `None` when the
/// text is not a valid date or dateTime.
pub fn to_instant_micros(date_or_datetime: &str) -> Option<i64> {
    const MICROS_PER_SECOND: i64 = 1_000_000;
    let moment = parse_date_time(date_or_datetime)?;
    let days = days_since_epoch(
        moment.year,
        moment.month.unwrap_or(1),
        moment.day.unwrap_or(1),
    );
    let mut seconds = days * 86_400;
    let mut micros = 0;
    if let Some(clock) = moment.time {
        seconds +=
            i64::from(clock.hour) * 3_600 + i64::from(clock.minute) * 60 + i64::from(clock.second);
        micros = i64::from(clock.micros);
    }
    seconds -= moment.offset_minutes.unwrap_or(0) * 60;
    Some(seconds * MICROS_PER_SECOND + micros)
}

/// The span a FHIR `date`, `dateTime` or `instant` stands for, as inclusive UTC microseconds
/// since 1970: `2020` is the whole year, `2020-02` the month, `2020-02-29` the day (taken as
/// UTC), a time the whole second it names. `None` when the text is not a valid date or
/// dateTime. Searches compare these spans as FHIR's date search prefixes say.
pub fn date_span_micros(date_or_datetime: &str) -> Option<(i64, i64)> {
    const DAY: i64 = 86_400 * 1_000_000;
    let moment = parse_date_time(date_or_datetime)?;
    let start = to_instant_micros(date_or_datetime)?;
    let end = match (moment.month, moment.day, &moment.time) {
        (_, _, Some(clock)) => start - i64::from(clock.micros) + 999_999,
        (Some(_), Some(_), None) => start + DAY - 1,
        (Some(month), None, None) => {
            let (year, month) = if month == 12 {
                (moment.year + 1, 1)
            } else {
                (moment.year, month + 1)
            };
            days_since_epoch(year, month, 1) * DAY - 1
        }
        _ => days_since_epoch(moment.year + 1, 1, 1) * DAY - 1,
    };
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonic_rs::json;

    #[test]
    fn a_date_spans_its_whole_precision() {
        let day = 86_400 * 1_000_000;
        let year = date_span_micros("2020").expect("year");
        assert_eq!(year.0, to_instant_micros("2020-01-01").expect("start"));
        assert_eq!(year.1 + 1, to_instant_micros("2021-01-01").expect("end"));
        let month = date_span_micros("2020-02").expect("month");
        assert_eq!(month.1 + 1 - month.0, 29 * day);
        let december = date_span_micros("2019-12").expect("december");
        assert_eq!(
            december.1 + 1,
            to_instant_micros("2020").expect("next year")
        );
        let date = date_span_micros("2020-02-29").expect("day");
        assert_eq!(date.1 + 1 - date.0, day);
        let second = date_span_micros("2020-02-29T10:00:00.25+01:00").expect("time");
        assert_eq!(
            second.0,
            to_instant_micros("2020-02-29T09:00:00.25Z").expect("utc")
        );
        assert_eq!(
            second.1,
            to_instant_micros("2020-02-29T09:00:00.999999Z").expect("end")
        );
        assert_eq!(date_span_micros("2020-13"), None);
    }

    #[test]
    fn dates_of_each_precision_are_accepted() {
        for text in ["2020", "2020-02", "2020-02-29", "0001-01-01", "9999-12-31"] {
            assert!(is_date(text), "{text}");
        }
    }

    #[test]
    fn dates_out_of_the_calendar_are_refused() {
        for text in [
            "2020-13-45",
            "2019-02-29",
            "1900-02-29",
            "2021-04-31",
            "2020-00",
            "2020-01-00",
            "0000",
            "20",
            "2020-1-01",
            "2020-01-01T10:00:00Z",
            "2020/01/01",
            "",
            " 2020",
        ] {
            assert!(!is_date(text), "{text}");
        }
    }

    #[test]
    fn leap_years_follow_the_gregorian_rules() {
        assert!(is_date("2000-02-29"));
        assert!(is_date("2024-02-29"));
        assert!(!is_date("2100-02-29"));
        assert!(!is_date("2023-02-29"));
    }

    #[test]
    fn date_times_need_a_zone_when_they_have_a_time() {
        for text in [
            "2017-08-31T07:28:45+00:00",
            "2022-03-29T22:38:59.084000+00:00",
            "1940-03-29T00:11:45-05:00",
            "2020-01-01T23:59:60Z",
            "2020-01-01T10:00:00+14:00",
            "2020-01-01T10:00:00-13:59",
            "2020",
            "2020-05",
        ] {
            assert!(is_date_time(text), "{text}");
        }
        for text in [
            "2020-13-45",
            "2020-01-01T10:00:00",
            "2020-01-01T10:00Z",
            "2020-01-01T24:00:00Z",
            "2020-01-01T10:00:00+15:00",
            "2020-01-01T10:00:00+14:30",
            "2020-01-01T10:00:00.Z",
            "2020-01T10:00:00Z",
            "2020-01-01 10:00:00Z",
            "2020-01-01T10:00:00z",
        ] {
            assert!(!is_date_time(text), "{text}");
        }
    }

    #[test]
    fn instants_need_date_time_and_zone() {
        assert!(is_instant("2017-08-31T07:28:45.315+00:00"));
        assert!(!is_instant("2017-08-31"));
        assert!(!is_instant("2017-08-31T07:28:45"));
    }

    #[test]
    fn times_have_no_zone() {
        assert!(is_time("07:28:45"));
        assert!(is_time("23:59:59.5"));
        assert!(!is_time("07:28"));
        assert!(!is_time("07:28:45Z"));
        assert!(!is_time("24:00:00"));
    }

    #[test]
    fn ids_are_short_and_plain() {
        assert!(is_id("85"));
        assert!(is_id("3d80724c-8531-d7b6-ab04-f11f85e63a31"));
        assert!(is_id("a.b-C"));
        assert!(is_id(&"a".repeat(64)));
        assert!(!is_id(&"a".repeat(65)));
        assert!(!is_id(""));
        assert!(!is_id("a b"));
        assert!(!is_id("a_b"));
        assert!(!is_id("Patient/1"));
    }

    #[test]
    fn codes_have_single_inner_spaces_only() {
        assert!(is_code("final"));
        assert!(is_code("text/plain; charset=utf-8"));
        assert!(!is_code(" final"));
        assert!(!is_code("final "));
        assert!(!is_code("a  b"));
        assert!(!is_code(""));
    }

    #[test]
    fn uris_have_no_whitespace() {
        assert!(is_uri("http://loinc.org"));
        assert!(is_uri("urn:uuid:60739794-1d06-debc-7835-30f2f8e4314c"));
        assert!(!is_uri("http://example.org/a b"));
        assert!(!is_uri(""));
    }

    #[test]
    fn numbers_are_judged_by_their_json_type() {
        assert!(is_decimal(&json!(179.4)));
        assert!(!is_decimal(&json!("179.4")));
        assert!(is_integer(&json!(-3)));
        assert!(!is_integer(&json!(1.5)));
        assert!(!is_integer(&json!(3_000_000_000_i64)));
        assert!(is_unsigned_int(&json!(0)));
        assert!(!is_unsigned_int(&json!(-1)));
        assert!(is_positive_int(&json!(1)));
        assert!(!is_positive_int(&json!(0)));
        assert!(is_boolean(&json!(true)));
        assert!(!is_boolean(&json!("true")));
    }

    #[test]
    fn base64_decodes_with_whitespace_and_refuses_bad_padding() {
        assert_eq!(decode_base64("aGVs\nbG8="), Some(b"hello".to_vec()));
        assert_eq!(decode_base64("a/b+"), Some(vec![0x6b, 0xf6, 0xfe]));
        assert_eq!(decode_base64("YQ"), None);
        assert_eq!(decode_base64("abc"), None);
        assert_eq!(decode_base64("a*bc"), None);
        assert_eq!(decode_base64(""), None);
        assert!(is_base64_binary("CjE5NDAtMDktMDYK"));
    }

    #[test]
    fn instant_micros_are_utc_and_start_partial_periods() {
        assert_eq!(to_instant_micros("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(to_instant_micros("1970"), Some(0));
        assert_eq!(to_instant_micros("1970-01-02"), Some(86_400_000_000));
        assert_eq!(
            to_instant_micros("2000-03-01"),
            Some(951_868_800 * 1_000_000)
        );
        // 07:28:45.315 at +02:00 is 05:28:45.315 UTC.
        assert_eq!(
            to_instant_micros("2017-08-31T07:28:45.315+02:00"),
            to_instant_micros("2017-08-31T05:28:45.315Z")
        );
        assert_eq!(
            to_instant_micros("2017-08-31T05:28:45.315Z"),
            Some(1_504_157_325_315_000)
        );
        assert_eq!(
            to_instant_micros("1940-03-29T00:11:45-05:00"),
            Some(-939_149_295_000_000)
        );
        assert_eq!(to_instant_micros("2020-13-45"), None);
    }

    #[test]
    fn instant_micros_sort_like_time_itself() {
        let ordered = [
            "1940",
            "1940-03-29T00:11:45-05:00",
            "1940-03-29T05:11:46Z",
            "1977-07",
            "2020-02-29T23:59:59.999999Z",
            "2020-03-01",
        ];
        let values: Vec<i64> = ordered
            .iter()
            .map(|text| to_instant_micros(text).unwrap_or(i64::MIN))
            .collect();
        assert!(
            values.windows(2).all(|pair| pair[0] < pair[1]),
            "{values:?}"
        );
    }
}
