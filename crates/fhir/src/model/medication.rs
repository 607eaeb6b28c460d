//! Medicines: Medication and MedicationRequest.

use serde::{Deserialize, Serialize};

use super::{Concept, Identifier, Quantity};
use crate::codes::{MedicationRequestIntent, MedicationRequestStatus, MedicationStatus};
use crate::refs::Reference;

/// A mapped `Medication` (a drug a request may point at).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MedicationData {
    /// The source's logical id.
    pub id: Option<String>,
    /// Every identifier.
    pub identifiers: Vec<Identifier>,
    /// The drug (RxNorm and the like).
    pub code: Option<Concept>,
    /// active, inactive or entered-in-error.
    pub status: Option<MedicationStatus>,
    /// Tablet, injection, ...
    pub form: Option<Concept>,
    /// The maker.
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
    pub text: Option<String>,
    /// How often, in words: `timing.code.text`, else made from `timing.repeat`
    /// ("twice a day", "once every 8 hours").
    pub timing_text: Option<String>,
    /// Take as needed (`asNeededBoolean`, or true when `asNeededCodeableConcept` is given).
    pub as_needed: Option<bool>,
    /// How much at a time (the first `doseAndRate[].doseQuantity`).
    pub dose: Option<Quantity>,
    /// Route (oral, ...).
    pub route: Option<Concept>,
    /// Further instructions (`additionalInstruction`).
    pub additional_instructions: Vec<Concept>,
}

/// A mapped `MedicationRequest` (a prescription).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MedicationRequestData {
    /// The source's logical id.
    pub id: Option<String>,
    /// Every identifier.
    pub identifiers: Vec<Identifier>,
    /// Where the request stands.
    pub status: MedicationRequestStatus,
    /// proposal, plan, order, ...
    pub intent: MedicationRequestIntent,
    /// Inpatient, outpatient, community, ...
    pub categories: Vec<Concept>,
    /// The medicine (required).
    pub medication: MedicationChoice,
    /// The patient (required).
    pub subject: Reference,
    /// The encounter it was written in.
    pub encounter: Option<Reference>,
    /// When it was written (a FHIR dateTime).
    pub authored_on: Option<String>,
    /// Sort key of `authored_on`.
    pub authored_sort: Option<i64>,
    /// Who asked for it.
    pub requester: Option<Reference>,
    /// Who entered it.
    pub recorder: Option<Reference>,
    /// Why, as codes.
    pub reason_codes: Vec<Concept>,
    /// Why, as references.
    pub reason_references: Vec<Reference>,
    /// How to take it.
    pub dosages: Vec<Dosage>,
    /// Refills allowed (`dispenseRequest.numberOfRepeatsAllowed`).
    pub refills: Option<u32>,
    /// Notes.
    pub notes: Vec<String>,
}
