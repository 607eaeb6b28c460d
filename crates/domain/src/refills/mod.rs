//! Prescription refills: which current medications the patient's side may ask the clinic to
//! renew (the clinic's rules, and what the record says or leaves out), where a request stands,
//! the clinic's decision, and who a request waits for as time passes.

mod schedules;

pub use schedules::{DeaSchedule, RXNORM, dea_schedule};

use crate::fields::{FieldErrors, Invalid};
use jiff::{SignedDuration, Timestamp};

#[cfg(test)]
mod tests;

/// The clinic's refill rules (stored settings over the portal's defaults).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefillRules {
    /// Where the record gives no end date, prescriptions written within this many months may
    /// be renewed from the portal.
    pub window_months: u32,
    /// Controlled-substance schedules that cannot be requested from the portal.
    pub refused_schedules: Vec<DeaSchedule>,
    /// Hours a request waits for its prescriber before it goes to the pool, and again before it
    /// goes to the pool's lead clinician.
    pub escalate_hours: u32,
}

impl Default for RefillRules {
    fn default() -> Self {
        Self {
            window_months: 12,
            refused_schedules: DeaSchedule::ALL.to_vec(),
            escalate_hours: 48,
        }
    }
}

/// The longest renewal window a clinic may set, in months.
pub const MAX_WINDOW_MONTHS: u32 = 60;
/// The longest escalation step a clinic may set, in hours (two weeks).
pub const MAX_ESCALATE_HOURS: u32 = 24 * 14;

impl RefillRules {
    /// Reads the renewal window as typed: whole months from 1 to [`MAX_WINDOW_MONTHS`].
    pub fn parse_window(raw: &str) -> Result<u32, Invalid> {
        match raw.trim().parse::<u32>() {
            Ok(m) if (1..=MAX_WINDOW_MONTHS).contains(&m) => Ok(m),
            _ => Err(Invalid(format!(
                "Give a whole number of months from 1 to {MAX_WINDOW_MONTHS}."
            ))),
        }
    }

    /// Reads the escalation step as typed: whole hours from 1 to [`MAX_ESCALATE_HOURS`].
    pub fn parse_escalate_hours(raw: &str) -> Result<u32, Invalid> {
        match raw.trim().parse::<u32>() {
            Ok(h) if (1..=MAX_ESCALATE_HOURS).contains(&h) => Ok(h),
            _ => Err(Invalid(format!(
                "Give a whole number of hours from 1 to {MAX_ESCALATE_HOURS}."
            ))),
        }
    }

    /// Reads the refused schedules as stored ("II,III,IV,V"; empty: none refused). Unknown
    /// names are refused, so a damaged setting never lets a schedule through silently.
    pub fn parse_schedules(raw: &str) -> Result<Vec<DeaSchedule>, Invalid> {
        let mut out = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let schedule = DeaSchedule::from_stored(part)
                .ok_or_else(|| Invalid(format!("{part:?} is not a DEA schedule (II to V).")))?;
            if !out.contains(&schedule) {
                out.push(schedule);
            }
        }
        out.sort();
        Ok(out)
    }

    /// The refused schedules as stored.
    pub fn schedules_text(&self) -> String {
        self.refused_schedules
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// What the record says about one prescription, and what the portal knows of it.
#[derive(Clone, Debug, Default)]
pub struct MedicationFacts<'a> {
    /// The prescription's FHIR status (`active`, `completed`, `stopped` …).
    pub status: &'a str,
    /// Every code the drug is named by: (system, code).
    pub codes: Vec<(&'a str, &'a str)>,
    /// When it was written.
    pub authored: Option<Timestamp>,
    /// Refills the prescription allows (`dispenseRequest.numberOfRepeatsAllowed`).
    pub refills_allowed: Option<u32>,
    /// The end of its validity period (`dispenseRequest.validityPeriod.end`).
    pub valid_until: Option<Timestamp>,
    /// Whether a request for it waits for the clinic.
    pub pending: bool,
    /// Whether the patient has died.
    pub deceased: bool,
    /// Whether the patient's record is marked inactive.
    pub record_inactive: bool,
}

