//! SMART on FHIR (App Launch 2.0, standalone launch): apps an admin registers; the
//! authorization code flow with PKCE (S256 only), where a patient (or a proxy) signs in and
//! grants an app some of what it asks for on one record; the token endpoint (codes and refresh
//! tokens used once, a replay revoking what the first use issued); introspection and
//! revocation; and the bearer check that turns an app's token into a [`Principal::App`].
//!
//! Tokens and codes are random (256 bits), handed out once and stored as SHA-256 hashes.
//! Errors the app may be told go back as OAuth errors; an authorization request with an unknown
//! client or redirect URI is never redirected anywhere.

mod id_token;

use crate::services::Smart;
use crate::{Actor, Error, Result, commit, crypto};
use jiff::{SignedDuration, Timestamp};
use portal_domain::access::{
    Action, ClinicAction, Interaction, SmartScopes, TypeAccess, authorize, authorize_clinic,
};
use portal_domain::audit::{AuditAction, Outcome, RequestContext};
use portal_domain::fields::FieldErrors;
use portal_domain::ids::ClientId;
use portal_domain::{PatientId, Principal};
use portal_store::smart::{self as store, AuthRequest, SmartApp, Taken};
use subtle::ConstantTimeEq;

/// What every app access token starts with (how the API tells it from a system client's).
pub const ACCESS_TOKEN_PREFIX: &str = "ppa_";

/// How long an access token lives.
pub const ACCESS_LIFETIME: SignedDuration = SignedDuration::from_hours(1);
/// How long refresh tokens work after the patient grants access (stated on the consent page).
pub const REFRESH_LIFETIME_DAYS: i64 = 90;
/// How long a code may wait for its exchange.
const CODE_LIFETIME: SignedDuration = SignedDuration::from_mins(5);
/// How long an authorization request may wait for sign-in and consent.
const REQUEST_LIFETIME: SignedDuration = SignedDuration::from_mins(30);
/// The most redirect URIs one app registers.
const MAX_REDIRECT_URIS: usize = 10;

/// An app just registered: the secret (for a confidential client) is shown once.
pub struct RegisteredApp {
    /// The client id.
    pub client_id: ClientId,
    /// The client secret, for a confidential client.
    pub secret: Option<String>,
}

impl std::fmt::Debug for RegisteredApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredApp")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// The parameters of an authorization request, as sent.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct AuthorizeParams {
    /// Must be `code`.
    pub response_type: Option<String>,
    /// The app.
    pub client_id: Option<String>,
    /// Where to answer (one of the app's registered URIs, exactly).
    pub redirect_uri: Option<String>,
    /// What the app asks for.
    pub scope: Option<String>,
    /// Returned unchanged.
    pub state: Option<String>,
    /// The FHIR base the app means to read: must be this portal's, exactly.
    pub aud: Option<String>,
    /// The PKCE challenge.
    pub code_challenge: Option<String>,
    /// Must be `S256`.
    pub code_challenge_method: Option<String>,
}

/// Why an authorization request was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthorizeRefusal {
    /// The client or redirect URI cannot be trusted: tell the person, redirect nowhere.
    Here(String),
    /// Tell the app, at its redirect URI, with `state`.
    ToApp {
        /// The redirect URI (registered).
        redirect_uri: String,
        /// The OAuth error code.
        error: &'static str,
        /// Words for the app's developer.
        description: String,
        /// The app's state.
        state: Option<String>,
    },
}

impl AuthorizeRefusal {
    /// The address to send the browser to, for a refusal told to the app.
    pub fn redirect(&self) -> Option<String> {
        match self {
            AuthorizeRefusal::Here(_) => None,
            AuthorizeRefusal::ToApp {
                redirect_uri,
                error,
                description,
                state,
            } => {
                let mut pairs = vec![("error", error.to_string())];
                pairs.push(("error_description", description.clone()));
                if let Some(state) = state {
                    pairs.push(("state", state.clone()));
                }
                Some(with_query(redirect_uri, &pairs))
            }
        }
    }
}

