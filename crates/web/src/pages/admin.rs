//! Administration: accounts, the audit reports and result-release rules.

use crate::AppState;
use crate::error::{IdPath, PageResult};
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
use portal_app::accounts::NewStaffAccount;
use portal_app::audit_report::Ask;
use portal_app::auth::CurrentUser;
use portal_app::types::Order;
use portal_app::types::Verdict;
use portal_domain::UserId;
use portal_domain::audit::AuditAction;
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
        method: "POST",
        path: "/admin/users/{id}/unlock",
        access: Access::Clinic,
        serve: || post(unlock),
    },
    Route {
        method: "POST",
        path: "/admin/users/{id}/privacy-officer",
        access: Access::Clinic,
        serve: || post(set_privacy_officer),
    },
    Route {
        method: "GET",
        path: "/admin/audit.csv",
        access: Access::Clinic,
        serve: || get(audit_csv),
    },
    Route {
        method: "POST",
        path: "/admin/audit/search",
        access: Access::Clinic,
        serve: || post(audit_search),
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
    /// Whether the role may be a privacy officer, and whether it is one.
    may_be_officer: bool,
    officer: bool,
    /// Until when failed sign-ins lock it, if they do.
    locked_until: Option<String>,
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
    let actor = user.actor(ctx);
    let officers = state.app.accounts().privacy_officers(&actor).await?;
    let users = state
        .app
        .accounts()
        .list_accounts(&actor)
        .await?
        .into_iter()
        .map(|u| UserLine {
            may_be_officer: matches!(
                u.role,
                portal_domain::Role::Admin | portal_domain::Role::Clinician
            ),
            officer: officers.contains(&u.id),
            locked_until: u.locked_until.map(|t| state.dates.minute(t)),
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
        Some("officer") => Some("The privacy officer permission was changed."),
        Some("unlocked") => Some("The account was unlocked: it can sign in again now."),
        Some("reset") => Some(
            "The authenticator app was removed and every session ended; the account was told by \
             e-mail and sets up a new one at its next sign-in.",
        ),
        Some("signed-out") => Some("The account was signed out everywhere."),
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

/// POST /admin/users/{id}/unlock
pub async fn unlock(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<UserId>,
) -> PageResult {
    state
        .app
        .accounts()
        .unlock_account(&user.actor(ctx), id)
        .await?;
    Ok(Redirect::to("/admin/users?done=unlocked").into_response())
}

/// The privacy officer form.
#[derive(Deserialize)]
pub struct OfficerForm {
    #[serde(default)]
    officer: String,
}

/// POST /admin/users/{id}/privacy-officer
pub async fn set_privacy_officer(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<UserId>,
    Form(form): Form<OfficerForm>,
) -> PageResult {
    let on = match form.officer.as_str() {
        "yes" => true,
        "no" => false,
        _ => return Err(Error::field("officer", "Say yes or no.").into()),
    };
    state
        .app
        .accounts()
        .set_privacy_officer(&user.actor(ctx), id, on)
        .await?;
    Ok(Redirect::to("/admin/users?done=officer").into_response())
}

/// One row of the audit report.
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

/// A column heading of the report: its words and the link that orders by it.
pub struct Heading {
    label: &'static str,
    href: String,
    /// "ascending", "descending" or "none", for `aria-sort`.
    sort: &'static str,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage {
    page: Page,
    verdict: Option<String>,
    errors: FieldErrors,
    form: AuditQuery,
    patient_words: Option<String>,
    /// Records a patient filter named, to choose from: link and words.
    choices: Vec<(String, String)>,
    /// The patient text typed, when it named none or several.
    patient_text: String,
    actions: Vec<&'static str>,
    headings: Vec<Heading>,
    events: Vec<EventLine>,
    total: i64,
    page_number: i64,
    pages: i64,
    previous: Option<String>,
    next: Option<String>,
    csv: String,
    /// The same report without the patient filter.
    every_patient: String,
    /// The names of the accounts it is filtered on, and the report without that filter.
    who_names: Vec<String>,
    everyone: String,
    /// The "who" text typed (shown again with its error).
    who_text: String,
    /// The other filters, carried by the patient filter's form.
    carried: Vec<(&'static str, String)>,
}

/// The report's filters, order and page, as its links carry them (no patient name: a record id).
#[derive(Clone, Deserialize, Default)]
pub struct AuditQuery {
    /// The accounts "who" matched: their ids, comma-separated.
    #[serde(default)]
    by: String,
    #[serde(default)]
    patient: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    /// "disclosures", "flagged" or empty.
    #[serde(default)]
    only: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    dir: String,
    #[serde(default)]
    page: Option<i64>,
}

impl AuditQuery {
    fn ask(&self) -> Result<Ask, Error> {
        let patient = match self.patient.trim() {
            "" => None,
            id => Some(id.parse().map_err(|_| Error::NotFound)?),
        };
        let order = Order::parse(&self.sort).unwrap_or_default();
        let actors = match self.by.trim() {
            "" => None,
            ids => {
                let ids: Vec<String> = ids.split(',').map(|id| id.trim().to_string()).collect();
                // Only ids the portal itself wrote into the link.
                if ids.len() > 50 || ids.iter().any(|id| uuid::Uuid::parse_str(id).is_err()) {
                    return Err(Error::NotFound);
                }
                Some(ids)
            }
        };
        Ok(Ask {
            actors,
            patient,
            action: self.action.clone(),
            from: self.from.chars().take(40).collect(),
            to: self.to.chars().take(40).collect(),
            disclosures: self.only == "disclosures",
            flagged: self.only == "flagged",
            order,
            ascending: self.dir == "asc",
            page: self.page.unwrap_or(1).clamp(1, 1_000_000),
        })
    }

    /// The query string of this report with another order or page.
    fn link(&self, path: &str, sort: &str, dir: &str, page: i64) -> String {
        let mut pairs = vec![
            ("by", self.by.as_str()),
            ("patient", self.patient.as_str()),
            ("action", self.action.as_str()),
            ("from", self.from.as_str()),
            ("to", self.to.as_str()),
            ("only", self.only.as_str()),
            ("sort", sort),
            ("dir", dir),
        ];
        pairs.retain(|(_, v)| !v.is_empty());
        let page = page.to_string();
        if page != "1" {
            pairs.push(("page", &page));
        }
        let query = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", url_encoded(v)))
            .collect::<Vec<_>>()
            .join("&");
        if query.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{query}")
        }
    }
}

/// Percent-encodes a query value.
fn url_encoded(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

const COLUMNS: [(&str, Order); 7] = [
    ("When", Order::When),
    ("Who", Order::Who),
    ("Action", Order::Action),
    ("Data", Order::Data),
    ("Patient", Order::Patient),
    ("Outcome", Order::Outcome),
    ("From", Order::From),
];

async fn audit_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: portal_domain::audit::RequestContext,
    query: AuditQuery,
    verdict: Option<String>,
    typed: Typed,
) -> PageResult {
    let actor = user.actor(ctx);
    let ask = query.ask()?;
    let (report, mut errors) = match state.app.clinic().audit_report(&actor, &ask).await {
        Ok(report) => (Some(report), FieldErrors::new()),
        Err(Error::Invalid(errors)) => (None, errors),
        Err(e) => return Err(e.into()),
    };
    if let Some(message) = &typed.who_error {
        errors.add("who", message.clone());
    }
    let who_names = match &ask.actors {
        Some(ids) => state.app.clinic().report_account_names(&actor, ids).await?,
        None => Vec::new(),
    };
    let who_text = typed.who;
    let lookup = typed.patients;
    let (lines, total, pages) = match report {
        Some(r) => (r.lines, r.total, r.pages),
        None => (Vec::new(), 0, 1),
    };
    let patient_words = ask.patient.and_then(|id| {
        lines
            .iter()
            .find(|l| l.event.stored.event.patient_id.as_deref() == Some(id.to_string().as_str()))
            .and_then(|l| l.patient_name.clone())
            .or(Some("the chosen record".into()))
    });
    let current = ask.order.key();
    let direction = if ask.ascending { "asc" } else { "desc" };
    let headings = COLUMNS
        .iter()
        .map(|(label, order)| {
            let this = order.key() == current;
            // A click on the ordered column turns it round; another column starts descending.
            let dir = if this && !ask.ascending {
                "asc"
            } else {
                "desc"
            };
            Heading {
                label,
                href: query.link("/admin/audit", order.key(), dir, 1),
                sort: match (this, ask.ascending) {
                    (false, _) => "none",
                    (true, true) => "ascending",
                    (true, false) => "descending",
                },
            }
        })
        .collect();
    let events = lines
        .into_iter()
        .map(|line| {
            let e = line.event.stored.event;
            EventLine {
                seq: line.event.stored.seq,
                when: e.at.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
                who: match line.event.actor_name {
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
                patient: match (line.patient_name, line.patient_mrn) {
                    (Some(name), Some(mrn)) => format!("{name} (MRN {mrn})"),
                    (Some(name), None) => name,
                    _ => e.patient_id.unwrap_or_default(),
                },
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
    let page_number = ask.page.min(pages);
    let link = |page: i64| query.link("/admin/audit", &query.sort, &query.dir, page);
    let (choices, patient_text) = match lookup {
        Some((text, rows)) => (
            rows.iter()
                .map(|p| {
                    let mut q = query.clone();
                    q.patient = p.id.to_string();
                    (
                        q.link("/admin/audit", current, direction, 1),
                        format!(
                            "{} {}, born {}, MRN {}",
                            p.given_name, p.family_name, p.birth_date, p.mrn
                        ),
                    )
                })
                .collect(),
            text,
        ),
        None => (Vec::new(), String::new()),
    };
    let status = if errors.is_empty() && patient_text.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok(render_status(
        status,
        &AuditPage {
            page: Page::signed_in("Audit reports", user, Nav::Audit, None),
            verdict,
            errors,
            patient_words,
            choices,
            patient_text,
            actions: AuditAction::ALL.iter().map(|a| a.as_str()).collect(),
            headings,
            events,
            total,
            page_number,
            pages,
            previous: (page_number > 1).then(|| link(page_number - 1)),
            next: (page_number < pages).then(|| link(page_number + 1)),
            csv: query.link("/admin/audit.csv", &query.sort, &query.dir, 1),
            every_patient: AuditQuery {
                patient: String::new(),
                ..query.clone()
            }
            .link("/admin/audit", &query.sort, &query.dir, 1),
            everyone: AuditQuery {
                by: String::new(),
                ..query.clone()
            }
            .link("/admin/audit", &query.sort, &query.dir, 1),
            who_names,
            who_text,
            carried: [
                ("by", &query.by),
                ("patient", &query.patient),
                ("sort", &query.sort),
                ("dir", &query.dir),
            ]
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k, v.clone()))
            .collect(),
            form: query,
        },
    ))
}

/// GET /admin/audit
pub async fn audit(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Query(query): Query<AuditQuery>,
) -> PageResult {
    audit_page(&state, &user, ctx, query, None, Typed::default()).await
}

/// GET /admin/audit.csv: the report as a CSV file.
pub async fn audit_csv(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Query(query): Query<AuditQuery>,
) -> PageResult {
    let csv = state
        .app
        .clinic()
        .audit_csv(&user.actor(ctx), &query.ask()?)
        .await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"audit-report.csv\"",
            ),
        ],
        csv,
    )
        .into_response())
}

/// What a privacy officer typed that a link may not carry (names), shown again on the page.
#[derive(Default)]
struct Typed {
    /// The "who" text, and why it found nobody (or too many).
    who: String,
    who_error: Option<String>,
    /// The patient text and the records it named, when it named none or several.
    patients: Option<(String, Vec<portal_app::types::PatientRow>)>,
}

/// The report's search form: who and which patient typed as words, sent by POST so that no
/// name sits in a URL; the page it leads to carries account and record ids.
#[derive(Deserialize)]
pub struct AuditSearchForm {
    #[serde(default)]
    who: String,
    #[serde(default)]
    patient_text: String,
    #[serde(flatten)]
    rest: AuditQuery,
}

/// POST /admin/audit/search: "who" becomes the accounts it names; a patient text naming one
/// record becomes its id, naming several offers them; then the report's page.
pub async fn audit_search(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(form): Form<AuditSearchForm>,
) -> PageResult {
    let actor = user.actor(ctx.clone());
    let clinic = state.app.clinic();
    let mut query = form.rest;
    query.page = None;
    let mut typed = Typed::default();
    let who = form.who.trim();
    if !who.is_empty() {
        match clinic.report_accounts(&actor, who).await {
            Ok(found) => {
                query.by = found
                    .iter()
                    .map(|(id, _)| id.as_str())
                    .collect::<Vec<_>>()
                    .join(",");
            }
            Err(Error::Invalid(errors)) => {
                typed.who = who.chars().take(100).collect();
                typed.who_error = errors.iter().next().map(|(_, m)| m.clone());
            }
            Err(e) => return Err(e.into()),
        }
    }
    let text: String = form.patient_text.trim().chars().take(100).collect();
    if !text.is_empty() {
        let found = clinic.report_patients(&actor, &text).await?;
        if let [one] = found.as_slice() {
            query.patient = one.id.to_string();
        } else {
            typed.patients = Some((text, found));
        }
    }
    if typed.who_error.is_none() && typed.patients.is_none() {
        let sort = query.sort.clone();
        let dir = query.dir.clone();
        return Ok(Redirect::to(&query.link("/admin/audit", &sort, &dir, 1)).into_response());
    }
    audit_page(&state, &user, ctx, query, None, typed).await
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
    audit_page(
        &state,
        &user,
        ctx,
        AuditQuery::default(),
        Some(verdict),
        Typed::default(),
    )
    .await
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
