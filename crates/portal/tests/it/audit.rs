//! The audit trail: one event per view, sign-in, sign-out, activation and reset, with the ASTM
//! E2147 fields; the patient's own access history in plain words; an append-only table; and
//! `portal audit verify` catching a changed, removed, reordered or cut-off trail.

use crate::both_backends;
use crate::helpers::{TestApp, location};
use jiff::SignedDuration;
use portal_domain::audit::{AuditAction, AuditEvent, Outcome, RequestContext, canonical_bytes};
use portal_domain::{PatientId, Role};
use portal_store::Backend;
use portal_web::routes::patient_routes;
use reqwest::{Client, StatusCode};
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;
use std::time::{Duration, Instant};

/// One row of `audit_events`, as stored.
#[derive(Debug)]
struct Event {
    seq: i64,
    at: i64,
    actor_id: String,
    actor_role: String,
    on_behalf_of: String,
    patient_id: Option<String>,
    action: String,
    resource_type: String,
    resource_id: Option<String>,
    outcome: String,
    break_glass: i64,
    detail: String,
    client_addr: String,
    user_agent: String,
    request_id: String,
}

fn event_of(row: &AnyRow) -> Event {
    let text = |name: &str| row.try_get::<String, _>(name).expect(name);
    Event {
        seq: row.try_get("seq").expect("seq"),
        at: row.try_get("at").expect("at"),
        actor_id: text("actor_id"),
        actor_role: text("actor_role"),
        on_behalf_of: text("on_behalf_of"),
        patient_id: row.try_get("patient_id").expect("patient_id"),
        action: text("action"),
        resource_type: text("resource_type"),
        resource_id: row.try_get("resource_id").expect("resource_id"),
        outcome: text("outcome"),
        break_glass: row.try_get("break_glass").expect("break_glass"),
        detail: text("detail"),
        client_addr: text("client_addr"),
        user_agent: text("user_agent"),
        request_id: text("request_id"),
    }
}

/// The events written after position `seq`, oldest first.
async fn events_after(t: &TestApp, seq: i64) -> Vec<Event> {
    sqlx::query(
        "SELECT seq, at, actor_id, actor_role, on_behalf_of, patient_id, action, resource_type, \
         resource_id, outcome, break_glass, detail, client_addr, user_agent, request_id \
         FROM audit_events WHERE seq > $1 ORDER BY seq",
    )
    .bind(seq)
    .fetch_all(t.app.store().pool())
    .await
    .expect("events")
    .iter()
    .map(event_of)
    .collect()
}

pub(crate) async fn last_seq(t: &TestApp) -> i64 {
    sqlx::query("SELECT COALESCE(MAX(seq), 0) AS n FROM audit_events")
        .fetch_one(t.app.store().pool())
        .await
        .expect("max seq")
        .try_get("n")
        .expect("n")
}

/// The single event written since `seq`.
async fn only_event_after(t: &TestApp, seq: i64, what: &str) -> Event {
    let mut events = events_after(t, seq).await;
    assert_eq!(events.len(), 1, "{what} writes exactly one audit event");
    events.remove(0)
}

async fn user_id(t: &TestApp, email: &str) -> String {
    sqlx::query("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(t.app.store().pool())
        .await
        .expect("account row")
        .try_get("id")
        .expect("id")
}

fn now_micros(t: &TestApp) -> i64 {
    t.app.now().as_microsecond()
}

/// Checks the fields every event of a request from the test client carries.
fn assert_from_test_client(e: &Event, t: &TestApp, what: &str) {
    assert_eq!(e.at, now_micros(t), "{what}: time");
    assert_eq!(e.client_addr, "127.0.0.1", "{what}: client address");
    assert_eq!(e.user_agent, "portal-tests", "{what}: user agent");
    assert!(!e.request_id.is_empty(), "{what}: request id");
}

/// The data category each patient page records, written out by hand.
fn resource_type_of(path: &str) -> &'static str {
    if path.ends_with("/appointments/new") {
        return "Slot";
    }
    match path.rsplit('/').next().expect("a path") {
        "record" => "HealthSummary",
        "results" => "ResultList",
        "visits" => "VisitList",
        "documents" => "DocumentList",
        "medications" => "MedicationList",
        "messages" => "MessageList",
        "new" => "MessageCompose",
        "appointments" => "AppointmentList",
        "access-log" => "AccessLog",
        "refills" => "RefillRequestList",
        "download" => "HealthRecord",
        "record.json" | "summary" => "RecordExport",
        "proxies" => "ProxyGrants",
        "enrolment" => "Enrolment",
        _ => "Patient",
    }
}

