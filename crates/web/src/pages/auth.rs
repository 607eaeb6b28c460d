//! Sign-in, second factor, enrolment and sign-out.

use crate::AppState;
use crate::error::PageResult;
use crate::layout::{Page, form_status, render, render_status};
use crate::routes::{Access, Route};
use crate::security::Ctx;
use crate::session::{
    MaybeUser, Pending, anonymous_csrf, clear_session_cookie, redirect_with_session,
};
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_app::Error;
use portal_app::auth::Stage;
use portal_domain::fields::FieldErrors;
use serde::Deserialize;

/// Signing in, activation and password reset.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/signin",
        access: Access::Public,
        serve: || get(signin_form),
    },
    Route {
        method: "POST",
        path: "/signin",
        access: Access::Public,
        serve: || post(signin),
    },
    Route {
        method: "GET",
        path: "/signin/second-factor",
        access: Access::Public,
        serve: || get(second_factor_form),
    },
    Route {
        method: "POST",
        path: "/signin/second-factor",
        access: Access::Public,
        serve: || post(second_factor),
    },
    Route {
        method: "GET",
        path: "/signin/enrol",
        access: Access::Public,
        serve: || get(enrol_form),
    },
    Route {
        method: "POST",
        path: "/signin/enrol",
        access: Access::Public,
        serve: || post(enrol),
    },
    Route {
        method: "POST",
        path: "/signout",
        access: Access::Public,
        serve: || post(signout),
    },
];

