//! Administration of the apps patients may connect (SMART on FHIR): the registered apps, and
//! registering one (its client id, and a confidential client's secret, shown once).

use crate::AppState;
use crate::error::PageResult;
use crate::layout::{Nav, Page, form_status, render_status};
use crate::routes::{Access, Route};
use crate::security::Ctx;
use crate::session::SignedIn;
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::routing::{get, post};
use portal_app::Error;
use portal_app::auth::CurrentUser;
use portal_domain::fields::FieldErrors;
use serde::Deserialize;

/// The apps page's routes.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/admin/apps",
        access: Access::Clinic,
        serve: || get(apps),
    },
    Route {
        method: "POST",
        path: "/admin/apps",
        access: Access::Clinic,
        serve: || post(register),
    },
];

/// One registered app.
pub struct AppLine {
    name: String,
    client_id: String,
    kind: &'static str,
    redirect_uris: Vec<String>,
    registered: String,
}

#[derive(Template)]
#[template(path = "admin_apps.html")]
struct AppsPage {
    page: Page,
    apps: Vec<AppLine>,
    errors: FieldErrors,
    form_name: String,
    form_uris: String,
    form_confidential: bool,
    /// An app just registered: its name, client id and (confidential) secret.
    registered: Option<(String, String, Option<String>)>,
}

/// The registration form.
#[derive(Debug, Default, Deserialize)]
pub struct AppForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    redirect_uris: String,
    #[serde(default)]
    confidential: Option<String>,
}

async fn apps_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: portal_domain::audit::RequestContext,
    errors: FieldErrors,
    form: &AppForm,
    registered: Option<(String, String, Option<String>)>,
) -> PageResult {
    let apps = state
        .app
        .smart()
        .apps(&user.actor(ctx))
        .await?
        .into_iter()
        .map(|a| AppLine {
            name: a.name,
            client_id: a.id.to_string(),
            kind: if a.secret_hash.is_some() {
                "Confidential (a server with a secret)"
            } else {
                "Public (an app on a phone or in a browser)"
            },
            redirect_uris: a.redirect_uris,
            registered: state.dates.day(a.created_at),
        })
        .collect();
    let status = form_status(&errors);
    Ok(render_status(
        status,
        &AppsPage {
            page: Page::signed_in("Apps", user, Nav::Apps, None),
            apps,
            errors,
            form_name: form.name.clone(),
            form_uris: form.redirect_uris.clone(),
            form_confidential: form.confidential.is_some(),
            registered,
        },
    ))
}

/// GET /admin/apps
pub async fn apps(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
) -> PageResult {
    apps_page(
        &state,
        &user,
        ctx,
        FieldErrors::new(),
        &AppForm::default(),
        None,
    )
    .await
}

/// POST /admin/apps: registers an app; the page shows its client id (and secret) once.
pub async fn register(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(form): Form<AppForm>,
) -> PageResult {
    let uris: Vec<String> = form
        .redirect_uris
        .lines()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .collect();
    match state
        .app
        .smart()
        .register_app(
            &user.actor(ctx.clone()),
            &form.name,
            &uris,
            form.confidential.is_some(),
        )
        .await
    {
        Ok(app) => {
            let registered = Some((
                form.name.trim().to_string(),
                app.client_id.to_string(),
                app.secret.clone(),
            ));
            apps_page(
                &state,
                &user,
                ctx,
                FieldErrors::new(),
                &AppForm::default(),
                registered,
            )
            .await
        }
        Err(Error::Invalid(errors)) => apps_page(&state, &user, ctx, errors, &form, None).await,
        Err(e) => Err(e.into()),
    }
}
