use crate::json::{JsonValueMutTrait as _, Value};
use sonic_rs::json;

use crate::codes::{
    AllergyClinicalStatus, AllergyIntoleranceCategory, AllergyIntoleranceCriticality,
    CarePlanActivityStatus, CarePlanIntent, CarePlanStatus, CareTeamStatus,
    ConditionClinicalStatus, EncounterStatus, ImmunizationStatus, ProcedureStatus,
    ReactionSeverity,
};
use crate::map::{Mapped, map_resource};
use crate::model::{Occurrence, Period};
use crate::refs::Reference;

const PATIENT: &str = "urn:uuid:d831ec91-c7a3-4a61-9312-7ff0c4a32134";

fn map(resource: &Value) -> Mapped {
    match map_resource(resource, Some(5)) {
        Ok(mapped) => mapped,
        Err(error) => panic!("{error}"),
    }
}

fn error(resource: &Value) -> String {
    match map_resource(resource, Some(5)) {
        Ok(mapped) => panic!("expected an error, got {mapped:?}"),
        Err(error) => error.to_string(),
    }
}

fn without(resource: &Value, key: &str) -> Value {
    let mut copy = resource.clone();
    if let Some(fields) = copy.as_object_mut() {
        fields.remove(&key);
    }
    copy
}

fn encounter() -> Value {
    json!({
        "resourceType": "Encounter", "id": "09775519",
        "identifier": [{"use": "official", "system": "https://github.com/synthetichealth/synthea", "value": "09775519"}],
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [{"text": "Well child visit (procedure)"}],
        "subject": {"reference": PATIENT},
        "participant": [{
            "type": [{"coding": [{"code": "PPRF", "display": "primary performer"}], "text": "primary performer"}],
            "period": {"start": "1940-03-29T00:11:45-05:00", "end": "1940-03-29T00:26:45-05:00"},
            "individual": {"reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999992594"}
        }],
        "period": {"start": "1940-03-29T00:11:45-05:00", "end": "1940-03-29T00:26:45-05:00"},
        "reasonCode": [{"text": "Checkup"}],
        "location": [{"location": {"reference": "Location?identifier=https://github.com/synthetichealth/synthea|44a6"}}],
        "serviceProvider": {"reference": "Organization?identifier=https://github.com/synthetichealth/synthea|afc6"},
        "hospitalization": {"dischargeDisposition": {"text": "Discharged to home care or self care (routine discharge)"}}
    })
}

#[test]
fn encounter_keeps_class_period_participants_and_places() {
    let Mapped::Encounter(visit) = map(&encounter()) else {
        panic!("expected an Encounter");
    };
    assert_eq!(visit.status, EncounterStatus::Finished);
    assert_eq!(visit.class.code.as_deref(), Some("AMB"));
    assert_eq!(visit.types[0].label(), "Well child visit (procedure)");
    assert_eq!(visit.subject, Some(Reference::Internal(PATIENT.into())));
    assert_eq!(
        visit.participants[0].role_label().as_deref(),
        Some("primary performer")
    );
    assert_eq!(
        visit.participants[0].individual,
        Some(Reference::Conditional {
            resource_type: "Practitioner".into(),
            system: Some("http://hl7.org/fhir/sid/us-npi".into()),
            value: "9999992594".into()
        })
    );
    assert_eq!(
        visit.period_sort,
        crate::to_instant_micros("1940-03-29T05:11:45Z")
    );
    assert_eq!(visit.locations.len(), 1);
    assert_eq!(visit.reason_codes[0].label(), "Checkup");
    assert_eq!(
        visit
            .discharge_disposition
            .map(|disposition| disposition.label())
            .as_deref(),
        Some("Discharged to home care or self care (routine discharge)")
    );
}

#[test]
fn encounter_needs_status_and_class() {
    assert_eq!(
        error(&without(&encounter(), "status")),
        "entry 5 (Encounter): Encounter.status: required element missing"
    );
    assert_eq!(
        error(&without(&encounter(), "class")),
        "entry 5 (Encounter): Encounter.class: required element missing"
    );
    let mut completed = encounter();
    completed["status"] = json!("completed");
    assert!(error(&completed).starts_with(
        "entry 5 (Encounter): Encounter.status: \"completed\" is not one of planned|"
    ));
}