/// What the consent page shows.
#[derive(Clone, Debug)]
pub struct Consent {
    /// The app's name.
    pub app_name: String,
    /// The records the person may connect it to (their own first), with names.
    pub records: Vec<(PatientId, String)>,
    /// The resource types asked for, in the order asked (`*`: everything).
    pub types: Vec<String>,
    /// Whether the app asks to keep reading without the patient (a refresh token).
    pub offline: bool,
    /// Whether it asks who the person is (`openid fhirUser`).
    pub identity: bool,
    /// Where the answer goes (the app's registered redirect URI).
    pub redirect_uri: String,
}

/// An answer of the token endpoint.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TokenAnswer {
    /// The access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds it lives.
    pub expires_in: i64,
    /// What was granted.
    pub scope: String,
    /// The record, for `launch/patient`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient: Option<String>,
    /// A refresh token, for `offline_access`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// An OpenID Connect ID token, for `openid fhirUser`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// An OAuth error of the token, introspection or revocation endpoint (RFC 6749 §5.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthError {
    /// The error code (`invalid_grant`, `invalid_client`, …).
    pub error: &'static str,
    /// Words for the app's developer.
    pub description: String,
}

fn oauth(error: &'static str, description: impl Into<String>) -> OAuthError {
    OAuthError {
        error,
        description: description.into(),
    }
}

/// A token request's form, as sent.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct TokenParams {
    /// `authorization_code` or `refresh_token`.
    pub grant_type: Option<String>,
    /// The code.
    pub code: Option<String>,
    /// The redirect URI the code was issued to.
    pub redirect_uri: Option<String>,
    /// The PKCE verifier.
    pub code_verifier: Option<String>,
    /// The refresh token.
    pub refresh_token: Option<String>,
    /// The client (public clients; or confidential ones posting their secret).
    pub client_id: Option<String>,
    /// A confidential client's secret, posted.
    pub client_secret: Option<String>,
}

/// The client a request authenticates as: from HTTP Basic, else from the form.
#[derive(Clone, Debug, Default)]
pub struct ClientCredentials {
    /// The client id.
    pub id: Option<String>,
    /// The secret.
    pub secret: Option<String>,
}

