//! Finding an open time and booking it, or moving a visit to another: the finder (kinds of
//! visit, clinician and location, the days' open times) and the booking form, which shows the
//! finder again with the nearest free times when someone else was quicker.

use crate::AppState;
use crate::error::{IdPath, PageError, PageResult};
use crate::layout::{Page, form_status, render_status};
use crate::pages::appointments::page_for;
use crate::pages::banner::Banner;
use crate::pages::messages::ids;
use crate::pages::words::{Dates, basis_words};
use crate::routes::{Access, Route};
use crate::security::Ctx;
use crate::session::SignedIn;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_app::Error;
use portal_app::appointments::{BookForm, FindQuery, Finder, NotBooked, Opening, Slot};
use portal_app::auth::CurrentUser;
use portal_domain::access::Action;
use portal_domain::fields::FieldErrors;
use portal_domain::{AppointmentId, PatientId};
use serde::Deserialize;

/// The finder's and the booking form's routes.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/patients/{id}/appointments/new",
        access: Access::Patient(Action::ManageAppointments),
        serve: || get(find),
    },
    Route {
        method: "POST",
        path: "/patients/{id}/appointments",
        access: Access::Patient(Action::ManageAppointments),
        serve: || post(book),
    },
    Route {
        method: "GET",
        path: "/patients/{id}/appointments/{item}/move",
        access: Access::PatientItem(Action::ManageAppointments),
        serve: || get(move_finder),
    },
];

/// The finder's query: all optional, none health data.
#[derive(Deserialize, Default)]
pub struct FindParams {
    #[serde(default)]
    visit_type: String,
    #[serde(default)]
    clinician: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    from: String,
}

fn pick<T: std::str::FromStr>(raw: &str) -> Option<T> {
    raw.trim().parse().ok()
}

impl FindParams {
    fn query(&self) -> FindQuery {
        FindQuery {
            visit_type: pick(&self.visit_type),
            clinician: pick(&self.clinician),
            location: pick(&self.location),
            from: self.from.trim().parse().ok(),
        }
    }
}

/// A choice in a select.
pub struct Choice {
    value: String,
    label: String,
    selected: bool,
}

/// One day's open times.
pub struct Day {
    heading: String,
    times: Vec<Time>,
    open: bool,
}

/// One open time as a radio choice.
pub struct Time {
    value: String,
    id: String,
    label: String,
    detail: String,
    checked: bool,
}

#[derive(Template)]
#[template(path = "appointment_find.html")]
struct FindPage {
    page: Page,
    patient: Banner,
    basis: Option<String>,
    errors: FieldErrors,
    heading: String,
    find_action: String,
    book_action: String,
    visit_types: Vec<Choice>,
    clinicians: Vec<Choice>,
    locations: Vec<Choice>,
    chosen: Option<(String, String)>,
    refused: Option<String>,
    not_offered: Vec<String>,
    days: Vec<Day>,
    earlier: Option<String>,
    later: Option<String>,
    book_key: String,
    reason: String,
    moving: Option<(String, String)>,
    taken: bool,
    crowded: bool,
    zone_note: String,
    phone: String,
    by_clinic: bool,
}

fn choices<T: PartialEq>(
    items: impl Iterator<Item = (T, String, String)>,
    selected: Option<T>,
) -> Vec<Choice> {
    items
        .map(|(id, value, label)| Choice {
            selected: selected.as_ref() == Some(&id),
            value,
            label,
        })
        .collect()
}

