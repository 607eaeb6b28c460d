//! The route table against the router actually served: every route in the table is served as
//! listed (its method, its path), a route outside the table is refused, and every route that
//! carries a patient's id is one the cross-patient sweeps try.

use crate::both_backends;
use crate::helpers::TestApp;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use portal_store::Backend;
use portal_web::AppState;
use portal_web::routes::{self, Access, ServedRoute};
use std::collections::HashSet;
use tower::ServiceExt;

/// A path of the table with its parts filled in.
fn concrete(path: &str) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    path.replace("{id}", &id)
        .replace("{item}", &uuid::Uuid::new_v4().to_string())
        .replace("{token}", "not-a-real-token")
}

async fn every_route_in_the_table_is_served_as_listed(backend: Backend) {
    let Some(t) = TestApp::spawn(backend).await else {
        return;
    };
    let state = AppState {
        app: t.app.clone(),
        tls: false,
        trusted_proxies: portal_web::proxies::TrustedProxies::new(Vec::new()),
        fhir_bodies: portal_web::fhir::BodyBudget::new(portal_web::fhir::BODY_BUDGET_BYTES),
        upload_bodies: portal_web::fhir::BodyBudget::new(portal_web::upload::UPLOAD_BUDGET_BYTES),
        dates: portal_web::pages::words::Dates::default(),
    };
    // What the portal serves: the router `portal serve` runs, without the layers in front of it
    // (CSRF would refuse the bare POSTs before they reach a route).
    let served = routes::table_router().with_state(state);
    let mut seen = HashSet::new();
    for route in routes::all() {
        assert!(
            seen.insert((route.method, route.path)),
            "{route:?} is listed twice"
        );
        let request = Request::builder()
            .method(route.method)
            .uri(concrete(route.path))
            .body(Body::empty())
            .expect("a request");
        let response = served
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        assert_ne!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{route:?}: the handler is served under another method than the table says"
        );
        assert_eq!(
            response.extensions().get::<ServedRoute>(),
            Some(&ServedRoute {
                method: route.method,
                path: route.path
            }),
            "{route:?} must be served by its own handler (got {})",
            response.status()
        );
    }
    // A path the table does not list reaches no handler.
    let response = served
        .oneshot(
            Request::builder()
                .uri("/not-a-route")
                .body(Body::empty())
                .expect("a request"),
        )
        .await
        .expect("the router answers");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.extensions().get::<ServedRoute>().is_none());
    t.stop().await;
}

#[tokio::test]
async fn a_route_outside_the_table_is_not_served() {
    // A route added beside the table (not through a feature's ROUTES) is refused by the guard
    // that `table_router` puts over every route.
    let rogue = routes::guarded(
        axum::Router::new().route("/rogue", axum::routing::get(|| async { "served" })),
    );
    let response = rogue
        .oneshot(
            Request::builder()
                .uri("/rogue")
                .body(Body::empty())
                .expect("a request"),
        )
        .await
        .expect("the router answers");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    // The same guard lets a listed path through, so the refusal above is about the table.
    let listed = routes::guarded(
        axum::Router::new().route("/healthz", axum::routing::get(|| async { "ok" })),
    );
    let response = listed
        .oneshot(
            Request::builder()
                .uri("/healthz")
                .body(Body::empty())
                .expect("a request"),
        )
        .await
        .expect("the router answers");
    assert_eq!(response.status(), StatusCode::OK);
}

#[test]
fn every_route_with_a_patient_id_is_in_a_cross_patient_sweep() {
    let swept: HashSet<(&str, &str)> = routes::patient_routes()
        .iter()
        .map(|r| (r.method, r.path))
        .chain(routes::record_item_routes())
        .collect();
    for route in routes::all() {
        let about_a_patient = route.path.starts_with("/patients/{id}");
        if about_a_patient {
            assert!(
                swept.contains(&(route.method, route.path)),
                "{route:?} carries a patient id but no sweep tries it"
            );
        }
        // A route with an item id names the patient too, so the item is looked up in that record.
        if route.path.contains("{item}") {
            assert!(matches!(route.access, Access::PatientItem(_)), "{route:?}");
        }
    }
}

both_backends!(every_route_in_the_table_is_served_as_listed);
