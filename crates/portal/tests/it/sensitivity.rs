//! Confidential items: a condition or result the sender labels as substance use, mental health,
//! sexual health, HIV or genetics is shown to the patient and the care team, and never to a
//! proxy, whose grant is otherwise full.

use crate::both_backends;
use crate::helpers::{TestApp, transaction};
use crate::record::{open, page, resource_id, sign_in_new_patient};
use portal_app::Actor;
use portal_domain::{PatientId, Role};
use portal_store::Backend;
use reqwest::StatusCode;
use serde_json::json;

const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";

fn urn(n: u32) -> String {
    format!("urn:uuid:5e45171e-0000-4000-8000-{n:012}")
}

/// Lena's record: asthma (ordinary), alcohol use disorder (labelled substance use), and a
/// report whose one result is labelled HIV.
pub(crate) fn lena_bundle() -> serde_json::Value {
    let patient = urn(1);
    let security = |code: &str| json!({"security": [{"system": ACT_CODE, "code": code}]});
    transaction([
        (
            patient.clone(),
            json!({"resourceType": "Patient", "id": "lena",
                   "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
                                   "system": "urn:test:mrn", "value": "TEST-LENA"}],
                   "name": [{"given": ["Lena"], "family": "Sørensen"}],
                   "gender": "female", "birthDate": "2009-04-02"}),
        ),
        (
            urn(2),
            json!({"resourceType": "Condition", "id": "lena-asthma",
                   "clinicalStatus": {"coding": [{"code": "active"}]},
                   "code": {"text": "Asthma"}, "subject": {"reference": patient},
                   "onsetDateTime": "2020-01-01"}),
        ),
        (
            urn(3),
            json!({"resourceType": "Condition", "id": "lena-aud", "meta": security("ETH"),
                   "clinicalStatus": {"coding": [{"code": "active"}]},
                   "code": {"text": "Alcohol use disorder"}, "subject": {"reference": patient},
                   "onsetDateTime": "2024-01-01"}),
        ),
        (
            urn(4),
            json!({"resourceType": "Observation", "id": "lena-hiv", "meta": security("HIV"),
                   "status": "final",
                   "category": [{"coding": [{"code": "laboratory"}]}],
                   "code": {"text": "HIV-1 RNA"}, "subject": {"reference": patient},
                   "effectiveDateTime": "2024-02-01", "valueString": "Not detected"}),
        ),
        (
            urn(5),
            json!({"resourceType": "DiagnosticReport", "id": "lena-panel", "status": "final",
                   "category": [{"coding": [{"code": "LAB"}]}],
                   "code": {"text": "Sexual health screen"}, "subject": {"reference": patient},
                   "effectiveDateTime": "2024-02-01", "result": [{"reference": urn(4)}]}),
        ),
    ])
}

/// Imports Lena's record; the demo parent becomes her proxy with full access and the demo
/// clinician joins her care team.
async fn import_lena(t: &mut TestApp) -> PatientId {
    t.app
        .import()
        .import_bundle(&Actor::operator(), lena_bundle().to_string().as_bytes())
        .await
        .expect("Lena's record");
    let id: String = sqlx::query_scalar("SELECT id FROM patients WHERE mrn = 'TEST-LENA'")
        .fetch_one(t.app.store().pool())
        .await
        .expect("the record");
    let lena: PatientId = id.parse().expect("a patient id");
    t.app
        .link_demo_records(&mut t.demo, &[lena], &[lena])
        .await
        .expect("link the demo accounts");
    lena
}

async fn proxies_never_see_confidential_items_the_patient_and_care_team_do(backend: Backend) {
    let Some(mut t) = TestApp::spawn(backend).await else {
        return;
    };
    let lena = import_lena(&mut t).await;
    let hiv = resource_id(&t, "lena-hiv").await;
    let panel = resource_id(&t, "lena-panel").await;

    let herself = sign_in_new_patient(&t, lena, "2009-04-02", "lena@example.test").await;
    let clinician = t.sign_in(Role::Clinician).await;
    for (who, c) in [("Lena", &herself), ("her clinician", &clinician)] {
        let summary = open(&t, c, &format!("/patients/{lena}/record")).await;
        assert!(summary.contains("Asthma"), "{who}");
        assert!(summary.contains("Alcohol use disorder"), "{who}: {summary}");
        let results = open(&t, c, &format!("/patients/{lena}/results")).await;
        assert!(results.contains("Sexual health screen"), "{who}: {results}");
        open(&t, c, &format!("/patients/{lena}/results/{hiv}")).await;
    }

    let parent = t.sign_in(Role::Patient).await;
    let summary = open(&t, &parent, &format!("/patients/{lena}/record")).await;
    assert!(
        summary.contains("Asthma"),
        "the rest of the record is there"
    );
    assert!(
        !summary.contains("Alcohol use disorder"),
        "a proxy never sees a confidential condition: {summary}"
    );
    let results = open(&t, &parent, &format!("/patients/{lena}/results")).await;
    assert!(!results.contains("HIV-1 RNA"), "{results}");
    assert!(
        !results.contains("Sexual health screen"),
        "nor a report listing a confidential result: {results}"
    );
    // Opened by id, they answer exactly like a missing item.
    let (status, missing) = page(
        &t,
        &parent,
        &format!("/patients/{lena}/results/{}", crate::record::random_id()),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for item in [&hiv, &panel] {
        let (status, body) = page(&t, &parent, &format!("/patients/{lena}/results/{item}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(body, missing);
    }
    t.stop().await;
}

/// A proxy's download (the FHIR file and the printed summary) leaves out what a proxy never
/// sees, and points at none of it; the patient's own holds everything.
async fn a_proxys_download_leaves_out_confidential_items(backend: Backend) {
    let Some(mut t) = TestApp::spawn(backend).await else {
        return;
    };
    let lena = import_lena(&mut t).await;
    let confidential = ["Alcohol use disorder", "HIV-1 RNA", "Sexual health screen"];
    let herself = sign_in_new_patient(&t, lena, "2009-04-02", "lena@example.test").await;
    let own = open(
        &t,
        &herself,
        &format!("/patients/{lena}/download/record.json"),
    )
    .await;
    for words in confidential.iter().chain(&["Asthma"]) {
        assert!(own.contains(words), "her own file holds {words}");
    }
    let parent = t.sign_in(Role::Patient).await;
    let file = open(
        &t,
        &parent,
        &format!("/patients/{lena}/download/record.json"),
    )
    .await;
    assert!(file.contains("Asthma"), "{file}");
    for words in confidential {
        assert!(
            !file.contains(words),
            "a proxy's file leaves out {words}: {file}"
        );
    }
    for id in ["lena-aud", "lena-hiv", "lena-panel"] {
        let item = resource_id(&t, id).await;
        assert!(!file.contains(item.as_str()), "nothing points at {id}");
    }
    assert!(!file.contains("Provenance"));
    let printed = open(&t, &parent, &format!("/patients/{lena}/download/summary")).await;
    assert!(printed.contains("Asthma"), "{printed}");
    for words in confidential {
        assert!(!printed.contains(words), "{words}: {printed}");
    }
    t.stop().await;
}

both_backends!(
    proxies_never_see_confidential_items_the_patient_and_care_team_do,
    a_proxys_download_leaves_out_confidential_items,
);
