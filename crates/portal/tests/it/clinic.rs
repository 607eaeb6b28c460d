//! The clinic's side: finding patients (accents and case ignored, by date of birth or number),
//! what a clinician may open from a result, break-glass from a result, recently opened records.

use crate::both_backends;
use crate::helpers::{TestApp, location};
use jiff::SignedDuration;
use portal_domain::{PatientId, Role};
use portal_store::Backend;
use reqwest::StatusCode;
use sqlx::Row;

/// Adds a record with an accented, hyphenated name, as an import would.
async fn add_ramon(t: &TestApp) -> PatientId {
    let id = PatientId::new_v7(t.app.now());
    let row = portal_store::patients::PatientRow {
        id,
        mrn: "MA-77-0042".into(),
        given_name: "Ramón".into(),
        family_name: "García-López".into(),
        birth_date: "1990-05-17".into(),
        sex: "male".into(),
        deceased: None,
    };
    let mut tx = t.app.store().begin().await.expect("tx");
    portal_store::patients::insert(&mut tx, &row, t.app.now())
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
    id
}

async fn search(t: &TestApp, c: &reqwest::Client, q: &str) -> (StatusCode, String) {
    let r = t
        .post_form(c, "/patients", "/patients/search", &[("q", q)])
        .await;
    (r.status(), r.text().await.expect("body"))
}

async fn directory_events(t: &TestApp) -> Vec<String> {
    sqlx::query(
        "SELECT detail FROM audit_events WHERE resource_type = 'PatientDirectory' ORDER BY seq",
    )
    .fetch_all(t.app.store().pool())
    .await
    .expect("events")
    .iter()
    .map(|r| r.try_get::<String, _>("detail").expect("detail"))
    .collect()
}

async fn finding_patients_and_opening_one_from_the_result(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let ramon = add_ramon(&t).await;
    let marcus = t.patient("Marcus Chen");

    // The front desk finds him however his name is typed, by birth date, or by number.
    let desk = t.sign_in(Role::Staff).await;
    for q in [
        "ramon",
        "RAMON garcia",
        "lopez",
        "Ramón",
        "05/17/1990",
        "ma-77-0042",
    ] {
        let (status, html) = search(&t, &desk, q).await;
        assert_eq!(status, StatusCode::OK, "{q}");
        assert!(html.contains("García-López, Ramón"), "{q}");
        assert!(html.contains(&format!("href=\"/patients/{ramon}\"")), "{q}");
    }
    let (_, html) = search(&t, &desk, "ramon").await;
    assert!(html.contains("1 patient found"));
    assert!(html.contains("Male"), "sex shown");
    assert!(html.contains("Age 3"), "age shown");
    // Sofia's birth date finds her alone, with her son's surname search finding both.
    let (_, html) = search(&t, &desk, "1985-03-14").await;
    assert!(html.contains("Martinez, Sofia") && !html.contains("Martinez, Leo"));
    let (_, html) = search(&t, &desk, "martinez").await;
    assert!(html.contains("Martinez, Sofia") && html.contains("Martinez, Leo"));
    let (_, html) = search(&t, &desk, "Zzyzx").await;
    assert!(html.contains("No patient matches"));
    // Searches are audited without the words searched for.
    let events = directory_events(&t).await;
    assert!(events.iter().any(|d| d == "directory search, 1 result(s)"));
    assert!(
        events
            .iter()
            .all(|d| !d.to_lowercase().contains("ramon") && !d.contains("1990"))
    );

    // A patient cannot search the directory.
    let patient = t.sign_in(Role::Patient).await;
    let r = t
        .post_form(&patient, "/account", "/patients/search", &[("q", "ramon")])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        t.get(&patient, "/patients").await.status(),
        StatusCode::FORBIDDEN
    );

    // A clinician sees whose care team they are on; others only with emergency access.
    let doc = t.sign_in(Role::Clinician).await;
    let (_, html) = search(&t, &doc, "sofia").await;
    assert!(
        html.contains("Your care team&#39;s patient") || html.contains("Your care team's patient")
    );
    assert!(html.contains(&format!(
        "href=\"/patients/{}\"",
        t.patient("Sofia Martinez")
    )));
    let (_, html) = search(&t, &doc, "Marcus").await;
    assert!(html.contains("Chen, Marcus"));
    assert!(!html.contains(&format!("href=\"/patients/{marcus}\"")));
    assert!(html.contains("open with emergency access"));
    assert!(html.contains("Access lasts one hour"));
    let marcus_id = marcus.to_string();

    // A reason that says nothing opens nothing; the result is shown again with the error.
    let r = t
        .post_form(
            &doc,
            "/patients",
            "/patients/break-glass",
            &[
                ("patient", &marcus_id),
                ("reason", "because"),
                ("q", "Marcus"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.expect("body");
    assert!(html.contains("at least 10 characters"));
    assert!(html.contains(&format!("href=\"#reason-{marcus}\"")));
    assert!(html.contains("Chen, Marcus"));
    assert_eq!(t.count("break_glass").await, 0);
    // A record that is not there is not found, like any other the clinician cannot open.
    let nobody = PatientId::new_v7(t.app.now()).to_string();
    let r = t
        .post_form(
            &doc,
            "/patients",
            "/patients/break-glass",
            &[
                ("patient", &nobody),
                ("reason", "Unconscious in the emergency department"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Two requests at once open one grant.
    let fields = [
        ("patient", marcus_id.as_str()),
        ("reason", "Unconscious in the emergency department"),
    ];
    let ask = || t.post_form(&doc, "/patients", "/patients/break-glass", &fields);
    let (a, b) = tokio::join!(ask(), ask());
    for r in [a, b] {
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&r), format!("/patients/{marcus}"));
    }
    assert_eq!(t.count("break_glass").await, 1, "one grant");
    let opened: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM audit_events WHERE resource_type = 'BreakGlass' \
         AND outcome = 'success' AND patient_id = $1",
    )
    .bind(&marcus_id)
    .fetch_one(t.app.store().pool())
    .await
    .expect("count")
    .try_get("n")
    .expect("n");
    assert_eq!(opened, 2, "each request and its reason audited");
    assert_eq!(
        t.get(&doc, &format!("/patients/{marcus}")).await.status(),
        StatusCode::OK
    );

    // He is listed among those opened lately, with the time his access ends.
    let html = t.get(&doc, "/patients").await.text().await.expect("body");
    assert!(html.contains("Opened lately"));
    assert!(html.contains("Emergency access open until"));
    let (_, html) = search(&t, &doc, "marcus").await;
    assert!(html.contains(&format!("href=\"/patients/{marcus}\"")));

    // After the hour, still listed as opened, but the access is gone.
    for _ in 0..6 {
        // Keeping the session alive meanwhile.
        t.advance(SignedDuration::from_mins(10));
        assert_eq!(t.get(&doc, "/inbasket").await.status(), StatusCode::OK);
    }
    t.advance(SignedDuration::from_mins(1));
    let html = t.get(&doc, "/patients").await.text().await.expect("body");
    assert!(html.contains("Chen, Marcus"));
    assert!(!html.contains("Emergency access open until"));
    assert_eq!(
        t.get(&doc, &format!("/patients/{marcus}")).await.status(),
        StatusCode::NOT_FOUND
    );
    let (_, html) = search(&t, &doc, "marcus").await;
    assert!(html.contains("open with emergency access"));
    t.stop().await;
}

both_backends!(finding_patients_and_opening_one_from_the_result);
