//! Sessions as a browser meets them: the cookie, time-outs, sign-out, ending other sessions,
//! CSRF refusals and the security headers on every kind of response.

use crate::both_backends;
use crate::helpers::{TestApp, csrf_in, location};
use jiff::SignedDuration;
use portal_domain::Role;
use portal_store::Backend;
use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};

async fn body(r: Response) -> String {
    r.text().await.expect("body")
}

/// The `Set-Cookie` header that carries the session cookie, if the response has one.
fn session_set_cookie(r: &Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("portal_session="))
        .map(str::to_string)
}

/// The value of a `Set-Cookie` header (between `=` and the first `;`).
fn cookie_value(set_cookie: &str) -> String {
    let value = set_cookie.split(';').next().unwrap_or("");
    value
        .split_once('=')
        .map(|(_, v)| v.to_string())
        .unwrap_or_default()
}

/// A client without a cookie jar, for replaying a cookie by hand.
fn bare_client() -> Client {
    Client::builder()
        .redirect(Policy::none())
        .user_agent("portal-tests")
        .build()
        .expect("client")
}

/// Signs in `role` through both steps; returns the client and the session cookie's value after
/// the password step and after the second factor.
async fn sign_in_with_cookies(t: &TestApp, role: Role) -> (Client, String, String) {
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
    assert_eq!(location(&r), "/signin/second-factor");
    let pending = session_set_cookie(&r).expect("a session cookie after the password");
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
    assert_eq!(location(&r), "/");
    let full = session_set_cookie(&r).expect("a session cookie after the second factor");
    (c, cookie_value(&pending), cookie_value(&full))
}

/// GET `path` with only the session cookie `token`, from a client with no jar.
async fn get_with_cookie(t: &TestApp, token: &str, path: &str) -> Response {
    bare_client()
        .get(format!("{}{path}", t.url))
        .header("cookie", format!("portal_session={token}"))
        .send()
        .await
        .expect("GET")
}

/// POSTs a form exactly as given (no CSRF token added), with extra headers.
async fn post_raw(
    t: &TestApp,
    c: &Client,
    path: &str,
    fields: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Response {
    let mut request = c.post(format!("{}{path}", t.url)).form(fields);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("POST")
}

async fn account_csrf(t: &TestApp, c: &Client) -> String {
    t.csrf_from(c, "/account").await
}

/// The security headers every response carries.
fn assert_security_headers(r: &Response, what: &str) {
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("{what}: no {name} header"))
            .to_string()
    };
    let csp = header("content-security-policy");
    assert!(!csp.contains("unsafe-inline"), "{what}: {csp}");
    assert!(!csp.contains("unsafe-eval"), "{what}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(csp.contains("script-src 'self'"), "{what}: {csp}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("referrer-policy"), "no-referrer", "{what}");
}

async fn session_cookie_is_locked_down_and_renewed_at_each_sign_in_step(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let account = t.account(Role::Patient).clone();
    let c = t.client();
    let r = t
        .post_form(
            &c,
            "/signin",
            "/signin",
            &[("email", &account.email), ("password", &account.password)],
        )
        .await;
    let pending_cookie = session_set_cookie(&r).expect("session cookie");
    let attributes: Vec<String> = pending_cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    for wanted in ["httponly", "samesite=lax", "path=/"] {
        assert!(
            attributes.iter().any(|a| a == wanted),
            "{wanted} missing: {pending_cookie}"
        );
    }
    assert!(
        !attributes.iter().any(|a| a.starts_with("domain")),
        "the cookie names a domain: {pending_cookie}"
    );
    let pending = cookie_value(&pending_cookie);
    assert!(pending.len() >= 26, "at least 128 bits: {pending}");

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
    let full_cookie = session_set_cookie(&r).expect("new session cookie");
    for wanted in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(full_cookie.contains(wanted), "{full_cookie}");
    }
    let full = cookie_value(&full_cookie);
    assert_ne!(full, pending, "a new session id after the second factor");

    // The half-finished session is gone: its cookie opens nothing.
    let r = get_with_cookie(&t, &pending, "/signin/second-factor").await;
    assert_eq!(location(&r), "/signin");
    assert_eq!(
        get_with_cookie(&t, &full, "/account").await.status(),
        StatusCode::OK
    );

    // A second sign-in gets yet another id.
    let (_, pending_again, full_again) = sign_in_with_cookies(&t, Role::Patient).await;
    for earlier in [&pending, &full] {
        assert_ne!(&pending_again, earlier);
        assert_ne!(&full_again, earlier);
    }
    t.stop().await;
}

