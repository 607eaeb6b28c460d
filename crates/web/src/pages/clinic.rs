//! The clinic's pages: finding patients, those opened lately, the care team's list and
//! break-glass (the in-basket is messaging's, the
//! schedule appointments').

use crate::AppState;
use crate::error::PageResult;
use crate::layout::{Nav, Page, form_status, render_status};
use crate::pages::banner::Banner;
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
use portal_app::clinic::Emergency;
use portal_app::types::PatientRow;
use portal_domain::fields::FieldErrors;
use portal_domain::{PatientId, Role};
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

/// A patient as the clinic's lists show one: enough to tell two people apart.
pub struct Listed {
    id: String,
    name: String,
    given_name: String,
    born: String,
    age: Option<String>,
    sex: &'static str,
    mrn: Option<String>,
    /// Whether the user may open the record (a clinician: on the care team or with emergency
    /// access open; staff and admins: the front-desk view).
    open: bool,
    on_care_team: bool,
    emergency_until: Option<String>,
    /// The break-glass form's error for this record.
    error: Option<String>,
}

/// Administrative sex in words.
fn sex_words(sex: &str) -> &'static str {
    match sex {
        "female" => "Female",
        "male" => "Male",
        "other" => "Other",
        _ => "Sex unknown",
    }
}

fn listed(state: &AppState, row: &PatientRow, now: jiff::Timestamp) -> Listed {
    let banner = Banner::new(row, &state.dates, now);
    Listed {
        id: row.id.to_string(),
        name: format!("{}, {}", row.family_name, row.given_name),
        given_name: banner.given_name,
        born: banner.born,
        age: banner.age.or(banner.died.map(|d| format!("Died {d}"))),
        sex: sex_words(&row.sex),
        mrn: banner.mrn,
        open: true,
        on_care_team: false,
        emergency_until: None,
        error: None,
    }
}

#[derive(Template)]
#[template(path = "patients.html")]
struct PatientsPage {
    page: Page,
    errors: FieldErrors,
    is_clinician: bool,
    term: String,
    searched: bool,
    found: Vec<Listed>,
    more: bool,
    recent: Vec<Listed>,
    team: Vec<Listed>,
    mrn: String,
    reason: String,
    /// A found record's break-glass form's error: the record's id and the message.
    row_error: Option<(String, String)>,
    /// Whether the reason belongs to the form by medical record number.
    by_mrn: bool,
    /// Patients asking the clinic to remove a proxy: link, name, proxy, asked on.
    removals: Vec<(String, String, String, String)>,
    /// For the front desk and admins.
    adoption: Option<AdoptionWords>,
}

/// What the page shows besides its lists: the search box's text and any break-glass form's
/// error and text.
#[derive(Default)]
struct Asked {
    term: String,
    errors: FieldErrors,
    mrn: String,
    reason: String,
    by_mrn: bool,
    /// The record whose break-glass form has the error, and the error.
    row_error: Option<(PatientId, String)>,
}

