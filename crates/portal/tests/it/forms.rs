//! Every form refuses bad input with a 422 page whose message names the field, writes nothing,
//! keeps what the user typed (except passwords), and checks passwords exactly as typed.

use crate::both_backends;
use crate::helpers::{TestApp, location};
use portal_app::Actor;
use portal_app::types::PatientRow;
use portal_domain::{PatientId, Role};
use portal_store::Backend;
use reqwest::{Client, Response, StatusCode};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A password that passes every rule, for the fields a case does not test.
const GOOD_PASSWORD: &str = "violet kettle orbit 9";

async fn body(r: Response) -> String {
    r.text().await.expect("body")
}

/// The text shown next to a form field, if the page shows an error there.
fn field_error(html: &str, field: &str) -> Option<String> {
    let marker = format!("id=\"{field}-error\">");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find("</p>")?;
    Some(html[start..start + end].to_string())
}

/// Asserts a 422 page with an error at `field` whose message contains `words` (any case);
/// returns the page.
async fn refused_at(r: Response, field: &str, words: &str, case: &str) -> String {
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{case}");
    let html = body(r).await;
    let message = field_error(&html, field)
        .unwrap_or_else(|| panic!("{case}: no error shown at the {field} field"));
    assert!(
        message.to_lowercase().contains(&words.to_lowercase()),
        "{case}: the message at {field} is {message:?}"
    );
    html
}

/// Asserts that a typed value is back in its field and a typed password is nowhere on the page.
fn assert_kept(html: &str, kept: &[&str], passwords: &[&str], case: &str) {
    for value in kept.iter().filter(|v| !v.is_empty()) {
        assert!(
            html.contains(&format!("value=\"{value}\"")) || html.contains(&format!(">{value}<")),
            "{case}: {value:?} was not kept"
        );
    }
    for password in passwords.iter().filter(|p| !p.is_empty()) {
        assert!(!html.contains(password), "{case}: the password is echoed");
    }
}

/// Row counts of `tables`, to prove a refusal wrote nothing.
async fn counts(t: &TestApp, tables: &[&str]) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for table in tables {
        out.push((table.to_string(), t.count(table).await));
    }
    out
}

/// A password of `n` characters (Unicode scalar values) with spaces and an emoji in it.
fn password_of(n: usize) -> String {
    "Amber fjord 🐋 drifts 7 ".chars().cycle().take(n).collect()
}

/// A new patient record with a fresh activation code; returns its id and the code.
async fn invited_record(t: &TestApp, mrn: &str, given: &str, family: &str) -> (PatientId, String) {
    let operator = Actor::operator();
    let row = PatientRow {
        id: PatientId::new_v7(t.app.now()),
        mrn: mrn.into(),
        given_name: given.into(),
        family_name: family.into(),
        birth_date: "1990-06-15".into(),
        sex: "female".into(),
        deceased: None,
    };
    t.app
        .create_patient_record(&operator, &row)
        .await
        .expect("record created");
    let invitation = t
        .app
        .accounts()
        .invite(&operator, row.id)
        .await
        .expect("code issued");
    (row.id, invitation.code)
}

async fn password_step(t: &TestApp, c: &Client, email: &str, password: &str) -> Response {
    t.post_form(
        c,
        "/signin",
        "/signin",
        &[("email", email), ("password", password)],
    )
    .await
}

