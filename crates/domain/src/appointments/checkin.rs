//! E-check-in: before a visit the patient's side confirms contact details and insurance, says
//! which medications and allergies still hold, and answers the kind of visit's questions.
//! Forms become these types at the edge (`Contact::parse`, `Insurance::parse`, …).

use crate::fields::{Email, FieldErrors, Invalid};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// How many days before a visit check-in opens.
pub const CHECK_IN_DAYS: i64 = 7;
/// The most questions a kind of visit may ask.
pub const MAX_QUESTIONS: usize = 10;
/// The longest answer, in characters.
pub const MAX_ANSWER_CHARS: usize = 1000;

/// Whether check-in is open at `now` for a visit starting at `start`: from
/// [`CHECK_IN_DAYS`] days before until it begins.
pub fn is_open(start: Timestamp, now: Timestamp) -> bool {
    now < start
        && start
            .checked_sub(SignedDuration::from_hours(24 * CHECK_IN_DAYS))
            .is_ok_and(|opens| opens <= now)
}

fn line(raw: &str, max: usize, what: &str) -> Result<String, Invalid> {
    let text = raw.trim();
    if text.chars().count() > max || text.chars().any(char::is_control) {
        return Err(Invalid(format!("Enter {what} of up to {max} characters.")));
    }
    Ok(text.to_string())
}

/// The patient's contact details as confirmed at check-in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// Phone number.
    pub phone: String,
    /// E-mail address.
    pub email: String,
    /// Street address.
    pub street: String,
    /// City.
    pub city: String,
    /// State or region.
    pub region: String,
    /// Postal code.
    pub postal_code: String,
}

impl Contact {
    /// Checks the form's fields; each error names its field.
    pub fn parse(raw: &Contact) -> Result<Contact, FieldErrors> {
        let mut errors = FieldErrors::new();
        let phone = errors.take("phone", line(&raw.phone, 40, "a phone number"));
        if let Some(p) = &phone
            && (p.is_empty()
                || !p
                    .chars()
                    .all(|c| c.is_ascii_digit() || " +-().".contains(c)))
        {
            errors.add(
                "phone",
                "Enter a phone number we can call, digits and + - ( ) only.",
            );
        }
        let email = if raw.email.trim().is_empty() {
            Some(String::new())
        } else {
            errors.take(
                "email",
                Email::parse(&raw.email).map(|e| e.as_str().to_string()),
            )
        };
        let street = errors.take("street", line(&raw.street, 120, "a street address"));
        let city = errors.take("city", line(&raw.city, 80, "a city"));
        let region = errors.take("region", line(&raw.region, 80, "a state"));
        let postal_code = errors.take("postal_code", line(&raw.postal_code, 20, "a postal code"));
        match (phone, email, street, city, region, postal_code) {
            (
                Some(phone),
                Some(email),
                Some(street),
                Some(city),
                Some(region),
                Some(postal_code),
            ) if errors.is_empty() => Ok(Contact {
                phone,
                email,
                street,
                city,
                region,
                postal_code,
            }),
            _ => Err(errors),
        }
    }
}

/// The patient's insurance as confirmed at check-in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Insurance {
    /// Whether the patient has none (pays themselves).
    pub none: bool,
    /// The insurer or plan.
    pub payer: String,
    /// The member id on the card.
    pub member_id: String,
    /// The group number on the card.
    pub group_number: String,
}

impl Insurance {
    /// Checks the form's fields; each error names its field.
    pub fn parse(raw: &Insurance) -> Result<Insurance, FieldErrors> {
        let mut errors = FieldErrors::new();
        if raw.none {
            return Ok(Insurance {
                none: true,
                ..Insurance::default()
            });
        }
        let payer = errors.take("payer", line(&raw.payer, 100, "the insurer's name"));
        let member_id = errors.take("member_id", line(&raw.member_id, 40, "the member id"));
        let group_number = errors.take(
            "group_number",
            line(&raw.group_number, 40, "the group number"),
        );
        if payer.as_deref().is_some_and(str::is_empty) {
            errors.add(
                "payer",
                "Enter your insurer, or tick that you have no insurance.",
            );
        }
        if member_id.as_deref().is_some_and(str::is_empty) {
            errors.add("member_id", "Enter the member id from your card.");
        }
        match (payer, member_id, group_number) {
            (Some(payer), Some(member_id), Some(group_number)) if errors.is_empty() => {
                Ok(Insurance {
                    none: false,
                    payer,
                    member_id,
                    group_number,
                })
            }
            _ => Err(errors),
        }
    }
}

/// What the patient says of a medication or an allergy the record lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Answer {
    /// Still so (taking it; still allergic).
    Still,
    /// No longer so (stopped; no longer allergic).
    NoLonger,
    /// The patient is not sure.
    NotSure,
}

impl Answer {
    /// The form's text.
    pub fn as_str(self) -> &'static str {
        match self {
            Answer::Still => "still",
            Answer::NoLonger => "no-longer",
            Answer::NotSure => "not-sure",
        }
    }

    /// Reads the form's text.
    pub fn parse(raw: &str) -> Result<Answer, Invalid> {
        match raw.trim() {
            "still" => Ok(Answer::Still),
            "no-longer" => Ok(Answer::NoLonger),
            "not-sure" => Ok(Answer::NotSure),
            _ => Err(Invalid("Choose one answer for each item.".into())),
        }
    }
}

