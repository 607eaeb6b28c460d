//! Secrets at rest: after passwords, codes, authenticator secrets, recovery codes, reset links
//! and session cookies have all been used, none of them is anywhere in the database in plain
//! text; and session cookies are long, random and new at every sign-in.

use crate::both_backends;
use crate::helpers::{TestApp, location};
use jiff::SignedDuration;
use portal_domain::Role;
use portal_store::Backend;
use reqwest::{Client, Response, StatusCode};
use sha2::{Digest, Sha256};
use sqlx::Row;
use std::time::{Duration, Instant};

const SESSION_COOKIE: &str = "portal_session";

/// The session cookie a response sets, if any.
fn session_cookie_set_by(r: &Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .filter_map(|pair| pair.split_once('='))
        .find(|(name, value)| *name == SESSION_COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_string())
}

/// A sign-in through both steps that keeps the cookie values: (after the password, after the
/// second factor).
async fn sign_in_keeping_cookies(t: &TestApp, role: Role) -> (Client, String, String) {
    let account = t.account(role).clone();
    let c = t.client();
    let r = t
        .post_form(
            &c,
            "/signin",
            "/signin",
            &[("email", &account.email), ("password", &account.password)],
        )
        .await;
    assert_eq!(location(&r), "/signin/second-factor", "{role}");
    let pending = session_cookie_set_by(&r).expect("a session cookie after the password");
    t.advance(SignedDuration::from_secs(30));
    let code = t.totp_code(&account.totp_secret);
    let r = t
        .post_form(
            &c,
            "/signin/second-factor",
            "/signin/second-factor",
            &[("code", &code)],
        )
        .await;
    assert_eq!(location(&r), "/", "{role}");
    let full = session_cookie_set_by(&r).expect("a new session cookie after the second factor");
    (c, pending, full)
}

/// The text between `start` and the next `end`, for every occurrence.
fn all_between<'a>(html: &'a str, start: &str, end: &str) -> Vec<&'a str> {
    html.split(start)
        .skip(1)
        .filter_map(|rest| rest.split(end).next())
        .collect()
}

