//! The patient's care: Encounter, Condition, AllergyIntolerance, Procedure, Immunization,
//! CarePlan, CareTeam.

use serde::{Deserialize, Serialize};

use super::{Coding, Concept, Identifier, Occurrence, Period};
use crate::codes::{
    AllergyClinicalStatus, AllergyIntoleranceCategory, AllergyIntoleranceCriticality,
    AllergyIntoleranceType, AllergyVerificationStatus, CarePlanActivityStatus, CarePlanIntent,
    CarePlanStatus, CareTeamStatus, CodeSet, ConditionClinicalStatus, ConditionVerificationStatus,
    EncounterStatus, ImmunizationStatus, ProcedureStatus, ReactionSeverity,
};
use crate::refs::Reference;

/// The system of `Condition.clinicalStatus` codes.
pub const CONDITION_CLINICAL_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/condition-clinical";
/// The system of `Condition.verificationStatus` codes.
pub const CONDITION_VERIFICATION_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/condition-ver-status";
/// The system of `AllergyIntolerance.clinicalStatus` codes.
pub const ALLERGY_CLINICAL_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical";
/// The system of `AllergyIntolerance.verificationStatus` codes.
pub const ALLERGY_VERIFICATION_SYSTEM: &str =
    "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification";

fn coded<T: CodeSet>(concept: Option<&Concept>, system: &str) -> Option<T> {
    concept
        .and_then(|concept| concept.code_in(system))
        .and_then(T::from_code)
}

/// One participant of an encounter (`Encounter.participant`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EncounterParticipant {
    /// Who took part (usually a Practitioner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub individual: Option<Reference>,
    /// Their roles (`participant.type`), e.g. primary performer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Concept>,
    /// When they took part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
}

impl EncounterParticipant {
    /// The first role in words, if there is one.
    pub fn role_label(&self) -> Option<String> {
        self.roles.first().map(Concept::label)
    }
}

/// A mapped `Encounter` (a visit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncounterData {
    /// The source's logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Every identifier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<Identifier>,
    /// Where the encounter stands.
    pub status: EncounterStatus,
    /// Ambulatory, emergency, inpatient, ... (required).
    pub class: Coding,
    /// Kinds of visit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<Concept>,
    /// The patient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    /// Who took part.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participants: Vec<EncounterParticipant>,
    /// When it took place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    /// Sort key of the period's start (see [`crate::to_instant_micros`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_sort: Option<i64>,
    /// Why, as codes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reason_codes: Vec<Concept>,
    /// Why, as references to conditions or observations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reason_references: Vec<Reference>,
    /// Where it took place (`location[].location`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<Reference>,
    /// The organization responsible for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_provider: Option<Reference>,
    /// `hospitalization.dischargeDisposition`: where the patient went after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discharge_disposition: Option<Concept>,
    /// The larger encounter this one is part of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part_of: Option<Reference>,
}

/// A mapped `Condition` (a problem or diagnosis).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConditionData {
    /// The source's logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Every identifier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<Identifier>,
    /// active, resolved, ... (codes checked against their value set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clinical_status: Option<Concept>,
    /// confirmed, provisional, ... (codes checked against their value set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_status: Option<Concept>,
    /// Problem-list item, encounter diagnosis, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<Concept>,
    /// How severe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Concept>,
    /// What the condition is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Concept>,
    /// Where on the body.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub body_sites: Vec<Concept>,
    /// The patient (required).
    pub subject: Reference,
    /// The encounter it was recorded in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encounter: Option<Reference>,
    /// When it began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onset: Option<Occurrence>,
    /// Sort key of the onset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onset_sort: Option<i64>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abatement: Option<Occurrence>,
    /// When it was recorded (a FHIR dateTime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_date: Option<String>,
    /// Who recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorder: Option<Reference>,
    /// Who asserted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asserter: Option<Reference>,
    /// Notes (`note[].text`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl ConditionData {
    /// The clinical status as a code, when a coding of the FHIR system gives one.
    pub fn clinical(&self) -> Option<ConditionClinicalStatus> {
        coded(self.clinical_status.as_ref(), CONDITION_CLINICAL_SYSTEM)
    }

    /// The verification status as a code, when a coding of the FHIR system gives one.
    pub fn verification(&self) -> Option<ConditionVerificationStatus> {
        coded(
            self.verification_status.as_ref(),
            CONDITION_VERIFICATION_SYSTEM,
        )
    }
}

/// One reaction of an allergy (`AllergyIntolerance.reaction`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reaction {
    /// The substance that caused it, when more specific than the allergy's code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub substance: Option<Concept>,
    /// What happened (hives, wheeze, ...; at least one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifestations: Vec<Concept>,
    /// mild, moderate or severe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<ReactionSeverity>,
    /// A description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// When it happened (a FHIR dateTime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onset: Option<String>,
}

