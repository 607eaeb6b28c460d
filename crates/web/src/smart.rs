//! SMART on FHIR's authorization server: discovery (`/.well-known/smart-configuration`, at the
//! site root and at the FHIR base), the authorization endpoint and the patient's consent page
//! (plain HTML forms after the portal's own sign-in and second factor), and the back-channel
//! token, introspection and revocation endpoints. The use cases are `portal_app::smart`.

use crate::AppState;
use crate::error::{PageResult, error_page};
use crate::layout::{Nav, Page, render};
use crate::routes::{Access, Route};
use crate::security::Ctx;
use crate::session::{MaybeUser, SignedIn, cookie};
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_app::Error;
use portal_app::auth::Stage;
use portal_app::smart::{
    AuthorizeParams, AuthorizeRefusal, ClientCredentials, OAuthError, REFRESH_LIFETIME_DAYS,
    TokenParams,
};
use serde::Deserialize;

/// The authorization server's routes.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/.well-known/smart-configuration",
        access: Access::Public,
        serve: || get(configuration),
    },
    Route {
        method: "GET",
        path: "/fhir/.well-known/smart-configuration",
        access: Access::Public,
        serve: || get(configuration),
    },
    Route {
        method: "GET",
        path: "/fhir/.well-known/openid-configuration",
        access: Access::Public,
        serve: || get(openid_configuration),
    },
    Route {
        method: "GET",
        path: "/oauth/jwks",
        access: Access::Public,
        serve: || get(jwks),
    },
    Route {
        method: "GET",
        path: "/oauth/authorize",
        access: Access::Public,
        serve: || get(authorize),
    },
    Route {
        method: "GET",
        path: "/oauth/consent",
        access: Access::SignedIn,
        serve: || get(consent),
    },
    Route {
        method: "POST",
        path: "/oauth/consent",
        access: Access::SignedIn,
        serve: || post(answer),
    },
    Route {
        method: "POST",
        path: "/oauth/token",
        access: Access::Public,
        serve: || post(token),
    },
    Route {
        method: "POST",
        path: "/oauth/introspect",
        access: Access::Public,
        serve: || post(introspect),
    },
    Route {
        method: "POST",
        path: "/oauth/revoke",
        access: Access::Public,
        serve: || post(revoke),
    },
];

/// The back-channel endpoints: apps call them with their own credentials, never a cookie, so
/// they take no CSRF token.
pub fn is_back_channel(path: &str) -> bool {
    matches!(path, "/oauth/token" | "/oauth/introspect" | "/oauth/revoke")
}

/// The cookie that carries a waiting authorization request through sign-in.
const REQUEST_COOKIE: &str = "portal_smart_request";

/// Where a person who just signed in goes: to the waiting consent page, if an app sent them.
pub fn after_sign_in(headers: &HeaderMap) -> &'static str {
    if cookie(headers, REQUEST_COOKIE).is_some_and(|v| !v.is_empty()) {
        "/oauth/consent"
    } else {
        "/"
    }
}

fn request_cookie(state: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let secure = if state.tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{REQUEST_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// JSON with the headers token answers need (RFC 6749 §5.1).
fn json_answer(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn oauth_error(e: &OAuthError) -> Response {
    let status = if e.error == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut response = json_answer(
        status,
        &serde_json::json!({ "error": e.error, "error_description": e.description }),
    );
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"portal\""),
        );
    }
    response
}

/// A back-channel answer: the JSON, the OAuth error, or (logged, never told) a failure.
fn back_channel_answer(
    result: portal_app::Result<Result<serde_json::Value, OAuthError>>,
    what: &str,
) -> Response {
    match result {
        Ok(Ok(body)) if !body.is_null() => json_answer(StatusCode::OK, &body),
        Ok(Ok(_)) => server_error(),
        Ok(Err(e)) => oauth_error(&e),
        Err(e) => {
            tracing::error!(error = %e, "{what} failed");
            server_error()
        }
    }
}

fn server_error() -> Response {
    json_answer(
        StatusCode::INTERNAL_SERVER_ERROR,
        &serde_json::json!({ "error": "server_error" }),
    )
}

/// The portal's address, without a trailing slash.
fn site(state: &AppState) -> String {
    state
        .app
        .config()
        .public_url
        .trim_end_matches('/')
        .to_string()
}

