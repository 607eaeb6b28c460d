//! E-check-in through the real server on SQLite and PostgreSQL: the window, the refused form
//! that changes nothing, the record's medications and allergies reviewed, the card photo, the
//! answers kept as a QuestionnaireResponse, what the front desk and the clinician each see, and
//! another patient's visit.

use crate::appointment_offers::book_at;
use crate::both_backends;
use crate::helpers::{TestApp, location};
use crate::messages::PNG;
use portal_domain::{PatientId, Role};
use portal_store::Backend;
use reqwest::{Client, StatusCode};
use sqlx::Row;

/// Puts a current medication and an allergy in the patient's record, as an import would.
async fn seed_record(t: &TestApp, patient: PatientId) -> (String, String) {
    let pool = t.app.store().pool();
    let mut ids = Vec::new();
    for (kind, label, resource) in [
        (
            "medication-request",
            "Lisinopril 10 MG Oral Tablet",
            "MedicationRequest",
        ),
        ("allergy", "Peanut", "AllergyIntolerance"),
    ] {
        let id = uuid::Uuid::now_v7().to_string();
        sqlx::query(
            "INSERT INTO fhir_resources (id, resource_type, source_id, patient_id, content_hash, \
             json, version, created_at, updated_at) VALUES ($1, $2, $1, $3, 'x', '{}', 1, 0, 0)",
        )
        .bind(&id)
        .bind(resource)
        .bind(patient.to_string())
        .execute(pool)
        .await
        .expect("resource");
        sqlx::query(
            "INSERT INTO clinical_items (resource_id, patient_id, kind, label, status, details, \
             released_at) VALUES ($1, $2, $3, $4, 'active', '{}', 0)",
        )
        .bind(&id)
        .bind(patient.to_string())
        .bind(kind)
        .bind(label)
        .execute(pool)
        .await
        .expect("item");
        ids.push(id);
    }
    (ids[0].clone(), ids[1].clone())
}

async fn count(t: &TestApp, sql: &str) -> i64 {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(t.app.store().pool())
        .await
        .expect("count")
        .try_get("n")
        .expect("n")
}

async fn send(
    t: &TestApp,
    c: &Client,
    page: &str,
    fields: &[(&str, &str)],
    files: &[(&str, &[u8])],
) -> reqwest::Response {
    t.post_files(
        c,
        &format!("{page}/check-in"),
        &format!("{page}/check-in"),
        fields,
        files,
    )
    .await
}

