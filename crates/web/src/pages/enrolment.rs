//! Enrolment and account help at the front desk: where a record's portal enrolment stands, an
//! activation code printed as a letter or e-mailed to an address the record lists, cancelling
//! a code, and the help desk's unlock, second-factor reset and sign-out everywhere.

use crate::AppState;
use crate::error::{IdPath, PageResult};
use crate::layout::{Nav, Page, render};
use crate::pages::banner::Banner;
use crate::pages::words::basis_words;
use crate::routes::{Access, Route};
use crate::security::Ctx;
use crate::session::SignedIn;
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use portal_app::auth::CurrentUser;
use portal_app::enrolment_desk::{IDENTITY_CHECKS, Status};
use portal_domain::fields::FieldErrors;
use portal_domain::{Action, PatientId};
use serde::Deserialize;

/// The enrolment page and its forms.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/patients/{id}/enrolment",
        access: Access::Patient(Action::Enrol),
        serve: || get(page),
    },
    Route {
        method: "POST",
        path: "/patients/{id}/invite",
        access: Access::Patient(Action::Enrol),
        serve: || post(invite),
    },
    Route {
        method: "POST",
        path: "/patients/{id}/account-help",
        access: Access::Patient(Action::Enrol),
        serve: || post(help),
    },
    Route {
        method: "POST",
        path: "/patients/{id}/invite/cancel",
        access: Access::Patient(Action::Enrol),
        serve: || post(cancel),
    },
];

#[derive(Template)]
#[template(path = "enrolment.html")]
struct EnrolmentPage {
    page: Page,
    patient: Banner,
    basis: Option<String>,
    /// One of "none", "code", "active", "locked", "disabled".
    status: &'static str,
    /// The status in a sentence.
    status_words: String,
    /// More about it, if there is more.
    details: Vec<String>,
    /// Whether a code may be issued (no account of the patient's own).
    can_issue: bool,
    /// Whether a code waits (so it can be cancelled).
    can_cancel: bool,
    addresses: Vec<String>,
    /// What the help desk may do for the account: the form's value and the words.
    helps: Vec<(&'static str, &'static str)>,
    /// The accounts the help desk may help: the form's value ("" for the patient's own), the
    /// words, and where the account stands. Only shown as a choice when a proxy has one.
    accounts: Vec<(String, String, String)>,
    identity_checks: &'static [&'static str],
    form: HelpForm,
    errors: FieldErrors,
    /// What was just done.
    done: Option<&'static str>,
}

/// GET /patients/{id}/enrolment
pub async fn page(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
    Query(done): Query<Done>,
) -> PageResult {
    let words = match done.done.as_deref() {
        Some("unlocked") => Some("The account is unlocked: the patient can sign in again now."),
        Some("reset") => Some(
            "The authenticator app was removed and every session ended; the patient was told by \
             e-mail and sets up a new one after signing in with their password.",
        ),
        Some("signed-out") => Some("The account was signed out everywhere."),
        _ => None,
    };
    let form = HelpForm::default();
    enrolment_page(&state, &user, ctx, id, form, FieldErrors::new(), words).await
}

/// What the help desk just did (`?done=`).
#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// The enrolment page, with the help form as sent and its errors, or what was just done.
async fn enrolment_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: portal_domain::audit::RequestContext,
    id: PatientId,
    form: HelpForm,
    errors: FieldErrors,
    done: Option<&'static str>,
) -> PageResult {
    let view = state.app.accounts().enrolment(&user.actor(ctx), id).await?;
    let dates = &state.dates;
    let signed_in = |account: &portal_app::types::OwnAccount| {
        vec![
            format!("Signs in as {}.", account.email),
            format!("Activated on {}.", dates.day(account.created_at)),
            match account.last_signed_in_at {
                Some(at) => format!("Last signed in {}.", dates.minute(at)),
                None => "No sign-in recorded yet.".to_string(),
            },
        ]
    };
    let (status, status_words, details) = match &view.status {
        Status::None => (
            "none",
            "No portal account yet, and no activation code is waiting.".to_string(),
            Vec::new(),
        ),
        Status::CodeIssued(code) => (
            "code",
            format!(
                "An activation code is waiting to be used, until {}.",
                dates.minute(code.expires_at)
            ),
            vec![format!(
                "Issued {} by {}.",
                dates.minute(code.created_at),
                code.issued_by
                    .as_deref()
                    .unwrap_or("the clinic's administration")
            )],
        ),
        Status::Active(account) => (
            "active",
            "The patient has an active portal account.".to_string(),
            signed_in(account),
        ),
        Status::Locked(account, until) => (
            "locked",
            format!(
                "The account is locked after repeated failed sign-ins, until {}.",
                dates.minute(*until)
            ),
            signed_in(account),
        ),
        Status::Disabled(account) => (
            "disabled",
            "The account is disabled: an administrator turned it off.".to_string(),
            signed_in(account),
        ),
    };
    let can_issue = matches!(view.status, Status::None | Status::CodeIssued(_));
    // Whose account the help desk may help: the patient's own (active or locked) and each
    // proxy's that is not disabled.
    let mut accounts: Vec<(String, String, String, bool, bool)> = Vec::new();
    match &view.status {
        Status::Active(a) => accounts.push((
            String::new(),
            format!("The patient's own account ({})", a.email),
            "active".into(),
            false,
            a.has_second_factor,
        )),
        Status::Locked(a, until) => accounts.push((
            String::new(),
            format!("The patient's own account ({})", a.email),
            format!("locked until {}", dates.minute(*until)),
            true,
            a.has_second_factor,
        )),
        _ => {}
    }
    for (proxy, until) in &view.proxies {
        if proxy.account.status == portal_domain::user::AccountStatus::Disabled {
            continue;
        }
        accounts.push((
            proxy.account.user.to_string(),
            format!(
                "{} ({}, proxy; {})",
                proxy.name, proxy.relationship, proxy.account.email
            ),
            match until {
                Some(u) => format!("locked until {}", dates.minute(*u)),
                None => "active".into(),
            },
            until.is_some(),
            proxy.account.has_second_factor,
        ));
    }
    let mut helps = Vec::new();
    if accounts.iter().any(|a| a.3) {
        helps.push(("unlock", "Unlock the account (failed sign-ins locked it)"));
    }
    if accounts.iter().any(|a| a.4) {
        helps.push((
            "reset-second-factor",
            "Reset the second factor (a lost phone): removes the authenticator app and \
             signs out everywhere",
        ));
    }
    if !accounts.is_empty() {
        helps.push(("end-sessions", "Sign the account out everywhere"));
    }
    let accounts: Vec<(String, String, String)> = accounts
        .into_iter()
        .map(|(value, words, state, _, _)| (value, words, state))
        .collect();
    let status_code = crate::layout::form_status(&errors);
    Ok(crate::layout::render_status(
        status_code,
        &EnrolmentPage {
            page: Page::signed_in("Portal enrolment", user, Nav::Patients, Some(id)),
            helps,
            accounts,
            identity_checks: &IDENTITY_CHECKS,
            form,
            errors,
            done,
            basis: basis_words(&view.access, &view.patient),
            patient: Banner::new(&view.patient, dates, state.app.now()),
            status,
            status_words,
            details,
            can_issue,
            can_cancel: matches!(view.status, Status::CodeIssued(_)),
            addresses: view.addresses,
        },
    ))
}