async fn every_patient_page_view_writes_one_event_with_the_astm_fields(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let leo = t.patient("Leo Martinez");
    let patient = t.sign_in(Role::Patient).await;
    let clinician = t.sign_in(Role::Clinician).await;
    let patient_id = user_id(&t, &t.account(Role::Patient).email).await;
    let clinician_id = user_id(&t, &t.account(Role::Clinician).email).await;
    let viewers: [(&Client, &str, &str, PatientId, &str); 3] = [
        (&patient, &patient_id, "patient", sofia, "own-record"),
        (&patient, &patient_id, "patient", leo, "proxy-full"),
        (&clinician, &clinician_id, "clinician", sofia, "care-team"),
    ];
    let mut views = 0;
    for (client, actor, role, record, basis) in viewers {
        for route in patient_routes().iter().filter(|r| r.method == "GET") {
            let path = route.path.replace("{id}", &record.to_string());
            // Clinicians have no access log of their patients; that refusal is audited too.
            // Nor do they start conversations from the chart, or ask for refills.
            // Who holds access is the patient's own to manage; enrolment and the care team are
            // the front desk's.
            let allowed = !(role == "clinician"
                && (path.ends_with("/access-log")
                    || path.ends_with("/messages/new")
                    || path.ends_with("/refills")))
                && !(path.ends_with("/proxies") && basis != "own-record")
                && !path.ends_with("/enrolment")
                && !path.ends_with("/care-team");
            t.advance(SignedDuration::from_secs(1));
            let seq = last_seq(&t).await;
            let r = t.get(client, &path).await;
            let request_id = r
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            let status = r.status();
            let what = format!("{role} GET {path}");
            let e = only_event_after(&t, seq, &what).await;
            assert_from_test_client(&e, &t, &what);
            assert_eq!(
                e.request_id, request_id,
                "{what}: the response's request id"
            );
            assert_eq!(e.actor_id, *actor, "{what}: actor");
            assert_eq!(e.actor_role, role, "{what}: role");
            assert_eq!(e.patient_id, Some(record.to_string()), "{what}: patient");
            let action = if path.contains("/download/") && allowed {
                "export"
            } else {
                "read"
            };
            assert_eq!(e.action, action, "{what}: action");
            assert_eq!(e.break_glass, 0, "{what}: not flagged");
            if allowed {
                assert_eq!(status, StatusCode::OK, "{what}");
                assert_eq!(e.on_behalf_of, basis, "{what}: on whose behalf");
                assert_eq!(e.resource_type, resource_type_of(&path), "{what}: data");
                assert_eq!(e.outcome, "success", "{what}: outcome");
            } else {
                assert_eq!(status, StatusCode::NOT_FOUND, "{what}");
                assert_eq!(e.outcome, "denied", "{what}: outcome");
            }
            views += 1;
        }
    }
    let get_routes = patient_routes()
        .iter()
        .filter(|r| r.method == "GET")
        .count();
    assert_eq!(views, 3 * get_routes);
    t.stop().await;
}

