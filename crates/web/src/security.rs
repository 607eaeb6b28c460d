//! Security on every request: response headers, CSRF checks, the request's context.

use crate::AppState;
use crate::error::error_page;
use crate::session::{SessionState, cookie};
use axum::body::{Body, to_bytes};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use portal_domain::audit::RequestContext;
use std::convert::Infallible;
use std::net::SocketAddr;
use subtle::ConstantTimeEq;

/// The Content-Security-Policy: no inline script or style, nothing from elsewhere, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
                       base-uri 'none'";

/// Adds the security headers to every response, and counts responses for /metrics.
pub async fn headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let is_static = request.uri().path().starts_with("/static/");
    let mut response = next.run(request).await;
    let metrics = state.app.metrics();
    match response.status().as_u16() {
        200..=299 => metrics.responses_2xx.inc(),
        300..=399 => metrics.responses_3xx.inc(),
        400..=499 => metrics.responses_4xx.inc(),
        _ => metrics.responses_5xx.inc(),
    }
    let h = response.headers_mut();
    // A handler may set a stricter policy (a file shown sandboxed) or name where its form's
    // answer goes (the consent page sends the browser back to the app).
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
    );
    if state.tls {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    if is_static {
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=3600"),
        );
    } else {
        // Pages show health data or tokens: never stored by the browser or a proxy.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    }
    response
}

/// Whether the browser says the request came from another site.
fn cross_site(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return !matches!(site, "same-origin" | "none");
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let origin_host = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
            .unwrap_or("");
        return origin == "null" || !origin_host.eq_ignore_ascii_case(host);
    }
    false
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded_parse(body)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Minimal `application/x-www-form-urlencoded` parsing for the CSRF field.
mod url {
    pub fn form_urlencoded_parse(body: &[u8]) -> Vec<(String, String)> {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).unwrap_or_default()
    }
}

/// The largest form body the portal accepts.
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// Refuses a state-changing request unless it comes from the portal's own pages: same origin
/// (by `Sec-Fetch-Site` or `Origin`) and carrying the CSRF token bound to the session (or, before
/// sign-in, to the anonymous CSRF cookie).
pub async fn csrf(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // The FHIR API authenticates every request with a bearer token, never a cookie, so a forged
    // cross-site request has nothing to ride on.
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) || request.uri().path() == "/fhir"
        || request.uri().path().starts_with("/fhir/")
        || crate::smart::is_back_channel(request.uri().path())
    {
        return next.run(request).await;
    }
    let refuse = || {
        error_page(
            StatusCode::FORBIDDEN,
            "This form has expired",
            vec!["Reload the page and try again.".into()],
        )
    };
    if cross_site(request.headers()) {
        return refuse();
    }
    let expected = match request
        .extensions()
        .get::<SessionState>()
        .and_then(|s| s.0.as_ref())
    {
        Some(user) => Some(user.csrf_token().to_string()),
        None => cookie(request.headers(), state.csrf_cookie()).map(str::to_string),
    };
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Some(boundary) = crate::upload::boundary(content_type) {
        return match expected {
            Some(expected) if !expected.is_empty() => {
                with_files(&state, request, next, boundary, &expected).await
            }
            _ => refuse(),
        };
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_FORM_BYTES).await else {
        return error_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too much data",
            vec!["The form sent more data than the portal accepts.".into()],
        );
    };
    let given = form_field(&bytes, "csrf");
    let ok = match (expected, given) {
        (Some(e), Some(g)) if !e.is_empty() => bool::from(e.as_bytes().ct_eq(g.as_bytes())),
        _ => false,
    };
    if !ok {
        return refuse();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// A signed-in form with files: read whole within its limit and the shared budget, parsed once,
/// its CSRF field checked, and its parts handed to the handler ([`crate::upload::Uploaded`]).
async fn with_files(
    state: &AppState,
    request: Request,
    next: Next,
    boundary: Result<String, crate::upload::UploadError>,
    expected: &str,
) -> Response {
    use crate::upload::MAX_UPLOAD_BYTES;
    let too_large = || {
        error_page(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too much data",
            vec![format!(
                "The form sent more than the portal accepts ({}). Attach fewer or smaller files.",
                portal_domain::messages::attachment::size_words(MAX_UPLOAD_BYTES)
            )],
        )
    };
    let unreadable = || {
        error_page(
            StatusCode::BAD_REQUEST,
            "This form could not be read",
            vec!["Reload the page and try again.".into()],
        )
    };
    let Ok(boundary) = boundary else {
        return unreadable();
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_UPLOAD_BYTES) {
        return too_large();
    }
    let Some(_room) = state
        .upload_bodies
        .reserve(declared.unwrap_or(MAX_UPLOAD_BYTES))
        .await
    else {
        return error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The portal is busy",
            vec!["Many files are being sent right now. Try again in a minute.".into()],
        );
    };
    let (mut parts, body) = request.into_parts();
    let limit = declared.unwrap_or(MAX_UPLOAD_BYTES);
    let Ok(bytes) = to_bytes(body, limit).await else {
        return too_large();
    };
    let Ok(form) = crate::upload::parse(&bytes, &boundary) else {
        return unreadable();
    };
    drop(bytes);
    let given = form.text("csrf").unwrap_or("");
    if !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        return error_page(
            StatusCode::FORBIDDEN,
            "This form has expired",
            vec!["Reload the page and try again.".into()],
        );
    }
    parts.extensions.insert(form);
    next.run(Request::from_parts(parts, Body::empty())).await
}

/// Where a request came from, for the audit trail.
pub struct Ctx(pub RequestContext);

impl FromRequestParts<AppState> for Ctx {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Ctx(context_of(parts, state)))
    }
}

/// Builds the request context from the request's parts.
pub fn context_of(parts: &Parts, state: &AppState) -> RequestContext {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let forwarded: Vec<&str> = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let client = peer.map_or_else(
        || "unknown".to_owned(),
        |peer| state.trusted_proxies.client(peer, &forwarded).to_string(),
    );
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .chars()
            .take(300)
            .collect::<String>()
    };
    RequestContext {
        client_addr: client,
        user_agent: header("user-agent"),
        request_id: header("x-request-id"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; portal_session=xyz; b=2"),
        );
        assert_eq!(cookie(&h, "portal_session"), Some("xyz"));
        assert_eq!(cookie(&h, "session"), None);
    }

    #[test]
    fn cross_site_requests_are_recognised() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("portal.example"));
        assert!(!cross_site(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(cross_site(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://portal.example"),
        );
        assert!(!cross_site(&h));
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(cross_site(&h));
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        assert!(!cross_site(&h));
    }

    #[test]
    fn the_csrf_field_is_read_from_a_form() {
        assert_eq!(form_field(b"a=1&csrf=abc%2B", "csrf"), Some("abc+".into()));
        assert_eq!(form_field(b"a=1", "csrf"), None);
    }
}