/// Why a medication cannot be requested from the portal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The patient has died, or the record is inactive.
    RecordClosed,
    /// The prescription is not active (stopped, completed, on hold …).
    NotCurrent,
    /// A request for it already waits for the clinic.
    Pending,
    /// A controlled substance in a schedule the clinic does not renew online.
    Controlled(DeaSchedule),
    /// The prescription's validity ended.
    Expired,
    /// The prescription allows no refills (`numberOfRepeatsAllowed` 0; the record does not
    /// say how many of those allowed were used).
    NoRefillsLeft,
    /// The record gives no end date and it was written longer ago than the clinic renews.
    TooOld {
        /// The clinic's window.
        months: u32,
    },
    /// The record gives neither an end date nor the date it was written.
    Undated,
}

impl Refusal {
    /// The reason, in the words the patient's side reads.
    pub fn words(self) -> String {
        match self {
            Refusal::RecordClosed => "Refills cannot be requested for this record.".into(),
            Refusal::NotCurrent => "This prescription is not active.".into(),
            Refusal::Pending => "A refill request for it is already with the clinic.".into(),
            Refusal::Controlled(schedule) => format!(
                "It is a controlled substance (DEA schedule {}), which the clinic renews only \
                 in person or by message.",
                schedule.as_str()
            ),
            Refusal::Expired => "The prescription has expired.".into(),
            Refusal::NoRefillsLeft => {
                "This prescription allows no refills; the clinic needs to write a new one.".into()
            }
            Refusal::TooOld { months } => format!(
                "It was prescribed more than {months} months ago; the clinic needs to review it."
            ),
            Refusal::Undated => "The record does not say when it was prescribed.".into(),
        }
    }

    /// Whether messaging the care team is the way forward (not for a closed record or a
    /// request already sent).
    pub fn offers_message(self) -> bool {
        !matches!(self, Refusal::RecordClosed | Refusal::Pending)
    }
}

/// Why a medication may be requested.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allowed {
    /// The record gives the prescription's end date and it has not passed.
    RecordSays,
    /// The record gives no end date: the clinic's rule (written within its window) decides.
    ClinicRule {
        /// The clinic's window.
        months: u32,
    },
}

impl Allowed {
    /// What the page says about why it may be requested.
    pub fn words(self) -> String {
        match self {
            Allowed::RecordSays => "Can be requested from the portal.".into(),
            Allowed::ClinicRule { months } => format!(
                "Can be requested: the record gives no end date, and the clinic renews \
                 prescriptions written in the last {months} months."
            ),
        }
    }
}

/// Whether a medication may be requested now, and why (not).
pub fn eligibility(
    facts: &MedicationFacts<'_>,
    rules: &RefillRules,
    now: Timestamp,
) -> Result<Allowed, Refusal> {
    if facts.deceased || facts.record_inactive {
        return Err(Refusal::RecordClosed);
    }
    if facts.status != "active" {
        return Err(Refusal::NotCurrent);
    }
    if facts.pending {
        return Err(Refusal::Pending);
    }
    if let Some(schedule) = facts
        .codes
        .iter()
        .find_map(|(system, code)| dea_schedule(system, code))
        .filter(|s| rules.refused_schedules.contains(s))
    {
        return Err(Refusal::Controlled(schedule));
    }
    if facts.refills_allowed == Some(0) {
        return Err(Refusal::NoRefillsLeft);
    }
    match (facts.valid_until, facts.authored) {
        (Some(end), _) if end <= now => Err(Refusal::Expired),
        (Some(_), _) => Ok(Allowed::RecordSays),
        (None, None) => Err(Refusal::Undated),
        (None, Some(written)) => {
            let months = rules.window_months;
            let limit = now
                .to_zoned_datetime(jiff::tz::TimeZone::UTC)
                .checked_sub(jiff::Span::new().months(i64::from(months)))
                .map(|z| z.timestamp())
                .unwrap_or(Timestamp::MIN);
            if written >= limit {
                Ok(Allowed::ClinicRule { months })
            } else {
                Err(Refusal::TooOld { months })
            }
        }
    }
}

