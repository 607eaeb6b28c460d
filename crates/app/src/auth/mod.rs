//! Sign-in (password, then second factor), sessions, second-factor enrolment and sign-out.
//! This module signs in and opens sessions; `second_factor` checks and enrols the second
//! factor; `signed_in` lists and ends them.

mod second_factor;
mod signed_in;

use crate::services::Accounts;
use crate::throttle::{PER_ACCOUNT, PER_ADDRESS, Taken, account_key, address_key};
use crate::{Actor, Error, Result, commit, crypto, totp};
use jiff::SignedDuration;
use portal_domain::audit::{AuditAction, Outcome, RequestContext};
use portal_domain::fields::{Email, SecondFactorCode};
use portal_domain::ids::SessionId;
use portal_domain::session::Session;
use portal_domain::user::AccountStatus;
use portal_domain::{PatientId, Principal, Role, UserId};
use portal_store::sessions::{self, SessionRow};
use portal_store::users::{self, UserRow};

/// How far sign-in has got for a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Password accepted; the second factor is still to come.
    SecondFactor,
    /// Password accepted; the account must enrol a second factor before anything else.
    Enrol,
    /// Fully signed in.
    Full,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::SecondFactor => "second-factor",
            Stage::Enrol => "enrol",
            Stage::Full => "full",
        }
    }
    fn from_stored(s: &str) -> Option<Self> {
        match s {
            "second-factor" => Some(Stage::SecondFactor),
            "enrol" => Some(Stage::Enrol),
            "full" => Some(Stage::Full),
            _ => None,
        }
    }
}

/// A session just opened: the secret token goes into the cookie and nowhere else.
pub struct NewSession {
    /// The cookie value.
    pub token: String,
    /// How far sign-in got.
    pub stage: Stage,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession")
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}

/// The signed-in account behind a request.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    /// The account.
    pub id: UserId,
    /// Display name.
    pub name: String,
    /// Sign-in e-mail.
    pub email: String,
    /// Role.
    pub role: Role,
    /// A patient's own record.
    pub patient_id: Option<PatientId>,
    /// Whether a second factor is enrolled.
    pub has_second_factor: bool,
    /// Whether the account holds the privacy officer permission (for its menu; the reports ask
    /// the database again).
    pub privacy_officer: bool,
    /// The session.
    pub session: Session,
    /// How far sign-in got.
    pub stage: Stage,
    token_hash: String,
    /// The policy's facts about the record the request is about, read with the session.
    read_ahead: Option<std::sync::Arc<crate::ReadAhead>>,
}

impl CurrentUser {
    /// The principal the policy decides on.
    pub fn principal(&self) -> Principal {
        Principal::User {
            id: self.id,
            role: self.role,
            own_patient: self.patient_id,
        }
    }
    /// This user acting through a request.
    pub fn actor(&self, context: RequestContext) -> Actor {
        Actor {
            principal: self.principal(),
            context,
            read_ahead: self.read_ahead.clone(),
        }
    }
    /// The CSRF token bound to the session.
    pub fn csrf_token(&self) -> &str {
        &self.session.csrf_token
    }
}

/// What a person needs to enrol an authenticator app.
pub struct Enrolment {
    /// The secret, sealed for the round trip through the form (useless without the portal key).
    pub sealed_secret: String,
    /// The QR code, as an SVG element.
    pub qr_svg: String,
    /// The secret for typing by hand.
    pub manual_key: String,
}

/// What a signed-in person types again to change their second factor.
#[derive(Clone, Copy)]
pub struct Reauth<'a> {
    /// The current password.
    pub password: &'a str,
    /// A code from the current authenticator app, or a recovery code (when one is enrolled).
    pub current_code: &'a str,
}

/// How long a half-finished sign-in lasts.
const PENDING_LIFETIME: SignedDuration = SignedDuration::from_mins(10);
/// How often a session's last-seen time is written (idle time-out precision).
const TOUCH_EVERY: SignedDuration = SignedDuration::from_secs(30);
const TOTP_PURPOSE: &[u8] = b"totp-secret";
const ENROL_PURPOSE: &[u8] = b"totp-enrolment";

