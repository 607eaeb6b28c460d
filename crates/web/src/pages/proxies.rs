//! Proxy access pages: who holds access to a record and what each grant allows (the patient, a
//! teen, or the clinic's staff), inviting a proxy, ending, limiting, widening or sharing a grant,
//! asking the clinic to remove one; and the invitation's own page, where the invitee accepts
//! with their account or a new one.

use crate::AppState;
use crate::error::{IdPath, PageResult};
use crate::layout::{Nav, Page, render_status};
use crate::pages::banner::Banner;
use crate::pages::words::basis_words;
use crate::routes::{Access, Route};
use crate::security::Ctx;
use crate::session::{MaybeUser, SignedIn, anonymous_csrf};
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use portal_app::Error;
use portal_app::auth::{CurrentUser, Stage as SignInStage};
use portal_app::proxies::{DOCUMENTS, GrantChange, InviteForm, ProxyOverview, Stage};
use portal_domain::access::{ProxyScope, Relationship};
use portal_domain::fields::FieldErrors;
use portal_domain::record::{Categories, Sensitivity};
use portal_domain::{Action, PatientId, Role};
use serde::Deserialize;

/// The proxy pages' routes.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/patients/{id}/proxies",
        access: Access::Patient(Action::ManageProxy),
        serve: || get(overview),
    },
    Route {
        method: "POST",
        path: "/patients/{id}/proxies",
        access: Access::Patient(Action::ManageProxy),
        serve: || post(act),
    },
    Route {
        method: "GET",
        path: "/proxy-invitations/{token}",
        access: Access::Public,
        serve: || get(invitation),
    },
    Route {
        method: "POST",
        path: "/proxy-invitations/{token}",
        access: Access::Public,
        serve: || post(accept),
    },
];

/// One grant, in words.
struct GrantLine {
    id: String,
    name: String,
    email: String,
    relationship: &'static str,
    reaches: String,
    since: String,
    until: Option<String>,
    ended: Option<String>,
    given_by: String,
    document: String,
    shared: Vec<(&'static str, &'static str, bool)>,
    shared_words: String,
    may_end: bool,
    may_choose: bool,
    full_now: bool,
    removal_asked: Option<String>,
    may_ask_removal: bool,
}

struct InvitationLine {
    id: String,
    may_cancel: bool,
    email: String,
    relationship: &'static str,
    reach: &'static str,
    until: String,
}

#[derive(Template)]
#[template(path = "proxies.html")]
struct ProxiesPage {
    page: Page,
    patient: Banner,
    basis: Option<String>,
    id: PatientId,
    own: bool,
    by_clinic: bool,
    stage_words: String,
    may_invite: bool,
    live: Vec<GrantLine>,
    past: Vec<GrantLine>,
    invitations: Vec<InvitationLine>,
    errors: FieldErrors,
    notice: Option<String>,
    form: InviteFields,
    relationships: Vec<(&'static str, &'static str)>,
    documents: &'static [&'static str],
    date_hint: &'static str,
}

/// The invitation form as typed, to show again.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct InviteFields {
    #[serde(default)]
    email: String,
    #[serde(default)]
    relationship: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    document: String,
}

/// What the page's forms post.
#[derive(Debug, Default, Deserialize)]
pub struct ActForm {
    /// invite, end, full, limited, share, ask-removal, cancel-invitation.
    #[serde(default, rename = "do")]
    action: String,
    #[serde(default)]
    grant: String,
    #[serde(flatten)]
    invite: InviteFields,
    /// Shared categories, one field each (`share-mental-health=on`).
    #[serde(flatten)]
    rest: std::collections::HashMap<String, String>,
}

fn reach_words(scope: Option<ProxyScope>, given: &str) -> String {
    match scope {
        Some(ProxyScope::Full) => format!(
            "Everything {given} can see and do in the portal, except confidential items not \
             shared with them"
        ),
        Some(ProxyScope::NonClinical) => {
            "Appointments and messages only; not the health record".to_string()
        }
        None => "Nothing now".to_string(),
    }
}