fn days_of(openings: &[Opening], dates: &Dates, checked: &str, many_places: bool) -> Vec<Day> {
    let mut days: Vec<Day> = Vec::new();
    for (n, o) in openings.iter().enumerate() {
        let heading = dates.weekday_of(o.time.start);
        let slot = o.slot();
        let time = Time {
            checked: slot == checked,
            id: format!("slot-{n}"),
            label: dates.clock(o.time.start),
            detail: if many_places {
                format!("{}, {}", o.clinician_name, o.location_name)
            } else {
                o.clinician_name.clone()
            },
            value: slot,
        };
        match days.last_mut() {
            Some(day) if day.heading == heading => {
                day.open |= time.checked;
                day.times.push(time)
            }
            _ => days.push(Day {
                heading,
                open: time.checked,
                times: vec![time],
            }),
        }
    }
    // The first day shows its times; the others open with a tap (no script needed). A day
    // holding the chosen time, and a short list (the nearest free times), show theirs too.
    let few = openings.len() <= 12;
    for (n, day) in days.iter_mut().enumerate() {
        day.open |= n == 0 || few;
    }
    days
}

/// What a finder page shows besides the finder itself.
struct Shown {
    errors: FieldErrors,
    reason: String,
    slot: String,
    taken: Option<Vec<Opening>>,
}

fn find_page(state: &AppState, user: &CurrentUser, finder: Finder, shown: Shown) -> Response {
    let id = finder.patient.id;
    let dates = &state.dates;
    let query = &finder.query;
    let visit_types = choices(
        finder
            .visit_types
            .iter()
            .filter(|o| o.bookable.is_ok())
            .map(|o| {
                let v = &o.visit_type;
                let label = format!(
                    "{} ({} minutes{})",
                    v.name,
                    v.minutes,
                    if v.video { ", by video" } else { "" }
                );
                (v.id, v.id.to_string(), label)
            }),
        query.visit_type,
    );
    let not_offered = finder
        .visit_types
        .iter()
        .filter(|o| o.bookable.is_err())
        .map(|o| o.visit_type.name.clone())
        .collect();
    let clinicians = choices(
        finder
            .clinicians
            .iter()
            .map(|c| (c.id, c.id.to_string(), c.name.clone())),
        query.clinician,
    );
    let locations = choices(
        finder
            .locations
            .iter()
            .map(|l| (l.id, l.id.to_string(), l.name.clone())),
        query.location,
    );
    let link_from = |d: jiff::civil::Date| {
        let mut href = format!("/patients/{id}/appointments/");
        match &finder.moving {
            Some(m) => href.push_str(&format!("{}/move?", m.id)),
            None => href.push_str("new?"),
        }
        if let Some(v) = query.visit_type {
            href.push_str(&format!("visit_type={v}&"));
        }
        if let Some(c) = query.clinician {
            href.push_str(&format!("clinician={c}&"));
        }
        if let Some(l) = query.location {
            href.push_str(&format!("location={l}&"));
        }
        href.push_str(&format!("from={d}"));
        href
    };
    let taken = shown.taken.is_some();
    let openings = shown.taken.as_deref().unwrap_or(&finder.openings);
    let many_places = finder.locations.len() > 1;
    let status = if taken {
        StatusCode::CONFLICT
    } else {
        form_status(&shown.errors)
    };
    let title = if finder.moving.is_some() {
        "Move an appointment"
    } else {
        "Book an appointment"
    };
    render_status(
        status,
        &FindPage {
            page: page_for(title, user, id),
            basis: basis_words(&finder.access, &finder.patient),
            patient: Banner::new(&finder.patient, dates, state.app.now()),
            errors: shown.errors,
            heading: title.into(),
            find_action: match &finder.moving {
                Some(m) => format!("/patients/{id}/appointments/{}/move", m.id),
                None => format!("/patients/{id}/appointments/new"),
            },
            book_action: format!("/patients/{id}/appointments"),
            visit_types,
            clinicians,
            locations,
            chosen: finder
                .chosen
                .as_ref()
                .map(|v| (v.id.to_string(), v.name.clone())),
            refused: finder.refused.map(|r| r.message().to_string()),
            not_offered,
            days: days_of(openings, dates, &shown.slot, many_places),
            earlier: if taken {
                None
            } else {
                finder.earlier.map(link_from)
            },
            later: if taken {
                None
            } else {
                finder.later.map(link_from)
            },
            book_key: finder.book_key,
            reason: shown.reason,
            moving: finder
                .moving
                .as_ref()
                .map(|m| (m.id.to_string(), dates.appointment(m.start))),
            taken,
            crowded: finder.crowded,
            zone_note: format!(
                "Times are the clinic's local time ({}).",
                finder.settings.local(state.app.now()).strftime("%Z")
            ),
            phone: finder.settings.phone.clone(),
            by_clinic: finder.by_clinic,
        },
    )
}

