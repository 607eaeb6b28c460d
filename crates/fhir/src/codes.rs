//! The FHIR R4 value sets with a *required* binding on the elements this crate maps: each one an
//! enum, so that a mapped status can only be one FHIR allows.

use serde::{Deserialize, Serialize};

/// A closed FHIR value set: every code, and the conversion between codes and values.
pub trait CodeSet: Sized + Copy + 'static {
    /// Every code of the value set, in the order FHIR lists them.
    const CODES: &'static [&'static str];
    /// The value for `code`, or `None` when the code is not in the value set.
    fn from_code(code: &str) -> Option<Self>;
    /// The code as written in FHIR JSON.
    fn code(self) -> &'static str;
}

macro_rules! code_set {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $code:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(
                #[doc = concat!("`", $code, "`")]
                #[serde(rename = $code)]
                $variant,
            )+
        }

        impl CodeSet for $name {
            const CODES: &'static [&'static str] = &[$($code),+];

            fn from_code(code: &str) -> Option<Self> {
                match code {
                    $($code => Some(Self::$variant),)+
                    _ => None,
                }
            }

            fn code(self) -> &'static str {
                match self {
                    $(Self::$variant => $code,)+
                }
            }
        }
    };
}

code_set! {
    /// `Observation.status` (ObservationStatus).
    ObservationStatus {
        Registered = "registered", Preliminary = "preliminary", Final = "final",
        Amended = "amended", Corrected = "corrected", Cancelled = "cancelled",
        EnteredInError = "entered-in-error", Unknown = "unknown",
    }
}

code_set! {
    /// `DiagnosticReport.status` (DiagnosticReportStatus).
    DiagnosticReportStatus {
        Registered = "registered", Partial = "partial", Preliminary = "preliminary",
        Final = "final", Amended = "amended", Corrected = "corrected", Appended = "appended",
        Cancelled = "cancelled", EnteredInError = "entered-in-error", Unknown = "unknown",
    }
}

code_set! {
    /// `Encounter.status` (EncounterStatus).
    EncounterStatus {
        Planned = "planned", Arrived = "arrived", Triaged = "triaged",
        InProgress = "in-progress", OnLeave = "onleave", Finished = "finished",
        Cancelled = "cancelled", EnteredInError = "entered-in-error", Unknown = "unknown",
    }
}

code_set! {
    /// `Encounter.location.status` (EncounterLocationStatus).
    EncounterLocationStatus {
        Planned = "planned", Active = "active", Reserved = "reserved", Completed = "completed",
    }
}

code_set! {
    /// `MedicationRequest.status` (medicationrequest Status).
    MedicationRequestStatus {
        Active = "active", OnHold = "on-hold", Cancelled = "cancelled", Completed = "completed",
        EnteredInError = "entered-in-error", Stopped = "stopped", Draft = "draft",
        Unknown = "unknown",
    }
}

code_set! {
    /// `MedicationRequest.intent` (medicationRequest Intent).
    MedicationRequestIntent {
        Proposal = "proposal", Plan = "plan", Order = "order", OriginalOrder = "original-order",
        ReflexOrder = "reflex-order", FillerOrder = "filler-order",
        InstanceOrder = "instance-order", Option = "option",
    }
}

code_set! {
    /// `Medication.status` (Medication Status Codes).
    MedicationStatus {
        Active = "active", Inactive = "inactive", EnteredInError = "entered-in-error",
    }
}

code_set! {
    /// `Immunization.status` (ImmunizationStatusCodes).
    ImmunizationStatus {
        Completed = "completed", EnteredInError = "entered-in-error", NotDone = "not-done",
    }
}

code_set! {
    /// `Procedure.status` (EventStatus).
    ProcedureStatus {
        Preparation = "preparation", InProgress = "in-progress", NotDone = "not-done",
        OnHold = "on-hold", Stopped = "stopped", Completed = "completed",
        EnteredInError = "entered-in-error", Unknown = "unknown",
    }
}

code_set! {
    /// `CarePlan.status` (RequestStatus).
    CarePlanStatus {
        Draft = "draft", Active = "active", OnHold = "on-hold", Revoked = "revoked",
        Completed = "completed", EnteredInError = "entered-in-error", Unknown = "unknown",
    }
}

code_set! {
    /// `CarePlan.intent` (CarePlanIntent).
    CarePlanIntent {
        Proposal = "proposal", Plan = "plan", Order = "order", Option = "option",
    }
}

code_set! {
    /// `CarePlan.activity.detail.status` (CarePlanActivityStatus).
    CarePlanActivityStatus {
        NotStarted = "not-started", Scheduled = "scheduled", InProgress = "in-progress",
        OnHold = "on-hold", Completed = "completed", Cancelled = "cancelled",
        Stopped = "stopped", Unknown = "unknown", EnteredInError = "entered-in-error",
    }
}

code_set! {
    /// `CareTeam.status` (CareTeamStatus).
    CareTeamStatus {
        Proposed = "proposed", Active = "active", Suspended = "suspended",
        Inactive = "inactive", EnteredInError = "entered-in-error",
    }
}

code_set! {
    /// `DocumentReference.status` (DocumentReferenceStatus).
    DocumentReferenceStatus {
        Current = "current", Superseded = "superseded", EnteredInError = "entered-in-error",
    }
}

