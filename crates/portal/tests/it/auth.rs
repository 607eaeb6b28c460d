//! Sign-in as a user meets it: passwords, lockouts, the second factor, activation codes and
//! password resets, on both backends.

use crate::both_backends;
use crate::helpers::{TestApp, location};
use jiff::SignedDuration;
use portal_app::accounts::NewStaffAccount;
use portal_app::{Actor, Clock, totp};
use portal_domain::Role;
use portal_store::Backend;
use reqwest::{Client, Response, StatusCode};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The last line of the reset e-mail's body: once it is in the file, the whole message is.
const RESET_MAIL_END: &str = "your password stays as it is.";

pub(crate) async fn body(r: Response) -> String {
    r.text().await.expect("body")
}

/// The password step, through the sign-in form.
pub(crate) async fn password_step(
    t: &TestApp,
    c: &Client,
    email: &str,
    password: &str,
) -> Response {
    t.post_form(
        c,
        "/signin",
        "/signin",
        &[("email", email), ("password", password)],
    )
    .await
}

/// The second-factor step, through its form.
pub(crate) async fn code_step(t: &TestApp, c: &Client, code: &str) -> Response {
    t.post_form(
        c,
        "/signin/second-factor",
        "/signin/second-factor",
        &[("code", code)],
    )
    .await
}

/// The TOTP code `steps` time steps away from the portal's current time.
pub(crate) fn code_at(t: &TestApp, secret_b32: &str, steps: i64) -> String {
    let secret = data_encoding::BASE32_NOPAD
        .decode(secret_b32.as_bytes())
        .expect("base32 secret");
    totp::code_for_step(&secret, totp::step_at(t.clock.now()) + steps)
}

/// The text shown next to a form field, if the page shows an error there.
fn field_error(html: &str, field: &str) -> Option<String> {
    let marker = format!("id=\"{field}-error\">");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find("</p>")?;
    Some(html[start..start + end].to_string())
}

/// The value of the hidden or text input called `name`.
fn input_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_string())
}

