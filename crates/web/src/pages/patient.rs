//! A patient's chart pages, for the patient, a proxy, and the clinic.

use crate::AppState;
use crate::error::{IdPath, PageResult};
use crate::layout::{Nav, Page, render};
use crate::pages::banner::Banner;
use crate::pages::words::basis_words;
use crate::routes::{Access, Route};
use crate::security::Ctx;
use crate::session::SignedIn;
use askama::Template;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use portal_app::chart::Section;
use portal_app::types::PatientLogFilter;
use portal_domain::Action;
use portal_domain::audit::AuditAction;
use portal_domain::{PatientId, Role};
use serde::Deserialize;

/// Each role's start page, and a patient's chart: home, sections without pages of their own
/// yet, and the access log.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/",
        access: Access::Public,
        serve: || get(start),
    },
    Route {
        method: "GET",
        path: "/patients/{id}",
        access: Access::Patient(Action::ViewDemographics),
        serve: || get(home),
    },
    Route {
        method: "GET",
        path: "/patients/{id}/access-log",
        access: Access::Patient(Action::ViewAccessLog),
        serve: || get(access_log),
    },
];

fn nav_of(section: Section) -> Nav {
    match section {
        Section::Overview => Nav::Home,
        Section::HealthRecord => Nav::Record,
        Section::Medications => Nav::Medications,
        Section::Messages => Nav::Messages,
        Section::Appointments => Nav::Appointments,
        Section::AccessLog => Nav::Account,
    }
}

fn page_for(
    title: &str,
    user: &portal_app::auth::CurrentUser,
    section: Section,
    patient: PatientId,
) -> Page {
    let nav = if user.role == Role::Patient {
        nav_of(section)
    } else {
        Nav::Patients
    };
    Page::signed_in(title, user, nav, Some(patient))
}

/// A record the signed-in patient account can open, on its home page.
pub struct OtherRecord {
    href: String,
    name: String,
    age: Option<String>,
    /// Test results in it not opened yet.
    new_results: i64,
    /// The record being shown.
    current: bool,
    /// The account holder's own record.
    yours: bool,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    page: Page,
    patient: Banner,
    basis: Option<String>,
    others: Vec<OtherRecord>,
    for_patient: bool,
    show_clinic_links: bool,
    show_front_desk_links: bool,
    can_invite: bool,
    can_message: bool,
    can_refill: bool,
    new_results: i64,
    new_messages: i64,
}

/// GET /patients/{id}: the patient's home (for the clinic, the chart's front page).
pub async fn home(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
) -> PageResult {
    let actor = user.actor(ctx);
    let view = state
        .app
        .records()
        .open_section(&actor, id, Section::Overview)
        .await?;
    let now = state.app.now();
    let others: Vec<OtherRecord> = state
        .app
        .records()
        .my_patients_with_news(&actor)
        .await?
        .into_iter()
        .map(|(row, new_results)| {
            let banner = Banner::new(&row, &state.dates, now);
            OtherRecord {
                href: format!("/patients/{}", row.id),
                current: row.id == id,
                yours: user.patient_id == Some(row.id),
                name: banner.name,
                age: banner.age.or(banner.died.map(|d| format!("Died {d}"))),
                new_results,
            }
        })
        .collect();

    let title = if view.is_own() {
        format!("Welcome, {}", view.patient.given_name)
    } else {
        format!("{} {}", view.patient.given_name, view.patient.family_name)
    };
    let new_messages = if user.role == Role::Patient {
        state.app.messages().unread(&actor, &view.access).await?
    } else {
        0
    };
    Ok(render(&HomePage {
        page: page_for(&title, &user, Section::Overview, id).with_new("Messages", new_messages),
        new_messages,
        basis: basis_words(&view.access, &view.patient),
        for_patient: user.role == Role::Patient,
        show_clinic_links: user.role == Role::Clinician,
        show_front_desk_links: user.role == Role::Staff,
        can_invite: view.access.also_allows(Action::Enrol),
        can_message: user.role == Role::Patient && view.access.also_allows(Action::SendMessage),
        can_refill: user.role == Role::Patient && view.access.also_allows(Action::RequestRefill),

        new_results: match others.iter().find(|o| o.current) {
            // Counted already, with the family's records.
            Some(this) => this.new_results,
            None => {
                state
                    .app
                    .records()
                    .unread_result_count(&actor, &view.access)
                    .await?
            }
        },
        patient: Banner::new(&view.patient, &state.dates, state.app.now()),
        others,
    }))
}

