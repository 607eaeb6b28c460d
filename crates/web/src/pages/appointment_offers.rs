//! Earlier times: joining and leaving the waitlist from an appointment's page, an offer's page,
//! and accepting it.

use crate::AppState;
use crate::error::PageResult;
use crate::layout::{Page, render_status};
use crate::pages::appointments::page_for;
use crate::pages::banner::Banner;
use crate::pages::messages::ids;
use crate::pages::words::basis_words;
use crate::routes::{Access, Route};
use crate::security::Ctx;
use crate::session::SignedIn;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_app::Error;
use portal_app::appointments::NotBooked;
use portal_app::auth::CurrentUser;
use portal_domain::access::Action;
use portal_domain::{AppointmentId, PatientId};
use serde::Deserialize;

/// The waitlist's and offers' routes.
pub const ROUTES: &[Route] = &[
    Route {
        method: "POST",
        path: "/patients/{id}/appointments/{item}/waitlist",
        access: Access::PatientItem(Action::ManageAppointments),
        serve: || post(waitlist),
    },
    Route {
        method: "GET",
        path: "/patients/{id}/appointments/offers/{item}",
        access: Access::PatientItem(Action::ViewAppointments),
        serve: || get(offer),
    },
    Route {
        method: "POST",
        path: "/patients/{id}/appointments/offers/{item}/accept",
        access: Access::PatientItem(Action::ManageAppointments),
        serve: || post(accept),
    },
];

/// The waitlist form: join (with the clinician choice) or leave.
#[derive(Deserialize, Default)]
pub struct WaitlistFields {
    #[serde(default)]
    change: String,
    #[serde(default)]
    any_clinician: String,
}

/// POST /patients/{id}/appointments/{item}/waitlist
pub async fn waitlist(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Path((id, item)): Path<(String, String)>,
    Form(fields): Form<WaitlistFields>,
) -> PageResult {
    let (id, appointment): (PatientId, AppointmentId) = ids(&id, &item)?;
    let actor = user.actor(ctx);
    let appointments = state.app.appointments();
    let word = if fields.change == "leave" {
        appointments.leave_waitlist(&actor, id, appointment).await?;
        "unlisted"
    } else {
        appointments
            .join_waitlist(&actor, id, appointment, fields.any_clinician == "yes")
            .await?;
        "listed"
    };
    Ok(Redirect::to(&format!(
        "/patients/{id}/appointments/{appointment}?{word}=1"
    ))
    .into_response())
}

#[derive(Template)]
#[template(path = "appointment_offer.html")]
struct OfferShown {
    page: Page,
    patient: Banner,
    basis: Option<String>,
    when: String,
    with: String,
    place: String,
    until: String,
    current: String,
    current_href: String,
    accept_action: Option<String>,
    ended: Option<&'static str>,
}

/// GET /patients/{id}/appointments/offers/{item}
pub async fn offer(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Path((id, item)): Path<(String, String)>,
) -> PageResult {
    let (id, offer): (PatientId, portal_domain::OfferId) = ids(&id, &item)?;
    let shown = state
        .app
        .appointments()
        .offer(&user.actor(ctx), id, offer)
        .await?;
    Ok(offer_page(&state, &user, shown, StatusCode::OK))
}

fn offer_page(
    state: &AppState,
    user: &CurrentUser,
    shown: portal_app::appointments::OfferPage,
    status: StatusCode,
) -> Response {
    use portal_domain::appointments::offers::OfferStatus;
    let dates = &state.dates;
    let o = &shown.offer;
    let id = shown.patient.id;
    let ended = match o.status {
        _ if shown.open => None,
        OfferStatus::Accepted => {
            Some("You accepted this offer: your appointment moved to this time.")
        }
        OfferStatus::Taken => Some(
            "Sorry, another patient accepted this time first. Your appointment stays as it was.",
        ),
        OfferStatus::Withdrawn => Some(
            "This offer was withdrawn because your appointment changed. Your appointment stays \
             as it is now.",
        ),
        OfferStatus::Open => Some("This offer has ended. Your appointment stays as it was."),
    };
    render_status(
        status,
        &OfferShown {
            page: page_for("An earlier time", user, id),
            basis: basis_words(&shown.access, &shown.patient),
            patient: Banner::new(&shown.patient, dates, state.app.now()),
            when: dates.appointment(o.start),
            with: o.clinician_name.clone(),
            place: o.location_name.clone(),
            until: dates.minute(o.expires_at),
            current: dates.appointment(shown.appointment.start),
            current_href: format!("/patients/{id}/appointments/{}", shown.appointment.id),
            accept_action: shown
                .open
                .then(|| format!("/patients/{id}/appointments/offers/{}/accept", o.id)),
            ended,
        },
    )
}

/// POST /patients/{id}/appointments/offers/{item}/accept
pub async fn accept(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Path((id, item)): Path<(String, String)>,
) -> PageResult {
    let (id, offer): (PatientId, portal_domain::OfferId) = ids(&id, &item)?;
    let appointments = state.app.appointments();
    match appointments
        .accept_offer(&user.actor(ctx.clone()), id, offer)
        .await
    {
        Ok(moved) => Ok(
            Redirect::to(&format!("/patients/{id}/appointments/{moved}?moved=1")).into_response(),
        ),
        // Taken by someone quicker, or ended: the offer's page says which.
        Err(NotBooked::Taken(_)) | Err(NotBooked::Failed(Error::Conflict(_))) => {
            let shown = appointments.offer(&user.actor(ctx), id, offer).await?;
            Ok(offer_page(&state, &user, shown, StatusCode::CONFLICT))
        }
        Err(NotBooked::Failed(other)) => Err(other.into()),
    }
}
