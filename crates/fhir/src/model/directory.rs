//! People and places: Patient, Practitioner, Organization, Location.

use serde::{Deserialize, Serialize};

use super::{Address, Concept, ContactPoint, HumanName, Identifier, Period};
use crate::codes::{AdministrativeGender, LocationMode, LocationStatus};
use crate::refs::Reference;

/// Whether and when a patient died (`Patient.deceased[x]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Deceased {
    /// `deceasedBoolean`.
    Flag(bool),
    /// `deceasedDateTime`: died then.
    At(String),
}

/// A mapped `Patient`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PatientData {
    /// The source's logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Every identifier (MRN, SSN, driver's licence, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<Identifier>,
    /// The value of the identifier whose type is `MR` (medical record number), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mrn: Option<String>,
    /// `Patient.active`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Names, official first as sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<HumanName>,
    /// Administrative gender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<AdministrativeGender>,
    /// Birth date (a FHIR date, possibly partial).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<String>,
    /// Whether and when the patient died.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deceased: Option<Deceased>,
    /// Addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<Address>,
    /// Phones, e-mail, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub telecom: Vec<ContactPoint>,
    /// `communication[].language`, the preferred one first when one is marked preferred.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub languages: Vec<Concept>,
    /// Marital status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub marital_status: Option<Concept>,
    /// `generalPractitioner`: the patient's own care providers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub general_practitioners: Vec<Reference>,
    /// The organization that holds the record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managing_organization: Option<Reference>,
}

/// A practitioner's qualification (`Practitioner.qualification`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Qualification {
    /// The qualification (required).
    pub code: Concept,
    /// Who issued it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<Reference>,
    /// When it is valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
}

/// A mapped `Practitioner`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PractitionerData {
    /// The source's logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Every identifier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<Identifier>,
    /// The NPI (identifier of system `http://hl7.org/fhir/sid/us-npi`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub npi: Option<String>,
    /// `Practitioner.active`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<HumanName>,
    /// Phones, e-mail, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub telecom: Vec<ContactPoint>,
    /// Addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<Address>,
    /// Administrative gender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<AdministrativeGender>,
    /// Qualifications (degrees, licences).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub qualifications: Vec<Qualification>,
}

/// A mapped `Organization`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrganizationData {
    /// The source's logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Every identifier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<Identifier>,
    /// `Organization.active`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// Kinds of organization (provider, payer, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<Concept>,
    /// The name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Phones, e-mail, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub telecom: Vec<ContactPoint>,
    /// Addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<Address>,
    /// The organization this one is part of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_of: Option<Reference>,
}

/// A mapped `Location`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LocationData {
    /// The source's logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Every identifier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<Identifier>,
    /// `active`, `suspended` or `inactive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<LocationStatus>,
    /// The name (a kind of place, such as "Patient's Home", may have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `instance` (one place) or `kind` (a class of places).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<LocationMode>,
    /// Kinds of location.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<Concept>,
    /// Phones, e-mail, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub telecom: Vec<ContactPoint>,
    /// The address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    /// Physical form (building, room, house, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_type: Option<Concept>,
    /// The organization responsible for the location.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managing_organization: Option<Reference>,
    /// The location this one is part of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_of: Option<Reference>,
}