async fn an_idle_session_ends_after_fifteen_minutes(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let c = t.sign_in(Role::Patient).await;
    assert_eq!(t.get(&c, "/account").await.status(), StatusCode::OK);
    t.advance(SignedDuration::from_mins(16));
    let r = t.get(&c, "/account").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/signin");
    assert_eq!(t.count("sessions").await, 0, "the session was deleted");
    t.stop().await;
}

async fn activity_keeps_a_session_alive(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let c = t.sign_in(Role::Patient).await;
    for minute in (10..=60).step_by(10) {
        t.advance(SignedDuration::from_mins(10));
        let r = t.get(&c, "/account").await;
        assert_eq!(r.status(), StatusCode::OK, "after {minute} minutes");
    }
    t.stop().await;
}

async fn a_session_ends_twelve_hours_after_sign_in_even_with_activity(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let c = t.sign_in(Role::Patient).await;
    let mut minutes = 0;
    while minutes < 12 * 60 - 10 {
        t.advance(SignedDuration::from_mins(10));
        minutes += 10;
        let r = t.get(&c, "/account").await;
        assert_eq!(r.status(), StatusCode::OK, "after {minutes} minutes");
    }
    t.advance(SignedDuration::from_mins(10));
    let r = t.get(&c, "/account").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "after 12 hours");
    assert_eq!(location(&r), "/signin");
    t.stop().await;
}

async fn sign_out_ends_the_session_on_the_server(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let (c, _, token) = sign_in_with_cookies(&t, Role::Patient).await;
    let sessions = t.count("sessions").await;
    let csrf = account_csrf(&t, &c).await;
    let r = post_raw(&t, &c, "/signout", &[("csrf", &csrf)], &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/signin?done=signed-out");
    assert_eq!(
        r.headers()
            .get("clear-site-data")
            .and_then(|v| v.to_str().ok()),
        Some("\"cache\", \"storage\"")
    );
    let cleared = session_set_cookie(&r).expect("the cookie is cleared");
    assert_eq!(cookie_value(&cleared), "");
    assert_eq!(t.count("sessions").await, sessions - 1);

    // The old cookie, replayed by hand from another client, opens nothing.
    let r = get_with_cookie(&t, &token, "/account").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/signin");
    let sofia = t.patient("Sofia Martinez");
    let r = get_with_cookie(&t, &token, &format!("/patients/{sofia}")).await;
    assert_eq!(location(&r), "/signin");
    t.stop().await;
}

async fn signing_out_everywhere_else_keeps_only_this_session(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let here = t.sign_in(Role::Patient).await;
    let elsewhere = t.sign_in(Role::Patient).await;
    let clinician = t.sign_in(Role::Clinician).await;
    let r = t
        .post_form(&here, "/account", "/account/sessions/end-others", &[])
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/account?done=sessions");
    let page = t.get(&here, "/account?done=sessions").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        body(page)
            .await
            .contains("You were signed out everywhere else.")
    );
    assert_eq!(location(&t.get(&elsewhere, "/account").await), "/signin");
    assert_eq!(
        t.get(&clinician, "/account").await.status(),
        StatusCode::OK,
        "another account's session is untouched"
    );
    t.stop().await;
}