/// Where one medication of a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefillStatus {
    /// Sent; nobody at the clinic has opened it.
    Sent,
    /// A clinician who may decide has opened it.
    InReview,
    /// Approved: a new prescription was written.
    Approved,
    /// Refused, with a reason the patient's side reads.
    Denied,
    /// Answered with a message to the patient instead (for "please book a visit").
    Messaged,
    /// The approved prescription went to the pharmacy.
    SentToPharmacy,
}

impl RefillStatus {
    /// The stable text stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            RefillStatus::Sent => "sent",
            RefillStatus::InReview => "in-review",
            RefillStatus::Approved => "approved",
            RefillStatus::Denied => "denied",
            RefillStatus::Messaged => "messaged",
            RefillStatus::SentToPharmacy => "sent-to-pharmacy",
        }
    }

    /// Reads the stored text.
    pub fn from_stored(s: &str) -> Option<Self> {
        Some(match s {
            "sent" => RefillStatus::Sent,
            "in-review" => RefillStatus::InReview,
            "approved" => RefillStatus::Approved,
            "denied" => RefillStatus::Denied,
            "messaged" => RefillStatus::Messaged,
            "sent-to-pharmacy" => RefillStatus::SentToPharmacy,
            _ => return None,
        })
    }

    /// The status as the patient's side reads it.
    pub fn words(self) -> &'static str {
        match self {
            RefillStatus::Sent => "Sent",
            RefillStatus::InReview => "In review",
            RefillStatus::Approved => "Approved",
            RefillStatus::Denied => "Denied",
            RefillStatus::Messaged => "Answered by message",
            RefillStatus::SentToPharmacy => "Sent to the pharmacy",
        }
    }

    /// Whether it waits for the clinic's decision.
    pub fn is_pending(self) -> bool {
        matches!(self, RefillStatus::Sent | RefillStatus::InReview)
    }

    /// Whether a (new) decision may be taken: while it waits, and after a refusal or a message
    /// (a change of mind is a new decision). An approved prescription is not taken back here:
    /// it was written, and the EHR may already hold it.
    pub fn may_decide(self) -> bool {
        !matches!(self, RefillStatus::Approved | RefillStatus::SentToPharmacy)
    }

    /// The status a decision leads to.
    pub fn after(decision: &Decision) -> RefillStatus {
        match decision {
            Decision::Approve { .. } => RefillStatus::Approved,
            Decision::Deny { .. } => RefillStatus::Denied,
            Decision::Message { .. } => RefillStatus::Messaged,
        }
    }
}

/// The most a renewed prescription may allow in one fill.
pub const MAX_QUANTITY: u32 = 1000;
/// The most refills a renewed prescription may allow.
pub const MAX_REFILLS: u32 = 11;
/// The longest comment, reason or message, in characters.
pub const MAX_TEXT: usize = 2000;

/// A clinician's decision on one medication of a request, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Approve, optionally changing the quantity or the refills of the original.
    Approve {
        /// The quantity per fill (`None`: as before).
        quantity: Option<u32>,
        /// Refills allowed (`None`: as before).
        refills: Option<u32>,
    },
    /// Refuse, with the reason the patient's side reads.
    Deny {
        /// The reason.
        reason: String,
    },
    /// Answer with a message to the patient instead.
    Message {
        /// The message.
        text: String,
    },
}