/// Waits for the reset e-mail in the data directory and returns the link's token.
async fn reset_token_from_mail(t: &TestApp) -> String {
    let dir = t.data_dir.path().join("mail");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mails: Vec<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
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

/// Every value of every column of every table, as text, each with its `table.column`.
async fn dump_database(t: &TestApp) -> Vec<(String, String)> {
    let pool = t.app.store().pool();
    let (tables_sql, columns_sql) = match t.app.store().backend() {
        Backend::Sqlite => (
            "SELECT name FROM sqlite_master WHERE type = 'table'",
            "SELECT name FROM pragma_table_info($1)",
        ),
        Backend::Postgres => (
            "SELECT CAST(table_name AS TEXT) AS name FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
            "SELECT CAST(column_name AS TEXT) AS name FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name = $1",
        ),
    };
    let tables: Vec<String> = sqlx::query(tables_sql)
        .fetch_all(pool)
        .await
        .expect("tables")
        .iter()
        .map(|r| r.try_get("name").expect("table name"))
        .collect();
    for expected in [
        "users",
        "sessions",
        "activation_codes",
        "outbox",
        "audit_events",
    ] {
        assert!(
            tables.iter().any(|t| t == expected),
            "the dump sees {expected}"
        );
    }
    let mut dump = Vec::new();
    for table in &tables {
        let columns: Vec<String> = sqlx::query(columns_sql)
            .bind(table)
            .fetch_all(pool)
            .await
            .expect("columns")
            .iter()
            .map(|r| r.try_get("name").expect("column name"))
            .collect();
        assert!(!columns.is_empty(), "{table} has columns");
        for column in &columns {
            let sql = format!("SELECT CAST(\"{column}\" AS TEXT) AS v FROM \"{table}\"");
            for row in sqlx::query(sqlx::AssertSqlSafe(sql))
                .fetch_all(pool)
                .await
                .expect("column values")
            {
                if let Some(value) = row.try_get::<Option<String>, _>("v").expect("text") {
                    dump.push((format!("{table}.{column}"), value.to_lowercase()));
                }
            }
        }
    }
    dump
}

async fn no_password_code_secret_or_token_is_stored_in_plain_text(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let mut secrets: Vec<(String, String)> = Vec::new();

    // Every role signs in; their passwords, authenticator secrets and cookies are secrets.
    for role in [Role::Patient, Role::Clinician, Role::Staff, Role::Admin] {
        let account = t.account(role).clone();
        let (_, pending, full) = sign_in_keeping_cookies(&t, role).await;
        secrets.push((format!("{role} password"), account.password));
        secrets.push((format!("{role} TOTP secret"), account.totp_secret));
        secrets.push((format!("{role} pending session cookie"), pending));
        secrets.push((format!("{role} session cookie"), full));
    }

    // The front desk issues an activation code for Leo.
    let (desk, _, _) = sign_in_keeping_cookies(&t, Role::Staff).await;
    let leo = t.patient("Leo Martinez");
    let r = t
        .post_form(&desk, "/account", &format!("/patients/{leo}/invite"), &[])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("body");
    let issued = all_between(&html, "<code>", "</code>")
        .first()
        .expect("the code is shown")
        .to_string();
    assert_eq!(issued.len(), 19, "a grouped 16-character code: {issued}");
    secrets.push(("issued activation code".into(), issued.clone()));
    secrets.push(("issued activation code".into(), issued.replace('-', "")));

    // Marcus activates his account with the demo code.
    let demo_code = t.demo.activation.code.clone();
    secrets.push(("demo activation code".into(), demo_code.clone()));
    secrets.push(("demo activation code".into(), demo_code.replace('-', "")));
    let marcus_password = "harbour lights 90210 spin";
    secrets.push((
        "activated account's password".into(),
        marcus_password.into(),
    ));
    let c = t.client();
    let r = t
        .post_form(
            &c,
            "/activate",
            "/activate",
            &[
                ("code", &demo_code),
                ("birth_date", &t.demo.activation.birth_date),
                ("email", "marcus@example.org"),
                ("password", marcus_password),
            ],
        )
        .await;
    assert_eq!(location(&r), "/signin?done=activated");

    // He signs in and enrols an authenticator app from his account page.
    let r = t
        .post_form(
            &c,
            "/signin",
            "/signin",
            &[
                ("email", "marcus@example.org"),
                ("password", marcus_password),
            ],
        )
        .await;
    assert_eq!(location(&r), "/");
    let cookie = session_cookie_set_by(&r).expect("session cookie");
    secrets.push(("activated account's session cookie".into(), cookie));
    let enrol = t
        .get(&c, "/account/second-factor")
        .await
        .text()
        .await
        .expect("body");
    let manual_key = all_between(&enrol, "<code class=\"key\">", "</code>")
        .first()
        .expect("the key is shown")
        .replace(' ', "");
    let sealed = all_between(&enrol, "name=\"secret\" value=\"", "\"")
        .first()
        .expect("the sealed secret")
        .to_string();
    secrets.push(("enrolled TOTP secret".into(), manual_key.clone()));
    let code = t.totp_code(&manual_key);
    let r = t
        .post_form(
            &c,
            "/account",
            "/account/second-factor",
            &[
                ("secret", &sealed),
                ("code", &code),
                ("current_password", marcus_password),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("body");
    let recovery: Vec<String> = all_between(&html, "<li><code>", "</code>")
        .into_iter()
        .map(str::to_string)
        .collect();
    assert_eq!(recovery.len(), 10, "ten recovery codes are shown");
    for code in recovery {
        secrets.push(("recovery code".into(), code));
    }

    // The clinician asks for a password reset and uses the link.
    let clinician = t.account(Role::Clinician).email.clone();
    let c = t.client();
    let r = t
        .post_form(&c, "/reset", "/reset", &[("email", &clinician)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let token = reset_token_from_mail(&t).await;
    secrets.push(("reset token".into(), token.clone()));
    let page = format!("/reset/{token}");
    let new_password = "granite meadow 5512 echo";
    secrets.push(("password set by reset".into(), new_password.into()));
    let r = t
        .post_form(&c, &page, &page, &[("new_password", new_password)])
        .await;
    assert_eq!(location(&r), "/signin?done=reset");

    let dump = dump_database(&t).await;
    assert!(
        dump.iter().any(|(_, v)| v == "sofia"),
        "the dump holds the database's contents"
    );
    for (what, secret) in &secrets {
        assert!(secret.len() >= 10, "{what} is long enough to search for");
        let secret = secret.to_lowercase();
        let found: Vec<&str> = dump
            .iter()
            .filter(|(_, value)| value.contains(&secret))
            .map(|(place, _)| place.as_str())
            .collect();
        assert!(
            found.is_empty(),
            "the database holds a {what} in plain text, in {found:?}"
        );
    }
    t.stop().await;
}

async fn session_cookies_are_long_random_new_and_stored_hashed(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let (_, pending, first) = sign_in_keeping_cookies(&t, Role::Patient).await;
    let (_, _, second) = sign_in_keeping_cookies(&t, Role::Patient).await;
    for value in [&pending, &first, &second] {
        assert!(
            value
                .bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7')),
            "base32: {value}"
        );
        assert!(
            value.len() * 5 >= 128,
            "at least 128 bits: {} characters",
            value.len()
        );
    }
    assert_ne!(pending, first, "a new session id after the second factor");
    assert_ne!(first, second, "a new session id at every sign-in");
    for value in [&first, &second] {
        let hash = format!("{:x}", Sha256::digest(value.as_bytes()));
        let rows: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM sessions WHERE token_hash = $1 OR token_hash = $2",
        )
        .bind(&hash)
        .bind(value.as_str())
        .fetch_one(t.app.store().pool())
        .await
        .expect("sessions")
        .try_get("n")
        .expect("n");
        assert_eq!(rows, 1, "the session is found by its hash");
        let plain: i64 = sqlx::query("SELECT COUNT(*) AS n FROM sessions WHERE token_hash = $1")
            .bind(value.as_str())
            .fetch_one(t.app.store().pool())
            .await
            .expect("sessions")
            .try_get("n")
            .expect("n");
        assert_eq!(plain, 0, "the cookie itself is not stored");
    }
    // The half-finished session ended when the full one began.
    let c = t.client();
    let r = c
        .get(format!("{}/signin/second-factor", t.url))
        .header("cookie", format!("{SESSION_COOKIE}={pending}"))
        .send()
        .await
        .expect("GET");
    assert_eq!(location(&r), "/signin");
    t.stop().await;
}

both_backends!(
    no_password_code_secret_or_token_is_stored_in_plain_text,
    session_cookies_are_long_random_new_and_stored_hashed,
);
