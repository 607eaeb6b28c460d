//! Administration of the apps patients may connect (SMART on FHIR): the registered apps, and
//! registering one (its client id, and a confidential client's secret, shown once); and of the
//! API tokens systems such as the EHR send records with: listed, created (shown once), revoked.

use crate::AppState;
use crate::error::PageResult;
use crate::layout::{Nav, Page, form_status, render_status};
use crate::routes::{Access, Route};
use crate::security::Ctx;
use crate::session::SignedIn;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Redirect;
use axum::routing::{get, post};
use portal_app::Error;
use portal_app::auth::CurrentUser;
use portal_domain::fields::FieldErrors;
use serde::Deserialize;

/// The apps page's routes.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/admin/apps",
        access: Access::Clinic,
        serve: || get(apps),
    },
    Route {
        method: "POST",
        path: "/admin/apps",
        access: Access::Clinic,
        serve: || post(register),
    },
    Route {
        method: "POST",
        path: "/admin/apps/tokens",
        access: Access::Clinic,
        serve: || post(create_token),
    },
    Route {
        method: "POST",
        path: "/admin/apps/tokens/{id}/revoke",
        access: Access::Clinic,
        serve: || post(revoke_token),
    },
];

/// One API token (never the token itself).
pub struct TokenLine {
    id: String,
    name: String,
    scopes: String,
    created: String,
    /// When it was revoked; `None` while it works.
    revoked: Option<String>,
}

/// One registered app.
pub struct AppLine {
    name: String,
    client_id: String,
    kind: &'static str,
    redirect_uris: Vec<String>,
    registered: String,
}

#[derive(Template)]
#[template(path = "admin_apps.html")]
struct AppsPage {
    page: Page,
    apps: Vec<AppLine>,
    errors: FieldErrors,
    form_name: String,
    form_uris: String,
    form_confidential: bool,
    /// An app just registered: its name, client id and (confidential) secret.
    registered: Option<(String, String, Option<String>)>,
    tokens: Vec<TokenLine>,
    token_errors: FieldErrors,
    token_name: String,
    token_write: bool,
    token_read: bool,
    /// A token just created: its name, client id and the token, shown only now.
    created: Option<(String, String, String)>,
    /// What was just done (a token revoked).
    notice: Option<String>,
}

/// The new-token form: a name and the scopes as two checkboxes.
#[derive(Debug, Default, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    write: Option<String>,
    #[serde(default)]
    read: Option<String>,
}

impl TokenForm {
    fn scopes(&self) -> String {
        let mut scopes = Vec::new();
        if self.write.is_some() {
            scopes.push("system/*.write");
        }
        if self.read.is_some() {
            scopes.push("system/*.read");
        }
        scopes.join(" ")
    }
}

/// What the page shows besides the lists: a form's errors and what was just done.
#[derive(Default)]
struct Shown {
    errors: FieldErrors,
    form: AppForm,
    registered: Option<(String, String, Option<String>)>,
    token_errors: FieldErrors,
    token_form: TokenForm,
    created: Option<(String, String, String)>,
    /// The client id of a token just revoked (`?revoked=`).
    revoked: Option<String>,
}

/// The page's query: `?revoked=` after a token was revoked.
#[derive(Debug, Default, Deserialize)]
pub struct AppsQuery {
    revoked: Option<String>,
}

/// The registration form.
#[derive(Debug, Default, Deserialize)]
pub struct AppForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    redirect_uris: String,
    #[serde(default)]
    confidential: Option<String>,
}