fn stage_words(o: &ProxyOverview, own: bool) -> String {
    let given = o.patient.given_name.trim();
    let teen = o
        .rules
        .ages
        .bands
        .iter()
        .find(|b| b.patient_may_widen)
        .map_or(12, |b| b.from_age);
    let adult = o
        .rules
        .ages
        .bands
        .iter()
        .find(|b| b.parent_reach == portal_domain::access::ParentReach::Ended)
        .map_or(18, |b| b.from_age);
    let last = adult.saturating_sub(1);
    match (o.stage, own) {
        (Stage::Adult, true) => "Only people you invite can see your record. You can limit or end their access at any time.".into(),
        (Stage::Teen, true) => format!(
            "Until you turn {adult}, your parents or guardians can see your appointments and \
             messages. Your health record is private to you unless you give them full access. \
             Confidential items stay private unless you share them with a named person."
        ),
        (Stage::Child, _) => format!(
            "{given} is under {teen}: a parent or guardian can see and do everything for {given} \
             except confidential items."
        ),
        (Stage::Teen, false) => format!(
            "{given} is between {teen} and {last}: a parent's access covers appointments and messages \
             unless {given} gives them full access from {given}'s own account."
        ),
        (Stage::Adult, false) => format!(
            "{given} is an adult: only grants {given} makes count. A parent's earlier access has ended."
        ),
    }
}

fn grant_lines(state: &AppState, o: &ProxyOverview, own: bool) -> (Vec<GrantLine>, Vec<GrantLine>) {
    let given = o.patient.given_name.trim().to_string();
    let mut live = Vec::new();
    let mut past = Vec::new();
    for g in &o.grants {
        let row = &g.row;
        let line = GrantLine {
            id: row.id.clone(),
            name: row.proxy_name.clone(),
            email: row.proxy_email.clone(),
            relationship: row.relationship.words(),
            reaches: reach_words(g.reaches, &given),
            since: state.dates.day(row.starts_at),
            until: row.ends_at.map(|t| state.dates.day(t)),
            ended: row.revoked_at.map(|t| state.dates.day(t)),
            given_by: row.granted_by.clone(),
            document: row.document_checked.clone(),
            shared: Sensitivity::ALL
                .iter()
                .filter(|s| o.rules.confidential.contains(**s))
                .map(|s| (s.as_str(), s.words(), row.shared.contains(*s)))
                .collect(),
            shared_words: {
                let shared: Vec<&str> = row
                    .shared
                    .iter()
                    .filter(|s| o.rules.confidential.contains(*s))
                    .map(Sensitivity::words)
                    .collect();
                if shared.is_empty() {
                    "None".into()
                } else {
                    shared.join(", ")
                }
            },
            may_end: g.may_end,
            may_choose: own && g.live && o.stage != Stage::Child,
            full_now: g.reaches == Some(ProxyScope::Full),
            removal_asked: row.removal_requested_at.map(|t| state.dates.day(t)),
            may_ask_removal: own && g.live && !g.may_end,
        };
        if g.live && g.reaches.is_some() {
            live.push(line);
        } else {
            past.push(line);
        }
    }
    (live, past)
}

#[allow(clippy::too_many_arguments)]
async fn render_page(
    state: &AppState,
    user: &CurrentUser,
    ctx: portal_domain::audit::RequestContext,
    id: PatientId,
    errors: FieldErrors,
    notice: Option<String>,
    form: InviteFields,
) -> PageResult {
    let o = state.app.proxies().overview(&user.actor(ctx), id).await?;
    let own = user.patient_id == Some(id);
    let (live, past) = grant_lines(state, &o, own);
    let invitations = o
        .invitations
        .iter()
        .map(|i| InvitationLine {
            id: i.id.clone(),
            may_cancel: o.by_clinic || i.by_patient || o.stage == Stage::Adult,
            email: i.email.clone(),
            relationship: i.relationship.words(),
            reach: match i.scope {
                _ if !i.by_patient => "what the age rules allow",
                Some(ProxyScope::Full) => "full access",
                _ => "appointments and messages",
            },
            until: state.dates.day(i.expires_at),
        })
        .collect();
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let title = if own {
        "Who can see your record"
    } else {
        "Proxy access"
    };
    let nav = if user.role == Role::Patient {
        Nav::Account
    } else {
        Nav::Patients
    };
    Ok(render_status(
        status,
        &ProxiesPage {
            page: Page::signed_in(title, user, nav, Some(id)),
            patient: Banner::new(&o.patient, &state.dates, state.app.now()),
            basis: basis_words(&o.access, &o.patient),
            id,
            own,
            by_clinic: o.by_clinic,
            stage_words: stage_words(&o, own),
            may_invite: if o.by_clinic {
                o.stage != Stage::Adult
            } else {
                o.stage != Stage::Child
            },
            live,
            past,
            invitations,
            errors,
            notice,
            form,
            relationships: Relationship::ALL
                .iter()
                .map(|r| (r.as_str(), r.words()))
                .collect(),
            documents: &DOCUMENTS,
            date_hint: "YYYY-MM-DD",
        },
    ))
}

