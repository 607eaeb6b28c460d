//! The admin's help for a clinic account that cannot sign in: unlock it, reset its lost second
//! factor, or sign it out everywhere, each with how the caller was checked and why.

use crate::AppState;
use crate::error::{IdPath, PageResult};
use crate::layout::{Nav, Page, form_status, render_status};
use crate::routes::{Access, Route};
use crate::security::Ctx;
use crate::session::SignedIn;
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use portal_app::auth::CurrentUser;
use portal_app::enrolment_desk::IDENTITY_CHECKS;
use portal_domain::UserId;
use portal_domain::fields::FieldErrors;
use serde::Deserialize;

/// The help page's routes.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/admin/users/{id}/help",
        access: Access::Clinic,
        serve: || get(page),
    },
    Route {
        method: "POST",
        path: "/admin/users/{id}/help",
        access: Access::Clinic,
        serve: || post(help),
    },
];

#[derive(Template)]
#[template(path = "admin_user_help.html")]
struct HelpPage {
    page: Page,
    id: String,
    name: String,
    email: String,
    role: &'static str,
    helps: Vec<(&'static str, &'static str)>,
    identity_checks: &'static [&'static str],
    form: HelpForm,
    errors: FieldErrors,
}

/// The form.
#[derive(Debug, Default, Deserialize)]
pub struct HelpForm {
    #[serde(default)]
    help: String,
    #[serde(default)]
    identity: String,
    #[serde(default)]
    reason: String,
}

async fn help_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: portal_domain::audit::RequestContext,
    id: UserId,
    form: HelpForm,
    errors: FieldErrors,
) -> PageResult {
    let account = state
        .app
        .accounts()
        .clinic_account(&user.actor(ctx), id)
        .await?;
    let mut helps = vec![("unlock", "Unlock the account (failed sign-ins locked it)")];
    if account.totp_secret_enc.is_some() {
        helps.push((
            "reset-second-factor",
            "Reset the second factor (a lost phone): removes the authenticator app and signs \
             out everywhere; they set up a new one at their next sign-in",
        ));
    }
    helps.push(("end-sessions", "Sign the account out everywhere"));
    Ok(render_status(
        form_status(&errors),
        &HelpPage {
            page: Page::signed_in("Help with an account", user, Nav::Users, None),
            id: account.id.to_string(),
            name: account.name,
            email: account.email,
            role: account.role.label(),
            helps,
            identity_checks: &IDENTITY_CHECKS,
            form,
            errors,
        },
    ))
}

/// GET /admin/users/{id}/help
pub async fn page(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<UserId>,
) -> PageResult {
    help_page(
        &state,
        &user,
        ctx,
        id,
        HelpForm::default(),
        FieldErrors::new(),
    )
    .await
}

/// POST /admin/users/{id}/help
pub async fn help(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<UserId>,
    Form(form): Form<HelpForm>,
) -> PageResult {
    match state
        .app
        .accounts()
        .help_clinic_account(
            &user.actor(ctx.clone()),
            id,
            &form.help,
            &form.identity,
            &form.reason,
        )
        .await
    {
        Ok(done) => {
            let key = done.done_key();
            Ok(Redirect::to(&format!("/admin/users?done={key}")).into_response())
        }
        Err(portal_app::Error::Invalid(errors)) => {
            help_page(&state, &user, ctx, id, form, errors).await
        }
        Err(e) => Err(e.into()),
    }
}
