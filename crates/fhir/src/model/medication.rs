//! Medicines: Medication and MedicationRequest.

use serde::{Deserialize, Serialize};

use super::{Concept, Identifier, Quantity};
use crate::codes::{MedicationRequestIntent, MedicationRequestStatus, MedicationStatus};
use crate::refs::Reference;

/// A mapped `Medication` (a drug a request may point at).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MedicationData {
    /// The source's logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Every identifier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<Identifier>,
    /// The drug (RxNorm and the like).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Concept>,
    /// active, inactive or entered-in-error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<MedicationStatus>,
    /// Tablet, injection, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form: Option<Concept>,
    /// The maker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<Reference>,
}

/// What a prescription is for (`MedicationRequest.medication[x]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum MedicationChoice {
    /// `medicationCodeableConcept`: the drug named by code.
    Concept(Concept),
    /// `medicationReference`: a Medication resource.
    Reference(Reference),
}

/// How to take a medicine (`Dosage`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dosage {
    /// The instructions as written (`Dosage.text`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// How often, in words: `timing.code.text`, else made from `timing.repeat`
    /// ("twice a day", "once every 8 hours").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing_text: Option<String>,
    /// Take as needed (`asNeededBoolean`, or true when `asNeededCodeableConcept` is given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_needed: Option<bool>,
    /// How much at a time (the first `doseAndRate[].doseQuantity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dose: Option<Quantity>,
    /// Route (oral, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<Concept>,
    /// Further instructions (`additionalInstruction`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_instructions: Vec<Concept>,
}

/// A mapped `MedicationRequest` (a prescription).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MedicationRequestData {
    /// The source's logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Every identifier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<Identifier>,
    /// Where the request stands.
    pub status: MedicationRequestStatus,
    /// proposal, plan, order, ...
    pub intent: MedicationRequestIntent,
    /// Inpatient, outpatient, community, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<Concept>,
    /// The medicine (required).
    pub medication: MedicationChoice,
    /// The patient (required).
    pub subject: Reference,
    /// The encounter it was written in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encounter: Option<Reference>,
    /// When it was written (a FHIR dateTime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authored_on: Option<String>,
    /// Sort key of `authored_on`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authored_sort: Option<i64>,
    /// Who asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requester: Option<Reference>,
    /// Who entered it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorder: Option<Reference>,
    /// Why, as codes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reason_codes: Vec<Concept>,
    /// Why, as references.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reason_references: Vec<Reference>,
    /// How to take it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dosages: Vec<Dosage>,
    /// Refills allowed (`dispenseRequest.numberOfRepeatsAllowed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refills: Option<u32>,
    /// The amount per fill (`dispenseRequest.quantity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Quantity>,
    /// The end of the prescription's validity (`dispenseRequest.validityPeriod.end`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    /// Sort key (UTC microseconds) of `valid_until` (for a bare date, its first instant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until_sort: Option<i64>,
    /// Notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}
