//! Every route of the portal, declared in one place. Patient-data routes are listed in
//! [`PATIENT_ROUTES`] with the policy action each needs, so tests can try every one of them as
//! every role, for one's own and for another patient.

use crate::error::IdPath;
use crate::fhir;
use crate::pages::{account, admin, auth, clinic, ops, patient, record};
use crate::{AppState, security, session};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::{MatchedPath, State};
use axum::http::{HeaderName, Request};
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use portal_app::chart::Section;
use portal_domain::PatientId;
use portal_domain::access::Action;
use std::time::Duration;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// A page about one patient's data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatientPage {
    /// The chart's front page.
    Home,
    /// One section of the chart.
    Section(Section),
    /// Who accessed the record.
    AccessLog,
    /// Issue an activation code.
    Invite,
    /// A list page of the health record.
    Record(RecordList),
}

/// The list pages of the health record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordList {
    /// Test results.
    Results,
    /// Past visits.
    Visits,
    /// Clinical documents.
    Documents,
}

/// A route that touches one patient's data.
#[derive(Clone, Copy, Debug)]
pub struct PatientRoute {
    /// "GET" or "POST".
    pub method: &'static str,
    /// The path, with `{id}` for the patient id.
    pub path: &'static str,
    /// What it shows or does.
    pub page: PatientPage,
}

impl PatientRoute {
    /// The policy action the route needs.
    pub fn action(&self) -> Action {
        match self.page {
            PatientPage::Home => Action::ViewDemographics,
            PatientPage::Section(s) => s.action(),
            PatientPage::AccessLog => Action::ViewAccessLog,
            PatientPage::Invite => Action::Enrol,
            PatientPage::Record(RecordList::Results) => Action::ViewRecord,
            PatientPage::Record(RecordList::Visits | RecordList::Documents) => Action::ViewNotes,
        }
    }
}

/// Every route that touches a patient's data.
pub const PATIENT_ROUTES: &[PatientRoute] = &[
    PatientRoute {
        method: "GET",
        path: "/patients/{id}",
        page: PatientPage::Home,
    },
    PatientRoute {
        method: "GET",
        path: "/patients/{id}/record",
        page: PatientPage::Section(Section::HealthRecord),
    },
    PatientRoute {
        method: "GET",
        path: "/patients/{id}/medications",
        page: PatientPage::Section(Section::Medications),
    },
    PatientRoute {
        method: "GET",
        path: "/patients/{id}/messages",
        page: PatientPage::Section(Section::Messages),
    },
    PatientRoute {
        method: "GET",
        path: "/patients/{id}/appointments",
        page: PatientPage::Section(Section::Appointments),
    },
    PatientRoute {
        method: "GET",
        path: "/patients/{id}/access-log",
        page: PatientPage::AccessLog,
    },
    PatientRoute {
        method: "GET",
        path: "/patients/{id}/results",
        page: PatientPage::Record(RecordList::Results),
    },
    PatientRoute {
        method: "GET",
        path: "/patients/{id}/visits",
        page: PatientPage::Record(RecordList::Visits),
    },
    PatientRoute {
        method: "GET",
        path: "/patients/{id}/documents",
        page: PatientPage::Record(RecordList::Documents),
    },
    PatientRoute {
        method: "POST",
        path: "/patients/{id}/invite",
        page: PatientPage::Invite,
    },
];

/// Routes about one item of a patient's record (`{item}` is its resource id), and the results
/// filter. They pass the same policy gate as [`PATIENT_ROUTES`]; `tests/it/record.rs` tries each
/// with another patient's item.
pub const RECORD_ITEM_ROUTES: &[(&str, &str)] = &[
    ("GET", "/patients/{id}/results/{item}"),
    ("POST", "/patients/{id}/results/{item}/release"),
    ("GET", "/patients/{id}/visits/{item}"),
    ("GET", "/patients/{id}/documents/{item}"),
    ("POST", "/patients/{id}/results"),
];

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

fn patient_routes() -> Router<AppState> {
    let mut router = Router::new();
    for route in PATIENT_ROUTES {
        router = match route.page {
            PatientPage::Home => router.route(route.path, get(patient::home)),
            PatientPage::AccessLog => router.route(route.path, get(patient::access_log)),
            PatientPage::Invite => router.route(route.path, post(patient::invite)),
            PatientPage::Record(list) => router.route(
                route.path,
                get(
                    move |State(state): State<AppState>,
                          session::SignedIn(user): session::SignedIn,
                          security::Ctx(ctx): security::Ctx,
                          IdPath(id): IdPath<PatientId>| async move {
                        match list {
                            RecordList::Results => record::results(state, user, ctx, id).await,
                            RecordList::Visits => record::visits(state, user, ctx, id).await,
                            RecordList::Documents => record::documents(state, user, ctx, id).await,
                        }
                    },
                ),
            ),
            PatientPage::Section(section) => router.route(
                route.path,
                get(
                    move |State(state): State<AppState>,
                          session::SignedIn(user): session::SignedIn,
                          security::Ctx(ctx): security::Ctx,
                          IdPath(id): IdPath<PatientId>| async move {
                        patient::section(state, user, ctx, id, section).await
                    },
                ),
            ),
        };
    }
    router
        .route("/patients/{id}/results", post(record::filter_results))
        .route("/patients/{id}/results/{item}", get(record::result))
        .route(
            "/patients/{id}/results/{item}/release",
            post(record::release),
        )
        .route("/patients/{id}/visits/{item}", get(record::visit))
        .route("/patients/{id}/documents/{item}", get(record::download))
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
    Router::new()
        .route("/", get(patient::start))
        .route("/signin", get(auth::signin_form).post(auth::signin))
        .route("/signin/second-factor", get(auth::second_factor_form).post(auth::second_factor))
        .route("/signin/enrol", get(auth::enrol_form).post(auth::enrol))
        .route("/signout", post(auth::signout))
        .route("/activate", get(auth::activate_form).post(auth::activate))
        .route("/reset", get(auth::reset_request_form).post(auth::reset_request))
        .route("/reset/{token}", get(auth::reset_form).post(auth::reset))
        .route("/account", get(account::show))
        .route("/account/password", post(account::change_password))
        .route("/account/second-factor", get(account::second_factor_form).post(account::second_factor))
        .route("/account/sessions/end-others", post(account::end_other_sessions))
        .route("/inbasket", get(clinic::inbasket))
        .route("/schedule", get(clinic::schedule))
        .route("/patients", get(clinic::list))
        .route("/patients/search", post(clinic::search))
        .route("/patients/break-glass", post(clinic::break_glass))
        .merge(patient_routes())
        .route("/admin/users", get(admin::users).post(admin::create_user))
        .route("/admin/users/{id}/status", post(admin::set_status))
        .route("/admin/audit", get(admin::audit))
        .route("/admin/results-release", get(admin::result_release).post(admin::set_result_release))
        .route("/admin/results-release/remove", post(admin::remove_result_release))
        .route("/admin/audit/verify", post(admin::verify))
        .route(
            "/fhir",
            // The handler reads the body itself, after the token and under the shared budget.
            post(fhir::transaction).layer(DefaultBodyLimit::disable()),
        )
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/static/portal.css", get(ops::stylesheet))
        .fallback(patient::not_found)
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
        .layer(TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)))
        .with_state(state)
}
