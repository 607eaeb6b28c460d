//! The banner above every page of a patient's record: who the record is, in words people use.

use crate::pages::words::Dates;
use portal_domain::{Patient, PatientId};

/// The patient a page is about, as the banner shows them.
pub struct Banner {
    /// The record's id (for links).
    pub id: PatientId,
    /// "Given Family".
    pub name: String,
    /// The given name alone.
    pub given_name: String,
    /// The birth date, written for people.
    pub born: String,
    /// "Age 6", "Age 8 months"; none once the patient has died or without a birth date.
    pub age: Option<String>,
    /// The medical record number, when the record has one a person could quote.
    pub mrn: Option<String>,
    /// When the patient died, written for people ("Jul 14, 1977", or "date not recorded").
    pub died: Option<String>,
}

impl Banner {
    /// The banner of `patient`, with the age on `today`'s date in the clinic's calendar.
    pub fn new(patient: &Patient, dates: &Dates, now: jiff::Timestamp) -> Banner {
        let birth = patient.birth_date.parse::<jiff::civil::Date>().ok();
        let died = patient.deceased.as_deref().map(|at| {
            if at.trim().is_empty() {
                "date not recorded".to_string()
            } else {
                dates.fhir(at)
            }
        });
        let today = dates.civil_today(now);
        Banner {
            id: patient.id,
            name: patient.display_name(),
            given_name: patient.given_name.clone(),
            born: if patient.birth_date.is_empty() {
                "date not recorded".into()
            } else {
                dates.fhir(&patient.birth_date)
            },
            age: match (birth, &died) {
                (Some(birth), None) => age_words(birth, today),
                _ => None,
            },
            mrn: human_mrn(&patient.mrn),
            died,
        }
    }
}

/// An age as people say it: months under two years, then years.
pub fn age_words(birth: jiff::civil::Date, today: jiff::civil::Date) -> Option<String> {
    if birth > today {
        return None;
    }
    let span = birth.until((jiff::Unit::Year, today)).ok()?;
    let years = span.get_years();
    if years >= 2 {
        return Some(format!("Age {years}"));
    }
    let months = birth.until((jiff::Unit::Month, today)).ok()?.get_months();
    Some(match months {
        0 => "Under a month old".to_string(),
        1 => "Age 1 month".to_string(),
        n => format!("Age {n} months"),
    })
}

/// The MRN when it is one a person could read out: not a UUID, and not the portal's own
/// stand-in for a record that came without one.
fn human_mrn(mrn: &str) -> Option<String> {
    let mrn = mrn.trim();
    if mrn.is_empty() || mrn.starts_with("FHIR-") || uuid::Uuid::parse_str(mrn).is_ok() {
        return None;
    }
    Some(mrn.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patient(birth: &str, deceased: Option<&str>, mrn: &str) -> Patient {
        Patient {
            id: PatientId::new_v7(now()),
            mrn: mrn.into(),
            given_name: "Leo".into(),
            family_name: "Martinez".into(),
            birth_date: birth.into(),
            sex: "male".into(),
            deceased: deceased.map(str::to_string),
        }
    }

    fn now() -> jiff::Timestamp {
        "2026-12-03T12:00:00Z".parse().expect("a timestamp")
    }

    #[test]
    fn the_living_have_an_age_and_the_dead_a_date_of_death() {
        let dates = Dates::default();
        let leo = Banner::new(&patient("2019-04-10", None, "MRN-1"), &dates, now());
        assert_eq!(leo.age.as_deref(), Some("Age 7"));
        assert_eq!(leo.born, "Apr 10, 2019");
        assert_eq!(leo.died, None);
        let gone = Banner::new(
            &patient("1920-01-01", Some("1977-07-14T04:17:45-04:00"), "MRN-2"),
            &dates,
            now(),
        );
        assert_eq!(gone.age, None);
        assert_eq!(gone.died.as_deref(), Some("Jul 14, 1977"));
        let undated = Banner::new(&patient("1920-01-01", Some(""), "MRN-3"), &dates, now());
        assert_eq!(undated.died.as_deref(), Some("date not recorded"));
    }

    #[test]
    fn babies_are_aged_in_months() {
        let today = jiff::civil::date(2026, 12, 3);
        assert_eq!(
            age_words(jiff::civil::date(2026, 3, 1), today).as_deref(),
            Some("Age 9 months")
        );
        assert_eq!(
            age_words(jiff::civil::date(2026, 11, 20), today).as_deref(),
            Some("Under a month old")
        );
        assert_eq!(age_words(jiff::civil::date(2027, 1, 1), today), None);
    }

    #[test]
    fn machine_ids_are_not_shown_as_record_numbers() {
        let dates = Dates::default();
        let uuid = Banner::new(
            &patient("2000-01-01", None, "a0e1c3f6-7f3a-4a8e-9b1c-2d3e4f5a6b7c"),
            &dates,
            now(),
        );
        assert_eq!(uuid.mrn, None);
        let stand_in = Banner::new(&patient("2000-01-01", None, "FHIR-123"), &dates, now());
        assert_eq!(stand_in.mrn, None);
        let real = Banner::new(&patient("2000-01-01", None, "DEMO-0001"), &dates, now());
        assert_eq!(real.mrn.as_deref(), Some("DEMO-0001"));
    }
}
