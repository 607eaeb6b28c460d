//! FHIR R4 JSON for each kind of generated resource. Every reference is the `urn:uuid:` fullUrl
//! of another entry of the same Bundle, so a file imports on its own.

use super::calendar::Moment;
use super::codes::{Code, UCUM};
use super::directory::{Organization, Practitioner};
use super::labs::{INTERPRETATION, LabResult};
use super::medicines::Medicine;
use super::person::Person;
use super::{Resource, urn};
use serde_json::{Value, json};
use uuid::Uuid;

/// The MRN identifier system of generated patients.
pub const MRN_SYSTEM: &str = "https://portal.example/mrn";
const ORGANIZATION_SYSTEM: &str = "https://portal.example/organization";
const NPI_SYSTEM: &str = "http://hl7.org/fhir/sid/us-npi";

fn coding(code: &Code) -> Value {
    json!({"system": code.system, "code": code.code, "display": code.display})
}

fn concept(code: &Code) -> Value {
    json!({"coding": [coding(code)], "text": code.display})
}

fn status_concept(system: &str, code: &str) -> Value {
    json!({"coding": [{"system": system, "code": code}]})
}

fn reference(id: Uuid) -> Value {
    json!({"reference": urn(id)})
}

fn quantity(value: f64, unit: &str) -> Value {
    json!({"value": value, "unit": unit, "system": UCUM, "code": unit})
}

/// What every resource of one encounter shares.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The patient.
    pub patient: Uuid,
    /// The encounter.
    pub encounter: Uuid,
    /// The clinician seen.
    pub clinician: &'a Practitioner,
    /// Where.
    pub organization: &'a Organization,
    /// When the encounter began.
    pub start: Moment,
    /// When it ended.
    pub end: Moment,
}

impl Context<'_> {
    fn clinician(&self) -> Value {
        json!({"reference": urn(self.clinician.id), "display": self.clinician.display()})
    }

    fn organization(&self) -> Value {
        json!({"reference": urn(self.organization.id), "display": self.organization.name})
    }

    fn period(&self) -> Value {
        json!({"start": self.start.to_string(), "end": self.end.to_string()})
    }
}

/// The Patient.
pub fn patient(person: &Person, clinician: &Practitioner, clinic: &Organization) -> Resource {
    let email_name: String = format!("{}.{}", person.given[0], person.family)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
        .collect::<String>()
        .to_ascii_lowercase();
    Resource::new(
        "Patient",
        person.id,
        json!({
            "identifier": [{
                "type": {"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                    "code": "MR"
                }]},
                "system": MRN_SYSTEM,
                "value": person.mrn
            }],
            "active": true,
            "name": [{"use": "official", "family": person.family, "given": person.given}],
            "telecom": [
                {"system": "phone", "value": person.phone, "use": "home"},
                {"system": "email", "value": format!("{email_name}@example.com"), "use": "home"}
            ],
            "gender": person.sex.as_str(),
            "birthDate": person.birth.to_string(),
            "address": [{
                "use": "home",
                "line": [person.street],
                "city": person.town.0,
                "state": "MA",
                "postalCode": person.town.1,
                "country": "US"
            }],
            "maritalStatus": {
                "coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus",
                    "code": person.marital.0,
                    "display": person.marital.1
                }],
                "text": person.marital.1
            },
            "communication": [{
                "language": {
                    "coding": [{
                        "system": "urn:ietf:bcp:47",
                        "code": person.language.0,
                        "display": person.language.1
                    }],
                    "text": person.language.1
                },
                "preferred": true
            }],
            "generalPractitioner": [{"reference": urn(clinician.id), "display": clinician.display()}],
            "managingOrganization": {"reference": urn(clinic.id), "display": clinic.name}
        }),
    )
}