code_set! {
    /// `DocumentReference.docStatus` (CompositionStatus).
    CompositionStatus {
        Preliminary = "preliminary", Final = "final", Amended = "amended",
        EnteredInError = "entered-in-error",
    }
}

code_set! {
    /// `AllergyIntolerance.type` (AllergyIntoleranceType).
    AllergyIntoleranceType { Allergy = "allergy", Intolerance = "intolerance" }
}

code_set! {
    /// `AllergyIntolerance.category` (AllergyIntoleranceCategory).
    AllergyIntoleranceCategory {
        Food = "food", Medication = "medication", Environment = "environment",
        Biologic = "biologic",
    }
}

code_set! {
    /// `AllergyIntolerance.criticality` (AllergyIntoleranceCriticality).
    AllergyIntoleranceCriticality {
        Low = "low", High = "high", UnableToAssess = "unable-to-assess",
    }
}

code_set! {
    /// `AllergyIntolerance.reaction.severity` (AllergyIntoleranceSeverity).
    ReactionSeverity { Mild = "mild", Moderate = "moderate", Severe = "severe" }
}

code_set! {
    /// `Patient.gender`, `Practitioner.gender` (AdministrativeGender).
    AdministrativeGender { Male = "male", Female = "female", Other = "other", Unknown = "unknown" }
}

code_set! {
    /// `Location.status` (LocationStatus).
    LocationStatus { Active = "active", Suspended = "suspended", Inactive = "inactive" }
}

code_set! {
    /// `Location.mode` (LocationMode).
    LocationMode { Instance = "instance", Kind = "kind" }
}

code_set! {
    /// `Quantity.comparator` (QuantityComparator).
    QuantityComparator { Less = "<", LessOrEqual = "<=", GreaterOrEqual = ">=", Greater = ">" }
}

code_set! {
    /// `HumanName.use` (NameUse).
    NameUse {
        Usual = "usual", Official = "official", Temp = "temp", Nickname = "nickname",
        Anonymous = "anonymous", Old = "old", Maiden = "maiden",
    }
}

code_set! {
    /// `ContactPoint.system` (ContactPointSystem).
    ContactPointSystem {
        Phone = "phone", Fax = "fax", Email = "email", Pager = "pager", Url = "url",
        Sms = "sms", Other = "other",
    }
}

code_set! {
    /// `ContactPoint.use` (ContactPointUse).
    ContactPointUse { Home = "home", Work = "work", Temp = "temp", Old = "old", Mobile = "mobile" }
}

code_set! {
    /// `Address.use` (AddressUse).
    AddressUse { Home = "home", Work = "work", Temp = "temp", Old = "old", Billing = "billing" }
}

code_set! {
    /// `Address.type` (AddressType).
    AddressType { Postal = "postal", Physical = "physical", Both = "both" }
}

code_set! {
    /// `Identifier.use` (IdentifierUse).
    IdentifierUse {
        Usual = "usual", Official = "official", Temp = "temp", Secondary = "secondary",
        Old = "old",
    }
}

code_set! {
    /// `Condition.clinicalStatus` codes of `http://terminology.hl7.org/CodeSystem/condition-clinical`.
    ConditionClinicalStatus {
        Active = "active", Recurrence = "recurrence", Relapse = "relapse", Inactive = "inactive",
        Remission = "remission", Resolved = "resolved",
    }
}

code_set! {
    /// `Condition.verificationStatus` codes of `http://terminology.hl7.org/CodeSystem/condition-ver-status`.
    ConditionVerificationStatus {
        Unconfirmed = "unconfirmed", Provisional = "provisional", Differential = "differential",
        Confirmed = "confirmed", Refuted = "refuted", EnteredInError = "entered-in-error",
    }
}

code_set! {
    /// `AllergyIntolerance.clinicalStatus` codes of
    /// `http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical`.
    AllergyClinicalStatus { Active = "active", Inactive = "inactive", Resolved = "resolved" }
}

code_set! {
    /// `AllergyIntolerance.verificationStatus` codes of
    /// `http://terminology.hl7.org/CodeSystem/allergyintolerance-verification`.
    AllergyVerificationStatus {
        Unconfirmed = "unconfirmed", Confirmed = "confirmed", Refuted = "refuted",
        EnteredInError = "entered-in-error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_values() {
        for code in ObservationStatus::CODES {
            let status = ObservationStatus::from_code(code).expect("listed code parses");
            assert_eq!(status.code(), *code);
        }
        assert_eq!(
            MedicationRequestIntent::from_code("original-order"),
            Some(MedicationRequestIntent::OriginalOrder)
        );
        assert_eq!(
            QuantityComparator::from_code("<="),
            Some(QuantityComparator::LessOrEqual)
        );
    }

    #[test]
    fn codes_outside_the_value_set_or_in_another_case_are_refused() {
        assert_eq!(ObservationStatus::from_code("bogus"), None);
        assert_eq!(ObservationStatus::from_code("Final"), None);
        assert_eq!(EncounterStatus::from_code("completed"), None);
    }

    #[test]
    fn serde_uses_the_fhir_codes() {
        let json = serde_json::to_string(&CarePlanActivityStatus::NotStarted).unwrap_or_default();
        assert_eq!(json, "\"not-started\"");
    }
}
