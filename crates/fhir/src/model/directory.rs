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
    pub id: Option<String>,
    /// Every identifier (MRN, SSN, driver's licence, ...).
    pub identifiers: Vec<Identifier>,
    /// The value of the identifier whose type is `MR` (medical record number), if any.
    pub mrn: Option<String>,
    /// `Patient.active`.
    pub active: Option<bool>,
    /// Names, official first as sent.
    pub names: Vec<HumanName>,
    /// Administrative gender.
    pub gender: Option<AdministrativeGender>,
    /// Birth date (a FHIR date, possibly partial).
    pub birth_date: Option<String>,
    /// Whether and when the patient died.
    pub deceased: Option<Deceased>,
    /// Addresses.
    pub addresses: Vec<Address>,
    /// Phones, e-mail, ...
    pub telecom: Vec<ContactPoint>,
    /// `communication[].language`, the preferred one first when one is marked preferred.
    pub languages: Vec<Concept>,
    /// Marital status.
    pub marital_status: Option<Concept>,
    /// `generalPractitioner`: the patient's own care providers.
    pub general_practitioners: Vec<Reference>,
    /// The organization that holds the record.
    pub managing_organization: Option<Reference>,
}

/// A practitioner's qualification (`Practitioner.qualification`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Qualification {
    /// The qualification (required).
    pub code: Concept,
    /// Who issued it.
    pub issuer: Option<Reference>,
    /// When it is valid.
    pub period: Option<Period>,
}

/// A mapped `Practitioner`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PractitionerData {
    /// The source's logical id.
    pub id: Option<String>,
    /// Every identifier.
    pub identifiers: Vec<Identifier>,
    /// The NPI (identifier of system `http://hl7.org/fhir/sid/us-npi`), if any.
    pub npi: Option<String>,
    /// `Practitioner.active`.
    pub active: Option<bool>,
    /// Names.
    pub names: Vec<HumanName>,
    /// Phones, e-mail, ...
    pub telecom: Vec<ContactPoint>,
    /// Addresses.
    pub addresses: Vec<Address>,
    /// Administrative gender.
    pub gender: Option<AdministrativeGender>,
    /// Qualifications (degrees, licences).
    pub qualifications: Vec<Qualification>,
}

/// A mapped `Organization`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrganizationData {
    /// The source's logical id.
    pub id: Option<String>,
    /// Every identifier.
    pub identifiers: Vec<Identifier>,
    /// `Organization.active`.
    pub active: Option<bool>,
    /// Kinds of organization (provider, payer, ...).
    pub types: Vec<Concept>,
    /// The name.
    pub name: Option<String>,
    /// Phones, e-mail, ...
    pub telecom: Vec<ContactPoint>,
    /// Addresses.
    pub addresses: Vec<Address>,
    /// The organization this one is part of.
    pub part_of: Option<Reference>,
}

/// A mapped `Location`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LocationData {
    /// The source's logical id.
    pub id: Option<String>,
    /// Every identifier.
    pub identifiers: Vec<Identifier>,
    /// `active`, `suspended` or `inactive`.
    pub status: Option<LocationStatus>,
    /// The name (a kind of place, such as "Patient's Home", may have none).
    pub name: Option<String>,
    /// A description.
    pub description: Option<String>,
    /// `instance` (one place) or `kind` (a class of places).
    pub mode: Option<LocationMode>,
    /// Kinds of location.
    pub types: Vec<Concept>,
    /// Phones, e-mail, ...
    pub telecom: Vec<ContactPoint>,
    /// The address.
    pub address: Option<Address>,
    /// Physical form (building, room, house, ...).
    pub physical_type: Option<Concept>,
    /// The organization responsible for the location.
    pub managing_organization: Option<Reference>,
    /// The location this one is part of.
    pub part_of: Option<Reference>,
}
