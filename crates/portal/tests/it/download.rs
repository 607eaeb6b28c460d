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

/// The newest e-mail written after `before` files, waiting for the outbox.
async fn next_mail(t: &TestApp, before: usize) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let files = crate::auth::mail_files(t);
        if files.len() > before {
            let raw = std::fs::read_to_string(files.last().expect("file")).expect("mail");
            // Undo quoted-printable soft line breaks so a long link reads as one piece.
            return raw.replace("=\r\n", "").replace("=\n", "");
        }
        assert!(std::time::Instant::now() < deadline, "no e-mail");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The value after `marker` up to the next character that cannot be in it.
fn after<'a>(text: &'a str, marker: &str) -> &'a str {
    let start = text
        .find(marker)
        .map(|i| i + marker.len())
        .unwrap_or(text.len());
    let rest = &text[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// "Send my record": the e-mail holds a link and never the record or the code; the copy opens
/// with the code shown to the sender, five wrong codes lock it, it expires, and every step is
/// in the record's access history with the recipient named.
async fn a_copy_sent_by_e_mail_opens_with_the_code_only(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let (lucien, c) = lucien(&t).await;
    let send = format!("/patients/{lucien}/download/send");
    let form = format!("/patients/{lucien}/download");
    // A bad address is named and sends nothing.
    let r = t
        .post_form(&c, &form, &send, &[("email", "not an address")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.expect("page").contains("E-mail:"));
    assert_eq!(t.count("record_shares").await, 0);
    let before = crate::auth::mail_files(&t).len();
    let r = t
        .post_form(&c, &form, &send, &[("email", "dr.ng@clinic.example")])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("page");
    assert!(
        html.contains("The copy was sent to dr.ng@clinic.example"),
        "{html}"
    );
    let code = after(&html, "Give them this code: <strong class=\"code\">").to_string();
    assert_eq!(code.len(), 9, "{code}");
    let mail = next_mail(&t, before).await;
    assert!(mail.contains("dr.ng@clinic.example"));
    let link = after(&mail, "/shared/").to_string();
    assert!(link.len() > 40, "{mail}");
    for secret in [
        code.as_str(),
        &code.replace('-', ""),
        "Lucien",
        "Bosco",
        "1940",
    ] {
        assert!(!mail.contains(secret), "the e-mail holds {secret}");
    }

    // The recipient, with no account: the link alone shows nothing.
    let recipient = t.client();
    let r = t.get(&recipient, &format!("/shared/{link}")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let asked = r.text().await.expect("page");
    assert!(asked.contains("Enter the code") && !asked.contains("Lucien"));
    let path = format!("/shared/{link}");
    let r = t
        .post_form(
            &recipient,
            &path,
            &path,
            &[("code", "AAAA-AAAA"), ("want", "summary")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.expect("page").contains("4 tries are left"));
    let lower = code.to_lowercase();
    let r = t
        .post_form(
            &recipient,
            &path,
            &path,
            &[("code", &lower), ("want", "summary")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let copy = r.text().await.expect("page");
    assert!(copy.contains("Health record of Lucien"), "{copy}");
    assert!(copy.contains("Problems") && copy.contains("Medications"));
    let r = t
        .post_form(
            &recipient,
            &path,
            &path,
            &[("code", &code), ("want", "file")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let file: Value = r.json().await.expect("FHIR");
    assert_eq!(file["type"], "collection");
    assert!(
        file["entry"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["resource"]["id"] == lucien.to_string())
    );

    // Sent and opened, named in the access history.
    let log = open(&t, &c, &format!("/patients/{lucien}/access-log")).await;
    assert!(log.contains("a copy of the record sent by e-mail"), "{log}");
    assert!(log.contains("The person a copy was sent to"), "{log}");
    let named: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE resource_type = 'RecordShare' \
         AND detail LIKE '%dr.ng@clinic.example%'",
    )
    .fetch_one(t.app.store().pool())
    .await
    .expect("count");
    assert_eq!(
        named, 4,
        "sent, a wrong code, and two openings name the recipient"
    );

    // Five wrong codes lock a copy; the right one then finds nothing.
    let r = t
        .post_form(&c, &form, &send, &[("email", "aunt@family.example")])
        .await;
    let html = r.text().await.expect("page");
    let code = after(&html, "Give them this code: <strong class=\"code\">").to_string();
    let mail = next_mail(&t, before + 1).await;
    let path = format!("/shared/{}", after(&mail, "/shared/"));
    for left in (0..5).rev() {
        let r = t
            .post_form(
                &recipient,
                &path,
                &path,
                &[("code", "BBBB-BBBB"), ("want", "summary")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{left} left");
    }
    let r = t
        .post_form(
            &recipient,
            &path,
            &path,
            &[("code", &code), ("want", "summary")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Another record cannot be sent; nothing is stored.
    let sofia = t.patient("Sofia Martinez");
    let shares = t.count("record_shares").await;
    let r = t
        .post_form(
            &c,
            &form,
            &format!("/patients/{sofia}/download/send"),
            &[("email", "x@y.example")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(t.count("record_shares").await, shares);
    // The first link expires after 14 days.
    t.advance(jiff::SignedDuration::from_hours(24 * 15));
    let first = format!("/shared/{link}");
    let r = t
        .post_form(
            &recipient,
            &first,
            &first,
            &[("code", &lower), ("want", "summary")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    t.stop().await;
}

both_backends!(
    a_patient_downloads_his_record_whole_or_for_dates,
    bad_dates_are_named_and_another_record_is_not_found,
    a_copy_sent_by_e_mail_opens_with_the_code_only,
);