async fn sign_in_success_and_failure_are_each_audited(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let account = t.account(Role::Patient).clone();
    let sofia_user = user_id(&t, &account.email).await;
    let c = t.client();
    let sessions = t.count("sessions").await;

    let seq = last_seq(&t).await;
    let r = t
        .post_form(
            &c,
            "/signin",
            "/signin",
            &[
                ("email", &account.email),
                ("password", "not-her-password-at-all"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(t.count("sessions").await, sessions, "no session");
    let e = only_event_after(&t, seq, "a wrong password").await;
    assert_from_test_client(&e, &t, "wrong password");
    assert_eq!(
        (e.action.as_str(), e.outcome.as_str()),
        ("sign-in", "denied")
    );
    assert_eq!(e.actor_id, sofia_user);
    assert_eq!(e.actor_role, "patient");

    let seq = last_seq(&t).await;
    let r = t
        .post_form(
            &c,
            "/signin",
            "/signin",
            &[
                ("email", "nobody@demo.portal.test"),
                ("password", "whatever-it-is-2026"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(t.count("sessions").await, sessions, "no session");
    let e = only_event_after(&t, seq, "an unknown account").await;
    assert_from_test_client(&e, &t, "unknown account");
    assert_eq!(
        (e.action.as_str(), e.outcome.as_str()),
        ("sign-in", "denied")
    );
    assert_eq!(
        (e.actor_id.as_str(), e.actor_role.as_str()),
        ("", "anonymous")
    );

    let seq = last_seq(&t).await;
    let r = t
        .post_form(
            &c,
            "/signin",
            "/signin",
            &[("email", &account.email), ("password", &account.password)],
        )
        .await;
    assert_eq!(location(&r), "/signin/second-factor");
    let e = only_event_after(&t, seq, "the password step").await;
    assert_from_test_client(&e, &t, "password step");
    assert_eq!(
        (e.action.as_str(), e.outcome.as_str()),
        ("sign-in", "success")
    );
    assert_eq!(e.actor_id, sofia_user);

    t.advance(SignedDuration::from_secs(30));
    let right = t.totp_code(&account.totp_secret);
    let wrong = format!(
        "{:06}",
        (right.parse::<u32>().expect("digits") + 500_000) % 1_000_000
    );
    let seq = last_seq(&t).await;
    let r = t
        .post_form(
            &c,
            "/signin/second-factor",
            "/signin/second-factor",
            &[("code", &wrong)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        t.count("sessions").await,
        sessions + 1,
        "only the half-finished session"
    );
    let r = t
        .get(&c, &format!("/patients/{}", t.patient("Sofia Martinez")))
        .await;
    assert_eq!(location(&r), "/signin/second-factor", "still not signed in");
    let e = only_event_after(&t, seq, "a wrong code").await;
    assert_from_test_client(&e, &t, "wrong code");
    assert_eq!(
        (e.action.as_str(), e.outcome.as_str()),
        ("sign-in", "denied")
    );
    assert_eq!(e.actor_id, sofia_user);

    let seq = last_seq(&t).await;
    let r = t
        .post_form(
            &c,
            "/signin/second-factor",
            "/signin/second-factor",
            &[("code", &right)],
        )
        .await;
    assert_eq!(location(&r), "/");
    let e = only_event_after(&t, seq, "the second step").await;
    assert_from_test_client(&e, &t, "second step");
    assert_eq!(
        (e.action.as_str(), e.outcome.as_str()),
        ("sign-in", "success")
    );
    assert_eq!(e.actor_id, sofia_user);
    assert!(e.resource_id.is_some(), "the new session is named");
    t.stop().await;
}

async fn sign_out_is_audited(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let c = t.sign_in(Role::Clinician).await;
    let doctor = user_id(&t, &t.account(Role::Clinician).email).await;
    let seq = last_seq(&t).await;
    let csrf = t.csrf_from(&c, "/account").await;
    assert_eq!(
        last_seq(&t).await,
        seq,
        "the account page is not patient data"
    );
    let r = c
        .post(format!("{}/signout", t.url))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("POST");
    assert_eq!(location(&r), "/signin?done=signed-out");
    let e = only_event_after(&t, seq, "signing out").await;
    assert_from_test_client(&e, &t, "sign-out");
    assert_eq!(
        (e.action.as_str(), e.outcome.as_str()),
        ("sign-out", "success")
    );
    assert_eq!(e.actor_id, doctor);
    assert_eq!(e.actor_role, "clinician");
    let r = t.get(&c, "/inbasket").await;
    assert_eq!(location(&r), "/signin", "the session is over");
    t.stop().await;
}

async fn activation_is_audited(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let marcus = t.patient("Marcus Chen");
    let c = t.client();
    let seq = last_seq(&t).await;
    let r = t
        .post_form(
            &c,
            "/activate",
            "/activate",
            &[
                ("code", &t.demo.activation.code),
                ("birth_date", &t.demo.activation.birth_date),
                ("email", "marcus@example.org"),
                ("password", "lantern orbit quietly 7319"),
            ],
        )
        .await;
    assert_eq!(location(&r), "/signin?done=activated");
    let new_user = user_id(&t, "marcus@example.org").await;
    let e = only_event_after(&t, seq, "activation").await;
    assert_from_test_client(&e, &t, "activation");
    assert_eq!(
        (e.action.as_str(), e.outcome.as_str()),
        ("create", "success")
    );
    assert_eq!(e.resource_type, "Account");
    assert_eq!(e.resource_id.as_deref(), Some(new_user.as_str()));
    assert_eq!(e.actor_id, new_user);
    assert_eq!(e.actor_role, "patient");
    assert_eq!(e.patient_id, Some(marcus.to_string()));
    assert_eq!(e.on_behalf_of, "own-record");
    t.stop().await;
}

/// Waits for the reset e-mail to land in the data directory and returns the link's token.
async fn reset_token_from_mail(t: &TestApp) -> String {
    let dir = t.data_dir.path().join("mail");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mails: Vec<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .collect();
        for mail in mails {
            // Undo quoted-printable soft line breaks before reading the link.
            let text = mail.replace("=\r\n", "").replace("=\n", "");
            if let Some(at) = text.find("/reset/") {
                let token: String = text[at + "/reset/".len()..]
                    .chars()
                    .take_while(char::is_ascii_alphanumeric)
                    .collect();
                if !token.is_empty() {
                    return token;
                }
            }
        }
        assert!(Instant::now() < deadline, "no reset e-mail arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn password_reset_request_and_change_are_each_audited(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let account = t.account(Role::Patient).clone();
    let sofia_user = user_id(&t, &account.email).await;
    let c = t.client();
    let seq = last_seq(&t).await;
    let r = t
        .post_form(&c, "/reset", "/reset", &[("email", &account.email)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let e = only_event_after(&t, seq, "a reset request").await;
    assert_from_test_client(&e, &t, "reset request");
    assert_eq!(
        (e.action.as_str(), e.outcome.as_str()),
        ("create", "success")
    );
    assert_eq!(e.resource_type, "PasswordReset");
    assert_eq!(e.actor_id, sofia_user);

    let token = reset_token_from_mail(&t).await;
    let page = format!("/reset/{token}");
    let seq = last_seq(&t).await;
    let r = t
        .post_form(
            &c,
            &page,
            &page,
            &[("new_password", "copper kettle winter 4821")],
        )
        .await;
    assert_eq!(location(&r), "/signin?done=reset");
    let e = only_event_after(&t, seq, "a password reset").await;
    assert_from_test_client(&e, &t, "password reset");
    assert_eq!(
        (e.action.as_str(), e.outcome.as_str()),
        ("update", "success")
    );
    assert_eq!(e.resource_type, "Password");
    assert_eq!(e.actor_id, sofia_user);

    // The new password is the one that works now.
    let r = t
        .post_form(
            &c,
            "/signin",
            "/signin",
            &[
                ("email", &account.email),
                ("password", "copper kettle winter 4821"),
            ],
        )
        .await;
    assert_eq!(location(&r), "/signin/second-factor");
    t.stop().await;
}

async fn a_patient_reads_who_opened_her_record_in_plain_words(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let sofia = t.patient("Sofia Martinez");
    let doctor = t.sign_in(Role::Clinician).await;
    let r = t.get(&doctor, &format!("/patients/{sofia}/record")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let c = t.sign_in(Role::Patient).await;
    let r = t.get(&c, &format!("/patients/{sofia}/access-log")).await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("body");
    let rows: Vec<&str> = html.split("<tr").collect();
    assert!(
        rows.iter()
            .any(|row| row.contains("Dr. Maya Okafor (clinician)")
                && row.contains("viewed the health record")),
        "the clinician's view is listed by name in plain words:\n{html}"
    );
    assert!(
        !html.contains("HealthRecord") && !html.contains("care-team"),
        "no internal names"
    );
    t.stop().await;
}

async fn a_patient_cannot_open_another_patients_access_log(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let marcus = t.patient("Marcus Chen");
    let c = t.sign_in(Role::Patient).await;
    let sofia_user = user_id(&t, &t.account(Role::Patient).email).await;
    let missing = PatientId::from_uuid(uuid::Uuid::new_v4());
    let r = t.get(&c, &format!("/patients/{missing}/access-log")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let reference = r.text().await.expect("body");
    let seq = last_seq(&t).await;
    let r = t.get(&c, &format!("/patients/{marcus}/access-log")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(r.text().await.expect("body"), reference);
    let e = only_event_after(&t, seq, "a refused access log").await;
    assert_eq!(e.outcome, "denied");
    assert_eq!(e.actor_id, sofia_user);
    assert_eq!(e.patient_id, Some(marcus.to_string()));
    t.stop().await;
}

// --- Append-only and `portal audit verify` -------------------------------------------------

/// The URL of the test's database. `TestApp` does not expose it, so it is asked of the
/// database itself.
async fn database_url(t: &TestApp) -> String {
    let pool = t.app.store().pool();
    match t.app.store().backend() {
        Backend::Sqlite => {
            let file: String =
                sqlx::query("SELECT file FROM pragma_database_list WHERE name = 'main'")
                    .fetch_one(pool)
                    .await
                    .expect("database file")
                    .try_get("file")
                    .expect("file");
            format!("sqlite://{file}")
        }
        Backend::Postgres => {
            let name: String = sqlx::query("SELECT CAST(current_database() AS TEXT) AS name")
                .fetch_one(pool)
                .await
                .expect("database name")
                .try_get("name")
                .expect("name");
            let server = portal_store::testdb::postgres_url().expect("PostgreSQL is configured");
            let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
            format!("{base}/{name}")
        }
    }
}

/// Runs `portal audit verify` on the test's database and key; returns the exit code and output.
pub async fn run_verify(t: &TestApp) -> (i32, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_portal"))
        .arg("--data-dir")
        .arg(t.data_dir.path())
        .arg("--database")
        .arg(database_url(t).await)
        .args(["audit", "verify"])
        .env_remove("PORTAL_SECRET_KEY")
        .env_remove("PORTAL_DATABASE")
        .env_remove("PORTAL_DATA_DIR")
        .env("PORTAL_LOG", "error")
        .output()
        .await
        .expect("run portal audit verify");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().expect("exit code"), text)
}

async fn assert_intact(t: &TestApp) {
    let (code, out) = run_verify(t).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("intact"), "{out}");
}

async fn assert_broken_at(t: &TestApp, seq: i64, what: &str) -> String {
    let (code, out) = run_verify(t).await;
    assert_eq!(code, 1, "{what}: {out}");
    assert!(
        out.contains(&format!("first bad event {seq}:")),
        "{what}: names event {seq}: {out}"
    );
    out
}

/// A trail with some of everything: sign-ins, views, a refusal.
pub(crate) async fn some_activity(t: &TestApp) {
    let c = t.sign_in(Role::Patient).await;
    let sofia = t.patient("Sofia Martinez");
    let marcus = t.patient("Marcus Chen");
    for path in [
        format!("/patients/{sofia}"),
        format!("/patients/{sofia}/record"),
        format!("/patients/{marcus}"),
    ] {
        t.get(&c, &path).await;
    }
    let doctor = t.sign_in(Role::Clinician).await;
    t.get(&doctor, &format!("/patients/{sofia}/medications"))
        .await;
    assert!(last_seq(t).await >= 15, "enough events to tamper with");
}

/// What an attacker with database access does first.
pub(crate) async fn drop_append_only_triggers(t: &TestApp) {
    let statements: &[&str] = match t.app.store().backend() {
        Backend::Sqlite => &[
            "DROP TRIGGER audit_events_no_update",
            "DROP TRIGGER audit_events_no_delete",
        ],
        Backend::Postgres => &["ALTER TABLE audit_events DISABLE TRIGGER USER"],
    };
    for sql in statements {
        sqlx::query(*sql)
            .execute(t.app.store().pool())
            .await
            .expect("drop the triggers");
    }
}

async fn tamper(t: &TestApp, sql: &str, seq: i64) {
    let done = sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
        .bind(seq)
        .execute(t.app.store().pool())
        .await
        .expect("tamper");
    assert!(done.rows_affected() > 0, "{sql}");
}

async fn text_column(t: &TestApp, column: &str, seq: i64) -> String {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {column} AS v FROM audit_events WHERE seq = $1"
    )))
    .bind(seq)
    .fetch_one(t.app.store().pool())
    .await
    .expect("read column")
    .try_get("v")
    .expect("v")
}

async fn set_text_column(t: &TestApp, column: &str, seq: i64, value: &str) {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE audit_events SET {column} = $1 WHERE seq = $2"
    )))
    .bind(value)
    .bind(seq)
    .execute(t.app.store().pool())
    .await
    .expect("change column");
}

/// `text` with its first byte replaced by another ASCII letter.
fn one_byte_changed(text: &str) -> String {
    let first = text.as_bytes().first().copied().unwrap_or(b'a');
    let other = if first == b'x' { 'y' } else { 'x' };
    format!("{other}{}", text.get(1..).unwrap_or(""))
}

async fn verify_passes_an_untouched_trail(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    some_activity(&t).await;
    let events = last_seq(&t).await;
    let (code, out) = run_verify(&t).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("intact ({events} events)")), "{out}");
    t.stop().await;
}

async fn verify_names_an_event_whose_detail_or_actor_changed(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    some_activity(&t).await;
    assert_intact(&t).await;
    drop_append_only_triggers(&t).await;
    let middle = last_seq(&t).await / 2;

    let detail = text_column(&t, "detail", middle).await;
    set_text_column(&t, "detail", middle, &one_byte_changed(&detail)).await;
    assert_broken_at(&t, middle, "a changed detail").await;

    // Put it back: the chain is whole again, so the verdict was about that byte.
    set_text_column(&t, "detail", middle, &detail).await;
    assert_intact(&t).await;

    let later = middle + 3;
    let actor = text_column(&t, "actor_id", later).await;
    set_text_column(&t, "actor_id", later, &one_byte_changed(&actor)).await;
    assert_broken_at(&t, later, "a changed actor").await;
    t.stop().await;
}

async fn verify_names_an_event_removed_from_the_middle(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    some_activity(&t).await;
    assert_intact(&t).await;
    drop_append_only_triggers(&t).await;
    let middle = last_seq(&t).await / 2;
    tamper(&t, "DELETE FROM audit_events WHERE seq = $1", middle).await;
    assert_broken_at(&t, middle, "a removed event").await;
    t.stop().await;
}

async fn verify_names_the_first_of_two_swapped_events(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    some_activity(&t).await;
    assert_intact(&t).await;
    drop_append_only_triggers(&t).await;
    let first = last_seq(&t).await / 2;
    let second = first + 2;
    // Each position gets the other's contents.
    tamper(&t, "UPDATE audit_events SET seq = -1 WHERE seq = $1", first).await;
    let swap = format!("UPDATE audit_events SET seq = {first} WHERE seq = $1");
    tamper(&t, &swap, second).await;
    let swap = format!("UPDATE audit_events SET seq = {second} WHERE seq = $1");
    tamper(&t, &swap, -1).await;
    assert_broken_at(&t, first, "two swapped events").await;
    t.stop().await;
}

async fn verify_notices_a_cut_off_tail(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    some_activity(&t).await;
    assert_intact(&t).await;
    drop_append_only_triggers(&t).await;
    let last = last_seq(&t).await;
    let cut_from = last - 2;
    tamper(&t, "DELETE FROM audit_events WHERE seq >= $1", cut_from).await;
    let out = assert_broken_at(&t, cut_from, "a cut-off tail").await;
    assert!(out.contains("missing from the end"), "{out}");
    t.stop().await;
}

/// Rewrites event `seq`'s detail and recomputes its hash and every later one, as someone who
/// knows the (public) hashing but not the portal's key would.
async fn rewrite_and_rehash_from(t: &TestApp, seq: i64, detail: &str) {
    let pool = t.app.store().pool();
    let rows = sqlx::query(
        "SELECT seq, id, at, actor_id, actor_role, on_behalf_of, patient_id, action, \
         resource_type, resource_id, outcome, break_glass, detail, client_addr, user_agent, \
         request_id, prev_hash FROM audit_events WHERE seq >= $1 ORDER BY seq",
    )
    .bind(seq)
    .fetch_all(pool)
    .await
    .expect("events");
    let mut prev: Option<String> = None;
    for row in &rows {
        let mut e = event_of(row);
        if e.seq == seq {
            e.detail = detail.to_string();
        }
        let id: String = row.try_get("id").expect("id");
        let prev_hash = prev
            .clone()
            .unwrap_or_else(|| row.try_get("prev_hash").expect("prev_hash"));
        let event = AuditEvent {
            at: jiff::Timestamp::from_microsecond(e.at).expect("time"),
            actor_id: e.actor_id,
            actor_role: e.actor_role,
            on_behalf_of: e.on_behalf_of,
            patient_id: e.patient_id,
            action: AuditAction::from_stored(&e.action).expect("action"),
            resource_type: e.resource_type,
            resource_id: e.resource_id,
            outcome: Outcome::from_stored(&e.outcome).expect("outcome"),
            break_glass: e.break_glass != 0,
            detail: e.detail,
            context: RequestContext {
                client_addr: e.client_addr,
                user_agent: e.user_agent,
                request_id: e.request_id,
            },
        };
        let hash = format!(
            "{:x}",
            Sha256::digest(canonical_bytes(e.seq, &id, &event, &prev_hash))
        );
        sqlx::query(
            "UPDATE audit_events SET detail = $1, prev_hash = $2, hash = $3 WHERE seq = $4",
        )
        .bind(&event.detail)
        .bind(&prev_hash)
        .bind(&hash)
        .bind(e.seq)
        .execute(pool)
        .await
        .expect("rewrite");
        prev = Some(hash);
    }
}

async fn verify_catches_a_rewritten_and_rehashed_chain_by_its_signed_head(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    some_activity(&t).await;
    assert_intact(&t).await;
    drop_append_only_triggers(&t).await;
    let middle = last_seq(&t).await / 2;
    // First show that the rewriting itself is faithful: rehashing without a change is invisible.
    let detail = text_column(&t, "detail", middle).await;
    rewrite_and_rehash_from(&t, middle, &detail).await;
    assert_intact(&t).await;
    rewrite_and_rehash_from(&t, middle, &one_byte_changed(&detail)).await;
    let (code, out) = run_verify(&t).await;
    assert_eq!(
        code, 1,
        "a rehashed chain no longer matches its signed head: {out}"
    );
    assert!(out.contains("damaged"), "{out}");
    t.stop().await;
}

async fn the_application_cannot_change_or_remove_audit_events(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    some_activity(&t).await;
    let pool = t.app.store().pool();
    let before = events_after(&t, 0).await;
    let mut attempts = vec![
        "UPDATE audit_events SET detail = 'nothing happened' WHERE seq = 2",
        "UPDATE audit_events SET outcome = 'success' WHERE outcome = 'denied'",
        "DELETE FROM audit_events WHERE seq = 3",
        "DELETE FROM audit_events",
    ];
    if backend == Backend::Postgres {
        attempts.push("TRUNCATE audit_events");
    }
    for sql in attempts {
        let result = sqlx::query(sql).execute(pool).await;
        assert!(result.is_err(), "{sql} must be refused");
    }
    let after = events_after(&t, 0).await;
    assert_eq!(after.len(), before.len());
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(
            (a.seq, &a.detail, &a.outcome),
            (b.seq, &b.detail, &b.outcome)
        );
    }
    assert_intact(&t).await;
    t.stop().await;
}

/// Views at once are recorded together by the group-committed writer: every page answered has
/// its own event, the chain is whole, and each event names its own request.
async fn concurrent_views_each_have_their_event_in_one_intact_chain(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let c = t.sign_in(Role::Patient).await;
    let sofia = t.patient("Sofia Martinez");
    let before = reads_of(&t, sofia, "HealthSummary").await;
    let t = std::sync::Arc::new(t);
    let views: Vec<_> = (0..40)
        .map(|_| {
            let (t, c) = (t.clone(), c.clone());
            tokio::spawn(async move {
                t.get(&c, &format!("/patients/{sofia}/record"))
                    .await
                    .status()
            })
        })
        .collect();
    for view in views {
        assert_eq!(view.await.expect("joined"), StatusCode::OK);
    }
    assert_eq!(reads_of(&t, sofia, "HealthSummary").await, before + 40);
    assert_intact(&t).await;
    if let Ok(t) = std::sync::Arc::try_unwrap(t) {
        t.stop().await;
    }
}

/// A portal process killed (SIGKILL) while views are in flight: every page it answered has its
/// audit event, and the chain is whole. Views wait for their event to commit before answering.
async fn every_page_answered_before_a_kill_has_its_event(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let c = t.sign_in(Role::Patient).await;
    let sofia = t.patient("Sofia Martinez");
    // A second process on the same database; the session lives in the database too.
    let mut child = crate::helpers::ChildPortal::serve(&t, &[]).await;
    let page = format!("{}/patients/{sofia}/record", child.url);
    let answered = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let views: Vec<_> = (0..16)
        .map(|_| {
            let (c, page, answered, stop) =
                (c.clone(), page.clone(), answered.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let Ok(r) = c.get(&page).send().await else {
                        break;
                    };
                    let id = r
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let ok = r.status() == StatusCode::OK;
                    // A page counts as shown only once its whole body arrived.
                    if ok
                        && r.text().await.is_ok_and(|html| html.contains("Sofia"))
                        && let Ok(mut answered) = answered.lock()
                    {
                        answered.push(id);
                    }
                }
            })
        })
        .collect();
    // Let views run, then kill the process in the middle of them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while answered.lock().map(|a| a.len()).unwrap_or(0) < 30 {
        assert!(
            std::time::Instant::now() < deadline,
            "no views were answered"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    child.kill_now();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for view in views {
        let _ = view.await;
    }
    let answered = answered.lock().map(|a| a.clone()).unwrap_or_default();
    assert!(answered.len() >= 30, "{}", answered.len());
    for id in &answered {
        assert!(!id.is_empty(), "every answer carries its request id");
        let events: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_events WHERE request_id = $1 AND patient_id = $2 \
             AND resource_type = 'HealthSummary' AND outcome = 'success'",
        )
        .bind(id)
        .bind(sofia.to_string())
        .fetch_one(t.app.store().pool())
        .await
        .expect("count");
        assert_eq!(events, 1, "the answered view {id} has its event");
    }
    assert_intact(&t).await;
    t.stop().await;
}