/// A mapped `AllergyIntolerance`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AllergyIntoleranceData {
    /// The source's logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Every identifier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<Identifier>,
    /// active, inactive or resolved (codes checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clinical_status: Option<Concept>,
    /// confirmed, unconfirmed, ... (codes checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification_status: Option<Concept>,
    /// allergy or intolerance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_: Option<AllergyIntoleranceType>,
    /// food, medication, environment, biologic.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<AllergyIntoleranceCategory>,
    /// low, high or unable-to-assess.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criticality: Option<AllergyIntoleranceCriticality>,
    /// The substance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Concept>,
    /// The patient (required).
    pub patient: Reference,
    /// The encounter it was recorded in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encounter: Option<Reference>,
    /// When it began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onset: Option<Occurrence>,
    /// When it was recorded (a FHIR dateTime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_date: Option<String>,
    /// Who recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorder: Option<Reference>,
    /// Who asserted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asserter: Option<Reference>,
    /// Reactions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// Notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl AllergyIntoleranceData {
    /// The clinical status as a code, when a coding of the FHIR system gives one.
    pub fn clinical(&self) -> Option<AllergyClinicalStatus> {
        coded(self.clinical_status.as_ref(), ALLERGY_CLINICAL_SYSTEM)
    }

    /// The verification status as a code, when a coding of the FHIR system gives one.
    pub fn verification(&self) -> Option<AllergyVerificationStatus> {
        coded(
            self.verification_status.as_ref(),
            ALLERGY_VERIFICATION_SYSTEM,
        )
    }
}

/// A mapped `Procedure`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcedureData {
    /// The source's logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Every identifier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<Identifier>,
    /// Where the procedure stands.
    pub status: ProcedureStatus,
    /// What was done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Concept>,
    /// The patient (required).
    pub subject: Reference,
    /// The encounter it was part of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encounter: Option<Reference>,
    /// When it was done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performed: Option<Occurrence>,
    /// Sort key of when it was done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performed_sort: Option<i64>,
    /// Who recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorder: Option<Reference>,
    /// Who did it (`performer[].actor`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub performers: Vec<Reference>,
    /// Where.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Reference>,
    /// Why, as codes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reason_codes: Vec<Concept>,
    /// Why, as references.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reason_references: Vec<Reference>,
    /// Where on the body.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub body_sites: Vec<Concept>,
    /// The outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Concept>,
    /// Notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A mapped `Immunization`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImmunizationData {
    /// The source's logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Every identifier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<Identifier>,
    /// completed, not-done or entered-in-error.
    pub status: ImmunizationStatus,
    /// Why it was not done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<Concept>,
    /// The vaccine (required).
    pub vaccine_code: Concept,
    /// The patient (required).
    pub patient: Reference,
    /// The encounter it was given in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encounter: Option<Reference>,
    /// When it was given (a dateTime or text; required).
    pub occurrence: Occurrence,
    /// Sort key of when it was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrence_sort: Option<i64>,
    /// When it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded: Option<String>,
    /// Whether the record comes from whoever gave it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_source: Option<bool>,
    /// The vaccine's lot number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lot_number: Option<String>,
    /// The vaccine's expiry date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<String>,
    /// Where it was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Reference>,
    /// Body site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<Concept>,
    /// Route (intramuscular, oral, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<Concept>,
    /// Who gave it (`performer[].actor`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub performers: Vec<Reference>,
    /// Notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One activity of a care plan (`CarePlan.activity`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CarePlanActivity {
    /// What to do (`detail.code`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<Concept>,
    /// Where it stands (`detail.status`, required when there is a detail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CarePlanActivityStatus>,
    /// A description (`detail.description`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Where (`detail.location`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Reference>,
    /// Why, as codes (`detail.reasonCode`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reason_codes: Vec<Concept>,
    /// The activity as a request resource (`activity.reference`) instead of a detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<Reference>,
}

/// A mapped `CarePlan`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CarePlanData {
    /// The source's logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Every identifier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<Identifier>,
    /// Where the plan stands.
    pub status: CarePlanStatus,
    /// proposal, plan, order or option.
    pub intent: CarePlanIntent,
    /// Kinds of plan.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<Concept>,
    /// A title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// A summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The patient (required).
    pub subject: Reference,
    /// The encounter it was made in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encounter: Option<Reference>,
    /// When it applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    /// When it was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Who is responsible for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<Reference>,
    /// Care teams (`careTeam`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub care_teams: Vec<Reference>,
    /// The conditions it addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<Reference>,
    /// Goals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub goals: Vec<Reference>,
    /// What is to be done.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub activities: Vec<CarePlanActivity>,
    /// Notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// One member of a care team (`CareTeam.participant`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CareTeamParticipant {
    /// Their roles in the team.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Concept>,
    /// Who.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<Reference>,
    /// On behalf of which organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<Reference>,
    /// When they are in the team.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
}

impl CareTeamParticipant {
    /// The first role in words, if there is one.
    pub fn role_label(&self) -> Option<String> {
        self.roles.first().map(Concept::label)
    }
}

/// A mapped `CareTeam`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CareTeamData {
    /// The source's logical id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Every identifier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identifiers: Vec<Identifier>,
    /// Where the team stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CareTeamStatus>,
    /// Kinds of team.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<Concept>,
    /// The team's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The patient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Reference>,
    /// The encounter it was formed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encounter: Option<Reference>,
    /// When it is active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<Period>,
    /// Members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participants: Vec<CareTeamParticipant>,
    /// Why, as codes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reason_codes: Vec<Concept>,
    /// Organizations responsible for the team.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managing_organizations: Vec<Reference>,
    /// Notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}