/// `GET /.well-known/smart-configuration`: what the authorization server does.
async fn configuration(State(state): State<AppState>) -> Response {
    let base = site(&state);
    json_answer(
        StatusCode::OK,
        &serde_json::json!({
            "issuer": format!("{base}/fhir"),
            "authorization_endpoint": format!("{base}/oauth/authorize"),
            "token_endpoint": format!("{base}/oauth/token"),
            "introspection_endpoint": format!("{base}/oauth/introspect"),
            "revocation_endpoint": format!("{base}/oauth/revoke"),
            "jwks_uri": format!("{base}/oauth/jwks"),
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "response_types_supported": ["code"],
            "scopes_supported": [
                "openid", "fhirUser", "launch/patient", "offline_access", "patient/*.read",
                "patient/*.rs"
            ],
            "capabilities": [
                "launch-standalone",
                "client-public",
                "client-confidential-symmetric",
                "context-standalone-patient",
                "permission-offline",
                "permission-patient",
                "permission-v1",
                "permission-v2",
                "sso-openid-connect"
            ],
            "code_challenge_methods_supported": ["S256"],
        }),
    )
}

/// `GET /fhir/.well-known/openid-configuration`: for checking ID tokens (the issuer is the
/// FHIR base).
async fn openid_configuration(State(state): State<AppState>) -> Response {
    let base = site(&state);
    json_answer(
        StatusCode::OK,
        &serde_json::json!({
            "issuer": format!("{base}/fhir"),
            "authorization_endpoint": format!("{base}/oauth/authorize"),
            "token_endpoint": format!("{base}/oauth/token"),
            "jwks_uri": format!("{base}/oauth/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "fhirUser"],
        }),
    )
}

/// `GET /oauth/jwks`: the public keys that sign ID tokens.
async fn jwks(State(state): State<AppState>) -> Response {
    back_channel_answer(state.app.smart().jwks().await.map(Ok), "the key set")
}

/// `GET /oauth/authorize`: checks the app's request, then sends the person to sign in (if they
/// have not) and to the consent page.
async fn authorize(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Query(params): Query<AuthorizeParams>,
) -> Response {
    match state.app.smart().begin_authorization(&params).await {
        Ok(Ok(id)) => {
            let to = match user {
                Some(u) if u.stage == Stage::Full => "/oauth/consent",
                _ => "/signin",
            };
            let mut response = Redirect::to(to).into_response();
            response
                .headers_mut()
                .append(header::SET_COOKIE, request_cookie(&state, &id, 1800));
            response
        }
        Ok(Err(AuthorizeRefusal::Here(message))) => error_page(
            StatusCode::BAD_REQUEST,
            "This app cannot connect",
            vec![
                message,
                "Nothing was shared. Go back to the app, or ask the clinic about it.".into(),
            ],
        ),
        Ok(Err(refusal)) => match refusal.redirect() {
            Some(to) => Redirect::to(&to).into_response(),
            None => server_error(),
        },
        Err(e) => {
            tracing::error!(error = %e, "authorization request failed");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                vec!["Try again in a moment.".into()],
            )
        }
    }
}

/// One kind of information on the consent page.
pub struct Kind {
    value: String,
    words: String,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage {
    page: Page,
    app_name: String,
    records: Vec<(String, String)>,
    kinds: Vec<Kind>,
    offline_until: Option<String>,
    identity: bool,
    error: Option<&'static str>,
}

/// What one resource type holds, in a patient's words.
fn type_words(resource_type: &str) -> &'static str {
    match resource_type {
        "Patient" => "Name, date of birth and contact details",
        "AllergyIntolerance" => "Allergies",
        "Condition" => "Health problems and diagnoses",
        "Observation" => "Test results, vital signs and other measurements",
        "DiagnosticReport" => "Lab and imaging reports",
        "MedicationRequest" => "Prescriptions",
        "Medication" => "The medicines prescriptions name",
        "Immunization" => "Vaccinations",
        "Procedure" => "Procedures",
        "Encounter" => "Visits",
        "DocumentReference" => "Visit notes and documents",
        "CarePlan" => "Care plans",
        "CareTeam" => "The care team",
        "Goal" => "Health goals",
        "Provenance" => "Where each part of the record came from",
        "Communication" => "Messages with the care team",
        "Appointment" => "Appointments",
        "Practitioner" => "The clinicians named in the record",
        "Organization" => "The clinics and organizations named in the record",
        "Location" => "The places named in the record",
        _ => "Other information",
    }
}

/// What a stored grant lets an app read, in a patient's words, each once.
pub(crate) fn granted_words(scope: &str) -> Vec<&'static str> {
    let scopes = portal_domain::access::SmartScopes::parse(scope);
    let mut out: Vec<&'static str> = Vec::new();
    let types = scopes.resource_types();
    if types.contains(&"*") {
        return vec!["Everything in the record"];
    }
    for t in types {
        let words = type_words(t);
        if !out.contains(&words) {
            out.push(words);
        }
    }
    out
}

