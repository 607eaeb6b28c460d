use super::*;
use crate::IdentifierSearch;
use sonic_rs::json;

fn bytes(value: &Value) -> Vec<u8> {
    sonic_rs::to_vec(value).unwrap_or_default()
}

fn transaction(entries: Value) -> Vec<u8> {
    bytes(&json!({"resourceType": "Bundle", "type": "transaction", "entry": entries}))
}

fn error_text(input: &[u8]) -> String {
    match parse_bundle(input) {
        Ok(bundle) => panic!("expected an error, got {} entries", bundle.entries.len()),
        Err(error) => error.to_string(),
    }
}

#[test]
fn transaction_entries_keep_full_url_request_and_resource() {
    let input = transaction(json!([
        {"fullUrl": "urn:uuid:p", "resource": {"resourceType": "Patient", "id": "85"},
         "request": {"method": "PUT", "url": "Patient/85"}},
        {"fullUrl": "urn:uuid:o", "resource": {"resourceType": "Observation", "status": "final"},
         "request": {"method": "POST", "url": "Observation"}}
    ]));
    let bundle = parse_bundle(&input).expect("valid transaction");
    assert_eq!(bundle.kind, BundleKind::Transaction);
    assert_eq!(bundle.entries.len(), 2);
    let put = &bundle.entries[0];
    assert_eq!(put.index, 0);
    assert_eq!(put.full_url.as_deref(), Some("urn:uuid:p"));
    assert_eq!(put.resource_type(), "Patient");
    let request = put.request.as_ref().expect("request");
    assert_eq!(
        (request.method, request.url.as_str()),
        (Method::Put, "Patient/85")
    );
    assert_eq!(request.put_id(), Some("85"));
    assert_eq!(bundle.entries[1].resource["status"], "final");
}

#[test]
fn conditional_create_keeps_and_parses_if_none_exist() {
    let input = bytes(
        &json!({"resourceType": "Bundle", "type": "batch", "entry": [
            {"fullUrl": "urn:uuid:o", "resource": {"resourceType": "Organization"},
             "request": {"method": "POST", "url": "Organization",
                         "ifNoneExist": "identifier=https://github.com/synthetichealth/synthea|74ab"}}
        ]}),
    );
    let bundle = parse_bundle(&input).expect("valid batch");
    assert_eq!(bundle.kind, BundleKind::Batch);
    let request = bundle.entries[0].request.as_ref().expect("request");
    assert_eq!(
        request.if_none_exist_identifier(),
        Some(IdentifierSearch {
            system: Some("https://github.com/synthetichealth/synthea".into()),
            value: "74ab".into()
        })
    );
}

#[test]
fn collection_entries_need_no_request() {
    let input = bytes(
        &json!({"resourceType": "Bundle", "type": "collection", "entry": [
            {"resource": {"resourceType": "Patient"}}
        ]}),
    );
    let bundle = parse_bundle(&input).expect("valid collection");
    assert_eq!(bundle.kind, BundleKind::Collection);
    assert_eq!(bundle.entries[0].request, None);
    assert_eq!(bundle.entries[0].full_url, None);
}

#[test]
fn not_json_names_line_and_column() {
    assert_eq!(
        error_text(b"{\n  \"resourceType\": \"Bundle\",\n  oops\n}"),
        "not JSON: Expected this character to be '\"' or '}' at line 3 column 3"
    );
}