#[test]
fn encounter_period_dates_are_checked() {
    let mut bad = encounter();
    bad["participant"][0]["period"]["end"] = json!("1940-03-29T24:26:45-05:00");
    assert_eq!(
        error(&bad),
        "entry 5 (Encounter): Encounter.participant[0].period.end: \"1940-03-29T24:26:45-05:00\" is not a FHIR dateTime"
    );
}

fn condition() -> Value {
    json!({
        "resourceType": "Condition", "id": "5bd61db6",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "resolved"}]},
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
        "category": [{"coding": [{"code": "encounter-diagnosis", "display": "Encounter Diagnosis"}]}],
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "65363002", "display": "Otitis media"}], "text": "Otitis media"},
        "subject": {"reference": PATIENT},
        "onsetDateTime": "1940-12-24T00:11:45-05:00",
        "abatementDateTime": "1941-03-07T00:11:45-05:00",
        "recordedDate": "1940-12-24T00:11:45-05:00"
    })
}

#[test]
fn condition_keeps_statuses_code_onset_and_abatement() {
    let Mapped::Condition(problem) = map(&condition()) else {
        panic!("expected a Condition");
    };
    assert_eq!(problem.clinical(), Some(ConditionClinicalStatus::Resolved));
    assert_eq!(
        problem.code.as_ref().map(|code| code.label()).as_deref(),
        Some("Otitis media")
    );
    assert_eq!(problem.categories[0].label(), "Encounter Diagnosis");
    assert_eq!(
        problem.onset,
        Some(Occurrence::DateTime("1940-12-24T00:11:45-05:00".into()))
    );
    assert_eq!(
        problem.onset_sort,
        crate::to_instant_micros("1940-12-24T05:11:45Z")
    );
    assert_eq!(
        problem.abatement,
        Some(Occurrence::DateTime("1941-03-07T00:11:45-05:00".into()))
    );
    assert_eq!(problem.subject, Reference::Internal(PATIENT.into()));
}

#[test]
fn condition_needs_a_subject_that_points_somewhere() {
    assert_eq!(
        error(&without(&condition(), "subject")),
        "entry 5 (Condition): Condition.subject: required element missing"
    );
    let mut named_only = condition();
    named_only["subject"] = json!({"display": "Lucien"});
    assert_eq!(
        error(&named_only),
        "entry 5 (Condition): Condition.subject: must point at a resource (a reference or identifier), not only name it"
    );
}

#[test]
fn condition_statuses_follow_their_value_sets_and_invariants() {
    let mut bogus = condition();
    bogus["clinicalStatus"]["coding"][0]["code"] = json!("cured");
    assert_eq!(
        error(&bogus),
        "entry 5 (Condition): Condition.clinicalStatus.coding[0].code: \"cured\" is not one of \
         active|recurrence|relapse|inactive|remission|resolved"
    );
    let mut still_active = condition();
    still_active["clinicalStatus"]["coding"][0]["code"] = json!("active");
    assert_eq!(
        error(&still_active),
        "entry 5 (Condition): Condition.clinicalStatus: a condition with an abatement must be inactive, resolved or remission (con-4)"
    );
    let mut in_error = condition();
    in_error["verificationStatus"]["coding"][0]["code"] = json!("entered-in-error");
    assert_eq!(
        error(&in_error),
        "entry 5 (Condition): Condition.clinicalStatus: must be absent when verificationStatus is entered-in-error (con-5)"
    );
}

fn allergy() -> Value {
    json!({
        "resourceType": "AllergyIntolerance", "id": "a1",
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active"}]},
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "code": "confirmed"}]},
        "type": "allergy", "category": ["food"], "criticality": "low",
        "code": {"text": "Peanut (substance)"},
        "patient": {"reference": PATIENT},
        "recordedDate": "2023-03-01T10:00:00+00:00",
        "reaction": [{"manifestation": [{"text": "Wheal (finding)"}], "severity": "mild"}]
    })
}

