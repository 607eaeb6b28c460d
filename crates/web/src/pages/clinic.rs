//! The clinic's pages: the patient list and break-glass (the in-basket is messaging's, the
//! schedule appointments').

use crate::AppState;
use crate::error::PageResult;
use crate::layout::{Nav, Page, form_status, render_status};
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
use portal_domain::fields::FieldErrors;
use serde::Deserialize;

/// The clinic's own pages: finding patients, break-glass.
pub const ROUTES: &[Route] = &[
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
#[template(path = "patients.html")]
struct PatientsPage {
    page: Page,
    errors: FieldErrors,
    is_clinician: bool,
    term: String,
    patients: Vec<PatientRow>,
    mrn: String,
    reason: String,
    /// Patients asking the clinic to remove a proxy: record id, name, proxy, asked on.
    removals: Vec<(String, String, String, String)>,
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
        .patient_list(&user.actor(ctx.clone()), &term)
        .await?;
    let removals = if user.role == Role::Clinician {
        Vec::new()
    } else {
        state
            .app
            .proxies()
            .removal_requests(&user.actor(ctx))
            .await?
            .into_iter()
            .map(|r| {
                (
                    r.patient.to_string(),
                    r.patient_name,
                    r.proxy_name,
                    state.dates.day(r.asked_at),
                )
            })
            .collect()
    };
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
            removals,
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
