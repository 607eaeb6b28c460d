//! Appointment pages for the patient's side (and the clinic for a patient): the list, one
//! appointment with its calendar file, its check-in and its earlier-time offers, and
//! cancelling. Finding a time and booking are `appointment_finder`'s; the waitlist and offers
//! `appointment_offers`'.

use crate::AppState;
use crate::error::{IdPath, PageResult};
use crate::layout::{Nav, Page, render};
use crate::pages::banner::Banner;
use crate::pages::messages::ids;
use crate::pages::words::{Dates, basis_words, plain_name};
use crate::routes::{Access, Route};
use crate::security::Ctx;
use crate::session::SignedIn;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use portal_app::appointments::Appointment;
use portal_app::auth::CurrentUser;
use portal_domain::access::Action;
use portal_domain::appointments::Status;
use portal_domain::{AppointmentId, PatientId};
use serde::Deserialize;

/// Appointments' routes on a patient's record.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/patients/{id}/appointments",
        access: Access::Patient(Action::ViewAppointments),
        serve: || get(list),
    },
    Route {
        method: "GET",
        path: "/patients/{id}/appointments/{item}",
        access: Access::PatientItem(Action::ViewAppointments),
        serve: || get(show),
    },
    Route {
        method: "GET",
        path: "/patients/{id}/appointments/{item}/appointment.ics",
        access: Access::PatientItem(Action::ViewAppointments),
        serve: || get(calendar),
    },
    Route {
        method: "POST",
        path: "/patients/{id}/appointments/{item}/cancel",
        access: Access::PatientItem(Action::ManageAppointments),
        serve: || post(cancel),
    },
];

/// One offer of an earlier time, as lists show it.
pub struct OfferEntry {
    href: String,
    when: String,
    with: String,
    place: String,
    until: String,
}

pub(crate) fn offer_entry(o: &portal_app::appointments::Offer, dates: &Dates) -> OfferEntry {
    OfferEntry {
        href: format!("/patients/{}/appointments/offers/{}", o.patient, o.id),
        when: dates.appointment(o.start),
        with: o.clinician_name.clone(),
        place: o.location_name.clone(),
        until: dates.minute(o.expires_at),
    }
}

pub(crate) fn page_for(title: &str, user: &CurrentUser, patient: PatientId) -> Page {
    Page::for_record(title, user, patient, Nav::Appointments, Nav::Patients)
}

/// One appointment in a list.
pub struct Entry {
    href: String,
    when: String,
    what: String,
    with: String,
    place: String,
    status: &'static str,
}

fn status_words(a: &Appointment, now: jiff::Timestamp) -> &'static str {
    match a.status {
        Status::Booked if a.start > now => "Booked",
        Status::Booked => "Past",
        Status::Cancelled => "Cancelled",
        Status::Moved => "Moved to another time",
    }
}

fn entry(a: &Appointment, dates: &Dates, now: jiff::Timestamp) -> Entry {
    Entry {
        href: format!("/patients/{}/appointments/{}", a.patient, a.id),
        when: dates.appointment(a.start),
        what: visit_words(a),
        with: a.clinician_name.clone(),
        place: a.location_name.clone(),
        status: status_words(a, now),
    }
}

/// The kind of visit in words, saying it is by video when its name does not.
pub(crate) fn visit_words(a: &Appointment) -> String {
    if a.video && !a.visit_type_name.to_lowercase().contains("video") {
        format!("{} (video)", a.visit_type_name)
    } else {
        a.visit_type_name.clone()
    }
}

#[derive(Template)]
#[template(path = "appointments.html")]
struct ListPage {
    page: Page,
    patient: Banner,
    basis: Option<String>,
    offers: Vec<OfferEntry>,
    upcoming: Vec<Entry>,
    past: Vec<Entry>,
    new_href: Option<String>,
    phone: String,
}

