//! Issue 20, operational holes: the client address behind proxies (item 12), audit checkpoints
//! kept outside the database (item 13).

use crate::audit::{drop_append_only_triggers, last_seq, some_activity};
use crate::auth::{mail_files, reset_link_for};
use crate::both_backends;
use crate::helpers::{ChildPortal, TestApp, csrf_in};
use crate::sessions::user_id_on_admin_page;
use portal_domain::Role;
use portal_domain::checkpoint::{KeptCheckpoint, parse_kept};
use portal_store::Backend;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use sqlx::Row;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Every counter and gauge on the metrics listener, by name.
async fn metrics(t: &TestApp) -> BTreeMap<String, i64> {
    let text = reqwest::get(format!("{}/metrics", t.metrics_url))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once(' '))
        .filter_map(|(name, value)| Some((name.to_owned(), value.trim().parse().ok()?)))
        .collect()
}

/// Asks for a reset of `email` and waits until the outbox has delivered everything.
async fn reset_and_deliver(t: &TestApp, email: &str) {
    let delivered = mail_files(t).len();
    let c = t.client();
    let r = t
        .post_form(&c, "/reset", "/reset", &[("email", email)])
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(10);
    while mail_files(t).len() == delivered || metrics(t).await["portal_outbox_pending"] != 0 {
        assert!(Instant::now() < deadline, "the e-mail was not delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn item_9_metrics_are_off_the_public_address_and_the_same_for_unknown_accounts(
    backend: Backend,
) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let c = t.client();
    assert_eq!(t.get(&c, "/metrics").await.status(), StatusCode::NOT_FOUND);

    let start = metrics(&t).await;
    reset_and_deliver(&t, "nobody@demo.portal.test").await;
    let after_unknown = metrics(&t).await;
    let patient = t.account(Role::Patient).email.clone();
    reset_and_deliver(&t, &patient).await;
    let after_real = metrics(&t).await;
    for (name, value) in &after_real {
        let unknown_moved = after_unknown[name] - start[name];
        let real_moved = value - after_unknown[name];
        assert_eq!(
            unknown_moved, real_moved,
            "{name} moved {unknown_moved} for an unknown account and {real_moved} for a real one"
        );
    }
    assert_eq!(
        after_real["portal_mail_sent_total"] - start["portal_mail_sent_total"],
        2
    );
    t.stop().await;
}

async fn item_11_reset_links_are_limited_and_end_on_disable_and_password_change(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let staff = t.account(Role::Staff).clone();
    // Ask 25 times, from 25 addresses (behind a trusted proxy): the same answer each time, and
    // at most three e-mails reach the account in an hour.
    let outbox = t.count("outbox").await;
    let child = ChildPortal::serve(&t, &["--trusted-proxy", "127.0.0.0/8"]).await;
    for n in 0..25 {
        let mut headers = HeaderMap::new();
        let address = format!("198.51.100.{}", n + 1);
        headers.insert(
            "x-forwarded-for",
            HeaderValue::from_str(&address).expect("header"),
        );
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .default_headers(headers)
            .build()
            .expect("client");
        let page = client
            .get(format!("{}/reset", child.url))
            .send()
            .await
            .expect("GET /reset")
            .text()
            .await
            .expect("page");
        let r = client
            .post(format!("{}/reset", child.url))
            .header("origin", &child.url)
            .form(&[
                ("email", staff.email.as_str()),
                ("csrf", &csrf_in(&page).expect("csrf")),
            ])
            .send()
            .await
            .expect("POST /reset");
        assert_eq!(r.status(), StatusCode::OK, "the same answer every time");
    }
    assert_eq!(t.count("outbox").await, outbox + 3, "three e-mails, not 25");
    drop(child);
    t.advance(jiff::SignedDuration::from_mins(61));

    // A link ends when the account is disabled, even if it is enabled again afterwards.
    let link = reset_link_for(&t, &staff.email).await;
    let admin = t.sign_in(Role::Admin).await;
    let id = user_id_on_admin_page(&t, &admin, &staff.email).await;
    for status in ["disabled", "active"] {
        t.set_account_status(&admin, &id, status).await;
    }
    let page = t.get(&t.client(), &link).await.text().await.expect("page");
    assert!(page.contains("expired or was already used"), "{page}");

    // A link ends when the password is changed.
    let link = reset_link_for(&t, &staff.email).await;
    let signed_in = t.sign_in(Role::Staff).await;
    let r = t
        .post_form(
            &signed_in,
            "/account",
            "/account/password",
            &[
                ("current_password", &staff.password),
                ("new_password", "a brand new passphrase 2026"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "password changed");
    let page = t.get(&t.client(), &link).await.text().await.expect("page");
    assert!(page.contains("expired or was already used"), "{page}");
    t.stop().await;
}

/// Fails one sign-in at `url` with `X-Forwarded-For: forwarded` and returns the client address
/// the audit trail recorded for it.
async fn failed_sign_in_address(t: &TestApp, url: &str, forwarded: &str) -> String {
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-forwarded-for",
        HeaderValue::from_str(forwarded).expect("header"),
    );
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .expect("client");
    let page = client
        .get(format!("{url}/signin"))
        .send()
        .await
        .expect("GET /signin")
        .text()
        .await
        .expect("page");
    let csrf = csrf_in(&page).expect("csrf");
    let response = client
        .post(format!("{url}/signin"))
        .header("origin", url)
        .form(&[
            ("email", "nobody@example.org"),
            ("password", "not the password"),
            ("csrf", &csrf),
        ])
        .send()
        .await
        .expect("POST /signin");
    assert!(response.status().is_client_error(), "{}", response.status());
    sqlx::query_scalar(
        "SELECT client_addr FROM audit_events WHERE action = 'sign-in' ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(t.app.store().pool())
    .await
    .expect("audit event")
}

async fn item_12_the_client_address_is_the_rightmost_untrusted_hop(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    // No trusted proxy (the default): the header is ignored, whatever it says.
    let address = failed_sign_in_address(&t, &t.url, "6.6.6.6").await;
    assert_eq!(address, "127.0.0.1");

    // Behind a trusted proxy on loopback: the address the proxy appended counts, not the one the
    // client wrote in front of it.
    let child = ChildPortal::serve(&t, &["--trusted-proxy", "127.0.0.0/8"]).await;
    let address = failed_sign_in_address(&t, &child.url, "6.6.6.6, 203.0.113.9").await;
    assert_eq!(
        address, "203.0.113.9",
        "the leftmost value is the client's own writing"
    );
    drop(child);

    // A proxy network that does not hold the peer: the peer is the client.
    let child = ChildPortal::serve(&t, &["--trusted-proxy", "10.0.0.0/8"]).await;
    let address = failed_sign_in_address(&t, &child.url, "203.0.113.9").await;
    assert_eq!(address, "127.0.0.1");
    drop(child);
    t.stop().await;
}

async fn item_15_the_reset_token_never_reaches_the_log(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let child = ChildPortal::serve_logging(&t, &[], "debug").await;
    let token = "Zq7resettokenthatmustnotbelogged0";
    let client = reqwest::Client::new();
    let response = client
        .get(format!("{}/reset/{token}", child.url))
        .send()
        .await
        .expect("GET /reset/{token}");
    assert!(response.status().is_success() || response.status().is_client_error());
    let _ = client
        .get(format!("{}/no/such/{token}", child.url))
        .send()
        .await
        .expect("GET unknown path");
    // The response line is logged after the body is sent; wait for it with a deadline.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !child.log().contains("/reset/{token}") && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let log = child.log();
    assert!(
        log.contains("/reset/{token}"),
        "the route template is logged: {log}"
    );
    assert!(
        !log.contains(token),
        "the token itself is never logged: {log}"
    );
    drop(child);
    t.stop().await;
}

async fn item_15_break_glass_does_not_tell_which_records_exist(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let clinician = t.sign_in(Role::Clinician).await;
    let reason = "Unconscious in the emergency department";
    let try_mrn = |mrn: String| {
        let (t, c) = (&t, &clinician);
        async move {
            let r = t.break_glass(c, &mrn, reason).await;
            (r.status(), r.text().await.expect("body"))
        }
    };
    // Missed numbers all get one answer that says nothing about which numbers exist.
    let (status, first) = try_mrn("DEMO-9001".into()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!first.contains("No patient"), "{first}");
    assert!(first.contains("Emergency access cannot be opened"));
    for n in 2..=5 {
        let (status, html) = try_mrn(format!("DEMO-900{n}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            html.replace(&format!("DEMO-900{n}"), "MRN"),
            first.replace("DEMO-9001", "MRN")
        );
    }
    // After five misses the form pauses, even for a number that exists.
    let (status, _) = try_mrn("DEMO-1003".into()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    t.stop().await;
}

/// The entries of the "All entries" part of an access-log page, and its "Older entries" link.
fn log_page(html: &str) -> (Vec<String>, Option<String>) {
    let all = html
        .split("id=\"history\"")
        .nth(1)
        .expect("the entries section");
    let entries = all
        .split("<li")
        .skip(1)
        .filter(|li| li.contains("class=\"when\""))
        .map(|li| li.split("</li>").next().unwrap_or_default().to_string())
        .collect();
    let older = all
        .split("<a href=\"")
        .filter_map(|a| a.split_once("\">Older entries"))
        .map(|(href, _)| href.replace("&#38;", "&").replace("&amp;", "&"))
        .next();
    (entries, older)
}

async fn item_10_the_access_log_pages_keeps_emergencies_in_view_and_names_no_other_patient(
    backend: Backend,
) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let marcus = t.patient("Marcus Chen");
    // A clinician outside the care team opens Marcus's record in an emergency.
    let doctor = t.sign_in(Role::Clinician).await;
    let r = t
        .break_glass(
            &doctor,
            "DEMO-1003",
            "Unconscious in the emergency department",
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        t.get(&doctor, &format!("/patients/{marcus}/record"))
            .await
            .status(),
        StatusCode::OK
    );
    // Then another patient floods his log with 210 refused reads.
    let sofia = t.sign_in(Role::Patient).await;
    for _ in 0..210 {
        let r = t.get(&sofia, &format!("/patients/{marcus}/record")).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    // Marcus activates his account and reads his access log.
    let activation = t.demo.activation.clone();
    let me = t.client();
    let r = t
        .activate(
            &me,
            &activation.code,
            &activation.birth_date,
            "m.chen@example.org",
            "violet kettle orbit 9",
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = t
        .post_form(
            &me,
            "/signin",
            "/signin",
            &[
                ("email", "m.chen@example.org"),
                ("password", "violet kettle orbit 9"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let base = format!("/patients/{marcus}/access-log");
    let html = t.get(&me, &base).await.text().await.expect("page");
    assert!(
        !html.contains("Sofia") && !html.contains("Martinez"),
        "{html}"
    );
    assert!(html.contains("Someone without access to this record"));
    let emergency = html
        .split("id=\"emergency\"")
        .nth(1)
        .and_then(|s| s.split("id=\"history\"").next())
        .expect("emergency section");
    assert!(emergency.contains("Maya Okafor"), "{emergency}");
    assert!(emergency.contains("flagged for review"));

    // Every entry is reachable page by page.
    let mut seen = 0;
    let mut page = html;
    for pages in 1.. {
        assert!(pages <= 10, "the pages do not end");
        let (entries, older) = log_page(&page);
        assert!(entries.len() <= 50);
        seen += entries.len();
        let Some(next) = older else { break };
        page = t.get(&me, &next).await.text().await.expect("older page");
    }
    assert!(seen >= 213, "{seen} entries reachable");

    // Filters: the clinician's reads, and the refusals, each on their own.
    let clinic = t
        .get(&me, &format!("{base}?show=clinic"))
        .await
        .text()
        .await
        .expect("page");
    let (entries, _) = log_page(&clinic);
    assert!(!entries.is_empty());
    assert!(
        entries.iter().all(|e| e.contains("Maya Okafor")),
        "{entries:?}"
    );
    let refused = t
        .get(&me, &format!("{base}?show=refused"))
        .await
        .text()
        .await
        .expect("page");
    let (entries, older) = log_page(&refused);
    assert_eq!(entries.len(), 50);
    assert!(older.is_some());
    assert!(entries.iter().all(|e| e.contains("(refused)")));
    t.stop().await;
}

/// Runs the `portal` command with `args` on the test's database and key; returns the exit code
/// and everything it printed.
pub(crate) async fn run_portal(t: &TestApp, args: &[&str]) -> (i32, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_portal"))
        .arg("--data-dir")
        .arg(t.data_dir.path())
        .arg("--database")
        .arg(crate::import::database_url(t).await)
        .args(args)
        .env_remove("PORTAL_SECRET_KEY")
        .env_remove("PORTAL_DATABASE")
        .env_remove("PORTAL_DATA_DIR")
        .env_remove("PORTAL_AUDIT_CHECKPOINT_FILE")
        .env("PORTAL_LOG", "error")
        .output()
        .await
        .expect("run portal");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().expect("exit code"), text)
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// `portal audit checkpoint --append file`; returns the line it says it appended.
async fn append_checkpoint(t: &TestApp, file: &Path) -> KeptCheckpoint {
    let (code, out) = run_portal(t, &["audit", "checkpoint", "--append", path_arg(file)]).await;
    assert_eq!(code, 0, "{out}");
    let kept: KeptCheckpoint = out.trim().parse().expect("the appended line is printed");
    let in_file = std::fs::read_to_string(file).expect("checkpoint file");
    assert_eq!(
        in_file.lines().last(),
        Some(kept.to_string().as_str()),
        "the printed line is the file's last"
    );
    kept
}

/// The `audit_head` row: position, hash and signature.
async fn audit_head(t: &TestApp) -> (i64, String, String) {
    let row = sqlx::query("SELECT seq, hash, mac FROM audit_head WHERE id = 1")
        .fetch_one(t.app.store().pool())
        .await
        .expect("audit head");
    (
        row.try_get("seq").expect("seq"),
        row.try_get("hash").expect("hash"),
        row.try_get("mac").expect("mac"),
    )
}

async fn item_13_replayed_audit_head_is_caught_by_kept_checkpoints(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let kept_elsewhere = tempfile::tempdir().expect("temp dir");
    let file = kept_elsewhere.path().join("audit-checkpoints");
    some_activity(&t).await;
    let first = append_checkpoint(&t, &file).await;
    let old_head = audit_head(&t).await;
    assert_eq!(first.checkpoint.seq, last_seq(&t).await);
    assert_eq!(
        (old_head.0, &old_head.1),
        (first.checkpoint.seq, &first.checkpoint.hash)
    );
    some_activity(&t).await;
    let second = append_checkpoint(&t, &file).await;
    assert!(second.checkpoint.seq > first.checkpoint.seq);
    let checkpoints = ["audit", "verify", "--checkpoints", path_arg(&file)];
    let (code, out) = run_portal(&t, &checkpoints).await;
    assert_eq!(
        code, 0,
        "both checkpoints hold before anything is touched: {out}"
    );
    assert!(out.contains("All 2 checkpoints"), "{out}");

    // The replay: the newest events go, and the head saved before them is put back.
    drop_append_only_triggers(&t).await;
    let pool = t.app.store().pool();
    sqlx::query("DELETE FROM audit_events WHERE seq > $1")
        .bind(first.checkpoint.seq)
        .execute(pool)
        .await
        .expect("delete the newest events");
    sqlx::query("UPDATE audit_head SET seq = $1, hash = $2, mac = $3 WHERE id = 1")
        .bind(old_head.0)
        .bind(&old_head.1)
        .bind(&old_head.2)
        .execute(pool)
        .await
        .expect("put the old head back");

    // The hole: the chain and its signed head agree with each other.
    let (code, out) = run_portal(&t, &["audit", "verify"]).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("intact ({} events)", first.checkpoint.seq)),
        "{out}"
    );

    // The checkpoint kept outside the database does not.
    let (code, out) = run_portal(&t, &checkpoints).await;
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "no longer contains checkpoint {} kept at {}: events were removed or rewritten",
            second.checkpoint.seq,
            second.time()
        )),
        "{out}"
    );
    assert!(out.contains("line 2 of"), "{out}");
    t.stop().await;
}

async fn item_13_the_server_keeps_checkpoints_on_its_schedule(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    some_activity(&t).await;
    let kept_elsewhere = tempfile::tempdir().expect("temp dir");
    let file = kept_elsewhere.path().join("audit-checkpoints");
    let child = ChildPortal::serve(
        &t,
        &[
            "--audit-checkpoint-file",
            path_arg(&file),
            "--audit-checkpoint-every",
            "1",
        ],
    )
    .await;
    // One line at start, then one a second: wait for the second to see the schedule work.
    let deadline = Instant::now() + Duration::from_secs(30);
    let kept = loop {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let kept = parse_kept(&text).expect("only whole lines are ever written");
        if kept.len() >= 2 {
            break kept;
        }
        assert!(
            Instant::now() < deadline,
            "the server kept {} checkpoint(s): {}",
            kept.len(),
            child.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    drop(child);
    let head = t.app.clinic().audit_checkpoint().await.expect("head");
    for (line, k) in &kept {
        assert_eq!(k.checkpoint, head, "line {line}");
    }
    let (code, out) = run_portal(&t, &["audit", "verify", "--checkpoints", path_arg(&file)]).await;
    assert_eq!(code, 0, "{out}");
    t.stop().await;
}

both_backends!(
    item_9_metrics_are_off_the_public_address_and_the_same_for_unknown_accounts,
    item_10_the_access_log_pages_keeps_emergencies_in_view_and_names_no_other_patient,
    item_11_reset_links_are_limited_and_end_on_disable_and_password_change,
    item_12_the_client_address_is_the_rightmost_untrusted_hop,
    item_13_replayed_audit_head_is_caught_by_kept_checkpoints,
    item_13_the_server_keeps_checkpoints_on_its_schedule,
    item_15_the_reset_token_never_reaches_the_log,
    item_15_break_glass_does_not_tell_which_records_exist,
);