/// How many successful reads of `resource_type` the trail holds for `patient`.
async fn reads_of(t: &TestApp, patient: portal_domain::PatientId, resource_type: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM audit_events WHERE patient_id = $1 AND resource_type = $2 \
         AND action = 'read' AND outcome = 'success'",
    )
    .bind(patient.to_string())
    .bind(resource_type)
    .fetch_one(t.app.store().pool())
    .await
    .expect("count")
}

both_backends!(
    concurrent_views_each_have_their_event_in_one_intact_chain,
    every_page_answered_before_a_kill_has_its_event,
    every_patient_page_view_writes_one_event_with_the_astm_fields,
    sign_in_success_and_failure_are_each_audited,
    sign_out_is_audited,
    activation_is_audited,
    password_reset_request_and_change_are_each_audited,
    a_patient_reads_who_opened_her_record_in_plain_words,
    a_patient_cannot_open_another_patients_access_log,
    verify_passes_an_untouched_trail,
    verify_names_an_event_whose_detail_or_actor_changed,
    verify_names_an_event_removed_from_the_middle,
    verify_names_the_first_of_two_swapped_events,
    verify_notices_a_cut_off_tail,
    verify_catches_a_rewritten_and_rehashed_chain_by_its_signed_head,
    the_application_cannot_change_or_remove_audit_events,
);
