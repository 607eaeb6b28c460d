//! The FHIR face: `POST /fhir` takes a transaction or batch Bundle from a system client holding
//! an API token, and answers a transaction-response Bundle or an OperationOutcome.

use crate::AppState;
use crate::security::Ctx;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portal_app::import::EntryStatus;
use portal_app::{Actor, Error};
use portal_domain::Principal;
use serde_json::{Value, json};

/// The largest Bundle the API takes in one request.
pub const MAX_BUNDLE_BYTES: usize = 64 * 1024 * 1024;

fn fhir_json(status: StatusCode, body: Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/fhir+json; charset=utf-8"),
    );
    response
}

/// An OperationOutcome with one issue.
pub fn outcome(status: StatusCode, code: &str, diagnostics: &str) -> Response {
    fhir_json(
        status,
        json!({
            "resourceType": "OperationOutcome",
            "issue": [{ "severity": "error", "code": code, "diagnostics": diagnostics }]
        }),
    )
}

fn unauthorized() -> Response {
    let mut response = outcome(
        StatusCode::UNAUTHORIZED,
        "login",
        "A valid API token is required (Authorization: Bearer …).",
    );
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// POST /fhir: import one transaction or batch Bundle, whole or not at all.
pub async fn transaction(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(token) = bearer(&headers) else {
        return unauthorized();
    };
    let principal = match state.app.authenticate_token(token).await {
        Ok(Some(p)) => p,
        Ok(None) => return unauthorized(),
        Err(e) => return failure(e),
    };
    if !matches!(
        principal,
        Principal::System {
            can_write: true,
            ..
        }
    ) {
        return outcome(
            StatusCode::FORBIDDEN,
            "forbidden",
            "This token may not write records (it needs the system/*.write scope).",
        );
    }
    let actor = Actor { principal, context };
    match state.app.import_bundle(&actor, &body).await {
        Ok(summary) => {
            let entries: Vec<Value> = summary
                .entries
                .iter()
                .map(|e| {
                    let status = match e.status {
                        EntryStatus::Created => "201 Created",
                        EntryStatus::Updated | EntryStatus::Unchanged => "200 OK",
                    };
                    json!({ "response": {
                        "status": status,
                        "location": format!("{}/{}", e.resource_type, e.id)
                    }})
                })
                .collect();
            fhir_json(
                StatusCode::OK,
                json!({ "resourceType": "Bundle", "type": "transaction-response", "entry": entries }),
            )
        }
        Err(e) => failure(e),
    }
}

fn failure(e: Error) -> Response {
    match e {
        Error::Rejected(message) => outcome(StatusCode::BAD_REQUEST, "invalid", &message),
        Error::Forbidden | Error::NotFound => outcome(
            StatusCode::FORBIDDEN,
            "forbidden",
            "This token may not write these records.",
        ),
        Error::Invalid(errors) => outcome(StatusCode::BAD_REQUEST, "invalid", &errors.to_string()),
        other => {
            tracing::error!(error = %other, "FHIR import failed");
            outcome(
                StatusCode::INTERNAL_SERVER_ERROR,
                "exception",
                "The import failed inside the portal; nothing was changed.",
            )
        }
    }
}