async fn patients_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: portal_domain::audit::RequestContext,
    asked: Asked,
) -> PageResult {
    let actor = user.actor(ctx);
    let clinic = state.app.clinic();
    let now = state.app.now();
    let is_clinician = user.role == Role::Clinician;
    let recent = clinic.recent(&actor).await?;
    let team_rows = clinic.care_team_list(&actor).await?;
    let search = clinic.find(&actor, &asked.term).await?;
    let searched = search.is_some();
    let (found, more) = match search {
        Some(search) => (
            search
                .found
                .iter()
                .map(|f| {
                    let mut l = listed(state, &f.row, now);
                    l.on_care_team = f.on_care_team;
                    l.emergency_until = search
                        .emergency
                        .get(&f.row.id)
                        .map(|t| state.dates.minute(*t));
                    l.open = !is_clinician || f.on_care_team || l.emergency_until.is_some();
                    l.error = asked
                        .row_error
                        .as_ref()
                        .filter(|(id, _)| *id == f.row.id)
                        .map(|(_, e)| e.clone());
                    l
                })
                .collect(),
            search.more,
        ),
        None => (Vec::new(), false),
    };
    let recent = recent
        .iter()
        .map(|r| {
            let mut l = listed(state, &r.row, now);
            l.emergency_until = r.emergency_until.map(|t| state.dates.minute(t));
            // A clinician opens a record only on the care team or with emergency access.
            l.open = !is_clinician
                || r.emergency_until.is_some()
                || team_rows.iter().any(|t| t.id == r.row.id);
            l
        })
        .collect();
    let team = team_rows
        .iter()
        .map(|row| listed(state, row, now))
        .collect();
    let adoption = if is_clinician {
        None
    } else {
        let a = state.app.accounts().adoption(&actor).await?;
        let share = |n: i64| {
            if a.records == 0 {
                0
            } else {
                (n * 100 + a.records / 2) / a.records
            }
        };
        Some(AdoptionWords {
            records: a.records,
            with_account: a.with_account,
            with_account_share: share(a.with_account),
            lately: a.signed_in_lately,
            lately_share: share(a.signed_in_lately),
        })
    };
    let removals = if is_clinician {
        Vec::new()
    } else {
        crate::pages::proxies::removal_lines(state, &actor).await?
    };
    let row_error = asked
        .row_error
        .map(|(id, message)| (id.to_string(), message));
    let status = if row_error.is_some() {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    } else {
        form_status(&asked.errors)
    };
    Ok(render_status(
        status,
        &PatientsPage {
            page: Page::signed_in("Patients", user, Nav::Patients, None),
            errors: asked.errors,
            row_error,
            is_clinician,
            term: asked.term,
            searched,
            found,
            more,
            recent,
            team,
            mrn: asked.mrn,
            reason: asked.reason,
            by_mrn: asked.by_mrn,
            removals,
            adoption,
        },
    ))
}

/// The clinic's adoption figures, as the page writes them (shares in whole per cent of all
/// records).
struct AdoptionWords {
    records: i64,
    with_account: i64,
    with_account_share: i64,
    lately: i64,
    lately_share: i64,
}

/// GET /patients
pub async fn list(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
) -> PageResult {
    patients_page(&state, &user, ctx, Asked::default()).await
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
        Asked {
            term,
            ..Asked::default()
        },
    )
    .await
}

/// The break-glass form: by medical record number, or for a record a search found.
#[derive(Deserialize)]
pub struct BreakGlassForm {
    #[serde(default)]
    mrn: String,
    #[serde(default)]
    patient: String,
    #[serde(default)]
    reason: String,
    /// The search the record was found by (to show its results again on an error).
    #[serde(default)]
    q: String,
}

/// POST /patients/break-glass
pub async fn break_glass(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(form): Form<BreakGlassForm>,
) -> PageResult {
    let picked = if form.patient.is_empty() {
        None
    } else {
        // A record id that is not one is a record that cannot be found.
        Some(
            form.patient
                .parse::<PatientId>()
                .map_err(|_| Error::NotFound)?,
        )
    };
    let target = match picked {
        Some(id) => Emergency::Record(id),
        None => Emergency::Mrn(&form.mrn),
    };
    match state
        .app
        .clinic()
        .break_glass(&user.actor(ctx.clone()), target, &form.reason)
        .await
    {
        Ok((patient, _)) => Ok(Redirect::to(&format!("/patients/{patient}")).into_response()),
        Err(Error::Invalid(errors)) => {
            let asked = match picked {
                Some(id) => Asked {
                    term: form.q.trim().chars().take(100).collect(),
                    reason: form.reason,
                    row_error: errors
                        .iter()
                        .next()
                        .map(|(_, message)| (id, message.clone())),
                    ..Asked::default()
                },
                None => Asked {
                    errors,
                    mrn: form.mrn,
                    reason: form.reason,
                    by_mrn: true,
                    ..Asked::default()
                },
            };
            patients_page(&state, &user, ctx, asked).await
        }
        Err(e) => Err(e.into()),
    }
}
