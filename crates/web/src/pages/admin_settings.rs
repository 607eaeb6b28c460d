//! The clinic settings overview: every setting's value in force and where it comes from (set
//! on an administration page, a start-up variable, or the built-in default), with a link to
//! the page that changes it.

use crate::AppState;
use crate::error::PageResult;
use crate::layout::{Nav, Page, render};
use crate::routes::{Access, Route};
use crate::security::Ctx;
use crate::session::SignedIn;
use askama::Template;
use axum::extract::State;
use axum::routing::get;
use portal_app::clinic_settings::Source;

/// The overview's route.
pub const ROUTES: &[Route] = &[Route {
    method: "GET",
    path: "/admin/settings",
    access: Access::Clinic,
    serve: || get(settings),
}];

/// One setting as the page shows it.
struct Line {
    label: &'static str,
    value: String,
    source: String,
}

/// One group of settings.
struct Group {
    title: &'static str,
    id: String,
    change: Option<&'static str>,
    lines: Vec<Line>,
}

#[derive(Template)]
#[template(path = "admin_settings.html")]
struct SettingsPage {
    page: Page,
    groups: Vec<Group>,
}

/// GET /admin/settings
pub async fn settings(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
) -> PageResult {
    let groups = state
        .app
        .clinic()
        .settings_overview(&user.actor(ctx))
        .await?
        .into_iter()
        .enumerate()
        .map(|(i, g)| Group {
            title: g.title,
            id: format!("group-{}", i + 1),
            change: g.change,
            lines: g
                .lines
                .into_iter()
                .map(|l| Line {
                    label: l.label,
                    value: l.value,
                    source: match (l.source, l.variable) {
                        (Source::Stored { by, at }, _) if by == "cli" => {
                            format!("Stored from the command line, {}", state.dates.minute(at))
                        }
                        (Source::Stored { by, at }, _) => {
                            format!("Stored by {by}, {}", state.dates.minute(at))
                        }
                        (Source::StartUp, Some(v)) => format!("Start-up setting {v}"),
                        (Source::StartUp, None) => "Start-up setting".into(),
                        (Source::BuiltIn, Some(v)) => {
                            format!("Built-in default (start-up setting {v} changes it)")
                        }
                        (Source::BuiltIn, None) => "Built-in default".into(),
                    },
                })
                .collect(),
        })
        .collect();
    Ok(render(&SettingsPage {
        page: Page::signed_in("Clinic settings", &user, Nav::Settings, None),
        groups,
    }))
}