async fn a_patient_checks_in_and_each_side_of_the_clinic_sees_its_part(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let marcus = t.patient("Marcus Chen");
    let (medication, allergy) = seed_record(&t, sofia).await;
    let c = t.sign_in(Role::Patient).await;
    let near = book_at(&t, &c, sofia, 3).await;
    let far = book_at(&t, &c, sofia, 9).await;

    // Too early for the visit nine days away.
    let page = t
        .get(&c, &format!("{far}/check-in"))
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("Check-in opens 7 days before"), "{page}");
    let r = send(&t, &c, &far, &[("phone", "555 0100")], &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // The form lists the record's medication and allergy and the visit type's questions.
    let page = t
        .get(&c, &format!("{near}/check-in"))
        .await
        .text()
        .await
        .expect("page");
    assert!(page.contains("Are you still taking Lisinopril"), "{page}");
    assert!(page.contains("Are you still allergic to Peanut"));
    assert!(page.contains("What would you like to talk about?"));

    let med = format!("med-{medication}");
    let all = format!("allergy-{allergy}");
    let mut fields = vec![
        ("phone", "call me maybe"),
        ("street", "12 Elm St"),
        ("city", "Springfield"),
        ("region", "IL"),
        ("postal_code", "62701"),
        ("payer", "Acme Health"),
        ("member_id", "XZ-123"),
        (med.as_str(), "no-longer"),
        (all.as_str(), "still"),
        ("other_allergies", "Penicillin"),
        ("answer-0", "My knee since March"),
        ("answer-1", "555 0199"),
    ];
    // A bad phone number: refused, nothing kept.
    let r = send(&t, &c, &near, &fields, &[("card.png", PNG)]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("phone number we can call")
    );
    assert_eq!(count(&t, "SELECT COUNT(*) AS n FROM checkins").await, 0);
    fields[0] = ("phone", "+1 (555) 010-2000");
    let r = send(&t, &c, &near, &fields, &[("card.png", PNG)]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let done = location(&r);
    assert!(done.ends_with("?checked_in=1"), "{done}");
    let shown = t.get(&c, &done).await.text().await.expect("page");
    assert!(shown.contains("You are checked in"), "{shown}");

    // Kept: the review flagged as a change, the card photo, the answers as a response.
    assert_eq!(
        count(&t, "SELECT COUNT(*) AS n FROM checkin_files").await,
        1
    );
    let row = sqlx::query(
        "SELECT CAST(clinical_changed AS BIGINT) AS changed, questionnaire_response FROM checkins",
    )
    .fetch_one(t.app.store().pool())
    .await
    .expect("checkin");
    assert_eq!(row.try_get::<i64, _>("changed").expect("changed"), 1);
    let response: serde_json::Value = serde_json::from_str(
        &row.try_get::<String, _>("questionnaire_response")
            .expect("qr"),
    )
    .expect("json");
    assert_eq!(response["resourceType"], "QuestionnaireResponse");
    assert_eq!(response["subject"]["reference"], format!("Patient/{sofia}"));
    assert_eq!(
        response["item"][0]["answer"][0]["valueString"],
        "My knee since March"
    );

    // The front desk sees contact and insurance (and the card), not the clinical part.
    let staff = t.sign_in(Role::Staff).await;
    let desk = t.get(&staff, &near).await.text().await.expect("page");
    assert!(
        desk.contains("Acme Health") && desk.contains("12 Elm St"),
        "{desk}"
    );
    assert!(
        !desk.contains("Lisinopril") && !desk.contains("My knee"),
        "{desk}"
    );
    let photo = desk
        .split("href=\"")
        .find(|s| s.starts_with(&format!("/patients/{sofia}/checkin-photos/")))
        .and_then(|s| s.split('"').next())
        .expect("a card photo link")
        .to_string();
    let r = t.get(&staff, &photo).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/png");
    // The clinician (on her care team) sees the clinical part.
    let clinician = t.sign_in(Role::Clinician).await;
    let chart = t.get(&clinician, &near).await.text().await.expect("page");
    assert!(
        chart.contains("Lisinopril") && chart.contains("stopped"),
        "{chart}"
    );
    assert!(chart.contains("Penicillin") && chart.contains("My knee since March"));
    assert!(chart.contains("Changes reported"));

    // Another record's path to her visit and her photo: not found, nothing kept.
    for path in [
        format!(
            "/patients/{marcus}/appointments/{}/check-in",
            near.rsplit('/').next().expect("id")
        ),
        photo.replace(&sofia.to_string(), &marcus.to_string()),
    ] {
        assert_eq!(
            t.get(&c, &path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    // The clinic does not check in for the patient here.
    let r = t.get(&staff, &format!("{near}/check-in")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // A later check-in with another phone number is flagged as changed for the front desk.
    let mut again = fields.clone();
    again[0] = ("phone", "+1 (555) 010-9999");
    let second = book_at(&t, &c, sofia, 4).await;
    let r = send(&t, &c, &second, &again, &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let desk = t.get(&staff, &second).await.text().await.expect("page");
    let contact = desk.split("Contact details").nth(1).expect("contact");
    assert!(
        contact
            .trim_start()
            .starts_with("<span class=\"badge\">Changed"),
        "{contact}"
    );
    // The schedule tells each side what concerns it.
    let start: String =
        sqlx::query("SELECT CAST(starts_at AS TEXT) AS v FROM appointments WHERE id = $1")
            .bind(second.rsplit('/').next().expect("id"))
            .fetch_one(t.app.store().pool())
            .await
            .expect("start")
            .try_get("v")
            .expect("v");
    let day = jiff::Timestamp::from_microsecond(start.parse().expect("micros"))
        .expect("time")
        .to_zoned_datetime(jiff::tz::TimeZone::system())
        .date();
    let desk = t
        .get(&staff, &format!("/schedule?date={day}"))
        .await
        .text()
        .await
        .expect("schedule");
    assert!(desk.contains("Yes: contact or insurance changed"), "{desk}");
    let chart = t
        .get(&clinician, &format!("/schedule?date={day}"))
        .await
        .text()
        .await
        .expect("schedule");
    assert!(chart.contains("Yes: clinical changes reported"), "{chart}");
    t.stop().await;
}

both_backends!(a_patient_checks_in_and_each_side_of_the_clinic_sees_its_part);
