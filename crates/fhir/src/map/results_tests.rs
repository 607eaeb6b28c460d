use crate::json::{JsonValueMutTrait as _, Value};
use sonic_rs::json;

use crate::codes::{DiagnosticReportStatus, DocumentReferenceStatus, ObservationStatus};
use crate::map::{Mapped, map_resource};
use crate::model::{ObservationValue, Occurrence, Quantity};
use crate::refs::Reference;

fn map(resource: &Value) -> Mapped {
    match map_resource(resource, Some(12)) {
        Ok(mapped) => mapped,
        Err(error) => panic!("{error}"),
    }
}

fn error(resource: &Value) -> String {
    match map_resource(resource, Some(12)) {
        Ok(mapped) => panic!("expected an error, got {mapped:?}"),
        Err(error) => error.to_string(),
    }
}

fn observation(extra: Value) -> Value {
    let mut resource = json!({
        "resourceType": "Observation", "id": "o1", "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0", "display": "Glucose"}], "text": "Glucose"},
        "subject": {"reference": "urn:uuid:p1"},
        "effectiveDateTime": "2017-08-31T07:28:45+00:00",
        "issued": "2017-08-31T07:28:45.315+00:00"
    });
    crate::json::merge(&mut resource, extra);
    resource
}

fn mapped_observation(extra: Value) -> crate::model::ObservationData {
    match map(&observation(extra)) {
        Mapped::Observation(observation) => observation,
        other => panic!("expected an Observation, got {other:?}"),
    }
}

#[test]
fn lab_result_keeps_value_unit_range_and_flags() {
    let result = mapped_observation(json!({
        "valueQuantity": {"value": 7.9, "unit": "mmol/L", "system": "http://unitsofmeasure.org", "code": "mmol/L"},
        "interpretation": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                                        "code": "H", "display": "High"}]}],
        "referenceRange": [{"low": {"value": 3.9, "unit": "mmol/L"}, "high": {"value": 5.6, "unit": "mmol/L"},
                            "type": {"text": "Normal Range"}}]
    }));
    assert_eq!(result.status, ObservationStatus::Final);
    assert_eq!(result.code.label(), "Glucose");
    assert_eq!(
        result.categories[0].code_in("http://terminology.hl7.org/CodeSystem/observation-category"),
        Some("laboratory")
    );
    let Some(ObservationValue::Quantity(Quantity { value, unit, .. })) = &result.value else {
        panic!("expected a quantity, got {:?}", result.value);
    };
    assert_eq!((*value, unit.as_deref()), (Some(7.9), Some("mmol/L")));
    assert_eq!(result.interpretation[0].label(), "High");
    let range = &result.reference_ranges[0];
    assert_eq!(range.low.as_ref().and_then(|low| low.value), Some(3.9));
    assert_eq!(range.high.as_ref().and_then(|high| high.value), Some(5.6));
    assert_eq!(
        range.kind.as_ref().map(|kind| kind.label()).as_deref(),
        Some("Normal Range")
    );
    assert_eq!(
        result.effective_sort,
        crate::to_instant_micros("2017-08-31T07:28:45Z")
    );
    assert_eq!(
        result.issued.as_deref(),
        Some("2017-08-31T07:28:45.315+00:00")
    );
}

#[test]
fn blood_pressure_components_keep_their_codes_and_values() {
    let pressure = mapped_observation(json!({
        "component": [
            {"code": {"text": "Diastolic Blood Pressure"}, "valueQuantity": {"value": 80, "unit": "mm[Hg]"}},
            {"code": {"text": "Systolic Blood Pressure"}, "valueQuantity": {"value": 119, "unit": "mm[Hg]"},
             "interpretation": [{"text": "Normal"}]}
        ]
    }));
    assert_eq!(pressure.value, None);
    let parts: Vec<(String, Option<f64>)> = pressure
        .components
        .iter()
        .map(|part| {
            let value = match &part.value {
                Some(ObservationValue::Quantity(quantity)) => quantity.value,
                _ => None,
            };
            (part.code.label(), value)
        })
        .collect();
    assert_eq!(
        parts,
        [
            ("Diastolic Blood Pressure".to_owned(), Some(80.0)),
            ("Systolic Blood Pressure".to_owned(), Some(119.0))
        ]
    );
    assert_eq!(pressure.components[1].interpretation[0].label(), "Normal");
}

