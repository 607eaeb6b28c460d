use super::*;
use crate::json::Value;
use sonic_rs::json;

fn observation(extra: Value) -> Value {
    let mut resource = json!({"resourceType": "Observation", "id": "o1"});
    crate::json::merge(&mut resource, extra);
    resource
}

fn message<T: std::fmt::Debug>(result: Read<T>) -> String {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn periods_may_not_end_before_they_start() {
    let resource = observation(json!({
        "effectivePeriod": {"start": "2020-02-01T00:00:00+01:00", "end": "2020-01-31T23:30:00Z"},
        "valuePeriod": {"start": "2020-01-15", "end": "2020-01"},
        "issuedPeriod": {"start": "2020-02-01", "end": "2020-01-31T23:30:00Z"}
    }));
    let node = Node::root(&resource, Some(2)).expect("an Observation");
    // 2020-02-01T00:00+01:00 is 2020-01-31T23:00Z: half an hour before the end, so valid.
    let mut shifted = resource.clone();
    shifted["effectivePeriod"]["end"] = json!("2020-01-31T22:30:00Z");
    let later = Node::root(&shifted, Some(2)).expect("an Observation");
    assert!(node.period("effectivePeriod").is_ok());
    assert_eq!(
        message(later.period("effectivePeriod")),
        "entry 2 (Observation): Observation.effectivePeriod: the period starts after it ends"
    );
    // Different precisions do not compare (as in FHIRPath): ending "in January 2020" is valid.
    assert_eq!(
        node.period("valuePeriod")
            .expect("valid")
            .and_then(|period| period.end),
        Some("2020-01".to_owned())
    );
    assert!(node.period("issuedPeriod").is_ok());
}

#[test]
fn references_must_be_of_a_supported_form_and_required_ones_must_point() {
    let resource = observation(json!({
        "subject": {"reference": "Patient?name=smith"},
        "encounter": {"display": "a visit"},
        "performer": [{"display": "Dr. Who"}, {"reference": "Practitioner/7"}],
        "specimen": {"reference": 7}
    }));
    let node = Node::root(&resource, None).expect("an Observation");
    assert_eq!(
        message(node.reference("subject")),
        "Observation.subject: \"Patient?name=smith\": only a search on identifier=system|value is supported"
    );
    assert_eq!(
        node.reference("encounter").expect("display only is valid"),
        None
    );
    assert_eq!(
        message(node.required_reference("encounter")),
        "Observation.encounter: must point at a resource (a reference or identifier), not only name it"
    );
    assert_eq!(
        node.references("performer").expect("valid"),
        vec![Reference::Relative {
            resource_type: "Practitioner".into(),
            id: "7".into()
        }]
    );
    assert_eq!(
        message(node.reference("specimen")),
        "Observation.specimen.reference: expected a string"
    );
    assert_eq!(
        message(node.required_reference("basedOn")),
        "Observation.basedOn: required element missing"
    );
}

#[test]
fn identifiers_keep_system_value_and_type_code() {
    let resource = json!({"resourceType": "Patient", "identifier": [
        {"use": "official", "system": "http://hospital.smarthealthit.org", "value": "m-1",
         "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR",
                              "display": "Medical Record Number"}]}}
    ]});
    let node = Node::root(&resource, None).expect("a Patient");
    let identifiers = node.identifiers("identifier").expect("valid");
    assert_eq!(
        identifiers,
        vec![Identifier {
            use_: Some(crate::codes::IdentifierUse::Official),
            system: Some("http://hospital.smarthealthit.org".into()),
            value: Some("m-1".into()),
            type_code: Some("MR".into()),
            type_text: Some("Medical Record Number".into()),
        }]
    );
}

#[test]
fn codings_need_well_formed_codes_and_systems() {
    let resource = observation(json!({
        "code": {"coding": [{"system": "http://loinc.org", "code": " 8302-2"}]},
        "method": {"coding": [{"system": "http://loinc .org", "code": "x"}]}
    }));
    let node = Node::root(&resource, None).expect("an Observation");
    assert_eq!(
        message(node.concept("code")),
        "Observation.code.coding[0].code: \" 8302-2\" is not a FHIR code"
    );
    assert_eq!(
        message(node.concept("method")),
        "Observation.method.coding[0].system: \"http://loinc .org\" is not a FHIR uri"
    );
}

#[test]
fn quantities_need_numbers_and_known_comparators() {
    let resource = observation(json!({
        "valueQuantity": {"value": "7", "unit": "mmol/L"},
        "referenceRange": [{"low": {"value": 3.5, "comparator": "=="}}]
    }));
    let node = Node::root(&resource, None).expect("an Observation");
    assert_eq!(
        message(node.quantity("valueQuantity")),
        "Observation.valueQuantity.value: expected a number"
    );
    let range = node.objects("referenceRange").expect("an array");
    assert_eq!(
        message(range[0].quantity("low")),
        "Observation.referenceRange[0].low.comparator: \"==\" is not one of <|<=|>=|>"
    );
}

#[test]
fn occurrences_take_each_allowed_form() {
    let resource = json!({"resourceType": "Condition",
        "onsetAge": {"value": 4, "unit": "a"},
        "abatementBoolean": true,
        "recordedDate": "2020-01-01"});
    let node = Node::root(&resource, None).expect("a Condition");
    let onset = node
        .occurrence("onset", &["DateTime", "Age"])
        .expect("valid");
    assert_eq!(
        onset.and_then(|onset| match onset {
            Occurrence::Age(age) => age.value,
            _ => None,
        }),
        Some(4.0)
    );
    assert_eq!(
        node.occurrence("abatement", &["Boolean"]).expect("valid"),
        Some(Occurrence::Ended)
    );
}

#[test]
fn timing_is_summarised_in_words() {
    let resource = json!({"resourceType": "Observation",
        "a": {"repeat": {"frequency": 1, "period": 1.0, "periodUnit": "d"}},
        "b": {"repeat": {"frequency": 2, "period": 8, "periodUnit": "h"}},
        "c": {"code": {"text": "Before meals"}, "repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}},
        "d": {"event": ["2020-01-01T08:00:00Z"]},
        "e": {"event": ["2020-01-01T08:00:00"]}});
    let node = Node::root(&resource, None).expect("an Observation");
    let words = |key: &str| node.one(key, read_timing).expect("valid").flatten();
    assert_eq!(words("a").as_deref(), Some("once a day"));
    assert_eq!(words("b").as_deref(), Some("twice every 8 hours"));
    assert_eq!(words("c").as_deref(), Some("Before meals"));
    assert_eq!(words("d").as_deref(), Some("2020-01-01T08:00:00Z"));
    assert_eq!(
        message(node.one("e", read_timing)),
        "Observation.e.event[0]: \"2020-01-01T08:00:00\" is not a FHIR dateTime"
    );
}

#[test]
fn notes_need_their_text() {
    let resource = observation(json!({"note": [{"text": "Fasting"}, {"authorString": "Dr. Who"}]}));
    let node = Node::root(&resource, None).expect("an Observation");
    assert_eq!(
        message(node.notes("note")),
        "Observation.note[1].text: required element missing"
    );
}