/// The help desk's form.
#[derive(Default, Deserialize)]
pub struct HelpForm {
    /// Whose account: empty for the patient's own, else a proxy's account id.
    #[serde(default)]
    whose: String,
    #[serde(default)]
    help: String,
    #[serde(default)]
    identity: String,
    #[serde(default)]
    reason: String,
}

/// POST /patients/{id}/account-help: unlock, reset the second factor, or end every session.
pub async fn help(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
    Form(form): Form<HelpForm>,
) -> PageResult {
    match state
        .app
        .accounts()
        .help_account(
            &user.actor(ctx.clone()),
            id,
            &form.whose,
            &form.help,
            &form.identity,
            &form.reason,
        )
        .await
    {
        Ok(done) => {
            let key = done.done_key();
            Ok(Redirect::to(&format!("/patients/{id}/enrolment?done={key}")).into_response())
        }
        Err(portal_app::Error::Invalid(errors)) => {
            enrolment_page(&state, &user, ctx, id, form, errors, None).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "invite.html")]
struct InvitePage {
    page: Page,
    patient: Banner,
    basis: Option<String>,
    clinic: String,
    address: String,
    /// The code, when it is printed (never when it was e-mailed).
    code: Option<String>,
    /// The address it was e-mailed to.
    sent_to: Option<String>,
    expires: String,
}

/// How a new code reaches the patient.
#[derive(Deserialize)]
pub struct InviteForm {
    /// "letter" (the default) or "email".
    #[serde(default)]
    via: String,
    /// For "email": one of the addresses the record lists.
    #[serde(default)]
    to: String,
}

/// POST /patients/{id}/invite: a new activation code, printed as a letter (shown once) or
/// e-mailed to the address on record.
pub async fn invite(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
    Form(form): Form<InviteForm>,
) -> PageResult {
    let actor = user.actor(ctx);
    let accounts = state.app.accounts();
    let by_mail = form.via == "email";
    let invitation = if by_mail {
        accounts.email_code(&actor, id, form.to.trim()).await?
    } else {
        accounts.invite(&actor, id).await?
    };
    Ok(render(&InvitePage {
        page: Page::signed_in("Activation code", &user, Nav::Patients, Some(id)),
        basis: basis_words(&invitation.access, &invitation.patient),
        patient: Banner::new(&invitation.patient, &state.dates, state.app.now()),
        clinic: state.app.config().clinic_name.clone(),
        address: state
            .app
            .config()
            .public_url
            .trim_end_matches('/')
            .to_string(),
        code: (!by_mail).then(|| invitation.code.clone()),
        sent_to: by_mail.then(|| form.to.trim().to_string()),
        expires: state.dates.minute(invitation.expires_at),
    }))
}

#[derive(Template)]
#[template(path = "enrolment_cancelled.html")]
struct CancelledPage {
    page: Page,
    patient: Banner,
    basis: Option<String>,
    cancelled: u64,
}

/// POST /patients/{id}/invite/cancel: the waiting code stops working.
pub async fn cancel(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
) -> PageResult {
    let (patient, access, cancelled) = state
        .app
        .accounts()
        .cancel_codes(&user.actor(ctx), id)
        .await?;
    Ok(render(&CancelledPage {
        page: Page::signed_in("Activation code cancelled", &user, Nav::Patients, Some(id)),
        basis: basis_words(&access, &patient),
        patient: Banner::new(&patient, &state.dates, state.app.now()),
        cancelled,
    }))
}
