//! Operations endpoints: liveness, readiness, metrics, and the stylesheet.

use crate::AppState;
use crate::routes::{Access, Route};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// Health checks and the stylesheet (metrics have a listener of their own).
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/healthz",
        access: Access::Public,
        serve: || get(healthz),
    },
    Route {
        method: "GET",
        path: "/readyz",
        access: Access::Public,
        serve: || get(readyz),
    },
    Route {
        method: "GET",
        path: "/static/portal.css",
        access: Access::Public,
        serve: || get(stylesheet),
    },
];

/// GET /healthz: the process is alive.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// GET /readyz: the database answers.
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.app.ready().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}

/// GET /metrics: counters in Prometheus text (no health data).
pub async fn metrics(State(state): State<AppState>) -> Response {
    let pending = state.app.outbox_pending().await.unwrap_or(-1);
    let body = state.app.metrics().render(&[(
        "portal_outbox_pending",
        "E-mails waiting in the outbox (-1: unknown).",
        pending,
    )]);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// GET /static/portal.css
pub async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../../static/portal.css"),
    )
        .into_response()
}
