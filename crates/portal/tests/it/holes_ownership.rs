//! Issue item 6: an import may not move data between patients. On the main branch before the
//! fix, the update below moved Alice's glucose into Bob's record and the Patient matched by a
//! bare identifier overwrote Alice's name and birth date.

use crate::both_backends;
use crate::helpers::TestApp;
use portal_store::Backend;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Row;

fn patient(id: Option<&str>, system: Option<&str>, mrn: &str, name: &str, born: &str) -> Value {
    let mut identifier = json!({
        "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
        "value": mrn
    });
    if let Some(system) = system {
        identifier["system"] = Value::from(system);
    }
    let mut resource = json!({
        "resourceType": "Patient",
        "identifier": [identifier],
        "name": [{"family": name, "given": ["Test"]}],
        "birthDate": born
    });
    if let Some(id) = id {
        resource["id"] = Value::from(id);
    }
    resource
}

fn glucose(id: &str, subject: &str, value: f64) -> Value {
    json!({
        "resourceType": "Observation",
        "id": id,
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0", "display": "Glucose"}]},
        "subject": {"reference": subject},
        "effectiveDateTime": "2024-01-01T10:00:00Z",
        "valueQuantity": {"value": value, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"}
    })
}

fn transaction(resources: Vec<Value>) -> Vec<u8> {
    let entries: Vec<Value> = resources
        .into_iter()
        .map(|r| {
            let url = match r["id"].as_str() {
                Some(id) => format!("{}/{id}", r["resourceType"].as_str().unwrap_or_default()),
                None => r["resourceType"].as_str().unwrap_or_default().to_string(),
            };
            let method = if r["id"].is_string() { "PUT" } else { "POST" };
            json!({"resource": r, "request": {"method": method, "url": url}})
        })
        .collect();
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
        .to_string()
        .into_bytes()
}

async fn post(t: &TestApp, token: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let response = t
        .client()
        .post(format!("{}/fhir", t.url))
        .header("content-type", "application/fhir+json")
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .expect("POST /fhir");
    let status = response.status();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).expect("JSON answer"))
}

/// (family name, birth date, MRN) of the patient imported with this id.
async fn stored_patient(t: &TestApp, source_id: &str) -> (String, String, String) {
    let row = sqlx::query(
        "SELECT p.family_name, p.birth_date, p.mrn FROM patients p \
         JOIN fhir_resources r ON r.id = p.id \
         WHERE r.resource_type = 'Patient' AND r.source_id = $1",
    )
    .bind(source_id)
    .fetch_one(t.app.store().pool())
    .await
    .expect("patient");
    (
        row.try_get("family_name").expect("family"),
        row.try_get("birth_date").expect("birth date"),
        row.try_get("mrn").expect("mrn"),
    )
}

/// The patient (as the Patient's source id) whose record holds the resource with this id.
async fn owner_of(t: &TestApp, resource_type: &str, source_id: &str) -> String {
    sqlx::query(
        "SELECT p.source_id AS owner FROM fhir_resources r \
         JOIN fhir_resources p ON p.id = r.patient_id \
         WHERE r.resource_type = $1 AND r.source_id = $2",
    )
    .bind(resource_type)
    .bind(source_id)
    .fetch_one(t.app.store().pool())
    .await
    .expect("owner")
    .try_get("owner")
    .expect("owner")
}

fn diagnostics(body: &Value) -> String {
    body["issue"][0]["diagnostics"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn item_6_an_import_cannot_move_data_between_patients(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let token = t.write_token().await;
    let mrn_system = "urn:oid:2.16.840.1.113883.19.5";
    let setup = transaction(vec![
        patient(
            Some("alice"),
            Some(mrn_system),
            "A-100",
            "Alvarez",
            "1980-01-01",
        ),
        patient(
            Some("bob"),
            Some(mrn_system),
            "B-200",
            "Brown",
            "1990-02-02",
        ),
        glucose("glu-1", "Patient/alice", 99.0),
    ]);
    let (status, body) = post(&t, &token, setup).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let alice = stored_patient(&t, "alice").await;
    let resources = t.count("fhir_resources").await;

    // An update that points Alice's result at Bob is refused, naming the entry and element.
    let (status, body) = post(
        &t,
        &token,
        transaction(vec![glucose("glu-1", "Patient/bob", 250.0)]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let why = diagnostics(&body);
    assert!(why.contains("entry 0"), "{why}");
    assert!(why.contains("Observation.subject"), "{why}");
    assert!(!why.contains("Brown") && !why.contains("Alvarez"), "{why}");
    assert_eq!(owner_of(&t, "Observation", "glu-1").await, "alice");

    // A Patient without an id whose identifier has no system matches nobody: Alice keeps her
    // name, birth date and MRN.
    let (status, body) = post(
        &t,
        &token,
        transaction(vec![patient(None, None, "A-100", "Mallory", "2001-05-05")]),
    )
    .await;
    assert!(
        status == StatusCode::OK || status == StatusCode::BAD_REQUEST,
        "{body}"
    );
    assert_eq!(stored_patient(&t, "alice").await, alice);

    // Matched by identifier with its system, but another person: refused, not overwritten.
    let (status, body) = post(
        &t,
        &token,
        transaction(vec![patient(
            None,
            Some(mrn_system),
            "A-100",
            "Mallory",
            "2001-05-05",
        )]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(diagnostics(&body).contains("Patient.identifier"));
    assert_eq!(stored_patient(&t, "alice").await, alice);

    // A conditional reference must name the identifier's system.
    let mut orphan = glucose("glu-2", "Patient?identifier=A-100", 120.0);
    orphan["subject"]["reference"] = Value::from("Patient?identifier=A-100");
    let (status, body) = post(&t, &token, transaction(vec![orphan])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(diagnostics(&body).contains("needs a system"), "{body}");
    assert!(t.count("fhir_resources").await <= resources + 1);

    // A real update of Alice's own result is audited against her record.
    let audited = |t: &TestApp| {
        let pool = t.app.store().pool().clone();
        async move {
            sqlx::query(
                "SELECT COUNT(*) AS n FROM audit_events e JOIN fhir_resources p \
                 ON p.id = e.patient_id WHERE p.source_id = 'alice' AND e.action = 'update'",
            )
            .fetch_one(&pool)
            .await
            .expect("count")
            .try_get::<i64, _>("n")
            .expect("n")
        }
    };
    let before = audited(&t).await;
    let (status, body) = post(
        &t,
        &token,
        transaction(vec![glucose("glu-1", "Patient/alice", 101.0)]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(audited(&t).await, before + 1);
    t.stop().await;
}

both_backends!(item_6_an_import_cannot_move_data_between_patients);