/// One entry of the "who accessed my record" list, in plain words.
pub struct AccessEntry {
    /// When, on the clinic's calendar and clock, to the minute, with its time zone.
    pub when: String,
    /// Who, by name and role.
    pub who: String,
    /// What they did.
    pub what: String,
    /// Flagged (break-glass).
    pub flagged: bool,
}

#[derive(Template)]
#[template(path = "access_log.html")]
struct AccessLogPage {
    page: Page,
    patient: Banner,
    basis: Option<String>,
    entries: Vec<AccessEntry>,
    emergency: Vec<AccessEntry>,
    filters: Vec<FilterLink>,
    show: &'static str,
    older: Option<String>,
    newest: Option<String>,
}

/// One of the filters above the access log.
pub struct FilterLink {
    label: &'static str,
    href: String,
    current: bool,
}

/// The access log's query: which entries, and from where.
#[derive(Deserialize)]
pub struct AccessLogQuery {
    show: Option<String>,
    before: Option<String>,
}

const LOG_FILTERS: [(&str, PatientLogFilter, &str); 5] = [
    ("all", PatientLogFilter::All, "Everything"),
    ("clinic", PatientLogFilter::Clinic, "Clinic staff"),
    ("emergency", PatientLogFilter::Emergency, "Emergency access"),
    ("refused", PatientLogFilter::Refused, "Refused attempts"),
    (
        "patient",
        PatientLogFilter::PatientSide,
        "You and your proxies",
    ),
];

fn data_words(resource_type: &str) -> &'static str {
    match resource_type {
        "Patient" => "the record's summary",
        "HealthRecord" | "HealthSummary" => "the health record",
        "ResultList" => "the list of test results",
        "Result" => "a test result",
        "ResultRelease" => "a test result, releasing it to the patient",
        "VisitList" => "the list of visits",
        "Visit" => "a visit and its notes",
        "DocumentList" => "the list of documents",
        "Document" => "a document (downloaded)",
        "MedicationList" => "the medication list",
        "MessageList" => "the list of messages",
        "Message" => "a message conversation",
        "MessageCompose" => "the form to write a message",
        "MessageDraft" => "a message draft",
        "MessageAttachment" => "a file attached to a message",
        "MessageNote" | "MessageRouting" | "MessageStatus" => "the clinic's handling of a message",
        "AppointmentList" => "the appointments",
        "Appointment" => "an appointment",
        "Slot" => "the open appointment times",
        "Offer" => "an offer of an earlier appointment time",
        "Reminder" => "an appointment reminder (by e-mail)",
        "CheckIn" => "the check-in for an appointment",
        "CheckInPhoto" => "a photo of the insurance card",
        "RefillRequestList" => "the refill requests",
        "RefillRequest" => "a refill request",
        "MedicationRequest" => "the renewed prescriptions",
        "AccessLog" => "this access history",
        "ActivationCode" => "an activation code for the portal",
        "Enrolment" => "whether the record has a portal account",
        "Account" => "the portal account",
        "BreakGlass" => "emergency access to the record",
        t if t.starts_with("FHIR ") => "the record, through the FHIR API",
        "RecordExport" => "a copy of the record (downloaded)",
        "RecordShare" => "a copy of the record sent by e-mail",
        "SmartGrant" => "the record, connected to an app",
        _ => "the record",
    }
}

