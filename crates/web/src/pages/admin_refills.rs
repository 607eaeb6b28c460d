//! The administrator's refill page: the rules (the renewal window where records give no end
//! date, the controlled-substance schedules not renewed online, how long a request waits before
//! it moves on, the pool for requests without a prescriber's account), the pharmacy directory,
//! each pool's lead, and clinicians' NPIs.

use crate::AppState;
use crate::error::PageResult;
use crate::layout::{Nav, Page, render_status};
use crate::routes::{Access, Route};
use crate::security::Ctx;
use crate::session::SignedIn;
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use portal_app::Error;
use portal_app::auth::CurrentUser;
use portal_app::refills::{PharmacyForm, RulesForm};
use portal_domain::audit::RequestContext;
use portal_domain::fields::FieldErrors;
use portal_domain::refills::DeaSchedule;
use serde::Deserialize;

/// The refill set-up page's routes.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/admin/refills",
        access: Access::Clinic,
        serve: || get(show),
    },
    Route {
        method: "POST",
        path: "/admin/refills/rules",
        access: Access::Clinic,
        serve: || post(save_rules),
    },
    Route {
        method: "POST",
        path: "/admin/refills/pharmacies",
        access: Access::Clinic,
        serve: || post(add_pharmacy),
    },
    Route {
        method: "POST",
        path: "/admin/refills/pharmacies/offered",
        access: Access::Clinic,
        serve: || post(pharmacy_offered),
    },
    Route {
        method: "POST",
        path: "/admin/refills/leads",
        access: Access::Clinic,
        serve: || post(lead),
    },
    Route {
        method: "POST",
        path: "/admin/refills/npi",
        access: Access::Clinic,
        serve: || post(npi),
    },
];

/// A pharmacy row.
pub struct PharmacyRow {
    id: String,
    name: String,
    address: String,
    phone: String,
    offered: bool,
}

/// A pool row with its lead.
pub struct PoolRow {
    id: String,
    name: String,
    lead: String,
}

#[derive(Template)]
#[template(path = "admin_refills.html")]
struct SetupPage {
    page: Page,
    notice: Option<&'static str>,
    errors: FieldErrors,
    window_months: String,
    escalate_hours: String,
    schedules: Vec<(&'static str, bool)>,
    pools: Vec<PoolRow>,
    refill_pool: String,
    clinicians: Vec<(String, String)>,
    pharmacies: Vec<PharmacyRow>,
}

/// Which form was just saved.
#[derive(Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    saved: Option<String>,
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    ctx: RequestContext,
    errors: FieldErrors,
    notice: Option<&'static str>,
) -> PageResult {
    let setup = state.app.refills().setup(&user.actor(ctx)).await?;
    let name_of = |id: Option<portal_domain::UserId>| {
        id.and_then(|id| setup.clinicians.iter().find(|(c, _)| *c == id))
            .map(|(c, _)| c.to_string())
            .unwrap_or_default()
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(render_status(
        status,
        &SetupPage {
            page: Page::signed_in("Refills", user, Nav::Refills, None),
            notice,
            errors,
            window_months: setup.rules.window_months.to_string(),
            escalate_hours: setup.rules.escalate_hours.to_string(),
            schedules: DeaSchedule::ALL
                .iter()
                .map(|s| (s.as_str(), setup.rules.refused_schedules.contains(s)))
                .collect(),
            pools: setup
                .pools
                .iter()
                .map(|p| PoolRow {
                    id: p.id.to_string(),
                    name: p.name.clone(),
                    lead: name_of(p.lead),
                })
                .collect(),
            refill_pool: setup.refill_pool.map(|p| p.to_string()).unwrap_or_default(),
            clinicians: setup
                .clinicians
                .iter()
                .map(|(id, name)| (id.to_string(), name.clone()))
                .collect(),
            pharmacies: setup
                .pharmacies
                .iter()
                .map(|p| PharmacyRow {
                    id: p.id.to_string(),
                    name: p.name.clone(),
                    address: p.address.clone(),
                    phone: p.phone.clone(),
                    offered: p.offered,
                })
                .collect(),
        },
    ))
}

/// GET /admin/refills
pub async fn show(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Query(done): Query<Done>,
) -> PageResult {
    let notice = match done.saved.as_deref() {
        Some("rules") => Some("The refill rules are saved."),
        Some("pharmacy") => Some("The pharmacy directory is changed."),
        Some("lead") => Some("The pool's lead is saved."),
        Some("npi") => Some("The clinician's NPI is saved."),
        _ => None,
    };
    page(&state, &user, ctx, FieldErrors::new(), notice).await
}

/// What a save answered: back to the page with a notice, or the page with the errors.
async fn after(
    state: &AppState,
    user: &CurrentUser,
    ctx: RequestContext,
    result: Result<(), Error>,
    saved: &str,
) -> PageResult {
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/admin/refills?saved={saved}")).into_response()),
        Err(Error::Invalid(errors)) => page(state, user, ctx, errors, None).await,
        Err(e) => Err(e.into()),
    }
}

