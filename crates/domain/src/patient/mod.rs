//! Who a patient is: the demographics every page about them shows in its header.

use crate::ids::PatientId;

pub mod search;

pub use search::{PatientQuery, search_key};

/// A patient's demographics.
#[derive(Clone)]
pub struct Patient {
    /// The record's id.
    pub id: PatientId,
    /// The medical record number.
    pub mrn: String,
    /// Given name(s).
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Birth date, YYYY-MM-DD.
    pub birth_date: String,
    /// Administrative sex.
    pub sex: String,
    /// When the patient died, if the record says so: the FHIR dateTime, or empty when the
    /// record says the patient died without a date.
    pub deceased: Option<String>,
}

impl std::fmt::Debug for Patient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a name or a birth date into a log.
        f.debug_struct("Patient")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Patient {
    /// "Given Family".
    pub fn display_name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name)
    }
}