/// Waits (polling, with a deadline) for the reset e-mail and returns its /reset/<token> path.
async fn reset_link_for(t: &TestApp, email: &str) -> String {
    let dir = t.data_dir.path().join("mail");
    let list = || -> Vec<PathBuf> {
        std::fs::read_dir(&dir)
            .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default()
    };
    let seen = list();
    let c = t.client();
    let r = t
        .post_form(&c, "/reset", "/reset", &[("email", email)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for path in list().into_iter().filter(|p| !seen.contains(p)) {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_default()
                .replace("=\r\n", "");
            // The last line of the body: once it is there, the link before it is complete.
            if let Some(at) = text
                .contains("your password stays as it is.")
                .then(|| text.find("/reset/"))
                .flatten()
            {
                let token: String = text[at + 7..]
                    .chars()
                    .take_while(char::is_ascii_alphanumeric)
                    .collect();
                return format!("/reset/{token}");
            }
        }
        assert!(
            Instant::now() < deadline,
            "no reset e-mail was delivered within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn sign_in_form_names_the_field_at_fault(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let patient = t.account(Role::Patient).clone();
    let c = t.client();
    let tables = ["sessions", "throttle", "audit_events"];
    let before = counts(&t, &tables).await;
    for (case, email, password, field, words) in [
        (
            "empty e-mail",
            "",
            "Zebra-Quartz-Echo-17",
            "email",
            "E-mail is required",
        ),
        (
            "malformed e-mail",
            "patient.demo.portal.test",
            "Zebra-Quartz-Echo-17",
            "email",
            "E-mail must look like",
        ),
        (
            "empty password",
            patient.email.as_str(),
            "",
            "password",
            "Password is required",
        ),
    ] {
        let r = password_step(&t, &c, email, password).await;
        let html = refused_at(r, field, words, case).await;
        assert_kept(&html, &[email], &[password], case);
        assert_eq!(counts(&t, &tables).await, before, "{case}");
    }
    t.stop().await;
}

async fn activation_form_names_each_bad_field_and_keeps_what_was_typed(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let code = t.demo.activation.code.clone();
    let birth = t.demo.activation.birth_date.clone();
    let email = "m.chen@example.org";
    let c = t.client();
    let tables = ["users", "sessions", "activation_codes"];
    let before = counts(&t, &tables).await;
    let audited = t.count("audit_events").await;
    let cases: [(&str, &str, &str, &str, &str, &str, &str); 10] = [
        (
            "no code",
            "",
            &birth,
            email,
            GOOD_PASSWORD,
            "code",
            "Activation code is required",
        ),
        (
            "malformed code",
            "NOT-A-REAL-CODE",
            &birth,
            email,
            GOOD_PASSWORD,
            "code",
            "Activation code must be",
        ),
        (
            "unknown code",
            "ABCD-EFGH-JKMN-PQRS",
            &birth,
            email,
            GOOD_PASSWORD,
            "code",
            "Activation code is not valid",
        ),
        (
            "birth date not a date",
            &code,
            "31/11/1972",
            email,
            GOOD_PASSWORD,
            "birth_date",
            "Date of birth must be a real date",
        ),
        (
            "birth date in the future",
            &code,
            "2031-01-01",
            email,
            GOOD_PASSWORD,
            "birth_date",
            "Date of birth cannot be in the future",
        ),
        (
            "malformed e-mail",
            &code,
            &birth,
            "m.chen",
            GOOD_PASSWORD,
            "email",
            "E-mail must look like",
        ),
        (
            "short password",
            &code,
            &birth,
            email,
            "tiny#7x",
            "password",
            "Password must be at least 8",
        ),
        (
            "common password",
            &code,
            &birth,
            email,
            "Password1",
            "password",
            "Password is too common",
        ),
        (
            "password with the e-mail",
            &code,
            &birth,
            email,
            "m.chen@example.org!",
            "password",
            "Password must not contain",
        ),
        (
            "password with the name",
            &code,
            &birth,
            email,
            "Marcus rides bikes",
            "password",
            "Password must not contain",
        ),
    ];
    for (case, code, birth, email, password, field, words) in cases {
        let r = t.activate(&c, code, birth, email, password).await;
        let html = refused_at(r, field, words, case).await;
        assert_kept(&html, &[code, birth, email], &[password], case);
        assert_eq!(counts(&t, &tables).await, before, "{case}");
    }
    // Only the refusal of the unknown code reached the audit trail: the others never got past
    // the form.
    assert_eq!(t.count("audit_events").await, audited + 1);
    // None of that used up the code.
    let r = t.activate(&c, &code, &birth, email, GOOD_PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/signin?done=activated");
    t.stop().await;
}

async fn reset_request_with_a_bad_address_names_the_email_field(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let c = t.client();
    let tables = ["outbox", "reset_tokens", "throttle", "audit_events"];
    let before = counts(&t, &tables).await;
    for (case, email, words) in [
        ("empty", "", "E-mail is required"),
        (
            "malformed",
            "patient.demo.portal.test",
            "E-mail must look like",
        ),
        (
            "two at signs",
            "a@b@demo.portal.test",
            "E-mail must look like",
        ),
    ] {
        let r = t
            .post_form(&c, "/reset", "/reset", &[("email", email)])
            .await;
        let html = refused_at(r, "email", words, case).await;
        assert_kept(&html, &[email], &[], case);
        assert_eq!(counts(&t, &tables).await, before, "{case}");
    }
    t.stop().await;
}

async fn reset_form_refuses_a_short_password_and_keeps_the_link(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let patient = t.account(Role::Patient).clone();
    let link = reset_link_for(&t, &patient.email).await;
    let c = t.client();
    let tables = ["reset_tokens", "sessions", "audit_events"];
    let before = counts(&t, &tables).await;
    let r = t
        .post_form(&c, &link, &link, &[("new_password", "tiny#7x")])
        .await;
    let html = refused_at(r, "new_password", "at least 8", "short password").await;
    assert_kept(&html, &[], &["tiny#7x"], "short password");
    assert_eq!(counts(&t, &tables).await, before);
    let r = password_step(&t, &c, &patient.email, &patient.password).await;
    assert_eq!(location(&r), "/signin/second-factor", "old password kept");

    let fresh = t.client();
    let r = t
        .post_form(
            &fresh,
            &link,
            &link,
            &[("new_password", "copper meadow signal 7")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the link still works");
    t.stop().await;
}

async fn change_password_refuses_a_wrong_current_or_short_new_password(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let patient = t.account(Role::Patient).clone();
    let c = t.sign_in(Role::Patient).await;
    let other = t.sign_in(Role::Patient).await;
    let tables = ["sessions", "audit_events"];
    let before = counts(&t, &tables).await;
    for (case, current, new, field, words) in [
        (
            "wrong current password",
            "not-my-password-1",
            "saffron tide lamp 31",
            "current_password",
            "Current password is not right",
        ),
        (
            "short new password",
            patient.password.as_str(),
            "tiny#7x",
            "new_password",
            "Password must be at least 8",
        ),
        (
            "common new password",
            patient.password.as_str(),
            "Password1",
            "new_password",
            "Password is too common",
        ),
    ] {
        let r = t
            .post_form(
                &c,
                "/account",
                "/account/password",
                &[("current_password", current), ("new_password", new)],
            )
            .await;
        let html = refused_at(r, field, words, case).await;
        assert_kept(&html, &[], &[current, new], case);
        assert_eq!(counts(&t, &tables).await, before, "{case}");
    }
    assert_eq!(t.get(&other, "/account").await.status(), StatusCode::OK);
    let fresh = t.client();
    let r = password_step(&t, &fresh, &patient.email, "saffron tide lamp 31").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "not changed");
    let r = password_step(&t, &fresh, &patient.email, &patient.password).await;
    assert_eq!(location(&r), "/signin/second-factor", "old password kept");
    t.stop().await;
}

async fn admin_new_account_form_names_each_bad_field(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let admin = t.sign_in(Role::Admin).await;
    let tables = ["users", "audit_events"];
    let before = counts(&t, &tables).await;
    for (case, name, email, role, field, words) in [
        (
            "malformed e-mail",
            "Nia Park",
            "nia.park",
            "clinician",
            "email",
            "E-mail must look like",
        ),
        (
            "empty name",
            "",
            "nia.park@clinic.test",
            "clinician",
            "name",
            "Name is required",
        ),
        (
            "role patient",
            "Nia Park",
            "nia.park@clinic.test",
            "patient",
            "role",
            "Role must be",
        ),
        (
            "role root",
            "Nia Park",
            "nia.park@clinic.test",
            "root",
            "role",
            "Role must be",
        ),
        (
            "e-mail in use",
            "Nia Park",
            "staff@demo.portal.test",
            "clinician",
            "email",
            "E-mail is already used",
        ),
        (
            "e-mail in use, other case",
            "Nia Park",
            "Staff@Demo.Portal.Test",
            "staff",
            "email",
            "E-mail is already used",
        ),
    ] {
        let r = t
            .post_form(
                &admin,
                "/admin/users",
                "/admin/users",
                &[("name", name), ("email", email), ("role", role)],
            )
            .await;
        let html = refused_at(r, field, words, case).await;
        assert_kept(&html, &[name, email], &[], case);
        assert_eq!(counts(&t, &tables).await, before, "{case}");
    }
    let r = t
        .post_form(
            &admin,
            "/admin/users",
            "/admin/users",
            &[
                ("name", "Nia Park"),
                ("email", "nia.park@clinic.test"),
                ("role", "clinician"),
            ],
        )
        .await;
    assert_eq!(location(&r), "/admin/users?done=created");
    // The new clinician gets a set-up link by e-mail; the admin saw no password at all.
    let mail: String = sqlx::query_scalar("SELECT subject FROM outbox WHERE recipient = $1")
        .bind("nia.park@clinic.test")
        .fetch_one(t.app.store().pool())
        .await
        .expect("set-up e-mail");
    assert!(mail.starts_with("Set up your"), "{mail}");
    t.stop().await;
}

async fn break_glass_form_names_each_bad_field(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let clinician = t.sign_in(Role::Clinician).await;
    let marcus = t.patient("Marcus Chen");
    let tables = ["break_glass", "audit_events"];
    let reason = "Seen in the emergency department tonight";
    for (case, mrn, why, field, words) in [
        (
            "empty MRN",
            "",
            reason,
            "mrn",
            "Medical record number is required",
        ),
        (
            "short reason",
            "DEMO-1003",
            "urgent",
            "reason",
            "Reason must say why",
        ),
        (
            "unknown MRN",
            "DEMO-9999",
            reason,
            "mrn",
            "medical record number",
        ),
    ] {
        // Taken for each case: the 404 probe below is itself audited as a refused read.
        let before = counts(&t, &tables).await;
        let r = t
            .post_form(
                &clinician,
                "/patients",
                "/patients/break-glass",
                &[("mrn", mrn), ("reason", why)],
            )
            .await;
        let html = refused_at(r, field, words, case).await;
        assert_kept(&html, &[mrn, why], &[], case);
        // A refused attempt at an unknown MRN is itself written down (as denied); bad fields
        // never get that far.
        let mut expected = before.clone();
        if case == "unknown MRN" {
            for (table, n) in expected.iter_mut() {
                if *table == "audit_events" {
                    *n += 1;
                }
            }
            let outcome: String =
                sqlx::query_scalar("SELECT outcome FROM audit_events ORDER BY seq DESC LIMIT 1")
                    .fetch_one(t.app.store().pool())
                    .await
                    .expect("latest event");
            assert_eq!(outcome, "denied", "{case}");
        }
        assert_eq!(counts(&t, &tables).await, expected, "{case}");
        assert_eq!(
            t.get(&clinician, &format!("/patients/{marcus}"))
                .await
                .status(),
            StatusCode::NOT_FOUND,
            "{case}: no access was opened"
        );
    }
    t.stop().await;
}

async fn second_factor_code_with_letters_is_refused_at_the_code_field(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let patient = t.account(Role::Patient).clone();
    let c = t.client();
    let r = password_step(&t, &c, &patient.email, &patient.password).await;
    assert_eq!(location(&r), "/signin/second-factor");
    let tables = ["sessions", "throttle"];
    let before = counts(&t, &tables).await;
    for (case, code) in [
        ("letters", "abcdef"),
        ("too few digits", "12345"),
        ("empty", ""),
    ] {
        let r = t
            .post_form(
                &c,
                "/signin/second-factor",
                "/signin/second-factor",
                &[("code", code)],
            )
            .await;
        refused_at(r, "code", "Code", case).await;
        assert_eq!(counts(&t, &tables).await, before, "{case}");
        assert_eq!(
            location(&t.get(&c, "/account").await),
            "/signin/second-factor",
            "{case}: still not signed in"
        );
    }
    t.stop().await;
}

async fn passwords_are_checked_exactly_as_typed(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let code = t.demo.activation.code.clone();
    let birth = t.demo.activation.birth_date.clone();
    let typed = "  Lantern harbour 🌊🦀 drift  ";
    let c = t.client();
    let r = t
        .activate(&c, &code, &birth, "m.chen@example.org", typed)
        .await;
    assert_eq!(location(&r), "/signin?done=activated");
    for (case, variant) in [
        ("other case", "  lantern harbour 🌊🦀 drift  "),
        ("upper case", "  LANTERN HARBOUR 🌊🦀 DRIFT  "),
        ("trimmed", "Lantern harbour 🌊🦀 drift"),
        ("without the emoji", "  Lantern harbour  drift  "),
    ] {
        let r = password_step(&t, &c, "m.chen@example.org", variant).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{case}");
    }
    let r = password_step(&t, &c, "m.chen@example.org", typed).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");
    t.stop().await;
}

async fn passwords_of_128_and_256_characters_are_accepted_at_activation(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let (_, second_code) = invited_record(&t, "TEST-2001", "Ada", "Quill").await;
    for (n, code, email) in [
        (128, t.demo.activation.code.clone(), "m.chen@example.org"),
        (256, second_code.clone(), "ada.quill@example.org"),
    ] {
        let birth = if n == 128 {
            t.demo.activation.birth_date.clone()
        } else {
            "1990-06-15".to_string()
        };
        let password = password_of(n);
        assert_eq!(password.chars().count(), n);
        let c = t.client();
        let r = t.activate(&c, &code, &birth, email, &password).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{n} characters");
        // No truncation: one character short does not open the account.
        let shorter: String = password.chars().take(n - 1).collect();
        let r = password_step(&t, &c, email, &shorter).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{n} - 1");
        let r = password_step(&t, &c, email, &password).await;
        assert_eq!(location(&r), "/", "{n} characters sign in");
    }

    // One more than the longest is refused at the password field.
    let (_, third_code) = invited_record(&t, "TEST-2002", "Bo", "Reed").await;
    let users = t.count("users").await;
    let c = t.client();
    let too_long = password_of(257);
    let r = t
        .activate(
            &c,
            &third_code,
            "1990-06-15",
            "bo.reed@example.org",
            &too_long,
        )
        .await;
    let html = refused_at(r, "password", "at most 256", "257 characters").await;
    assert_kept(
        &html,
        &["bo.reed@example.org"],
        &[&too_long],
        "257 characters",
    );
    assert_eq!(t.count("users").await, users);
    t.stop().await;
}

async fn privileged_fields_at_activation_are_ignored(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let marcus = t.patient("Marcus Chen");
    let sofia_id = sofia.to_string();
    let c = t.client();
    let r = t
        .post_form(
            &c,
            "/activate",
            "/activate",
            &[
                ("code", &t.demo.activation.code),
                ("birth_date", &t.demo.activation.birth_date),
                ("email", "m.chen@example.org"),
                ("password", GOOD_PASSWORD),
                ("role", "admin"),
                ("patient_id", &sofia_id),
                ("is_admin", "true"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = password_step(&t, &c, "m.chen@example.org", GOOD_PASSWORD).await;
    assert_eq!(location(&r), "/");
    let r = t.get(&c, "/").await;
    assert_eq!(
        location(&r),
        format!("/patients/{marcus}"),
        "the code's record"
    );
    let home = body(t.get(&c, &format!("/patients/{marcus}")).await).await;
    assert!(home.contains("<span class=\"role\">Patient</span>"));
    assert_eq!(
        t.get(&c, &format!("/patients/{sofia}")).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        t.get(&c, "/admin/users").await.status(),
        StatusCode::FORBIDDEN
    );
    t.stop().await;
}

both_backends!(
    sign_in_form_names_the_field_at_fault,
    activation_form_names_each_bad_field_and_keeps_what_was_typed,
    reset_request_with_a_bad_address_names_the_email_field,
    reset_form_refuses_a_short_password_and_keeps_the_link,
    change_password_refuses_a_wrong_current_or_short_new_password,
    admin_new_account_form_names_each_bad_field,
    break_glass_form_names_each_bad_field,
    second_factor_code_with_letters_is_refused_at_the_code_field,
    passwords_are_checked_exactly_as_typed,
    passwords_of_128_and_256_characters_are_accepted_at_activation,
    privileged_fields_at_activation_are_ignored,
);