#[test]
fn allergy_keeps_type_category_criticality_and_reactions() {
    let Mapped::AllergyIntolerance(allergy) = map(&allergy()) else {
        panic!("expected an AllergyIntolerance");
    };
    assert_eq!(allergy.clinical(), Some(AllergyClinicalStatus::Active));
    assert_eq!(allergy.categories, vec![AllergyIntoleranceCategory::Food]);
    assert_eq!(
        allergy.criticality,
        Some(AllergyIntoleranceCriticality::Low)
    );
    assert_eq!(
        allergy.code.map(|code| code.label()).as_deref(),
        Some("Peanut (substance)")
    );
    assert_eq!(
        allergy.reactions[0].manifestations[0].label(),
        "Wheal (finding)"
    );
    assert_eq!(allergy.reactions[0].severity, Some(ReactionSeverity::Mild));
}

#[test]
fn allergy_needs_patient_known_categories_and_manifestations() {
    assert_eq!(
        error(&without(&allergy(), "patient")),
        "entry 5 (AllergyIntolerance): AllergyIntolerance.patient: required element missing"
    );
    let mut category = allergy();
    category["category"] = json!(["food", "pollen"]);
    assert_eq!(
        error(&category),
        "entry 5 (AllergyIntolerance): AllergyIntolerance.category[1]: \"pollen\" is not one of food|medication|environment|biologic"
    );
    let mut reaction = allergy();
    reaction["reaction"][0] = json!({"severity": "mild"});
    assert_eq!(
        error(&reaction),
        "entry 5 (AllergyIntolerance): AllergyIntolerance.reaction[0].manifestation: required element missing"
    );
    assert_eq!(
        error(&without(&allergy(), "clinicalStatus")),
        "entry 5 (AllergyIntolerance): AllergyIntolerance.clinicalStatus: required unless verificationStatus is entered-in-error (ait-1)"
    );
}

fn immunization() -> Value {
    json!({
        "resourceType": "Immunization", "id": "5fcf5168", "status": "completed",
        "vaccineCode": {"coding": [{"system": "http://hl7.org/fhir/sid/cvx", "code": "140"}],
                        "text": "Influenza, seasonal, injectable, preservative free"},
        "patient": {"reference": PATIENT},
        "occurrenceDateTime": "1945-03-09T01:11:45-04:00",
        "primarySource": true, "lotNumber": "AB12", "expirationDate": "1946-01-01",
        "location": {"reference": "urn:uuid:690866aa-d2fd-8074-b448-3b7b0f1c84ad"}
    })
}

#[test]
fn immunization_keeps_vaccine_date_lot_and_place() {
    let Mapped::Immunization(shot) = map(&immunization()) else {
        panic!("expected an Immunization");
    };
    assert_eq!(shot.status, ImmunizationStatus::Completed);
    assert_eq!(
        shot.vaccine_code.code_in("http://hl7.org/fhir/sid/cvx"),
        Some("140")
    );
    assert_eq!(shot.occurrence.start(), Some("1945-03-09T01:11:45-04:00"));
    assert_eq!(shot.primary_source, Some(true));
    assert_eq!(shot.lot_number.as_deref(), Some("AB12"));
    assert_eq!(
        shot.location,
        Some(Reference::Internal(
            "urn:uuid:690866aa-d2fd-8074-b448-3b7b0f1c84ad".into()
        ))
    );
}

#[test]
fn immunization_needs_status_vaccine_patient_and_occurrence() {
    for (key, path) in [
        ("status", "status"),
        ("vaccineCode", "vaccineCode"),
        ("patient", "patient"),
        ("occurrenceDateTime", "occurrence[x]"),
    ] {
        assert_eq!(
            error(&without(&immunization(), key)),
            format!("entry 5 (Immunization): Immunization.{path}: required element missing")
        );
    }
}