/// Whether a redirect URI may be registered: absolute, `https`, or `http` on the loopback
/// address (apps on the patient's own machine), with no fragment.
fn redirect_uri_ok(uri: &str) -> bool {
    let lower = uri.to_ascii_lowercase();
    let secure = lower.starts_with("https://");
    let loopback = ["http://localhost", "http://127.0.0.1", "http://[::1]"]
        .iter()
        .any(|p| {
            lower
                .strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/', '?']))
        });
    (secure || loopback)
        && uri.len() <= 500
        && !uri.contains('#')
        && !uri.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `uri` with `pairs` added to its query.
fn with_query(uri: &str, pairs: &[(&str, String)]) -> String {
    let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
    let joiner = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{joiner}{query}")
}

/// Whether a PKCE verifier matches an S256 challenge (RFC 7636).
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    use sha2::{Digest, Sha256};
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !well_formed {
        return false;
    }
    let computed = data_encoding::BASE64URL_NOPAD.encode(&Sha256::digest(verifier.as_bytes()));
    bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

impl Smart {
    /// The FHIR base apps must name as `aud`.
    pub fn fhir_base(&self) -> String {
        format!("{}/fhir", self.config().public_url.trim_end_matches('/'))
    }

    /// Registers an app (admins and the operator).
    pub async fn register_app(
        &self,
        actor: &Actor,
        name: &str,
        redirect_uris: &[String],
        confidential: bool,
    ) -> Result<RegisteredApp> {
        let admin = authorize_clinic(&actor.principal, ClinicAction::ManageUsers)
            .map_err(|_| Error::Forbidden)?;
        let mut errors = FieldErrors::new();
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            errors.add("name", "Name is required (at most 100 characters).");
        }
        if redirect_uris.is_empty() || redirect_uris.len() > MAX_REDIRECT_URIS {
            errors.add(
                "redirect_uri",
                format!("Give between 1 and {MAX_REDIRECT_URIS} redirect URIs."),
            );
        }
        if let Some(bad) = redirect_uris.iter().find(|u| !redirect_uri_ok(u)) {
            errors.add(
                "redirect_uri",
                format!(
                    "{} is not a redirect URI the portal accepts: https://…, or http:// on \
                     localhost, with no fragment.",
                    bad.chars().take(100).collect::<String>()
                ),
            );
        }
        if !errors.is_empty() {
            return Err(Error::Invalid(errors));
        }
        let now = self.now();
        let client_id = ClientId::new_v7(now);
        let secret = confidential.then(|| format!("pps_{}", crypto::random_token()));
        let mut tx = self.store().begin().await?;
        store::register(
            &mut tx,
            &admin,
            &SmartApp {
                id: client_id,
                name: name.to_string(),
                redirect_uris: redirect_uris.to_vec(),
                secret_hash: secret.as_deref().map(crypto::sha256_hex),
                created_at: now,
            },
        )
        .await?;
        let mut event = self.event(actor, AuditAction::Create, "SmartApp", Outcome::Success);
        event.resource_id = Some(client_id.to_string());
        event.detail = format!(
            "{} client, {} redirect URI(s)",
            if confidential {
                "confidential"
            } else {
                "public"
            },
            redirect_uris.len()
        );
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        Ok(RegisteredApp { client_id, secret })
    }

    /// The registered apps (admins).
    pub async fn apps(&self, actor: &Actor) -> Result<Vec<SmartApp>> {
        let admin = authorize_clinic(&actor.principal, ClinicAction::ManageUsers)
            .map_err(|_| Error::Forbidden)?;
        let mut conn = self.conn().await?;
        Ok(store::apps(&mut conn, &admin).await?)
    }

    /// Checks an authorization request and keeps it for the person to answer: its id.
    pub async fn begin_authorization(
        &self,
        params: &AuthorizeParams,
    ) -> Result<std::result::Result<String, AuthorizeRefusal>> {
        let here = |m: &str| Ok(Err(AuthorizeRefusal::Here(m.to_string())));
        let Some(client_id) = params.client_id.as_deref().filter(|c| c.len() <= 64) else {
            return here("The app did not say who it is.");
        };
        let mut conn = self.conn().await?;
        let Some(app) = store::app(&mut conn, client_id).await? else {
            return here("This app is not registered with the portal.");
        };
        drop(conn);
        let Some(redirect_uri) = params
            .redirect_uri
            .as_deref()
            .filter(|u| app.redirect_uris.iter().any(|r| r == u))
        else {
            return here("The app asked to answer at an address it has not registered.");
        };
        let state = params.state.clone().filter(|s| s.len() <= 500);
        let to_app = |error: &'static str, description: &str| {
            Ok(Err(AuthorizeRefusal::ToApp {
                redirect_uri: redirect_uri.to_string(),
                error,
                description: description.to_string(),
                state: state.clone(),
            }))
        };
        if params.response_type.as_deref() != Some("code") {
            return to_app("unsupported_response_type", "response_type must be code.");
        }
        let Some(state) = state.clone().filter(|s| !s.is_empty()) else {
            return to_app("invalid_request", "state is required.");
        };
        if params.aud.as_deref() != Some(self.fhir_base().as_str()) {
            return to_app(
                "invalid_request",
                "aud must be this portal's FHIR base URL, exactly.",
            );
        }
        let Some(challenge) = params.code_challenge.as_deref() else {
            return to_app("invalid_request", "PKCE is required: send code_challenge.");
        };
        if params.code_challenge_method.as_deref() != Some("S256") {
            return to_app("invalid_request", "code_challenge_method must be S256.");
        }
        let challenge_ok = challenge.len() == 43
            && challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'));
        if !challenge_ok {
            return to_app(
                "invalid_request",
                "code_challenge must be a base64url SHA-256.",
            );
        }
        let scope = params.scope.clone().unwrap_or_default();
        if !SmartScopes::parse(&scope).reads_anything() {
            return to_app(
                "invalid_scope",
                "Ask for patient/ scopes to read (patient/*.read, patient/Observation.rs …).",
            );
        }
        let now = self.now();
        let request = AuthRequest {
            id: crypto::random_token(),
            app_id: app.id,
            redirect_uri: redirect_uri.to_string(),
            scope: scope.chars().take(4_000).collect(),
            state,
            code_challenge: challenge.to_string(),
            user_id: None,
            expires_at: now + REQUEST_LIFETIME,
            answered_at: None,
        };
        let mut conn = self.conn().await?;
        store::add_request(&mut conn, &request, now).await?;
        Ok(Ok(request.id))
    }

    /// The request `id` for the signed-in person: bound to them (nobody else may answer it),
    /// unanswered and unexpired.
    async fn open_request(&self, actor: &Actor, id: &str) -> Result<(AuthRequest, SmartApp)> {
        let user = actor.principal.user_id().ok_or(Error::NotFound)?;
        if !matches!(
            actor.principal,
            Principal::User {
                role: portal_domain::Role::Patient,
                ..
            }
        ) {
            return Err(Error::NotFound);
        }
        let mut conn = self.conn().await?;
        let request = store::request_for(&mut conn, id, user)
            .await?
            .filter(|r| r.answered_at.is_none() && r.expires_at > self.now())
            .ok_or(Error::NotFound)?;
        let app = store::app(&mut conn, &request.app_id.to_string())
            .await?
            .ok_or(Error::NotFound)?;
        Ok((request, app))
    }

    /// The records this person may connect an app to (the policy's `UseApi`): their own, and
    /// those they hold a full grant for.
    async fn connectable(&self, actor: &Actor) -> Result<Vec<(PatientId, String)>> {
        let rows = self.records().my_patients(actor).await?;
        let ids: Vec<PatientId> = rows.iter().map(|r| r.id).collect();
        let mut conn = self.conn().await?;
        let facts = portal_store::access::record_facts_of_many(
            &mut conn,
            actor.principal.deciding_user(),
            &ids,
        )
        .await?;
        let now = self.now();
        Ok(rows
            .into_iter()
            .filter(|row| {
                facts.get(&row.id).is_some_and(|read| {
                    authorize(&actor.principal, row.id, Action::UseApi, &read.facts, now).is_ok()
                })
            })
            .map(|row| (row.id, row.display_name()))
            .collect())
    }

    /// What the consent page shows for request `id`.
    pub async fn consent(&self, actor: &Actor, id: &str) -> Result<Consent> {
        let (request, app) = self.open_request(actor, id).await?;
        let scopes = SmartScopes::parse(&request.scope);
        Ok(Consent {
            app_name: app.name,
            records: self.connectable(actor).await?,
            types: scopes
                .resource_types()
                .into_iter()
                .map(str::to_string)
                .collect(),
            offline: scopes.offline,
            identity: scopes.openid && scopes.fhir_user,
            redirect_uri: request.redirect_uri,
        })
    }

    /// The person's answer: `Some(patient, kept types)` grants the app those types of that
    /// record (never more than it asked); `None` refuses. Gives the address to send the browser
    /// to: the app's redirect URI with a code, or with `access_denied`.
    pub async fn answer(
        &self,
        actor: &Actor,
        id: &str,
        grant: Option<(PatientId, Vec<String>)>,
        among: &[&str],
    ) -> Result<String> {
        let (request, app) = self.open_request(actor, id).await?;
        let now = self.now();
        let Some((patient, kept)) = grant else {
            let mut conn = self.conn().await?;
            if !store::answer_request(&mut conn, id, now).await? {
                return Err(Error::NotFound);
            }
            let mut event = self.event(actor, AuditAction::Update, "SmartGrant", Outcome::Denied);
            event.detail = format!("refused {}", app.name);
            self.audit_alone(&event).await?;
            return Ok(with_query(
                &request.redirect_uri,
                &[
                    ("error", "access_denied".to_string()),
                    ("error_description", "The patient did not allow it.".into()),
                    ("state", request.state.clone()),
                ],
            ));
        };
        let user = actor.principal.user_id().ok_or(Error::NotFound)?;
        let (access, _, _) = self.decide_to_read(actor, patient, Action::UseApi).await?;
        let kept: Vec<&str> = kept.iter().map(String::as_str).collect();
        let scopes = SmartScopes::parse(&request.scope).narrowed_to(&kept, among);
        if !scopes.reads_anything() {
            let mut errors = FieldErrors::new();
            errors.add(
                "types",
                "Choose at least one kind of information, or choose Don't allow.",
            );
            return Err(Error::Invalid(errors));
        }
        let refresh_until = scopes
            .offline
            .then(|| now + SignedDuration::from_hours(24 * REFRESH_LIFETIME_DAYS));
        let grant_id = uuid::Uuid::now_v7().to_string();
        let code = crypto::random_token();
        let mut tx = self.store().begin().await?;
        if !store::answer_request(&mut tx, id, now).await? {
            return Err(Error::NotFound);
        }
        store::add_grant(
            &mut tx,
            &access,
            &store::NewGrant {
                id: &grant_id,
                app: app.id,
                user,
                scope: &scopes.as_text(),
                refresh_until,
            },
            now,
        )
        .await?;
        store::add_code(
            &mut tx,
            &crypto::sha256_hex(&code),
            &grant_id,
            &request.redirect_uri,
            &request.code_challenge,
            now + CODE_LIFETIME,
        )
        .await?;
        // A disclosure: the recipient is named.
        let mut event = self.patient_event(actor, &access, AuditAction::Create, "SmartGrant");
        event.resource_id = Some(grant_id);
        event.detail = format!("connected {}: {}", app.name, scopes.as_text());
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        Ok(with_query(
            &request.redirect_uri,
            &[("code", code), ("state", request.state)],
        ))
    }

    /// The app a token request authenticates as.
    async fn client(
        &self,
        credentials: &ClientCredentials,
    ) -> Result<std::result::Result<SmartApp, OAuthError>> {
        let Some(id) = credentials.id.as_deref().filter(|i| i.len() <= 64) else {
            return Ok(Err(oauth("invalid_client", "Say which client is asking.")));
        };
        let mut conn = self.conn().await?;
        let Some(app) = store::app(&mut conn, id).await? else {
            return Ok(Err(oauth("invalid_client", "Unknown client.")));
        };
        match (&app.secret_hash, &credentials.secret) {
            (None, None) => Ok(Ok(app)),
            (Some(hash), Some(secret)) => {
                let given = crypto::sha256_hex(secret);
                if bool::from(given.as_bytes().ct_eq(hash.as_bytes())) {
                    Ok(Ok(app))
                } else {
                    Ok(Err(oauth(
                        "invalid_client",
                        "Client authentication failed.",
                    )))
                }
            }
            (Some(_), None) => Ok(Err(oauth(
                "invalid_client",
                "This client is confidential: authenticate with its secret.",
            ))),
            (None, Some(_)) => Ok(Err(oauth(
                "invalid_client",
                "This client is public and has no secret.",
            ))),
        }
    }

    /// The token endpoint: a code or a refresh token for tokens.
    pub async fn token(
        &self,
        params: &TokenParams,
        credentials: &ClientCredentials,
        context: &RequestContext,
    ) -> Result<std::result::Result<TokenAnswer, OAuthError>> {
        let app = match self.client(credentials).await? {
            Ok(app) => app,
            Err(e) => return Ok(Err(e)),
        };
        let now = self.now();
        match params.grant_type.as_deref() {
            Some("authorization_code") => {
                let Some(code) = params.code.as_deref().filter(|c| c.len() <= 200) else {
                    return Ok(Err(oauth("invalid_request", "code is required.")));
                };
                let hash = crypto::sha256_hex(code);
                let mut tx = self.store().begin().await?;
                let taken = store::take_code(&mut tx, &hash, now).await?;
                let taken = match taken {
                    Taken::First(t) => t,
                    Taken::Again => {
                        // A code used twice: what its first use issued is revoked.
                        let n = store::revoke_family(&mut tx, &hash, now).await?;
                        let mut event = self.app_event(
                            context,
                            &app,
                            AuditAction::Update,
                            "SmartToken",
                            Outcome::Denied,
                        );
                        event.detail = format!("code used again; {n} token(s) revoked");
                        self.audit(&mut tx, &event).await?;
                        commit(tx).await?;
                        return Ok(Err(oauth("invalid_grant", "The code was used already.")));
                    }
                    Taken::Unknown => {
                        return Ok(Err(oauth("invalid_grant", "Unknown code.")));
                    }
                };
                if taken.grant.app_id != app.id
                    || params.redirect_uri.as_deref() != Some(taken.redirect_uri.as_str())
                    || taken.expires_at <= now
                {
                    commit(tx).await?;
                    return Ok(Err(oauth(
                        "invalid_grant",
                        "The code is not this client's, was issued to another redirect URI, or \
                         has expired.",
                    )));
                }
                let verified = params
                    .code_verifier
                    .as_deref()
                    .is_some_and(|v| pkce_matches(v, &taken.code_challenge));
                if !verified {
                    commit(tx).await?;
                    return Ok(Err(oauth(
                        "invalid_grant",
                        "code_verifier does not match the code_challenge.",
                    )));
                }
                let answer = self
                    .issue(context, &mut tx, &app, &taken.grant, &hash, now)
                    .await?;
                commit(tx).await?;
                Ok(Ok(self.with_id_token(answer, &app, &taken.grant).await?))
            }
            Some("refresh_token") => {
                let Some(refresh) = params.refresh_token.as_deref().filter(|c| c.len() <= 200)
                else {
                    return Ok(Err(oauth("invalid_request", "refresh_token is required.")));
                };
                let hash = crypto::sha256_hex(refresh);
                let mut tx = self.store().begin().await?;
                match store::take_refresh(&mut tx, &hash, now).await? {
                    Taken::First(live) if live.grant.app_id == app.id => {
                        let answer = self
                            .issue(context, &mut tx, &app, &live.grant, &live.family, now)
                            .await?;
                        commit(tx).await?;
                        Ok(Ok(self.with_id_token(answer, &app, &live.grant).await?))
                    }
                    Taken::Again => {
                        // A refresh token used twice: the whole family is revoked.
                        if let Some(family) = store::family_of(&mut tx, &hash).await? {
                            let n = store::revoke_family(&mut tx, &family, now).await?;
                            let mut event = self.app_event(
                                context,
                                &app,
                                AuditAction::Update,
                                "SmartToken",
                                Outcome::Denied,
                            );
                            event.detail =
                                format!("refresh token used again; {n} token(s) revoked");
                            self.audit(&mut tx, &event).await?;
                        }
                        commit(tx).await?;
                        Ok(Err(oauth(
                            "invalid_grant",
                            "The refresh token was used already.",
                        )))
                    }
                    _ => Ok(Err(oauth(
                        "invalid_grant",
                        "Unknown or expired refresh token.",
                    ))),
                }
            }
            _ => Ok(Err(oauth(
                "unsupported_grant_type",
                "grant_type must be authorization_code or refresh_token.",
            ))),
        }
    }

    /// Issues an access token (and, for `offline_access`, a refresh token) of `family`.
    async fn issue(
        &self,
        context: &RequestContext,
        tx: &mut portal_store::Conn,
        app: &SmartApp,
        grant: &store::Grant,
        family: &str,
        now: Timestamp,
    ) -> Result<TokenAnswer> {
        let scopes = SmartScopes::parse(&grant.scope);
        let access_token = format!("{ACCESS_TOKEN_PREFIX}{}", crypto::random_token());
        store::add_token(
            tx,
            &crypto::sha256_hex(&access_token),
            &grant.id,
            false,
            family,
            now,
            now + ACCESS_LIFETIME,
        )
        .await?;
        let refresh_token = match grant.refresh_until.filter(|until| *until > now) {
            Some(until) if scopes.offline => {
                let token = format!("ppr_{}", crypto::random_token());
                store::add_token(
                    tx,
                    &crypto::sha256_hex(&token),
                    &grant.id,
                    true,
                    family,
                    now,
                    until,
                )
                .await?;
                Some(token)
            }
            _ => None,
        };
        let mut event = self.app_event(
            context,
            app,
            AuditAction::Create,
            "SmartToken",
            Outcome::Success,
        );
        event.patient_id = Some(grant.patient_id.to_string());
        event.detail = format!("tokens for {}", app.name);
        self.audit(tx, &event).await?;
        Ok(TokenAnswer {
            access_token,
            token_type: "Bearer",
            expires_in: ACCESS_LIFETIME.as_secs(),
            scope: scopes.as_text(),
            patient: scopes.launch_patient.then(|| grant.patient_id.to_string()),
            refresh_token,
            id_token: None,
        })
    }

    /// Adds the ID token an answer's grant asked for (`openid`), once the tokens are kept (the
    /// key pair may be made and kept on the first).
    async fn with_id_token(
        &self,
        mut answer: TokenAnswer,
        app: &SmartApp,
        grant: &store::Grant,
    ) -> Result<TokenAnswer> {
        let scopes = SmartScopes::parse(&grant.scope);
        if !scopes.openid {
            return Ok(answer);
        }
        let now = self.now();
        let issuer = self.fhir_base();
        let subject = grant.user_id.to_string();
        let audience = app.id.to_string();
        // A person with a record of their own is that Patient; a proxy has no resource the API
        // serves, so the claim is left out.
        let fhir_user = scopes
            .fhir_user
            .then(|| grant.user_patient.map(|p| format!("{issuer}/Patient/{p}")))
            .flatten();
        answer.id_token = Some(
            self.id_token(&id_token::Claims {
                issuer: &issuer,
                subject: &subject,
                audience: &audience,
                fhir_user,
                issued_at: now.as_second(),
                expires_at: (now + ACCESS_LIFETIME).as_second(),
            })
            .await?,
        );
        Ok(answer)
    }

    /// An audit event by an app (no person signed in), from the request's context.
    fn app_event(
        &self,
        context: &RequestContext,
        app: &SmartApp,
        action: AuditAction,
        resource_type: &str,
        outcome: Outcome,
    ) -> portal_domain::audit::AuditEvent {
        let actor = Actor::new(Principal::Operator, context.clone());
        let mut event = self.event(&actor, action, resource_type, outcome);
        event.actor_id = app.id.to_string();
        event.actor_role = "app".into();
        event.resource_id = Some(app.id.to_string());
        event
    }

    /// The app behind a bearer token, or `None` for a token that is not a live access token.
    pub async fn authenticate(&self, bearer: &str) -> Result<Option<Principal>> {
        if bearer.is_empty() || bearer.len() > 200 {
            return Ok(None);
        }
        let now = self.now();
        let mut conn = self.conn().await?;
        let Some(live) = store::live_token(&mut conn, &crypto::sha256_hex(bearer), now).await?
        else {
            return Ok(None);
        };
        if live.refresh {
            return Ok(None);
        }
        // When it last read is shown to the patient; kept to the minute.
        if live
            .grant
            .last_read_at
            .is_none_or(|at| now - at > SignedDuration::from_mins(1))
        {
            store::note_read(&mut conn, &live.grant.id, now).await?;
        }
        Ok(Some(Principal::App {
            client: live.grant.app_id,
            user: live.grant.user_id,
            user_patient: live.grant.user_patient,
            patient: live.grant.patient_id,
            scopes: Box::new(SmartScopes::parse(&live.grant.scope)),
        }))
    }

    /// Introspection (RFC 7662), for the app that holds the token: what it is, or
    /// `{"active": false}` for anything dead, unknown or another app's.
    pub async fn introspect(
        &self,
        credentials: &ClientCredentials,
        token: &str,
    ) -> Result<std::result::Result<serde_json::Value, OAuthError>> {
        let app = match self.client(credentials).await? {
            Ok(app) => app,
            Err(e) => return Ok(Err(e)),
        };
        let inactive = serde_json::json!({ "active": false });
        if token.is_empty() || token.len() > 200 {
            return Ok(Ok(inactive));
        }
        let mut conn = self.conn().await?;
        let now = self.now();
        let Some(live) = store::live_token(&mut conn, &crypto::sha256_hex(token), now).await?
        else {
            return Ok(Ok(inactive));
        };
        if live.grant.app_id != app.id {
            return Ok(Ok(inactive));
        }
        let scopes = SmartScopes::parse(&live.grant.scope);
        let mut answer = serde_json::json!({
            "active": true,
            "scope": scopes.as_text(),
            "client_id": app.id.to_string(),
            "token_type": if live.refresh { "refresh_token" } else { "Bearer" },
            "exp": live.expires_at.as_second(),
            "iat": now.as_second(),
            "sub": live.grant.user_id.to_string(),
        });
        if scopes.launch_patient
            && let Some(obj) = answer.as_object_mut()
        {
            obj.insert(
                "patient".into(),
                serde_json::json!(live.grant.patient_id.to_string()),
            );
        }
        Ok(Ok(answer))
    }

    /// Revocation (RFC 7009): the app's token ends at once (a refresh token with its family).
    /// Unknown tokens are not an error.
    pub async fn revoke(
        &self,
        credentials: &ClientCredentials,
        token: &str,
        context: &RequestContext,
    ) -> Result<std::result::Result<(), OAuthError>> {
        let app = match self.client(credentials).await? {
            Ok(app) => app,
            Err(e) => return Ok(Err(e)),
        };
        if token.is_empty() || token.len() > 200 {
            return Ok(Ok(()));
        }
        let now = self.now();
        let mut tx = self.store().begin().await?;
        store::revoke_token(&mut tx, app.id, &crypto::sha256_hex(token), now).await?;
        let event = self.app_event(
            context,
            &app,
            AuditAction::Update,
            "SmartToken",
            Outcome::Success,
        );
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        Ok(Ok(()))
    }

    /// The apps the person connected that still stand (their Account page).
    pub async fn connected(&self, actor: &Actor) -> Result<Vec<store::Grant>> {
        let user = actor.principal.user_id().ok_or(Error::Forbidden)?;
        let mut conn = self.conn().await?;
        Ok(store::grants_of(&mut conn, user).await?)
    }

    /// Ends one of the person's grants and every token issued under it, at once.
    pub async fn disconnect(&self, actor: &Actor, grant: &str) -> Result<()> {
        let user = actor.principal.user_id().ok_or(Error::Forbidden)?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        if !store::revoke_grant(&mut tx, user, grant, now).await? {
            return Err(Error::NotFound);
        }
        let mut event = self.event(actor, AuditAction::Update, "SmartGrant", Outcome::Success);
        event.resource_id = Some(grant.to_string());
        event.detail = "disconnected".into();
        self.audit(&mut tx, &event).await?;
        commit(tx).await
    }
}

