//! The administrator's schedules page: appointment settings, locations, kinds of visit,
//! clinicians' weekly hours and closures. Each form posts to its own path; a refused form shows
//! the page again with the errors and what was typed.

use crate::AppState;
use crate::error::{PageError, PageResult};
use crate::layout::{Nav, Page, form_status, render_status};
use crate::routes::{Access, Route};
use crate::security::Ctx;
use crate::session::SignedIn;
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use portal_app::Error;
use portal_app::auth::CurrentUser;
use portal_domain::appointments::schedule::weekday_code;
use portal_domain::appointments::{Audience, VisitTypeForm};
use portal_domain::audit::RequestContext;
use portal_domain::fields::FieldErrors;
use serde::Deserialize;

/// The schedules page's routes.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/admin/schedules",
        access: Access::Clinic,
        serve: || get(show),
    },
    Route {
        method: "POST",
        path: "/admin/schedules/settings",
        access: Access::Clinic,
        serve: || post(settings),
    },
    Route {
        method: "POST",
        path: "/admin/schedules/locations",
        access: Access::Clinic,
        serve: || post(location),
    },
    Route {
        method: "POST",
        path: "/admin/schedules/visit-types",
        access: Access::Clinic,
        serve: || post(visit_type),
    },
    Route {
        method: "POST",
        path: "/admin/schedules/visit-types/offered",
        access: Access::Clinic,
        serve: || post(offered),
    },
    Route {
        method: "POST",
        path: "/admin/schedules/hours",
        access: Access::Clinic,
        serve: || post(hours),
    },
    Route {
        method: "POST",
        path: "/admin/schedules/hours/remove",
        access: Access::Clinic,
        serve: || post(remove_hours),
    },
    Route {
        method: "POST",
        path: "/admin/schedules/closures",
        access: Access::Clinic,
        serve: || post(closure),
    },
    Route {
        method: "POST",
        path: "/admin/schedules/closures/remove",
        access: Access::Clinic,
        serve: || post(remove_closure),
    },
];

/// A posted form as its name-value pairs (check boxes repeat a name).
type Pairs = Vec<(String, String)>;

/// What was typed into the page's forms, to show again after a refusal.
#[derive(Default)]
pub struct Typed(Pairs);

impl Typed {
    fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
    fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
    fn has(&self, name: &str, value: &str) -> bool {
        self.0.iter().any(|(n, v)| n == name && v == value)
    }
}

/// A row of the visit-type table.
pub struct TypeRow {
    id: String,
    name: String,
    minutes: i64,
    video: bool,
    who: &'static str,
    ages: String,
    notice: String,
    horizon: i64,
    offered: bool,
}

/// A row of the hours table.
pub struct HoursRow {
    id: String,
    who: String,
    day: String,
    time: String,
    place: String,
    types: String,
    dates: String,
}

/// A row of the closures list.
pub struct ClosureRow {
    id: String,
    text: String,
}

