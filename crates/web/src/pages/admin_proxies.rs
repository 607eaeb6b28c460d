//! The clinic's rules for proxies (admins): the age rules in force, named for their
//! jurisdiction and edited as a table of bands, and the confidential categories kept from
//! proxies. Every change is audited and reaches the next request of every session.

use crate::AppState;
use crate::error::PageResult;
use crate::layout::{Nav, Page, form_status, render_status};
use crate::routes::{Access, Route};
use crate::security::Ctx;
use crate::session::SignedIn;
use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::routing::{get, post};
use portal_app::Error;
use portal_app::auth::CurrentUser;
use portal_domain::access::{AgeBand, AgeRules, ParentReach};
use portal_domain::fields::FieldErrors;
use portal_domain::record::{Categories, Sensitivity};
use serde::Deserialize;
use std::collections::HashMap;

/// The page's routes.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/admin/proxy-rules",
        access: Access::Clinic,
        serve: || get(show),
    },
    Route {
        method: "POST",
        path: "/admin/proxy-rules",
        access: Access::Clinic,
        serve: || post(save),
    },
];

/// Rows the band table offers.
const ROWS: usize = 5;

struct BandRow {
    from: String,
    until: String,
    reach: &'static str,
    widen: bool,
}

#[derive(Template)]
#[template(path = "admin_proxy_rules.html")]
struct RulesPage {
    page: Page,
    errors: FieldErrors,
    notice: Option<&'static str>,
    jurisdiction: String,
    others: Vec<(String, String)>,
    bands: Vec<(usize, BandRow)>,
    categories: Vec<(&'static str, &'static str, bool)>,
    reaches: [(&'static str, &'static str); 3],
}

fn reach_key(reach: ParentReach) -> &'static str {
    match reach {
        ParentReach::Full => "full",
        ParentReach::Limited => "limited",
        ParentReach::Ended => "ended",
    }
}

fn rows_of(rules: &AgeRules) -> Vec<(usize, BandRow)> {
    (0..ROWS)
        .map(|i| {
            let row = rules.bands.get(i).map_or(
                BandRow {
                    from: String::new(),
                    until: String::new(),
                    reach: "ended",
                    widen: false,
                },
                |b| BandRow {
                    from: b.from_age.to_string(),
                    until: b.until_age.map(|u| u.to_string()).unwrap_or_default(),
                    reach: reach_key(b.parent_reach),
                    widen: b.patient_may_widen,
                },
            );
            (i, row)
        })
        .collect()
}

fn describe(rules: &AgeRules) -> String {
    rules
        .bands
        .iter()
        .map(|b| {
            let ages = match b.until_age {
                Some(u) => format!("{}–{}", b.from_age, u.saturating_sub(1)),
                None => format!("{}+", b.from_age),
            };
            format!("{ages}: {}", reach_key(b.parent_reach))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

async fn page(
    state: &AppState,
    user: &CurrentUser,
    ctx: portal_domain::audit::RequestContext,
    errors: FieldErrors,
    notice: Option<&'static str>,
    typed: Option<(AgeRules, Categories)>,
) -> PageResult {
    let (rules, all) = state.app.proxies().settings(&user.actor(ctx)).await?;
    let (shown, confidential) = typed.unwrap_or((rules.ages.clone(), rules.confidential));
    let status = form_status(&errors);
    Ok(render_status(
        status,
        &RulesPage {
            page: Page::signed_in("Proxy rules", user, Nav::ProxyRules, None),
            errors,
            notice,
            jurisdiction: shown.jurisdiction.clone(),
            others: all
                .iter()
                .map(|r| (r.jurisdiction.clone(), describe(r)))
                .collect(),
            bands: rows_of(&shown),
            categories: Sensitivity::ALL
                .iter()
                .map(|s| (s.as_str(), s.words(), confidential.contains(*s)))
                .collect(),
            reaches: [("full", "Full"), ("limited", "Limited"), ("ended", "Ended")],
        },
    ))
}

/// GET /admin/proxy-rules
pub async fn show(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
) -> PageResult {
    page(&state, &user, ctx, FieldErrors::new(), None, None).await
}

/// The form: `jurisdiction`, `from-N`, `until-N`, `reach-N`, `widen-N`, `confidential-<name>`.
#[derive(Debug, Default, Deserialize)]
pub struct RulesForm {
    #[serde(flatten)]
    fields: HashMap<String, String>,
}

fn parse(form: &RulesForm) -> Result<(AgeRules, Categories), FieldErrors> {
    let field = |name: &str| form.fields.get(name).map(|v| v.trim()).unwrap_or("");
    let mut errors = FieldErrors::new();
    let mut bands = Vec::new();
    for i in 0..ROWS {
        let from = field(&format!("from-{i}"));
        if from.is_empty() {
            continue;
        }
        let age = |text: &str| text.parse::<u8>().ok().filter(|a| *a <= 120);
        let Some(from_age) = age(from) else {
            errors.add(
                "bands",
                format!(
                    "Row {}: the first age must be a whole number from 0 to 120.",
                    i + 1
                ),
            );
            continue;
        };
        let until = field(&format!("until-{i}"));
        let until_age = if until.is_empty() {
            None
        } else {
            match age(until) {
                Some(u) => Some(u),
                None => {
                    errors.add(
                        "bands",
                        format!(
                            "Row {}: the end age must be a whole number from 0 to 120, or empty.",
                            i + 1
                        ),
                    );
                    continue;
                }
            }
        };
        let parent_reach = match field(&format!("reach-{i}")) {
            "full" => ParentReach::Full,
            "limited" => ParentReach::Limited,
            _ => ParentReach::Ended,
        };
        bands.push(AgeBand {
            from_age,
            until_age,
            parent_reach,
            patient_may_widen: form.fields.contains_key(&format!("widen-{i}")),
        });
    }
    let rules = AgeRules {
        jurisdiction: field("jurisdiction").to_string(),
        bands,
    };
    if errors.is_empty()
        && let Err(e) = rules.check()
    {
        errors.add("bands", e.0);
    }
    let confidential = Sensitivity::ALL
        .into_iter()
        .filter(|s| {
            form.fields
                .contains_key(&format!("confidential-{}", s.as_str()))
        })
        .collect();
    if errors.is_empty() {
        Ok((rules, confidential))
    } else {
        Err(errors)
    }
}

/// POST /admin/proxy-rules
pub async fn save(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    Form(form): Form<RulesForm>,
) -> PageResult {
    let (rules, confidential) = match parse(&form) {
        Ok(parsed) => parsed,
        Err(errors) => {
            return page(&state, &user, ctx, errors, None, None).await;
        }
    };
    match state
        .app
        .proxies()
        .save_settings(&user.actor(ctx.clone()), &rules, confidential)
        .await
    {
        Ok(()) => {
            page(
                &state,
                &user,
                ctx,
                FieldErrors::new(),
                Some("Saved. The rules apply from the next request."),
                None,
            )
            .await
        }
        Err(Error::Invalid(errors)) => {
            page(
                &state,
                &user,
                ctx,
                errors,
                None,
                Some((rules, confidential)),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}
