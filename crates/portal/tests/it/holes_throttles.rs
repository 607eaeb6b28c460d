//! Issue items 7 and 8: throttles that parallel guesses cannot outrun, and that one address
//! cannot use to lock a clinic out. Each test fired its requests at once and failed on the main
//! branch before the fix (60 parallel wrong passwords were all checked; the right password and
//! code were refused behind a locked address).

use crate::auth::{body, code_at, code_step, minutes_to_wait, password_step};
use crate::both_backends;
use crate::helpers::{TestApp, csrf_in, location};
use jiff::SignedDuration;
use portal_domain::Role;
use portal_domain::fields::CODE_ALPHABET;
use portal_store::Backend;
use reqwest::StatusCode;
use sqlx::Row;

/// Audit events with this detail (how many guesses were actually checked).
async fn events_with_detail(t: &TestApp, detail: &str) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM audit_events WHERE detail = $1")
        .bind(detail)
        .fetch_one(t.app.store().pool())
        .await
        .expect("count events")
        .try_get("n")
        .expect("n")
}

/// E-mails queued for one address.
async fn mails_to(t: &TestApp, address: &str) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE recipient = $1")
        .bind(address)
        .fetch_one(t.app.store().pool())
        .await
        .expect("count mails")
        .try_get("n")
        .expect("n")
}

/// POSTs one form `n` times at once from one client, with one CSRF token; returns the statuses.
async fn at_once(
    t: &TestApp,
    c: &reqwest::Client,
    form_page: &str,
    path: &str,
    fields: Vec<Vec<(String, String)>>,
) -> Vec<StatusCode> {
    let html = t.get(c, form_page).await.text().await.expect("form");
    let csrf = csrf_in(&html).expect("csrf");
    let url = format!("{}{path}", t.url);
    let sends: Vec<_> = fields
        .into_iter()
        .map(|mut f| {
            f.push(("csrf".into(), csrf.clone()));
            let request = c.post(&url).form(&f);
            tokio::spawn(async move { request.send().await.expect("POST").status() })
        })
        .collect();
    let mut statuses = Vec::with_capacity(sends.len());
    for send in sends {
        statuses.push(send.await.expect("request task"));
    }
    statuses
}