/// A choice in a select or a set of boxes.
pub struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "admin_schedules.html")]
struct SchedulesPage {
    page: Page,
    errors: FieldErrors,
    notice: Option<&'static str>,
    typed: Typed,
    cancel_hours: String,
    phone: String,
    reminder_hours: String,
    offer_hours: String,
    zone: String,
    locations: Vec<(String, String)>,
    types: Vec<TypeRow>,
    hours: Vec<HoursRow>,
    closures: Vec<ClosureRow>,
    clinicians: Vec<Choice>,
    location_choices: Vec<Choice>,
    type_choices: Vec<Choice>,
    audiences: Vec<Choice>,
    weekdays: Vec<Choice>,
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    ctx: RequestContext,
    errors: FieldErrors,
    typed: Typed,
    notice: Option<&'static str>,
) -> PageResult {
    let setup = state.app.appointments().setup(&user.actor(ctx)).await?;
    let dates = &state.dates;
    let name_of = |id: portal_domain::UserId| {
        setup
            .clinicians
            .iter()
            .find(|(c, _)| *c == id)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| "A former clinician".into())
    };
    let types = setup
        .visit_types
        .iter()
        .map(|v| TypeRow {
            id: v.id.to_string(),
            name: v.name.clone(),
            minutes: v.minutes,
            video: v.video,
            who: v.audience.label(),
            ages: match (v.min_age, v.max_age) {
                (None, None) => "Any".into(),
                (Some(lo), None) => format!("{lo} and over"),
                (None, Some(hi)) => format!("Up to {hi}"),
                (Some(lo), Some(hi)) => format!("{lo} to {hi}"),
            },
            notice: format!("{} h", v.notice_minutes / 60),
            horizon: v.horizon_days,
            offered: v.active,
        })
        .collect();
    let type_name = |id: &portal_domain::VisitTypeId| {
        setup
            .visit_types
            .iter()
            .find(|v| v.id == *id)
            .map(|v| v.name.clone())
            .unwrap_or_default()
    };
    let hours = setup
        .hours
        .iter()
        .map(|h| HoursRow {
            id: h.id.to_string(),
            who: name_of(h.clinician),
            day: format!("{:?}", h.weekday),
            time: format!(
                "{} to {}",
                dates.time_of_day(h.start),
                dates.time_of_day(h.end)
            ),
            place: setup
                .locations
                .iter()
                .find(|l| l.id == h.location)
                .map(|l| l.name.clone())
                .unwrap_or_default(),
            types: if h.visit_types.is_empty() {
                "Every kind".into()
            } else {
                h.visit_types
                    .iter()
                    .map(type_name)
                    .collect::<Vec<_>>()
                    .join(", ")
            },
            dates: match (h.from, h.until) {
                (None, None) => "Always".into(),
                (Some(f), None) => format!("From {}", dates.civil_day(f)),
                (None, Some(u)) => format!("Until {}", dates.civil_day(u)),
                (Some(f), Some(u)) => {
                    format!("{} to {}", dates.civil_day(f), dates.civil_day(u))
                }
            },
        })
        .collect();
    let closures = setup
        .closures
        .iter()
        .map(|c| ClosureRow {
            id: c.id.to_string(),
            text: format!(
                "{}: {} from {} to {}",
                c.clinician
                    .map(name_of)
                    .unwrap_or_else(|| "Whole clinic".into()),
                c.reason,
                dates.minute(c.starts),
                dates.minute(c.ends)
            ),
        })
        .collect();
    let clinicians = setup
        .clinicians
        .iter()
        .map(|(id, name)| Choice {
            selected: typed.get("clinician") == id.to_string(),
            value: id.to_string(),
            label: name.clone(),
        })
        .collect();
    let location_choices = setup
        .locations
        .iter()
        .map(|l| Choice {
            selected: typed.get("location") == l.id.to_string(),
            value: l.id.to_string(),
            label: l.name.clone(),
        })
        .collect();
    let type_choices = setup
        .visit_types
        .iter()
        .filter(|v| v.active)
        .map(|v| Choice {
            selected: typed.has("visit_types", &v.id.to_string()),
            value: v.id.to_string(),
            label: v.name.clone(),
        })
        .collect();
    let audiences = Audience::ALL
        .iter()
        .map(|a| Choice {
            selected: typed.get("audience") == a.as_str(),
            value: a.as_str().into(),
            label: a.label().into(),
        })
        .collect();
    let weekdays = [
        jiff::civil::Weekday::Monday,
        jiff::civil::Weekday::Tuesday,
        jiff::civil::Weekday::Wednesday,
        jiff::civil::Weekday::Thursday,
        jiff::civil::Weekday::Friday,
        jiff::civil::Weekday::Saturday,
        jiff::civil::Weekday::Sunday,
    ]
    .iter()
    .map(|d| Choice {
        selected: typed.has("weekdays", weekday_code(*d)),
        value: weekday_code(*d).into(),
        label: format!("{d:?}"),
    })
    .collect();
    let status = form_status(&errors);
    Ok(render_status(
        status,
        &SchedulesPage {
            page: Page::signed_in("Schedules", user, Nav::Schedules, None),
            errors,
            notice,
            cancel_hours: setup.settings.cancel_hours.to_string(),
            phone: setup.settings.phone.clone(),
            reminder_hours: setup
                .settings
                .reminder_hours
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            offer_hours: setup.settings.offer_hours.to_string(),
            zone: setup
                .settings
                .zone
                .iana_name()
                .unwrap_or("the server's own zone")
                .to_string(),
            locations: setup
                .locations
                .iter()
                .map(|l| (l.name.clone(), l.address.clone()))
                .collect(),
            typed,
            types,
            hours,
            closures,
            clinicians,
            location_choices,
            type_choices,
            audiences,
            weekdays,
        },
    ))
}

/// Whether the page follows a saved change.
#[derive(Deserialize, Default)]
pub struct Saved {
    saved: Option<String>,
}

/// GET /admin/schedules
pub async fn show(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Query(saved): Query<Saved>,
) -> PageResult {
    let notice = saved.saved.is_some().then_some("Saved.");
    page(
        &state,
        &user,
        ctx,
        FieldErrors::new(),
        Typed::default(),
        notice,
    )
    .await
}