#[test]
fn procedure_keeps_its_performed_period_and_needs_a_subject() {
    let procedure = json!({
        "resourceType": "Procedure", "id": "a1817b7b", "status": "completed",
        "code": {"text": "Medication Reconciliation (procedure)"},
        "subject": {"reference": PATIENT},
        "performedPeriod": {"start": "1940-09-06T01:11:45-04:00", "end": "1940-09-06T01:26:45-04:00"},
        "performer": [{"actor": {"reference": "Practitioner/7"}}],
        "location": {"reference": "urn:uuid:690866aa"}
    });
    let Mapped::Procedure(done) = map(&procedure) else {
        panic!("expected a Procedure");
    };
    assert_eq!(done.status, ProcedureStatus::Completed);
    assert_eq!(
        done.performed,
        Some(Occurrence::Period(Period {
            start: Some("1940-09-06T01:11:45-04:00".into()),
            end: Some("1940-09-06T01:26:45-04:00".into())
        }))
    );
    assert_eq!(
        done.performed_sort,
        crate::to_instant_micros("1940-09-06T05:11:45Z")
    );
    assert_eq!(
        done.performers,
        vec![Reference::Relative {
            resource_type: "Practitioner".into(),
            id: "7".into()
        }]
    );
    assert_eq!(
        error(&without(&procedure, "subject")),
        "entry 5 (Procedure): Procedure.subject: required element missing"
    );
    let mut no_actor = procedure.clone();
    no_actor["performer"][0] = json!({"function": {"text": "Surgeon"}});
    assert_eq!(
        error(&no_actor),
        "entry 5 (Procedure): Procedure.performer[0].actor: required element missing"
    );
}

fn care_plan() -> Value {
    json!({
        "resourceType": "CarePlan", "id": "3078be7f", "status": "completed", "intent": "order",
        "category": [{"text": "Fracture care"}],
        "subject": {"reference": PATIENT},
        "period": {"start": "1946-11-23T01:11:45-05:00", "end": "1947-01-22T01:11:45-05:00"},
        "careTeam": [{"reference": "urn:uuid:7080b1fe"}],
        "addresses": [{"reference": "urn:uuid:4f2bf16a"}],
        "activity": [{"detail": {"code": {"text": "Recommendation to rest"}, "status": "completed",
                                 "location": {"reference": "urn:uuid:8944e7cf"}}}]
    })
}

#[test]
fn care_plan_keeps_activities_and_needs_status_intent_subject() {
    let Mapped::CarePlan(plan) = map(&care_plan()) else {
        panic!("expected a CarePlan");
    };
    assert_eq!(
        (plan.status, plan.intent),
        (CarePlanStatus::Completed, CarePlanIntent::Order)
    );
    assert_eq!(
        plan.activities[0]
            .code
            .as_ref()
            .map(|code| code.label())
            .as_deref(),
        Some("Recommendation to rest")
    );
    assert_eq!(
        plan.activities[0].status,
        Some(CarePlanActivityStatus::Completed)
    );
    assert_eq!(
        plan.care_teams,
        vec![Reference::Internal("urn:uuid:7080b1fe".into())]
    );
    for key in ["status", "intent", "subject"] {
        assert_eq!(
            error(&without(&care_plan(), key)),
            format!("entry 5 (CarePlan): CarePlan.{key}: required element missing")
        );
    }
    let mut no_status = care_plan();
    no_status["activity"][0]["detail"] = json!({"code": {"text": "Rest"}});
    assert_eq!(
        error(&no_status),
        "entry 5 (CarePlan): CarePlan.activity[0].detail.status: required element missing"
    );
}

#[test]
fn care_team_keeps_members_with_their_roles() {
    let team = json!({
        "resourceType": "CareTeam", "id": "7080b1fe", "status": "inactive",
        "subject": {"reference": PATIENT},
        "participant": [
            {"role": [{"text": "Patient"}], "member": {"reference": PATIENT}},
            {"role": [{"coding": [{"display": "Healthcare professional (occupation)"}]}],
             "member": {"reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999"}}
        ],
        "managingOrganization": [{"reference": "urn:uuid:b0e04623"}]
    });
    let Mapped::CareTeam(team) = map(&team) else {
        panic!("expected a CareTeam");
    };
    assert_eq!(team.status, Some(CareTeamStatus::Inactive));
    let roles: Vec<Option<String>> = team
        .participants
        .iter()
        .map(|member| member.role_label())
        .collect();
    assert_eq!(
        roles,
        [
            Some("Patient".to_owned()),
            Some("Healthcare professional (occupation)".to_owned())
        ]
    );
    assert_eq!(
        team.participants[0].member,
        Some(Reference::Internal(PATIENT.into()))
    );
    assert_eq!(team.managing_organizations.len(), 1);
}