fn fresh() -> Shown {
    Shown {
        errors: FieldErrors::new(),
        reason: String::new(),
        slot: String::new(),
        taken: None,
    }
}

/// GET /patients/{id}/appointments/new
pub async fn find(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
    Query(params): Query<FindParams>,
) -> PageResult {
    let finder = state
        .app
        .appointments()
        .find(&user.actor(ctx), id, params.query(), None)
        .await?;
    Ok(find_page(&state, &user, finder, fresh()))
}

/// GET /patients/{id}/appointments/{item}/move
pub async fn move_finder(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Path((id, item)): Path<(String, String)>,
    Query(params): Query<FindParams>,
) -> PageResult {
    let (id, appointment): (PatientId, AppointmentId) = ids(&id, &item)?;
    let finder = state
        .app
        .appointments()
        .find(&user.actor(ctx), id, params.query(), Some(appointment))
        .await?;
    Ok(find_page(&state, &user, finder, fresh()))
}

/// The booking form.
#[derive(Deserialize, Default)]
pub struct BookFields {
    #[serde(default)]
    visit_type: String,
    #[serde(default)]
    slot: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    book_key: String,
    #[serde(default)]
    moving: String,
}

/// POST /patients/{id}/appointments: books the chosen time (or moves an appointment to it).
pub async fn book(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
    Form(fields): Form<BookFields>,
) -> PageResult {
    let moving = match fields.moving.trim() {
        "" => None,
        raw => Some(raw.parse().map_err(|_| PageError(Error::NotFound))?),
    };
    let form = BookForm {
        visit_type: fields.visit_type.clone(),
        slot: fields.slot.clone(),
        reason: fields.reason.clone(),
        book_key: fields.book_key.clone(),
        moving,
        offer: None,
    };
    let appointments = state.app.appointments();
    let outcome = appointments.book(&user.actor(ctx.clone()), id, &form).await;
    let (errors, taken) = match outcome {
        Ok(booked) => {
            let word = if moving.is_some() { "moved" } else { "booked" };
            return Ok(
                Redirect::to(&format!("/patients/{id}/appointments/{booked}?{word}=1"))
                    .into_response(),
            );
        }
        Err(NotBooked::Taken(nearest)) => (
            FieldErrors::single(
                "slot",
                "Sorry, someone booked that time a moment ago. Choose one of the nearest free \
                 times below, or look for another.",
            ),
            Some(nearest),
        ),
        Err(NotBooked::Failed(Error::Invalid(errors))) => (errors, None),
        Err(NotBooked::Failed(Error::Conflict(message))) => {
            (FieldErrors::single("slot", message), None)
        }
        Err(NotBooked::Failed(other)) => return Err(other.into()),
    };
    // Show the finder again with what was typed (and the nearest free times, if taken).
    // From the day of the chosen time, so the page shows it again (chosen) with its days.
    let query = FindQuery {
        visit_type: fields.visit_type.trim().parse().ok(),
        from: Slot::parse(&fields.slot)
            .ok()
            .map(|slot| state.dates.civil_today(slot.start)),
        ..FindQuery::default()
    };
    let finder = appointments
        .find(&user.actor(ctx), id, query, moving)
        .await?;
    Ok(find_page(
        &state,
        &user,
        finder,
        Shown {
            errors,
            reason: fields.reason,
            slot: if taken.is_some() {
                String::new()
            } else {
                fields.slot
            },
            taken,
        },
    ))
}