/// Gives a form's errors the names of its own fields (forms on one page share words such as
/// "from").
fn renamed(error: Error, names: &[(&str, &'static str)]) -> Error {
    match error {
        Error::Invalid(errors) => {
            let mut out = FieldErrors::new();
            for (field, message) in errors.iter() {
                let name = names
                    .iter()
                    .find(|(from, _)| from == field)
                    .map(|(_, to)| *to)
                    .unwrap_or(field);
                out.add(name, message.clone());
            }
            Error::Invalid(out)
        }
        other => other,
    }
}

/// Runs one change; on success back to the page with `done`, on a refused form the page again
/// with its errors and what was typed.
async fn change<F, Fut, T>(
    state: AppState,
    user: CurrentUser,
    ctx: RequestContext,
    pairs: Pairs,
    run: F,
) -> PageResult
where
    F: FnOnce(portal_app::Actor, Typed) -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let typed = Typed(pairs.clone());
    match run(user.actor(ctx.clone()), typed).await {
        Ok(_) => Ok(Redirect::to("/admin/schedules?saved=1").into_response()),
        Err(Error::Invalid(errors)) => page(&state, &user, ctx, errors, Typed(pairs), None).await,
        Err(other) => Err(PageError(other)),
    }
}

/// POST /admin/schedules/settings
pub async fn settings(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(pairs): Form<Pairs>,
) -> PageResult {
    let app = state.app.clone();
    change(state, user, ctx, pairs, |actor, t| async move {
        let form = portal_app::appointments::SettingsForm {
            cancel_hours: t.get("cancel_hours").into(),
            phone: t.get("phone").into(),
            reminder_hours: t.get("reminder_hours").into(),
            offer_hours: t.get("offer_hours").into(),
        };
        app.appointments().save_settings(&actor, &form).await
    })
    .await
}

/// POST /admin/schedules/locations
pub async fn location(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(pairs): Form<Pairs>,
) -> PageResult {
    let app = state.app.clone();
    change(state, user, ctx, pairs, |actor, t| async move {
        app.appointments()
            .add_location(&actor, t.get("name"), t.get("address"))
            .await
    })
    .await
}

/// POST /admin/schedules/visit-types
pub async fn visit_type(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(pairs): Form<Pairs>,
) -> PageResult {
    let app = state.app.clone();
    change(state, user, ctx, pairs, |actor, t| async move {
        let form = VisitTypeForm {
            name: t.get("type_name").into(),
            minutes: t.get("minutes").into(),
            video: t.get("video") == "on",
            audience: t.get("audience").into(),
            min_age: t.get("min_age").into(),
            max_age: t.get("max_age").into(),
            notice_hours: t.get("notice_hours").into(),
            horizon_days: t.get("horizon_days").into(),
            questions: t.get("questions").into(),
        };
        app.appointments()
            .add_visit_type(&actor, &form)
            .await
            .map_err(|e| renamed(e, &[("name", "type_name")]))
    })
    .await
}

/// POST /admin/schedules/visit-types/offered
pub async fn offered(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(pairs): Form<Pairs>,
) -> PageResult {
    let app = state.app.clone();
    change(state, user, ctx, pairs, |actor, t| async move {
        let id = t.get("id").parse().map_err(|_| Error::NotFound)?;
        app.appointments()
            .set_visit_type_offered(&actor, id, t.get("offered") == "yes")
            .await
    })
    .await
}

/// POST /admin/schedules/hours
pub async fn hours(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(pairs): Form<Pairs>,
) -> PageResult {
    let app = state.app.clone();
    change(state, user, ctx, pairs, |actor, t| async move {
        app.appointments()
            .add_hours(
                &actor,
                t.get("clinician"),
                t.get("location"),
                &t.all("weekdays"),
                (t.get("start"), t.get("end")),
                (t.get("from"), t.get("until")),
                &t.all("visit_types"),
            )
            .await
    })
    .await
}

/// POST /admin/schedules/hours/remove
pub async fn remove_hours(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(pairs): Form<Pairs>,
) -> PageResult {
    let app = state.app.clone();
    change(state, user, ctx, pairs, |actor, t| async move {
        let id = t.get("id").parse().map_err(|_| Error::NotFound)?;
        app.appointments().remove_hours(&actor, id).await
    })
    .await
}

/// POST /admin/schedules/closures
pub async fn closure(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(pairs): Form<Pairs>,
) -> PageResult {
    let app = state.app.clone();
    change(state, user, ctx, pairs, |actor, t| async move {
        app.appointments()
            .add_closure(
                &actor,
                t.get("closure_clinician"),
                (t.get("closed_from"), t.get("closed_until")),
                t.get("reason"),
            )
            .await
            .map_err(|e| {
                renamed(
                    e,
                    &[
                        ("from", "closed_from"),
                        ("until", "closed_until"),
                        ("clinician", "closure_clinician"),
                    ],
                )
            })
    })
    .await
}

/// POST /admin/schedules/closures/remove
pub async fn remove_closure(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(pairs): Form<Pairs>,
) -> PageResult {
    let app = state.app.clone();
    change(state, user, ctx, pairs, |actor, t| async move {
        let id = t.get("id").parse().map_err(|_| Error::NotFound)?;
        app.appointments().remove_closure(&actor, id).await
    })
    .await
}
