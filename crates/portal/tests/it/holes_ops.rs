//! Issue 20, operational holes: the client address behind proxies (item 12).

use crate::both_backends;
use crate::helpers::{ChildPortal, TestApp, csrf_in};
use portal_store::Backend;
use reqwest::header::{HeaderMap, HeaderValue};

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

both_backends!(
    item_12_the_client_address_is_the_rightmost_untrusted_hop,
    item_15_the_reset_token_never_reaches_the_log,
);
