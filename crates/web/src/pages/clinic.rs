//! The clinic's pages: schedule, patient list and break-glass (the in-basket is messaging's).

use crate::AppState;
use crate::error::{PageError, PageResult};
use crate::layout::{Nav, Page, form_status, render, render_status};
use crate::routes::{Access, Route};
use crate::security::Ctx;
use crate::session::SignedIn;
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use portal_app::Error;
use portal_app::auth::CurrentUser;
use portal_app::types::PatientRow;
use portal_domain::Role;
use portal_domain::access::{ClinicAction, authorize_clinic};
use portal_domain::fields::FieldErrors;
use serde::Deserialize;

/// The clinic's own pages: in-basket, schedule, finding patients, break-glass.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/schedule",
        access: Access::Clinic,
        serve: || get(schedule),
    },
    Route {
        method: "GET",
        path: "/patients",
        access: Access::Clinic,
        serve: || get(list),
    },
    Route {
        method: "POST",
        path: "/patients/search",
        access: Access::Clinic,
        serve: || post(search),
    },
    Route {
        method: "POST",
        path: "/patients/break-glass",
        access: Access::Clinic,
        serve: || post(break_glass),
    },
];

#[derive(Template)]
#[template(path = "clinic_empty.html")]
struct EmptyPage {
    page: Page,
    empty_text: &'static str,
}

fn require(user: &CurrentUser, action: ClinicAction) -> Result<(), PageError> {
    authorize_clinic(&user.principal(), action)
        .map(|_| ())
        .map_err(|_| PageError(Error::Forbidden))
}

/// GET /schedule
pub async fn schedule(SignedIn(user): SignedIn) -> PageResult {
    require(&user, ClinicAction::ViewSchedule)?;
    Ok(render(&EmptyPage {
        page: Page::signed_in("Schedule", &user, Nav::Schedule, None),
        empty_text: "No schedules are set up yet. Clinic schedules and appointments will show here.",
    }))
}

#[derive(Template)]
#[template(path = "patients.html")]
struct PatientsPage {
    page: Page,
    errors: FieldErrors,
    is_clinician: bool,
    term: String,
    patients: Vec<PatientRow>,
    mrn: String,
    reason: String,
}

async fn patients_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: portal_domain::audit::RequestContext,
    term: String,
    errors: FieldErrors,
    mrn: String,
    reason: String,
) -> PageResult {
    let patients = state
        .app
        .clinic()
        .patient_list(&user.actor(ctx), &term)
        .await?;
    let status = form_status(&errors);
    Ok(render_status(
        status,
        &PatientsPage {
            page: Page::signed_in("Patients", user, Nav::Patients, None),
            errors,
            is_clinician: user.role == Role::Clinician,
            term,
            patients,
            mrn,
            reason,
        },
    ))
}

/// GET /patients
pub async fn list(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
) -> PageResult {
    patients_page(
        &state,
        &user,
        ctx,
        String::new(),
        FieldErrors::new(),
        String::new(),
        String::new(),
    )
    .await
}

/// The directory search form (POST, so names never sit in a URL).
#[derive(Deserialize)]
pub struct SearchForm {
    #[serde(default)]
    q: String,
}

/// POST /patients/search
pub async fn search(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(form): Form<SearchForm>,
) -> PageResult {
    let term: String = form.q.trim().chars().take(100).collect();
    patients_page(
        &state,
        &user,
        ctx,
        term,
        FieldErrors::new(),
        String::new(),
        String::new(),
    )
    .await
}

/// The break-glass form.
#[derive(Deserialize)]
pub struct BreakGlassForm {
    #[serde(default)]
    mrn: String,
    #[serde(default)]
    reason: String,
}

/// POST /patients/break-glass
pub async fn break_glass(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(form): Form<BreakGlassForm>,
) -> PageResult {
    match state
        .app
        .clinic()
        .break_glass(&user.actor(ctx.clone()), &form.mrn, &form.reason)
        .await
    {
        Ok(patient) => Ok(Redirect::to(&format!("/patients/{patient}")).into_response()),
        Err(Error::Invalid(errors)) => {
            patients_page(
                &state,
                &user,
                ctx,
                String::new(),
                errors,
                form.mrn,
                form.reason,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