#[test]
fn values_of_every_kind_are_mapped() {
    let cases = [
        (
            json!({"valueCodeableConcept": {"text": "Never smoked tobacco (finding)"}}),
            ObservationValue::Concept(crate::model::Concept {
                codings: vec![],
                text: Some("Never smoked tobacco (finding)".into()),
            }),
        ),
        (
            json!({"valueString": "Recommend Urine Culture"}),
            ObservationValue::String("Recommend Urine Culture".into()),
        ),
        (
            json!({"valueBoolean": false}),
            ObservationValue::Boolean(false),
        ),
        (json!({"valueInteger": 3}), ObservationValue::Integer(3)),
        (
            json!({"valueTime": "07:30:00"}),
            ObservationValue::Time("07:30:00".into()),
        ),
        (
            json!({"valueDateTime": "2020-02-29"}),
            ObservationValue::DateTime("2020-02-29".into()),
        ),
        (
            json!({"valueSampledData": {"origin": {"value": 0}, "period": 10, "dimensions": 1, "data": "1 2 3"}}),
            ObservationValue::SampledData(
                r#"{"data":"1 2 3","dimensions":1,"origin":{"value":0},"period":10}"#.into(),
            ),
        ),
    ];
    for (value, expected) in cases {
        let mapped = mapped_observation(value);
        match (&mapped.value, &expected) {
            // Key order of the raw text depends on serde_json features; compare as JSON.
            (Some(ObservationValue::SampledData(got)), ObservationValue::SampledData(want)) => {
                let got: Value = serde_json::from_str(got).unwrap_or_default();
                let want: Value = serde_json::from_str(want).unwrap_or_default();
                assert_eq!(got, want);
            }
            _ => assert_eq!(mapped.value.as_ref(), Some(&expected)),
        }
    }
    let ratio = mapped_observation(
        json!({"valueRatio": {"numerator": {"value": 1}, "denominator": {"value": 128}}}),
    );
    let Some(ObservationValue::Ratio(ratio)) = ratio.value else {
        panic!("expected a ratio");
    };
    assert_eq!(
        ratio.denominator.and_then(|denominator| denominator.value),
        Some(128.0)
    );
}

#[test]
fn data_absent_reason_stands_in_for_a_value_but_never_beside_one() {
    let absent = mapped_observation(json!({"dataAbsentReason": {"text": "Unknown"}}));
    assert_eq!(
        absent.value.as_ref().map(
            |value| matches!(value, ObservationValue::Absent(reason) if reason.label() == "Unknown")
        ),
        Some(true)
    );
    assert_eq!(
        error(&observation(
            json!({"valueQuantity": {"value": 1}, "dataAbsentReason": {"text": "Unknown"}})
        )),
        "entry 12 (Observation): Observation.dataAbsentReason: only allowed when there is no value[x] (obs-6)"
    );
}

#[test]
fn observation_errors_name_the_element() {
    let mut no_status = observation(json!({}));
    no_status
        .as_object_mut()
        .map(|fields| fields.remove(&"status"));
    assert_eq!(
        error(&no_status),
        "entry 12 (Observation): Observation.status: required element missing"
    );
    assert_eq!(
        error(&observation(json!({"status": 5}))),
        "entry 12 (Observation): Observation.status: expected a string"
    );
    assert_eq!(
        error(&observation(json!({"effectiveDateTime": "2020-13-45"}))),
        "entry 12 (Observation): Observation.effectiveDateTime: \"2020-13-45\" is not a FHIR dateTime"
    );
    assert_eq!(
        error(&observation(json!({"issued": "2017-08-31"}))),
        "entry 12 (Observation): Observation.issued: \"2017-08-31\" is not a FHIR instant"
    );
    assert_eq!(
        error(&observation(json!({"component": [{"valueString": "x"}]}))),
        "entry 12 (Observation): Observation.component[0].code: required element missing"
    );
    assert_eq!(
        error(&observation(
            json!({"referenceRange": [{"type": {"text": "Normal Range"}}]})
        )),
        "entry 12 (Observation): Observation.referenceRange[0]: needs a low, a high or a text (obs-3)"
    );
    assert_eq!(
        error(&observation(
            json!({"component": [{"code": {"text": "x"}, "valueQuantity": {"value": "7"}}]})
        )),
        "entry 12 (Observation): Observation.component[0].valueQuantity.value: expected a number"
    );
}

