//! Prescription refills: the request form on the medications page ([`section`]), the patient's
//! side's list of requests and each request's status, and the clinic's review and decision
//! pages. The clinic's queue is part of the in-basket.

use crate::AppState;
use crate::error::{IdPath, PageError, PageResult};
use crate::layout::{Nav, Page, render, render_status};
use crate::pages::banner::Banner;
use crate::pages::messages::ids;
use crate::pages::record::{Line, medication_line, medications_page};
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
use portal_app::auth::CurrentUser;
use portal_app::record::Item;
use portal_app::refills::{DecisionForm, Refill, RefillForm, RefillOptions, Review};
use portal_domain::access::Action;
use portal_domain::fields::FieldErrors;
use portal_domain::record::is_active_medication;
use portal_domain::refills::{Allowed, RefillStatus};
use portal_domain::{PatientId, RefillId, RefillItemId};

/// The refill pages' routes.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/patients/{id}/refills",
        access: Access::Patient(Action::RequestRefill),
        serve: || get(list),
    },
    Route {
        method: "POST",
        path: "/patients/{id}/refills",
        access: Access::Patient(Action::RequestRefill),
        serve: || post(request),
    },
    Route {
        method: "GET",
        path: "/patients/{id}/refills/{item}",
        access: Access::PatientItem(Action::RequestRefill),
        serve: || get(show),
    },
    Route {
        method: "GET",
        path: "/patients/{id}/refills/{item}/review",
        access: Access::PatientItem(Action::DecideRefill),
        serve: || get(review),
    },
    Route {
        method: "POST",
        path: "/patients/{id}/refills/{item}/review",
        access: Access::PatientItem(Action::DecideRefill),
        serve: || post(start_review),
    },
    Route {
        method: "POST",
        path: "/patients/{id}/refills/{item}/decide",
        access: Access::PatientItem(Action::DecideRefill),
        serve: || post(decide),
    },
    Route {
        method: "POST",
        path: "/patients/{id}/refills/{item}/sent",
        access: Access::PatientItem(Action::DecideRefill),
        serve: || post(mark_sent),
    },
];

fn page_for(title: &str, user: &CurrentUser, patient: PatientId) -> Page {
    Page::for_record(title, user, patient, Nav::Medications, Nav::InBasket)
}

/// One current medication in the refill form.
pub struct RefillLine {
    pub(crate) line: Line,
    pub(crate) value: String,
    pub(crate) selectable: bool,
    pub(crate) checked: bool,
    pub(crate) why: String,
    pub(crate) message_href: Option<String>,
}

/// One pharmacy of the form's list.
pub struct PharmacyChoice {
    pub(crate) value: String,
    pub(crate) label: String,
    pub(crate) selected: bool,
}

/// The refill part of the medications page.
pub struct RefillSection {
    pub(crate) action: String,
    pub(crate) send_key: String,
    pub(crate) lines: Vec<RefillLine>,
    pub(crate) any_selectable: bool,
    pub(crate) pharmacies: Vec<PharmacyChoice>,
    pub(crate) comment: String,
    pub(crate) waiting: usize,
    pub(crate) list_href: String,
    pub(crate) message_href: String,
}

/// The refill form for the current medications `items` (the page's list), with what was typed
/// when a request was refused.
pub fn section(
    state: &AppState,
    id: PatientId,
    items: &[Item],
    options: RefillOptions,
    typed: Option<&RefillForm>,
) -> RefillSection {
    let message_href = format!("/patients/{id}/messages/new?topic=refill");
    let lines: Vec<RefillLine> = items
        .iter()
        .filter(|m| is_active_medication(&m.columns.status))
        .filter_map(|item| {
            let choice = options
                .choices
                .iter()
                .find(|c| c.medication == item.resource_id)?;
            let value = item.resource_id.to_string();
            let (selectable, why, message) = match choice.verdict {
                Ok(allowed) => (true, allowed_words(allowed), false),
                Err(refusal) => (false, refusal.words(), refusal.offers_message()),
            };
            Some(RefillLine {
                line: medication_line(&state.dates, item),
                checked: selectable && typed.is_some_and(|t| t.medications.contains(&value)),
                value,
                selectable,
                why,
                message_href: message.then(|| message_href.clone()),
            })
        })
        .collect();
    let chosen = typed
        .map(|t| t.pharmacy.clone())
        .or_else(|| options.preferred.map(|p| p.to_string()))
        .unwrap_or_default();
    RefillSection {
        action: format!("/patients/{id}/refills"),
        send_key: typed
            .map(|t| t.send_key.clone())
            .filter(|k| !k.is_empty())
            .unwrap_or(options.send_key),
        any_selectable: lines.iter().any(|l| l.selectable),
        lines,
        pharmacies: options
            .pharmacies
            .iter()
            .map(|p| PharmacyChoice {
                value: p.id.to_string(),
                label: format!("{}, {}", p.name, p.address),
                selected: p.id.to_string() == chosen,
            })
            .collect(),
        comment: typed.map(|t| t.comment.clone()).unwrap_or_default(),
        waiting: options.waiting,
        list_href: format!("/patients/{id}/refills"),
        message_href: message_href.clone(),
    }
}