async fn apps_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: portal_domain::audit::RequestContext,
    shown: Shown,
) -> PageResult {
    let actor = user.actor(ctx);
    let apps = state
        .app
        .smart()
        .apps(&actor)
        .await?
        .into_iter()
        .map(|a| AppLine {
            name: a.name,
            client_id: a.id.to_string(),
            kind: if a.secret_hash.is_some() {
                "Confidential (a server with a secret)"
            } else {
                "Public (an app on a phone or in a browser)"
            },
            redirect_uris: a.redirect_uris,
            registered: state.dates.day(a.created_at),
        })
        .collect();
    let tokens: Vec<TokenLine> = state
        .app
        .accounts()
        .api_tokens(&actor)
        .await?
        .into_iter()
        .map(|t| TokenLine {
            id: t.row.id.to_string(),
            name: t.row.name,
            scopes: t.row.scopes,
            created: state.dates.day(t.created_at),
            revoked: t.revoked_at.map(|at| state.dates.minute(at)),
        })
        .collect();
    let notice = shown.revoked.as_deref().and_then(|id| {
        tokens
            .iter()
            .find(|t| t.id == id && t.revoked.is_some())
            .map(|t| {
                format!(
                    "The token \u{201c}{}\u{201d} is revoked: the system using it can no longer \
                     send or read records.",
                    t.name
                )
            })
    });
    let status = if shown.errors.is_empty() {
        form_status(&shown.token_errors)
    } else {
        form_status(&shown.errors)
    };
    Ok(render_status(
        status,
        &AppsPage {
            page: Page::signed_in("Apps", user, Nav::Apps, None),
            apps,
            form_name: shown.form.name.clone(),
            form_uris: shown.form.redirect_uris.clone(),
            form_confidential: shown.form.confidential.is_some(),
            errors: shown.errors,
            registered: shown.registered,
            tokens,
            token_name: shown.token_form.name.clone(),
            token_write: shown.token_form.write.is_some(),
            token_read: shown.token_form.read.is_some(),
            token_errors: shown.token_errors,
            created: shown.created,
            notice,
        },
    ))
}

/// GET /admin/apps
pub async fn apps(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Query(query): Query<AppsQuery>,
) -> PageResult {
    let shown = Shown {
        revoked: query.revoked,
        ..Shown::default()
    };
    apps_page(&state, &user, ctx, shown).await
}

/// POST /admin/apps: registers an app; the page shows its client id (and secret) once.
pub async fn register(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(form): Form<AppForm>,
) -> PageResult {
    let uris: Vec<String> = form
        .redirect_uris
        .lines()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .collect();
    match state
        .app
        .smart()
        .register_app(
            &user.actor(ctx.clone()),
            &form.name,
            &uris,
            form.confidential.is_some(),
        )
        .await
    {
        Ok(app) => {
            let shown = Shown {
                registered: Some((
                    form.name.trim().to_string(),
                    app.client_id.to_string(),
                    app.secret.clone(),
                )),
                ..Shown::default()
            };
            apps_page(&state, &user, ctx, shown).await
        }
        Err(Error::Invalid(errors)) => {
            let shown = Shown {
                errors,
                form,
                ..Shown::default()
            };
            apps_page(&state, &user, ctx, shown).await
        }
        Err(e) => Err(e.into()),
    }
}

/// POST /admin/apps/tokens: creates an API token; the page shows it once.
pub async fn create_token(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(form): Form<TokenForm>,
) -> PageResult {
    match state
        .app
        .accounts()
        .create_api_token(&user.actor(ctx.clone()), &form.name, &form.scopes())
        .await
    {
        Ok(token) => {
            let shown = Shown {
                created: Some((
                    form.name.trim().to_string(),
                    token.id.to_string(),
                    token.token.clone(),
                )),
                ..Shown::default()
            };
            apps_page(&state, &user, ctx, shown).await
        }
        Err(Error::Invalid(errors)) => {
            // The form offers checkboxes, not scope text: say so in its words.
            let mut worded = FieldErrors::new();
            for (field, message) in errors.iter() {
                if *field == "scope" && form.scopes().is_empty() {
                    worded.add(
                        "scope",
                        "Choose what the system may do: send records, read them, or both.",
                    );
                } else {
                    worded.add(field, message.clone());
                }
            }
            let shown = Shown {
                token_errors: worded,
                token_form: form,
                ..Shown::default()
            };
            apps_page(&state, &user, ctx, shown).await
        }
        Err(e) => Err(e.into()),
    }
}

/// POST /admin/apps/tokens/{id}/revoke: revokes it at once, then back to the page.
pub async fn revoke_token(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> Result<Redirect, crate::error::PageError> {
    let token = state
        .app
        .accounts()
        .revoke_api_token(&user.actor(ctx), &id)
        .await?;
    Ok(Redirect::to(&format!(
        "/admin/apps?revoked={}#tokens",
        token.id
    )))
}