#[test]
fn effective_period_sorts_by_its_start() {
    let mut resource = observation(json!({
        "effectivePeriod": {"start": "1975-04-07T02:51:45-04:00", "end": "1975-04-07T03:51:45-04:00"}
    }));
    resource
        .as_object_mut()
        .map(|fields| fields.remove(&"effectiveDateTime"));
    let Mapped::Observation(observed) = map(&resource) else {
        panic!("expected an Observation");
    };
    assert_eq!(
        observed.effective.as_ref().and_then(Occurrence::start),
        Some("1975-04-07T02:51:45-04:00")
    );
    assert_eq!(
        observed.effective_sort,
        crate::to_instant_micros("1975-04-07T06:51:45Z")
    );
}

const NOTE_BASE64: &str = "CjE5NDAtMDktMDYKCiMgQ2hpZWYgQ29tcGxhaW50Ck5vIGNvbXBsYWludHMuCg==";
const NOTE_TEXT: &str = "\n1940-09-06\n\n# Chief Complaint\nNo complaints.\n";

fn document(content: Value) -> Value {
    json!({
        "resourceType": "DocumentReference", "id": "82a60fe5", "status": "superseded", "docStatus": "final",
        "type": {"text": "Progress note"},
        "category": [{"coding": [{"code": "clinical-note", "display": "Clinical Note"}]}],
        "subject": {"reference": "urn:uuid:p1"},
        "date": "1940-09-06T01:11:45.131-04:00",
        "author": [{"reference": "urn:uuid:c38e2d6b"}],
        "custodian": {"reference": "urn:uuid:56090ab7"},
        "content": content,
        "context": {"encounter": [{"reference": "urn:uuid:0bb40726"}],
                    "period": {"start": "1940-09-06T01:11:45-04:00", "end": "1940-09-06T01:26:45-04:00"}}
    })
}

#[test]
fn clinical_note_text_is_decoded_and_pdf_kept_as_binary() {
    let note = document(json!([
        {"attachment": {"contentType": "text/plain; charset=utf-8", "data": NOTE_BASE64}},
        {"attachment": {"contentType": "application/pdf", "data": "JVBERi0xLjQK", "title": "Scan"}}
    ]));
    let Mapped::DocumentReference(note) = map(&note) else {
        panic!("expected a DocumentReference");
    };
    assert_eq!(note.status, DocumentReferenceStatus::Superseded);
    assert_eq!(
        note.type_.as_ref().map(|kind| kind.label()).as_deref(),
        Some("Progress note")
    );
    assert_eq!(note.contents[0].text.as_deref(), Some(NOTE_TEXT));
    assert_eq!(note.contents[0].size, Some(NOTE_TEXT.len() as u64));
    assert!(!note.contents[0].has_binary);
    assert_eq!(note.contents[1].text, None);
    assert!(note.contents[1].has_binary);
    assert_eq!(note.contents[1].title.as_deref(), Some("Scan"));
    assert_eq!(
        note.encounters,
        vec![Reference::Internal("urn:uuid:0bb40726".into())]
    );
    assert_eq!(
        note.period.and_then(|period| period.end).as_deref(),
        Some("1940-09-06T01:26:45-04:00")
    );
    assert_eq!(
        note.custodian,
        Some(Reference::Internal("urn:uuid:56090ab7".into()))
    );
}