/// The whole minutes a "Try again in N minutes" page asks the user to wait.
pub(crate) fn minutes_to_wait(html: &str) -> i64 {
    let start = html
        .find("Try again in ")
        .unwrap_or_else(|| panic!("no 'Try again in N minutes' on the page: {html}"))
        + "Try again in ".len();
    let digits: String = html[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert!(
        html[start + digits.len()..].starts_with(" minute"),
        "the wait is not given in minutes"
    );
    digits.parse().expect("a number of minutes")
}

/// Sign-in events with a given outcome in the audit trail.
async fn sign_in_events(t: &TestApp, outcome: &str) -> i64 {
    use sqlx::Row;
    sqlx::query("SELECT COUNT(*) AS n FROM audit_events WHERE action = 'sign-in' AND outcome = $1")
        .bind(outcome)
        .fetch_one(t.app.store().pool())
        .await
        .expect("count audit events")
        .try_get("n")
        .expect("n")
}

/// Follows the portal's redirects from `path` (at most 5) and returns the last answer's status,
/// its path and its body.
async fn follow(t: &TestApp, c: &Client, path: &str) -> (StatusCode, String, String) {
    let mut path = path.to_string();
    for _ in 0..5 {
        let r = t.get(c, &path).await;
        if !r.status().is_redirection() {
            return (r.status(), path, body(r).await);
        }
        path = location(&r);
    }
    panic!("more than 5 redirects from {path}");
}

/// The `.eml` files the outbox worker has written.
pub(crate) fn mail_files(t: &TestApp) -> Vec<PathBuf> {
    let dir = t.data_dir.path().join("mail");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Waits (polling, with a deadline) for a reset e-mail that is not among `seen`.
pub(crate) async fn next_reset_mail(t: &TestApp, seen: &[PathBuf]) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for path in mail_files(t) {
            if seen.contains(&path) {
                continue;
            }
            if let Ok(text) = std::fs::read_to_string(&path) {
                let text = text.replace("=\r\n", "");
                if text.contains(RESET_MAIL_END) {
                    return text;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "no reset e-mail was delivered within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The path of the reset link in an e-mail: /reset/<token>.
pub(crate) fn reset_path_in(mail: &str) -> String {
    let start = mail.find("/reset/").expect("a /reset/ link in the e-mail") + "/reset/".len();
    let token: String = mail[start..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    assert!(token.len() >= 32, "the reset token is long: {token}");
    format!("/reset/{token}")
}

/// Asks for a reset of `email` and returns the link path from the delivered e-mail.
pub(crate) async fn reset_link_for(t: &TestApp, email: &str) -> String {
    let seen = mail_files(t);
    let c = t.client();
    let r = t
        .post_form(&c, "/reset", "/reset", &[("email", email)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    reset_path_in(&next_reset_mail(t, &seen).await)
}

/// Whether a response sets a non-empty session cookie.
fn sets_a_session(r: &Response) -> bool {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.strip_prefix("portal_session="))
        .any(|rest| !rest.starts_with(';') && !rest.is_empty())
}

async fn wrong_password_and_unknown_account_get_the_same_answer(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let patient = t.account(Role::Patient).clone();
    let c = t.client();
    let sessions = t.count("sessions").await;
    let denied = sign_in_events(&t, "denied").await;

    let wrong = password_step(&t, &c, &patient.email, "not-her-password-at-all").await;
    let wrong_status = wrong.status();
    let wrong_body = body(wrong).await.replace(&patient.email, "EMAIL");
    assert_eq!(sign_in_events(&t, "denied").await, denied + 1);

    let unknown = password_step(&t, &c, "nobody@demo.portal.test", "not-her-password-at-all").await;
    let unknown_status = unknown.status();
    let unknown_body = body(unknown)
        .await
        .replace("nobody@demo.portal.test", "EMAIL");
    assert_eq!(sign_in_events(&t, "denied").await, denied + 2);

    assert_eq!(wrong_status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown_status, wrong_status);
    assert_eq!(unknown_body, wrong_body, "the two answers differ");
    assert!(wrong_body.contains("E-mail or password is not right."));
    assert_eq!(t.count("sessions").await, sessions, "no session opened");
    t.stop().await;
}

async fn five_wrong_passwords_lock_the_account_until_the_lock_runs_out(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let patient = t.account(Role::Patient).clone();
    let c = t.client();
    for attempt in 1..=5 {
        let r = password_step(&t, &c, &patient.email, "wrong-password-guess").await;
        assert_eq!(
            r.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "attempt {attempt}"
        );
    }
    let sessions = t.count("sessions").await;
    let denied = sign_in_events(&t, "denied").await;
    let r = password_step(&t, &c, &patient.email, &patient.password).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(!sets_a_session(&r));
    let html = body(r).await;
    let minutes = minutes_to_wait(&html);
    assert!((1..=15).contains(&minutes), "wait of {minutes} minutes");
    assert_eq!(t.count("sessions").await, sessions, "no session opened");
    assert_eq!(
        sign_in_events(&t, "denied").await,
        denied + 1,
        "the refusal is audited"
    );

    t.advance(SignedDuration::from_mins(minutes) + SignedDuration::from_secs(1));
    let r = password_step(&t, &c, &patient.email, &patient.password).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/signin/second-factor");
    t.stop().await;
}

async fn a_locked_unknown_account_looks_like_a_locked_real_one(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let patient = t.account(Role::Patient).clone();
    let mut answers = Vec::new();
    for email in [patient.email.as_str(), "nobody@demo.portal.test"] {
        let c = t.client();
        for attempt in 1..=5 {
            let r = password_step(&t, &c, email, "wrong-password-guess").await;
            assert_eq!(
                r.status(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{email}, attempt {attempt}"
            );
        }
        let r = password_step(&t, &c, email, "wrong-password-guess").await;
        answers.push((r.status(), body(r).await));
    }
    assert_eq!(answers[0].0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answers[0], answers[1], "the lockouts differ");
    t.stop().await;
}

async fn twenty_failures_from_one_address_lock_unknown_accounts(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let c = t.client();
    let csrf = t.csrf_from(&c, "/signin").await;
    for i in 0..20 {
        // A forged X-Forwarded-For does not make each attempt look like a new address.
        let r = c
            .post(format!("{}/signin", t.url))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .form(&[
                ("email", format!("sprayed{i}@demo.portal.test").as_str()),
                ("password", "Summer2027!"),
                ("csrf", csrf.as_str()),
            ])
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "attempt {i}");
    }
    // Another unknown account behind the address is refused without a check.
    let sessions = t.count("sessions").await;
    let r = password_step(&t, &c, "sprayed-again@demo.portal.test", "Summer2027!").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let minutes = minutes_to_wait(&body(r).await);
    assert_eq!(t.count("sessions").await, sessions, "no session opened");

    t.advance(SignedDuration::from_mins(minutes) + SignedDuration::from_secs(1));
    let r = password_step(&t, &c, "sprayed-again@demo.portal.test", "Summer2027!").await;
    assert_eq!(
        r.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "the lock ran out"
    );
    t.stop().await;
}

async fn second_factor_cannot_be_skipped_by_going_elsewhere(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let patient = t.account(Role::Patient).clone();
    let sofia = t.patient("Sofia Martinez");
    let leo = t.patient("Leo Martinez");
    let c = t.client();
    let r = password_step(&t, &c, &patient.email, &patient.password).await;
    assert_eq!(location(&r), "/signin/second-factor");

    for path in [
        format!("/patients/{sofia}"),
        format!("/patients/{sofia}/record"),
        format!("/patients/{leo}/medications"),
        "/account".to_string(),
        "/".to_string(),
    ] {
        let r = t.get(&c, &path).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&r), "/signin/second-factor", "{path}");
        let html = body(r).await;
        assert!(
            !html.contains("Sofia") && !html.contains("1985-03-14"),
            "{path} shows data"
        );
    }

    // A state change with the half-finished session's own token is refused too.
    let page = body(t.get(&c, "/signin/second-factor").await).await;
    let csrf = input_value(&page, "csrf").expect("csrf on the code page");
    let sessions = t.count("sessions").await;
    let r = c
        .post(format!("{}/account/sessions/end-others", t.url))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/signin/second-factor");
    assert_eq!(t.count("sessions").await, sessions);
    t.stop().await;
}

async fn a_totp_code_is_accepted_once_only(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let patient = t.account(Role::Patient).clone();
    let code = t.totp_code(&patient.totp_secret);

    let first = t.client();
    password_step(&t, &first, &patient.email, &patient.password).await;
    let r = code_step(&t, &first, &code).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");

    // Same code, same 30-second step, a new sign-in: refused.
    t.advance(SignedDuration::from_secs(5));
    let second = t.client();
    password_step(&t, &second, &patient.email, &patient.password).await;
    let sessions = t.count("sessions").await;
    let denied = sign_in_events(&t, "denied").await;
    let r = code_step(&t, &second, &code).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!sets_a_session(&r));
    let html = body(r).await;
    let message = field_error(&html, "code").expect("an error at the code field");
    assert!(message.contains("already used"), "{message}");
    assert_eq!(t.count("sessions").await, sessions, "no session opened");
    assert_eq!(sign_in_events(&t, "denied").await, denied + 1);
    assert_eq!(
        location(&t.get(&second, "/account").await),
        "/signin/second-factor",
        "still not signed in"
    );
    t.stop().await;
}

async fn codes_one_step_away_are_accepted_and_two_steps_away_refused(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let patient = t.account(Role::Patient).clone();
    let c = t.client();
    password_step(&t, &c, &patient.email, &patient.password).await;
    for steps in [-2, 2] {
        let sessions = t.count("sessions").await;
        let r = code_step(&t, &c, &code_at(&t, &patient.totp_secret, steps)).await;
        assert_eq!(
            r.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{steps} steps away"
        );
        assert_eq!(t.count("sessions").await, sessions);
    }
    let r = code_step(&t, &c, &code_at(&t, &patient.totp_secret, -1)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "one step behind");
    assert_eq!(t.get(&c, "/account").await.status(), StatusCode::OK);

    let later = t.client();
    password_step(&t, &later, &patient.email, &patient.password).await;
    let r = code_step(&t, &later, &code_at(&t, &patient.totp_secret, 1)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "one step ahead");
    assert_eq!(t.get(&later, "/account").await.status(), StatusCode::OK);
    t.stop().await;
}

/// Enrols a new authenticator from the account page, proving the current one with a code from
/// `current_secret`; returns the new secret (base32) and the recovery codes shown.
async fn enrol_new_authenticator(
    t: &TestApp,
    c: &Client,
    password: &str,
    current_secret: &str,
) -> (String, Vec<String>) {
    // The sign-in used this step's code of the current app; codes work once.
    t.advance(SignedDuration::from_secs(30));
    let current_code = t.totp_code(current_secret);
    let page = body(t.get(c, "/account/second-factor").await).await;
    let sealed = input_value(&page, "secret").expect("sealed secret in the form");
    let csrf = input_value(&page, "csrf").expect("csrf in the form");
    let key_start = page.find("<code class=\"key\">").expect("manual key") + 18;
    let key_end = key_start + page[key_start..].find("</code>").expect("end of key");
    let secret: String = page[key_start..key_end].replace(' ', "");
    let code = t.totp_code(&secret);
    let r = c
        .post(format!("{}/account/second-factor", t.url))
        .form(&[
            ("csrf", csrf.as_str()),
            ("secret", sealed.as_str()),
            ("current_password", password),
            ("current_code", current_code.as_str()),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::OK);
    let html = body(r).await;
    assert!(html.contains("Save your recovery codes"));
    let codes: Vec<String> = html
        .split("<li><code>")
        .skip(1)
        .filter_map(|rest| rest.split_once("</code>").map(|(c, _)| c.to_string()))
        .collect();
    assert_eq!(codes.len(), 10, "ten recovery codes");
    (secret, codes)
}

async fn a_recovery_code_signs_in_once(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let patient = t.account(Role::Patient).clone();
    let c = t.sign_in(Role::Patient).await;
    let (_, codes) = enrol_new_authenticator(&t, &c, &patient.password, &patient.totp_secret).await;

    let recovering = t.client();
    password_step(&t, &recovering, &patient.email, &patient.password).await;
    let r = code_step(&t, &recovering, &codes[0]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");
    let account = body(t.get(&recovering, "/account").await).await;
    assert!(account.contains("9 recovery codes left"), "one code used");

    let again = t.client();
    password_step(&t, &again, &patient.email, &patient.password).await;
    let sessions = t.count("sessions").await;
    let r = code_step(&t, &again, &codes[0]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!sets_a_session(&r));
    assert_eq!(t.count("sessions").await, sessions);
    assert_eq!(
        location(&t.get(&again, "/account").await),
        "/signin/second-factor"
    );
    t.stop().await;
}

async fn a_new_authenticator_voids_the_old_recovery_codes(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let patient = t.account(Role::Patient).clone();
    let c = t.sign_in(Role::Patient).await;
    let (first_secret, old_codes) =
        enrol_new_authenticator(&t, &c, &patient.password, &patient.totp_secret).await;
    let (new_secret, new_codes) =
        enrol_new_authenticator(&t, &c, &patient.password, &first_secret).await;
    assert!(old_codes.iter().all(|code| !new_codes.contains(code)));

    let other = t.client();
    password_step(&t, &other, &patient.email, &patient.password).await;
    let r = code_step(&t, &other, &old_codes[0]).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "old code");
    t.advance(SignedDuration::from_secs(30));
    let r = code_step(&t, &other, &t.totp_code(&patient.totp_secret)).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "old app");
    let r = code_step(&t, &other, &t.totp_code(&new_secret)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "new app");
    t.stop().await;
}

async fn a_new_authenticator_needs_a_code_from_the_current_one(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let patient = t.account(Role::Patient).clone();
    let c = t.sign_in(Role::Patient).await;
    let page = body(t.get(&c, "/account/second-factor").await).await;
    assert!(page.contains("Code from your current authenticator app"));
    let sealed = input_value(&page, "secret").expect("sealed secret");
    let csrf = input_value(&page, "csrf").expect("csrf");
    let key_start = page.find("<code class=\"key\">").expect("manual key") + 18;
    let key_end = key_start + page[key_start..].find("</code>").expect("end of key");
    let new_secret = page[key_start..key_end].replace(' ', "");
    let audit = t.count("audit_events").await;
    for wrong in ["", "000000", "ABCDEFGHJK"] {
        let r = c
            .post(format!("{}/account/second-factor", t.url))
            .form(&[
                ("csrf", csrf.as_str()),
                ("secret", sealed.as_str()),
                ("current_password", patient.password.as_str()),
                ("current_code", wrong),
                ("code", t.totp_code(&new_secret).as_str()),
            ])
            .send()
            .await
            .expect("POST");
        assert_eq!(
            r.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "current code {wrong:?}"
        );
        let html = body(r).await;
        let message = field_error(&html, "current_code").expect("error at the current code");
        assert!(message.contains("current authenticator"), "{message}");
    }
    assert_eq!(t.count("audit_events").await, audit, "nothing changed");
    t.stop().await;
}

async fn a_new_authenticator_needs_the_current_password(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let patient = t.account(Role::Patient).clone();
    let c = t.sign_in(Role::Patient).await;
    let page = body(t.get(&c, "/account/second-factor").await).await;
    let sealed = input_value(&page, "secret").expect("sealed secret");
    let csrf = input_value(&page, "csrf").expect("csrf");
    let key_start = page.find("<code class=\"key\">").expect("manual key") + 18;
    let key_end = key_start + page[key_start..].find("</code>").expect("end of key");
    let new_secret = page[key_start..key_end].replace(' ', "");
    let audit = t.count("audit_events").await;
    let r = c
        .post(format!("{}/account/second-factor", t.url))
        .form(&[
            ("csrf", csrf.as_str()),
            ("secret", sealed.as_str()),
            ("current_password", "not-the-password"),
            ("code", t.totp_code(&new_secret).as_str()),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = body(r).await;
    let message = field_error(&html, "current_password").expect("error at current password");
    assert!(message.contains("Current password"), "{message}");
    assert!(!html.contains("Save your recovery codes"));
    assert_eq!(t.count("audit_events").await, audit, "nothing changed");

    // The old authenticator still works; the new one was never turned on.
    t.advance(SignedDuration::from_secs(30));
    let other = t.client();
    password_step(&t, &other, &patient.email, &patient.password).await;
    let r = code_step(&t, &other, &t.totp_code(&new_secret)).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = code_step(&t, &other, &t.totp_code(&patient.totp_secret)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    t.stop().await;
}

async fn five_wrong_codes_lock_the_second_factor(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let patient = t.account(Role::Patient).clone();
    let c = t.client();
    password_step(&t, &c, &patient.email, &patient.password).await;
    for attempt in 1..=5 {
        let wrong = code_at(&t, &patient.totp_secret, 10 + attempt);
        let r = code_step(&t, &c, &wrong).await;
        assert_eq!(
            r.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "attempt {attempt}"
        );
    }
    let sessions = t.count("sessions").await;
    let r = code_step(&t, &c, &t.totp_code(&patient.totp_secret)).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(!sets_a_session(&r));
    let minutes = minutes_to_wait(&body(r).await);
    assert_eq!(t.count("sessions").await, sessions);
    assert_eq!(
        location(&t.get(&c, "/account").await),
        "/signin/second-factor"
    );

    // A fresh sign-in does not get round the lock either.
    let other = t.client();
    password_step(&t, &other, &patient.email, &patient.password).await;
    let r = code_step(&t, &other, &t.totp_code(&patient.totp_secret)).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);

    t.advance(SignedDuration::from_mins(minutes) + SignedDuration::from_secs(1));
    let r = code_step(&t, &c, &t.totp_code(&patient.totp_secret)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(t.get(&c, "/account").await.status(), StatusCode::OK);
    t.stop().await;
}

async fn clinic_accounts_without_an_authenticator_must_enrol_first(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let password = "quiet lantern harbour 42";
    let new = NewStaffAccount::parse("nia.park@clinic.test", "Nia Park", "clinician")
        .expect("valid staff account");
    let created = t
        .app
        .accounts()
        .create_staff_account(&Actor::operator(), new)
        .await
        .expect("account created");
    // The person chooses the password through the set-up link.
    let c = t.client();
    let link = reset_path_in(&created.setup_link);
    let r = t
        .post_form(&c, &link, &link, &[("new_password", password)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    let r = password_step(&t, &c, "nia.park@clinic.test", password).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/signin/enrol");
    for path in [
        "/",
        "/inbasket",
        "/patients",
        "/account",
        "/signin/second-factor",
    ] {
        let (status, landed, html) = follow(&t, &c, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(landed, "/signin/enrol", "{path}");
        assert!(html.contains("Set up your authenticator app"));
    }

    let page = body(t.get(&c, "/signin/enrol").await).await;
    let sealed = input_value(&page, "secret").expect("sealed secret");
    let key_start = page.find("<code class=\"key\">").expect("manual key") + 18;
    let key_end = key_start + page[key_start..].find("</code>").expect("end of key");
    let secret = page[key_start..key_end].replace(' ', "");
    let r = t
        .post_form(
            &c,
            "/signin/enrol",
            "/signin/enrol",
            &[("secret", &sealed), ("code", &t.totp_code(&secret))],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(sets_a_session(&r), "a new session after enrolment");
    assert!(body(r).await.contains("Save your recovery codes"));
    assert_eq!(t.get(&c, "/inbasket").await.status(), StatusCode::OK);
    t.stop().await;
}

async fn activation_creates_a_patient_account_that_can_sign_in(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let activation = t.demo.activation.clone();
    let marcus = t.patient("Marcus Chen");
    let users = t.count("users").await;
    let c = t.client();
    // The birth date as people in the clinic's locale type it: 11/05/1972 for 1972-11-05.
    let iso: Vec<&str> = activation.birth_date.split('-').collect();
    let typed = format!("{}/{}/{}", iso[1], iso[2], iso[0]);
    let r = t
        .post_form(
            &c,
            "/activate",
            "/activate",
            &[
                ("code", &activation.code),
                ("birth_date", &typed),
                ("email", "m.chen@example.org"),
                ("password", "violet kettle orbit 9"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/signin?done=activated");
    assert_eq!(t.count("users").await, users + 1);

    let r = password_step(&t, &c, "m.chen@example.org", "violet kettle orbit 9").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let (status, landed, html) = follow(&t, &c, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(landed, format!("/patients/{marcus}"));
    assert!(html.contains("Marcus"));

    // The same code a second time: refused at the code field, no account written.
    let other = t.client();
    let r = t
        .post_form(
            &other,
            "/activate",
            "/activate",
            &[
                ("code", &activation.code),
                ("birth_date", &activation.birth_date),
                ("email", "someone.else@example.org"),
                ("password", "violet kettle orbit 10"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let message = field_error(&body(r).await, "code").expect("error at the code field");
    assert!(message.contains("Activation code"), "{message}");
    assert_eq!(t.count("users").await, users + 1);
    t.stop().await;
}

async fn an_expired_activation_code_is_refused(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let activation = t.demo.activation.clone();
    t.advance(SignedDuration::from_hours(15 * 24));
    let users = t.count("users").await;
    let c = t.client();
    let r = t
        .post_form(
            &c,
            "/activate",
            "/activate",
            &[
                ("code", &activation.code),
                ("birth_date", &activation.birth_date),
                ("email", "m.chen@example.org"),
                ("password", "violet kettle orbit 9"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let message = field_error(&body(r).await, "code").expect("error at the code field");
    assert!(message.contains("Activation code"), "{message}");
    assert_eq!(t.count("users").await, users);
    t.stop().await;
}

async fn wrong_birth_dates_are_refused_and_five_of_them_void_the_code(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let activation = t.demo.activation.clone();
    let users = t.count("users").await;
    let c = t.client();
    let fields = |birth_date: &'static str| {
        [
            ("code", activation.code.clone()),
            ("birth_date", birth_date.to_string()),
            ("email", "m.chen@example.org".to_string()),
            ("password", "violet kettle orbit 9".to_string()),
        ]
    };
    for (attempt, wrong) in [
        "1972-11-06",
        "1972-05-11",
        "1971-11-05",
        "1980-01-01",
        "1972-12-05",
    ]
    .into_iter()
    .enumerate()
    {
        let f = fields(wrong);
        let refs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = t.post_form(&c, "/activate", "/activate", &refs).await;
        assert_eq!(
            r.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "attempt {attempt}"
        );
        let message =
            field_error(&body(r).await, "birth_date").expect("error at the birth-date field");
        assert!(message.contains("Date of birth"), "{message}");
    }
    let f = fields("1972-11-05");
    assert_eq!(f[1].1, activation.birth_date);
    let refs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = t.post_form(&c, "/activate", "/activate", &refs).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let message = field_error(&body(r).await, "code").expect("error at the code field");
    assert!(message.contains("Activation code"), "{message}");
    assert_eq!(t.count("users").await, users, "no account written");
    t.stop().await;
}

async fn reset_request_answers_the_same_for_known_and_unknown_addresses(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let patient = t.account(Role::Patient).clone();
    let c = t.client();
    let outbox = t.count("outbox").await;
    let tokens = t.count("reset_tokens").await;

    let unknown = t
        .post_form(
            &c,
            "/reset",
            "/reset",
            &[("email", "nobody@demo.portal.test")],
        )
        .await;
    let unknown_status = unknown.status();
    let unknown_body = body(unknown).await;
    // The address is told that no account uses it: the outbox, and so the metrics, move exactly
    // as they do for a real account.
    assert_eq!(t.count("outbox").await, outbox + 1, "a note to the address");
    assert_eq!(t.count("reset_tokens").await, tokens);

    let known = t
        .post_form(&c, "/reset", "/reset", &[("email", &patient.email)])
        .await;
    assert_eq!(known.status(), StatusCode::OK);
    assert_eq!(unknown_status, known.status());
    assert_eq!(body(known).await, unknown_body, "the two answers differ");
    assert!(unknown_body.contains("If an account uses that address"));
    assert_eq!(t.count("outbox").await, outbox + 2);
    assert_eq!(t.count("reset_tokens").await, tokens + 1);
    t.stop().await;
}

async fn reset_link_is_mailed_without_health_data_and_works_once(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let patient = t.account(Role::Patient).clone();
    let sofia = t.patient("Sofia Martinez");
    let seen = mail_files(&t);
    let c = t.client();
    let r = t
        .post_form(&c, "/reset", "/reset", &[("email", &patient.email)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let mail = next_reset_mail(&t, &seen).await;
    for health_data in ["1985-03-14", "DEMO-1001", &sofia.to_string()] {
        assert!(
            !mail.contains(health_data),
            "the e-mail holds {health_data}"
        );
    }
    let link = reset_path_in(&mail);

    let reader = t.client();
    let form = t.get(&reader, &link).await;
    assert_eq!(form.status(), StatusCode::OK);
    assert!(body(form).await.contains("Choose a new password"));
    let sessions = t.count("sessions").await;
    let new_password = "copper meadow signal 7";
    let r = t
        .post_form(&reader, &link, &link, &[("new_password", new_password)])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/signin?done=reset");
    assert!(!sets_a_session(&r), "a reset never signs anyone in");
    assert_eq!(t.count("sessions").await, sessions, "no session opened");
    assert_eq!(location(&t.get(&reader, "/account").await), "/signin");

    // The link works once.
    let r = t.get(&reader, &link).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body(r).await.contains("expired or was already used"));
    let csrf = t.csrf_from(&reader, "/signin").await;
    let r = reader
        .post(format!("{}{link}", t.url))
        .form(&[
            ("new_password", "another fresh password 8"),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body(r).await.contains("expired or was already used"));

    // The old password is gone, the new one works, and the second factor is still asked.
    let signer = t.client();
    let r = password_step(&t, &signer, &patient.email, &patient.password).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = password_step(&t, &signer, &patient.email, "another fresh password 8").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = password_step(&t, &signer, &patient.email, new_password).await;
    assert_eq!(location(&r), "/signin/second-factor");
    t.stop().await;
}

async fn reset_link_expires_after_thirty_minutes(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let patient = t.account(Role::Patient).clone();
    let link = reset_link_for(&t, &patient.email).await;
    t.advance(SignedDuration::from_mins(31));
    let c = t.client();
    let r = t.get(&c, &link).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body(r).await.contains("expired or was already used"));
    let audit = t.count("audit_events").await;
    let csrf = t.csrf_from(&c, "/signin").await;
    let r = c
        .post(format!("{}{link}", t.url))
        .form(&[("new_password", "copper meadow signal 7"), ("csrf", &csrf)])
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(t.count("audit_events").await, audit, "nothing changed");
    let r = password_step(&t, &c, &patient.email, &patient.password).await;
    assert_eq!(location(&r), "/signin/second-factor", "old password kept");
    t.stop().await;
}

async fn reset_ends_every_session_of_the_account(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let patient = t.account(Role::Patient).clone();
    let first = t.sign_in(Role::Patient).await;
    let second = t.sign_in(Role::Patient).await;
    let clinician = t.sign_in(Role::Clinician).await;
    let link = reset_link_for(&t, &patient.email).await;
    let c = t.client();
    let r = t
        .post_form(
            &c,
            &link,
            &link,
            &[("new_password", "copper meadow signal 7")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    for (name, client) in [("first", &first), ("second", &second)] {
        let r = t.get(client, "/account").await;
        assert_eq!(location(&r), "/signin", "{name} session still open");
    }
    assert_eq!(
        t.get(&clinician, "/account").await.status(),
        StatusCode::OK,
        "other accounts keep their sessions"
    );
    t.stop().await;
}

both_backends!(
    wrong_password_and_unknown_account_get_the_same_answer,
    five_wrong_passwords_lock_the_account_until_the_lock_runs_out,
    a_locked_unknown_account_looks_like_a_locked_real_one,
    twenty_failures_from_one_address_lock_unknown_accounts,
    second_factor_cannot_be_skipped_by_going_elsewhere,
    a_totp_code_is_accepted_once_only,
    codes_one_step_away_are_accepted_and_two_steps_away_refused,
    a_recovery_code_signs_in_once,
    a_new_authenticator_voids_the_old_recovery_codes,
    a_new_authenticator_needs_the_current_password,
    a_new_authenticator_needs_a_code_from_the_current_one,
    five_wrong_codes_lock_the_second_factor,
    clinic_accounts_without_an_authenticator_must_enrol_first,
    activation_creates_a_patient_account_that_can_sign_in,
    an_expired_activation_code_is_refused,
    wrong_birth_dates_are_refused_and_five_of_them_void_the_code,
    reset_request_answers_the_same_for_known_and_unknown_addresses,
    reset_link_is_mailed_without_health_data_and_works_once,
    reset_link_expires_after_thirty_minutes,
    reset_ends_every_session_of_the_account,
);