/// A clinic or hospital.
pub fn organization(organization: &Organization) -> Resource {
    Resource::new(
        "Organization",
        organization.id,
        json!({
            "identifier": [{"system": ORGANIZATION_SYSTEM, "value": organization.identifier}],
            "active": true,
            "type": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                "code": "prov",
                "display": "Healthcare Provider"
            }]}],
            "name": organization.name,
            "telecom": [{"system": "phone", "value": organization.phone, "use": "work"}],
            "address": [{
                "line": [organization.street],
                "city": organization.town.0,
                "state": "MA",
                "postalCode": organization.town.1,
                "country": "US"
            }]
        }),
    )
}

/// A clinician.
pub fn practitioner(practitioner: &Practitioner) -> Resource {
    Resource::new(
        "Practitioner",
        practitioner.id,
        json!({
            "identifier": [{"system": NPI_SYSTEM, "value": practitioner.npi}],
            "active": true,
            "name": [{
                "use": "official",
                "family": practitioner.family,
                "given": [practitioner.given],
                "prefix": ["Dr."]
            }],
            "gender": practitioner.sex.as_str()
        }),
    )
}

/// The setting of an encounter (v3-ActCode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// `AMB`.
    Ambulatory,
    /// `EMER`.
    Emergency,
    /// `IMP`.
    Inpatient,
}

/// An encounter.
pub fn encounter(
    cx: &Context,
    patient_name: &str,
    class: Class,
    kind: &Code,
    reason: Option<&Code>,
) -> Resource {
    let (code, display) = match class {
        Class::Ambulatory => ("AMB", "ambulatory"),
        Class::Emergency => ("EMER", "emergency"),
        Class::Inpatient => ("IMP", "inpatient encounter"),
    };
    let mut body = json!({
        "status": "finished",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": code,
            "display": display
        },
        "type": [concept(kind)],
        "subject": {"reference": urn(cx.patient), "display": patient_name},
        "participant": [{
            "type": [{"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                "code": "PPRF",
                "display": "primary performer"
            }]}],
            "period": cx.period(),
            "individual": cx.clinician()
        }],
        "period": cx.period(),
        "serviceProvider": cx.organization()
    });
    if let Some(reason) = reason {
        body["reasonCode"] = json!([concept(reason)]);
    }
    if class == Class::Inpatient {
        body["hospitalization"] = json!({
            "dischargeDisposition": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/discharge-disposition",
                "code": "home",
                "display": "Home"
            }]}
        });
    }
    Resource::new("Encounter", cx.encounter, body)
}

/// How a condition stands.
#[derive(Clone, Copy, Debug)]
pub struct ConditionFacts<'a> {
    /// What it is.
    pub code: &'a Code,
    /// On the problem list (long-term) rather than a diagnosis of this encounter.
    pub problem_list: bool,
    /// When it began (a FHIR date or dateTime).
    pub onset: &'a str,
    /// When it resolved, if it has.
    pub abatement: Option<Moment>,
}

/// A condition diagnosed at an encounter.
pub fn condition(id: Uuid, cx: &Context, facts: ConditionFacts) -> Resource {
    let (category, category_display) = if facts.problem_list {
        ("problem-list-item", "Problem List Item")
    } else {
        ("encounter-diagnosis", "Encounter Diagnosis")
    };
    let mut body = json!({
        "clinicalStatus": status_concept(
            "http://terminology.hl7.org/CodeSystem/condition-clinical",
            if facts.abatement.is_some() { "resolved" } else { "active" }
        ),
        "verificationStatus": status_concept(
            "http://terminology.hl7.org/CodeSystem/condition-ver-status",
            "confirmed"
        ),
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
            "code": category,
            "display": category_display
        }]}],
        "code": concept(facts.code),
        "subject": reference(cx.patient),
        "encounter": reference(cx.encounter),
        "onsetDateTime": facts.onset,
        "recordedDate": cx.start.to_string(),
        "recorder": cx.clinician()
    });
    if let Some(abatement) = facts.abatement {
        body["abatementDateTime"] = json!(abatement.to_string());
    }
    Resource::new("Condition", id, body)
}