/// One medication or allergy from the record with the patient's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reviewed {
    /// The record item's id.
    pub item: String,
    /// Its name as the record has it.
    pub label: String,
    /// The answer.
    pub answer: Answer,
}

/// The clinical part of a check-in: the record's medications and allergies reviewed, and what
/// the record lacks, in the patient's words.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// Medications.
    pub medications: Vec<Reviewed>,
    /// Other medicines the patient takes that the list lacks.
    pub other_medications: String,
    /// Allergies.
    pub allergies: Vec<Reviewed>,
    /// Allergies the list lacks.
    pub other_allergies: String,
}

impl Review {
    /// Whether the patient reported anything the clinician should look at.
    pub fn has_changes(&self) -> bool {
        self.medications
            .iter()
            .chain(&self.allergies)
            .any(|r| r.answer != Answer::Still)
            || !self.other_medications.trim().is_empty()
            || !self.other_allergies.trim().is_empty()
    }
}

/// Checks free text the patient adds (other medicines, other allergies, an answer).
pub fn free_text(raw: &str, what: &str) -> Result<String, Invalid> {
    let text = raw.trim().replace("\r\n", "\n");
    if text.chars().count() > MAX_ANSWER_CHARS {
        return Err(Invalid(format!(
            "Keep {what} to {MAX_ANSWER_CHARS} characters."
        )));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Invalid(format!(
            "{what} contains characters that cannot be stored."
        )));
    }
    Ok(text)
}

/// A kind of visit's questions from the admin's text: one a line, blank lines dropped.
pub fn questions(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(MAX_QUESTIONS)
        .map(str::to_string)
        .collect()
}

/// Checks the questions an admin typed: at most [`MAX_QUESTIONS`], each up to 200 characters.
pub fn parse_questions(text: &str) -> Result<String, Invalid> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.len() > MAX_QUESTIONS {
        return Err(Invalid(format!("Ask at most {MAX_QUESTIONS} questions.")));
    }
    if lines
        .iter()
        .any(|l| l.chars().count() > 200 || l.chars().any(char::is_control))
    {
        return Err(Invalid(
            "Keep each question to one line of up to 200 characters.".into(),
        ));
    }
    Ok(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().expect("time")
    }

    #[test]
    fn check_in_opens_seven_days_before_and_closes_at_the_start() {
        let start = at("2027-01-20T15:00:00Z");
        assert!(!is_open(start, at("2027-01-13T14:59:00Z")));
        assert!(is_open(start, at("2027-01-13T15:00:00Z")));
        assert!(is_open(start, at("2027-01-20T14:59:00Z")));
        assert!(!is_open(start, start));
    }

    #[test]
    fn contact_details_name_each_bad_field() {
        let bad = Contact {
            phone: "call me".into(),
            email: "nope".into(),
            street: "x".repeat(121),
            city: "Springfield".into(),
            region: "IL".into(),
            postal_code: "62701".into(),
        };
        let errors = Contact::parse(&bad).expect_err("refused");
        for field in ["phone", "email", "street"] {
            assert!(errors.get(field).is_some(), "{field}");
        }
        let good = Contact {
            phone: "+1 (555) 010-2000".into(),
            email: "Sofia@Example.org".into(),
            ..bad
        };
        let good = Contact {
            street: "12 Elm St".into(),
            ..good
        };
        assert_eq!(
            Contact::parse(&good).expect("accepted").email,
            "sofia@example.org"
        );
    }

    #[test]
    fn insurance_needs_a_payer_and_member_id_unless_there_is_none() {
        assert!(Insurance::parse(&Insurance::default()).is_err());
        let none = Insurance {
            none: true,
            payer: "ignored".into(),
            ..Insurance::default()
        };
        assert_eq!(Insurance::parse(&none).expect("none").payer, "");
        let card = Insurance {
            payer: "Acme Health".into(),
            member_id: "XZ123".into(),
            ..Insurance::default()
        };
        assert!(Insurance::parse(&card).is_ok());
    }

    #[test]
    fn a_review_has_changes_when_anything_is_not_still_so() {
        let still = Reviewed {
            item: "1".into(),
            label: "Lisinopril".into(),
            answer: Answer::Still,
        };
        let mut review = Review {
            medications: vec![still.clone()],
            ..Review::default()
        };
        assert!(!review.has_changes());
        review.other_allergies = "Penicillin".into();
        assert!(review.has_changes());
        review.other_allergies.clear();
        review.medications[0].answer = Answer::NoLonger;
        assert!(review.has_changes());
    }

    #[test]
    fn questions_are_lines_at_most_ten() {
        assert_eq!(
            questions("  Where will you be?\n\nWhat to discuss?\n"),
            ["Where will you be?", "What to discuss?"]
        );
        assert!(parse_questions(&"Q?\n".repeat(11)).is_err());
        assert!(parse_questions(&"x".repeat(201)).is_err());
        assert_eq!(parse_questions(" A?\n\n B? ").expect("ok"), "A?\nB?");
    }
}
