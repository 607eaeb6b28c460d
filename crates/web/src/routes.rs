//! Every route of the portal, in one table: each feature module lists its routes (method, path,
//! what they touch, and the handler) in its `ROUTES`, and [`FEATURES`] gathers them. The router
//! is built from that table and nothing else, and a guard answers 404 for any route the table
//! does not list, so a route cannot be served without being in it; tests walk the same table
//! to try every route as every role and with another patient's ids.

use crate::fhir;
use crate::fhir_read;
use crate::pages::{
    account, activation, admin, admin_messaging, admin_refills, admin_schedules,
    appointment_finder, appointment_offers, appointments, auth, checkin, clinic, messages, ops,
    patient, record, refills, schedule,
};
use crate::{AppState, security, session};
use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, Method, StatusCode, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use portal_domain::access::Action;
use std::time::Duration;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// What a route touches, for the tests that try every route as every role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not: sign-in, activation, password reset, health checks, styles.
    Public,
    /// A signed-in account, about itself (its password, second factor, sessions).
    SignedIn,
    /// Clinic work not about one patient; the handler asks the policy for it.
    Clinic,
    /// One patient's data: `{id}` is the patient; the policy must allow this action.
    Patient(Action),
    /// One item of a patient's record: `{id}` is the patient, `{item}` the item.
    PatientItem(Action),
    /// A system client with an API token.
    System,
}

/// One route: its method, its path, what it touches and its handler.
#[derive(Clone, Copy)]
pub struct Route {
    /// "GET" or "POST".
    pub method: &'static str,
    /// The path, with `{id}`, `{item}` or `{token}` for the parts a request fills in.
    pub path: &'static str,
    /// What it touches.
    pub access: Access,
    /// The handler, under the route's method.
    pub serve: fn() -> MethodRouter<AppState>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

impl Route {
    /// The policy action a patient route needs (`None` for routes not about one patient).
    pub fn action(&self) -> Option<Action> {
        match self.access {
            Access::Patient(action) | Access::PatientItem(action) => Some(action),
            _ => None,
        }
    }
}

/// The table: every feature's routes.
pub const FEATURES: &[&[Route]] = &[
    auth::ROUTES,
    activation::ROUTES,
    account::ROUTES,
    patient::ROUTES,
    crate::pages::enrolment::ROUTES,
    record::ROUTES,
    refills::ROUTES,
    messages::ROUTES,
    appointments::ROUTES,
    appointment_finder::ROUTES,
    appointment_offers::ROUTES,
    checkin::ROUTES,
    schedule::ROUTES,
    clinic::ROUTES,
    admin::ROUTES,
    admin_messaging::ROUTES,
    admin_schedules::ROUTES,
    admin_refills::ROUTES,
    crate::pages::admin_apps::ROUTES,
    crate::pages::admin_settings::ROUTES,
    crate::pages::care_team::ROUTES,
    crate::pages::admin_user_help::ROUTES,
    crate::pages::proxies::ROUTES,
    crate::pages::admin_proxies::ROUTES,
    fhir::ROUTES,
    fhir_read::ROUTES,
    crate::smart::ROUTES,
    ops::ROUTES,
];

/// Every route of the portal.
pub fn all() -> impl Iterator<Item = &'static Route> {
    FEATURES.iter().flat_map(|routes| routes.iter())
}

/// A route about one patient's data, seen by the tests that try it as every role.
#[derive(Clone, Copy, Debug)]
pub struct PatientRoute {
    /// "GET" or "POST".
    pub method: &'static str,
    /// The path, with `{id}` for the patient id.
    pub path: &'static str,
    action: Action,
}

impl PatientRoute {
    /// The policy action the route needs.
    pub fn action(&self) -> Action {
        self.action
    }
}

/// Every route about one patient's data as a whole (`{id}` and no item): the tests try each as
/// every role, for one's own, a related and an unrelated record.
pub fn patient_routes() -> Vec<PatientRoute> {
    all()
        .filter_map(|r| match r.access {
            Access::Patient(action) => Some(PatientRoute {
                method: r.method,
                path: r.path,
                action,
            }),
            _ => None,
        })
        .collect()
}

/// Every route about one item of a patient's record: the tests try each with another
/// patient's item.
pub fn record_item_routes() -> Vec<(&'static str, &'static str)> {
    all()
        .filter(|r| matches!(r.access, Access::PatientItem(_)))
        .map(|r| (r.method, r.path))
        .collect()
}

/// The route a request was served by, put on its response by the guard (for tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServedRoute {
    /// The table's method.
    pub method: &'static str,
    /// The table's path.
    pub path: &'static str,
}

/// What the table says of a method on a matched path.
enum Listing {
    /// The route the table lists.
    Listed(&'static Route),
    /// The path is listed under other methods only.
    OtherMethods(Vec<&'static str>),
    /// The table does not list the path at all.
    Unlisted,
}

/// Looks up a method and a matched path in the table (HEAD is served as GET).
fn listing(method: &Method, path: &str) -> Listing {
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    let mut others = Vec::new();
    for route in all().filter(|r| r.path == path) {
        if route.method == method {
            return Listing::Listed(route);
        }
        others.push(route.method);
    }
    if others.is_empty() {
        Listing::Unlisted
    } else {
        Listing::OtherMethods(others)
    }
}

/// Serves only what the table lists: 405 for a listed path under another method, 404 (and an
/// error in the log: a route was added beside the table) for a path it does not list. Marks
/// every served response with its route.
async fn only_listed(request: Request, next: Next) -> Response {
    let matched = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| listing(request.method(), m.as_str()));
    match matched {
        Some(Listing::Listed(route)) => {
            let mut response = next.run(request).await;
            response.extensions_mut().insert(ServedRoute {
                method: route.method,
                path: route.path,
            });
            response
        }
        Some(Listing::OtherMethods(methods)) => (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, methods.join(", "))],
        )
            .into_response(),
        Some(Listing::Unlisted) | None => {
            tracing::error!(method = %request.method(), "a route outside the route table was refused");
            patient::not_found().await
        }
    }
}

/// Puts the guard on a router: only routes in the table are served.
pub fn guarded<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router.route_layer(from_fn(only_listed))
}

/// The routes of the table, guarded, without the security layers: what [`router`] serves.
pub fn table_router() -> Router<AppState> {
    let router = all().fold(Router::new(), |router, route| {
        router.route(route.path, (route.serve)())
    });
    guarded(router).fallback(patient::not_found)
}

#[derive(Clone, Copy)]
struct NewRequestId;

impl MakeRequestId for NewRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        uuid::Uuid::new_v4()
            .to_string()
            .parse()
            .ok()
            .map(RequestId::new)
    }
}

/// The operators' listener: `/metrics` only, on an address of its own (loopback by default).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(ops::metrics))
        .with_state(state)
}

/// The whole application, with its security layers.
pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    table_router()
        .layer(from_fn_with_state(state.clone(), security::csrf))
        .layer(from_fn_with_state(state.clone(), session::load))
        .layer(from_fn_with_state(state.clone(), security::headers))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            // Method and route template only (`/reset/{token}`, never the token itself); a path
            // no route matched is not logged at all, and query strings never are.
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map_or("(no route)", MatchedPath::as_str);
            tracing::info_span!("request", method = %req.method(), route = %route,
                request_id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or(""))
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, NewRequestId))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        .with_state(state)
}
