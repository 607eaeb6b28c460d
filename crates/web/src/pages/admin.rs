//! Administration: accounts and the audit trail.

use crate::AppState;
use crate::error::{IdPath, PageResult};
use crate::layout::{Nav, Page, form_status, render, render_status};
use crate::routes::{Access, Route};
use crate::security::Ctx;
use crate::session::SignedIn;
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use portal_app::Error;
use portal_app::accounts::NewStaffAccount;
use portal_app::audit_trail::AuditFilter;
use portal_app::auth::CurrentUser;
use portal_app::types::Verdict;
use portal_domain::UserId;
use portal_domain::fields::FieldErrors;
use portal_domain::user::AccountStatus;
use serde::Deserialize;

/// Administration: accounts, the audit trail, result-release rules.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/admin/users",
        access: Access::Clinic,
        serve: || get(users),
    },
    Route {
        method: "POST",
        path: "/admin/users",
        access: Access::Clinic,
        serve: || post(create_user),
    },
    Route {
        method: "POST",
        path: "/admin/users/{id}/status",
        access: Access::Clinic,
        serve: || post(set_status),
    },
    Route {
        method: "GET",
        path: "/admin/audit",
        access: Access::Clinic,
        serve: || get(audit),
    },
    Route {
        method: "POST",
        path: "/admin/audit/verify",
        access: Access::Clinic,
        serve: || post(verify),
    },
    Route {
        method: "GET",
        path: "/admin/results-release",
        access: Access::Clinic,
        serve: || get(result_release),
    },
    Route {
        method: "POST",
        path: "/admin/results-release",
        access: Access::Clinic,
        serve: || post(set_result_release),
    },
    Route {
        method: "POST",
        path: "/admin/results-release/remove",
        access: Access::Clinic,
        serve: || post(remove_result_release),
    },
];

/// One row of the users table.
pub struct UserLine {
    id: UserId,
    name: String,
    email: String,
    role: &'static str,
    has_second_factor: bool,
    active: bool,
    is_me: bool,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    page: Page,
    notice: Option<&'static str>,
    users: Vec<UserLine>,
    errors: FieldErrors,
    form_name: String,
    form_email: String,
    form_role: String,
}

async fn users_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: portal_domain::audit::RequestContext,
    errors: FieldErrors,
    notice: Option<&'static str>,
    form: Option<&NewUserForm>,
) -> PageResult {
    let users = state
        .app
        .accounts()
        .list_accounts(&user.actor(ctx))
        .await?
        .into_iter()
        .map(|u| UserLine {
            is_me: u.id == user.id,
            id: u.id,
            name: u.name,
            email: u.email,
            role: u.role.label(),
            has_second_factor: u.has_second_factor,
            active: u.status == AccountStatus::Active,
        })
        .collect();
    let status = form_status(&errors);
    Ok(render_status(
        status,
        &UsersPage {
            page: Page::signed_in("Users", user, Nav::Users, None),
            notice,
            users,
            errors,
            form_name: form.map(|f| f.name.clone()).unwrap_or_default(),
            form_email: form.map(|f| f.email.clone()).unwrap_or_default(),
            form_role: form
                .map(|f| f.role.clone())
                .unwrap_or_else(|| "clinician".into()),
        },
    ))
}

/// The `?done=` key after a change.
#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// GET /admin/users
pub async fn users(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Query(done): Query<Done>,
) -> PageResult {
    let notice = match done.done.as_deref() {
        Some("created") => Some(
            "The account was added. A link to choose a password is on its way to the person's e-mail.",
        ),
        Some("status") => Some("The account's status was changed."),
        _ => None,
    };
    users_page(&state, &user, ctx, FieldErrors::new(), notice, None).await
}

/// The new-account form.
#[derive(Deserialize)]
pub struct NewUserForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