/// GET /patients/{id}/appointments
pub async fn list(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
) -> PageResult {
    let list = state.app.appointments().list(&user.actor(ctx), id).await?;
    let now = list.now;
    Ok(render(&ListPage {
        page: page_for("Appointments", &user, id),
        basis: basis_words(&list.access, &list.patient),
        patient: Banner::new(&list.patient, &state.dates, now),
        offers: list
            .offers
            .iter()
            .map(|o| offer_entry(o, &state.dates))
            .collect(),
        upcoming: list
            .upcoming
            .iter()
            .map(|a| entry(a, &state.dates, now))
            .collect(),
        past: list
            .past
            .iter()
            .map(|a| entry(a, &state.dates, now))
            .collect(),
        new_href: list
            .may_manage
            .then(|| format!("/patients/{id}/appointments/new")),
        phone: list.settings.phone,
    }))
}

#[derive(Template)]
#[template(path = "appointment.html")]
struct ShowPage {
    page: Page,
    patient: Banner,
    basis: Option<String>,
    notice: Option<&'static str>,
    when: String,
    length: String,
    what: String,
    with: String,
    place: String,
    address: String,
    reason: String,
    status: &'static str,
    open: bool,
    calendar_href: String,
    move_href: Option<String>,
    cancel_action: Option<String>,
    call: Option<String>,
    moved_to: Option<String>,
    moved_from: Option<String>,
    list_href: String,
    waitlist_action: Option<String>,
    waitlisted: Option<String>,
    offers: Vec<OfferEntry>,
    check_in_href: Option<String>,
    checkin: Option<CheckinSummary>,
}

