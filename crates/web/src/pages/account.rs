//! The account page: password, second factor, sessions, and the way to one's access history.

use crate::AppState;
use crate::error::PageResult;
use crate::layout::{Nav, Page, form_status, render, render_status};
use crate::pages::auth::{EnrolForm, RecoveryCodesPage, enrol_page};
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
use portal_app::types::PatientRow;
use portal_domain::fields::FieldErrors;
use serde::Deserialize;

/// The signed-in account's own settings.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/account",
        access: Access::SignedIn,
        serve: || get(show),
    },
    Route {
        method: "POST",
        path: "/account/password",
        access: Access::SignedIn,
        serve: || post(change_password),
    },
    Route {
        method: "GET",
        path: "/account/second-factor",
        access: Access::SignedIn,
        serve: || get(second_factor_form),
    },
    Route {
        method: "POST",
        path: "/account/second-factor",
        access: Access::SignedIn,
        serve: || post(second_factor),
    },
    Route {
        method: "POST",
        path: "/account/reminders",
        access: Access::SignedIn,
        serve: || post(reminders),
    },
    Route {
        method: "POST",
        path: "/account/sessions/end-others",
        access: Access::SignedIn,
        serve: || post(end_other_sessions),
    },
    Route {
        method: "POST",
        path: "/account/apps/disconnect",
        access: Access::SignedIn,
        serve: || post(disconnect_app),
    },
    Route {
        method: "POST",
        path: "/account/add-child",
        access: Access::SignedIn,
        serve: || post(add_child),
    },
];

/// One app the account connected.
pub struct AppLine {
    grant: String,
    name: String,
    record: String,
    sees: Vec<&'static str>,
    connected: String,
    last_read: String,
}

/// One row of the sessions table.
pub struct SessionLine {
    started: String,
    last_seen: String,
    browser: String,
    address: String,
    this_one: bool,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    page: Page,
    notice: Option<&'static str>,
    errors: FieldErrors,
    has_second_factor: bool,
    recovery_left: i64,
    sessions: Vec<SessionLine>,
    refused: Vec<RefusedLine>,
    records: Vec<PatientRow>,
    reminders: Option<bool>,
    apps: Vec<AppLine>,
    /// The account's own record, whose proxies it manages.
    own: Option<portal_domain::PatientId>,
}

/// One refused sign-in to this account.
pub struct RefusedLine {
    at: String,
    what: String,
    address: String,
}

/// A short name for a browser from its user agent.
fn browser_name(ua: &str) -> String {
    let name = ["Edg/", "Firefox/", "Chrome/", "Safari/", "curl/"]
        .iter()
        .find(|marker| ua.contains(*marker))
        .map(|m| m.trim_end_matches('/').replace("Edg", "Edge"));
    let os = ["Android", "iPhone", "iPad", "Windows", "Mac OS", "Linux"]
        .iter()
        .find(|marker| ua.contains(*marker));
    match (name, os) {
        (Some(n), Some(o)) => format!("{n} on {o}"),
        (Some(n), None) => n,
        _ if ua.is_empty() => "Unknown".into(),
        _ => ua.chars().take(40).collect(),
    }
}

async fn account_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: portal_domain::audit::RequestContext,
    errors: FieldErrors,
    notice: Option<&'static str>,
) -> PageResult {
    let sessions = state
        .app
        .accounts()
        .active_sessions(user)
        .await?
        .into_iter()
        .map(|s| SessionLine {
            started: state.dates.minute(s.created_at),
            last_seen: state.dates.minute(s.last_seen_at),
            browser: browser_name(&s.user_agent),
            address: s.client_addr,
            this_one: s.id == user.session.id,
        })
        .collect();
    let refused = state
        .app
        .accounts()
        .refused_sign_ins(user)
        .await?
        .into_iter()
        .map(|r| RefusedLine {
            at: state.dates.minute(r.at),
            what: refused_in_words(&r.what),
            address: r.client_addr,
        })
        .collect();
    let records = state
        .app
        .records()
        .my_patients(&user.actor(ctx.clone()))
        .await?;
    let recovery_left = state.app.accounts().recovery_codes_left(user).await?;
    // Reminders go to the patient's side (patients and proxies).
    let reminders = match user.role {
        portal_domain::Role::Patient => Some(
            state
                .app
                .appointments()
                .reminders_wanted(&user.actor(ctx.clone()))
                .await?,
        ),
        _ => None,
    };
    let apps = state
        .app
        .smart()
        .connected(&user.actor(ctx.clone()))
        .await?
        .into_iter()
        .map(|g| AppLine {
            record: records
                .iter()
                .find(|r| r.id == g.patient_id)
                .map(|r| r.display_name())
                .unwrap_or_else(|| "A record you no longer hold access to".into()),
            sees: crate::smart::granted_words(&g.scope),
            connected: state.dates.day(g.created_at),
            last_read: g
                .last_read_at
                .map(|at| state.dates.minute(at))
                .unwrap_or_else(|| "Not yet".into()),
            grant: g.id,
            name: g.app_name,
        })
        .collect();
    let status = form_status(&errors);
    Ok(render_status(
        status,
        &AccountPage {
            page: Page::signed_in("Account", user, Nav::Account, None),
            notice,
            errors,
            has_second_factor: user.has_second_factor,
            recovery_left,
            sessions,
            refused,
            records,
            reminders,
            apps,
            own: user.patient_id,
        },
    ))
}

