//! Appointments: the kinds of visit the clinic offers and who may book each, the rules of
//! booking, cancelling and moving a visit, and the clinic's appointment settings.
//!
//! The open times a schedule leaves are worked out in [`schedule`]; the calendar file sent with
//! a confirmation is written by [`calendar`]. Forms become these types at the edge
//! ([`NewVisitType::parse`], [`Reason::parse`]); inner code takes only validated values.

pub mod calendar;
pub mod checkin;
pub mod offers;
pub mod schedule;
#[cfg(test)]
mod tests;

use crate::fields::{FieldErrors, Invalid};
use crate::ids::VisitTypeId;
use jiff::{SignedDuration, Timestamp};

/// Bookings hold a clinician's time in units of this many minutes: a visit of 40 minutes holds
/// eight, and the database refuses a unit held twice, so no two visits of a clinician overlap.
pub const UNIT_MINUTES: i64 = 5;

/// Who may book a kind of visit themselves through the portal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Audience {
    /// Any patient.
    Anyone,
    /// Only patients the clinic has not seen yet.
    NewPatients,
    /// Only patients the clinic has seen before.
    Established,
    /// Only the clinic books it (patients ask by message or phone).
    ClinicOnly,
}

impl Audience {
    /// Every audience, in the order forms offer them.
    pub const ALL: [Audience; 4] = [
        Audience::Anyone,
        Audience::NewPatients,
        Audience::Established,
        Audience::ClinicOnly,
    ];

    /// The stable text stored in the database and sent by forms.
    pub fn as_str(self) -> &'static str {
        match self {
            Audience::Anyone => "anyone",
            Audience::NewPatients => "new",
            Audience::Established => "established",
            Audience::ClinicOnly => "clinic",
        }
    }

    /// The words an admin reads.
    pub fn label(self) -> &'static str {
        match self {
            Audience::Anyone => "Any patient",
            Audience::NewPatients => "New patients only",
            Audience::Established => "Patients seen before only",
            Audience::ClinicOnly => "Booked by the clinic only",
        }
    }

    /// Reads the stored or submitted text.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Audience::ALL
            .into_iter()
            .find(|a| a.as_str() == raw.trim())
            .ok_or_else(|| Invalid("Choose who may book this visit type.".into()))
    }
}

/// A kind of visit the clinic offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VisitType {
    /// Its id.
    pub id: VisitTypeId,
    /// What patients read ("Follow-up visit").
    pub name: String,
    /// How long it lasts, in minutes (a multiple of [`UNIT_MINUTES`]).
    pub minutes: i64,
    /// Whether it takes place by video.
    pub video: bool,
    /// Who may book it themselves.
    pub audience: Audience,
    /// The youngest age, in whole years, that may book it themselves.
    pub min_age: Option<i64>,
    /// The oldest age, in whole years, that may book it themselves.
    pub max_age: Option<i64>,
    /// How long before it starts it may still be booked by the patient's side, in minutes.
    pub notice_minutes: i64,
    /// How many days ahead the patient's side may book it.
    pub horizon_days: i64,
    /// Whether it is offered at all (retired types stay for the visits booked with them).
    pub active: bool,
    /// The questions asked at check-in, one a line ("" for none).
    pub questions: String,
}

/// What the booking rules need to know of the patient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PatientFacts {
    /// Whether the clinic has seen the patient before (a past visit in the record or the
    /// portal).
    pub established: bool,
    /// The patient's age in whole years, when the record has a birth date.
    pub age_years: Option<i64>,
    /// Whether the record says the patient died.
    pub deceased: bool,
}

/// Why the patient's side may not book a kind of visit itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotBookable {
    /// The clinic no longer offers it.
    Retired,
    /// Only the clinic books it.
    ClinicOnly,
    /// It is for new patients only.
    NewPatientsOnly,
    /// It is for patients the clinic has seen before.
    EstablishedOnly,
    /// The patient is younger than the visit type allows.
    TooYoung,
    /// The patient is older than the visit type allows.
    TooOld,
    /// The record is closed: the patient died.
    Deceased,
}

impl NotBookable {
    /// The sentence the patient reads.
    pub fn message(self) -> &'static str {
        match self {
            NotBookable::Retired => "The clinic no longer offers this kind of visit.",
            NotBookable::ClinicOnly => {
                "This kind of visit is booked by the clinic. Please call us."
            }
            NotBookable::NewPatientsOnly => "This kind of visit is for new patients only.",
            NotBookable::EstablishedOnly => {
                "This kind of visit is for patients the clinic has seen before."
            }
            NotBookable::TooYoung | NotBookable::TooOld => {
                "This kind of visit is not offered at this patient's age. Please call us."
            }
            NotBookable::Deceased => "Visits cannot be booked for this record.",
        }
    }
}