fn wrong_credentials() -> Error {
    Error::field("password", "E-mail or password is not right.")
}

fn wrong_code() -> Error {
    Error::field(
        "code",
        "Code is not right, or was already used. Try the next code from your app.",
    )
}

/// A refused sign-in to one's own account.
#[derive(Clone, Debug)]
pub struct RefusedSignIn {
    /// When.
    pub at: jiff::Timestamp,
    /// What happened, in words ("wrong password", "sign-in paused after …").
    pub what: String,
    /// From which client address.
    pub client_addr: String,
}

impl Accounts {
    /// First step of sign-in: e-mail and password. Unknown accounts take the same path and time
    /// as wrong passwords, and get the same answer.
    pub async fn sign_in(
        &self,
        email_raw: &str,
        password: &str,
        context: &RequestContext,
    ) -> Result<NewSession> {
        let email = Email::parse(email_raw).map_err(|e| Error::field("email", e.0))?;
        if password.is_empty() {
            return Err(Error::field("password", "Password is required."));
        }
        let acct_key = account_key("sign-in", email.as_str());
        let addr_key = address_key("sign-in", &context.client_addr);
        let anonymous = Actor {
            principal: Principal::Operator,
            context: context.clone(),
            read_ahead: None,
        };
        let user = {
            let mut conn = self.conn().await?;
            users::find_by_email(&mut conn, email.as_str()).await?
        };
        let hash = user.as_ref().map_or_else(
            || self.dummy_hash().to_string(),
            |u| u.password_hash.clone(),
        );
        // The attempt is taken before the password is checked, so parallel guesses cannot
        // outrun the count. An address locked by others' failures does not stop an account
        // that has a second factor: its own count decides, and the right password still needs
        // the code.
        let keys = [
            (acct_key.as_str(), PER_ACCOUNT),
            (addr_key.as_str(), PER_ADDRESS),
        ];
        let two_factor = user
            .as_ref()
            .is_some_and(|u| u.status == AccountStatus::Active && u.totp_secret_enc.is_some());
        let (attempt, address_lock) = match self.try_take_attempt(&keys).await? {
            Taken::Yes(attempt) => (attempt, None),
            Taken::Locked { index: 1, minutes } => match self.try_take_attempt(&keys[..1]).await? {
                Taken::Yes(attempt) => (attempt, Some(minutes)),
                Taken::Locked { minutes, .. } => {
                    return self.refuse_sign_in(&anonymous, minutes).await;
                }
            },
            Taken::Locked { minutes, .. } => {
                return self.refuse_sign_in(&anonymous, minutes).await;
            }
        };
        let password_ok = crypto::verify_password(password.to_string(), hash).await;
        let user = match user {
            Some(u) if password_ok && u.status == AccountStatus::Active => u,
            other => {
                self.metrics().sign_in_failures.inc();
                let mut event =
                    self.event(&anonymous, AuditAction::SignIn, "Session", Outcome::Denied);
                match &other {
                    Some(u) => {
                        event.actor_id = u.id.to_string();
                        event.actor_role = u.role.as_str().into();
                        event.detail = if u.status == AccountStatus::Active {
                            "wrong password".into()
                        } else {
                            "account disabled".into()
                        };
                    }
                    None => {
                        event.actor_id = String::new();
                        event.actor_role = "anonymous".into();
                        event.detail = "unknown account".into();
                    }
                }
                self.audit_alone(&event).await?;
                if let Some(u) = other.as_ref().filter(|u| u.status == AccountStatus::Active)
                    && attempt.locks(&acct_key)
                {
                    self.tell_of_lock(u, "password", context).await?;
                }
                return match address_lock {
                    // Behind a locked address, a wrong password gets the lock's answer, as
                    // every other account there does.
                    Some(minutes) => Err(Error::Throttled { minutes }),
                    None => Err(wrong_credentials()),
                };
            }
        };
        if let Some(minutes) = address_lock
            && !two_factor
        {
            self.attempt_succeeded(attempt, &[]).await?;
            return self.refuse_sign_in(&anonymous, minutes).await;
        }
        self.attempt_succeeded(attempt, &[&acct_key]).await?;
        let stage = if user.totp_secret_enc.is_some() {
            Stage::SecondFactor
        } else if user.role.requires_second_factor()
            || self.session_rules().await?.require_patient_second_factor
        {
            Stage::Enrol
        } else {
            Stage::Full
        };
        let mut tx = self.store().begin().await?;
        let session = self.open_session(&mut tx, &user, stage, context).await?;
        let actor = Actor {
            principal: principal_of(&user),
            context: context.clone(),
            read_ahead: None,
        };
        let mut event = self.event(&actor, AuditAction::SignIn, "Session", Outcome::Success);
        event.resource_id = Some(session.1.to_string());
        event.detail = match stage {
            Stage::Full => "signed in with password".into(),
            Stage::SecondFactor => "password accepted; second factor pending".into(),
            Stage::Enrol => "password accepted; second-factor enrolment pending".into(),
        };
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        if stage == Stage::Full {
            self.metrics().sign_ins.inc();
        }
        Ok(session.0)
    }