/// The order the consent page lists kinds of information in: who, then the clinical record
/// from what matters most, then the portal's own, then where things came from.
const CONSENT_ORDER: &[&str] = &[
    "Patient",
    "Condition",
    "MedicationRequest",
    "Medication",
    "AllergyIntolerance",
    "Immunization",
    "Observation",
    "DiagnosticReport",
    "Procedure",
    "Encounter",
    "DocumentReference",
    "CarePlan",
    "CareTeam",
    "Goal",
    "Appointment",
    "Communication",
    "Practitioner",
    "Organization",
    "Location",
    "Provenance",
];

/// Where a type goes on the consent page.
fn consent_rank(resource_type: &str) -> usize {
    CONSENT_ORDER
        .iter()
        .position(|o| *o == resource_type)
        .unwrap_or(usize::MAX)
}

/// Every type the API serves (what `*` stands for on the consent page), in the page's order.
fn all_types() -> Vec<&'static str> {
    let mut types: Vec<&'static str> = portal_fhir::search::SERVED
        .iter()
        .map(|(t, _)| *t)
        .collect();
    types.sort_by_key(|t| consent_rank(t));
    types
}

async fn consent_page(
    state: &AppState,
    user: &portal_app::auth::CurrentUser,
    ctx: portal_domain::audit::RequestContext,
    headers: &HeaderMap,
    error: Option<&'static str>,
) -> PageResult {
    let Some(id) = cookie(headers, REQUEST_COOKIE).filter(|v| !v.is_empty()) else {
        return Ok(expired(state));
    };
    let actor = user.actor(ctx);
    let consent = match state.app.smart().consent(&actor, id).await {
        Ok(c) => c,
        Err(Error::NotFound) => return Ok(expired(state)),
        Err(e) => return Err(e.into()),
    };
    let mut types: Vec<String> = if consent.types.iter().any(|t| t == "*") {
        all_types().into_iter().map(str::to_string).collect()
    } else {
        consent.types.clone()
    };
    types.sort_by_key(|t| consent_rank(t));
    let kinds = types
        .iter()
        .map(|t| Kind {
            value: t.clone(),
            words: type_words(t).to_string(),
        })
        .collect();
    let offline_until = consent.offline.then(|| {
        state
            .dates
            .day(state.app.now() + jiff::SignedDuration::from_hours(24 * REFRESH_LIFETIME_DAYS))
    });
    let mut page = Page::signed_in("Connect an app", user, Nav::None, None);
    page.title = format!("Connect {}", consent.app_name);
    let policy = consent_policy(&consent.redirect_uri);
    let mut response = render(&ConsentPage {
        page,
        app_name: consent.app_name,
        records: consent
            .records
            .into_iter()
            .map(|(id, name)| (id.to_string(), name))
            .collect(),
        kinds,
        offline_until,
        identity: consent.identity,
        error,
    });
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, value);
    }
    Ok(response)
}

/// The consent page's Content-Security-Policy: the portal's, with the app's origin allowed as
/// where the form's answer may lead (browsers hold redirects after a form to `form-action`).
fn consent_policy(redirect_uri: &str) -> String {
    let origin = redirect_uri
        .split_once("://")
        .map(|(scheme, rest)| {
            let host = rest.split(['/', '?']).next().unwrap_or_default();
            format!("{scheme}://{host}")
        })
        .filter(|o| {
            o.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '.' | '-' | '[' | ']')
            })
        });
    match origin {
        Some(origin) => crate::security::CSP.replace(
            "form-action 'self'",
            &format!("form-action 'self' {origin}"),
        ),
        None => crate::security::CSP.to_string(),
    }
}

/// The page for a request that is gone; the browser forgets it, so signing in again leads home.
fn expired(state: &AppState) -> Response {
    let mut response = error_page(
        StatusCode::NOT_FOUND,
        "This request has expired",
        vec!["Nothing was shared. Go back to the app and connect it again.".into()],
    );
    response
        .headers_mut()
        .append(header::SET_COOKIE, request_cookie(state, "", 0));
    response
}

/// `GET /oauth/consent`: what the app asks for, to allow (all or some) or refuse.
async fn consent(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
) -> PageResult {
    consent_page(&state, &user, ctx, &headers, None).await
}