/// What a decision form sent.
#[derive(Clone, Debug, Default)]
pub struct DecisionForm {
    /// `approve`, `deny` or `message`.
    pub choice: String,
    /// A new quantity (empty: as before).
    pub quantity: String,
    /// New refills (empty: as before).
    pub refills: String,
    /// The reason for a refusal.
    pub reason: String,
    /// The message for "answer by message".
    pub message: String,
    /// The status the clinician saw when the page was shown (a decision on anything newer is
    /// refused, so nobody overrides a decision they did not see).
    pub seen: String,
}

fn text(field: &'static str, raw: &str, what: &str) -> Result<String, FieldErrors> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(FieldErrors::single(field, format!("Write {what}.")));
    }
    if t.chars().count() > MAX_TEXT {
        return Err(FieldErrors::single(
            field,
            format!("Keep it under {MAX_TEXT} characters."),
        ));
    }
    Ok(t.to_string())
}

fn whole(field: &'static str, raw: &str, min: u32, max: u32) -> Result<Option<u32>, FieldErrors> {
    let t = raw.trim();
    if t.is_empty() {
        return Ok(None);
    }
    match t.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => Err(FieldErrors::single(
            field,
            format!("Give a whole number from {min} to {max}, or leave it empty."),
        )),
    }
}

impl Decision {
    /// Reads a decision form.
    pub fn parse(form: &DecisionForm) -> Result<Decision, FieldErrors> {
        match form.choice.as_str() {
            "approve" => {
                let quantity = whole("quantity", &form.quantity, 1, MAX_QUANTITY);
                let refills = whole("refills", &form.refills, 0, MAX_REFILLS);
                match (quantity, refills) {
                    (Ok(quantity), Ok(refills)) => Ok(Decision::Approve { quantity, refills }),
                    (q, r) => {
                        let mut errors = FieldErrors::new();
                        for e in [q.err(), r.err()].into_iter().flatten() {
                            for (field, message) in e.iter() {
                                errors.add(field, message.clone());
                            }
                        }
                        Err(errors)
                    }
                }
            }
            "deny" => Ok(Decision::Deny {
                reason: text("reason", &form.reason, "the reason the patient will read")?,
            }),
            "message" => Ok(Decision::Message {
                text: text("message", &form.message, "the message to the patient")?,
            }),
            _ => Err(FieldErrors::single(
                "choice",
                "Choose approve, deny or answer by message.",
            )),
        }
    }
}

/// Reads the patient's optional comment.
pub fn parse_comment(raw: &str) -> Result<String, Invalid> {
    let t = raw.trim();
    if t.chars().count() > MAX_TEXT {
        return Err(Invalid(format!(
            "Keep the comment under {MAX_TEXT} characters."
        )));
    }
    Ok(t.to_string())
}

/// Who a request waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    /// The clinician who wrote the prescription (the pool sees it too).
    Prescriber,
    /// The pool: nobody acted in time, so any clinician of the pool is asked.
    Pool,
    /// The pool's lead clinician: still nobody acted.
    Lead,
}

impl Stage {
    /// The stable text stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Prescriber => "prescriber",
            Stage::Pool => "pool",
            Stage::Lead => "lead",
        }
    }

    /// Reads the stored text.
    pub fn from_stored(s: &str) -> Option<Self> {
        Some(match s {
            "prescriber" => Stage::Prescriber,
            "pool" => Stage::Pool,
            "lead" => Stage::Lead,
            _ => return None,
        })
    }

    /// The stage a request routed at `since` has reached at `now`, if it moved on: one step
    /// per `hours` nobody acted, never past the lead.
    pub fn due(self, since: Timestamp, now: Timestamp, hours: u32) -> Option<Stage> {
        let step = SignedDuration::from_hours(i64::from(hours.max(1)));
        if now.duration_since(since) < step {
            return None;
        }
        match self {
            Stage::Prescriber => Some(Stage::Pool),
            Stage::Pool => Some(Stage::Lead),
            Stage::Lead => None,
        }
    }
}