/// POST /admin/refills/rules
pub async fn save_rules(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(pairs): Form<Vec<(String, String)>>,
) -> PageResult {
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let form = RulesForm {
        window_months: get("window_months"),
        refused: pairs
            .iter()
            .filter(|(n, _)| n == "refused")
            .map(|(_, v)| v.clone())
            .collect(),
        escalate_hours: get("escalate_hours"),
        pool: get("pool"),
    };
    let result = state
        .app
        .refills()
        .save_rules(&user.actor(ctx.clone()), &form)
        .await;
    after(&state, &user, ctx, result, "rules").await
}

/// The new pharmacy form.
#[derive(Deserialize, Default)]
pub struct PharmacyFields {
    #[serde(default)]
    name: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    phone: String,
}

/// POST /admin/refills/pharmacies
pub async fn add_pharmacy(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(f): Form<PharmacyFields>,
) -> PageResult {
    let result = state
        .app
        .refills()
        .add_pharmacy(
            &user.actor(ctx.clone()),
            &PharmacyForm {
                name: f.name,
                address: f.address,
                phone: f.phone,
            },
        )
        .await
        .map(|_| ());
    after(&state, &user, ctx, result, "pharmacy").await
}

/// Offering or withdrawing a pharmacy.
#[derive(Deserialize, Default)]
pub struct OfferedFields {
    #[serde(default)]
    pharmacy: String,
    #[serde(default)]
    offered: String,
}

/// POST /admin/refills/pharmacies/offered
pub async fn pharmacy_offered(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(f): Form<OfferedFields>,
) -> PageResult {
    let id = f.pharmacy.parse().map_err(|_| Error::NotFound)?;
    let result = state
        .app
        .refills()
        .set_pharmacy_offered(&user.actor(ctx.clone()), id, f.offered == "yes")
        .await;
    after(&state, &user, ctx, result, "pharmacy").await
}

/// A pool's lead.
#[derive(Deserialize, Default)]
pub struct LeadFields {
    #[serde(default)]
    pool: String,
    #[serde(default)]
    lead: String,
}

/// POST /admin/refills/leads
pub async fn lead(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(f): Form<LeadFields>,
) -> PageResult {
    let pool = f.pool.parse().map_err(|_| Error::NotFound)?;
    let lead = match f.lead.trim() {
        "" => None,
        raw => Some(
            raw.parse()
                .map_err(|_| Error::field("lead", "Choose a clinician from the list."))?,
        ),
    };
    let result = state
        .app
        .refills()
        .set_pool_lead(&user.actor(ctx.clone()), pool, lead)
        .await;
    after(&state, &user, ctx, result, "lead").await
}

/// A clinician's NPI.
#[derive(Deserialize, Default)]
pub struct NpiFields {
    #[serde(default)]
    email: String,
    #[serde(default)]
    npi: String,
}

/// POST /admin/refills/npi
pub async fn npi(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(f): Form<NpiFields>,
) -> PageResult {
    let result = state
        .app
        .refills()
        .set_npi(&user.actor(ctx.clone()), &f.email, &f.npi)
        .await;
    after(&state, &user, ctx, result, "npi").await
}
