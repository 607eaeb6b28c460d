//! A record's care team page for the front desk and admins: who is on it, putting an active
//! clinician on it and taking one off.

use crate::AppState;
use crate::error::{IdPath, PageResult};
use crate::layout::{Nav, Page, form_status, render_status};
use crate::pages::banner::Banner;
use crate::pages::words::basis_words;
use crate::routes::{Access, Route};
use crate::security::Ctx;
use crate::session::SignedIn;
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use portal_app::auth::CurrentUser;
use portal_domain::fields::FieldErrors;
use portal_domain::{Action, PatientId};
use serde::Deserialize;

/// The care team page and its form.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/patients/{id}/care-team",
        access: Access::Patient(Action::ManageCareTeam),
        serve: || get(page),
    },
    Route {
        method: "POST",
        path: "/patients/{id}/care-team",
        access: Access::Patient(Action::ManageCareTeam),
        serve: || post(change),
    },
];

#[derive(Template)]
#[template(path = "care_team.html")]
struct CareTeamPage {
    page: Page,
    patient: Banner,
    basis: Option<String>,
    /// On the team: account id, name, whether it may sign in.
    members: Vec<(String, String, bool)>,
    /// Who could join: account id, name.
    candidates: Vec<(String, String)>,
    errors: FieldErrors,
    /// What was just done.
    done: Option<String>,
}

/// What was just done (`?added=` or `?removed=` with the clinician's account id).
#[derive(Deserialize)]
pub struct Done {
    added: Option<String>,
    removed: Option<String>,
}

/// The form: the clinician and whether to put them on or take them off.
#[derive(Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    clinician: String,
    /// "add" or "remove".
    #[serde(default)]
    change: String,
}

async fn care_team_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: portal_domain::audit::RequestContext,
    id: PatientId,
    errors: FieldErrors,
    done: Option<&Done>,
) -> PageResult {
    let view = state.app.clinic().care_team(&user.actor(ctx), id).await?;
    let named = |list: &[portal_app::care_team::Member], id: &Option<String>| {
        id.as_deref().and_then(|id| {
            list.iter()
                .find(|m| m.user.to_string() == id)
                .map(|m| m.name.clone())
        })
    };
    let done = done.and_then(|d| {
        named(&view.members, &d.added)
            .map(|n| format!("{n} is on the care team now and may open this record."))
            .or_else(|| {
                named(&view.candidates, &d.removed).map(|n| {
                    format!("{n} is off the care team: the record no longer opens for them.")
                })
            })
    });
    Ok(render_status(
        form_status(&errors),
        &CareTeamPage {
            page: Page::signed_in("Care team", user, Nav::Patients, Some(id)),
            basis: basis_words(&view.access, &view.patient),
            patient: Banner::new(&view.patient, &state.dates, state.app.now()),
            members: view
                .members
                .iter()
                .map(|m| (m.user.to_string(), m.name.clone(), m.active))
                .collect(),
            candidates: view
                .candidates
                .iter()
                .map(|m| (m.user.to_string(), m.name.clone()))
                .collect(),
            errors,
            done,
        },
    ))
}

/// GET /patients/{id}/care-team
pub async fn page(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
    Query(done): Query<Done>,
) -> PageResult {
    care_team_page(&state, &user, ctx, id, FieldErrors::new(), Some(&done)).await
}

/// POST /patients/{id}/care-team: puts a clinician on the team or takes one off.
pub async fn change(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
    Form(form): Form<ChangeForm>,
) -> PageResult {
    let add = form.change == "add";
    match state
        .app
        .clinic()
        .change_care_team(&user.actor(ctx.clone()), id, &form.clinician, add)
        .await
    {
        Ok(_) => {
            let key = if add { "added" } else { "removed" };
            let to = format!("/patients/{id}/care-team?{key}={}", form.clinician.trim());
            Ok(Redirect::to(&to).into_response())
        }
        Err(portal_app::Error::Invalid(errors)) => {
            care_team_page(&state, &user, ctx, id, errors, None).await
        }
        Err(e) => Err(e.into()),
    }
}