fn allowed_words(allowed: Allowed) -> String {
    match allowed {
        Allowed::RecordSays => "You can request a refill here.".into(),
        Allowed::ClinicRule { months } => format!(
            "You can request a refill here. (The record gives no end date for this \
             prescription; the clinic renews prescriptions written in the last {months} months.)"
        ),
    }
}

/// POST /patients/{id}/refills: sends one request.
pub async fn request(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let field = |name: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let form = RefillForm {
        medications: pairs
            .iter()
            .filter(|(n, _)| n == "medication")
            .map(|(_, v)| v.clone())
            .collect(),
        pharmacy: field("pharmacy"),
        comment: field("comment"),
        send_key: field("send_key"),
    };
    match state
        .app
        .refills()
        .request(&user.actor(ctx.clone()), id, &form)
        .await
    {
        Ok(sent) => Ok(match sent.as_slice() {
            [one] => Redirect::to(&format!("/patients/{id}/refills/{one}?sent=1")),
            // One request per prescriber: the list shows them all.
            _ => Redirect::to(&format!("/patients/{id}/refills?sent={}", sent.len())),
        }
        .into_response()),
        Err(Error::Invalid(errors)) => {
            medications_page(&state, &user, ctx, id, Some((errors, form))).await
        }
        Err(e) => Err(e.into()),
    }
}

/// One medication of a request as its pages show it.
pub struct ItemShown {
    id: String,
    seen: &'static str,
    messaged: bool,
    label: String,
    status: &'static str,
    status_class: &'static str,
    reason: String,
    steps: Vec<(String, String, String)>,
    may_decide: bool,
    may_mark_sent: bool,
    history: Vec<Line>,
}

/// A request as its pages show it.
pub struct RequestShown {
    href: String,
    review_action: String,
    messages_href: String,
    any_unopened: bool,
    decide_href: String,
    sent_href: String,
    sent: String,
    by: String,
    pharmacy: String,
    comment: String,
    waiting_for: String,
    items: Vec<ItemShown>,
}

fn status_class(s: RefillStatus) -> &'static str {
    match s {
        RefillStatus::Approved | RefillStatus::SentToPharmacy => "status-good",
        RefillStatus::Denied => "status-bad",
        _ => "status-waiting",
    }
}

fn shown(state: &AppState, id: PatientId, r: &Refill, clinic: bool) -> RequestShown {
    let dates = &state.dates;
    RequestShown {
        review_action: format!("/patients/{id}/refills/{}/review", r.id),
        messages_href: format!("/patients/{id}/messages"),
        any_unopened: r.items.iter().any(|i| i.status == RefillStatus::Sent),
        decide_href: format!("/patients/{id}/refills/{}/decide", r.id),
        sent_href: format!("/patients/{id}/refills/{}/sent", r.id),
        href: if clinic {
            format!("/patients/{id}/refills/{}/review", r.id)
        } else {
            format!("/patients/{id}/refills/{}", r.id)
        },
        sent: dates.minute(r.created_at),
        by: if r.by_proxy {
            format!("{} (for the patient)", r.requested_by_name)
        } else {
            r.requested_by_name.clone()
        },
        pharmacy: format!(
            "{}, {} ({})",
            r.pharmacy.name, r.pharmacy.address, r.pharmacy.phone
        ),
        comment: r.comment.clone(),
        waiting_for: match r.stage {
            portal_domain::refills::Stage::Prescriber => r
                .prescriber_name
                .clone()
                .or(r.pool_name.clone())
                .unwrap_or_else(|| "the care team".into()),
            portal_domain::refills::Stage::Pool => r
                .pool_name
                .clone()
                .unwrap_or_else(|| "the care team".into()),
            portal_domain::refills::Stage::Lead => r
                .lead_name
                .clone()
                .or(r.pool_name.clone())
                .unwrap_or_else(|| "the care team".into()),
        },
        items: r
            .items
            .iter()
            .map(|i| ItemShown {
                id: i.id.to_string(),
                seen: i.status.as_str(),
                messaged: i.status == RefillStatus::Messaged,
                label: i.label.clone(),
                status: i.status.words(),
                status_class: status_class(i.status),
                reason: i.reason.clone(),
                steps: i
                    .steps
                    .iter()
                    .map(|s| {
                        let by = if clinic && !s.by.is_empty() {
                            format!("by {}", s.by)
                        } else {
                            String::new()
                        };
                        let detail = if s.status == RefillStatus::Denied {
                            s.detail.clone()
                        } else {
                            String::new()
                        };
                        (
                            format!("{}: {}", s.status.words(), dates.minute(s.at)),
                            by,
                            detail,
                        )
                    })
                    .collect(),
                may_decide: clinic && i.status.may_decide(),
                may_mark_sent: clinic && i.status == RefillStatus::Approved,
                history: Vec::new(),
            })
            .collect(),
    }
}

