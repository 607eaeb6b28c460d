//! The calendar file (iCalendar, RFC 5545) sent with a confirmation and offered on the
//! appointment's page: when and where, never why or with which kind of clinician.

use jiff::Timestamp;

/// What the calendar entry says.
#[derive(Clone, Debug)]
pub struct Entry<'a> {
    /// A stable id (the appointment's), so calendars update the entry rather than add one.
    pub uid: &'a str,
    /// Raised with every change (a move, a cancellation).
    pub sequence: i64,
    /// When it starts.
    pub start: Timestamp,
    /// When it ends.
    pub end: Timestamp,
    /// The title ("Appointment at Riverside Clinic").
    pub summary: &'a str,
    /// The place.
    pub location: &'a str,
    /// A line or two more (the portal's address).
    pub description: &'a str,
    /// When the file was made.
    pub stamp: Timestamp,
    /// Whether the entry is cancelled (calendars then strike it).
    pub cancelled: bool,
}

fn utc(t: Timestamp) -> String {
    t.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// Escapes text for a property value (RFC 5545 §3.3.11).
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Folds a content line at 75 octets, never inside a character (RFC 5545 §3.1).
fn fold(line: &str, out: &mut String) {
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

/// The calendar file for one appointment.
pub fn ics(entry: &Entry<'_>) -> String {
    let lines = [
        "BEGIN:VCALENDAR".to_string(),
        "VERSION:2.0".to_string(),
        "PRODID:-//Patient Portal//Appointments//EN".to_string(),
        format!(
            "METHOD:{}",
            if entry.cancelled { "CANCEL" } else { "PUBLISH" }
        ),
        "BEGIN:VEVENT".to_string(),
        format!("UID:{}", text(entry.uid)),
        format!("SEQUENCE:{}", entry.sequence.max(0)),
        format!("DTSTAMP:{}", utc(entry.stamp)),
        format!("DTSTART:{}", utc(entry.start)),
        format!("DTEND:{}", utc(entry.end)),
        format!("SUMMARY:{}", text(entry.summary)),
        format!("LOCATION:{}", text(entry.location)),
        format!("DESCRIPTION:{}", text(entry.description)),
        format!(
            "STATUS:{}",
            if entry.cancelled {
                "CANCELLED"
            } else {
                "CONFIRMED"
            }
        ),
        "END:VEVENT".to_string(),
        "END:VCALENDAR".to_string(),
    ];
    let mut out = String::new();
    for line in &lines {
        fold(line, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(summary: &'a str, location: &'a str) -> Entry<'a> {
        Entry {
            uid: "0190-abc@portal",
            sequence: 0,
            start: "2026-03-09T13:00:00Z".parse().expect("time"),
            end: "2026-03-09T13:20:00Z".parse().expect("time"),
            summary,
            location,
            description: "Details in the portal.",
            stamp: "2026-03-01T00:00:00Z".parse().expect("time"),
            cancelled: false,
        }
    }

    #[test]
    fn the_file_has_crlf_lines_utc_times_and_escaped_text() {
        let out = ics(&entry(
            "Appointment at Riverside, Main St; 2nd floor",
            "Room\n4",
        ));
        assert!(out.starts_with("BEGIN:VCALENDAR\r\n"));
        assert!(out.contains("DTSTART:20260309T130000Z\r\n"));
        assert!(out.contains("DTEND:20260309T132000Z\r\n"));
        assert!(out.contains("SUMMARY:Appointment at Riverside\\, Main St\\; 2nd floor\r\n"));
        assert!(out.contains("LOCATION:Room\\n4\r\n"));
        assert!(out.ends_with("END:VCALENDAR\r\n"));
        assert!(!out.replace("\r\n", "").contains('\n'));
    }

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_a_character() {
        let long = "é".repeat(100);
        let out = ics(&entry(&long, "x"));
        for line in out.split("\r\n") {
            assert!(line.len() <= 75, "{} octets", line.len());
        }
        let unfolded = out.replace("\r\n ", "");
        assert!(unfolded.contains(&format!("SUMMARY:{long}")));
    }

    #[test]
    fn a_cancelled_entry_says_so() {
        let mut e = entry("Appointment", "Clinic");
        e.cancelled = true;
        e.sequence = 2;
        let out = ics(&e);
        assert!(out.contains("METHOD:CANCEL\r\n"));
        assert!(out.contains("STATUS:CANCELLED\r\n"));
        assert!(out.contains("SEQUENCE:2\r\n"));
    }
}