/// A visit's check-in as the page shows it to this viewer.
pub struct CheckinSummary {
    at: String,
    contact: Vec<(&'static str, String)>,
    contact_changed: bool,
    insurance: String,
    insurance_changed: bool,
    photos: Vec<(String, String)>,
    review: Vec<(String, &'static str)>,
    other: Vec<(&'static str, String)>,
    clinical_changed: bool,
    answers: Vec<(String, String)>,
}

fn checkin_summary(
    c: &portal_app::appointments::StoredCheckin,
    patient: PatientId,
    dates: &Dates,
) -> CheckinSummary {
    use portal_domain::appointments::checkin::Answer;
    let words = |a: Answer, medication: bool| match (a, medication) {
        (Answer::Still, true) => "still taking",
        (Answer::Still, false) => "still allergic",
        (Answer::NoLonger, true) => "stopped",
        (Answer::NoLonger, false) => "no longer allergic",
        (Answer::NotSure, _) => "not sure",
    };
    let contact = [
        ("Phone", &c.contact.phone),
        ("E-mail", &c.contact.email),
        ("Street", &c.contact.street),
        ("City", &c.contact.city),
        ("State", &c.contact.region),
        ("ZIP code", &c.contact.postal_code),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| (k, v.clone()))
    .collect();
    let insurance = if c.insurance.none {
        "No insurance (pays themselves)".to_string()
    } else {
        format!(
            "{}, member id {}{}",
            c.insurance.payer,
            c.insurance.member_id,
            if c.insurance.group_number.is_empty() {
                String::new()
            } else {
                format!(", group {}", c.insurance.group_number)
            }
        )
    };
    let review = c
        .review
        .medications
        .iter()
        .map(|r| (plain_name(&r.label), words(r.answer, true)))
        .chain(
            c.review
                .allergies
                .iter()
                .map(|r| (plain_name(&r.label), words(r.answer, false))),
        )
        .collect();
    let other = [
        ("Other medicines", &c.review.other_medications),
        ("Allergies not on the list", &c.review.other_allergies),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| (k, v.clone()))
    .collect();
    CheckinSummary {
        at: dates.minute(c.submitted_at),
        contact,
        contact_changed: c.contact_changed,
        insurance,
        insurance_changed: c.insurance_changed,
        photos: c
            .photos
            .iter()
            .map(|(id, side, _)| {
                (
                    format!("/patients/{patient}/checkin-photos/{id}"),
                    format!("Card photo ({side})"),
                )
            })
            .collect(),
        review,
        other,
        clinical_changed: c.clinical_changed,
        answers: portal_app::appointments::questions_and_answers(&c.questionnaire_response),
    }
}

/// Which change just happened, for the page's confirmation.
#[derive(Deserialize, Default)]
pub struct Done {
    booked: Option<String>,
    moved: Option<String>,
    cancelled: Option<String>,
    listed: Option<String>,
    unlisted: Option<String>,
    checked_in: Option<String>,
}

/// GET /patients/{id}/appointments/{item}
pub async fn show(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Path((id, item)): Path<(String, String)>,
    Query(done): Query<Done>,
) -> PageResult {
    let (id, appointment): (PatientId, AppointmentId) = ids(&id, &item)?;
    let shown = state
        .app
        .appointments()
        .show(&user.actor(ctx), id, appointment)
        .await?;
    let a = &shown.appointment;
    let now = state.app.now();
    let base = format!("/patients/{id}/appointments/{}", a.id);
    let notice = if done.checked_in.is_some() {
        Some("You are checked in. Thank you: the clinic has what it needs before your visit.")
    } else if done.listed.is_some() {
        Some("You are on the list for earlier times. We will e-mail you when one frees up.")
    } else if done.unlisted.is_some() {
        Some("You will not be offered earlier times for this appointment.")
    } else if done.cancelled.is_some() {
        Some("The appointment is cancelled. We sent an e-mail to confirm it.")
    } else if done.moved.is_some() {
        Some(
            "Your appointment has moved to the new time. We sent an e-mail with the details and a calendar file.",
        )
    } else if done.booked.is_some() {
        Some("Your appointment is booked. We sent an e-mail with the details and a calendar file.")
    } else {
        None
    };
    let call = shown.inside_cut_off.then(|| {
        let number = if shown.settings.phone.is_empty() {
            "the clinic".to_string()
        } else {
            format!("the clinic at {}", shown.settings.phone)
        };
        format!(
            "This appointment is less than {} hours away, so it can no longer be changed online. \
             To move or cancel it, please call {number}.",
            shown.settings.cancel_hours
        )
    });
    let minutes = (a.end - a.start).as_mins();
    Ok(render(&ShowPage {
        page: page_for("Appointment", &user, id),
        basis: basis_words(&shown.access, &shown.patient),
        patient: Banner::new(&shown.patient, &state.dates, now),
        notice,
        when: state.dates.appointment(a.start),
        length: format!("{minutes} minutes"),
        what: visit_words(a),
        with: a.clinician_name.clone(),
        place: a.location_name.clone(),
        address: a.location_address.clone(),
        reason: a.reason.as_str().to_string(),
        status: status_words(a, now),
        open: a.status.is_open() && a.start > now,
        calendar_href: format!("{base}/appointment.ics"),
        move_href: shown.may_change.then(|| format!("{base}/move")),
        cancel_action: shown.may_change.then(|| format!("{base}/cancel")),
        call,
        moved_to: a
            .moved_to
            .map(|to| format!("/patients/{id}/appointments/{to}")),
        moved_from: a
            .moved_from
            .map(|from| format!("/patients/{id}/appointments/{from}")),
        list_href: format!("/patients/{id}/appointments"),
        waitlist_action: (shown.may_change || shown.inside_cut_off)
            .then(|| format!("{base}/waitlist")),
        waitlisted: shown.waitlisted.map(|any| {
            if any {
                "with any clinician".to_string()
            } else {
                format!("only with {}", a.clinician_name)
            }
        }),
        offers: shown
            .offers
            .iter()
            .map(|o| offer_entry(o, &state.dates))
            .collect(),
        check_in_href: shown.check_in_open.then(|| format!("{base}/check-in")),
        checkin: shown
            .checkin
            .as_ref()
            .map(|c| checkin_summary(c, id, &state.dates)),
    }))
}

/// GET /patients/{id}/appointments/{item}/appointment.ics
pub async fn calendar(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Path((id, item)): Path<(String, String)>,
) -> PageResult {
    let (id, appointment): (PatientId, AppointmentId) = ids(&id, &item)?;
    let ics = state
        .app
        .appointments()
        .calendar(&user.actor(ctx), id, appointment)
        .await?;
    let mut response = ics.into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/calendar; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"appointment.ics\""),
    );
    Ok(response)
}

/// POST /patients/{id}/appointments/{item}/cancel
pub async fn cancel(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Path((id, item)): Path<(String, String)>,
) -> PageResult {
    let (id, appointment): (PatientId, AppointmentId) = ids(&id, &item)?;
    let actor = user.actor(ctx);
    state
        .app
        .appointments()
        .cancel(&actor, id, appointment)
        .await?;
    Ok(Redirect::to(&format!(
        "/patients/{id}/appointments/{appointment}?cancelled=1"
    ))
    .into_response())
}