    /// Answers a sign-in refused by a lock, and records it.
    async fn refuse_sign_in(&self, anonymous: &Actor, minutes: i64) -> Result<NewSession> {
        self.metrics().throttled.inc();
        let mut event = self.event(anonymous, AuditAction::SignIn, "Session", Outcome::Denied);
        event.actor_id = String::new();
        event.actor_role = "anonymous".into();
        event.detail = "refused: too many failed attempts".into();
        self.audit_alone(&event).await?;
        Err(Error::Throttled { minutes })
    }

    /// Tells an account's holder, by e-mail and in the audit trail (their Account page reads
    /// it), that wrong attempts paused signing in to their account.
    pub(crate) async fn tell_of_lock(
        &self,
        user: &UserRow,
        what: &str,
        context: &RequestContext,
    ) -> Result<()> {
        let clinic = &self.config().clinic_name;
        let body = format!(
            "Hello,\n\nSomeone typed a wrong {what} for your {clinic} account several times, \
             so signing in to it is paused for a short while; each further wrong attempt \
             makes the pause longer. Your account and your record are safe.\n\n\
             If this was you, wait a few minutes and try again, or reset your password from the \
             sign-in page. If it was not you, sign in when the pause ends, change your password \
             on your Account page, and tell the clinic.\n\n{clinic}\n"
        );
        let mut tx = self.store().begin().await?;
        self.queue_mail(
            &mut tx,
            "sign-in-paused",
            &user.email,
            &format!("Sign-in to your {clinic} account was paused"),
            &body,
        )
        .await?;
        let anonymous = Actor {
            principal: principal_of(user),
            context: context.clone(),
            read_ahead: None,
        };
        let mut event = self.event(&anonymous, AuditAction::SignIn, "Session", Outcome::Denied);
        event.resource_type = "Account".into();
        event.resource_id = Some(user.id.to_string());
        event.detail = format!("sign-in paused after repeated wrong {what}s");
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        self.mail_wakeup().notify_one();
        Ok(())
    }

    async fn open_session(
        &self,
        conn: &mut portal_store::Conn,
        user: &UserRow,
        stage: Stage,
        context: &RequestContext,
    ) -> Result<(NewSession, SessionId)> {
        let now = self.now();
        let token = crypto::random_token();
        let id = SessionId::new_v7(now);
        let lifetime = if stage == Stage::Full {
            self.session_rules().await?.absolute_timeout
        } else {
            PENDING_LIFETIME
        };
        let row = SessionRow {
            id,
            user_id: user.id,
            stage: stage.as_str().into(),
            csrf_token: crypto::random_token(),
            created_at: now,
            last_seen_at: now,
            absolute_expires_at: now + lifetime,
            client_addr: context.client_addr.clone(),
            user_agent: context.user_agent.chars().take(300).collect(),
        };
        sessions::insert(conn, &crypto::sha256_hex(&token), &row).await?;
        if stage == Stage::Full {
            portal_store::enrolment::signed_in(conn, user.id, now).await?;
        }
        Ok((NewSession { token, stage }, id))
    }