/// POST /admin/users
pub async fn create_user(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(form): Form<NewUserForm>,
) -> PageResult {
    let actor = user.actor(ctx.clone());
    // Only an admin may get as far as seeing field errors.
    portal_domain::access::authorize_clinic(
        &actor.principal,
        portal_domain::access::ClinicAction::ManageUsers,
    )
    .map_err(|_| Error::Forbidden)?;
    let result = match NewStaffAccount::parse(&form.email, &form.name, &form.role) {
        Ok(new) => state
            .app
            .accounts()
            .create_staff_account(&actor, new)
            .await
            .map(|_| ()),
        Err(errors) => Err(Error::Invalid(errors)),
    };
    match result {
        Ok(()) => Ok(Redirect::to("/admin/users?done=created").into_response()),
        Err(Error::Invalid(errors)) => {
            users_page(&state, &user, ctx, errors, None, Some(&form)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The enable/disable form.
#[derive(Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    status: String,
}

/// POST /admin/users/{id}/status
pub async fn set_status(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<UserId>,
    Form(form): Form<StatusForm>,
) -> PageResult {
    let status = match form.status.as_str() {
        "active" => AccountStatus::Active,
        "disabled" => AccountStatus::Disabled,
        _ => return Err(Error::field("status", "Status must be active or disabled.").into()),
    };
    state
        .app
        .accounts()
        .set_account_status(&user.actor(ctx), id, status)
        .await?;
    Ok(Redirect::to("/admin/users?done=status").into_response())
}

/// One row of the audit table.
pub struct EventLine {
    seq: i64,
    when: String,
    who: String,
    action: String,
    resource: String,
    patient: String,
    outcome: &'static str,
    address: String,
    flag: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    page: Page,
    verdict: Option<String>,
    events: Vec<EventLine>,
    older: Option<i64>,
}

/// Filters and paging of the audit page.
#[derive(Deserialize, Default)]
pub struct AuditQuery {
    before: Option<i64>,
}

async fn audit_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: portal_domain::audit::RequestContext,
    before: Option<i64>,
    verdict: Option<String>,
) -> PageResult {
    let filter = AuditFilter {
        before,
        ..Default::default()
    };
    let events = state
        .app
        .clinic()
        .audit_events(&user.actor(ctx), &filter)
        .await?;
    let older = (events.len() == 100)
        .then(|| events.last().map(|e| e.stored.seq))
        .flatten();
    let events = events
        .into_iter()
        .map(|named| {
            let e = named.stored.event;
            EventLine {
                seq: named.stored.seq,
                when: state.dates.minute(e.at),
                who: match named.actor_name {
                    Some(name) => format!("{name} ({})", e.actor_role),
                    None if e.actor_id.is_empty() => format!("unknown ({})", e.actor_role),
                    None => format!("{} ({})", e.actor_id, e.actor_role),
                },
                action: if e.detail.is_empty() {
                    e.action.as_str().to_string()
                } else {
                    format!("{}: {}", e.action.as_str(), e.detail)
                },
                resource: e.resource_type,
                patient: e.patient_id.unwrap_or_default(),
                outcome: e.outcome.as_str(),
                address: e.context.client_addr,
                flag: if e.break_glass {
                    Some("break-glass")
                } else if e.detail.starts_with(portal_domain::audit::REVIEW_FLAG) {
                    Some("for review")
                } else {
                    None
                },
            }
        })
        .collect();
    Ok(render(&AuditPage {
        page: Page::signed_in("Audit trail", user, Nav::Audit, None),
        verdict,
        events,
        older,
    }))
}

/// GET /admin/audit
pub async fn audit(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Query(query): Query<AuditQuery>,
) -> PageResult {
    audit_page(&state, &user, ctx, query.before, None).await
}

/// POST /admin/audit/verify
pub async fn verify(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
) -> PageResult {
    let verdict = match state
        .app
        .clinic()
        .verify_audit_trail(&user.actor(ctx.clone()))
        .await?
    {
        Verdict::Intact { events } => format!(
            "The audit trail is intact: {events} events checked at {}.",
            state.dates.minute(state.app.now())
        ),
        Verdict::Broken { seq, problem } => {
            format!("The audit trail is damaged at event {seq}: {problem}.")
        }
    };
    audit_page(&state, &user, ctx, None, Some(verdict)).await
}

/// A family of result categories on the release page: what the records hold of it and the
/// rule for it.
pub struct CategoryRow {
    /// The family ("laboratory").
    family: String,
    /// The codes senders used for it ("LAB, laboratory").
    codes: String,
    /// Results and reports of it in every record.
    items: i64,
    /// Of those, held now.
    held: i64,
    /// The rule, in words, if one holds it.
    rule: Option<String>,
    /// The category the rule is stored under (to remove it).
    rule_category: String,
}

/// The families every clinic can hold, even before a result of them arrives.
const STANDARD_FAMILIES: &[&str] = &["laboratory", "imaging", "pathology"];

fn category_rows(
    holds: &[portal_domain::record::Hold],
    present: &[portal_app::record::CategoryCount],
) -> Vec<CategoryRow> {
    use portal_domain::record::category_family;
    let mut rows: Vec<CategoryRow> = Vec::new();
    let row_of = |family: String, rows: &mut Vec<CategoryRow>| -> usize {
        match rows.iter().position(|r| r.family == family) {
            Some(i) => i,
            None => {
                rows.push(CategoryRow {
                    family,
                    codes: String::new(),
                    items: 0,
                    held: 0,
                    rule: None,
                    rule_category: String::new(),
                });
                rows.len() - 1
            }
        }
    };
    for count in present {
        let i = row_of(category_family(&count.category), &mut rows);
        let row = &mut rows[i];
        if !row.codes.is_empty() {
            row.codes.push_str(", ");
        }
        row.codes.push_str(if count.category.is_empty() {
            "(none)"
        } else {
            &count.category
        });
        row.items += count.items;
        row.held += count.held;
    }
    for family in STANDARD_FAMILIES {
        row_of((*family).to_string(), &mut rows);
    }
    for hold in holds {
        let i = row_of(category_family(&hold.category), &mut rows);
        rows[i].rule = Some(match hold.days {
            Some(1) => "Held 1 day".to_string(),
            Some(d) => format!("Held {d} days"),
            None => "Held until a clinician releases".to_string(),
        });
        rows[i].rule_category = hold.category.clone();
    }
    rows.sort_by(|a, b| b.items.cmp(&a.items).then_with(|| a.family.cmp(&b.family)));
    rows
}

#[derive(Template)]
#[template(path = "admin_results_release.html")]
struct ResultReleasePage {
    page: Page,
    categories: Vec<CategoryRow>,
    errors: Vec<(String, String)>,
    category: String,
    days: String,
    notice: Option<String>,
    reach_days: i64,
    any_held: bool,
}

async fn result_release_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: portal_domain::audit::RequestContext,
    errors: Vec<(String, String)>,
    (category, days): (String, String),
    notice: Option<String>,
) -> PageResult {
    let actor = user.actor(ctx);
    let holds = state.app.clinic().result_holds(&actor).await?;
    let present = state.app.clinic().result_categories(&actor).await?;
    let status = if errors.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(render_status(
        status,
        &ResultReleasePage {
            page: Page::signed_in("Result release", user, Nav::ResultRelease, None),
            any_held: !holds.is_empty(),
            categories: category_rows(&holds, &present),
            errors,
            category,
            days,
            notice,
            reach_days: portal_app::record::UNTIL_RELEASED_REACH_DAYS,
        },
    ))
}

/// The release page's query: how many unopened results the rule just saved held.
#[derive(Deserialize, Default)]
pub struct ReleaseQuery {
    #[serde(default)]
    held: Option<u64>,
}

/// GET /admin/results-release: which result categories the clinic holds back.
pub async fn result_release(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    axum::extract::Query(query): axum::extract::Query<ReleaseQuery>,
) -> PageResult {
    let notice = query.held.map(|n| match n {
        0 => "Saved. No result already in the records needed holding.".to_string(),
        1 => "Saved. 1 result already in the records, not yet opened by a patient, is held now."
            .to_string(),
        n => format!(
            "Saved. {n} results already in the records, not yet opened by a patient, are held now."
        ),
    });
    result_release_page(
        &state,
        &user,
        ctx,
        Vec::new(),
        (String::new(), String::new()),
        notice,
    )
    .await
}

/// The hold form.
#[derive(Deserialize)]
pub struct HoldForm {
    #[serde(default)]
    category: String,
    #[serde(default)]
    days: String,
}

/// POST /admin/results-release: hold a category for some days or until released.
pub async fn set_result_release(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(form): Form<HoldForm>,
) -> PageResult {
    let days = form.days.trim();
    let parsed = if days.is_empty() {
        Ok(None)
    } else {
        days.parse::<i64>().map(Some).map_err(|_| ())
    };
    let result = match parsed {
        Ok(d) => {
            state
                .app
                .clinic().set_result_hold(&user.actor(ctx.clone()), &form.category, d)
                .await
        }
        Err(()) => Err(Error::Rejected(
            "Days: enter a whole number from 1 to 365, or leave it empty to hold until a clinician releases."
                .into(),
        )),
    };
    match result {
        Ok(held) => {
            Ok(Redirect::to(&format!("/admin/results-release?held={held}")).into_response())
        }
        Err(Error::Rejected(message)) => {
            let field = if message.starts_with("Days") {
                "days"
            } else {
                "category"
            };
            result_release_page(
                &state,
                &user,
                ctx,
                vec![(field.to_string(), message)],
                (form.category, form.days),
                None,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// The remove form.
#[derive(Deserialize)]
pub struct RemoveHoldForm {
    #[serde(default)]
    category: String,
}

/// POST /admin/results-release/remove: stop holding a category.
pub async fn remove_result_release(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(form): Form<RemoveHoldForm>,
) -> PageResult {
    state
        .app
        .clinic()
        .remove_result_hold(&user.actor(ctx), &form.category)
        .await?;
    Ok(Redirect::to("/admin/results-release").into_response())
}
