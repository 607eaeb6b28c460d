//! The administrator's messaging page: the clinic's messaging settings (reply time, emergency
//! numbers, attachment limits) and its pools with their members.

use crate::AppState;
use crate::error::PageResult;
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
use portal_app::messages::Pool;
use portal_domain::audit::RequestContext;
use portal_domain::fields::FieldErrors;
use portal_domain::messages::MessagingSettings;
use serde::Deserialize;

/// The messaging page's routes.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/admin/messaging",
        access: Access::Clinic,
        serve: || get(show),
    },
    Route {
        method: "POST",
        path: "/admin/messaging/settings",
        access: Access::Clinic,
        serve: || post(save_settings),
    },
    Route {
        method: "POST",
        path: "/admin/messaging/pools",
        access: Access::Clinic,
        serve: || post(create_pool),
    },
    Route {
        method: "POST",
        path: "/admin/messaging/members",
        access: Access::Clinic,
        serve: || post(member),
    },
];

/// The settings form, as typed.
#[derive(Deserialize, Default, Clone)]
pub struct SettingsForm {
    #[serde(default)]
    reply_time: String,
    #[serde(default)]
    reply_days: String,
    #[serde(default)]
    emergency_number: String,
    #[serde(default)]
    crisis_line: String,
    #[serde(default)]
    attachment_mb: String,
    #[serde(default)]
    attachment_max_count: String,
}

impl SettingsForm {
    fn of(s: &MessagingSettings) -> Self {
        Self {
            reply_time: s.reply_time.clone(),
            reply_days: s.reply_days.to_string(),
            emergency_number: s.emergency_number.clone(),
            crisis_line: s.crisis_line.clone(),
            attachment_mb: format!("{}", s.attachment_max_bytes / (1024 * 1024)),
            attachment_max_count: s.attachment_max_count.to_string(),
        }
    }

    fn parse(&self) -> Result<MessagingSettings, FieldErrors> {
        let mut errors = FieldErrors::new();
        let number = |raw: &str| raw.trim().parse::<i64>().ok();
        let reply_days = number(&self.reply_days).unwrap_or_else(|| {
            errors.add("reply_days", "Enter a whole number of business days.");
            0
        });
        let mb = number(&self.attachment_mb).unwrap_or_else(|| {
            errors.add(
                "attachment_mb",
                "Enter a whole number of megabytes, 1 to 25.",
            );
            0
        });
        if !(1..=25).contains(&mb) && errors.get("attachment_mb").is_none() {
            errors.add(
                "attachment_mb",
                "Enter a whole number of megabytes, 1 to 25.",
            );
        }
        let count = number(&self.attachment_max_count).unwrap_or_else(|| {
            errors.add(
                "attachment_max_count",
                "Enter a whole number of files, 0 to 10.",
            );
            -1
        });
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(MessagingSettings {
            reply_time: self.reply_time.clone(),
            reply_days,
            emergency_number: self.emergency_number.clone(),
            crisis_line: self.crisis_line.clone(),
            attachment_max_bytes: usize::try_from(mb).unwrap_or(0) * 1024 * 1024,
            attachment_max_count: usize::try_from(count).unwrap_or(usize::MAX),
        })
    }
}

/// One field of the settings form.
pub struct SettingField {
    name: &'static str,
    label: &'static str,
    hint: &'static str,
    value: String,
}

impl SettingsForm {
    fn fields(self) -> Vec<SettingField> {
        let field = |name, label, hint, value| SettingField {
            name,
            label,
            hint,
            value,
        };
        vec![
            field(
                "reply_time",
                "Expected reply time",
                "Shown when patients write, e.g. “2 business days”.",
                self.reply_time,
            ),
            field(
                "reply_days",
                "Overdue after (business days)",
                "Conversations waiting longer are in the daily e-mail to the clinic.",
                self.reply_days,
            ),
            field(
                "emergency_number",
                "Emergency number",
                "Shown above every message form.",
                self.emergency_number,
            ),
            field(
                "crisis_line",
                "Crisis line",
                "Shown with the emergency number.",
                self.crisis_line,
            ),
            field(
                "attachment_mb",
                "Largest file (MB)",
                "1 to 25.",
                self.attachment_mb,
            ),
            field(
                "attachment_max_count",
                "Files per message",
                "0 to 10; together at most 50 MB.",
                self.attachment_max_count,
            ),
        ]
    }
}