/// GET /patients/{id}/proxies
pub async fn overview(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
) -> PageResult {
    render_page(
        &state,
        &user,
        ctx,
        id,
        FieldErrors::new(),
        None,
        InviteFields::default(),
    )
    .await
}

/// POST /patients/{id}/proxies: one of the page's forms.
pub async fn act(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Ctx(ctx): Ctx,
    IdPath(id): IdPath<PatientId>,
    Form(form): Form<ActForm>,
) -> PageResult {
    let proxies = state.app.proxies();
    let actor = user.actor(ctx.clone());
    let change = |what| proxies.change(&actor, id, &form.grant, what);
    let result = match form.action.as_str() {
        "invite" => proxies
            .invite(
                &actor,
                id,
                &InviteForm {
                    email: form.invite.email.clone(),
                    relationship: form.invite.relationship.clone(),
                    scope: form.invite.scope.clone(),
                    until: form.invite.until.clone(),
                    document: form.invite.document.clone(),
                },
            )
            .await
            .map(|_| {
                format!(
                    "An invitation was sent to {}. They get access once they accept it.",
                    form.invite.email.trim()
                )
            }),
        "end" => change(GrantChange::End)
            .await
            .map(|()| "Their access has ended.".to_string()),
        "full" => change(GrantChange::Reach(ProxyScope::Full))
            .await
            .map(|()| {
                "They now have full access (confidential items stay private unless you share them)."
                    .to_string()
            }),
        "limited" => change(GrantChange::Reach(ProxyScope::NonClinical))
            .await
            .map(|()| "They now see appointments and messages only.".to_string()),
        "share" => {
            let shared: Categories = Sensitivity::ALL
                .into_iter()
                .filter(|s| form.rest.contains_key(&format!("share-{}", s.as_str())))
                .collect();
            change(GrantChange::Share(shared))
                .await
                .map(|()| "What you share with them was saved.".to_string())
        }
        "ask-removal" => change(GrantChange::AskRemoval).await.map(|()| {
            "The clinic was asked to remove this person's access. They will contact you."
                .to_string()
        }),
        "cancel-invitation" => proxies
            .cancel_invitation(&actor, id, &form.grant)
            .await
            .map(|()| "The invitation was cancelled.".to_string()),
        _ => Err(Error::field("do", "Choose what to do.")),
    };
    match result {
        Ok(notice) => {
            render_page(
                &state,
                &user,
                ctx,
                id,
                FieldErrors::new(),
                Some(notice),
                InviteFields::default(),
            )
            .await
        }
        Err(Error::Invalid(errors)) => {
            render_page(&state, &user, ctx, id, errors, None, form.invite).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "proxy_invitation.html")]
struct InvitationPage {
    page: Page,
    token: String,
    /// What is offered (in words), whose record, until when the link works.
    found: Option<(String, String, String)>,
    email: String,
    signed_in: bool,
    errors: FieldErrors,
    name: String,
}

async fn invitation_page(
    state: &AppState,
    ctx: &portal_domain::audit::RequestContext,
    token: &str,
    user: Option<&CurrentUser>,
    csrf: &str,
    errors: FieldErrors,
    name: String,
) -> Result<Response, crate::error::PageError> {
    let preview = state.app.proxies().invitation(token, ctx).await?;
    let status = match (&preview, errors.is_empty()) {
        (None, _) => StatusCode::NOT_FOUND,
        (Some(_), false) => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::OK,
    };
    let email = preview
        .as_ref()
        .map(|p| p.invitation.email.clone())
        .unwrap_or_default();
    let clinic = state.app.config().clinic_name.clone();
    let found = preview.map(|p| {
        let name = p.patient_name.clone();
        let role = match p.invitation.relationship {
            Relationship::Parent => "parent or guardian",
            Relationship::Caregiver => "caregiver",
            Relationship::Other => "proxy",
        };
        let offer = if p.invitation.by_patient {
            let reach = match p.invitation.scope {
                Some(ProxyScope::Full) => {
                    "see their record and act for them; confidential items stay private unless they share them"
                }
                _ => "see their appointments and messages and act on them; not their health record",
            };
            format!("{name} invites you to be their {role} in the {clinic} patient portal: to {reach}.")
        } else {
            format!(
                "{clinic} checked your identity and invites you to act for {name} as their {role} \
                 in the patient portal. What you can see follows the clinic's rules for the \
                 patient's age; confidential items stay private."
            )
        };
        (offer, name, state.dates.day(p.invitation.expires_at))
    });
    let page = match user {
        Some(user) => Page::signed_in("Proxy invitation", user, Nav::Home, None),
        None => Page::anonymous_form("Proxy invitation", csrf),
    };
    Ok(render_status(
        status,
        &InvitationPage {
            page,
            token: token.to_string(),
            found,
            email,
            signed_in: user.is_some(),
            errors,
            name,
        },
    ))
}

/// GET /proxy-invitations/{token}
pub async fn invitation(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Ctx(ctx): Ctx,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, crate::error::PageError> {
    match user {
        Some(user) if user.stage != SignInStage::Full => {
            Ok(Redirect::to("/signin").into_response())
        }
        Some(user) => {
            invitation_page(
                &state,
                &ctx,
                &token,
                Some(&user),
                "",
                FieldErrors::new(),
                String::new(),
            )
            .await
        }
        None => {
            let (csrf, cookie) = anonymous_csrf(&state, &headers);
            let page = invitation_page(
                &state,
                &ctx,
                &token,
                None,
                &csrf,
                FieldErrors::new(),
                String::new(),
            )
            .await?;
            Ok(crate::pages::auth::with_cookie(page, cookie))
        }
    }
}

/// The invitation's forms.
#[derive(Debug, Default, Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

/// POST /proxy-invitations/{token}: accepts with the signed-in account, or with a new one.
pub async fn accept(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Ctx(ctx): Ctx,
    Path(token): Path<String>,
    Form(form): Form<AcceptForm>,
) -> Result<Response, crate::error::PageError> {
    let proxies = state.app.proxies();
    match user {
        Some(user) if user.stage != SignInStage::Full => {
            Ok(Redirect::to("/signin").into_response())
        }
        Some(user) => match proxies.accept(&user.actor(ctx.clone()), &token).await {
            Ok(patient) => Ok(Redirect::to(&format!("/patients/{patient}")).into_response()),
            Err(Error::Invalid(errors)) => {
                invitation_page(&state, &ctx, &token, Some(&user), "", errors, String::new()).await
            }
            Err(Error::NotFound) => {
                invitation_page(
                    &state,
                    &ctx,
                    &token,
                    Some(&user),
                    "",
                    FieldErrors::new(),
                    String::new(),
                )
                .await
            }
            Err(e) => Err(e.into()),
        },
        None => match proxies
            .accept_with_new_account(&token, &form.name, &form.password, &ctx)
            .await
        {
            Ok(_) => Ok(Redirect::to("/signin?done=proxy").into_response()),
            Err(Error::Invalid(errors)) => {
                invitation_page(&state, &ctx, &token, None, &form.csrf, errors, form.name).await
            }
            Err(Error::NotFound) => {
                invitation_page(
                    &state,
                    &ctx,
                    &token,
                    None,
                    &form.csrf,
                    FieldErrors::new(),
                    form.name,
                )
                .await
            }
            Err(e) => Err(e.into()),
        },
    }
}

/// Patients' open requests that the clinic remove a proxy, as the front desk's lists show them:
/// the link to the record's proxy access, the patient, the proxy, and the day asked.
pub async fn removal_lines(
    state: &AppState,
    actor: &portal_app::Actor,
) -> Result<Vec<(String, String, String, String)>, portal_app::Error> {
    Ok(state
        .app
        .proxies()
        .removal_requests(actor)
        .await?
        .into_iter()
        .map(|r| {
            (
                format!("/patients/{}/proxies", r.patient),
                r.patient_name,
                r.proxy_name,
                state.dates.day(r.asked_at),
            )
        })
        .collect())
}
