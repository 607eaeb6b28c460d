//! Proxy and caregiver access (issue 29): a parent activating a child's code gets a parent's
//! grant on an account of their own; each scope reaches what it says on the pages and through
//! the FHIR API and nothing else (404 outside it); a revoked or expired grant ends access at
//! the next request of an open session; the age rules narrow a parent's access on the 12th (or
//! 13th) birthday and end it on the 18th, the clinic switching jurisdiction at once; a teen
//! gives a parent full access and shares a confidential category with them, and confidential
//! items are otherwise invisible to proxies everywhere.

use crate::both_backends;
use crate::fhir_read::Api;
use crate::helpers::{TestApp, location};
use crate::record::{open, page, sign_in_new_patient};
use crate::smart::{code_for_record, exchange, register};
use jiff::SignedDuration;
use portal_app::Actor;
use portal_domain::{PatientId, Role};
use portal_store::Backend;
use reqwest::{Client, StatusCode};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const PASSWORD: &str = "violet kettle orbit 9";

/// An activation code for `patient`, issued by the front desk.
async fn activation_code(t: &TestApp, patient: PatientId) -> String {
    t.app
        .accounts()
        .invite(&Actor::operator(), patient)
        .await
        .expect("activation code")
        .code
}

/// Signs in an account that has a password and no second factor yet (as activation leaves it).
async fn sign_in_password(t: &TestApp, email: &str) -> Client {
    let c = t.client();
    let r = t
        .post_form(
            &c,
            "/signin",
            "/signin",
            &[("email", email), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{email} signs in");
    c
}

/// Waits for an e-mail with an invitation link not among `seen`; gives its path.
async fn invitation_link(t: &TestApp, seen: &[PathBuf]) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for path in crate::auth::mail_files(t) {
            if seen.contains(&path) {
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let text = text
                .replace("=\r\n", "")
                .replace("=\n", "")
                .replace("=3D", "=");
            if let Some(start) = text.find("/proxy-invitations/") {
                let token: String = text[start + "/proxy-invitations/".len()..]
                    .chars()
                    .take_while(char::is_ascii_alphanumeric)
                    .collect();
                return format!("/proxy-invitations/{token}");
            }
        }
        assert!(
            Instant::now() < deadline,
            "no invitation e-mail within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Invites `email` to `patient`'s record from `by` (the patient or the front desk) with the
/// form's `fields`; the invitee accepts with a new account and signs in.
async fn invite_and_accept(
    t: &TestApp,
    by: &Client,
    patient: PatientId,
    email: &str,
    fields: &[(&str, &str)],
) -> Client {
    let seen = crate::auth::mail_files(t);
    let path = format!("/patients/{patient}/proxies");
    let mut form = vec![("do", "invite"), ("email", email)];
    form.extend_from_slice(fields);
    let r = t.post_form(by, &path, &path, &form).await;
    let html = r.text().await.expect("page");
    assert!(html.contains("An invitation was sent"), "{html}");
    let link = invitation_link(t, &seen).await;
    let anonymous = t.client();
    let invitation = open(t, &anonymous, &link).await;
    assert!(invitation.contains("invites you to"), "{invitation}");
    // Showing whose record it is to the link's holder is recorded in that record.
    let shown: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE actor_role = 'invitee' AND patient_id = $1",
    )
    .bind(patient.to_string())
    .fetch_one(t.app.store().pool())
    .await
    .expect("count");
    assert!(shown > 0, "the invitation's showing is audited");
    let r = t
        .post_form(
            &anonymous,
            &link,
            &link,
            &[("name", "Robin Ames"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(location(&r), "/signin?done=proxy");
    // The link works once.
    let (status, _) = page(t, &anonymous, &link).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    sign_in_password(t, email).await
}

/// The id of the one grant to `patient`.
async fn only_grant(t: &TestApp, patient: PatientId) -> String {
    sqlx::query_scalar("SELECT id FROM proxy_grants WHERE patient_id = $1")
        .bind(patient.to_string())
        .fetch_one(t.app.store().pool())
        .await
        .expect("grant")
}

/// Connects an app (SMART standalone launch) to `patient`'s record from `browser`, allowing
/// everything offered; gives the access token.
async fn connect_app(t: &TestApp, browser: &Client, patient: PatientId) -> String {
    let app = register(t, false).await;
    let record = patient.to_string();
    let (code, verifier) = code_for_record(
        t,
        browser,
        &app,
        "launch/patient patient/*.read",
        None,
        Some(&record),
    )
    .await;
    let (_, tokens) = exchange(t, &app, &code, &verifier).await;
    assert_eq!(tokens["patient"], record.as_str(), "{tokens}");
    tokens["access_token"].as_str().expect("token").to_string()
}

async fn status(t: &TestApp, c: &Client, path: &str) -> StatusCode {
    t.get(c, path).await.status()
}

async fn a_parent_activates_a_childs_code_on_an_account_of_their_own(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let leo = t.patient("Leo Martinez");
    let marcus = t.patient("Marcus Chen");
    let users_before = t.count("users").await;
    // Leo is ten: his own code cannot open an account that signs in as him.
    let code = activation_code(&t, leo).await;
    let c = t.client();
    let mine = [
        ("code", code.as_str()),
        ("birth_date", "2016-07-02"),
        ("email", "ana@example.test"),
        ("password", PASSWORD),
        ("whose", "mine"),
    ];
    let r = t.post_form(&c, "/activate", "/activate", &mine).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .expect("page")
            .contains("cannot have an account of their own")
    );
    assert_eq!(t.count("users").await, users_before, "nothing was created");
    // As his parent, with her own name: an account with no record, holding a parent's grant.
    let parent = [
        ("code", code.as_str()),
        ("birth_date", "2016-07-02"),
        ("email", "ana@example.test"),
        ("password", PASSWORD),
        ("whose", "child"),
        ("name", "Ana Martinez"),
    ];
    let r = t.post_form(&c, "/activate", "/activate", &parent).await;
    assert_eq!(location(&r), "/signin?done=activated");
    let (own, name): (Option<String>, String) =
        sqlx::query_as("SELECT patient_id, name FROM users WHERE email = 'ana@example.test'")
            .fetch_one(t.app.store().pool())
            .await
            .expect("the account");
    assert_eq!((own, name.as_str()), (None, "Ana Martinez"));
    let (relationship, scope): (String, String) = sqlx::query_as(
        "SELECT g.relationship, g.scope FROM proxy_grants g JOIN users u ON u.id = g.proxy_user_id \
         WHERE u.email = 'ana@example.test' AND g.patient_id = $1",
    )
    .bind(leo.to_string())
    .fetch_one(t.app.store().pool())
    .await
    .expect("the grant");
    assert_eq!((relationship.as_str(), scope.as_str()), ("parent", "full"));
    let ana = sign_in_password(&t, "ana@example.test").await;
    let home = open(&t, &ana, &format!("/patients/{leo}")).await;
    assert!(
        home.contains("You are viewing Leo&#39;s record as his parent."),
        "{home}"
    );
    assert_eq!(
        status(&t, &ana, &format!("/patients/{leo}/record")).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&t, &ana, &format!("/patients/{marcus}")).await,
        StatusCode::NOT_FOUND
    );
    // A proxy does not hand access on.
    assert_eq!(
        status(&t, &ana, &format!("/patients/{leo}/proxies")).await,
        StatusCode::NOT_FOUND
    );
    // An adult's code cannot make a parent's grant.
    let code = activation_code(&t, marcus).await;
    let r = t
        .post_form(
            &c,
            "/activate",
            "/activate",
            &[
                ("code", code.as_str()),
                ("birth_date", "1972-11-05"),
                ("email", "someone@example.test"),
                ("password", PASSWORD),
                ("whose", "child"),
                ("name", "Someone Else"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .expect("page")
            .contains("belongs to an adult")
    );
    // A parent who already has an account adds the child's record to it with the code.
    let marcus_account = sign_in_new_patient(&t, marcus, "1972-11-05", "marcus@example.test").await;
    let code = activation_code(&t, leo).await;
    let wrong = [("code", code.as_str()), ("birth_date", "2016-07-03")];
    let r = t
        .post_form(&marcus_account, "/account", "/account/add-child", &wrong)
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        status(&t, &marcus_account, &format!("/patients/{leo}")).await,
        StatusCode::NOT_FOUND
    );
    let right = [("code", code.as_str()), ("birth_date", "2016-07-02")];
    let r = t
        .post_form(&marcus_account, "/account", "/account/add-child", &right)
        .await;
    assert_eq!(location(&r), format!("/patients/{leo}"));
    assert_eq!(
        status(&t, &marcus_account, &format!("/patients/{leo}/record")).await,
        StatusCode::OK
    );
    // The code worked once.
    let r = t
        .post_form(&marcus_account, "/account", "/account/add-child", &right)
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    t.stop().await;
}

/// Marcus (an adult) invites a caregiver for appointments and messages only; Marcus ends it and
/// the caregiver's open session loses the record at its next request. A grant with a last day
/// ends by itself.
async fn each_scope_reaches_what_it_says_and_an_ended_grant_ends_at_once(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let marcus = t.patient("Marcus Chen");
    let leo = t.patient("Leo Martinez");
    let him = sign_in_new_patient(&t, marcus, "1972-11-05", "marcus@example.test").await;
    let overview = open(&t, &him, &format!("/patients/{marcus}/proxies")).await;
    assert!(
        overview.contains("Only people you invite can see your record"),
        "{overview}"
    );
    // Bad input changes nothing.
    let path = format!("/patients/{marcus}/proxies");
    let r = t
        .post_form(
            &him,
            &path,
            &path,
            &[("do", "invite"), ("email", "not an address")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(t.count("proxy_invitations").await, 0);
    // An invitation is the invited address's: another account cannot accept it.
    let seen = crate::auth::mail_files(&t);
    let r = t
        .post_form(
            &him,
            &path,
            &path,
            &[
                ("do", "invite"),
                ("email", "neighbour@example.test"),
                ("relationship", "other"),
                ("scope", "full"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let link = invitation_link(&t, &seen).await;
    let sofia = t.sign_in(Role::Patient).await;
    let r = t.post_form(&sofia, &link, &link, &[]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .expect("page")
            .contains("sent to another e-mail address")
    );
    assert_eq!(
        status(&t, &sofia, &format!("/patients/{marcus}")).await,
        StatusCode::NOT_FOUND
    );
    let carer = invite_and_accept(
        &t,
        &him,
        marcus,
        "carer@example.test",
        &[("relationship", "caregiver"), ("scope", "non-clinical")],
    )
    .await;
    for allowed in ["", "/appointments", "/messages"] {
        assert_eq!(
            status(&t, &carer, &format!("/patients/{marcus}{allowed}")).await,
            StatusCode::OK,
            "{allowed}"
        );
    }
    for refused in [
        "/record",
        "/results",
        "/medications",
        "/download",
        "/access-log",
        "/proxies",
    ] {
        assert_eq!(
            status(&t, &carer, &format!("/patients/{marcus}{refused}")).await,
            StatusCode::NOT_FOUND,
            "{refused}"
        );
    }
    let banner = open(&t, &carer, &format!("/patients/{marcus}/appointments")).await;
    assert!(banner.contains("as his caregiver"), "{banner}");
    assert_eq!(
        status(&t, &carer, &format!("/patients/{leo}")).await,
        StatusCode::NOT_FOUND
    );
    // Marcus sees who holds access, and the carer's reads in his access log.
    let overview = open(&t, &him, &path).await;
    assert!(overview.contains("Robin Ames") && overview.contains("Appointments and messages only"));
    let log = open(&t, &him, &format!("/patients/{marcus}/access-log")).await;
    assert!(log.contains("Robin Ames"), "{log}");
    // He gives full access: the record opens at the carer's next request, never confidential.
    let grant = only_grant(&t, marcus).await;
    let r = t
        .post_form(&him, &path, &path, &[("do", "full"), ("grant", &grant)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        status(&t, &carer, &format!("/patients/{marcus}/record")).await,
        StatusCode::OK
    );
    // Another patient's grant id changes nothing on his page.
    let r = t
        .post_form(
            &him,
            &path,
            &path,
            &[("do", "end"), ("grant", &crate::record::random_id())],
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // He ends it: the carer's open session loses the record at once.
    let r = t
        .post_form(&him, &path, &path, &[("do", "end"), ("grant", &grant)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    for path in ["", "/appointments", "/messages", "/record"] {
        assert_eq!(
            status(&t, &carer, &format!("/patients/{marcus}{path}")).await,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    // A grant with a last day ends by itself.
    let until = (t.app.now() + SignedDuration::from_hours(24 * 3))
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .date()
        .to_string();
    let friend = invite_and_accept(
        &t,
        &him,
        marcus,
        "friend@example.test",
        &[
            ("relationship", "other"),
            ("scope", "full"),
            ("until", &until),
        ],
    )
    .await;
    assert_eq!(
        status(&t, &friend, &format!("/patients/{marcus}/record")).await,
        StatusCode::OK
    );
    t.advance(SignedDuration::from_hours(24 * 5));
    let friend = sign_in_password(&t, "friend@example.test").await;
    assert_eq!(
        status(&t, &friend, &format!("/patients/{marcus}")).await,
        StatusCode::NOT_FOUND
    );
    t.stop().await;
}

/// Leo's parent (the demo patient, full grant) under the rules of the 12 and 13 jurisdictions:
/// on the 12th birthday the health record closes (not under the 13 rules, which the admin puts
/// in force at once); on the 18th birthday everything ends. Pages and the FHIR API agree.
async fn a_parents_access_follows_the_age_rules_on_the_birthday(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let leo = t.patient("Leo Martinez");
    let api = |token: &str| Api {
        t: &t,
        token: token.to_string(),
    };
    // Leo was born on 2 July 2016; his birthdays start at midnight in the clinic's zone.
    let zone = t.app.config().appointments.zone.clone();
    let birthday = |years: i16| {
        jiff::civil::date(2016 + years, 7, 2)
            .to_zoned_datetime(zone.clone())
            .expect("a day")
            .timestamp()
    };
    // Twenty minutes before his 12th birthday the parent sees everything, and connects an app.
    t.advance((birthday(12) - SignedDuration::from_mins(20)).duration_since(t.app.now()));
    let parent = t.sign_in(Role::Patient).await;
    assert_eq!(
        status(&t, &parent, &format!("/patients/{leo}/record")).await,
        StatusCode::OK
    );
    let token = connect_app(&t, &parent, leo).await;
    assert_eq!(
        api(&token).get(&format!("/fhir/Patient/{leo}")).await.0,
        StatusCode::OK
    );
    // Ten minutes into the birthday: the health record is closed to her, pages and API alike.
    t.advance(SignedDuration::from_mins(30));
    let parent = t.sign_in(Role::Patient).await;
    assert_eq!(
        status(&t, &parent, &format!("/patients/{leo}/record")).await,
        StatusCode::NOT_FOUND
    );
    let limited = open(&t, &parent, &format!("/patients/{leo}/messages")).await;
    assert!(
        limited.contains("health record is not shared with you"),
        "{limited}"
    );
    assert_eq!(
        status(&t, &parent, &format!("/patients/{leo}/appointments")).await,
        StatusCode::OK
    );
    assert_eq!(
        api(&token).get(&format!("/fhir/Patient/{leo}")).await.0,
        StatusCode::NOT_FOUND,
        "her app reads nothing once she may not connect one"
    );
    // The admin puts the 13 rules in force: the record opens again at the next request.
    let admin = t.sign_in(Role::Admin).await;
    let rules = open(&t, &admin, "/admin/proxy-rules").await;
    assert!(
        rules.contains("US states with confidential care from 13"),
        "{rules}"
    );
    let thirteen = [
        ("jurisdiction", "US states with confidential care from 13"),
        ("from-0", "0"),
        ("until-0", "13"),
        ("reach-0", "full"),
        ("from-1", "13"),
        ("until-1", "18"),
        ("reach-1", "limited"),
        ("widen-1", "on"),
        ("from-2", "18"),
        ("until-2", ""),
        ("reach-2", "ended"),
        ("widen-2", "on"),
        ("confidential-sexual-reproductive", "on"),
        ("confidential-mental-health", "on"),
        ("confidential-substance-use", "on"),
        ("confidential-hiv", "on"),
        ("confidential-genetic", "on"),
    ];
    let r = t
        .post_form(
            &admin,
            "/admin/proxy-rules",
            "/admin/proxy-rules",
            &thirteen,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        status(&t, &parent, &format!("/patients/{leo}/record")).await,
        StatusCode::OK
    );
    assert_eq!(
        api(&token).get(&format!("/fhir/Patient/{leo}")).await.0,
        StatusCode::OK
    );
    // Rules with a gap are refused and change nothing.
    let mut gap = thirteen.to_vec();
    gap[4] = ("from-1", "14");
    let r = t
        .post_form(&admin, "/admin/proxy-rules", "/admin/proxy-rules", &gap)
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        status(&t, &parent, &format!("/patients/{leo}/record")).await,
        StatusCode::OK
    );
    // The patient's side's e-mails go to her while her grant reaches anything.
    let reaching = || async {
        let mut conn = t.app.store().pool().acquire().await.expect("connection");
        portal_store::access::proxies_reaching(&mut conn, leo, t.app.now())
            .await
            .expect("proxies")
    };
    let before = reaching().await;
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(before[0].email, t.account(Role::Patient).email);
    // On the 18th birthday a parent's grant ends, whatever the rules.
    t.advance(birthday(18).duration_since(t.app.now()));
    assert!(
        reaching().await.is_empty(),
        "no more e-mails to her about Leo"
    );
    let parent = t.sign_in(Role::Patient).await;
    for path in ["", "/messages", "/appointments"] {
        assert_eq!(
            status(&t, &parent, &format!("/patients/{leo}{path}")).await,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    t.stop().await;
}

/// Lena is 17. The front desk grants her mother access after checking her passport; by the age
/// rules it covers appointments and messages. Lena, from her own account, cannot end it (she can
/// ask the clinic to), gives her mother full access, and shares one confidential category with
/// her: everything else confidential stays invisible to her mother on every page, in downloads,
/// counts, the FHIR API and `$everything`. On Lena's 18th birthday her choice lapses and the
/// grant ends.
async fn a_teen_widens_a_parents_access_and_shares_one_category(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    t.app
        .import()
        .import_bundle(
            &Actor::operator(),
            crate::sensitivity::lena_bundle().to_string().as_bytes(),
        )
        .await
        .expect("Lena's record");
    let id: String = sqlx::query_scalar("SELECT id FROM patients WHERE mrn = 'TEST-LENA'")
        .fetch_one(t.app.store().pool())
        .await
        .expect("the record");
    let lena: PatientId = id.parse().expect("a patient id");
    let desk = t.sign_in(Role::Staff).await;
    let path = format!("/patients/{lena}/proxies");
    // Without the identity document noted, nothing is sent.
    let r = t
        .post_form(
            &desk,
            &path,
            &path,
            &[
                ("do", "invite"),
                ("email", "mum@example.test"),
                ("relationship", "parent"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .expect("page")
            .contains("Note the identity document")
    );
    assert_eq!(t.count("proxy_invitations").await, 0);
    let mum = invite_and_accept(
        &t,
        &desk,
        lena,
        "mum@example.test",
        &[("relationship", "parent"), ("document", "Passport")],
    )
    .await;
    let messages = open(&t, &mum, &format!("/patients/{lena}/messages")).await;
    assert!(messages.contains("as her parent"), "{messages}");
    assert_eq!(
        status(&t, &mum, &format!("/patients/{lena}/record")).await,
        StatusCode::NOT_FOUND
    );

    // A teenager's code makes no parent's grant: that takes the clinic's identity check.
    let code = activation_code(&t, lena).await;
    let as_parent = [
        ("code", code.as_str()),
        ("birth_date", "2009-04-02"),
        ("email", "sibling@example.test"),
        ("password", PASSWORD),
        ("whose", "child"),
        ("name", "Not A Parent"),
    ];
    let c = t.client();
    let r = t.post_form(&c, "/activate", "/activate", &as_parent).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        r.text()
            .await
            .expect("page")
            .contains("own account. For a parent")
    );
    // Lena's own account: she sees who holds access; the clinic's grant is not hers to end.
    let herself = sign_in_new_patient(&t, lena, "2009-04-02", "lena@example.test").await;
    // Nor is the clinic's invitation hers to cancel.
    let r = t
        .post_form(
            &desk,
            &path,
            &path,
            &[
                ("do", "invite"),
                ("email", "dad@example.test"),
                ("relationship", "parent"),
                ("document", "Passport"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let invitation: String =
        sqlx::query_scalar("SELECT id FROM proxy_invitations WHERE email = 'dad@example.test'")
            .fetch_one(t.app.store().pool())
            .await
            .expect("invitation");
    let cancel = [("do", "cancel-invitation"), ("grant", invitation.as_str())];
    let r = t.post_form(&herself, &path, &path, &cancel).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = t.post_form(&desk, &path, &path, &cancel).await;
    assert_eq!(r.status(), StatusCode::OK);
    let overview = open(&t, &herself, &path).await;
    assert!(overview.contains("Robin Ames") && overview.contains("Appointments and messages only"));
    assert!(
        overview.contains("Ask the clinic to remove Robin Ames"),
        "{overview}"
    );
    let grant = only_grant(&t, lena).await;
    let r = t
        .post_form(&herself, &path, &path, &[("do", "end"), ("grant", &grant)])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        status(&t, &mum, &format!("/patients/{lena}/messages")).await,
        StatusCode::OK
    );
    // She gives her mother full access: never the confidential items.
    let r = t
        .post_form(&herself, &path, &path, &[("do", "full"), ("grant", &grant)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let confidential = ["Alcohol use disorder", "HIV-1 RNA", "Sexual health screen"];
    let summary = open(&t, &mum, &format!("/patients/{lena}/record")).await;
    assert!(summary.contains("Asthma"), "{summary}");
    let results = open(&t, &mum, &format!("/patients/{lena}/results")).await;
    let file = open(&t, &mum, &format!("/patients/{lena}/download/record.json")).await;
    let home = open(&t, &mum, &format!("/patients/{lena}")).await;
    for words in confidential {
        for (page, html) in [
            ("summary", &summary),
            ("results", &results),
            ("file", &file),
        ] {
            assert!(!html.contains(words), "{page} leaves out {words}");
        }
    }
    assert!(
        !home.contains("new test result"),
        "no count of hidden results: {home}"
    );
    let own_home = open(&t, &herself, &format!("/patients/{lena}")).await;
    assert!(own_home.contains("new test result"), "{own_home}");
    // Her mother's app reads the same through the API.
    let api = Api {
        t: &t,
        token: connect_app(&t, &mum, lena).await,
    };
    let everything = api.all(&format!("/fhir/Patient/{lena}/$everything")).await;
    let text = serde_json::to_string(&everything).expect("json");
    assert!(text.contains("Asthma"), "{text}");
    for words in confidential {
        assert!(!text.contains(words), "$everything leaves out {words}");
    }
    let (code, conditions) = api.get(&format!("/fhir/Condition?patient={lena}")).await;
    assert_eq!(code, StatusCode::OK);
    assert!(!conditions.to_string().contains("Alcohol use disorder"));
    // She shares substance use with her mother, and only that.
    let r = t
        .post_form(
            &herself,
            &path,
            &path,
            &[
                ("do", "share"),
                ("grant", &grant),
                ("share-substance-use", "on"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let summary = open(&t, &mum, &format!("/patients/{lena}/record")).await;
    assert!(summary.contains("Alcohol use disorder"), "{summary}");
    let results = open(&t, &mum, &format!("/patients/{lena}/results")).await;
    assert!(!results.contains("HIV-1 RNA"), "{results}");
    let (_, conditions) = api.get(&format!("/fhir/Condition?patient={lena}")).await;
    assert!(conditions.to_string().contains("Alcohol use disorder"));
    // Her access log names her mother's reads, as her proxy.
    let log = open(&t, &herself, &format!("/patients/{lena}/access-log")).await;
    assert!(log.contains("Robin Ames"), "{log}");
    let as_proxy: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events e JOIN users u ON u.id = e.actor_id \
         WHERE u.email = 'mum@example.test' AND e.patient_id = $1 AND e.on_behalf_of = 'proxy-full'",
    )
    .bind(lena.to_string())
    .fetch_one(t.app.store().pool())
    .await
    .expect("count");
    assert!(as_proxy > 0, "her mother's reads are audited as her proxy");
    // The clinic may keep fewer categories from proxies under its rules: once HIV is not among
    // them, her mother sees the report of that result at her next request.
    let admin = t.sign_in(Role::Admin).await;
    let rules = [
        (
            "jurisdiction",
            "US common practice (confidential care from 12)",
        ),
        ("from-0", "0"),
        ("until-0", "12"),
        ("reach-0", "full"),
        ("from-1", "12"),
        ("until-1", "18"),
        ("reach-1", "limited"),
        ("widen-1", "on"),
        ("from-2", "18"),
        ("reach-2", "ended"),
        ("widen-2", "on"),
        ("confidential-sexual-reproductive", "on"),
        ("confidential-mental-health", "on"),
        ("confidential-substance-use", "on"),
        ("confidential-genetic", "on"),
    ];
    let r = t
        .post_form(&admin, "/admin/proxy-rules", "/admin/proxy-rules", &rules)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let results = open(&t, &mum, &format!("/patients/{lena}/results")).await;
    assert!(results.contains("Sexual health screen"), "{results}");
    // She asks the clinic to remove her mother; the front desk sees the request.
    let r = t
        .post_form(
            &herself,
            &path,
            &path,
            &[("do", "ask-removal"), ("grant", &grant)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let desk_view = open(&t, &desk, &path).await;
    assert!(
        desk_view.contains("The patient asked the clinic to remove this access"),
        "{desk_view}"
    );
    let basket = open(&t, &desk, "/inbasket?show=proxies").await;
    assert!(
        basket.contains(&format!("href=\"/patients/{lena}/proxies\"")),
        "the request waits in the front desk's in-basket: {basket}"
    );
    assert!(basket.contains("Asks to remove"));
    // On her 18th birthday her choice lapses with the clinic's grant.
    let zone = t.app.config().appointments.zone.clone();
    let adult = jiff::civil::date(2027, 4, 2)
        .to_zoned_datetime(zone)
        .expect("a day")
        .timestamp();
    t.advance(adult.duration_since(t.app.now()) + SignedDuration::from_mins(1));
    let mum = sign_in_password(&t, "mum@example.test").await;
    for page in ["", "/messages", "/record"] {
        assert_eq!(
            status(&t, &mum, &format!("/patients/{lena}{page}")).await,
            StatusCode::NOT_FOUND,
            "{page}"
        );
    }
    t.stop().await;
}

both_backends!(
    a_parent_activates_a_childs_code_on_an_account_of_their_own,
    each_scope_reaches_what_it_says_and_an_ended_grant_ends_at_once,
    a_parents_access_follows_the_age_rules_on_the_birthday,
    a_teen_widens_a_parents_access_and_shares_one_category,
);
