//! Plain structs for the mapped resources and the FHIR data types they share. Values are already
//! checked: dates are valid FHIR dates, codes are in their value sets, attachments decoded.

mod clinical;
mod directory;
mod medication;
mod results;

use serde::{Deserialize, Serialize};

use crate::codes::{
    AddressType, AddressUse, ContactPointSystem, ContactPointUse, IdentifierUse, NameUse,
    QuantityComparator,
};
pub use clinical::{
    ALLERGY_CLINICAL_SYSTEM, ALLERGY_VERIFICATION_SYSTEM, AllergyIntoleranceData,
    CONDITION_CLINICAL_SYSTEM, CONDITION_VERIFICATION_SYSTEM, CarePlanActivity, CarePlanData,
    CareTeamData, CareTeamParticipant, ConditionData, EncounterData, EncounterParticipant,
    ImmunizationData, ProcedureData, Reaction,
};
pub use directory::{
    Deceased, LocationData, OrganizationData, PatientData, PractitionerData, Qualification,
};
pub use medication::{Dosage, MedicationChoice, MedicationData, MedicationRequestData};
pub use results::{
    Component, DiagnosticReportData, DocumentReferenceData, ObservationData, ObservationValue,
    ReferenceRange,
};

/// A code from a code system (`Coding`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Coding {
    /// The code system URI, e.g. `http://loinc.org`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The code within the system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The system's words for the code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// A coded concept with its text (`CodeableConcept`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Concept {
    /// The codings, in the order sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codings: Vec<Coding>,
    /// The words the sender chose for the concept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl Concept {
    /// Words to show a person: the text, else the first coding's display, else `code (system)`.
    pub fn label(&self) -> String {
        if let Some(text) = &self.text {
            return text.clone();
        }
        if let Some(display) = self
            .codings
            .iter()
            .find_map(|coding| coding.display.as_ref())
        {
            return display.clone();
        }
        match self.codings.iter().find(|coding| coding.code.is_some()) {
            Some(Coding {
                code: Some(code),
                system: Some(system),
                ..
            }) => format!("{code} ({system})"),
            Some(Coding {
                code: Some(code), ..
            }) => code.clone(),
            _ => String::new(),
        }
    }

    /// The code of the first coding from `system`, if any.
    pub fn code_in(&self, system: &str) -> Option<&str> {
        self.codings
            .iter()
            .find(|coding| coding.system.as_deref() == Some(system))
            .and_then(|coding| coding.code.as_deref())
    }

    /// Whether any coding is `code` of `system`.
    pub fn has_code(&self, system: &str, code: &str) -> bool {
        self.codings.iter().any(|coding| {
            coding.system.as_deref() == Some(system) && coding.code.as_deref() == Some(code)
        })
    }
}

/// A measured amount (`Quantity`, also `Age`, `Duration`, `SimpleQuantity`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Quantity {
    /// The number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The unit as shown to people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// The unit's code system (usually UCUM, `http://unitsofmeasure.org`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The unit's code in that system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// `<`, `<=`, `>=` or `>` when the value is a bound, not exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparator: Option<QuantityComparator>,
}

/// A span of time (`Period`); either end may be open.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Period {
    /// Start (a FHIR dateTime), inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// End (a FHIR dateTime), inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
}

/// A low and high bound (`Range`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Range {
    /// Lower bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<Quantity>,
    /// Upper bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<Quantity>,
}

/// A ratio of two quantities (`Ratio`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    /// The numerator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerator: Option<Quantity>,
    /// The denominator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denominator: Option<Quantity>,
}

/// A business identifier (`Identifier`): an MRN, an NPI, ...
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identifier {
    /// `usual`, `official`, ... if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<IdentifierUse>,
    /// The namespace of the value, e.g. `http://hl7.org/fhir/sid/us-npi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// The identifier itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The first code of `Identifier.type` (`MR`, `SS`, `DL`, `NPI`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_code: Option<String>,
    /// `Identifier.type` as words, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_text: Option<String>,
}

/// A person's name (`HumanName`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HumanName {
    /// `official`, `usual`, `maiden`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<NameUse>,
    /// Family name (surname).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// Given names, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub given: Vec<String>,
    /// Prefixes such as `Mr.` or `Dr.`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prefix: Vec<String>,
    /// Suffixes such as `PharmD`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suffix: Vec<String>,
    /// The whole name as the sender wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