/// How much of `resource_type` an actor reaches through the API for `interaction`: all of it
/// for a system client or a person (the policy decides each record), and for an app what its
/// scopes grant.
pub fn type_access(actor: &Actor, resource_type: &str, interaction: Interaction) -> TypeAccess {
    match &actor.principal {
        Principal::App { scopes, .. } => scopes.access_to(resource_type, interaction),
        _ => TypeAccess::All,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_is_s256_of_a_well_formed_verifier() {
        // RFC 7636, appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"
        ));
        assert!(!pkce_matches("short", challenge));
        assert!(!pkce_matches(&format!("{verifier}!"), challenge));
    }

    #[test]
    fn redirect_uris_are_https_or_loopback_without_fragments() {
        for ok in [
            "https://app.example/callback",
            "http://localhost:8080/cb",
            "http://127.0.0.1/cb",
            "http://localhost",
        ] {
            assert!(redirect_uri_ok(ok), "{ok}");
        }
        for bad in [
            "http://app.example/cb",
            "http://localhost.evil.example/cb",
            "https://app.example/cb#x",
            "javascript:alert(1)",
            "https://app.example/c b",
            "/relative",
        ] {
            assert!(!redirect_uri_ok(bad), "{bad}");
        }
    }

    #[test]
    fn answers_keep_the_apps_own_query() {
        assert_eq!(
            with_query("https://a.example/cb?x=1", &[("code", "c d".into())]),
            "https://a.example/cb?x=1&code=c+d"
        );
    }
}
