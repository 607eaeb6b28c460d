//! Getting into an account without signing in: activating a patient's account with the code
//! the clinic gave, and resetting a forgotten password with the link sent by e-mail.

use crate::AppState;
use crate::error::{PageError, PageResult};
use crate::layout::{Page, render, render_status};
use crate::pages::auth::with_cookie;
use crate::routes::{Access, Route};
use crate::security::Ctx;
use crate::session::{anonymous_csrf, clear_session_cookie};
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_app::Error;
use portal_app::enrolment::Activation;
use portal_domain::fields::FieldErrors;
use serde::Deserialize;

/// Activation and password reset.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/activate",
        access: Access::Public,
        serve: || get(activate_form),
    },
    Route {
        method: "POST",
        path: "/activate",
        access: Access::Public,
        serve: || post(activate),
    },
    Route {
        method: "GET",
        path: "/reset",
        access: Access::Public,
        serve: || get(reset_request_form),
    },
    Route {
        method: "POST",
        path: "/reset",
        access: Access::Public,
        serve: || post(reset_request),
    },
    Route {
        method: "GET",
        path: "/reset/{token}",
        access: Access::Public,
        serve: || get(reset_form),
    },
    Route {
        method: "POST",
        path: "/reset/{token}",
        access: Access::Public,
        serve: || post(reset),
    },
];

#[derive(Template)]
#[template(path = "activate.html")]
struct ActivatePage {
    page: Page,
    errors: FieldErrors,
    code: String,
    birth_date: String,
    email: String,
    whose: String,
    name: String,
}

/// GET /activate
pub async fn activate_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (csrf, cookie) = anonymous_csrf(&state, &headers);
    with_cookie(
        render(&ActivatePage {
            page: Page::anonymous_form("Activate your account", &csrf),
            errors: FieldErrors::new(),
            code: String::new(),
            birth_date: String::new(),
            email: String::new(),
            whose: String::new(),
            name: String::new(),
        }),
        cookie,
    )
}

/// The activation form.
#[derive(Deserialize)]
pub struct ActivateForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    birth_date: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    /// "mine" or "child".
    #[serde(default)]
    whose: String,
    /// The parent's own name, for a child's code.
    #[serde(default)]
    name: String,
    #[serde(default)]
    csrf: String,
}

/// POST /activate
pub async fn activate(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    Form(form): Form<ActivateForm>,
) -> PageResult {
    let today = state.dates.civil_today(state.app.now());
    // The clinic's local form ("04/30/1980") is read here; the record compares calendar dates.
    let birth_date = state
        .dates
        .parse_day(&form.birth_date)
        .map_or_else(|| form.birth_date.clone(), |d| d.to_string());
    let parsed = Activation::parse(
        &form.code,
        &birth_date,
        &form.email,
        &form.password,
        &form.whose,
        &form.name,
        today,
    );
    let result = match parsed {
        Ok(activation) => state
            .app
            .accounts()
            .activate(activation, &ctx)
            .await
            .map(|_| ()),
        Err(errors) => Err(Error::Invalid(errors)),
    };
    match result {
        Ok(()) => Ok(Redirect::to("/signin?done=activated").into_response()),
        Err(Error::Invalid(errors)) => Ok(render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ActivatePage {
                page: Page::anonymous_form("Activate your account", &form.csrf),
                errors,
                code: form.code,
                birth_date: form.birth_date,
                email: form.email,
                whose: form.whose,
                name: form.name,
            },
        )),
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "reset_request.html")]
struct ResetRequestPage {
    page: Page,
    errors: FieldErrors,
    email: String,
    sent: bool,
}

/// GET /reset
pub async fn reset_request_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let (csrf, cookie) = anonymous_csrf(&state, &headers);
    with_cookie(
        render(&ResetRequestPage {
            page: Page::anonymous_form("Reset your password", &csrf),
            errors: FieldErrors::new(),
            email: String::new(),
            sent: false,
        }),
        cookie,
    )
}

/// The reset-request form.
#[derive(Deserialize)]
pub struct ResetRequestForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    csrf: String,
}

/// POST /reset
pub async fn reset_request(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    Form(form): Form<ResetRequestForm>,
) -> PageResult {
    match state
        .app
        .accounts()
        .request_password_reset(&form.email, &ctx)
        .await
    {
        Ok(()) => Ok(render(&ResetRequestPage {
            page: Page::anonymous_form("Reset your password", &form.csrf),
            errors: FieldErrors::new(),
            email: String::new(),
            sent: true,
        })),
        Err(Error::Invalid(errors)) => Ok(render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ResetRequestPage {
                page: Page::anonymous_form("Reset your password", &form.csrf),
                errors,
                email: form.email,
                sent: false,
            },
        )),
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "reset_form.html")]
struct ResetFormPage {
    page: Page,
    errors: FieldErrors,
    token: String,
}

fn link_expired() -> PageError {
    PageError(Error::field(
        "token",
        "This reset link has expired or was already used. Ask for a new one from the sign-in page.",
    ))
}

fn plausible_token(token: &str) -> bool {
    token.len() <= 128 && token.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// GET /reset/{token}
pub async fn reset_form(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> PageResult {
    if !plausible_token(&token) || !state.app.accounts().reset_link_is_valid(&token).await? {
        return Err(link_expired());
    }
    let (csrf, cookie) = anonymous_csrf(&state, &headers);
    Ok(with_cookie(
        render(&ResetFormPage {
            page: Page::anonymous_form("Choose a new password", &csrf),
            errors: FieldErrors::new(),
            token,
        }),
        cookie,
    ))
}

/// The new-password form.
#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    csrf: String,
}

/// POST /reset/{token}
pub async fn reset(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Ctx(ctx): Ctx,
    Form(form): Form<ResetForm>,
) -> PageResult {
    if !plausible_token(&token) {
        return Err(link_expired());
    }
    match state
        .app
        .accounts()
        .reset_password(&token, &form.new_password, &ctx)
        .await
    {
        Ok(()) => {
            let mut response = Redirect::to("/signin?done=reset").into_response();
            response
                .headers_mut()
                .append(header::SET_COOKIE, clear_session_cookie(&state));
            Ok(response)
        }
        Err(Error::Invalid(errors)) if errors.get("token").is_some() => Err(link_expired()),
        Err(Error::Invalid(errors)) => Ok(render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &ResetFormPage {
                page: Page::anonymous_form("Choose a new password", &form.csrf),
                errors,
                token,
            },
        )),
        Err(e) => Err(e.into()),
    }
}