impl HumanName {
    /// The name to show: its text, else prefix, given, family and suffix joined by spaces.
    pub fn display(&self) -> String {
        if let Some(text) = &self.text {
            return text.clone();
        }
        self.prefix
            .iter()
            .chain(&self.given)
            .chain(&self.family)
            .chain(&self.suffix)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A postal address (`Address`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// `home`, `work`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<AddressUse>,
    /// `postal`, `physical` or `both`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<AddressType>,
    /// The whole address as the sender wrote it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Street lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<String>,
    /// City or town.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// District or county.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub district: Option<String>,
    /// State or province.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// Country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// When the address was or is in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
}

/// A phone number, e-mail address, ... (`ContactPoint`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactPoint {
    /// `phone`, `email`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<ContactPointSystem>,
    /// The number or address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `home`, `work`, `mobile`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<ContactPointUse>,
}

/// When something happened, in whichever form FHIR allowed the sender to say it (the choice
/// elements `onset[x]`, `abatement[x]`, `performed[x]`, `effective[x]`, `occurrence[x]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Occurrence {
    /// A FHIR dateTime (or instant).
    DateTime(String),
    /// A span of time.
    Period(Period),
    /// An age of the patient.
    Age(Quantity),
    /// A range of ages.
    Range(Range),
    /// Free text (`onsetString`, `occurrenceString`, ...).
    Text(String),
    /// A schedule (`effectiveTiming`), summarised in words.
    Timing(String),
    /// `abatementBoolean: true`: it has ended, when is not known.
    Ended,
}

impl Occurrence {
    /// The date-time it started, when it gives one (a dateTime, or a period's start).
    pub fn start(&self) -> Option<&str> {
        match self {
            Self::DateTime(when) => Some(when),
            Self::Period(period) => period.start.as_deref(),
            Self::Age(_) | Self::Range(_) | Self::Text(_) | Self::Timing(_) | Self::Ended => None,
        }
    }

    /// A UTC microsecond value to sort by (see [`crate::to_instant_micros`]): the start, or
    /// the end of a period with no start.
    pub fn sort_key(&self) -> Option<i64> {
        let when = match self {
            Self::Period(period) => period.start.as_deref().or(period.end.as_deref()),
            other => other.start(),
        };
        when.and_then(crate::primitives::to_instant_micros)
    }
}

/// A document or other content inline or by URL (`Attachment`): a note's text, a PDF, ...
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// The MIME type, e.g. `text/plain; charset=utf-8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The language of the content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// A title to show.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The content decoded as text, for `text/*` data in UTF-8 (or ASCII or Latin-1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// `Attachment.size` if given, else the decoded length of `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Where the content may be fetched, if it is not inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Inline data that is not text (a PDF, an image): kept only in the raw JSON.
    pub has_binary: bool,
    /// When the content was first created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coding(system: &str, code: &str, display: Option<&str>) -> Coding {
        Coding {
            system: Some(system.into()),
            code: Some(code.into()),
            display: display.map(Into::into),
        }
    }

    #[test]
    fn label_prefers_text_then_display_then_code_and_system() {
        let mut concept = Concept {
            codings: vec![
                coding("http://loinc.org", "8302-2", None),
                coding("http://loinc.org", "8306-3", Some("Body height lying")),
            ],
            text: Some("Body Height".into()),
        };
        assert_eq!(concept.label(), "Body Height");
        concept.text = None;
        assert_eq!(concept.label(), "Body height lying");
        concept.codings.truncate(1);
        assert_eq!(concept.label(), "8302-2 (http://loinc.org)");
        assert_eq!(Concept::default().label(), "");
    }

    #[test]
    fn concept_finds_codes_by_system() {
        let concept = Concept {
            codings: vec![coding("http://snomed.info/sct", "266919005", None)],
            text: None,
        };
        assert_eq!(concept.code_in("http://snomed.info/sct"), Some("266919005"));
        assert_eq!(concept.code_in("http://loinc.org"), None);
        assert!(concept.has_code("http://snomed.info/sct", "266919005"));
        assert!(!concept.has_code("http://snomed.info/sct", "1"));
    }

    #[test]
    fn human_name_display_joins_the_parts() {
        let name = HumanName {
            family: Some("Bosco882".into()),
            given: vec!["Lucien408".into()],
            prefix: vec!["Mr.".into()],
            suffix: vec!["PharmD".into()],
            ..HumanName::default()
        };
        assert_eq!(name.display(), "Mr. Lucien408 Bosco882 PharmD");
    }

    #[test]
    fn occurrence_sorts_by_start_or_by_open_period_end() {
        let at = Occurrence::DateTime("1970-01-02".into());
        assert_eq!(at.sort_key(), Some(86_400_000_000));
        let open_start = Occurrence::Period(Period {
            start: None,
            end: Some("1970-01-01T00:00:01Z".into()),
        });
        assert_eq!(open_start.sort_key(), Some(1_000_000));
        assert_eq!(Occurrence::Text("in childhood".into()).sort_key(), None);
    }
}
