//! Secure messaging: what a conversation between a patient's side and the clinic is made of,
//! and the rules of its life (who it waits on, when it takes replies).
//!
//! Forms become these types at the edge ([`NewConversation::parse`], [`Body::parse`]); inner code
//! takes only validated text. Who may read or write a conversation is the policy's
//! ([`crate::access::authorize_conversation`]).

pub mod attachment;

use crate::fields::{FieldErrors, Invalid};
use crate::ids::{PoolId, UserId};

/// What a conversation is about, chosen by the patient's side when starting it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    /// A question about health or care.
    MedicalQuestion,
    /// Booking, moving or cancelling a visit.
    Appointment,
    /// Bills and insurance.
    Billing,
    /// A prescription renewal.
    Refill,
    /// Anything else.
    Other,
}

impl Topic {
    /// Every topic, in the order the compose page offers them.
    pub const ALL: [Topic; 5] = [
        Topic::MedicalQuestion,
        Topic::Appointment,
        Topic::Billing,
        Topic::Refill,
        Topic::Other,
    ];

    /// The stable text stored in the database and sent by forms.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::MedicalQuestion => "medical",
            Topic::Appointment => "appointment",
            Topic::Billing => "billing",
            Topic::Refill => "refill",
            Topic::Other => "other",
        }
    }

    /// The words people read.
    pub fn label(self) -> &'static str {
        match self {
            Topic::MedicalQuestion => "Medical question",
            Topic::Appointment => "Appointment",
            Topic::Billing => "Billing",
            Topic::Refill => "Prescription refill",
            Topic::Other => "Something else",
        }
    }

    /// Reads the stored or submitted text.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        Topic::ALL
            .into_iter()
            .find(|t| t.as_str() == raw.trim())
            .ok_or_else(|| Invalid("Choose what your message is about.".into()))
    }
}

/// Where a conversation is routed: one clinician, or a pool whose members share it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Recipient {
    /// A clinician (on the patient's care team, when the patient chose).
    Clinician(UserId),
    /// A clinic pool.
    Pool(PoolId),
}

impl Recipient {
    /// The form's text: `user:{id}` or `pool:{id}`.
    pub fn as_form(self) -> String {
        match self {
            Recipient::Clinician(id) => format!("user:{id}"),
            Recipient::Pool(id) => format!("pool:{id}"),
        }
    }

    /// Reads the form's text. Whether the portal offers this recipient to this patient is the
    /// app's to check against what it offered.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let bad = || Invalid("Choose who should receive your message.".into());
        let (kind, id) = raw.trim().split_once(':').ok_or_else(bad)?;
        match kind {
            "user" => id.parse().map(Recipient::Clinician).map_err(|_| bad()),
            "pool" => id.parse().map(Recipient::Pool).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
}

/// The longest subject, in characters.
pub const SUBJECT_MAX: usize = 120;
/// The longest message, in characters.
pub const BODY_MAX: usize = 10_000;
/// The longest internal note, in characters.
pub const NOTE_MAX: usize = 4_000;

/// A conversation's subject: one line of plain text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject(String);

impl Subject {
    /// Trims and checks a subject: 1 to [`SUBJECT_MAX`] characters, no line breaks or control
    /// characters.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(Invalid("Enter a subject.".into()));
        }
        if s.chars().count() > SUBJECT_MAX {
            return Err(Invalid(format!(
                "Keep the subject to {SUBJECT_MAX} characters."
            )));
        }
        if s.chars().any(char::is_control) {
            return Err(Invalid("The subject must be one line of text.".into()));
        }
        Ok(Self(s.to_string()))
    }
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The text of a message or a note: plain text whose line breaks are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Body(String);

impl Body {
    /// Normalises line breaks to `\n`, drops other control characters and trailing space,
    /// and checks the length: 1 to `max` characters.
    pub fn parse(raw: &str, max: usize, what: &str) -> Result<Self, Invalid> {
        let mut text = String::with_capacity(raw.len());
        for line in raw.replace("\r\n", "\n").replace('\r', "\n").split('\n') {
            if !text.is_empty() || !line.trim().is_empty() {
                let kept: String = line
                    .chars()
                    .filter(|c| *c == '\t' || !c.is_control())
                    .collect();
                text.push_str(kept.trim_end());
                text.push('\n');
            }
        }
        let text = text.trim_end().to_string();
        if text.is_empty() {
            return Err(Invalid(format!("Write your {what}.")));
        }
        if text.chars().count() > max {
            return Err(Invalid(format!(
                "Keep the {what} to {max} characters; it has {}.",
                text.chars().count()
            )));
        }
        Ok(Self(text))
    }
    /// A message's text.
    pub fn message(raw: &str) -> Result<Self, Invalid> {
        Self::parse(raw, BODY_MAX, "message")
    }
    /// An internal note's text.
    pub fn note(raw: &str) -> Result<Self, Invalid> {
        Self::parse(raw, NOTE_MAX, "note")
    }
    /// The text, lines separated by `\n`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Wraps text the portal stored after parsing it.
    pub fn stored(text: String) -> Self {
        Self(text)
    }
}

