//! Earlier-time offers and reminders: when a reminder of a visit is due, and where an offer of
//! a freed time stands.

use crate::fields::Invalid;
use jiff::{SignedDuration, Timestamp};

/// Where an earlier-time offer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OfferStatus {
    /// Waiting for the patient's answer (until it expires).
    Open,
    /// The patient took it: the visit moved to the offered time.
    Accepted,
    /// Someone else took the time first.
    Taken,
    /// No longer offered: the visit was moved or cancelled, or the patient left the list.
    Withdrawn,
}

impl OfferStatus {
    /// The stable text stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            OfferStatus::Open => "open",
            OfferStatus::Accepted => "accepted",
            OfferStatus::Taken => "taken",
            OfferStatus::Withdrawn => "withdrawn",
        }
    }

    /// Reads the stored text.
    pub fn from_stored(s: &str) -> Option<Self> {
        match s {
            "open" => Some(OfferStatus::Open),
            "accepted" => Some(OfferStatus::Accepted),
            "taken" => Some(OfferStatus::Taken),
            "withdrawn" => Some(OfferStatus::Withdrawn),
            _ => None,
        }
    }
}

/// The most reminders a visit may have.
pub const MAX_REMINDERS: usize = 4;
/// The longest lead of a reminder, in hours (two weeks).
pub const MAX_REMINDER_HOURS: i64 = 24 * 14;

/// Reads reminder leads as typed ("72, 24"): whole hours from 1 to two weeks, at most four,
/// largest first, each once; empty for no reminders.
pub fn parse_reminder_hours(raw: &str) -> Result<Vec<i64>, Invalid> {
    let mut leads = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let hours: i64 = part
            .parse()
            .map_err(|_| Invalid(format!("{part:?} is not a whole number of hours.")))?;
        if !(1..=MAX_REMINDER_HOURS).contains(&hours) {
            return Err(Invalid(format!(
                "Each reminder goes 1 to {MAX_REMINDER_HOURS} hours before the visit."
            )));
        }
        if !leads.contains(&hours) {
            leads.push(hours);
        }
    }
    if leads.len() > MAX_REMINDERS {
        return Err(Invalid(format!("Set at most {MAX_REMINDERS} reminders.")));
    }
    leads.sort_unstable_by(|a, b| b.cmp(a));
    Ok(leads)
}

/// The reminders of a visit due at `now`: each lead whose moment (`start` less the lead) has
/// come, for a visit booked before that moment (a visit booked a day ahead gets no three-day
/// reminder: its confirmation just went) and not yet begun, and not sent already.
pub fn due_reminders(
    start: Timestamp,
    booked_at: Timestamp,
    now: Timestamp,
    leads: &[i64],
    sent: &[i64],
) -> Vec<i64> {
    if start <= now {
        return Vec::new();
    }
    leads
        .iter()
        .copied()
        .filter(|lead| !sent.contains(lead))
        .filter(|lead| {
            start
                .checked_sub(SignedDuration::from_hours(*lead))
                .is_ok_and(|moment| moment <= now && booked_at < moment)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("time")
    }

    #[test]
    fn reminder_leads_read_as_typed_largest_first() {
        assert_eq!(
            parse_reminder_hours("24, 72,24").expect("leads"),
            vec![72, 24]
        );
        assert_eq!(parse_reminder_hours("").expect("none"), Vec::<i64>::new());
        assert!(parse_reminder_hours("0").is_err());
        assert!(parse_reminder_hours("400").is_err());
        assert!(parse_reminder_hours("1,2,3,4,5").is_err());
        assert!(parse_reminder_hours("a day").is_err());
    }

    #[test]
    fn a_reminder_is_due_once_its_moment_came_for_a_visit_booked_before_it() {
        let start = at("2027-01-20T15:00:00Z");
        let booked = at("2027-01-01T10:00:00Z");
        let leads = [72, 24];
        assert!(due_reminders(start, booked, at("2027-01-17T14:59:00Z"), &leads, &[]).is_empty());
        assert_eq!(
            due_reminders(start, booked, at("2027-01-17T15:00:00Z"), &leads, &[]),
            vec![72]
        );
        assert!(due_reminders(start, booked, at("2027-01-18T15:00:00Z"), &leads, &[72]).is_empty());
        assert_eq!(
            due_reminders(start, booked, at("2027-01-19T16:00:00Z"), &leads, &[72]),
            vec![24]
        );
        // A server down for days finds both due at once.
        assert_eq!(
            due_reminders(start, booked, at("2027-01-19T16:00:00Z"), &leads, &[]),
            vec![72, 24]
        );
        // Nothing once the visit began.
        assert!(due_reminders(start, booked, start, &leads, &[]).is_empty());
    }

    #[test]
    fn a_visit_booked_inside_a_lead_gets_no_reminder_for_it() {
        let start = at("2027-01-20T15:00:00Z");
        // Booked 23 hours ahead: its confirmation is the only message.
        let late = at("2027-01-19T16:00:00Z");
        assert!(due_reminders(start, late, at("2027-01-19T17:00:00Z"), &[72, 24], &[]).is_empty());
        // Booked two days ahead: the 24-hour reminder, never the 72-hour one.
        let earlier = at("2027-01-18T15:00:00Z");
        assert_eq!(
            due_reminders(start, earlier, at("2027-01-19T15:00:00Z"), &[72, 24], &[]),
            vec![24]
        );
    }

    #[test]
    fn offer_statuses_round_trip() {
        for s in [
            OfferStatus::Open,
            OfferStatus::Accepted,
            OfferStatus::Taken,
            OfferStatus::Withdrawn,
        ] {
            assert_eq!(OfferStatus::from_stored(s.as_str()), Some(s));
        }
    }
}
