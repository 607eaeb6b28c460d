//! Mapping one FHIR resource (JSON) into the plain structs of [`crate::model`], checking it on
//! the way: required elements, JSON types, required value sets, dates, base64, invariants.

mod clinical;
mod datatypes;
mod directory;
mod elements;
mod medication;
mod results;

use crate::json::Value;
use serde::{Deserialize, Serialize};

use crate::error::ImportError;
use crate::model::{
    AllergyIntoleranceData, CarePlanData, CareTeamData, ConditionData, DiagnosticReportData,
    DocumentReferenceData, EncounterData, ImmunizationData, LocationData, MedicationData,
    MedicationRequestData, ObservationData, OrganizationData, PatientData, PractitionerData,
    ProcedureData,
};
use elements::Node;

/// A resource mapped into the portal's terms, or kept as it is when the portal does not map it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Mapped {
    /// A patient.
    Patient(PatientData),
    /// A practitioner.
    Practitioner(PractitionerData),
    /// An organization.
    Organization(OrganizationData),
    /// A location.
    Location(LocationData),
    /// A visit.
    Encounter(EncounterData),
    /// A problem or diagnosis.
    Condition(ConditionData),
    /// An allergy or intolerance.
    AllergyIntolerance(AllergyIntoleranceData),
    /// A drug.
    Medication(MedicationData),
    /// A prescription.
    MedicationRequest(MedicationRequestData),
    /// A vaccination.
    Immunization(ImmunizationData),
    /// A result, vital sign, social history item or survey answer.
    Observation(ObservationData),
    /// A report grouping results.
    DiagnosticReport(DiagnosticReportData),
    /// A clinical note or other document.
    DocumentReference(DocumentReferenceData),
    /// A procedure.
    Procedure(ProcedureData),
    /// A care plan.
    CarePlan(CarePlanData),
    /// A care team.
    CareTeam(CareTeamData),
    /// A resource of a type the portal keeps only as JSON (Claim, Provenance, ...).
    Unmapped {
        /// Its `resourceType`.
        resource_type: String,
    },
}

impl Mapped {
    /// The FHIR resource type this was mapped from.
    pub fn resource_type(&self) -> &str {
        match self {
            Self::Patient(_) => "Patient",
            Self::Practitioner(_) => "Practitioner",
            Self::Organization(_) => "Organization",
            Self::Location(_) => "Location",
            Self::Encounter(_) => "Encounter",
            Self::Condition(_) => "Condition",
            Self::AllergyIntolerance(_) => "AllergyIntolerance",
            Self::Medication(_) => "Medication",
            Self::MedicationRequest(_) => "MedicationRequest",
            Self::Immunization(_) => "Immunization",
            Self::Observation(_) => "Observation",
            Self::DiagnosticReport(_) => "DiagnosticReport",
            Self::DocumentReference(_) => "DocumentReference",
            Self::Procedure(_) => "Procedure",
            Self::CarePlan(_) => "CarePlan",
            Self::CareTeam(_) => "CareTeam",
            Self::Unmapped { resource_type } => resource_type,
        }
    }

    /// The source's logical id, when it had one (unmapped resources: see the raw JSON).
    pub fn id(&self) -> Option<&str> {
        let id = match self {
            Self::Patient(data) => &data.id,
            Self::Practitioner(data) => &data.id,
            Self::Organization(data) => &data.id,
            Self::Location(data) => &data.id,
            Self::Encounter(data) => &data.id,
            Self::Condition(data) => &data.id,
            Self::AllergyIntolerance(data) => &data.id,
            Self::Medication(data) => &data.id,
            Self::MedicationRequest(data) => &data.id,
            Self::Immunization(data) => &data.id,
            Self::Observation(data) => &data.id,
            Self::DiagnosticReport(data) => &data.id,
            Self::DocumentReference(data) => &data.id,
            Self::Procedure(data) => &data.id,
            Self::CarePlan(data) => &data.id,
            Self::CareTeam(data) => &data.id,
            Self::Unmapped { .. } => return None,
        };
        id.as_deref()
    }

    /// Whether the resource is of a type the portal maps.
    pub fn is_mapped(&self) -> bool {
        !matches!(self, Self::Unmapped { .. })
    }
}