/// An allergy.
pub fn allergy(
    id: Uuid,
    cx: &Context,
    substance: &Code,
    category: &str,
    reaction: &Code,
    severity: &str,
) -> Resource {
    Resource::new(
        "AllergyIntolerance",
        id,
        json!({
            "clinicalStatus": status_concept(
                "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                "active"
            ),
            "verificationStatus": status_concept(
                "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                "confirmed"
            ),
            "type": "allergy",
            "category": [category],
            "criticality": if severity == "severe" { "high" } else { "low" },
            "code": concept(substance),
            "patient": reference(cx.patient),
            "encounter": reference(cx.encounter),
            "recordedDate": cx.start.to_string(),
            "recorder": cx.clinician(),
            "reaction": [{"manifestation": [concept(reaction)], "severity": severity}]
        }),
    )
}

/// Where a prescription stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prescription {
    /// Being taken now.
    Active,
    /// Finished, or replaced by a renewal.
    Completed,
    /// Stopped before its end.
    Stopped,
}

/// A prescription written at an encounter.
pub fn medication_request(
    id: Uuid,
    cx: &Context,
    medicine: &Medicine,
    status: Prescription,
    inpatient: bool,
    reason: Option<Uuid>,
) -> Resource {
    let (category, category_display) = if inpatient {
        ("inpatient", "Inpatient")
    } else {
        ("community", "Community")
    };
    let mut body = json!({
        "status": match status {
            Prescription::Active => "active",
            Prescription::Completed => "completed",
            Prescription::Stopped => "stopped",
        },
        "intent": "order",
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
            "code": category,
            "display": category_display
        }]}],
        "medicationCodeableConcept": concept(&medicine.code),
        "subject": reference(cx.patient),
        "encounter": reference(cx.encounter),
        "authoredOn": cx.start.to_string(),
        "requester": cx.clinician(),
        "dosageInstruction": [{
            "sequence": 1,
            "text": medicine.instruction,
            "timing": {"repeat": {
                "frequency": medicine.frequency,
                "period": medicine.period,
                "periodUnit": medicine.period_unit
            }},
            "asNeededBoolean": medicine.as_needed
        }],
        "dispenseRequest": {
            "numberOfRepeatsAllowed": medicine.repeats,
            "quantity": {"value": medicine.quantity},
            "expectedSupplyDuration": {
                "value": medicine.supply_days,
                "unit": "days",
                "system": UCUM,
                "code": "d"
            }
        }
    });
    if let Some(reason) = reason {
        body["reasonReference"] = json!([reference(reason)]);
    }
    if status == Prescription::Stopped {
        body["statusReason"] = json!({"text": "Not tolerated; changed to another medicine."});
    }
    Resource::new("MedicationRequest", id, body)
}

/// A vaccine given.
pub fn immunization(id: Uuid, cx: &Context, vaccine: &Code, lot: &str) -> Resource {
    Resource::new(
        "Immunization",
        id,
        json!({
            "status": "completed",
            "vaccineCode": concept(vaccine),
            "patient": reference(cx.patient),
            "encounter": reference(cx.encounter),
            "occurrenceDateTime": cx.start.to_string(),
            "primarySource": true,
            "lotNumber": lot,
            "performer": [{"actor": cx.clinician()}]
        }),
    )
}

fn observation_base(cx: &Context, category: (&str, &str), code: &Code, issued: Moment) -> Value {
    json!({
        "status": "final",
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
            "code": category.0,
            "display": category.1
        }]}],
        "code": concept(code),
        "subject": reference(cx.patient),
        "encounter": reference(cx.encounter),
        "effectiveDateTime": cx.start.to_string(),
        "issued": issued.to_string()
    })
}

const VITAL_SIGNS: (&str, &str) = ("vital-signs", "Vital Signs");

/// A vital sign with one value.
pub fn vital_sign(id: Uuid, cx: &Context, code: &Code, value: f64, unit: &str) -> Resource {
    let mut body = observation_base(cx, VITAL_SIGNS, code, cx.start);
    body["valueQuantity"] = quantity(value, unit);
    Resource::new("Observation", id, body)
}

