//! The FHIR face: `POST /fhir` takes a transaction or batch Bundle from a system client holding
//! an API token, and answers a transaction-response Bundle or an OperationOutcome.

use crate::AppState;
use crate::routes::{Access, Route};
use crate::security::Ctx;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use portal_app::import::{EntryStatus, ImportSummary};
use portal_app::{Actor, Error};
use serde_json::{Value, json};

/// The FHIR API.
pub const ROUTES: &[Route] = &[Route {
    method: "POST",
    path: "/fhir",
    access: Access::System,
    // The handler reads the body itself, after the token and under the shared budget.
    serve: || post(transaction).layer(DefaultBodyLimit::disable()),
}];

/// The largest Bundle the API takes in one request.
pub const MAX_BUNDLE_BYTES: usize = 64 * 1024 * 1024;

/// The bytes of Bundles the API holds at once across all requests: two of the largest. A request
/// waits for room before its body is read, so parallel uploads cannot add up past this.
pub const BODY_BUDGET_BYTES: usize = 2 * MAX_BUNDLE_BYTES;

/// How long a request waits for room in the budget before it is told to come back later.
const BUDGET_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The shared allowance of body bytes for `POST /fhir` (cloned handles share one allowance).
#[derive(Clone, Debug)]
pub struct BodyBudget {
    permits: std::sync::Arc<tokio::sync::Semaphore>,
    kib: u32,
}

impl BodyBudget {
    /// An allowance of `bytes` (counted in whole KiB).
    pub fn new(bytes: usize) -> Self {
        let kib = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
        Self {
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(kib as usize)),
            kib,
        }
    }

    /// Room for a body of at most `bytes`, held until the returned permit is dropped; `None` when
    /// no room came free in time.
    pub(crate) async fn reserve(&self, bytes: usize) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let kib = u32::try_from(bytes.div_ceil(1024))
            .unwrap_or(u32::MAX)
            .clamp(1, self.kib);
        tokio::time::timeout(BUDGET_WAIT, self.permits.clone().acquire_many_owned(kib))
            .await
            .ok()?
            .ok()
    }
}

fn fhir_json(status: StatusCode, body: Value) -> Response {
    fhir_text(status, body.to_string())
}

pub(crate) fn fhir_text(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
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

pub(crate) fn unauthorized() -> Response {
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

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
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
    body: Body,
) -> Response {
    // The body is not read until the token is known good: a request without one costs nothing.
    let Some(token) = bearer(&headers) else {
        return unauthorized();
    };
    let principal = match state.app.accounts().authenticate_token(token).await {
        Ok(Some(p)) => p,
        Ok(None) => return unauthorized(),
        Err(e) => return failure(e),
    };
    if portal_app::import::authorize_import(&principal).is_err() {
        return outcome(
            StatusCode::FORBIDDEN,
            "forbidden",
            "This token may not write records (it needs the system/*.write scope).",
        );
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_BUNDLE_BYTES) {
        return too_large();
    }
    let Some(_room) = state
        .fhir_bodies
        .reserve(declared.unwrap_or(MAX_BUNDLE_BYTES))
        .await
    else {
        let mut response = outcome(
            StatusCode::SERVICE_UNAVAILABLE,
            "transient",
            "The portal is busy importing other Bundles; send this one again shortly.",
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return response;
    };
    // Without a Content-Length the whole allowance of one Bundle was reserved above.
    let limit = declared.unwrap_or(MAX_BUNDLE_BYTES);
    let body = match read_body(body, limit, declared).await {
        Ok(bytes) => bytes,
        Err(BodyError::TooLong) if declared.is_none() => return too_large(),
        Err(_) => {
            return outcome(
                StatusCode::BAD_REQUEST,
                "invalid",
                "The request body did not arrive whole, or was longer than its Content-Length.",
            );
        }
    };
    let actor = Actor::new(principal, context);
    // The body is handed over, not copied, and freed once the import has read it.
    match state.app.import().import_bundle(&actor, body).await {
        Ok(summary) => transaction_response(&summary),
        Err(e) => failure(e),
    }
}

enum BodyError {
    /// Longer than the limit.
    TooLong,
    /// The connection failed before the body was whole.
    Broken,
}

/// Reads a request body of at most `limit` bytes into one buffer, sized at once when the
/// length was declared: collecting the pieces first and joining them would hold the body twice.
async fn read_body(
    body: Body,
    limit: usize,
    declared: Option<usize>,
) -> Result<Vec<u8>, BodyError> {
    use axum::body::HttpBody as _;
    let mut out = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    let mut body = std::pin::pin!(body);
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let frame = frame.map_err(|_| BodyError::Broken)?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(BodyError::TooLong);
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

/// The transaction-response Bundle: one entry per entry imported, in order. Written straight
/// into its text: a JSON tree of a large Bundle's outcomes would take several times the memory.
fn transaction_response(summary: &ImportSummary) -> Response {
    use std::fmt::Write as _;
    let mut body = String::with_capacity(64 + summary.entries.len() * 112);
    body.push_str(r#"{"resourceType":"Bundle","type":"transaction-response","entry":["#);
    for (n, e) in summary.entries.iter().enumerate() {
        let status = match e.status {
            EntryStatus::Created => "201 Created",
            EntryStatus::Updated | EntryStatus::Unchanged => "200 OK",
        };
        let location = Value::from(format!("{}/{}", e.resource_type, e.id));
        if n > 0 {
            body.push(',');
        }
        // Writing into a String cannot fail.
        let _ = write!(
            body,
            r#"{{"response":{{"status":"{status}","location":{location}}}}}"#
        );
    }
    body.push_str("]}");
    fhir_text(StatusCode::OK, body)
}

fn too_large() -> Response {
    outcome(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-costly",
        &format!(
            "A Bundle may be at most {} MB; split larger exports into several Bundles or use \
             `portal import`.",
            MAX_BUNDLE_BYTES / (1024 * 1024)
        ),
    )
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
