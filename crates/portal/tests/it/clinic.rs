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

/// Imports a record that lists an e-mail address for the patient.
async fn add_ines(t: &TestApp) -> PatientId {
    let bundle = serde_json::json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [{
            "fullUrl": "urn:uuid:6f1c2a8e-5b7d-4c1e-9a3f-2d8b7e6c5a41",
            "resource": {
                "resourceType": "Patient",
                "identifier": [{"system": "urn:test:mrn", "value": "INES-0001"}],
                "name": [{"family": "Ortega", "given": ["Inés"]}],
                "gender": "female",
                "birthDate": "1985-03-04",
                "telecom": [{"system": "email", "value": "ines.ortega@example.org"}]
            },
            "request": {"method": "PUT", "url": "Patient/ines"}
        }]
    });
    let summary = t
        .app
        .import()
        .import_bundle(
            &portal_app::Actor::operator(),
            bundle.to_string().as_bytes(),
        )
        .await
        .expect("import");
    summary.entries[0].id.parse().expect("record id")
}

/// Waits for an e-mail to `to` and gives its text (soft line breaks joined).
async fn mail_to(t: &TestApp, to: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        for path in crate::auth::mail_files(t) {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_default()
                .replace("=\r\n", "")
                .replace("=\n", "")
                .replace("=3D", "=");
            if text.contains(&format!("To: {to}")) {
                return text;
            }
        }
        assert!(std::time::Instant::now() < deadline, "no e-mail to {to}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The code a letter shows.
fn code_on(html: &str) -> String {
    let start = html.find("<code>").expect("the code") + "<code>".len();
    html[start..start + html[start..].find("</code>").expect("end")].to_string()
}

async fn events_about(t: &TestApp, patient: PatientId, resource_type: &str) -> Vec<String> {
    sqlx::query(
        "SELECT detail FROM audit_events WHERE patient_id = $1 AND resource_type = $2 \
         ORDER BY seq",
    )
    .bind(patient.to_string())
    .bind(resource_type)
    .fetch_all(t.app.store().pool())
    .await
    .expect("events")
    .iter()
    .map(|r| r.try_get::<String, _>("detail").expect("detail"))
    .collect()
}

async fn the_front_desk_follows_enrolment_from_code_to_account(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let marcus = t.patient("Marcus Chen");
    let desk = t.sign_in(Role::Staff).await;
    let enrolment = format!("/patients/{marcus}/enrolment");

    // The demo left a code waiting for Marcus: cancelled first.
    let r = t
        .post_form(
            &desk,
            &enrolment,
            &format!("/patients/{marcus}/invite/cancel"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    // No account and no code: a letter can be printed; the record lists no address.
    let html = crate::record::open(&t, &desk, &enrolment).await;
    assert!(html.contains("No portal account yet"));
    assert!(html.contains("Print an activation letter"));
    assert!(html.contains("lists no e-mail address"));
    assert!(!html.contains("Cancel the code"));

    // A letter: the code shown once, then the page says a code waits, and who issued it.
    let r = t
        .post_form(
            &desk,
            &enrolment,
            &format!("/patients/{marcus}/invite"),
            &[("via", "letter")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("body");
    assert!(html.contains("Your patient portal activation code"));
    assert!(html.contains("Dear Marcus Chen"));
    let code = code_on(&html);
    let html = crate::record::open(&t, &desk, &enrolment).await;
    assert!(html.contains("An activation code is waiting to be used"));
    assert!(html.contains("Cancel the code"));
    assert!(!html.contains(&code), "the code is shown only once");

    // Cancelled, it no longer activates anything.
    let r = t
        .post_form(
            &desk,
            &enrolment,
            &format!("/patients/{marcus}/invite/cancel"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.expect("body").contains("no longer works"));
    let c = t.client();
    let r = t
        .activate(
            &c,
            &code,
            "1972-11-05",
            "marcus@example.org",
            "violet kettle orbit 9",
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        crate::record::open(&t, &desk, &enrolment)
            .await
            .contains("No portal account yet")
    );
    let events = events_about(&t, marcus, "ActivationCode").await;
    assert_eq!(
        events[events.len() - 2..],
        [
            "activation code issued",
            "activation code cancelled (1 waiting)"
        ]
    );
    // Each view of the page (and each form's page fetched before its POST) is audited.
    assert_eq!(events_about(&t, marcus, "Enrolment").await.len(), 6);

    // E-mailed to the address the record lists, never to another.
    let ines = add_ines(&t).await;
    let enrolment = format!("/patients/{ines}/enrolment");
    let html = crate::record::open(&t, &desk, &enrolment).await;
    assert!(html.contains("E-mail a code to ines.ortega@example.org"));
    let invite = format!("/patients/{ines}/invite");
    let r = t
        .post_form(
            &desk,
            &enrolment,
            &invite,
            &[("via", "email"), ("to", "someone.else@example.org")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(events_about(&t, ines, "ActivationCode").await.len(), 0);
    let r = t
        .post_form(
            &desk,
            &enrolment,
            &invite,
            &[("via", "email"), ("to", "ines.ortega@example.org")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("body");
    assert!(html.contains("Activation code sent"));
    assert!(!html.contains("<code>"), "an e-mailed code is not shown");
    let mail = mail_to(&t, "ines.ortega@example.org").await;
    let start =
        mail.find("Your activation code: ").expect("code in mail") + "Your activation code: ".len();
    let code: String = mail[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    assert!(!mail.contains("1985"), "no birth date in the e-mail");

    // Activated: the page shows the account; no more codes are offered or issued.
    let c = t.client();
    let r = t
        .activate(
            &c,
            &code,
            "1985-03-04",
            "ines@example.org",
            "violet kettle orbit 9",
        )
        .await;
    assert_eq!(location(&r), "/signin?done=activated");
    let r = t
        .post_form(
            &c,
            "/signin",
            "/signin",
            &[
                ("email", "ines@example.org"),
                ("password", "violet kettle orbit 9"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let html = crate::record::open(&t, &desk, &enrolment).await;
    assert!(html.contains("The patient has an active portal account"));
    assert!(html.contains("Signs in as ines@example.org"));
    assert!(html.contains("Last signed in"));
    assert!(!html.contains("Print an activation letter"));
    let codes = t.count("activation_codes").await;
    let r = t.post_form(&desk, &enrolment, &invite, &[]).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("already has a portal account")
    );
    assert_eq!(t.count("activation_codes").await, codes);

    // Locked after failed sign-ins: the desk sees it.
    for _ in 0..6 {
        let c = t.client();
        t.post_form(
            &c,
            "/signin",
            "/signin",
            &[
                ("email", "ines@example.org"),
                ("password", "wrong wrong wrong 1"),
            ],
        )
        .await;
    }
    let html = crate::record::open(&t, &desk, &enrolment).await;
    assert!(html.contains("The account is locked after repeated failed sign-ins"));
    assert!(html.contains("Unlock the account"));
    let sign_in = async || {
        let c = t.client();
        let r = t
            .post_form(
                &c,
                "/signin",
                "/signin",
                &[
                    ("email", "ines@example.org"),
                    ("password", "violet kettle orbit 9"),
                ],
            )
            .await;
        (c, r.status())
    };
    assert_ne!(sign_in().await.1, StatusCode::SEE_OTHER, "locked");

    // The help desk unlocks it only with an identity check and a reason.
    let help = format!("/patients/{ines}/account-help");
    let r = t
        .post_form(&desk, &enrolment, &help, &[("help", "unlock")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.expect("body");
    assert!(html.contains("Choose how you checked that the caller holds the account"));
    assert!(html.contains("Say why the account needs this"));
    let identity = "Called back on the phone number in the record";
    let r = t
        .post_form(
            &desk,
            &enrolment,
            &help,
            &[
                ("help", "unlock"),
                ("identity", identity),
                ("reason", "Locked out after a typo, called the desk"),
            ],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "answered by a redirect: a reload repeats nothing"
    );
    assert_eq!(location(&r), format!("{enrolment}?done=unlocked"));
    assert!(
        crate::record::open(&t, &desk, &location(&r))
            .await
            .contains("The account is unlocked")
    );
    let (ines_client, status) = sign_in().await;
    assert_eq!(status, StatusCode::SEE_OTHER, "unlocked");
    assert_eq!(
        t.get(&ines_client, &format!("/patients/{ines}"))
            .await
            .status(),
        StatusCode::OK
    );
    // Signed out everywhere at once.
    let r = t
        .post_form(
            &desk,
            &enrolment,
            &help,
            &[
                ("help", "end-sessions"),
                ("identity", identity),
                ("reason", "Left signed in on a library computer"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = t.get(&ines_client, &format!("/patients/{ines}")).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let helped = events_about(&t, ines, "Account").await;
    assert!(helped.iter().any(|d| d
        == "help desk: account unlocked; identity checked: Called back on the phone number in \
            the record; reason: Locked out after a typo, called the desk"));
    assert!(
        helped
            .iter()
            .any(|d| d.starts_with("help desk: every session ended"))
    );
    // No help for a record without an account.
    let r = t
        .post_form(
            &desk,
            &format!("/patients/{marcus}/enrolment"),
            &format!("/patients/{marcus}/account-help"),
            &[
                ("help", "end-sessions"),
                ("identity", identity),
                ("reason", "Left signed in on a library computer"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);

    // The adoption figures count records, active accounts and recent sign-ins.
    let records = t.count("patients").await;
    let html = crate::record::open(&t, &desk, "/patients").await;
    assert!(html.contains("Portal adoption"));
    let accounts: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM users WHERE patient_id IS NOT NULL AND status = 'active'",
    )
    .fetch_one(t.app.store().pool())
    .await
    .expect("count")
    .try_get("n")
    .expect("n");
    assert!(
        html.contains(&format!("({accounts} of {records})")),
        "{accounts} of {records}"
    );
    assert!(
        html.contains(&format!("(1 of {records})")),
        "Inés signed in lately"
    );
    t.stop().await;
}

/// Adds a record whose name and number a spreadsheet would take for formulas.
async fn add_formula_patient(t: &TestApp, given: &str, mrn: &str) -> PatientId {
    let id = PatientId::new_v7(t.app.now());
    let row = portal_store::patients::PatientRow {
        id,
        mrn: mrn.into(),
        given_name: given.into(),
        family_name: "Risk".into(),
        birth_date: "1970-01-01".into(),
        sex: "female".into(),
        deceased: None,
    };
    let mut tx = t.app.store().begin().await.expect("tx");
    portal_store::patients::insert(&mut tx, &row, t.app.now())
        .await
        .expect("insert");
    tx.commit().await.expect("commit");
    id
}

async fn user_id(t: &TestApp, role: Role) -> String {
    sqlx::query("SELECT id FROM users WHERE email = $1")
        .bind(&t.account(role).email)
        .fetch_one(t.app.store().pool())
        .await
        .expect("account")
        .try_get("id")
        .expect("id")
}

async fn a_privacy_officer_searches_orders_and_exports_the_trail(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let marcus = t.patient("Marcus Chen");
    let sofia = t.patient("Sofia Martinez");
    let risky = add_formula_patient(&t, "=HYPERLINK", "-42").await;
    let at_risk = add_formula_patient(&t, "@SUM", "MRN-AT").await;
    let desk = t.sign_in(Role::Staff).await;
    for id in [risky, at_risk, marcus] {
        assert_eq!(
            t.get(&desk, &format!("/patients/{id}")).await.status(),
            StatusCode::OK
        );
    }
    // The demo's admin is the privacy officer: patients by name and number, not ids.
    let admin = t.sign_in(Role::Admin).await;
    let html = crate::record::open(&t, &admin, "/admin/audit").await;
    assert!(html.contains("Marcus Chen (MRN DEMO-1003)"));
    assert!(!html.contains(&format!("<td>{marcus}</td>")));
    // Who, action, and an inclusive UTC range: a day, and the minute of an event.
    let staff_name = &t.account(Role::Staff).name;
    let who = staff_name.split(' ').next().expect("a first name");
    // Who is typed into a POST and carried as account ids: no name in the URL.
    let staff_id = user_id(&t, Role::Staff).await;
    let r = t
        .post_form(
            &admin,
            "/admin/audit",
            "/admin/audit/search",
            &[("who", who), ("action", "read")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location(&r);
    assert_eq!(to, format!("/admin/audit?by={staff_id}&action=read"));
    let html = crate::record::open(&t, &admin, &to).await;
    assert!(html.contains("Marcus Chen"));
    assert!(html.contains(&format!("Events by {staff_name}")));
    assert!(!html.contains("(admin)"), "only the staff member's events");
    let r = t
        .post_form(
            &admin,
            "/admin/audit",
            "/admin/audit/search",
            &[("who", "nobody-by-this-name")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.text().await.expect("body").contains("No account"));
    let at: i64 = sqlx::query(
        "SELECT at FROM audit_events WHERE patient_id = $1 AND action = 'read' ORDER BY seq LIMIT 1",
    )
    .bind(marcus.to_string())
    .fetch_one(t.app.store().pool())
    .await
    .expect("event")
    .try_get("at")
    .expect("at");
    let at = jiff::Timestamp::from_microsecond(at).expect("time");
    let minute = at.strftime("%Y-%m-%d%%20%H:%M").to_string();
    let day = at.strftime("%Y-%m-%d").to_string();
    let before = (at - SignedDuration::from_hours(24))
        .strftime("%Y-%m-%d")
        .to_string();
    let q = format!("/admin/audit?patient={marcus}&action=read");
    for (range, found) in [
        (format!("&from={minute}&to={minute}"), true),
        (format!("&from={day}&to={day}"), true),
        (format!("&to={before}"), false),
    ] {
        let html = crate::record::open(&t, &admin, &format!("{q}{range}")).await;
        assert_eq!(
            html.contains("Marcus Chen (MRN DEMO-1003)"),
            found,
            "{range}"
        );
    }
    let (status, html) = crate::record::page(&t, &admin, "/admin/audit?from=yesterday").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("Enter the start as a date"));
    let (status, _) =
        crate::record::page(&t, &admin, &format!("/admin/audit?from={day}&to={before}")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    // Ordered by any column, either way.
    for column in [
        "when", "who", "action", "data", "patient", "outcome", "from",
    ] {
        for dir in ["asc", "desc"] {
            let html =
                crate::record::open(&t, &admin, &format!("/admin/audit?sort={column}&dir={dir}"))
                    .await;
            let expected = if dir == "asc" {
                "ascending"
            } else {
                "descending"
            };
            assert!(
                html.contains(&format!("aria-sort=\"{expected}\"")),
                "{column} {dir}"
            );
        }
    }
    // A patient named in a POST, never in a URL: one match goes straight to its events.
    let r = t
        .post_form(
            &admin,
            "/admin/audit",
            "/admin/audit/search",
            &[("patient_text", "marcus chen"), ("action", "read")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let to = location(&r);
    assert_eq!(to, format!("/admin/audit?patient={marcus}&action=read"));
    // The CSV neutralises every cell a spreadsheet would run.
    let r = t.get(&admin, "/admin/audit.csv").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/csv"))
    );
    let csv = r.text().await.expect("csv");
    assert!(csv.contains("\"'=HYPERLINK Risk\""), "{csv}");
    assert!(csv.contains("\"'@SUM Risk\""));
    assert!(csv.contains("\"'-42\""));
    assert!(!csv.contains(",\"=") && !csv.contains(",\"@") && !csv.contains(",\"-"));
    let exported: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM audit_events WHERE resource_type = 'AuditReport' \
         AND action = 'export'",
    )
    .fetch_one(t.app.store().pool())
    .await
    .expect("count")
    .try_get("n")
    .expect("n");
    assert_eq!(exported, 1, "the export is audited");
    // Disclosures: the patient's own download is one.
    let patient = t.sign_in(Role::Patient).await;
    let r = t
        .get(&patient, &format!("/patients/{sofia}/download/record.json"))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = crate::record::open(
        &t,
        &admin,
        &format!("/admin/audit?patient={sofia}&only=disclosures"),
    )
    .await;
    assert!(html.contains("RecordExport"));
    assert!(!html.contains("<td>HealthRecord</td>") && !html.contains("<td>Patient</td>"));

    // Break-glass tells the privacy officer who and when, never whose record or why.
    let doctor = t.sign_in(Role::Clinician).await;
    let r = t
        .post_form(
            &doctor,
            "/patients",
            "/patients/break-glass",
            &[
                ("mrn", "DEMO-1003"),
                ("reason", "Unconscious in the emergency department"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mail = mail_to(&t, &t.account(Role::Admin).email).await;
    assert!(mail.contains("Emergency access to a record was opened"));
    assert!(mail.contains(&t.account(Role::Clinician).name));
    assert!(
        !mail.contains("Marcus") && !mail.contains("Unconscious") && !mail.contains("DEMO-1003")
    );
    let html = crate::record::open(&t, &admin, "/admin/audit?only=flagged").await;
    assert!(html.contains("(break-glass)"));

    // The permission is the privacy officer's, on top of the role: an admin without it is
    // refused the reports; a clinician with it reads them; staff cannot hold it.
    let admin_id = user_id(&t, Role::Admin).await;
    let doctor_id = user_id(&t, Role::Clinician).await;
    let grant = async |id: &str, on: &str| {
        t.post_form(
            &admin,
            "/admin/users",
            &format!("/admin/users/{id}/privacy-officer"),
            &[("officer", on)],
        )
        .await
        .status()
    };
    assert_eq!(grant(&doctor_id, "yes").await, StatusCode::SEE_OTHER);
    assert_eq!(grant(&staff_id, "yes").await, StatusCode::CONFLICT);
    // Nobody changes their own permission; the officers are told of every change.
    assert_eq!(grant(&admin_id, "no").await, StatusCode::CONFLICT);
    let told = mail_to(&t, &t.account(Role::Clinician).email).await;
    assert!(told.contains("The privacy officer permission was changed"));
    // Another admin takes it back (as the database would have it after their change).
    sqlx::query("UPDATE users SET privacy_officer = 0 WHERE id = $1")
        .bind(&admin_id)
        .execute(t.app.store().pool())
        .await
        .expect("update");
    assert_eq!(
        t.get(&admin, "/admin/audit").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        t.get(&admin, "/admin/audit.csv").await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        t.get(&doctor, "/admin/audit").await.status(),
        StatusCode::OK
    );
    // A clinician who is a privacy officer has the reports in the menu; an admin who is not
    // does not.
    let menu = crate::record::open(&t, &doctor, "/inbasket").await;
    assert!(menu.contains("href=\"/admin/audit\""));
    let menu = crate::record::open(&t, &admin, "/admin/users").await;
    assert!(!menu.contains("href=\"/admin/audit\""));
    assert_eq!(
        t.get(&desk, "/admin/audit").await.status(),
        StatusCode::FORBIDDEN
    );
    let flagged: i64 = sqlx::query(
        "SELECT COUNT(*) AS n FROM audit_events WHERE detail LIKE 'flagged for review: privacy officer%'",
    )
    .fetch_one(t.app.store().pool())
    .await
    .expect("count")
    .try_get("n")
    .expect("n");
    assert_eq!(flagged, 1, "the change of the permission is flagged");
    t.stop().await;
}

async fn count_where(t: &TestApp, sql: &str, bind: &str) -> i64 {
    sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .bind(bind.to_string())
        .fetch_one(t.app.store().pool())
        .await
        .expect("count")
        .try_get("n")
        .expect("n")
}

async fn locked_accounts_are_unlocked_and_a_lost_second_factor_is_reset(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let admin = t.sign_in(Role::Admin).await;
    // The clinician types a wrong password until the account locks.
    let doctor_email = t.account(Role::Clinician).email.clone();
    for _ in 0..6 {
        let c = t.client();
        t.post_form(
            &c,
            "/signin",
            "/signin",
            &[
                ("email", doctor_email.as_str()),
                ("password", "not the password 1"),
            ],
        )
        .await;
    }
    let users = crate::record::open(&t, &admin, "/admin/users").await;
    assert!(users.contains("locked until"));
    let doctor_id = user_id(&t, Role::Clinician).await;
    let r = t
        .post_form(
            &admin,
            "/admin/users",
            &format!("/admin/users/{doctor_id}/unlock"),
            &[],
        )
        .await;
    assert_eq!(location(&r), "/admin/users?done=unlocked");
    assert!(
        !crate::record::open(&t, &admin, "/admin/users")
            .await
            .contains("locked until")
    );
    assert_eq!(
        count_where(
            &t,
            "SELECT COUNT(*) AS n FROM audit_events WHERE resource_id = $1 \
             AND detail = 'account unlocked by an administrator'",
            &doctor_id,
        )
        .await,
        1
    );
    let doctor = t.sign_in(Role::Clinician).await;
    assert_eq!(t.get(&doctor, "/inbasket").await.status(), StatusCode::OK);
    // Nobody else may unlock.
    let r = t
        .post_form(
            &doctor,
            "/inbasket",
            &format!("/admin/users/{doctor_id}/unlock"),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Sofia lost her phone: the help desk removes her authenticator app after calling back.
    let sofia = t.patient("Sofia Martinez");
    let sofia_user = user_id(&t, Role::Patient).await;
    sqlx::query("UPDATE users SET totp_secret_enc = 'sealed' WHERE id = $1")
        .bind(&sofia_user)
        .execute(t.app.store().pool())
        .await
        .expect("second factor");
    sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, 'h')")
        .bind(&sofia_user)
        .execute(t.app.store().pool())
        .await
        .expect("recovery code");
    let her_session = t.client();
    t.post_form(
        &her_session,
        "/signin",
        "/signin",
        &[
            ("email", t.account(Role::Patient).email.as_str()),
            ("password", t.account(Role::Patient).password.as_str()),
        ],
    )
    .await;
    let desk = t.sign_in(Role::Staff).await;
    let enrolment = format!("/patients/{sofia}/enrolment");
    let html = crate::record::open(&t, &desk, &enrolment).await;
    assert!(html.contains("Reset the second factor"));
    let r = t
        .post_form(
            &desk,
            &enrolment,
            &format!("/patients/{sofia}/account-help"),
            &[
                ("help", "reset-second-factor"),
                ("identity", "Photo ID seen in person"),
                ("reason", "Lost her phone, came to the front desk"),
            ],
        )
        .await;
    assert_eq!(location(&r), format!("{enrolment}?done=reset"));
    let row = sqlx::query("SELECT totp_secret_enc FROM users WHERE id = $1")
        .bind(&sofia_user)
        .fetch_one(t.app.store().pool())
        .await
        .expect("account");
    assert_eq!(
        row.try_get::<Option<String>, _>("totp_secret_enc")
            .expect("secret"),
        None
    );
    let n = "SELECT COUNT(*) AS n FROM recovery_codes WHERE user_id = $1";
    assert_eq!(count_where(&t, n, &sofia_user).await, 0);
    let n = "SELECT COUNT(*) AS n FROM sessions WHERE user_id = $1";
    assert_eq!(
        count_where(&t, n, &sofia_user).await,
        0,
        "signed out everywhere"
    );
    let n = "SELECT COUNT(*) AS n FROM audit_events WHERE resource_id = $1 \
             AND detail LIKE 'flagged for review: help desk: second factor reset; identity checked: Photo ID seen in person; %'";
    assert_eq!(count_where(&t, n, &sofia_user).await, 1);
    let mail = mail_to(&t, &t.account(Role::Patient).email).await;
    assert!(mail.contains("removed the authenticator app"));
    t.stop().await;
}

async fn the_in_basket_counts_and_filters_each_kind_of_work(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    // A patient of the clinician's with a lab result the clinic holds until it is released.
    let bundle = serde_json::json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:2b0f3c52-8d7e-4f7a-9d3e-5a1c2e4b6f70",
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [{"system": "urn:test:mrn", "value": "HELD-0001"}],
                    "name": [{"family": "Novak", "given": ["Hana"]}],
                    "gender": "female",
                    "birthDate": "1968-02-11"
                },
                "request": {"method": "PUT", "url": "Patient/hana"}
            },
            {
                "fullUrl": "urn:uuid:7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f",
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "category": [{"coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory"}]}],
                    "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7",
                        "display": "Glucose"}]},
                    "subject": {"reference": "urn:uuid:2b0f3c52-8d7e-4f7a-9d3e-5a1c2e4b6f70"},
                    "effectiveDateTime": "2026-11-30T08:00:00Z",
                    "valueQuantity": {"value": 98, "unit": "mg/dL"}
                },
                "request": {"method": "POST", "url": "Observation"}
            }
        ]
    });
    let summary = t
        .app
        .import()
        .import_bundle(
            &portal_app::Actor::operator(),
            bundle.to_string().as_bytes(),
        )
        .await
        .expect("import");
    let hana: PatientId = summary.entries[0].id.parse().expect("record id");
    let doctor_id: portal_domain::UserId = user_id(&t, Role::Clinician).await.parse().expect("id");
    let mut tx = t.app.store().begin().await.expect("tx");
    portal_store::access::add_to_care_team(&mut tx, hana, doctor_id)
        .await
        .expect("care team");
    tx.commit().await.expect("commit");
    sqlx::query("UPDATE clinical_items SET released_at = NULL WHERE patient_id = $1")
        .bind(hana.to_string())
        .execute(t.app.store().pool())
        .await
        .expect("hold");

    let doctor = t.sign_in(Role::Clinician).await;
    let basket = crate::record::open(&t, &doctor, "/inbasket").await;
    assert!(basket.contains("Results to release"));
    assert!(basket.contains(&format!("href=\"/patients/{hana}/results\">Hana Novak</a>")));
    assert!(basket.contains("1 result held until a clinician releases it"));
    assert!(basket.contains("Check-ins with changes (0)"));
    assert!(basket.contains("aria-current=\"page\">Everything"));
    // One kind alone.
    let only = crate::record::open(&t, &doctor, "/inbasket?show=results").await;
    assert!(only.contains("Hana Novak") && !only.contains("Messages waiting"));
    assert!(only.contains("aria-current=\"page\">Results to release"));
    let only = crate::record::open(&t, &doctor, "/inbasket?show=messages").await;
    assert!(!only.contains("Hana Novak"));
    // Released, it leaves the in-basket.
    sqlx::query("UPDATE clinical_items SET released_at = 0 WHERE patient_id = $1")
        .bind(hana.to_string())
        .execute(t.app.store().pool())
        .await
        .expect("release");
    let basket = crate::record::open(&t, &doctor, "/inbasket").await;
    assert!(basket.contains("No result waits for a clinician to release it."));

    // The front desk never sees results; it sees proxy removal requests.
    let desk = t.sign_in(Role::Staff).await;
    let basket = crate::record::open(&t, &desk, "/inbasket").await;
    assert!(!basket.contains("Results to release") && !basket.contains("Hana Novak"));
    let only = crate::record::open(&t, &desk, "/inbasket?show=proxies").await;
    assert!(only.contains("No patient is asking to remove a proxy."));
    t.stop().await;
}

/// A parent calls about their child's portal access: the help desk reaches the parent's
/// account through the child's record (its proxies in force), signs it out everywhere and
/// resets its lost second factor, audited in the child's record; an account that is no proxy
/// of that record is refused and left alone.
async fn the_help_desk_helps_a_parent_through_the_childs_record(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let leo = t.patient("Leo Martinez");
    let marcus = t.patient("Marcus Chen");
    let parent = t.sign_in(Role::Patient).await;
    let doctor = t.sign_in(Role::Clinician).await;
    let desk = t.sign_in(Role::Staff).await;
    let sofia_user = user_id(&t, Role::Patient).await;
    let doctor_user = user_id(&t, Role::Clinician).await;
    let email = t.account(Role::Patient).email.clone();
    let enrolment = format!("/patients/{leo}/enrolment");
    let html = crate::record::open(&t, &desk, &enrolment).await;
    assert!(html.contains("Help someone sign in"), "{html}");
    assert!(
        html.contains(&format!("Sofia Martinez (parent, proxy; {email})")),
        "{html}"
    );
    let help = format!("/patients/{leo}/account-help");
    let identity = "Photo ID seen in person";
    // An account that holds no proxy access to Leo: refused, its sessions untouched.
    let r = t
        .post_form(
            &desk,
            &enrolment,
            &help,
            &[
                ("whose", doctor_user.as_str()),
                ("help", "end-sessions"),
                ("identity", identity),
                ("reason", "Says he is the father, no proof"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("Choose the patient&#39;s own account or one of the proxies listed")
    );
    assert_eq!(
        t.get(&doctor, "/inbasket").await.status(),
        StatusCode::OK,
        "the clinician's session is untouched"
    );
    // Sofia is no proxy of Marcus: refused there too.
    let r = t
        .post_form(
            &desk,
            &format!("/patients/{marcus}/enrolment"),
            &format!("/patients/{marcus}/account-help"),
            &[
                ("whose", sofia_user.as_str()),
                ("help", "end-sessions"),
                ("identity", identity),
                ("reason", "Wrong record picked by mistake"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        t.get(&parent, &format!("/patients/{leo}")).await.status(),
        StatusCode::OK
    );

    // Her phone was stolen while signed in: signed out everywhere, then the app reset.
    let r = t
        .post_form(
            &desk,
            &enrolment,
            &help,
            &[
                ("whose", sofia_user.as_str()),
                ("help", "end-sessions"),
                ("identity", identity),
                ("reason", "Phone stolen while signed in"),
            ],
        )
        .await;
    assert_eq!(location(&r), format!("{enrolment}?done=signed-out"));
    let r = t.get(&parent, &format!("/patients/{leo}")).await;
    assert_ne!(r.status(), StatusCode::OK, "her session ended");
    let r = t
        .post_form(
            &desk,
            &enrolment,
            &help,
            &[
                ("whose", sofia_user.as_str()),
                ("help", "reset-second-factor"),
                ("identity", identity),
                ("reason", "Phone stolen, came to the desk"),
            ],
        )
        .await;
    assert_eq!(location(&r), format!("{enrolment}?done=reset"));
    let row = sqlx::query("SELECT totp_secret_enc FROM users WHERE id = $1")
        .bind(&sofia_user)
        .fetch_one(t.app.store().pool())
        .await
        .expect("account");
    assert_eq!(
        row.try_get::<Option<String>, _>("totp_secret_enc")
            .expect("secret"),
        None
    );
    let mail = mail_to(&t, &email).await;
    assert!(mail.contains("removed the authenticator app"), "{mail}");
    assert!(!mail.contains("Leo"), "the e-mail names no record");
    // Once more: nothing left to reset.
    let r = t
        .post_form(
            &desk,
            &enrolment,
            &help,
            &[
                ("whose", sofia_user.as_str()),
                ("help", "reset-second-factor"),
                ("identity", identity),
                ("reason", "Asked twice by mistake"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let events = events_about(&t, leo, "Account").await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        events[0].contains("help desk: every session ended for a proxy's account (parent)"),
        "{events:?}"
    );
    assert!(
        events[1].contains("second factor reset for a proxy's account (parent)"),
        "{events:?}"
    );
    assert!(events.iter().all(|e| e.contains(identity)));
    t.stop().await;
}

/// The front desk puts a clinician on a record's care team and takes them off again: the
/// record opens for the clinician at once and stops opening at once; each change is audited in
/// the record; two requests at once make one change; nobody else may change the team.
async fn the_front_desk_manages_a_records_care_team(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let ramon = add_ramon(&t).await;
    let sofia = t.patient("Sofia Martinez");
    let patient = t.sign_in(Role::Patient).await;
    let doctor = t.sign_in(Role::Clinician).await;
    let desk = t.sign_in(Role::Staff).await;
    let doctor_id = user_id(&t, Role::Clinician).await;
    let doctor_name = t.account(Role::Clinician).name.clone();
    let team = format!("/patients/{ramon}/care-team");
    let record = format!("/patients/{ramon}/record");
    assert_eq!(
        t.get(&doctor, &record).await.status(),
        StatusCode::NOT_FOUND
    );
    // Neither the patient's side nor a clinician changes a team.
    for (c, page) in [
        (&patient, format!("/patients/{sofia}")),
        (&doctor, "/inbasket".into()),
    ] {
        let r = t
            .post_form(
                c,
                &page,
                &format!("/patients/{sofia}/care-team"),
                &[("clinician", doctor_id.as_str()), ("change", "remove")],
            )
            .await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(
        t.get(&doctor, &format!("/patients/{sofia}/record"))
            .await
            .status(),
        StatusCode::OK
    );

    let html = crate::record::open(&t, &desk, &team).await;
    assert!(html.contains("No clinician is on this patient"), "{html}");
    assert!(html.contains(&format!(
        "<option value=\"{doctor_id}\">{doctor_name}</option>"
    )));
    // Someone not offered (a staff account) is refused and nothing changes.
    let desk_id = user_id(&t, Role::Staff).await;
    let r = t
        .post_form(
            &desk,
            &team,
            &team,
            &[("clinician", desk_id.as_str()), ("change", "add")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .expect("body")
            .contains("Choose a clinician from the list")
    );
    // Two requests at once: one change.
    let csrf = t.csrf_from(&desk, &team).await;
    let send = || {
        let c = desk.clone();
        let url = format!("{}{team}", t.url);
        let form = [
            ("csrf", csrf.clone()),
            ("clinician", doctor_id.clone()),
            ("change", "add".to_string()),
        ];
        tokio::spawn(async move { c.post(url).form(&form).send().await.expect("POST").status() })
    };
    let (one, two) = (send(), send());
    let mut statuses = [one.await.expect("task"), two.await.expect("task")];
    statuses.sort();
    assert_eq!(statuses[0], StatusCode::SEE_OTHER, "{statuses:?}");
    assert!(
        matches!(
            statuses[1],
            StatusCode::SEE_OTHER | StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY
        ),
        "{statuses:?}"
    );
    let n = "SELECT COUNT(*) AS n FROM care_team WHERE patient_id = $1";
    assert_eq!(count_where(&t, n, &ramon.to_string()).await, 1);
    let html = crate::record::open(&t, &desk, &format!("{team}?added={doctor_id}")).await;
    assert!(
        html.contains(&format!("{doctor_name} is on the care team now")),
        "{html}"
    );
    assert_eq!(
        t.get(&doctor, &record).await.status(),
        StatusCode::OK,
        "opens at once"
    );
    let list = crate::record::open(&t, &doctor, "/patients").await;
    assert!(
        list.contains("García-López"),
        "listed among the doctor's patients"
    );

    let r = t
        .post_form(
            &desk,
            &team,
            &team,
            &[("clinician", doctor_id.as_str()), ("change", "remove")],
        )
        .await;
    assert_eq!(location(&r), format!("{team}?removed={doctor_id}"));
    assert_eq!(
        t.get(&doctor, &record).await.status(),
        StatusCode::NOT_FOUND,
        "closed at once"
    );
    let events = events_about(&t, ramon, "CareTeam").await;
    let changes: Vec<&String> = events
        .iter()
        .filter(|e| e.contains("care team") && e != &"care team")
        .collect();
    assert_eq!(changes.len(), 2, "{events:?}");
    assert!(changes[0].contains(&format!("put {doctor_name} on the care team")));
    assert!(changes[1].contains(&format!("took {doctor_name} off the care team")));
    t.stop().await;
}

/// An admin helps a clinician who lost their phone: the second factor reset (the clinician's
/// sessions end, the account is told, flagged for review), only with an identity check and a
/// reason; never the admin's own account, never a patient's (helped through the record), and
/// nobody but admins.
async fn an_admin_helps_a_clinic_account_that_cannot_sign_in(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let doctor = t.sign_in(Role::Clinician).await;
    let desk = t.sign_in(Role::Staff).await;
    let admin = t.sign_in(Role::Admin).await;
    let doctor_id = user_id(&t, Role::Clinician).await;
    let admin_id = user_id(&t, Role::Admin).await;
    let patient_id = user_id(&t, Role::Patient).await;
    let page = format!("/admin/users/{doctor_id}/help");
    let users = crate::record::open(&t, &admin, "/admin/users").await;
    assert!(
        users.contains(&format!("href=\"{page}\"")),
        "a Help link per clinic account"
    );
    assert!(!users.contains(&format!("/admin/users/{patient_id}/help")));
    let html = crate::record::open(&t, &admin, &page).await;
    assert!(html.contains(&t.account(Role::Clinician).email));
    assert!(html.contains("Reset the second factor"));
    // Staff may not; a patient's account is not helped here; nor the admin's own.
    let r = t
        .post_form(&desk, "/inbasket", &page, &[("help", "end-sessions")])
        .await;
    assert!(matches!(
        r.status(),
        StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
    ));
    assert_eq!(
        t.get(&admin, &format!("/admin/users/{patient_id}/help"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let identity = "Known to the clinic in person";
    let own = format!("/admin/users/{admin_id}/help");
    let r = t
        .post_form(
            &admin,
            &page,
            &own,
            &[
                ("help", "end-sessions"),
                ("identity", identity),
                ("reason", "Testing on myself"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    // Without the check and a reason: refused, nothing changes.
    let r = t
        .post_form(&admin, &page, &page, &[("help", "reset-second-factor")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(t.get(&doctor, "/inbasket").await.status(), StatusCode::OK);
    let r = t
        .post_form(
            &admin,
            &page,
            &page,
            &[
                ("help", "reset-second-factor"),
                ("identity", identity),
                ("reason", "Phone lost on the train, in person at reception"),
            ],
        )
        .await;
    assert_eq!(location(&r), "/admin/users?done=reset");
    assert_ne!(
        t.get(&doctor, "/inbasket").await.status(),
        StatusCode::OK,
        "signed out"
    );
    let secret: Option<String> =
        sqlx::query_scalar("SELECT totp_secret_enc FROM users WHERE id = $1")
            .bind(&doctor_id)
            .fetch_one(t.app.store().pool())
            .await
            .expect("account");
    assert_eq!(secret, None);
    let mail = mail_to(&t, &t.account(Role::Clinician).email).await;
    assert!(mail.contains("removed the authenticator app"));
    let detail: String = sqlx::query_scalar(
        "SELECT detail FROM audit_events WHERE resource_type = 'Account' AND resource_id = $1 \
         ORDER BY seq DESC LIMIT 1",
    )
    .bind(&doctor_id)
    .fetch_one(t.app.store().pool())
    .await
    .expect("event");
    assert!(detail.starts_with("flagged for review"), "{detail}");
    assert!(
        detail.contains("second factor reset for a clinician account"),
        "{detail}"
    );
    assert!(detail.contains(identity));
    t.stop().await;
}

/// The admin shortens the idle time-out on the settings page: stored over the start-up value,
/// shown with who stored it, in force at once in this process (a session idle longer ends);
/// values out of range change nothing; nobody else may.
async fn the_admin_changes_the_session_settings_on_the_settings_page(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let desk = t.sign_in(Role::Staff).await;
    let patient = t.sign_in(Role::Patient).await;
    let admin = t.sign_in(Role::Admin).await;
    let sofia = t.patient("Sofia Martinez");
    let page = "/admin/settings";
    let form = "/admin/settings/sessions";
    let r = t
        .post_form(
            &desk,
            "/inbasket",
            form,
            &[("idle_minutes", "5"), ("absolute_hours", "1")],
        )
        .await;
    assert!(matches!(
        r.status(),
        StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
    ));
    for (idle, absolute, says) in [
        ("2", "12", "from 5 to 120"),
        ("ten", "12", "from 5 to 120"),
        ("10", "48", "from 1 to 24"),
        ("120", "1", "cannot last longer without use"),
    ] {
        let r = t
            .post_form(
                &admin,
                page,
                form,
                &[("idle_minutes", idle), ("absolute_hours", absolute)],
            )
            .await;
        assert_eq!(
            r.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{idle} {absolute}"
        );
        let html = r.text().await.expect("body");
        assert!(html.contains(says), "{idle} {absolute}: {html}");
        assert!(
            html.contains(&format!("value=\"{idle}\"")),
            "what was typed is kept"
        );
    }
    let n = "SELECT COUNT(*) AS n FROM clinic_settings WHERE key LIKE $1";
    assert_eq!(count_where(&t, n, "sessions.%").await, 0, "nothing stored");
    let r = t
        .post_form(
            &admin,
            page,
            form,
            &[("idle_minutes", "5"), ("absolute_hours", "8")],
        )
        .await;
    assert_eq!(location(&r), "/admin/settings?done=sessions#sessions-form");
    let html = crate::record::open(&t, &admin, "/admin/settings?done=sessions").await;
    assert!(html.contains("The sign-in and session settings are saved"));
    let admin_name = t.account(Role::Admin).name.clone();
    let at = html
        .find("Sessions end after this long without use")
        .expect("listed");
    let line = &html[at..at + html[at..].find("</li>").expect("end")];
    assert!(line.contains("<strong>5 minutes</strong>"), "{line}");
    assert!(line.contains(&format!("Stored by {admin_name}")), "{line}");
    // Six minutes without a request: the patient's session has ended; the desk, who kept
    // working, is still signed in.
    t.advance(SignedDuration::from_mins(3));
    assert_eq!(t.get(&desk, "/inbasket").await.status(), StatusCode::OK);
    t.advance(SignedDuration::from_mins(3));
    assert_eq!(t.get(&desk, "/inbasket").await.status(), StatusCode::OK);
    let r = t.get(&patient, &format!("/patients/{sofia}")).await;
    assert_ne!(r.status(), StatusCode::OK, "idle six minutes: signed out");
    let detail: String = sqlx::query_scalar(
        "SELECT detail FROM audit_events WHERE resource_type = 'ClinicSettings' \
         ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(t.app.store().pool())
    .await
    .expect("event");
    assert!(detail.starts_with("flagged for review"), "{detail}");
    assert!(detail.contains("idle time-out 5 minutes"), "{detail}");
    t.stop().await;
}

both_backends!(
    the_admin_changes_the_session_settings_on_the_settings_page,
    an_admin_helps_a_clinic_account_that_cannot_sign_in,
    the_front_desk_manages_a_records_care_team,
    the_help_desk_helps_a_parent_through_the_childs_record,
    the_in_basket_counts_and_filters_each_kind_of_work,
    locked_accounts_are_unlocked_and_a_lost_second_factor_is_reset,
    finding_patients_and_opening_one_from_the_result,
    the_front_desk_follows_enrolment_from_code_to_account,
    a_privacy_officer_searches_orders_and_exports_the_trail,
);
