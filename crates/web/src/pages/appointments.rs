//! Appointment pages for the patient's side (and the clinic booking for a patient): the list,
//! finding an open time, booking, one appointment with its calendar file, moving and
//! cancelling.

use crate::AppState;
use crate::error::{IdPath, PageError, PageResult};
use crate::layout::{Nav, Page, form_status, render, render_status};
use crate::pages::banner::Banner;
use crate::pages::messages::ids;
use crate::pages::words::{Dates, basis_words, plain_name};
use crate::routes::{Access, Route};
use crate::security::Ctx;
use crate::session::SignedIn;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_app::Error;
use portal_app::appointments::{
    Appointment, BookForm, FindQuery, Finder, NotBooked, Opening, Slot,
};
use portal_app::auth::CurrentUser;
use portal_domain::access::Action;
use portal_domain::appointments::Status;
use portal_domain::fields::FieldErrors;
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
        method: "GET",
        path: "/patients/{id}/appointments/{item}/move",
        access: Access::PatientItem(Action::ManageAppointments),
        serve: || get(move_finder),
    },
    Route {
        method: "POST",
        path: "/patients/{id}/appointments/{item}/cancel",
        access: Access::PatientItem(Action::ManageAppointments),
        serve: || post(cancel),
    },
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

/// One offer of an earlier time, as lists show it.
pub struct OfferEntry {
    href: String,
    when: String,
    with: String,
    place: String,
    until: String,
}

fn offer_entry(o: &portal_app::appointments::Offer, dates: &Dates) -> OfferEntry {
    OfferEntry {
        href: format!("/patients/{}/appointments/offers/{}", o.patient, o.id),
        when: dates.appointment(o.start),
        with: o.clinician_name.clone(),
        place: o.location_name.clone(),
        until: dates.minute(o.expires_at),
    }
}

fn page_for(title: &str, user: &CurrentUser, patient: PatientId) -> Page {
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

fn visit_words(a: &Appointment) -> String {
    if a.video {
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