#[derive(Template)]
#[template(path = "refills.html")]
struct ListPage {
    page: Page,
    patient: Banner,
    basis: Option<String>,
    requests: Vec<RequestShown>,
    medications_href: String,
    just_sent: bool,
}

/// GET /patients/{id}/refills: the record's requests.
pub async fn list(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
    axum::extract::Query(done): axum::extract::Query<JustDone>,
) -> PageResult {
    let list = state.app.refills().list(&user.actor(ctx), id).await?;
    Ok(render(&ListPage {
        page: page_for("Refill requests", &user, id),
        basis: basis_words(&list.access, &list.patient),
        patient: Banner::new(&list.patient, &state.dates, state.app.now()),
        requests: list
            .requests
            .iter()
            .map(|r| shown(&state, id, r, false))
            .collect(),
        medications_href: format!("/patients/{id}/medications"),
        just_sent: done.sent.is_some(),
    }))
}

#[derive(Template)]
#[template(path = "refill.html")]
struct RequestPage {
    page: Page,
    patient: Banner,
    basis: Option<String>,
    request: RequestShown,
    just_sent: bool,
    list_href: String,
}

/// Whether the query string says the request was just sent (`?sent=1`).
#[derive(serde::Deserialize, Default)]
pub struct JustDone {
    #[serde(default)]
    sent: Option<String>,
    #[serde(default)]
    decided: Option<String>,
}

/// GET /patients/{id}/refills/{item}: one request and where each medication stands.
pub async fn show(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Path((id, item)): Path<(String, String)>,
    axum::extract::Query(done): axum::extract::Query<JustDone>,
) -> PageResult {
    let (id, refill): (PatientId, RefillId) = ids(&id, &item)?;
    let shown_page = state
        .app
        .refills()
        .show(&user.actor(ctx), id, refill)
        .await?;
    Ok(render(&RequestPage {
        page: page_for("Refill request", &user, id),
        basis: basis_words(&shown_page.access, &shown_page.patient),
        patient: Banner::new(&shown_page.patient, &state.dates, state.app.now()),
        request: shown(&state, id, &shown_page.request, false),
        just_sent: done.sent.is_some(),
        list_href: format!("/patients/{id}/refills"),
    }))
}

#[derive(Template)]
#[template(path = "refill_review.html")]
struct ReviewPage {
    page: Page,
    patient: Banner,
    basis: Option<String>,
    request: RequestShown,
    last_visit: Option<Line>,
    results: Vec<Line>,
    errors: FieldErrors,
    error_item: String,
    decided: bool,
}

