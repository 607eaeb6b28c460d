//! "Download my record": the FHIR file and the printable summary, whole or for dates, as the
//! patient downloads them; another record's answer is the missing-record page; bad dates are
//! named; every download is audited as an export.

use crate::both_backends;
use crate::helpers::TestApp;
use crate::record::{open, page, sign_in_new_patient};
use portal_app::Actor;
use portal_domain::{PatientId, Role};
use portal_store::Backend;
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::Row;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn references(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("reference") {
                out.insert(r.clone());
            }
            map.values().for_each(|v| references(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

async fn exports(t: &TestApp, patient: &str) -> i64 {
    sqlx::query(
        "SELECT COUNT(*) AS n FROM audit_events WHERE patient_id = $1 AND action = 'export' \
         AND outcome = 'success'",
    )
    .bind(patient)
    .fetch_one(t.app.store().pool())
    .await
    .expect("count")
    .try_get("n")
    .expect("n")
}

/// Imports Lucien's Synthea record (and the directory it points at) and signs him in.
async fn lucien(t: &TestApp) -> (PatientId, reqwest::Client) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/synthea");
    for file in [
        "00-organizations-ma-2025.json",
        "00-practitioners-ma-2025.json",
        "lucien-bosco.json",
    ] {
        let bytes = std::fs::read(dir.join(file)).expect("fixture");
        t.app
            .import()
            .import_bundle(&Actor::operator(), bytes.as_slice())
            .await
            .expect("import");
    }
    let id: String = sqlx::query_scalar(
        "SELECT id FROM fhir_resources WHERE resource_type = 'Patient' AND source_id = '85'",
    )
    .fetch_one(t.app.store().pool())
    .await
    .expect("Lucien");
    let lucien: PatientId = id.parse().expect("an id");
    let c = sign_in_new_patient(t, lucien, "1940-03-29", "lucien@example.test").await;
    (lucien, c)
}

async fn a_patient_downloads_his_record_whole_or_for_dates(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let (lucien, c) = lucien(&t).await;
    let choice = open(&t, &c, &format!("/patients/{lucien}/download")).await;
    assert!(choice.contains("Download your record"), "{choice}");
    assert!(choice.contains("Leave both dates empty for the whole record"));

    let response = t
        .get(&c, &format!("/patients/{lucien}/download/record.json"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .expect("type")
            .starts_with("application/fhir+json")
    );
    assert!(
        headers["content-disposition"]
            .to_str()
            .expect("disposition")
            .starts_with("attachment; filename=\"health-record-")
    );
    let whole: Value = response.json().await.expect("a Bundle");
    assert_eq!(whole["resourceType"], "Bundle");
    assert_eq!(whole["type"], "collection");
    let entries = whole["entry"].as_array().expect("entries");
    assert!(entries.len() > 20, "{} entries", entries.len());
    let held: BTreeSet<String> = entries
        .iter()
        .map(|e| {
            format!(
                "{}/{}",
                e["resource"]["resourceType"].as_str().expect("type"),
                e["resource"]["id"].as_str().expect("id")
            )
        })
        .collect();
    assert!(held.contains(&format!("Patient/{lucien}")));
    // The file stands alone: every link in it points at a resource it holds.
    let mut links = BTreeSet::new();
    references(&whole, &mut links);
    for link in links
        .iter()
        .filter(|l| !l.starts_with('#') && !l.starts_with("http"))
    {
        assert!(held.contains(link), "{link} is not in the file");
    }
    // Its resources are those the API serves: the same ids.
    let observation = held
        .iter()
        .find(|r| r.starts_with("Observation/"))
        .expect("an observation");
    let in_file = entries
        .iter()
        .find(|e| {
            e["fullUrl"]
                .as_str()
                .is_some_and(|u| u.ends_with(observation.as_str()))
        })
        .expect("its entry");
    assert_eq!(
        in_file["resource"]["subject"]["reference"],
        format!("Patient/{lucien}")
    );

    // A span of dates holds less, and the Patient still.
    let path = format!("/patients/{lucien}/download/record.json?from=2022-01-01&to=2022-12-31");
    let part: Value = serde_json::from_str(&open(&t, &c, &path).await).expect("a Bundle");
    let part_entries = part["entry"].as_array().expect("entries");
    assert!(part_entries.len() < entries.len());
    assert!(
        part_entries
            .iter()
            .any(|e| e["resource"]["resourceType"] == "Patient")
    );

    let printed = open(&t, &c, &format!("/patients/{lucien}/download/summary")).await;
    for heading in [
        "Health record summary",
        "Problems",
        "Allergies and intolerances",
        "Medications",
        "Vaccinations",
        "Test results and measurements",
        "Visits",
        "The whole record",
    ] {
        assert!(printed.contains(heading), "{heading}");
    }
    let dated = open(
        &t,
        &c,
        &format!("/patients/{lucien}/download/summary?from=2022-01-01&to=2022-12-31"),
    )
    .await;
    assert!(
        dated.contains("From Jan 1, 2022 to Dec 31, 2022"),
        "{dated}"
    );
    assert_eq!(exports(&t, &lucien.to_string()).await, 4);
    t.stop().await;
}

async fn bad_dates_are_named_and_another_record_is_not_found(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let marcus = t.patient("Marcus Chen");
    let c = t.sign_in(Role::Patient).await;
    for target in ["record.json", "summary"] {
        let (status, body) = page(
            &t,
            &c,
            &format!("/patients/{sofia}/download/{target}?from=31/31/2024&to=2024-01-01"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{target}");
        assert!(body.contains("There is a problem"), "{body}");
        assert!(body.contains("From: enter a date"), "{body}");
        let (status, body) = page(
            &t,
            &c,
            &format!("/patients/{sofia}/download/{target}?from=2024-05-01&to=2024-01-01"),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("on or after the From date"), "{body}");
    }
    assert_eq!(
        exports(&t, &sofia.to_string()).await,
        0,
        "nothing was exported"
    );
    let (status, missing) = page(
        &t,
        &c,
        "/patients/0190a000-0000-7000-8000-000000000000/download",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for path in ["download", "download/record.json", "download/summary"] {
        let (status, body) = page(&t, &c, &format!("/patients/{marcus}/{path}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body, missing, "{path}");
    }
    assert_eq!(exports(&t, &marcus.to_string()).await, 0);
    // A record enrolled at the portal, with nothing from the EHR yet: the file says who it is.
    let file: Value = serde_json::from_str(
        &open(&t, &c, &format!("/patients/{sofia}/download/record.json")).await,
    )
    .expect("a Bundle");
    let patient = &file["entry"][0]["resource"];
    assert_eq!(patient["resourceType"], "Patient");
    assert_eq!(patient["id"], sofia.to_string());
    assert_eq!(patient["name"][0]["family"], "Martinez");
    t.stop().await;
}

both_backends!(
    a_patient_downloads_his_record_whole_or_for_dates,
    bad_dates_are_named_and_another_record_is_not_found,
);