    /// Finds the account behind a session cookie; `None` when the session is unknown, timed out
    /// or its account disabled. Timed-out sessions are deleted.
    pub async fn resolve_session(&self, token: &str) -> Result<Option<CurrentUser>> {
        self.resolve_session_for(token, None).await
    }

    /// [`Accounts::resolve_session`] for a request about `patient`'s record: in the same round
    /// trip, reads what the access policy decides that record on for the session's account,
    /// which the request's decisions about that record then use (the policy still decides each
    /// of them).
    pub async fn resolve_session_for(
        &self,
        token: &str,
        patient: Option<PatientId>,
    ) -> Result<Option<CurrentUser>> {
        self.resolve_session_about(token, patient, false).await
    }

    /// [`Accounts::resolve_session_for`] for `patient`'s home page: with the facts about that
    /// record, those about every record of the account's family, which the page lists.
    pub async fn resolve_session_for_home(
        &self,
        token: &str,
        patient: PatientId,
    ) -> Result<Option<CurrentUser>> {
        self.resolve_session_about(token, Some(patient), true).await
    }

    async fn resolve_session_about(
        &self,
        token: &str,
        patient: Option<PatientId>,
        family: bool,
    ) -> Result<Option<CurrentUser>> {
        let now = self.now();
        let token_hash = crypto::sha256_hex(token);
        // The session and its account (and the policy's facts about the record, or the
        // family's) in one statement: on SQLite on this thread (see portal_store::embedded),
        // otherwise on a connection kept for what every request reads.
        let about = patient.map(|patient| (patient, family));
        let found = match self.store().embedded() {
            Some(readers) => readers.read(|conn| sessions::find_here(conn, &token_hash, about))?,
            None => {
                self.store()
                    .read_kept::<_, portal_store::Error>(|conn, _| {
                        let token_hash = token_hash.as_str();
                        Box::pin(async move { sessions::find_about(conn, token_hash, about).await })
                    })
                    .await?
            }
        };
        let Some((session, user, mut facts)) = found else {
            return Ok(None);
        };
        let read_ahead = patient.map(|patient| {
            let (own, family) = if family {
                (
                    facts.get(&patient).cloned().unwrap_or_default(),
                    Some(facts),
                )
            } else {
                (facts.remove(&patient).unwrap_or_default(), None)
            };
            std::sync::Arc::new(crate::ReadAhead {
                patient,
                facts: own,
                family,
            })
        });
        let stage = Stage::from_stored(&session.stage);
        let idle_timeout = self.session_rules().await?.idle_timeout;
        let idle_expired = now.duration_since(session.last_seen_at) >= idle_timeout;
        if stage.is_none()
            || idle_expired
            || now >= session.absolute_expires_at
            || user.status != AccountStatus::Active
        {
            sessions::delete(&mut *self.conn().await?, &token_hash).await?;
            return Ok(None);
        }
        if now.duration_since(session.last_seen_at) >= TOUCH_EVERY {
            sessions::touch(&mut *self.conn().await?, &token_hash, now).await?;
        }
        Ok(Some(CurrentUser {
            id: user.id,
            name: user.name,
            email: user.email,
            role: user.role,
            patient_id: user.patient_id,
            has_second_factor: user.totp_secret_enc.is_some(),
            privacy_officer: user.privacy_officer,
            stage: stage.unwrap_or(Stage::SecondFactor),
            session,
            token_hash,
            read_ahead,
        }))
    }
}

/// The principal of an account.
pub(crate) fn principal_of(user: &UserRow) -> Principal {
    Principal::User {
        id: user.id,
        role: user.role,
        own_patient: user.patient_id,
    }
}