/// A blood pressure reading: systolic and diastolic components.
pub fn blood_pressure(
    id: Uuid,
    cx: &Context,
    (panel, systolic, diastolic): (&Code, &Code, &Code),
    (high, low): (f64, f64),
) -> Resource {
    let mut body = observation_base(cx, VITAL_SIGNS, panel, cx.start);
    body["component"] = json!([
        {"code": concept(systolic), "valueQuantity": quantity(high, "mm[Hg]")},
        {"code": concept(diastolic), "valueQuantity": quantity(low, "mm[Hg]")}
    ]);
    Resource::new("Observation", id, body)
}

/// A laboratory result with its reference range and interpretation.
pub fn lab_result(id: Uuid, cx: &Context, result: &LabResult, issued: Moment) -> Resource {
    let analyte = result.analyte;
    let mut body = observation_base(cx, ("laboratory", "Laboratory"), &analyte.code, issued);
    body["valueQuantity"] = quantity(result.value, analyte.unit);
    body["interpretation"] = json!([{
        "coding": [{
            "system": INTERPRETATION,
            "code": result.flag.code(),
            "display": result.flag.display()
        }],
        "text": result.flag.display()
    }]);
    body["referenceRange"] = json!([{
        "low": quantity(result.range.low, analyte.unit),
        "high": quantity(result.range.high, analyte.unit)
    }]);
    Resource::new("Observation", id, body)
}

/// A laboratory report grouping results.
pub fn lab_report(
    id: Uuid,
    cx: &Context,
    code: &Code,
    issued: Moment,
    results: &[(Uuid, &Code)],
    conclusion: Option<&str>,
) -> Resource {
    let mut body = json!({
        "status": "final",
        "category": [{"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/v2-0074",
            "code": "LAB",
            "display": "Laboratory"
        }]}],
        "code": concept(code),
        "subject": reference(cx.patient),
        "encounter": reference(cx.encounter),
        "effectiveDateTime": cx.start.to_string(),
        "issued": issued.to_string(),
        "performer": [cx.organization()],
        "result": results
            .iter()
            .map(|(id, code)| json!({"reference": urn(*id), "display": code.display}))
            .collect::<Vec<_>>()
    });
    if let Some(conclusion) = conclusion {
        body["conclusion"] = json!(conclusion);
    }
    Resource::new("DiagnosticReport", id, body)
}

/// A procedure done at an encounter.
pub fn procedure(id: Uuid, cx: &Context, code: &Code, reason: Option<Uuid>) -> Resource {
    let mut body = json!({
        "status": "completed",
        "code": concept(code),
        "subject": reference(cx.patient),
        "encounter": reference(cx.encounter),
        "performedPeriod": cx.period(),
        "performer": [{"actor": cx.clinician()}]
    });
    if let Some(reason) = reason {
        body["reasonReference"] = json!([reference(reason)]);
    }
    Resource::new("Procedure", id, body)
}

/// A clinical note: plain text, base64 in the attachment.
pub fn note(id: Uuid, cx: &Context, kind: &Code, title: &str, text: &str) -> Resource {
    Resource::new(
        "DocumentReference",
        id,
        json!({
            "status": "current",
            "docStatus": "final",
            "type": {"coding": [coding(kind)], "text": kind.display},
            "category": [{"coding": [{
                "system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
                "code": "clinical-note",
                "display": "Clinical Note"
            }]}],
            "subject": reference(cx.patient),
            "date": cx.end.to_string(),
            "author": [cx.clinician()],
            "custodian": cx.organization(),
            "description": title,
            "content": [{"attachment": {
                "contentType": "text/plain",
                "data": super::notes::base64(text.as_bytes()),
                "title": title,
                "creation": cx.end.to_string()
            }}],
            "context": {"encounter": [reference(cx.encounter)], "period": cx.period()}
        }),
    )
}
