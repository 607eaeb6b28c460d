use super::*;
use crate::codes::ObservationStatus;
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
fn errors_name_entry_type_and_path() {
    let resource = observation(json!({"effectiveDateTime": "2020-13-45"}));
    let node = Node::root(&resource, Some(12)).expect("an Observation");
    assert_eq!(
        message(node.date_time("effectiveDateTime")),
        "entry 12 (Observation): Observation.effectiveDateTime: \"2020-13-45\" is not a FHIR dateTime"
    );
}

#[test]
fn json_types_are_checked() {
    let resource = observation(json!({
        "status": 5, "issued": 20200101, "valueBoolean": "true", "valueInteger": 1.5,
        "code": [], "category": {"text": "vital-signs"}
    }));
    let node = Node::root(&resource, None).expect("an Observation");
    assert_eq!(
        message(node.coded::<ObservationStatus>("status")),
        "Observation.status: expected a string"
    );
    assert_eq!(
        message(node.instant("issued")),
        "Observation.issued: expected a string"
    );
    assert_eq!(
        message(node.boolean("valueBoolean")),
        "Observation.valueBoolean: expected a boolean (true or false)"
    );
    assert_eq!(
        message(node.integer("valueInteger")),
        "Observation.valueInteger: expected an integer, found 1.5"
    );
    assert_eq!(
        message(node.concept("code")),
        "Observation.code: expected an object, not an array"
    );
    assert_eq!(
        message(node.concepts("category")),
        "Observation.category: expected an array (FHIR JSON writes repeating elements as arrays)"
    );
}

#[test]
fn nulls_and_empty_strings_are_refused() {
    let resource = observation(json!({"status": null, "valueString": ""}));
    let node = Node::root(&resource, None).expect("an Observation");
    assert_eq!(
        message(node.string("status")),
        "Observation.status: null is not allowed (leave the element out)"
    );
    assert_eq!(
        message(node.string("valueString")),
        "Observation.valueString: empty strings are not allowed (leave the element out)"
    );
}

#[test]
fn codes_outside_the_value_set_list_the_allowed_ones() {
    let resource = observation(json!({"status": "bogus"}));
    let node = Node::root(&resource, None).expect("an Observation");
    assert_eq!(
        message(node.coded::<ObservationStatus>("status")),
        "Observation.status: \"bogus\" is not one of \
         registered|preliminary|final|amended|corrected|cancelled|entered-in-error|unknown"
    );
}

#[test]
fn choice_allows_one_type_from_the_list() {
    let resource = observation(json!({"valueQuantity": {"value": 1}}));
    let node = Node::root(&resource, None).expect("an Observation");
    assert_eq!(
        node.choice("value", &["Quantity", "String"])
            .expect("one value"),
        Some(("Quantity", "valueQuantity"))
    );
    assert_eq!(
        node.choice("effective", &["DateTime"])
            .expect("no effective"),
        None
    );

    let two = observation(json!({"valueString": "a", "valueBoolean": true}));
    let node = Node::root(&two, None).expect("an Observation");
    assert_eq!(
        message(node.choice("value", &["String", "Boolean"])),
        "Observation.value[x]: only one of valueBoolean, valueString may be given"
    );

    let wrong = observation(json!({"valueAttachment": {}}));
    let node = Node::root(&wrong, None).expect("an Observation");
    assert_eq!(
        message(node.choice("value", &["Quantity", "String"])),
        "Observation.valueAttachment: value[x] cannot be of type Attachment (allowed: Quantity, String)"
    );
}