async fn changing_the_password_ends_the_other_sessions(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let account = t.account(Role::Patient).clone();
    let here = t.sign_in(Role::Patient).await;
    let elsewhere = t.sign_in(Role::Patient).await;
    let r = t
        .post_form(
            &here,
            "/account",
            "/account/password",
            &[
                ("current_password", &account.password),
                ("new_password", "saffron tide lamp 31"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/account?done=password");
    assert_eq!(t.get(&here, "/account").await.status(), StatusCode::OK);
    assert_eq!(location(&t.get(&elsewhere, "/account").await), "/signin");

    let c = t.client();
    let r = t
        .post_form(
            &c,
            "/signin",
            "/signin",
            &[
                ("email", &account.email),
                ("password", "saffron tide lamp 31"),
            ],
        )
        .await;
    assert_eq!(location(&r), "/signin/second-factor");
    t.stop().await;
}

/// The id of an account, from the admin's user list.
pub(crate) async fn user_id_on_admin_page(t: &TestApp, admin: &Client, email: &str) -> String {
    let html = body(t.get(admin, "/admin/users").await).await;
    let at = html.find(email).expect("the account is listed");
    let start = at + html[at..].find("/admin/users/").expect("a status form") + 13;
    let end = start + html[start..].find('/').expect("end of id");
    html[start..end].to_string()
}

async fn disabling_an_account_ends_its_sessions(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let staff_account = t.account(Role::Staff).clone();
    let staff = t.sign_in(Role::Staff).await;
    assert_eq!(t.get(&staff, "/inbasket").await.status(), StatusCode::OK);
    let admin = t.sign_in(Role::Admin).await;
    let id = user_id_on_admin_page(&t, &admin, &staff_account.email).await;
    let sessions = t.count("sessions").await;
    let r = t
        .post_form(
            &admin,
            "/admin/users",
            &format!("/admin/users/{id}/status"),
            &[("status", "disabled")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/admin/users?done=status");
    assert_eq!(t.count("sessions").await, sessions - 1);

    let r = t.get(&staff, "/inbasket").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/signin");

    // The disabled account cannot sign in again, and is told nothing more than a wrong password.
    let c = t.client();
    let r = t
        .post_form(
            &c,
            "/signin",
            "/signin",
            &[
                ("email", &staff_account.email),
                ("password", &staff_account.password),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body(r).await.contains("E-mail or password is not right."));
    t.stop().await;
}

/// One forged request: what it tries, its form fields and its extra headers.
type ForgedRequest<'a> = (&'a str, Vec<(&'a str, String)>, Vec<(&'a str, &'a str)>);

async fn forged_state_changes_are_refused_and_change_nothing(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let account = t.account(Role::Patient).clone();
    let victim = t.sign_in(Role::Patient).await;
    let elsewhere = t.sign_in(Role::Patient).await;
    let attacker = t.sign_in(Role::Clinician).await;
    let own = account_csrf(&t, &victim).await;
    let other_session = account_csrf(&t, &elsewhere).await;
    let attackers = account_csrf(&t, &attacker).await;
    assert_ne!(own, other_session, "each session has its own token");
    let change = |csrf: Option<&str>| {
        let mut fields = vec![
            ("current_password", account.password.clone()),
            ("new_password", "hijacked password 99".to_string()),
        ];
        if let Some(c) = csrf {
            fields.push(("csrf", c.to_string()));
        }
        fields
    };
    let sessions = t.count("sessions").await;
    let audit = t.count("audit_events").await;
    let origin = t.url.clone();
    let cases: Vec<ForgedRequest> = vec![
        ("no token", change(None), vec![]),
        (
            "a wrong token",
            change(Some("0123456789abcdefghijklmnopqrstuv")),
            vec![],
        ),
        ("an empty token", change(Some("")), vec![]),
        (
            "another session's token",
            change(Some(&other_session)),
            vec![],
        ),
        ("another account's token", change(Some(&attackers)), vec![]),
        (
            "a foreign Origin",
            change(Some(&own)),
            vec![("origin", "https://evil.example")],
        ),
        ("Origin null", change(Some(&own)), vec![("origin", "null")]),
        (
            "Sec-Fetch-Site cross-site",
            change(Some(&own)),
            vec![("sec-fetch-site", "cross-site")],
        ),
        (
            "Sec-Fetch-Site same-site",
            change(Some(&own)),
            vec![("sec-fetch-site", "same-site"), ("origin", origin.as_str())],
        ),
    ];
    for (what, fields, headers) in &cases {
        let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = post_raw(&t, &victim, "/account/password", &refs, headers).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{what}");
        assert_security_headers(&r, what);
        assert_eq!(t.count("sessions").await, sessions, "{what}");
        assert_eq!(t.count("audit_events").await, audit, "{what}");
    }
    assert_eq!(t.get(&elsewhere, "/account").await.status(), StatusCode::OK);

    // The same request from the portal's own page goes through: the refusals above were CSRF.
    let fields = change(Some(&own));
    let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = post_raw(
        &t,
        &victim,
        "/account/password",
        &refs,
        &[
            ("origin", origin.as_str()),
            ("sec-fetch-site", "same-origin"),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&t.get(&elsewhere, "/account").await), "/signin");
    t.stop().await;
}

async fn anonymous_forms_need_a_token_and_the_same_origin(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let account = t.account(Role::Patient).clone();
    let c = t.client();
    let page = body(t.get(&c, "/signin").await).await;
    let csrf = csrf_in(&page).expect("csrf on the sign-in page");
    let sessions = t.count("sessions").await;
    let credentials = [
        ("email", account.email.as_str()),
        ("password", account.password.as_str()),
    ];
    let with_token = [credentials[0], credentials[1], ("csrf", csrf.as_str())];
    let wrong_token = [credentials[0], credentials[1], ("csrf", "not-the-token")];
    for (what, fields, headers) in [
        ("no token", &credentials[..], &[][..]),
        ("a wrong token", &wrong_token[..], &[][..]),
        (
            "a foreign Origin",
            &with_token[..],
            &[("origin", "https://evil.example")][..],
        ),
        (
            "Sec-Fetch-Site cross-site",
            &with_token[..],
            &[("sec-fetch-site", "cross-site")][..],
        ),
    ] {
        let r = post_raw(&t, &c, "/signin", fields, headers).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{what}");
        assert!(session_set_cookie(&r).is_none(), "{what}");
        assert_eq!(t.count("sessions").await, sessions, "{what}");
    }
    // A token with no cookie behind it (another browser's) is refused too.
    let r = post_raw(&t, &bare_client(), "/signin", &with_token, &[]).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = post_raw(&t, &c, "/signin", &with_token, &[]).await;
    assert_eq!(location(&r), "/signin/second-factor");
    t.stop().await;
}

async fn no_get_request_changes_anything(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let here = t.sign_in(Role::Patient).await;
    let elsewhere = t.sign_in(Role::Patient).await;
    let sessions = t.count("sessions").await;
    for path in [
        "/signout",
        "/account/sessions/end-others",
        "/account/password?current_password=x&new_password=y",
        "/signout?csrf=x",
    ] {
        let r = t.get(&here, path).await;
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED, "GET {path}");
        assert!(session_set_cookie(&r).is_none(), "GET {path}");
        assert!(r.headers().get("clear-site-data").is_none(), "GET {path}");
    }
    assert_eq!(t.count("sessions").await, sessions);
    assert_eq!(t.get(&here, "/account").await.status(), StatusCode::OK);
    assert_eq!(t.get(&elsewhere, "/account").await.status(), StatusCode::OK);
    t.stop().await;
}

async fn security_headers_are_on_pages_errors_and_redirects(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let anonymous = t.client();
    let r = t.get(&anonymous, "/signin").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_security_headers(&r, "sign-in page");
    let r = t.get(&anonymous, "/no/such/page").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_security_headers(&r, "404");
    let r = t.get(&anonymous, "/account").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_security_headers(&r, "redirect");

    let c = t.sign_in(Role::Patient).await;
    let sofia = t.patient("Sofia Martinez");
    for path in [
        format!("/patients/{sofia}"),
        format!("/patients/{sofia}/record"),
        format!("/patients/{sofia}/medications"),
        format!("/patients/{sofia}/access-log"),
        "/account".to_string(),
    ] {
        let r = t.get(&c, &path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_security_headers(&r, &path);
        assert_eq!(
            r.headers()
                .get("cache-control")
                .and_then(|v| v.to_str().ok()),
            Some("no-store"),
            "{path}"
        );
    }
    let r = t.get(&c, "/").await;
    assert_security_headers(&r, "redirect after sign-in");
    let marcus = t.patient("Marcus Chen");
    let r = t.get(&c, &format!("/patients/{marcus}")).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_security_headers(&r, "another patient's record");
    t.stop().await;
}

both_backends!(
    session_cookie_is_locked_down_and_renewed_at_each_sign_in_step,
    an_idle_session_ends_after_fifteen_minutes,
    activity_keeps_a_session_alive,
    a_session_ends_twelve_hours_after_sign_in_even_with_activity,
    sign_out_ends_the_session_on_the_server,
    signing_out_everywhere_else_keeps_only_this_session,
    changing_the_password_ends_the_other_sessions,
    disabling_an_account_ends_its_sessions,
    forged_state_changes_are_refused_and_change_nothing,
    anonymous_forms_need_a_token_and_the_same_origin,
    no_get_request_changes_anything,
    security_headers_are_on_pages_errors_and_redirects,
);