#[test]
fn other_documents_than_bundles_are_refused() {
    assert_eq!(
        error_text(b"[1, 2]"),
        "not a FHIR resource: expected a JSON object"
    );
    assert_eq!(
        error_text(b"{\"a\": 1}"),
        "not a FHIR resource: resourceType is missing"
    );
    assert_eq!(
        error_text(br#"{"resourceType": "Patient"}"#),
        "expected a Bundle, found a Patient (a single resource is imported as NDJSON)"
    );
    assert_eq!(
        error_text(br#"{"resourceType": "Bundel"}"#),
        "not a FHIR resource: resourceType \"Bundel\" is not a FHIR R4 resource type"
    );
}

#[test]
fn bundle_type_must_be_transaction_batch_or_collection() {
    assert_eq!(
        error_text(br#"{"resourceType": "Bundle", "type": "searchset"}"#),
        "Bundle.type: \"searchset\" Bundles are not imported (expected transaction, batch or collection)"
    );
    assert_eq!(
        error_text(br#"{"resourceType": "Bundle", "type": "bogus"}"#),
        "Bundle.type: \"bogus\" is not a Bundle type"
    );
    assert_eq!(
        error_text(br#"{"resourceType": "Bundle"}"#),
        "Bundle.type: required element missing"
    );
}

#[test]
fn entries_need_a_resource_of_a_known_type() {
    assert_eq!(
        error_text(&transaction(json!([{"fullUrl": "urn:uuid:a"}]))),
        "entry 0: Bundle.entry.resource: required element missing"
    );
    assert_eq!(
        error_text(&transaction(json!([
            {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}},
            {"resource": {"resourceType": "Obzervation"}, "request": {"method": "POST", "url": "Obzervation"}}
        ]))),
        "entry 1: Bundle.entry.resource.resourceType: \"Obzervation\" is not a FHIR R4 resource type"
    );
    assert_eq!(
        error_text(&transaction(json!({"resource": {}}))),
        "Bundle.entry: expected an array"
    );
}

#[test]
fn transaction_entries_need_post_or_put_with_a_matching_url() {
    let with_request = |request: Value| {
        error_text(&transaction(json!([
            {"resource": {"resourceType": "Patient", "id": "85"}, "request": request}
        ])))
    };
    assert_eq!(
        error_text(&transaction(
            json!([{"resource": {"resourceType": "Patient"}}])
        )),
        "entry 0 (Patient): Bundle.entry.request: required in a transaction or batch (method and url)"
    );
    assert_eq!(
        with_request(json!({"method": "DELETE", "url": "Patient/85"})),
        "entry 0 (Patient): Bundle.entry.request.method: DELETE is not imported (only POST and PUT)"
    );
    assert_eq!(
        with_request(json!({"method": "POST"})),
        "entry 0 (Patient): Bundle.entry.request.url: required element missing"
    );
    assert_eq!(
        with_request(json!({"method": "POST", "url": "Observation"})),
        "entry 0 (Patient): Bundle.entry.request.url: a POST of a Patient must go to \"Patient\", not \"Observation\""
    );
    assert_eq!(
        with_request(json!({"method": "PUT", "url": "Observation/85"})),
        "entry 0 (Patient): Bundle.entry.request.url: a PUT of a Patient must go to Patient/id, not \"Observation/85\""
    );
    assert_eq!(
        with_request(json!({"method": "PUT", "url": "Patient/86"})),
        "entry 0 (Patient): Bundle.entry.request.url: \"Patient/86\" does not match the resource's id \"85\""
    );
    assert_eq!(
        with_request(json!({"method": "POST", "url": "Patient", "ifNoneExist": "name=smith"})),
        "entry 0 (Patient): Bundle.entry.request.ifNoneExist: \"name=smith\": only a search on identifier=system|value is supported"
    );
}

#[test]
fn repeated_full_url_names_both_entries() {
    let patient = json!({"fullUrl": "urn:uuid:a", "resource": {"resourceType": "Patient"},
                         "request": {"method": "POST", "url": "Patient"}});
    let observation = json!({"fullUrl": "urn:uuid:b", "resource": {"resourceType": "Observation"},
                             "request": {"method": "POST", "url": "Observation"}});
    assert_eq!(
        error_text(&transaction(json!([patient, observation, patient]))),
        "entry 2 (Patient): Bundle.entry.fullUrl: \"urn:uuid:a\" repeats the fullUrl of entry 0"
    );
}

#[test]
fn byte_order_mark_is_ignored() {
    let mut input = b"\xEF\xBB\xBF".to_vec();
    input.extend(br#"{"resourceType": "Bundle", "type": "collection"}"#);
    assert_eq!(
        parse_bundle(&input).map(|bundle| bundle.entries.len()),
        Ok(0)
    );
}

fn collection(entries: Value) -> Bundle {
    let input = bytes(&json!({"resourceType": "Bundle", "type": "collection", "entry": entries}));
    parse_bundle(&input).expect("valid collection")
}

#[test]
fn references_inside_the_bundle_must_resolve() {
    let bundle = collection(json!([
        {"fullUrl": "urn:uuid:p", "resource": {"resourceType": "Patient"}},
        {"fullUrl": "urn:uuid:o", "resource": {"resourceType": "Observation",
            "subject": {"reference": "urn:uuid:p"},
            "performer": [{"reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|1"}]}}
    ]));
    assert_eq!(bundle.check_references(), Ok(()));

    let broken = collection(json!([
        {"fullUrl": "urn:uuid:p", "resource": {"resourceType": "Patient"}},
        {"fullUrl": "urn:uuid:o", "resource": {"resourceType": "Observation",
            "subject": {"reference": "urn:uuid:nobody"}}}
    ]));
    assert_eq!(
        broken.check_references().map_err(|error| error.to_string()),
        Err("entry 1 (Observation): Observation.subject: \"urn:uuid:nobody\" matches no entry's fullUrl in this Bundle".to_owned())
    );
}

#[test]
fn contained_and_unsupported_references_are_checked() {
    let contained = collection(json!([
        {"resource": {"resourceType": "ExplanationOfBenefit",
            "contained": [{"resourceType": "Coverage", "id": "coverage"}],
            "insurance": [{"coverage": {"reference": "#coverage"}}],
            "referral": {"reference": "#referral"}}}
    ]));
    assert_eq!(
        contained.check_references().map_err(|error| error.to_string()),
        Err("entry 0 (ExplanationOfBenefit): ExplanationOfBenefit.referral: #referral names no contained resource".to_owned())
    );
    let unsupported = collection(json!([
        {"resource": {"resourceType": "Observation", "subject": {"reference": "Patient?name=smith"}}}
    ]));
    assert_eq!(
        unsupported.check_references().map_err(|error| error.to_string()),
        Err("entry 0 (Observation): Observation.subject: \"Patient?name=smith\": only a search on identifier=system|value is supported".to_owned())
    );
}

#[test]
fn ndjson_lines_are_resources_and_errors_name_the_line() {
    let patient =
        parse_ndjson_line(r#"{"resourceType": "Patient", "id": "1"}"#, 1).expect("valid line");
    assert_eq!(patient["id"], "1");
    let error = |line: &str| parse_ndjson_line(line, 7).map_err(|error| error.to_string());
    assert_eq!(
        error(r#"{"resourceType": "Patient""#),
        Err("line 7: not JSON: the text ends before the JSON does (line 1 column 27)".to_owned())
    );
    assert_eq!(
        error(r#"{"resourceType": "Bundle", "type": "batch"}"#),
        Err(
            "line 7 (Bundle): a Bundle cannot be a line of NDJSON (import it as a file of its own)"
                .to_owned()
        )
    );
    assert_eq!(
        error(r#"{"resourceType": 5}"#),
        Err("line 7: resourceType: 5 is not a FHIR R4 resource type".to_owned())
    );
    assert_eq!(
        error("[]"),
        Err("line 7: not a FHIR resource: expected a JSON object".to_owned())
    );
}

#[test]
fn detect_tells_ndjson_from_json() {
    let ndjson = b"{\"resourceType\":\"Patient\",\"id\":\"1\"}\n{\"resourceType\":\"Patient\",\"id\":\"2\"}\n";
    assert_eq!(detect(ndjson), InputKind::Ndjson);
    let with_blank_lines = b"  {\"resourceType\":\"Patient\"}\r\n\r\n  {\"resourceType\"";
    assert_eq!(detect(with_blank_lines), InputKind::Ndjson);
    let pretty = b"{\n  \"resourceType\": \"Bundle\",\n  \"type\": \"transaction\"\n}\n";
    assert_eq!(detect(pretty), InputKind::Json);
    let one_line = b"{\"resourceType\":\"Bundle\",\"type\":\"batch\"}\n";
    assert_eq!(detect(one_line), InputKind::Json);
    assert_eq!(detect(b"[{\"a\":1}]"), InputKind::Json);
    assert_eq!(detect(b""), InputKind::Json);
    let cut_first_line = b"{\"resourceType\":\"Patient\",\"na";
    assert_eq!(detect(cut_first_line), InputKind::Json);
}