/// The resource types [`map_resource`] maps; every other R4 type is [`Mapped::Unmapped`].
pub const MAPPED_TYPES: [&str; 16] = [
    "AllergyIntolerance",
    "CarePlan",
    "CareTeam",
    "Condition",
    "DiagnosticReport",
    "DocumentReference",
    "Encounter",
    "Immunization",
    "Location",
    "Medication",
    "MedicationRequest",
    "Observation",
    "Organization",
    "Patient",
    "Practitioner",
    "Procedure",
];

/// Checks and maps one resource; `entry` is its Bundle entry index, for error messages (use
/// [`ImportError::on_line`] on the error for an NDJSON line). Resources of other R4 types are
/// checked only for a well-formed `id` and come back as [`Mapped::Unmapped`].
pub fn map_resource(resource: &Value, entry: Option<usize>) -> Result<Mapped, ImportError> {
    let node = Node::root(resource, entry)?;
    let mapped = match node.resource_type() {
        "Patient" => Mapped::Patient(directory::patient(&node)?),
        "Practitioner" => Mapped::Practitioner(directory::practitioner(&node)?),
        "Organization" => Mapped::Organization(directory::organization(&node)?),
        "Location" => Mapped::Location(directory::location(&node)?),
        "Encounter" => Mapped::Encounter(clinical::encounter(&node)?),
        "Condition" => Mapped::Condition(clinical::condition(&node)?),
        "AllergyIntolerance" => Mapped::AllergyIntolerance(clinical::allergy_intolerance(&node)?),
        "Procedure" => Mapped::Procedure(clinical::procedure(&node)?),
        "Immunization" => Mapped::Immunization(clinical::immunization(&node)?),
        "CarePlan" => Mapped::CarePlan(clinical::care_plan(&node)?),
        "CareTeam" => Mapped::CareTeam(clinical::care_team(&node)?),
        "Medication" => Mapped::Medication(medication::medication(&node)?),
        "MedicationRequest" => Mapped::MedicationRequest(medication::medication_request(&node)?),
        "Observation" => Mapped::Observation(results::observation(&node)?),
        "DiagnosticReport" => Mapped::DiagnosticReport(results::diagnostic_report(&node)?),
        "DocumentReference" => Mapped::DocumentReference(results::document_reference(&node)?),
        other => {
            node.resource_id()?;
            Mapped::Unmapped {
                resource_type: other.to_owned(),
            }
        }
    };
    Ok(mapped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sonic_rs::json;

    #[test]
    fn unmapped_types_are_kept_with_their_type() {
        let claim = json!({"resourceType": "Claim", "id": "c-1", "status": "active"});
        let mapped = map_resource(&claim, Some(4)).expect("a Claim is kept");
        assert_eq!(
            mapped,
            Mapped::Unmapped {
                resource_type: "Claim".into()
            }
        );
        assert_eq!(mapped.resource_type(), "Claim");
        assert!(!mapped.is_mapped());
    }

    #[test]
    fn unmapped_types_still_need_a_well_formed_id() {
        let claim = json!({"resourceType": "Claim", "id": "c 1"});
        assert_eq!(
            map_resource(&claim, Some(4)).map_err(|error| error.to_string()),
            Err("entry 4 (Claim): Claim.id: \"c 1\" is not a FHIR id".to_owned())
        );
    }

    #[test]
    fn unknown_or_missing_resource_types_are_refused() {
        let typo = json!({"resourceType": "Obzervation"});
        assert_eq!(
            map_resource(&typo, Some(1)).map_err(|error| error.to_string()),
            Err("entry 1: resourceType: \"Obzervation\" is not a FHIR R4 resource type".to_owned())
        );
        assert_eq!(
            map_resource(&json!({"id": "x"}), None).map_err(|error| error.to_string()),
            Err("resourceType: required element missing".to_owned())
        );
        assert_eq!(
            map_resource(&json!("Patient"), None).map_err(|error| error.to_string()),
            Err("not a FHIR resource: expected a JSON object".to_owned())
        );
    }

    #[test]
    fn every_mapped_type_is_dispatched_to_its_mapper() {
        for resource_type in MAPPED_TYPES {
            // A bare resource is either mapped, or refused for lacking a required element;
            // a type missing from the dispatch would come back as Unmapped.
            match map_resource(&json!({"resourceType": resource_type}), None) {
                Ok(mapped) => {
                    assert!(mapped.is_mapped(), "{resource_type}");
                    assert_eq!(mapped.resource_type(), resource_type);
                }
                Err(error) => assert!(error.message.contains("required"), "{error}"),
            }
        }
    }
}