/// A new conversation as the patient's side sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewConversation {
    /// Who receives it.
    pub recipient: Recipient,
    /// What it is about.
    pub topic: Topic,
    /// Its subject.
    pub subject: Subject,
    /// The first message.
    pub body: Body,
}

impl NewConversation {
    /// Parses the compose form, naming each bad field.
    pub fn parse(
        recipient: &str,
        topic: &str,
        subject: &str,
        body: &str,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::new();
        let recipient = errors.take("recipient", Recipient::parse(recipient));
        let topic = errors.take("topic", Topic::parse(topic));
        let subject = errors.take("subject", Subject::parse(subject));
        let body = errors.take("body", Body::message(body));
        match (recipient, topic, subject, body) {
            (Some(recipient), Some(topic), Some(subject), Some(body)) if errors.is_empty() => {
                Ok(Self {
                    recipient,
                    topic,
                    subject,
                    body,
                })
            }
            _ => Err(errors),
        }
    }
}

/// Where a conversation stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Waiting on the clinic: the patient's side wrote last, or nobody marked it done.
    Open,
    /// The clinic marked it done; a new message from the patient's side opens it again.
    Done,
    /// Closed by the clinic: no more replies; a new conversation can start from it.
    Closed,
}

impl Status {
    /// The stable text stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::Done => "done",
            Status::Closed => "closed",
        }
    }
    /// Reads the stored text; anything else is treated as closed (takes no replies).
    pub fn from_stored(s: &str) -> Self {
        match s {
            "open" => Status::Open,
            "done" => Status::Done,
            _ => Status::Closed,
        }
    }
    /// Whether the conversation takes replies.
    pub fn takes_replies(self) -> bool {
        self != Status::Closed
    }
    /// The status after a message from the patient's side: it waits on the clinic again.
    pub fn after_patient_message(self) -> Result<Status, Closed> {
        match self {
            Status::Closed => Err(Closed),
            Status::Open | Status::Done => Ok(Status::Open),
        }
    }
    /// The status after the clinic's answer: unchanged (the clinic marks it done itself).
    pub fn after_clinic_message(self) -> Result<Status, Closed> {
        match self {
            Status::Closed => Err(Closed),
            other => Ok(other),
        }
    }
    /// The status after the clinic marks it done.
    pub fn mark_done(self) -> Result<Status, Closed> {
        match self {
            Status::Closed => Err(Closed),
            Status::Open | Status::Done => Ok(Status::Done),
        }
    }
}

/// The conversation is closed and takes no more messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("This conversation is closed. Start a new message instead.")]
pub struct Closed;

/// Which side of a conversation wrote a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// The patient or a proxy acting for them.
    Patient,
    /// A clinician or staff member.
    Clinic,
}

impl Side {
    /// The stable text stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Patient => "patient",
            Side::Clinic => "clinic",
        }
    }
    /// Reads the stored text.
    pub fn from_stored(s: &str) -> Self {
        if s == "patient" {
            Side::Patient
        } else {
            Side::Clinic
        }
    }
}

/// Clinic settings that messaging reads, with the defaults a fresh portal starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessagingSettings {
    /// What the compose page promises, e.g. "2 business days".
    pub reply_time: String,
    /// How many business days a waiting conversation may wait before the digest calls it
    /// overdue.
    pub reply_days: i64,
    /// The number to call in an emergency.
    pub emergency_number: String,
    /// A crisis line, for someone in distress.
    pub crisis_line: String,
    /// The largest attachment, in bytes.
    pub attachment_max_bytes: usize,
    /// The most attachments one message may carry.
    pub attachment_max_count: usize,
}

impl Default for MessagingSettings {
    fn default() -> Self {
        Self {
            reply_time: "2 business days".into(),
            reply_days: 2,
            emergency_number: "911".into(),
            crisis_line: "988 (Suicide & Crisis Lifeline, call or text)".into(),
            attachment_max_bytes: 10 * 1024 * 1024,
            attachment_max_count: 3,
        }
    }
}

/// The most an operator may allow for one attachment, whatever the settings say.
pub const ATTACHMENT_CEILING_BYTES: usize = 25 * 1024 * 1024;
/// The most attachments an operator may allow on one message.
pub const ATTACHMENT_CEILING_COUNT: usize = 10;
/// The most bytes of files one message may carry together (size times count).
pub const ATTACHMENT_TOTAL_BYTES: usize = 50 * 1024 * 1024;

/// Counts business days (Monday to Friday) from `from` to `to`, not counting `from`'s own day.
pub fn business_days_between(from: jiff::civil::Date, to: jiff::civil::Date) -> i64 {
    use jiff::civil::Weekday;
    if to <= from {
        return 0;
    }
    let mut days = 0;
    let mut d = from;
    while d < to {
        d = match d.tomorrow() {
            Ok(next) => next,
            Err(_) => break,
        };
        if !matches!(d.weekday(), Weekday::Saturday | Weekday::Sunday) {
            days += 1;
        }
    }
    days
}

#[cfg(test)]
mod tests;