/// One audit event as the record's reader sees it. Refusals by patient-side accounts without
/// access never name who tried: that would show one patient another's name.
fn access_entry(
    dates: &crate::pages::words::Dates,
    named: &portal_app::types::NamedEvent,
    viewer: &str,
) -> AccessEntry {
    let e = &named.stored.event;
    let refused = e.outcome != portal_domain::audit::Outcome::Success;
    let who = match (&named.actor_name, e.actor_role.as_str()) {
        _ if e.actor_id == viewer => "You".to_string(),
        (_, "patient" | "anonymous") if refused => {
            "Someone without access to this record".to_string()
        }
        (Some(name), "system") => format!("{name} (a connected system)"),
        (Some(name), "app") => format!("{name} (a connected app)"),
        (_, "recipient") => "The person a copy was sent to".to_string(),
        (Some(name), role) => format!("{name} ({role})"),
        (None, "operator") => "Clinic administration".to_string(),
        (None, "portal") => "The portal itself".to_string(),
        (None, "system") => "The clinic's record system".to_string(),
        (None, role) => format!("Someone ({role})"),
    };
    let verb = AuditAction::plain_words(e.action.as_str());
    let mut what = format!("{verb} {}", data_words(&e.resource_type));
    if refused {
        what = format!("tried: {what} (refused)");
    }
    if e.break_glass {
        what.push_str(" — emergency access, flagged for review");
    }
    if e.resource_type == "Account"
        && !refused
        && let Some(issuer) = portal_app::enrolment::activation_issuer(&e.detail)
    {
        what.push_str(&format!(", with an activation code issued by {issuer}"));
    }
    AccessEntry {
        when: dates.minute(e.at),
        who,
        what,
        flagged: e.break_glass,
    }
}

/// GET /patients/{id}/access-log
pub async fn access_log(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
    Query(query): Query<AccessLogQuery>,
) -> PageResult {
    let (show, filter) = LOG_FILTERS
        .iter()
        .find(|(key, _, _)| query.show.as_deref() == Some(*key))
        .map_or(("all", PatientLogFilter::All), |(key, f, _)| (*key, *f));
    let before = query.before.as_deref().and_then(|b| b.parse::<i64>().ok());
    let log = state
        .app
        .records()
        .access_log(&user.actor(ctx), id, filter, before)
        .await?;
    let viewer = user.id.to_string();
    let base = format!("/patients/{id}/access-log");
    let filters = LOG_FILTERS
        .iter()
        .map(|(key, _, label)| FilterLink {
            label,
            href: format!("{base}?show={key}"),
            current: *key == show,
        })
        .collect();
    Ok(render(&AccessLogPage {
        page: page_for("Who accessed this record", &user, Section::AccessLog, id),
        basis: basis_words(&log.view.access, &log.view.patient),
        patient: Banner::new(&log.view.patient, &state.dates, state.app.now()),
        entries: log
            .entries
            .iter()
            .map(|e| access_entry(&state.dates, e, &viewer))
            .collect(),
        emergency: log
            .emergency
            .iter()
            .map(|e| access_entry(&state.dates, e, &viewer))
            .collect(),
        filters,
        show,
        older: log
            .older
            .map(|seq| format!("{base}?show={show}&before={seq}")),
        newest: before.map(|_| format!("{base}?show={show}")),
    }))
}

/// GET /: each role's start page.
pub async fn start(
    State(state): State<AppState>,
    crate::session::MaybeUser(user): crate::session::MaybeUser,
    Ctx(ctx): Ctx,
) -> PageResult {
    let Some(user) = user else {
        return Ok(Redirect::to("/signin").into_response());
    };
    if user.stage != portal_app::auth::Stage::Full {
        return Ok(Redirect::to("/signin/second-factor").into_response());
    }
    let to = match user.role {
        Role::Patient => {
            let records = state.app.records().my_patients(&user.actor(ctx)).await?;
            match user.patient_id.or_else(|| records.first().map(|r| r.id)) {
                Some(p) => format!("/patients/{p}"),
                None => "/account".to_string(),
            }
        }
        Role::Clinician | Role::Staff => "/inbasket".to_string(),
        Role::Admin => "/admin/users".to_string(),
    };
    Ok(Redirect::to(&to).into_response())
}

/// Turns a missing page into the same 404 as another patient's record.
pub async fn not_found() -> Response {
    crate::error::PageError(portal_app::Error::NotFound).into_response()
}
