//! The kinds of item a patient's clinical record holds.

use std::fmt;

/// What a clinical item is. Stored as its [`ItemKind::as_str`] text; every rule and page matches
/// on this enum, never on the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ItemKind {
    /// A visit (FHIR Encounter).
    Encounter,
    /// A problem or diagnosis.
    Condition,
    /// An allergy or intolerance.
    Allergy,
    /// A prescription (MedicationRequest).
    MedicationRequest,
    /// A vaccination.
    Immunization,
    /// A result, vital sign, social-history item or survey answer.
    Observation,
    /// A report grouping results, or a clinical note sent as a report.
    DiagnosticReport,
    /// A clinical document (DocumentReference).
    Document,
    /// A procedure.
    Procedure,
    /// A care plan.
    CarePlan,
    /// A care team.
    CareTeam,
}

impl ItemKind {
    /// Every kind.
    pub const ALL: [ItemKind; 11] = [
        ItemKind::Encounter,
        ItemKind::Condition,
        ItemKind::Allergy,
        ItemKind::MedicationRequest,
        ItemKind::Immunization,
        ItemKind::Observation,
        ItemKind::DiagnosticReport,
        ItemKind::Document,
        ItemKind::Procedure,
        ItemKind::CarePlan,
        ItemKind::CareTeam,
    ];

    /// The kinds that can be test results (see [`crate::record::is_result`]).
    pub const RESULTS: &[ItemKind] = &[ItemKind::DiagnosticReport, ItemKind::Observation];

    /// The stable text stored in `clinical_items.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Encounter => "encounter",
            ItemKind::Condition => "condition",
            ItemKind::Allergy => "allergy",
            ItemKind::MedicationRequest => "medication-request",
            ItemKind::Immunization => "immunization",
            ItemKind::Observation => "observation",
            ItemKind::DiagnosticReport => "diagnostic-report",
            ItemKind::Document => "document",
            ItemKind::Procedure => "procedure",
            ItemKind::CarePlan => "care-plan",
            ItemKind::CareTeam => "care-team",
        }
    }

    /// Reads the stored text; `None` for text no kind writes.
    pub fn from_stored(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }

    /// The kind a FHIR resource type is recorded as, or `None` for directory data (Patient,
    /// Practitioner, Organization, Location, Medication) and types kept only as JSON.
    pub fn of_resource_type(resource_type: &str) -> Option<Self> {
        Some(match resource_type {
            "Encounter" => ItemKind::Encounter,
            "Condition" => ItemKind::Condition,
            "AllergyIntolerance" => ItemKind::Allergy,
            "MedicationRequest" => ItemKind::MedicationRequest,
            "Immunization" => ItemKind::Immunization,
            "Observation" => ItemKind::Observation,
            "DiagnosticReport" => ItemKind::DiagnosticReport,
            "DocumentReference" => ItemKind::Document,
            "Procedure" => ItemKind::Procedure,
            "CarePlan" => ItemKind::CarePlan,
            "CareTeam" => ItemKind::CareTeam,
            _ => return None,
        })
    }

    /// Words for an item of this kind listed among a visit's other items ("" for kinds the
    /// visit page shows in a section of their own).
    pub fn words(self) -> &'static str {
        match self {
            ItemKind::Procedure => "Procedure",
            ItemKind::Immunization => "Immunization",
            ItemKind::CarePlan => "Care plan",
            ItemKind::Allergy => "Allergy recorded",
            _ => "",
        }
    }
}

impl fmt::Display for ItemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_stored_text() {
        for kind in ItemKind::ALL {
            assert_eq!(ItemKind::from_stored(kind.as_str()), Some(kind));
        }
        assert_eq!(ItemKind::from_stored("Observation"), None);
        assert_eq!(ItemKind::from_stored(""), None);
    }

    #[test]
    fn directory_resources_are_not_clinical_items() {
        for directory in [
            "Patient",
            "Practitioner",
            "Organization",
            "Location",
            "Medication",
        ] {
            assert_eq!(ItemKind::of_resource_type(directory), None);
        }
        assert_eq!(
            ItemKind::of_resource_type("AllergyIntolerance"),
            Some(ItemKind::Allergy)
        );
        assert_eq!(
            ItemKind::of_resource_type("DocumentReference"),
            Some(ItemKind::Document)
        );
    }
}