impl VisitType {
    /// Whether the patient's side may book this kind of visit for the patient itself.
    pub fn self_booking(&self, patient: PatientFacts) -> Result<(), NotBookable> {
        if !self.active {
            return Err(NotBookable::Retired);
        }
        if patient.deceased {
            return Err(NotBookable::Deceased);
        }
        match (self.audience, patient.established) {
            (Audience::ClinicOnly, _) => return Err(NotBookable::ClinicOnly),
            (Audience::NewPatients, true) => return Err(NotBookable::NewPatientsOnly),
            (Audience::Established, false) => return Err(NotBookable::EstablishedOnly),
            _ => {}
        }
        if let Some(age) = patient.age_years {
            if self.min_age.is_some_and(|min| age < min) {
                return Err(NotBookable::TooYoung);
            }
            if self.max_age.is_some_and(|max| age > max) {
                return Err(NotBookable::TooOld);
            }
        } else if self.min_age.is_some() || self.max_age.is_some() {
            // An age rule with no birth date to apply it to: the clinic decides.
            return Err(NotBookable::TooYoung);
        }
        Ok(())
    }

    /// How long the visit lasts.
    pub fn length(&self) -> SignedDuration {
        SignedDuration::from_mins(self.minutes)
    }

    /// The earliest start the patient's side may book at `now`.
    pub fn earliest(&self, now: Timestamp) -> Timestamp {
        now.saturating_add(SignedDuration::from_mins(self.notice_minutes))
            .unwrap_or(now)
    }

    /// The latest start the patient's side may book at `now`.
    pub fn latest(&self, now: Timestamp) -> Timestamp {
        now.saturating_add(SignedDuration::from_hours(self.horizon_days * 24))
            .unwrap_or(now)
    }

    /// Whether the patient's side may book a visit starting at `start` at `now` (notice and
    /// horizon); the clinic may book any time that has not begun.
    pub fn bookable_at(&self, start: Timestamp, now: Timestamp, by_clinic: bool) -> bool {
        if by_clinic {
            start > now
        } else {
            start >= self.earliest(now) && start <= self.latest(now)
        }
    }
}

/// A visit type as an admin's form sent it, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewVisitType {
    /// What patients read.
    pub name: String,
    /// How long it lasts, in minutes.
    pub minutes: i64,
    /// Whether it takes place by video.
    pub video: bool,
    /// Who may book it themselves.
    pub audience: Audience,
    /// The youngest age that may book it themselves.
    pub min_age: Option<i64>,
    /// The oldest age that may book it themselves.
    pub max_age: Option<i64>,
    /// Minimum notice, in minutes.
    pub notice_minutes: i64,
    /// How many days ahead it may be booked.
    pub horizon_days: i64,
    /// The questions asked at check-in, one a line.
    pub questions: String,
}

/// The raw fields of a visit-type form (or command line).
#[derive(Clone, Debug, Default)]
pub struct VisitTypeForm {
    /// The name.
    pub name: String,
    /// The length in minutes.
    pub minutes: String,
    /// "on" when it is a video visit.
    pub video: bool,
    /// The audience's form text.
    pub audience: String,
    /// The youngest age, or empty.
    pub min_age: String,
    /// The oldest age, or empty.
    pub max_age: String,
    /// Minimum notice in hours.
    pub notice_hours: String,
    /// Horizon in days.
    pub horizon_days: String,
    /// The questions asked at check-in, one a line.
    pub questions: String,
}

fn whole(raw: &str, range: std::ops::RangeInclusive<i64>, what: &str) -> Result<i64, Invalid> {
    let n: i64 = raw
        .trim()
        .parse()
        .map_err(|_| Invalid(format!("Enter {what} as a whole number.")))?;
    if range.contains(&n) {
        Ok(n)
    } else {
        Err(Invalid(format!(
            "Enter {what} from {} to {}.",
            range.start(),
            range.end()
        )))
    }
}

fn optional_age(raw: &str, what: &str) -> Result<Option<i64>, Invalid> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        whole(raw, 0..=130, what).map(Some)
    }
}

impl NewVisitType {
    /// Checks a visit-type form; each error names its field.
    pub fn parse(form: &VisitTypeForm) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let name = form.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 60 || name.chars().any(char::is_control) {
            errors.add("name", "Enter a name of 1 to 60 characters.");
        }
        let minutes = errors.take(
            "minutes",
            whole(&form.minutes, 5..=480, "the length in minutes"),
        );
        if let Some(m) = minutes
            && m % UNIT_MINUTES != 0
        {
            errors.add("minutes", "Enter a length in steps of 5 minutes.");
        }
        let audience = errors.take("audience", Audience::parse(&form.audience));
        let min_age = errors.take("min_age", optional_age(&form.min_age, "the youngest age"));
        let max_age = errors.take("max_age", optional_age(&form.max_age, "the oldest age"));
        if let (Some(Some(lo)), Some(Some(hi))) = (min_age, max_age)
            && lo > hi
        {
            errors.add("max_age", "The oldest age must not be below the youngest.");
        }
        let notice = errors.take(
            "notice_hours",
            whole(&form.notice_hours, 0..=24 * 30, "the notice in hours"),
        );
        let horizon = errors.take(
            "horizon_days",
            whole(&form.horizon_days, 1..=365, "how many days ahead"),
        );
        let questions = errors.take("questions", checkin::parse_questions(&form.questions));
        match (
            minutes, audience, min_age, max_age, notice, horizon, questions,
        ) {
            (
                Some(minutes),
                Some(audience),
                Some(min_age),
                Some(max_age),
                Some(notice),
                Some(horizon_days),
                Some(questions),
            ) if errors.is_empty() => Ok(NewVisitType {
                name,
                minutes,
                video: form.video,
                audience,
                min_age,
                max_age,
                notice_minutes: notice * 60,
                horizon_days,
                questions,
            }),
            _ => Err(errors),
        }
    }
}

