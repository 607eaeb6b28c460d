//! The HTTP face of the portal: routes, pages, extractors and error mapping.
//!
//! Handlers are thin: they parse the request into typed input, call one `portal_app` service and
//! render a page. Every route is declared in [`routes`], so tests can enumerate them.

pub mod error;
pub mod fhir;
pub mod fhir_read;
pub mod layout;
pub mod markdown;
pub mod pages;
pub mod proxies;
pub mod routes;
pub mod security;
pub mod session;
pub mod trend;
pub mod upload;

use portal_app::App;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The application services.
    pub app: App,
    /// Whether the portal is reached over TLS (secure cookies with the `__Host-` prefix, HSTS).
    pub tls: bool,
    /// The proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: proxies::TrustedProxies,
    /// The bytes of request bodies `POST /fhir` may hold at once, across all requests.
    pub fhir_bodies: fhir::BodyBudget,
    /// The bytes of forms with files (message attachments) held at once, across all requests.
    pub upload_bodies: fhir::BodyBudget,
    /// How pages write dates and times: the clinic's time zone and locale.
    pub dates: pages::words::Dates,
}

impl AppState {
    /// The session cookie's name.
    pub fn session_cookie(&self) -> &'static str {
        if self.tls {
            "__Host-portal_session"
        } else {
            "portal_session"
        }
    }
    /// The anonymous forms' CSRF cookie's name.
    pub fn csrf_cookie(&self) -> &'static str {
        if self.tls {
            "__Host-portal_csrf"
        } else {
            "portal_csrf"
        }
    }
}

pub use routes::router;
pub mod smart;
