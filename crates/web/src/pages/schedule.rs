//! The clinic's schedule page: a day or a week, for one clinician or all, with who is booked,
//! the hours kept and the closures.

use crate::AppState;
use crate::error::PageResult;
use crate::layout::{Nav, Page, render};
use crate::routes::{Access, Route};
use crate::security::Ctx;
use crate::session::SignedIn;
use askama::Template;
use axum::extract::{Query, State};
use axum::routing::get;
use portal_app::appointments::Span;
use serde::Deserialize;

/// The schedule's route.
pub const ROUTES: &[Route] = &[Route {
    method: "GET",
    path: "/schedule",
    access: Access::Clinic,
    serve: || get(schedule),
}];

/// What the schedule was asked for (dates and ids, no health data).
#[derive(Deserialize, Default)]
pub struct Params {
    #[serde(default)]
    date: String,
    #[serde(default)]
    span: String,
    #[serde(default)]
    clinician: String,
}

/// One booked visit as a row.
pub struct Row {
    time: String,
    patient: String,
    href: String,
    what: String,
    with: String,
    place: String,
    checked_in: String,
}

/// One day of the page.
pub struct Day {
    heading: String,
    hours: Vec<String>,
    closures: Vec<String>,
    rows: Vec<Row>,
}

/// A choice in a select.
pub struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "schedule.html")]
struct SchedulePage {
    page: Page,
    days: Vec<Day>,
    clinicians: Vec<Choice>,
    date: String,
    week: bool,
    previous: String,
    next: String,
    other_span: (String, &'static str),
    today: String,
}

/// GET /schedule
pub async fn schedule(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Query(params): Query<Params>,
) -> PageResult {
    let span = Span::parse(params.span.trim());
    let clinician = params.clinician.trim().parse().ok();
    let date = params.date.trim().parse().ok();
    let view = state
        .app
        .appointments()
        .schedule(&user.actor(ctx), clinician, date, span)
        .await?;
    let dates = &state.dates;
    // The front desk is told of changed contact details and insurance, a clinician of
    // clinical changes.
    let clinician = user.role == portal_domain::Role::Clinician;
    let days = view
        .days
        .iter()
        .map(|d| Day {
            heading: dates.weekday_day(d.date),
            hours: d
                .hours
                .iter()
                .map(|(who, place, from, to)| {
                    format!(
                        "{who}: {} to {} at {place}",
                        dates.time_of_day(*from),
                        dates.time_of_day(*to)
                    )
                })
                .collect(),
            closures: d
                .closures
                .iter()
                .map(|(c, who)| {
                    format!(
                        "{who}: {} from {} to {}",
                        c.reason,
                        dates.minute(c.starts),
                        dates.minute(c.ends)
                    )
                })
                .collect(),
            rows: d
                .booked
                .iter()
                .map(|b| (&b.appointment, &b.patient_name, b.checked_in))
                .map(|(a, name, checked_in)| Row {
                    checked_in: match (checked_in, clinician) {
                        (None, _) => "Not yet".into(),
                        (Some((_, true)), true) => "Yes: clinical changes reported".into(),
                        (Some((true, _)), false) => "Yes: contact or insurance changed".into(),
                        (Some(_), _) => "Yes".into(),
                    },
                    time: format!("{} to {}", dates.clock(a.start), dates.clock(a.end)),
                    patient: name.clone(),
                    href: format!("/patients/{}/appointments/{}", a.patient, a.id),
                    what: crate::pages::appointments::visit_words(a),
                    with: a.clinician_name.clone(),
                    place: a.location_name.clone(),
                })
                .collect(),
        })
        .collect();
    let step = match view.span {
        Span::Day => 1,
        Span::Week => 7,
    };
    let link = |date: jiff::civil::Date, span: Span| {
        let mut href = format!("/schedule?span={}&date={date}", span.as_str());
        if let Some(c) = view.clinician {
            href.push_str(&format!("&clinician={c}"));
        }
        href
    };
    let shift = |days: i64| {
        view.date
            .checked_add(jiff::Span::new().days(days))
            .unwrap_or(view.date)
    };
    let other = match view.span {
        Span::Day => (link(view.date, Span::Week), "Show the week"),
        Span::Week => (link(view.date, Span::Day), "Show one day"),
    };
    Ok(render(&SchedulePage {
        page: Page::signed_in("Schedule", &user, Nav::Schedule, None),
        days,
        clinicians: view
            .clinicians
            .iter()
            .map(|c| Choice {
                value: c.id.to_string(),
                label: c.name.clone(),
                selected: view.clinician == Some(c.id),
            })
            .collect(),
        date: view.date.to_string(),
        week: view.span == Span::Week,
        previous: link(shift(-step), view.span),
        next: link(shift(step), view.span),
        other_span: other,
        today: link(dates.civil_today(state.app.now()), view.span),
    }))
}