/// Where an appointment stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Booked and still to happen (or happened: the time tells).
    Booked,
    /// Cancelled; the time is free again.
    Cancelled,
    /// Moved to another time: a new appointment replaced it.
    Moved,
}

impl Status {
    /// The stable text stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Booked => "booked",
            Status::Cancelled => "cancelled",
            Status::Moved => "moved",
        }
    }

    /// Reads the stored text.
    pub fn from_stored(s: &str) -> Option<Self> {
        match s {
            "booked" => Some(Status::Booked),
            "cancelled" => Some(Status::Cancelled),
            "moved" => Some(Status::Moved),
            _ => None,
        }
    }

    /// Whether an appointment in this state may be cancelled or moved.
    pub fn is_open(self) -> bool {
        self == Status::Booked
    }
}

/// Why the patient wants the visit, in their words (shown to the clinic, never e-mailed).
#[derive(Clone, PartialEq, Eq)]
pub struct Reason(String);

impl std::fmt::Debug for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Health data: never in a log.
        f.write_str("Reason(***)")
    }
}

impl Reason {
    /// The longest reason, in characters.
    pub const MAX_CHARS: usize = 500;

    /// Checks the form's text: required, at most [`Reason::MAX_CHARS`] characters, no control
    /// characters but line breaks.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let text = raw.trim().replace("\r\n", "\n");
        if text.is_empty() {
            return Err(Invalid("Say briefly what the visit is for.".into()));
        }
        if text.chars().count() > Self::MAX_CHARS {
            return Err(Invalid(format!(
                "Keep the reason to {} characters; you can say more at the visit.",
                Self::MAX_CHARS
            )));
        }
        if text.chars().any(|c| c.is_control() && c != '\n') {
            return Err(Invalid(
                "The reason contains characters that cannot be stored.".into(),
            ));
        }
        Ok(Reason(text))
    }

    /// Text read back from the database.
    pub fn from_stored(s: String) -> Self {
        Reason(s)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The clinic's appointment settings: its time zone, its cancellation cut-off and the number
/// patients call inside it.
#[derive(Clone, Debug, PartialEq)]
pub struct AppointmentSettings {
    /// The clinic's time zone: open times are its wall-clock times.
    pub zone: jiff::tz::TimeZone,
    /// The patient's side may cancel or move a visit until this many hours before it starts.
    pub cancel_hours: i64,
    /// The clinic's phone number, for changes inside the cut-off.
    pub phone: String,
    /// How many hours before a visit each reminder goes, largest first.
    pub reminder_hours: Vec<i64>,
    /// How many hours an earlier-time offer stays open.
    pub offer_hours: i64,
}

impl Default for AppointmentSettings {
    fn default() -> Self {
        AppointmentSettings {
            zone: jiff::tz::TimeZone::UTC,
            cancel_hours: 24,
            phone: String::new(),
            reminder_hours: vec![72, 24],
            offer_hours: 4,
        }
    }
}

impl AppointmentSettings {
    /// The longest cut-off, in hours.
    pub const MAX_CANCEL_HOURS: i64 = 24 * 14;

    /// Whether the patient's side may still cancel or move a visit starting at `start`.
    pub fn patient_may_change(&self, start: Timestamp, now: Timestamp) -> bool {
        now.saturating_add(SignedDuration::from_hours(
            self.cancel_hours.clamp(0, Self::MAX_CANCEL_HOURS),
        ))
        .is_ok_and(|limit| limit <= start)
    }

    /// A time as the clinic's wall clock shows it.
    pub fn local(&self, t: Timestamp) -> jiff::ZonedDateTime {
        t.to_zoned_datetime(self.zone.clone())
    }
}

/// A patient's age in whole years on `today`, from a `YYYY-MM-DD` birth date.
pub fn age_on(birth_date: &str, today: jiff::civil::Date) -> Option<i64> {
    let born: jiff::civil::Date = birth_date.get(..10)?.parse().ok()?;
    let mut years = i64::from(today.year()) - i64::from(born.year());
    if (today.month(), today.day()) < (born.month(), born.day()) {
        years -= 1;
    }
    (years >= 0).then_some(years)
}
