//! The clinic settings overview: every setting's value in force and where it comes from (set
//! on an administration page, a start-up variable, or the built-in default), with a link to
//! the page that changes it.

use crate::AppState;
use crate::error::PageResult;
use crate::layout::{Nav, Page, form_status, render_status};
use crate::routes::{Access, Route};
use crate::security::Ctx;
use crate::session::SignedIn;
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use portal_app::auth::CurrentUser;
use portal_app::clinic_settings::Source;
use portal_domain::fields::FieldErrors;
use serde::Deserialize;

/// The overview's routes: the page, and the sign-in and session settings' form.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/admin/settings",
        access: Access::Clinic,
        serve: || get(settings),
    },
    Route {
        method: "POST",
        path: "/admin/settings/sessions",
        access: Access::Clinic,
        serve: || post(save_sessions),
    },
];

/// The sign-in and session settings' form.
#[derive(Debug, Default, Deserialize)]
pub struct SessionsForm {
    #[serde(default)]
    idle_minutes: String,
    #[serde(default)]
    absolute_hours: String,
    #[serde(default)]
    patient_second_factor: Option<String>,
}

/// `?done=sessions` after the form was saved.
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// One setting as the page shows it.
struct Line {
    label: &'static str,
    value: String,
    source: String,
}

/// One group of settings.
struct Group {
    title: &'static str,
    id: String,
    change: Option<&'static str>,
    lines: Vec<Line>,
}

#[derive(Template)]
#[template(path = "admin_settings.html")]
struct SettingsPage {
    page: Page,
    groups: Vec<Group>,
    /// The sessions form as shown (the values in force, or as sent with its errors).
    idle_minutes: String,
    absolute_hours: String,
    patient_second_factor: bool,
    errors: FieldErrors,
    done: bool,
}

async fn settings_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: portal_domain::audit::RequestContext,
    sent: Option<&SessionsForm>,
    errors: FieldErrors,
    done: bool,
) -> PageResult {
    let groups = state
        .app
        .clinic()
        .settings_overview(&user.actor(ctx))
        .await?
        .into_iter()
        .enumerate()
        .map(|(i, g)| Group {
            title: g.title,
            id: format!("group-{}", i + 1),
            change: g.change,
            lines: g
                .lines
                .into_iter()
                .map(|l| Line {
                    label: l.label,
                    value: l.value,
                    source: source_words(&state.dates, l.source, l.variable),
                })
                .collect(),
        })
        .collect();
    let rules = state.app.session_rules().await?;
    let (idle_minutes, absolute_hours, patient_second_factor) = match sent {
        Some(f) => (
            f.idle_minutes.clone(),
            f.absolute_hours.clone(),
            f.patient_second_factor.is_some(),
        ),
        None => (
            (rules.idle_timeout.as_secs() / 60).to_string(),
            (rules.absolute_timeout.as_secs() / 3600).to_string(),
            rules.require_patient_second_factor,
        ),
    };
    Ok(render_status(
        form_status(&errors),
        &SettingsPage {
            page: Page::signed_in("Clinic settings", user, Nav::Settings, None),
            groups,
            idle_minutes,
            absolute_hours,
            patient_second_factor,
            errors,
            done,
        },
    ))
}

/// Where a value comes from, in words.
fn source_words(
    dates: &crate::pages::words::Dates,
    source: Source,
    variable: Option<&'static str>,
) -> String {
    match (source, variable) {
        (Source::Stored { by, at }, _) if by == "cli" => {
            format!("Stored from the command line, {}", dates.minute(at))
        }
        (Source::Stored { by, at }, _) => format!("Stored by {by}, {}", dates.minute(at)),
        (Source::StartUp, Some(v)) => format!("Start-up setting {v}"),
        (Source::StartUp, None) => "Start-up setting".into(),
        (Source::BuiltIn, Some(v)) => {
            format!("Built-in default (start-up setting {v} changes it)")
        }
        (Source::BuiltIn, None) => "Built-in default".into(),
    }
}

/// GET /admin/settings
pub async fn settings(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Query(done): Query<Done>,
) -> PageResult {
    let done = done.done.as_deref() == Some("sessions");
    settings_page(&state, &user, ctx, None, FieldErrors::new(), done).await
}

/// POST /admin/settings/sessions: stores the sign-in and session settings.
pub async fn save_sessions(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(form): Form<SessionsForm>,
) -> PageResult {
    match state
        .app
        .clinic()
        .set_session_rules(
            &user.actor(ctx.clone()),
            &form.idle_minutes,
            &form.absolute_hours,
            form.patient_second_factor.is_some(),
        )
        .await
    {
        Ok(()) => Ok(Redirect::to("/admin/settings?done=sessions#sessions-form").into_response()),
        Err(portal_app::Error::Invalid(errors)) => {
            settings_page(&state, &user, ctx, Some(&form), errors, false).await
        }
        Err(e) => Err(e.into()),
    }
}