#[derive(Template)]
#[template(path = "admin_messaging.html")]
struct MessagingPage {
    page: Page,
    errors: FieldErrors,
    notice: Option<&'static str>,
    fields: Vec<SettingField>,
    pools: Vec<Pool>,
    pool_name: String,
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    ctx: RequestContext,
    errors: FieldErrors,
    form: Option<SettingsForm>,
    notice: Option<&'static str>,
    pool_name: String,
) -> PageResult {
    let messages = state.app.messages();
    let pools = messages.pools(&user.actor(ctx)).await?;
    let form = match form {
        Some(f) => f,
        None => SettingsForm::of(&messages.settings().await?),
    };
    Ok(render_status(
        form_status(&errors),
        &MessagingPage {
            page: Page::signed_in("Messaging", user, Nav::Messaging, None),
            errors,
            notice,
            fields: form.fields(),
            pools,
            pool_name,
        },
    ))
}

/// What the last change was, for the notice after the redirect.
#[derive(Deserialize, Default)]
pub struct Done {
    #[serde(default)]
    saved: Option<String>,
}

/// GET /admin/messaging
pub async fn show(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Query(done): Query<Done>,
) -> PageResult {
    let notice = match done.saved.as_deref() {
        Some("settings") => Some("The messaging settings are saved."),
        Some("pool") => Some("The pool is created. Add its members below."),
        Some("member") => Some("The pool's members are changed."),
        _ => None,
    };
    page(
        &state,
        &user,
        ctx,
        FieldErrors::new(),
        None,
        notice,
        String::new(),
    )
    .await
}

/// POST /admin/messaging/settings
pub async fn save_settings(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(form): Form<SettingsForm>,
) -> PageResult {
    let result = match form.parse() {
        Ok(settings) => {
            state
                .app
                .messages()
                .set_settings(&user.actor(ctx.clone()), &settings)
                .await
        }
        Err(errors) => Err(Error::Invalid(errors)),
    };
    match result {
        Ok(()) => Ok(Redirect::to("/admin/messaging?saved=settings").into_response()),
        Err(Error::Invalid(mut errors)) => {
            // The limit is typed in megabytes here.
            if let Some(m) = errors.get("attachment_max_bytes").map(str::to_string) {
                errors.add("attachment_mb", m);
            }
            page(&state, &user, ctx, errors, Some(form), None, String::new()).await
        }
        Err(other) => Err(other.into()),
    }
}

/// The new pool form.
#[derive(Deserialize)]
pub struct PoolForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    internal: Option<String>,
}

/// POST /admin/messaging/pools
pub async fn create_pool(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(form): Form<PoolForm>,
) -> PageResult {
    match state
        .app
        .messages()
        .create_pool(
            &user.actor(ctx.clone()),
            &form.name,
            form.internal.is_none(),
        )
        .await
    {
        Ok(_) => Ok(Redirect::to("/admin/messaging?saved=pool").into_response()),
        Err(Error::Invalid(errors)) => {
            page(&state, &user, ctx, errors, None, None, form.name).await
        }
        Err(other) => Err(other.into()),
    }
}

/// The member form: add or remove one person.
#[derive(Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    pool: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    change: String,
}

/// POST /admin/messaging/members
pub async fn member(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(form): Form<MemberForm>,
) -> PageResult {
    let add = form.change != "remove";
    match state
        .app
        .messages()
        .set_pool_member(&user.actor(ctx.clone()), &form.pool, &form.email, add)
        .await
    {
        Ok(_) => Ok(Redirect::to("/admin/messaging?saved=member").into_response()),
        Err(Error::Invalid(errors)) => {
            page(&state, &user, ctx, errors, None, None, String::new()).await
        }
        Err(other) => Err(other.into()),
    }
}