/// `POST /oauth/consent`: the person's answer; the browser goes back to the app.
async fn answer(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let Some(id) = cookie(&headers, REQUEST_COOKIE).filter(|v| !v.is_empty()) else {
        return Ok(expired(&state));
    };
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let actor = user.actor(ctx.clone());
    let grant = match field("decision") {
        Some("allow") => {
            let Some(patient) = field("patient").and_then(|p| p.parse().ok()) else {
                return consent_page(&state, &user, ctx, &headers, Some("Choose whose record."))
                    .await;
            };
            let mut kept: Vec<String> = pairs
                .iter()
                .filter(|(k, _)| k == "type")
                .map(|(_, v)| v.clone())
                .collect();
            // Every kind ticked keeps a request for everything whole.
            let all = all_types();
            if all.iter().all(|t| kept.iter().any(|k| k == t)) {
                kept.push("*".into());
            }
            Some((patient, kept))
        }
        _ => None,
    };
    let among = all_types();
    match state.app.smart().answer(&actor, id, grant, &among).await {
        Ok(to) => {
            let mut response = Redirect::to(&to).into_response();
            response
                .headers_mut()
                .append(header::SET_COOKIE, request_cookie(&state, "", 0));
            Ok(response)
        }
        Err(Error::Invalid(_)) => {
            consent_page(
                &state,
                &user,
                ctx,
                &headers,
                Some("Choose at least one kind of information, or choose Don't allow."),
            )
            .await
        }
        Err(Error::NotFound) => Ok(expired(&state)),
        Err(e) => Err(e.into()),
    }
}

/// The client's credentials: HTTP Basic (RFC 6749 §2.3.1), else the form's.
fn credentials(headers: &HeaderMap, id: Option<&str>, secret: Option<&str>) -> ClientCredentials {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| data_encoding::BASE64.decode(b.trim().as_bytes()).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| {
            let (id, secret) = text.split_once(':')?;
            let decode = |t: &str| {
                serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={t}"))
                    .ok()
                    .and_then(|mut v| v.pop())
                    .map(|(_, v)| v)
            };
            Some((decode(id)?, decode(secret)?))
        });
    match basic {
        Some((id, secret)) => ClientCredentials {
            id: Some(id),
            secret: Some(secret),
        },
        None => ClientCredentials {
            id: id.map(str::to_string),
            secret: secret.map(str::to_string),
        },
    }
}

/// `POST /oauth/token`.
async fn token(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Form(params): Form<TokenParams>,
) -> Response {
    let client = credentials(
        &headers,
        params.client_id.as_deref(),
        params.client_secret.as_deref(),
    );
    let answer = state.app.smart().token(&params, &client, &ctx).await;
    back_channel_answer(
        answer.map(|a| a.map(|t| serde_json::to_value(t).unwrap_or_default())),
        "a token request",
    )
}

/// The form of introspection and revocation.
#[derive(Deserialize)]
struct TokenForm {
    #[serde(default)]
    token: String,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// `POST /oauth/introspect` (RFC 7662).
async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let client = credentials(
        &headers,
        form.client_id.as_deref(),
        form.client_secret.as_deref(),
    );
    back_channel_answer(
        state.app.smart().introspect(&client, &form.token).await,
        "an introspection",
    )
}

/// `POST /oauth/revoke` (RFC 7009): 200 whether or not the token was known.
async fn revoke(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    let client = credentials(
        &headers,
        form.client_id.as_deref(),
        form.client_secret.as_deref(),
    );
    let answer = state.app.smart().revoke(&client, &form.token, &ctx).await;
    back_channel_answer(
        answer.map(|a| a.map(|()| serde_json::json!({}))),
        "a revocation",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_read_and_url_decoded() {
        let mut headers = HeaderMap::new();
        let encoded = data_encoding::BASE64.encode(b"app%3A1:s%20ecret");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {encoded}")).expect("header"),
        );
        let c = credentials(&headers, Some("other"), None);
        assert_eq!(c.id.as_deref(), Some("app:1"));
        assert_eq!(c.secret.as_deref(), Some("s ecret"));
        let c = credentials(&HeaderMap::new(), Some("form"), Some("x"));
        assert_eq!(
            (c.id.as_deref(), c.secret.as_deref()),
            (Some("form"), Some("x"))
        );
    }

    #[test]
    fn the_consent_page_lets_its_form_lead_back_to_the_app_only() {
        let policy = consent_policy("https://app.example:8443/cb?x=1");
        assert!(policy.contains("form-action 'self' https://app.example:8443;"));
        assert!(policy.contains("frame-ancestors 'none'"));
        let odd = consent_policy("https://a.example;script-src*/cb");
        assert!(odd.contains("form-action 'self';"), "{odd}");
    }

    #[test]
    fn only_the_back_channel_skips_csrf() {
        assert!(is_back_channel("/oauth/token"));
        assert!(!is_back_channel("/oauth/consent"));
    }
}