fn review_page(
    state: &AppState,
    user: &CurrentUser,
    review: Review,
    errors: FieldErrors,
    error_item: String,
    decided: bool,
) -> Response {
    let id = review.patient.id;
    let mut request = shown(state, id, &review.request, true);
    for item in &mut request.items {
        if let Some((_, history)) = review
            .context
            .history
            .iter()
            .find(|(i, _)| i.to_string() == item.id)
        {
            item.history = history
                .iter()
                .map(|h| medication_line(&state.dates, h))
                .collect();
        }
    }
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render_status(
        status,
        &ReviewPage {
            page: page_for("Refill request", user, id),
            basis: basis_words(&review.access, &review.patient),
            patient: Banner::new(&review.patient, &state.dates, state.app.now()),
            request,
            last_visit: review.context.last_visit.as_ref().map(|v| Line {
                title: v.columns.label.clone(),
                detail: v.where_name.clone().unwrap_or_default(),
                when: state.dates.day_of(v.columns.sort_at),
                href: Some(format!("/patients/{id}/visits/{}", v.resource_id)),
            }),
            results: review
                .context
                .results
                .iter()
                .map(|r| {
                    let (value, _) = match &r.details {
                        Some(portal_fhir::Mapped::Observation(o)) => {
                            crate::pages::record::observation_words(o)
                        }
                        _ => (String::new(), String::new()),
                    };
                    Line {
                        title: r.columns.label.clone(),
                        detail: value,
                        when: state.dates.day_of(r.columns.sort_at),
                        href: Some(format!("/patients/{id}/results/{}", r.resource_id)),
                    }
                })
                .collect(),
            errors,
            error_item,
            decided,
        },
    )
}

/// GET /patients/{id}/refills/{item}/review: the clinic's review of a request (opening it puts
/// its new medications in review).
pub async fn review(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Path((id, item)): Path<(String, String)>,
    axum::extract::Query(done): axum::extract::Query<JustDone>,
) -> PageResult {
    let (id, refill): (PatientId, RefillId) = ids(&id, &item)?;
    let review = state
        .app
        .refills()
        .review(&user.actor(ctx), id, refill)
        .await?;
    Ok(review_page(
        &state,
        &user,
        review,
        FieldErrors::new(),
        String::new(),
        done.decided.is_some(),
    ))
}

/// POST /patients/{id}/refills/{item}/review: takes the request in review (the patient's side
/// is told), then shows it.
pub async fn start_review(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Path((id, item)): Path<(String, String)>,
) -> PageResult {
    let (id, refill): (PatientId, RefillId) = ids(&id, &item)?;
    state
        .app
        .refills()
        .start_review(&user.actor(ctx), id, refill)
        .await?;
    Ok(Redirect::to(&format!("/patients/{id}/refills/{refill}/review")).into_response())
}

/// The decision form.
#[derive(serde::Deserialize, Default)]
pub struct DecisionFields {
    #[serde(default)]
    medication: String,
    #[serde(default)]
    choice: String,
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    refills: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    seen: String,
}

/// POST /patients/{id}/refills/{item}/decide: decides one medication.
pub async fn decide(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Path((id, item)): Path<(String, String)>,
    Form(fields): Form<DecisionFields>,
) -> PageResult {
    let (id, refill): (PatientId, RefillId) = ids(&id, &item)?;
    let medication = item_id(&fields.medication)?;
    let refills = state.app.refills();
    let form = DecisionForm {
        choice: fields.choice,
        quantity: fields.quantity,
        refills: fields.refills,
        reason: fields.reason,
        message: fields.message,
        seen: fields.seen,
    };
    match refills
        .decide(&user.actor(ctx.clone()), id, refill, medication, &form)
        .await
    {
        Ok(_) => Ok(
            Redirect::to(&format!("/patients/{id}/refills/{refill}/review?decided=1"))
                .into_response(),
        ),
        Err(Error::Invalid(errors)) => {
            let review = refills.review(&user.actor(ctx), id, refill).await?;
            Ok(review_page(
                &state,
                &user,
                review,
                errors,
                medication.to_string(),
                false,
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// The medication of a request a form names; a malformed id reads as a missing one.
fn item_id(raw: &str) -> Result<RefillItemId, PageError> {
    raw.parse().map_err(|_| PageError(Error::NotFound))
}

/// The form naming one medication of a request.
#[derive(serde::Deserialize, Default)]
pub struct ItemField {
    #[serde(default)]
    medication: String,
}

/// POST /patients/{id}/refills/{item}/sent: marks an approved prescription sent.
pub async fn mark_sent(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Path((id, item)): Path<(String, String)>,
    Form(fields): Form<ItemField>,
) -> PageResult {
    let (id, refill): (PatientId, RefillId) = ids(&id, &item)?;
    let medication = item_id(&fields.medication)?;
    state
        .app
        .refills()
        .mark_sent(&user.actor(ctx), id, refill, medication)
        .await?;
    Ok(Redirect::to(&format!("/patients/{id}/refills/{refill}/review?decided=1")).into_response())
}
