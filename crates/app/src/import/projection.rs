//! What the record pages list about each imported resource: kind, category, code, label,
//! status and date, read from the resource in a way that holds for every mapped type.

use portal_fhir::{Mapped, to_instant_micros};
use serde_json::Value;

/// The list columns of one clinical item.
#[derive(Debug, Default, PartialEq)]
pub struct Projection {
    /// "observation", "condition", …
    pub kind: &'static str,
    /// The first category code.
    pub category: String,
    /// The main code's system.
    pub code_system: String,
    /// The main code.
    pub code: String,
    /// Words for it.
    pub label: String,
    /// Its status.
    pub status: String,
    /// When, for sorting.
    pub sort_at: Option<i64>,
}

/// The kind of clinical item a mapped resource is, or `None` for directory data (Patient,
/// Practitioner, Organization, Location, Medication) and unmapped types.
pub fn kind_of(mapped: &Mapped) -> Option<&'static str> {
    Some(match mapped {
        Mapped::Encounter(_) => "encounter",
        Mapped::Condition(_) => "condition",
        Mapped::AllergyIntolerance(_) => "allergy",
        Mapped::MedicationRequest(_) => "medication-request",
        Mapped::Immunization(_) => "immunization",
        Mapped::Observation(_) => "observation",
        Mapped::DiagnosticReport(_) => "diagnostic-report",
        Mapped::DocumentReference(_) => "document",
        Mapped::Procedure(_) => "procedure",
        Mapped::CarePlan(_) => "care-plan",
        Mapped::CareTeam(_) => "care-team",
        _ => return None,
    })
}

fn first_coding(concept: &Value) -> Option<&Value> {
    concept.get("coding")?.as_array()?.first()
}

fn text_of(value: Option<&Value>) -> String {
    value
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn concept_label(concept: &Value) -> String {
    if let Some(text) = concept.get("text").and_then(Value::as_str) {
        return text.to_string();
    }
    match first_coding(concept) {
        Some(c) => match c.get("display").and_then(Value::as_str) {
            Some(d) => d.to_string(),
            None => format!("{} ({})", text_of(c.get("code")), text_of(c.get("system"))),
        },
        None => String::new(),
    }
}

/// Reads the list columns from a resource's JSON.
pub fn project(kind: &'static str, resource: &Value) -> Projection {
    let code = ["code", "vaccineCode", "medicationCodeableConcept", "type"]
        .iter()
        .find_map(|k| {
            let v = resource.get(*k)?;
            // `type` is a list on Encounter.
            Some(v.as_array().and_then(|a| a.first()).unwrap_or(v))
        });
    let category = resource.get("category").and_then(|c| {
        let c = c.as_array().and_then(|a| a.first()).unwrap_or(c);
        match c {
            Value::String(s) => Some(s.clone()),
            other => first_coding(other)
                .and_then(|coding| coding.get("code"))
                .and_then(Value::as_str)
                .map(str::to_string),
        }
    });
    let status = resource
        .get("status")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            let clinical = resource.get("clinicalStatus")?;
            first_coding(clinical)?
                .get("code")?
                .as_str()
                .map(str::to_string)
        });
    let when = [
        "effectiveDateTime",
        "effectiveInstant",
        "occurrenceDateTime",
        "onsetDateTime",
        "performedDateTime",
        "authoredOn",
        "recordedDate",
        "issued",
        "date",
    ]
    .iter()
    .find_map(|k| resource.get(*k).and_then(Value::as_str))
    .or_else(|| {
        [
            "effectivePeriod",
            "performedPeriod",
            "period",
            "onsetPeriod",
        ]
        .iter()
        .find_map(|k| resource.get(*k)?.get("start")?.as_str())
    });
    let coding = code.and_then(first_coding);
    Projection {
        kind,
        category: category.unwrap_or_default(),
        code_system: text_of(coding.and_then(|c| c.get("system"))),
        code: text_of(coding.and_then(|c| c.get("code"))),
        label: code.map(concept_label).unwrap_or_default(),
        status: status.unwrap_or_default(),
        sort_at: when.and_then(to_instant_micros),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_observation_projects_its_code_category_and_time() {
        let obs = json!({
            "resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"code": "laboratory"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0", "display": "Glucose"}]},
            "effectiveDateTime": "2024-01-02T03:04:05Z"
        });
        let p = project("observation", &obs);
        assert_eq!(p.category, "laboratory");
        assert_eq!(p.code, "2339-0");
        assert_eq!(p.code_system, "http://loinc.org");
        assert_eq!(p.label, "Glucose");
        assert_eq!(p.status, "final");
        assert_eq!(p.sort_at, to_instant_micros("2024-01-02T03:04:05Z"));
    }

    #[test]
    fn a_code_without_words_shows_code_and_system() {
        let c = json!({"resourceType": "Condition", "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006"}]},
            "clinicalStatus": {"coding": [{"code": "active"}]}, "onsetPeriod": {"start": "2020-05"}});
        let p = project("condition", &c);
        assert_eq!(p.label, "44054006 (http://snomed.info/sct)");
        assert_eq!(p.status, "active");
        assert!(p.sort_at.is_some());
    }
}