#[test]
fn latin1_notes_are_decoded_and_bad_utf8_refused() {
    let latin1 = document(
        json!([{"attachment": {"contentType": "text/plain; charset=ISO-8859-1", "data": "Y2Fm6Q=="}}]),
    );
    let Mapped::DocumentReference(note) = map(&latin1) else {
        panic!("expected a DocumentReference");
    };
    assert_eq!(note.contents[0].text.as_deref(), Some("café"));
    let bad = document(json!([{"attachment": {"contentType": "text/plain", "data": "Y2Fm6Q=="}}]));
    assert_eq!(
        error(&bad),
        "entry 12 (DocumentReference): DocumentReference.content[0].attachment.data: text/plain data is not valid UTF-8 text"
    );
}

#[test]
fn document_content_must_be_present_decodable_and_typed() {
    assert_eq!(
        error(&document(json!([]))),
        "entry 12 (DocumentReference): DocumentReference.content: required element missing"
    );
    assert_eq!(
        error(&document(
            json!([{"attachment": {"contentType": "text/plain", "data": "not base64!"}}])
        )),
        "entry 12 (DocumentReference): DocumentReference.content[0].attachment.data: is not valid base64"
    );
    assert_eq!(
        error(&document(json!([{"attachment": {"data": NOTE_BASE64}}]))),
        "entry 12 (DocumentReference): DocumentReference.content[0].attachment.contentType: required when there is data (att-1)"
    );
    assert_eq!(
        error(&document(json!([{"format": {"code": "x"}}]))),
        "entry 12 (DocumentReference): DocumentReference.content[0].attachment: required element missing"
    );
    let mut bad_date =
        document(json!([{"attachment": {"contentType": "text/plain", "data": NOTE_BASE64}}]));
    bad_date["date"] = json!("1940-09-06");
    assert_eq!(
        error(&bad_date),
        "entry 12 (DocumentReference): DocumentReference.date: \"1940-09-06\" is not a FHIR instant"
    );
}

#[test]
fn diagnostic_report_keeps_results_and_presented_text() {
    let report = json!({
        "resourceType": "DiagnosticReport", "id": "acc9d16d", "status": "final",
        "category": [{"text": "Radiology"}],
        "code": {"text": "Progress note"},
        "subject": {"reference": "urn:uuid:p1"},
        "effectiveDateTime": "1940-09-06T01:11:45-04:00",
        "issued": "1940-09-06T01:11:45.131-04:00",
        "performer": [{"reference": "urn:uuid:c38e2d6b", "display": "Dr. Melvin857 Torp761"}],
        "result": [{"reference": "urn:uuid:o1"}, {"reference": "urn:uuid:o2"}],
        "conclusion": "Normal",
        "presentedForm": [{"contentType": "text/plain", "data": NOTE_BASE64}]
    });
    let Mapped::DiagnosticReport(report_data) = map(&report) else {
        panic!("expected a DiagnosticReport");
    };
    assert_eq!(report_data.status, DiagnosticReportStatus::Final);
    assert_eq!(
        report_data.results,
        vec![
            Reference::Internal("urn:uuid:o1".into()),
            Reference::Internal("urn:uuid:o2".into())
        ]
    );
    assert_eq!(
        report_data.presented_forms[0].text.as_deref(),
        Some(NOTE_TEXT)
    );
    assert_eq!(report_data.conclusion.as_deref(), Some("Normal"));
    let mut no_code = report.clone();
    no_code.as_object_mut().map(|fields| fields.remove(&"code"));
    assert_eq!(
        error(&no_code),
        "entry 12 (DiagnosticReport): DiagnosticReport.code: required element missing"
    );
    let mut bad_status = report;
    bad_status["status"] = json!("done");
    assert!(error(&bad_status).starts_with("entry 12 (DiagnosticReport): DiagnosticReport.status: \"done\" is not one of registered|partial|"));
}
