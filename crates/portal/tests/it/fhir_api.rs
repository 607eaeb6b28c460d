//! `POST /fhir`: system clients with an API token send transaction Bundles.

use crate::both_backends;
use crate::helpers::TestApp;
use portal_app::Actor;
use portal_store::Backend;
use reqwest::StatusCode;
use serde_json::Value;
use std::path::PathBuf;

fn lucien() -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/synthea/lucien-bosco.json"),
    )
    .expect("fixture")
}

async fn post(t: &TestApp, token: Option<&str>, body: Vec<u8>) -> (StatusCode, Value) {
    let mut request = t
        .client()
        .post(format!("{}/fhir", t.url))
        .header("content-type", "application/fhir+json")
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("POST /fhir");
    let status = response.status();
    let body: Value =
        serde_json::from_str(&response.text().await.expect("body")).expect("JSON answer");
    (status, body)
}

async fn a_system_client_imports_a_transaction_bundle(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let token = t
        .app
        .accounts()
        .create_api_token(&Actor::operator(), "Test EHR", "system/*.write")
        .await
        .expect("token")
        .token;
    let sent: Value = serde_json::from_slice(&lucien()).expect("json");
    let entries = sent["entry"].as_array().expect("entries").len();

    let (status, body) = post(&t, Some(&token), lucien()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["type"], "transaction-response");
    let answers = body["entry"].as_array().expect("entries");
    assert_eq!(answers.len(), entries);
    assert!(
        answers
            .iter()
            .all(|e| e["response"]["status"] == "201 Created")
    );
    assert!(
        answers[0]["response"]["location"]
            .as_str()
            .expect("location")
            .contains('/')
    );

    // Sending it again changes nothing.
    let (status, body) = post(&t, Some(&token), lucien()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body["entry"]
            .as_array()
            .expect("entries")
            .iter()
            .all(|e| e["response"]["status"] == "200 OK")
    );

    // The import is audited as the system client.
    let role: String = sqlx::query_scalar(
        "SELECT actor_role FROM audit_events WHERE resource_type = 'HealthRecord' ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(t.app.store().pool())
    .await
    .expect("audit event");
    assert_eq!(role, "system");
    t.stop().await;
}

async fn the_api_refuses_missing_wrong_and_read_only_tokens(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let reader = t
        .app
        .accounts()
        .create_api_token(&Actor::operator(), "Reader", "system/*.read")
        .await
        .expect("token")
        .token;
    let before = t.count("fhir_resources").await;
    let (status, body) = post(&t, None, lucien()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["resourceType"], "OperationOutcome");
    let (status, _) = post(&t, Some("ppt_not-a-real-token"), lucien()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = post(&t, Some(&reader), lucien()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["resourceType"], "OperationOutcome");
    // A signed-in person's session cookie is no API credential either.
    let patient = t.sign_in(portal_domain::Role::Patient).await;
    let r = patient
        .post(format!("{}/fhir", t.url))
        .body(lucien())
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        t.count("fhir_resources").await,
        before,
        "nothing was written"
    );
    t.stop().await;
}

async fn a_bad_bundle_gets_an_operation_outcome_naming_the_entry(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let token = t
        .app
        .accounts()
        .create_api_token(&Actor::operator(), "Test EHR", "system/*.write")
        .await
        .expect("token")
        .token;
    let mut bundle: Value = serde_json::from_slice(&lucien()).expect("json");
    let i = bundle["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .position(|e| e["resource"]["resourceType"] == "Observation")
        .expect("observation");
    bundle["entry"][i]["resource"]["effectiveDateTime"] = Value::from("2020-13-45");
    let before = t.count("fhir_resources").await;
    let (status, body) = post(&t, Some(&token), bundle.to_string().into_bytes()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["resourceType"], "OperationOutcome");
    let diagnostics = body["issue"][0]["diagnostics"]
        .as_str()
        .expect("diagnostics");
    assert!(diagnostics.contains(&format!("entry {i}")), "{diagnostics}");
    assert!(
        diagnostics.contains("Observation.effectiveDateTime"),
        "{diagnostics}"
    );
    assert_eq!(
        t.count("fhir_resources").await,
        before,
        "nothing was written"
    );
    t.stop().await;
}

both_backends!(
    a_system_client_imports_a_transaction_bundle,
    the_api_refuses_missing_wrong_and_read_only_tokens,
    a_bad_bundle_gets_an_operation_outcome_naming_the_entry,
);
