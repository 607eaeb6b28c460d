//! The session cookie: loaded once per request, checked by the extractors that handlers take.

use crate::AppState;
use crate::error::PageError;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use portal_app::auth::{CurrentUser, Stage};

/// The session found for this request, if any (put in the request's extensions).
#[derive(Clone)]
pub struct SessionState(pub Option<CurrentUser>);

/// Resolves the session cookie once for every request.
pub async fn load(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let token = cookie(request.headers(), state.session_cookie()).map(str::to_string);
    // A request about one patient's record reads the policy's facts about it with the session;
    // the record's home page, those about the records of the account's family too.
    let about = record_in_path(request.uri().path());
    let user = match token {
        Some(t) if !t.is_empty() => {
            let accounts = state.app.accounts();
            let found = match about {
                Some((patient, true)) => accounts.resolve_session_for_home(&t, patient).await,
                other => {
                    accounts
                        .resolve_session_for(&t, other.map(|(patient, _)| patient))
                        .await
                }
            };
            match found {
                Ok(user) => user,
                Err(e) => return PageError(e).into_response(),
            }
        }
        _ => None,
    };
    request.extensions_mut().insert(SessionState(user));
    next.run(request).await
}

/// The record a path is about (`/patients/{id}` and the pages under it), and whether the path is
/// the record's home page.
fn record_in_path(path: &str) -> Option<(portal_domain::PatientId, bool)> {
    let rest = path.strip_prefix("/patients/")?;
    let (id, under) = rest.split_once('/').unwrap_or((rest, ""));
    Some((id.parse().ok()?, under.is_empty()))
}

fn session_of(parts: &Parts) -> Option<CurrentUser> {
    parts
        .extensions
        .get::<SessionState>()
        .and_then(|s| s.0.clone())
}

/// Where a half-finished sign-in must go next.
fn continue_sign_in(stage: Stage) -> Response {
    match stage {
        Stage::SecondFactor => Redirect::to("/signin/second-factor").into_response(),
        Stage::Enrol => Redirect::to("/signin/enrol").into_response(),
        Stage::Full => Redirect::to("/").into_response(),
    }
}

/// A fully signed-in user (both factors). Anyone else is sent to sign in; a half-finished
/// sign-in cannot skip its second step by going to another address.
pub struct SignedIn(pub CurrentUser);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        match session_of(parts) {
            Some(user) if user.stage == Stage::Full => Ok(SignedIn(user)),
            Some(user) => Err(continue_sign_in(user.stage)),
            None => Err(Redirect::to("/signin").into_response()),
        }
    }
}

/// A session in the middle of sign-in (password accepted, second factor to come).
pub struct Pending(pub CurrentUser);

impl FromRequestParts<AppState> for Pending {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        match session_of(parts) {
            Some(user) if user.stage != Stage::Full => Ok(Pending(user)),
            Some(_) => Err(Redirect::to("/").into_response()),
            None => Err(Redirect::to("/signin").into_response()),
        }
    }
}

/// The session, whatever its stage, or none.
pub struct MaybeUser(pub Option<CurrentUser>);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(MaybeUser(session_of(parts)))
    }
}

/// The `Set-Cookie` value that stores a session token.
pub fn session_cookie(state: &AppState, token: &str) -> HeaderValue {
    let secure = if state.tls { "; Secure" } else { "" };
    let value = format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Lax{secure}",
        state.session_cookie()
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_session_cookie(state: &AppState) -> HeaderValue {
    let secure = if state.tls { "; Secure" } else { "" };
    let value = format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}",
        state.session_cookie()
    );
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A redirect that also sets the session cookie.
pub fn redirect_with_session(state: &AppState, to: &str, token: &str) -> Response {
    let mut response = Redirect::to(to).into_response();
    response
        .headers_mut()
        .append(header::SET_COOKIE, session_cookie(state, token));
    response
}

/// The anonymous CSRF token for a form page: the cookie's value, or a new one to set.
pub fn anonymous_csrf(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> (String, Option<HeaderValue>) {
    if let Some(existing) = cookie(headers, state.csrf_cookie()).filter(|v| v.len() >= 32) {
        return (existing.to_string(), None);
    }
    let token = portal_app::crypto::random_token();
    let secure = if state.tls { "; Secure" } else { "" };
    let value = format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Strict{secure}",
        state.csrf_cookie()
    );
    (token, HeaderValue::from_str(&value).ok())
}

/// Reads one cookie from the request's headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::record_in_path;

    #[test]
    fn the_record_of_a_path_is_the_id_after_patients() {
        let id = "01a23fce-a81b-753a-ab24-c42c7ed103de";
        for (path, home) in [
            (format!("/patients/{id}"), true),
            (format!("/patients/{id}/results"), false),
            (format!("/patients/{id}/results/{id}"), false),
        ] {
            assert_eq!(
                record_in_path(&path).map(|(p, home)| (p.to_string(), home)),
                Some((id.into(), home))
            );
        }
        for path in [
            "/patients",
            "/patients/",
            "/patients/not-an-id/results",
            "/inbasket",
            "/",
        ] {
            assert_eq!(record_in_path(path), None, "{path}");
        }
    }
}