fn count(statuses: &[StatusCode], status: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

async fn item_7_parallel_guesses_are_counted_before_they_are_checked(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    // Passwords: 60 at once against one account; five are checked, the rest wait out the lock.
    let patient = t.account(Role::Patient).clone();
    let guesses = (0..60)
        .map(|i| {
            vec![
                ("email".into(), patient.email.clone()),
                ("password".into(), format!("guess number {i}")),
            ]
        })
        .collect();
    let statuses = at_once(&t, &t.client(), "/signin", "/signin", guesses).await;
    assert_eq!(events_with_detail(&t, "wrong password").await, 5);
    assert_eq!(count(&statuses, StatusCode::UNPROCESSABLE_ENTITY), 5);
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 55);

    // Second-factor and recovery codes: 100 at once after the right password; five checked.
    let clinician = t.account(Role::Clinician).clone();
    let c = t.client();
    let r = password_step(&t, &c, &clinician.email, &clinician.password).await;
    assert_eq!(location(&r), "/signin/second-factor");
    let codes = (0..100)
        .map(|i| {
            let code = if i % 2 == 0 {
                code_at(&t, &clinician.totp_secret, 100 + i)
            } else {
                // A well-formed recovery code that was never issued.
                let tail: String = (0..5)
                    .map(|k| char::from(CODE_ALPHABET[(i as usize * 7 + k) % CODE_ALPHABET.len()]))
                    .collect();
                format!("RECVR-{tail}")
            };
            vec![("code".into(), code)]
        })
        .collect();
    let statuses = at_once(
        &t,
        &c,
        "/signin/second-factor",
        "/signin/second-factor",
        codes,
    )
    .await;
    assert_eq!(
        events_with_detail(&t, "wrong second-factor code").await,
        5,
        "{statuses:?}"
    );
    assert_eq!(count(&statuses, StatusCode::TOO_MANY_REQUESTS), 95);

    // Activation: 30 wrong birth dates at once with one code; five compared, then the code is
    // void, even with the right date.
    let activation = t.demo.activation.clone();
    let tries = (0..30)
        .map(|i| {
            vec![
                ("code".into(), activation.code.clone()),
                ("birth_date".into(), format!("1950-01-{:02}", i % 28 + 1)),
                ("email".into(), "guesser@example.org".into()),
                ("password".into(), "violet kettle orbit 9".into()),
            ]
        })
        .collect();
    at_once(&t, &t.client(), "/activate", "/activate", tries).await;
    assert_eq!(
        events_with_detail(&t, "activation refused: date of birth did not match").await,
        5
    );
    // (The address's own count locked it too; wait that out to show the code is void.)
    t.advance(SignedDuration::from_mins(16));
    let users = t.count("users").await;
    let right = t
        .activate(
            &t.client(),
            &activation.code,
            &activation.birth_date,
            "guesser@example.org",
            "violet kettle orbit 9",
        )
        .await;
    assert_eq!(right.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(t.count("users").await, users);

    // Reset requests: 10 at once for one address; three e-mails.
    let staff = t.account(Role::Staff).clone();
    let before = mails_to(&t, &staff.email).await;
    let asks = (0..10)
        .map(|_| vec![("email".into(), staff.email.clone())])
        .collect();
    at_once(&t, &t.client(), "/reset", "/reset", asks).await;
    assert_eq!(mails_to(&t, &staff.email).await, before + 3);
    t.stop().await;
}

async fn item_8_a_locked_address_does_not_lock_out_accounts_with_a_second_factor(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    // Twenty sprayed passwords from one address lock it.
    let c = t.client();
    for i in 0..20 {
        let email = format!("sprayed{i}@demo.portal.test");
        let r = password_step(&t, &c, &email, "Summer2027!").await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "attempt {i}");
    }
    let r = password_step(&t, &c, "sprayed99@demo.portal.test", "Summer2027!").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let locked_answer = body(r).await;

    // The admin behind the same address, with the right password and code, gets in.
    let admin = t.account(Role::Admin).clone();
    let r = password_step(&t, &c, &admin.email, &admin.password).await;
    assert_eq!(location(&r), "/signin/second-factor");
    let r = code_step(&t, &c, &t.totp_code(&admin.totp_secret)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(t.get(&c, "/account").await.status(), StatusCode::OK);

    // A wrong password for a real account there gets the same answer as everyone behind the
    // lock, so the lock tells nothing about which accounts exist.
    let clinician = t.account(Role::Clinician).clone();
    let r = password_step(&t, &t.client(), &clinician.email, "not the password").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let wrong_answer = body(r).await;
    assert_eq!(
        minutes_to_wait(&wrong_answer),
        minutes_to_wait(&locked_answer)
    );

    // Five wrong passwords pause the account briefly, its holder is told by e-mail, and the
    // Account page shows what happened.
    t.advance(SignedDuration::from_mins(20));
    let patient = t.account(Role::Patient).clone();
    let mails = mails_to(&t, &patient.email).await;
    let attacker = t.client();
    for _ in 0..5 {
        password_step(&t, &attacker, &patient.email, "wrong-password-guess").await;
    }
    let r = password_step(&t, &attacker, &patient.email, &patient.password).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let minutes = minutes_to_wait(&body(r).await);
    assert!(minutes <= 1, "the first pause is short: {minutes} minutes");
    assert_eq!(mails_to(&t, &patient.email).await, mails + 1);
    let subject: String = sqlx::query(
        "SELECT subject FROM outbox WHERE recipient = $1 ORDER BY created_at DESC LIMIT 1",
    )
    .bind(&patient.email)
    .fetch_one(t.app.store().pool())
    .await
    .expect("mail")
    .try_get("subject")
    .expect("subject");
    assert!(subject.contains("paused"), "{subject}");

    // Each further failure makes the pause longer.
    t.advance(SignedDuration::from_mins(minutes) + SignedDuration::from_secs(1));
    password_step(&t, &attacker, &patient.email, "wrong-password-guess").await;
    let r = password_step(&t, &attacker, &patient.email, &patient.password).await;
    assert!(minutes_to_wait(&body(r).await) >= minutes);

    t.advance(SignedDuration::from_mins(5));
    let owner = t.sign_in(Role::Patient).await;
    let page = body(t.get(&owner, "/account").await).await;
    assert!(page.contains("Refused sign-ins"), "{page}");
    assert!(page.contains("Wrong password"));
    assert!(page.contains("Signing in was paused after repeated wrong attempts"));
    t.stop().await;
}

both_backends!(
    item_7_parallel_guesses_are_counted_before_they_are_checked,
    item_8_a_locked_address_does_not_lock_out_accounts_with_a_second_factor,
);
