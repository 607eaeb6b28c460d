//! What the record pages list about each imported resource: kind, category, code, label,
//! status, date, abnormal flag and confidential category, read from the resource in a way that
//! holds for every mapped type.

use crate::json::{self, JsonContainerTrait, JsonValueTrait, Kind, Value};
use crate::model::{Concept, ObservationData, ObservationValue, ReferenceRange};
use crate::{Mapped, to_instant_micros};
use portal_domain::record::{
    Categories, Flag, ItemColumns, ItemKind, NOTE_CATEGORY, Sensitivity, report_is_note,
};

/// The list columns of one clinical item (the domain's [`ItemColumns`]).
pub type Projection = ItemColumns;

/// The kind of clinical item a mapped resource is, or `None` for directory data (Patient,
/// Practitioner, Organization, Location, Medication) and unmapped types.
pub fn kind_of(mapped: &Mapped) -> Option<ItemKind> {
    if !mapped.is_mapped() {
        return None;
    }
    ItemKind::of_resource_type(mapped.resource_type())
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

/// The list columns of a mapped clinical resource, from its JSON and its mapping (`None` for
/// directory data and unmapped types): a report that is a note gets the note category, a
/// result its abnormal flag.
pub fn of(mapped: &Mapped, resource: &Value) -> Option<Projection> {
    let mut projection = project(kind_of(mapped)?, resource);
    if is_note_report(mapped) {
        projection.category = NOTE_CATEGORY.to_string();
    }
    projection.flag = flag_of(mapped);
    Some(projection)
}

/// Reads the list columns from a resource's JSON.
pub fn project(kind: ItemKind, resource: &Value) -> Projection {
    let code = ["code", "vaccineCode", "medicationCodeableConcept", "type"]
        .iter()
        .find_map(|k| {
            let v = resource.get(*k)?;
            // `type` is a list on Encounter.
            Some(v.as_array().and_then(|a| a.first()).unwrap_or(v))
        });
    let category = resource.get("category").and_then(|c| {
        let c = c.as_array().and_then(|a| a.first()).unwrap_or(c);
        match json::kind(c) {
            Kind::String(s) => Some(s.to_owned()),
            _ => first_coding(c)
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
        flag: Flag::None,
        sensitivity: sensitivity_of(resource),
    }
}

/// Whether a DiagnosticReport is a note rather than results ([`report_is_note`]).
pub fn is_note_report(mapped: &Mapped) -> bool {
    match mapped {
        Mapped::DiagnosticReport(r) => report_is_note(
            !r.results.is_empty(),
            r.presented_forms.iter().any(|f| f.text.is_some()),
        ),
        _ => false,
    }
}

/// Every confidential category the resource falls in: those its security labels
/// (`meta.security`) mark, and those the shipped code lists put its code (or medication) in.
pub fn sensitivity_of(resource: &Value) -> Categories {
    let labelled = resource
        .get("meta")
        .and_then(|m| m.get("security"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|label| {
            let code = label.get("code")?.as_str()?;
            Sensitivity::of_security_label(label.get("system").and_then(Value::as_str), code)
        });
    let coded = ["code", "medicationCodeableConcept"]
        .iter()
        .filter_map(|field| resource.get(*field)?.get("coding")?.as_array())
        .flatten()
        .filter_map(|coding| {
            Sensitivity::of_code(
                coding.get("system")?.as_str()?,
                coding.get("code")?.as_str()?,
            )
        });
    labelled.chain(coded).collect()
}

/// The interpretation code system (HL7 v3 ObservationInterpretation).
const INTERPRETATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";

/// The abnormal flag of a result: the sender's interpretation when it gave one we know, else the
/// value compared with the reference range (high above, low below, normal within), else none.
pub fn flag_of(mapped: &Mapped) -> Flag {
    match mapped {
        Mapped::Observation(obs) => observation_flag(obs),
        _ => Flag::None,
    }
}

fn interpretation_flag(concepts: &[Concept]) -> Option<Flag> {
    concepts.iter().find_map(|concept| {
        concept.codings.iter().find_map(|coding| {
            if coding
                .system
                .as_deref()
                .is_some_and(|s| s != INTERPRETATION)
            {
                return None;
            }
            Flag::from_interpretation(coding.code.as_deref()?)
        })
    })
}

/// Compares a number with the first range that has a bound.
fn range_flag(value: f64, ranges: &[ReferenceRange]) -> Option<Flag> {
    ranges.iter().find_map(|r| {
        Flag::against_range(
            value,
            r.low.as_ref().and_then(|q| q.value),
            r.high.as_ref().and_then(|q| q.value),
        )
    })
}

fn observation_flag(obs: &ObservationData) -> Flag {
    if let Some(flag) = interpretation_flag(&obs.interpretation) {
        return flag;
    }
    let value = match &obs.value {
        Some(ObservationValue::Quantity(q)) if q.comparator.is_none() => q.value,
        Some(ObservationValue::Integer(n)) => Some(*n as f64),
        _ => None,
    };
    if let Some(flag) = value.and_then(|v| range_flag(v, &obs.reference_ranges)) {
        return flag;
    }
    // A panel such as blood pressure: the worst of its parts, the first of equals.
    Flag::worst(obs.components.iter().rev().filter_map(|component| {
        interpretation_flag(&component.interpretation).or_else(|| match &component.value {
            Some(ObservationValue::Quantity(q)) if q.comparator.is_none() => q
                .value
                .and_then(|v| range_flag(v, &component.reference_ranges)),
            _ => None,
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{JsonValueMutTrait, json};

    #[test]
    fn an_observation_projects_its_code_category_and_time() {
        let obs = json!({
            "resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"code": "laboratory"}]}],
            "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0", "display": "Glucose"}]},
            "effectiveDateTime": "2024-01-02T03:04:05Z"
        });
        let p = project(ItemKind::Observation, &obs);
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
        let p = project(ItemKind::Condition, &c);
        assert_eq!(p.label, "44054006 (http://snomed.info/sct)");
        assert_eq!(p.status, "active");
        assert!(p.sort_at.is_some());
    }

    fn observation(json: Value) -> Mapped {
        crate::map_resource(&json, Some(0)).expect("maps")
    }

    #[test]
    fn flags_come_from_the_interpretation_first_then_the_range() {
        let base = json!({"resourceType": "Observation", "status": "final",
            "code": {"text": "Glucose"},
            "valueQuantity": {"value": 130, "unit": "mg/dL"},
            "referenceRange": [{"low": {"value": 70}, "high": {"value": 99}}]});
        assert_eq!(flag_of(&observation(base.clone())), Flag::High);
        let mut low = base.clone();
        low["valueQuantity"]["value"] = json!(50);
        assert_eq!(flag_of(&observation(low)), Flag::Low);
        let mut normal = base.clone();
        normal["valueQuantity"]["value"] = json!(80);
        assert_eq!(flag_of(&observation(normal)), Flag::Normal);
        let mut critical = base.clone();
        critical["interpretation"] =
            json!([{"coding": [{"system": INTERPRETATION, "code": "HH"}]}]);
        assert_eq!(flag_of(&observation(critical)), Flag::CriticalHigh);
        let mut bare = base;
        bare.as_object_mut()
            .expect("object")
            .remove(&"referenceRange");
        assert_eq!(flag_of(&observation(bare)), Flag::None);
    }

    #[test]
    fn a_panel_takes_its_worst_component() {
        let bp = json!({"resourceType": "Observation", "status": "final", "code": {"text": "Blood pressure"},
            "component": [
              {"code": {"text": "Systolic"}, "valueQuantity": {"value": 150},
               "referenceRange": [{"high": {"value": 120}}]},
              {"code": {"text": "Diastolic"}, "valueQuantity": {"value": 70},
               "referenceRange": [{"low": {"value": 60}, "high": {"value": 80}}]}]});
        assert_eq!(flag_of(&observation(bp)), Flag::High);
    }

    #[test]
    fn security_labels_mark_an_item_confidential() {
        let labelled = json!({"resourceType": "Condition", "meta": {"security": [
            {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"},
            {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "ETH"}]}});
        assert_eq!(
            sensitivity_of(&labelled),
            Categories::NONE.with(Sensitivity::SubstanceUse)
        );
        let plain = json!({"resourceType": "Condition", "meta": {"security": [
            {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N"}]}});
        assert_eq!(sensitivity_of(&plain), Categories::NONE);
        assert_eq!(
            sensitivity_of(&json!({"resourceType": "Condition"})),
            Categories::NONE
        );
    }

    #[test]
    fn listed_codes_mark_an_item_confidential_without_a_label() {
        let depression = json!({"resourceType": "Condition", "code": {"coding": [
            {"system": "http://snomed.info/sct", "code": "370143000"}]}});
        assert_eq!(
            sensitivity_of(&depression),
            Categories::NONE.with(Sensitivity::MentalHealth)
        );
        let medicine = json!({"resourceType": "MedicationRequest", "medicationCodeableConcept":
            {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "310385"}]}});
        assert_eq!(
            sensitivity_of(&medicine),
            Categories::NONE.with(Sensitivity::MentalHealth)
        );
        let asthma = json!({"resourceType": "Condition", "code": {"coding": [
            {"system": "http://snomed.info/sct", "code": "195967001"}]}});
        assert_eq!(sensitivity_of(&asthma), Categories::NONE);
        // Labels and the list together: an item is in every category either puts it in.
        let mut labelled = depression.clone();
        labelled["meta"] = json!({"security": [{"code": "HIV"}, {"code": "ETH"}]});
        let all: Categories = [
            Sensitivity::MentalHealth,
            Sensitivity::Hiv,
            Sensitivity::SubstanceUse,
        ]
        .into_iter()
        .collect();
        assert_eq!(sensitivity_of(&labelled), all);
    }
}
