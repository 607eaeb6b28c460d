//! The FHIR read API: `GET /fhir/metadata`, read (`GET /fhir/{type}/{id}`), search (`GET
//! /fhir/{type}?…` and `POST /fhir/{type}/_search`, the same answers) and
//! `GET /fhir/Patient/{id}/$everything`, for system clients with a `system/*.read` token and
//! for apps a patient connected (SMART on FHIR access tokens, within their scopes). The
//! use cases are `portal_app::fhir_api`; this module reads requests and writes answers, every
//! error an OperationOutcome.

use crate::AppState;
use crate::fhir::{bearer, fhir_text, outcome, unauthorized};
use crate::routes::{Access, Route};
use crate::security::{Ctx, MAX_FORM_BYTES};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use portal_app::{Actor, Error};

/// The read API's routes.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/fhir/metadata",
        access: Access::Public,
        serve: || get(metadata),
    },
    Route {
        method: "GET",
        path: "/fhir/{type}",
        access: Access::System,
        serve: || get(search_get),
    },
    Route {
        method: "GET",
        path: "/fhir/{type}/{rid}",
        access: Access::System,
        serve: || get(read),
    },
    Route {
        method: "POST",
        path: "/fhir/{type}/_search",
        access: Access::System,
        serve: || post(search_post),
    },
    Route {
        method: "GET",
        path: "/fhir/{type}/{rid}/{operation}",
        access: Access::System,
        serve: || get(operation),
    },
];

/// `GET /fhir/metadata`: what the API serves, for anyone to read.
async fn metadata(State(state): State<AppState>) -> Response {
    let statement = portal_fhir::search::capability_statement(
        &state.app.config().public_url,
        env!("CARGO_PKG_VERSION"),
    );
    fhir_text(StatusCode::OK, statement)
}

/// The actor of a request with a valid token, or the 401 to answer.
async fn actor_of(
    state: &AppState,
    context: portal_domain::audit::RequestContext,
    headers: &HeaderMap,
) -> Result<Actor, Response> {
    let Some(token) = bearer(headers) else {
        return Err(unauthorized());
    };
    // An app's SMART access token says so by its prefix; anything else is looked up as a
    // system client's API token (one lookup either way).
    let found = if token.starts_with(portal_app::smart::ACCESS_TOKEN_PREFIX) {
        state.app.smart().authenticate(token).await
    } else {
        state.app.accounts().authenticate_token(token).await
    };
    let principal = match found {
        Ok(found) => found,
        Err(e) => return Err(failure(e)),
    };
    match principal {
        Some(principal) => Ok(Actor::new(principal, context)),
        None => Err(unauthorized()),
    }
}

/// The name=value pairs of a query string or form body; `None` when they cannot be read.
fn pairs_of(text: &str) -> Option<Vec<(String, String)>> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(text).ok()
}

fn unreadable() -> Response {
    outcome(
        StatusCode::BAD_REQUEST,
        "invalid",
        "The search parameters could not be read as name=value pairs.",
    )
}

async fn read(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    headers: HeaderMap,
    Path((resource_type, id)): Path<(String, String)>,
) -> Response {
    let actor = match actor_of(&state, context, &headers).await {
        Ok(actor) => actor,
        Err(response) => return response,
    };
    answer(state.app.fhir_api().read(&actor, &resource_type, &id).await)
}

async fn search_get(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    headers: HeaderMap,
    Path(resource_type): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let actor = match actor_of(&state, context, &headers).await {
        Ok(actor) => actor,
        Err(response) => return response,
    };
    let Some(pairs) = pairs_of(query.as_deref().unwrap_or_default()) else {
        return unreadable();
    };
    answer(
        state
            .app
            .fhir_api()
            .search(&actor, &resource_type, &pairs)
            .await,
    )
}

/// `POST /fhir/{type}/_search`: the parameters in a form body (and the query string), the
/// same answer as the GET.
async fn search_post(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    headers: HeaderMap,
    Path(resource_type): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let actor = match actor_of(&state, context, &headers).await {
        Ok(actor) => actor,
        Err(response) => return response,
    };
    let form = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !body.is_empty() && !form {
        return outcome(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not-supported",
            "Send the search parameters as application/x-www-form-urlencoded.",
        );
    }
    if body.len() > MAX_FORM_BYTES {
        return outcome(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-costly",
            "The search parameters are too long.",
        );
    }
    let Some(mut pairs) = pairs_of(query.as_deref().unwrap_or_default()) else {
        return unreadable();
    };
    match std::str::from_utf8(&body).ok().and_then(pairs_of) {
        Some(more) => pairs.extend(more),
        None => return unreadable(),
    }
    answer(
        state
            .app
            .fhir_api()
            .search(&actor, &resource_type, &pairs)
            .await,
    )
}

/// `GET /fhir/Patient/{id}/$everything`; any other operation is not supported.
async fn operation(
    State(state): State<AppState>,
    Ctx(context): Ctx,
    headers: HeaderMap,
    Path((resource_type, id, operation)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
) -> Response {
    let actor = match actor_of(&state, context, &headers).await {
        Ok(actor) => actor,
        Err(response) => return response,
    };
    if resource_type != "Patient" || operation != "$everything" {
        return outcome(
            StatusCode::BAD_REQUEST,
            "not-supported",
            "The only operation served is Patient/{id}/$everything.",
        );
    }
    let Some(pairs) = pairs_of(query.as_deref().unwrap_or_default()) else {
        return unreadable();
    };
    answer(state.app.fhir_api().everything(&actor, &id, &pairs).await)
}

fn answer(result: portal_app::Result<portal_app::fhir_api::FhirBody>) -> Response {
    match result {
        Ok(body) => fhir_text(StatusCode::OK, body.0),
        Err(e) => failure(e),
    }
}

fn failure(e: Error) -> Response {
    match e {
        Error::Rejected(message) => outcome(StatusCode::BAD_REQUEST, "invalid", &message),
        Error::Forbidden => outcome(
            StatusCode::FORBIDDEN,
            "forbidden",
            "This token may not read records (it needs the system/*.read scope).",
        ),
        Error::NotFound => outcome(
            StatusCode::NOT_FOUND,
            "not-found",
            "No such resource, or not one this token may read.",
        ),
        Error::Unauthenticated => unauthorized(),
        other => {
            tracing::error!(error = %other, "FHIR read failed");
            outcome(
                StatusCode::INTERNAL_SERVER_ERROR,
                "exception",
                "The read failed inside the portal.",
            )
        }
    }
}