pub(crate) fn with_cookie(mut response: Response, cookie: Option<HeaderValue>) -> Response {
    if let Some(c) = cookie {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage {
    page: Page,
    errors: FieldErrors,
    email: String,
    notice: Option<&'static str>,
}

/// Messages the sign-in page may show after a redirect (chosen by key; no text in the URL).
fn notice_for(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "activated" => Some("Your account is ready. Sign in with your e-mail and new password."),
        "reset" => Some("Your password was changed. Sign in with the new password."),
        "proxy" => Some(
            "Your account is ready. Sign in, set up your second factor, and the record you were \
             invited to is listed on your home page.",
        ),
        "signed-out" => Some("You are signed out."),
        _ => None,
    }
}

/// The `?done=` key of a redirect.
#[derive(Deserialize, Default)]
pub struct Done {
    done: Option<String>,
}

/// GET /signin
pub async fn signin_form(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    headers: HeaderMap,
    axum::extract::Query(done): axum::extract::Query<Done>,
) -> Response {
    if let Some(user) = user {
        return match user.stage {
            Stage::Full => Redirect::to("/").into_response(),
            Stage::SecondFactor => Redirect::to("/signin/second-factor").into_response(),
            Stage::Enrol => Redirect::to("/signin/enrol").into_response(),
        };
    }
    let (csrf, cookie) = anonymous_csrf(&state, &headers);
    with_cookie(
        render(&SignInPage {
            page: Page::anonymous_form("Sign in", &csrf),
            errors: FieldErrors::new(),
            email: String::new(),
            notice: notice_for(done.done.as_deref()),
        }),
        cookie,
    )
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

/// POST /signin
pub async fn signin(
    State(state): State<AppState>,
    Ctx(ctx): Ctx,
    headers: axum::http::HeaderMap,
    Form(form): Form<SignInForm>,
) -> PageResult {
    match state
        .app
        .accounts()
        .sign_in(&form.email, &form.password, &ctx)
        .await
    {
        Ok(session) => {
            let next = match session.stage {
                Stage::Full => crate::smart::after_sign_in(&headers),
                Stage::SecondFactor => "/signin/second-factor",
                Stage::Enrol => "/signin/enrol",
            };
            Ok(redirect_with_session(&state, next, &session.token))
        }
        Err(Error::Invalid(errors)) => Ok(render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SignInPage {
                page: Page::anonymous_form("Sign in", &form.csrf),
                errors,
                email: form.email,
                notice: None,
            },
        )),
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "second_factor.html")]
struct SecondFactorPage {
    page: Page,
    errors: FieldErrors,
}

/// GET /signin/second-factor
pub async fn second_factor_form(Pending(user): Pending) -> Response {
    if user.stage == Stage::Enrol {
        return Redirect::to("/signin/enrol").into_response();
    }
    render(&SecondFactorPage {
        page: Page::signed_in("Enter your code", &user, crate::layout::Nav::None, None),
        errors: FieldErrors::new(),
    })
}

/// The second-factor form.
#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

/// POST /signin/second-factor
pub async fn second_factor(
    State(state): State<AppState>,
    Pending(user): Pending,
    Ctx(ctx): Ctx,
    headers: axum::http::HeaderMap,
    Form(form): Form<CodeForm>,
) -> PageResult {
    match state
        .app
        .accounts()
        .verify_second_factor(&user, &form.code, &ctx)
        .await
    {
        // An app waiting for consent gets the person back.
        Ok(session) => Ok(redirect_with_session(
            &state,
            crate::smart::after_sign_in(&headers),
            &session.token,
        )),
        Err(Error::Invalid(errors)) => Ok(render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SecondFactorPage {
                page: Page::signed_in("Enter your code", &user, crate::layout::Nav::None, None),
                errors,
            },
        )),
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "enrol.html")]
pub(crate) struct EnrolPage {
    pub(crate) page: Page,
    pub(crate) errors: FieldErrors,
    pub(crate) required: bool,
    pub(crate) ask_password: bool,
    pub(crate) ask_current_code: bool,
    pub(crate) action: &'static str,
    pub(crate) sealed_secret: String,
    pub(crate) qr_svg: String,
    pub(crate) manual_key: String,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
pub(crate) struct RecoveryCodesPage {
    pub(crate) page: Page,
    pub(crate) codes: Vec<String>,
    pub(crate) next: &'static str,
}

/// Renders the enrolment page for `user`, with a fresh secret (or the one being retried).
pub(crate) fn enrol_page(
    state: &AppState,
    user: &portal_app::auth::CurrentUser,
    errors: FieldErrors,
    action: &'static str,
    retry_secret: Option<String>,
) -> PageResult {
    let enrolment = match retry_secret
        .and_then(|sealed| state.app.accounts().enrolment_from_sealed(user, &sealed))
    {
        // Keep the secret the person already scanned when they mistype a code.
        Some(e) => e,
        None => state.app.accounts().start_enrolment(user)?,
    };
    let status = form_status(&errors);
    Ok(render_status(
        status,
        &EnrolPage {
            page: Page::signed_in(
                "Set up your authenticator app",
                user,
                crate::layout::Nav::Account,
                None,
            ),
            errors,
            required: user.stage == Stage::Enrol,
            ask_password: user.stage == Stage::Full,
            ask_current_code: user.stage == Stage::Full && user.has_second_factor,
            action,
            sealed_secret: enrolment.sealed_secret,
            qr_svg: enrolment.qr_svg,
            manual_key: enrolment.manual_key,
        },
    ))
}

/// GET /signin/enrol
pub async fn enrol_form(State(state): State<AppState>, Pending(user): Pending) -> PageResult {
    if user.stage != Stage::Enrol {
        return Ok(Redirect::to("/signin/second-factor").into_response());
    }
    enrol_page(&state, &user, FieldErrors::new(), "/signin/enrol", None)
}

/// The enrolment form.
#[derive(Deserialize)]
pub struct EnrolForm {
    #[serde(default)]
    pub(crate) secret: String,
    #[serde(default)]
    pub(crate) code: String,
    #[serde(default)]
    pub(crate) current_password: String,
    #[serde(default)]
    pub(crate) current_code: String,
}

/// POST /signin/enrol
pub async fn enrol(
    State(state): State<AppState>,
    Pending(user): Pending,
    Ctx(ctx): Ctx,
    Form(form): Form<EnrolForm>,
) -> PageResult {
    if user.stage != Stage::Enrol {
        return Ok(Redirect::to("/signin/second-factor").into_response());
    }
    match state
        .app
        .accounts()
        .finish_enrolment(&user, &form.secret, &form.code, None, &ctx)
        .await
    {
        Ok((codes, Some(session))) => {
            let page = RecoveryCodesPage {
                page: Page::anonymous("Save your recovery codes"),
                codes,
                next: "/",
            };
            let mut response = render(&page);
            response.headers_mut().append(
                header::SET_COOKIE,
                crate::session::session_cookie(&state, &session.token),
            );
            Ok(response)
        }
        Ok((_, None)) => Ok(Redirect::to("/").into_response()),
        Err(Error::Invalid(errors)) => {
            enrol_page(&state, &user, errors, "/signin/enrol", Some(form.secret))
        }
        Err(e) => Err(e.into()),
    }
}

/// POST /signout
pub async fn signout(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Ctx(ctx): Ctx,
) -> PageResult {
    if let Some(user) = user {
        state.app.accounts().sign_out(&user, &ctx).await?;
    }
    let mut response = Redirect::to("/signin?done=signed-out").into_response();
    let h = response.headers_mut();
    h.append(header::SET_COOKIE, clear_session_cookie(&state));
    h.insert(
        "clear-site-data",
        HeaderValue::from_static("\"cache\", \"storage\""),
    );
    Ok(response)
}