/// A refused sign-in as its account holder reads it.
fn refused_in_words(detail: &str) -> String {
    match detail {
        "wrong password" => "Wrong password".into(),
        "wrong second-factor code" => "Wrong code from the authenticator app".into(),
        d if d.starts_with("sign-in paused") => {
            "Signing in was paused after repeated wrong attempts".into()
        }
        "account disabled" => "Refused: the account was disabled".into(),
        _ => "Refused".into(),
    }
}

/// The `?done=` key after a change.
#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// GET /account
pub async fn show(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Query(done): Query<Done>,
) -> PageResult {
    let notice = match done.done.as_deref() {
        Some("password") => Some("Your password was changed. Your other sessions were signed out."),
        Some("sessions") => Some("You were signed out everywhere else."),
        Some("reminders-on") => Some("Appointment reminders will be e-mailed to you."),
        Some("reminders-off") => Some("Appointment reminders are off."),
        Some("app") => Some("The app was disconnected. It cannot read the record any more."),
        _ => None,
    };
    account_page(&state, &user, ctx, FieldErrors::new(), notice).await
}

/// The change-password form.
#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

/// POST /account/password
pub async fn change_password(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(form): Form<PasswordForm>,
) -> PageResult {
    match state
        .app
        .accounts()
        .change_password(&user, &form.current_password, &form.new_password, &ctx)
        .await
    {
        Ok(()) => Ok(Redirect::to("/account?done=password").into_response()),
        Err(Error::Invalid(errors)) => account_page(&state, &user, ctx, errors, None).await,
        Err(e) => Err(e.into()),
    }
}

/// The form to add a child's record with the clinic's code.
#[derive(Deserialize)]
pub struct AddChildForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    birth_date: String,
}

/// POST /account/add-child: a parent adds a child's record with its activation code.
pub async fn add_child(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(form): Form<AddChildForm>,
) -> PageResult {
    // The clinic's local form ("04/30/2016") is read here; the record compares calendar dates.
    let birth_date = state
        .dates
        .parse_day(&form.birth_date)
        .map_or_else(|| form.birth_date.clone(), |d| d.to_string());
    match state
        .app
        .accounts()
        .add_child(&user.actor(ctx.clone()), &form.code, &birth_date)
        .await
    {
        Ok(patient) => Ok(Redirect::to(&format!("/patients/{patient}")).into_response()),
        Err(Error::Invalid(errors)) => account_page(&state, &user, ctx, errors, None).await,
        Err(e) => Err(e.into()),
    }
}

/// POST /account/sessions/end-others
pub async fn end_other_sessions(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
) -> PageResult {
    state
        .app
        .accounts()
        .sign_out_everywhere_else(&user, &ctx)
        .await?;
    Ok(Redirect::to("/account?done=sessions").into_response())
}

/// The reminders form.
#[derive(Deserialize)]
pub struct RemindersForm {
    #[serde(default)]
    reminders: String,
}

/// POST /account/reminders: turns appointment reminders by e-mail on or off.
pub async fn reminders(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(form): Form<RemindersForm>,
) -> PageResult {
    let on = form.reminders == "on";
    state
        .app
        .appointments()
        .set_reminders_wanted(&user.actor(ctx), on)
        .await?;
    let done = if on { "reminders-on" } else { "reminders-off" };
    Ok(Redirect::to(&format!("/account?done={done}")).into_response())
}

/// GET /account/second-factor
pub async fn second_factor_form(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
) -> PageResult {
    enrol_page(
        &state,
        &user,
        FieldErrors::new(),
        "/account/second-factor",
        None,
    )
}

/// POST /account/second-factor
pub async fn second_factor(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(form): Form<EnrolForm>,
) -> PageResult {
    match state
        .app
        .accounts()
        .finish_enrolment(
            &user,
            &form.secret,
            &form.code,
            Some(portal_app::auth::Reauth {
                password: &form.current_password,
                current_code: &form.current_code,
            }),
            &ctx,
        )
        .await
    {
        Ok((codes, _)) => Ok(render(&RecoveryCodesPage {
            page: Page::signed_in("Save your recovery codes", &user, Nav::Account, None),
            codes,
            next: "/account",
        })),
        Err(Error::Invalid(errors)) => enrol_page(
            &state,
            &user,
            errors,
            "/account/second-factor",
            Some(form.secret),
        ),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_get_short_names() {
        assert_eq!(
            browser_name(
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
            ),
            "Chrome on Linux"
        );
        assert_eq!(browser_name(""), "Unknown");
    }
}

/// The disconnect form.
#[derive(Deserialize)]
pub struct DisconnectForm {
    #[serde(default)]
    grant: String,
}

/// POST /account/apps/disconnect: the app's access ends at once.
pub async fn disconnect_app(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(form): Form<DisconnectForm>,
) -> PageResult {
    state
        .app
        .smart()
        .disconnect(&user.actor(ctx), &form.grant)
        .await?;
    Ok(Redirect::to("/account?done=app").into_response())
}
