//! Sign-in (password, then second factor), sessions, second-factor enrolment and sign-out.

use crate::throttle::{PER_ACCOUNT, PER_ADDRESS, Taken, account_key, address_key};
use crate::{Actor, App, Error, Result, commit, crypto, totp};
use jiff::SignedDuration;
use portal_domain::audit::{AuditAction, Outcome, RequestContext};
use portal_domain::fields::{Email, SecondFactorCode};
use portal_domain::ids::SessionId;
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
    /// The session.
    pub session: SessionRow,
    /// How far sign-in got.
    pub stage: Stage,
    token_hash: String,
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

impl App {
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
        } else if user.role.requires_second_factor() || self.config().require_patient_second_factor
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
            self.config().absolute_timeout
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
        Ok((NewSession { token, stage }, id))
    }

    /// Finds the account behind a session cookie; `None` when the session is unknown, timed out
    /// or its account disabled. Timed-out sessions are deleted.
    pub async fn resolve_session(&self, token: &str) -> Result<Option<CurrentUser>> {
        let now = self.now();
        let token_hash = crypto::sha256_hex(token);
        let mut conn = self.conn().await?;
        let Some(session) = sessions::find(&mut conn, &token_hash).await? else {
            return Ok(None);
        };
        let stage = Stage::from_stored(&session.stage);
        let idle_expired = now.duration_since(session.last_seen_at) >= self.config().idle_timeout;
        if stage.is_none() || idle_expired || now >= session.absolute_expires_at {
            sessions::delete(&mut conn, &token_hash).await?;
            return Ok(None);
        }
        let Some(user) = users::find(&mut conn, session.user_id).await? else {
            return Ok(None);
        };
        if user.status != AccountStatus::Active {
            sessions::delete(&mut conn, &token_hash).await?;
            return Ok(None);
        }
        if now.duration_since(session.last_seen_at) >= TOUCH_EVERY {
            sessions::touch(&mut conn, &token_hash, now).await?;
        }
        Ok(Some(CurrentUser {
            id: user.id,
            name: user.name,
            email: user.email,
            role: user.role,
            patient_id: user.patient_id,
            has_second_factor: user.totp_secret_enc.is_some(),
            stage: stage.unwrap_or(Stage::SecondFactor),
            session,
            token_hash,
        }))
    }

    /// Second step of sign-in: a TOTP code (each accepted once) or a recovery code. Opens a new
    /// session (new id) and ends the half-finished one.
    pub async fn verify_second_factor(
        &self,
        current: &CurrentUser,
        code_raw: &str,
        context: &RequestContext,
    ) -> Result<NewSession> {
        if current.stage != Stage::SecondFactor {
            return Err(Error::Unauthenticated);
        }
        let code = SecondFactorCode::parse(code_raw).map_err(|e| Error::field("code", e.0))?;
        let key = format!("second-factor:{}", current.id);
        let addr_key = address_key("second-factor", &context.client_addr);
        // The attempt is taken before the code is checked. The password is already right, so
        // an address locked by others' failures does not stop this account; its own count does.
        let keys = [
            (key.as_str(), PER_ACCOUNT),
            (addr_key.as_str(), PER_ADDRESS),
        ];
        let attempt = match self.try_take_attempt(&keys).await? {
            Taken::Yes(attempt) => attempt,
            Taken::Locked { index: 1, .. } => self.take_attempt(&keys[..1]).await?,
            Taken::Locked { minutes, .. } => {
                self.metrics().throttled.inc();
                return Err(Error::Throttled { minutes });
            }
        };
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let user = users::find(&mut tx, current.id)
            .await?
            .ok_or(Error::Unauthenticated)?;
        let accepted = match &code {
            SecondFactorCode::Totp(digits) => {
                let secret = self.totp_secret(&user)?;
                match totp::matching_step(&secret, digits, now) {
                    Some(step) => users::consume_totp_step(&mut tx, user.id, step).await?,
                    None => false,
                }
            }
            SecondFactorCode::Recovery(rc) => {
                users::consume_recovery_code(&mut tx, user.id, &crypto::sha256_hex(rc), now).await?
            }
        };
        let actor = current.actor(context.clone());
        if !accepted {
            drop(tx);
            self.metrics().sign_in_failures.inc();
            let mut event = self.event(&actor, AuditAction::SignIn, "Session", Outcome::Denied);
            event.detail = "wrong second-factor code".into();
            self.audit_alone(&event).await?;
            if attempt.locks(&key) {
                self.tell_of_lock(&user, "second-factor code", context)
                    .await?;
            }
            return Err(wrong_code());
        }
        sessions::delete(&mut tx, &current.token_hash).await?;
        let (session, id) = self
            .open_session(&mut tx, &user, Stage::Full, context)
            .await?;
        let mut event = self.event(&actor, AuditAction::SignIn, "Session", Outcome::Success);
        event.resource_id = Some(id.to_string());
        event.detail = match code {
            SecondFactorCode::Totp(_) => "signed in with authenticator code".into(),
            SecondFactorCode::Recovery(_) => "signed in with a recovery code".into(),
        };
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        self.attempt_succeeded(attempt, &[&key]).await?;
        self.metrics().sign_ins.inc();
        Ok(session)
    }

    fn totp_secret(&self, user: &UserRow) -> Result<Vec<u8>> {
        let sealed = user
            .totp_secret_enc
            .as_deref()
            .ok_or(Error::Unauthenticated)?;
        self.key()
            .open(TOTP_PURPOSE, user.id.to_string().as_bytes(), sealed)
            .ok_or_else(|| Error::Internal("a stored TOTP secret does not decrypt".into()))
    }

    /// Starts enrolling an authenticator app: a new secret, its QR code and manual key.
    pub fn start_enrolment(&self, current: &CurrentUser) -> Result<Enrolment> {
        let secret = crypto::random_bytes::<20>();
        let sealed_secret =
            self.key()
                .seal(ENROL_PURPOSE, current.id.to_string().as_bytes(), &secret)?;
        let uri = totp::provisioning_uri(&secret, &self.config().clinic_name, &current.email);
        let qr_svg = totp::qr_svg(&uri)
            .ok_or_else(|| Error::Internal("the QR code could not be drawn".into()))?;
        Ok(Enrolment {
            sealed_secret,
            qr_svg,
            manual_key: totp::manual_key(&secret),
        })
    }

    /// The enrolment page again for a secret already shown (after a mistyped code), so the
    /// person does not have to scan a new QR code; `None` if the sealed secret is not valid.
    pub fn enrolment_from_sealed(&self, current: &CurrentUser, sealed: &str) -> Option<Enrolment> {
        let secret = self
            .key()
            .open(ENROL_PURPOSE, current.id.to_string().as_bytes(), sealed)?;
        let uri = totp::provisioning_uri(&secret, &self.config().clinic_name, &current.email);
        Some(Enrolment {
            sealed_secret: sealed.to_string(),
            qr_svg: totp::qr_svg(&uri)?,
            manual_key: totp::manual_key(&secret),
        })
    }

    /// Finishes enrolment with a code from the app. From the account page (a full session) the
    /// current password is asked again. Returns the ten recovery codes (shown once) and, when
    /// enrolment was part of sign-in, the new full session.
    pub async fn finish_enrolment(
        &self,
        current: &CurrentUser,
        sealed_secret: &str,
        code_raw: &str,
        reauth: Option<Reauth<'_>>,
        context: &RequestContext,
    ) -> Result<(Vec<String>, Option<NewSession>)> {
        if current.stage == Stage::SecondFactor {
            return Err(Error::Unauthenticated);
        }
        let secret = self
            .key()
            .open(
                ENROL_PURPOSE,
                current.id.to_string().as_bytes(),
                sealed_secret,
            )
            .ok_or_else(|| Error::field("code", "The enrolment expired; start again."))?;
        let code = match SecondFactorCode::parse(code_raw) {
            Ok(SecondFactorCode::Totp(c)) => c,
            _ => {
                return Err(Error::field(
                    "code",
                    "Code must be the 6 digits your authenticator app shows.",
                ));
            }
        };
        let key = format!("second-factor:{}", current.id);
        let attempt = self.take_attempt(&[(&key, PER_ACCOUNT)]).await?;
        let now = self.now();
        let user = {
            let mut conn = self.conn().await?;
            users::find(&mut conn, current.id)
                .await?
                .ok_or(Error::Unauthenticated)?
        };
        let reauth = reauth.unwrap_or(Reauth {
            password: "",
            current_code: "",
        });
        if current.stage == Stage::Full {
            let typed = reauth.password.to_string();
            if !crypto::verify_password(typed, user.password_hash.clone()).await {
                return Err(Error::field(
                    "current_password",
                    "Current password is not right.",
                ));
            }
        }
        let Some(step) = totp::matching_step(&secret, &code, now) else {
            return Err(wrong_code());
        };
        let codes = totp::new_recovery_codes();
        let hashes: Vec<String> = codes.iter().map(|c| crypto::sha256_hex(c)).collect();
        let sealed = self
            .key()
            .seal(TOTP_PURPOSE, user.id.to_string().as_bytes(), &secret)?;
        let mut tx = self.store().begin().await?;
        // Replacing an authenticator from the account page also needs a code from the current
        // one (or a recovery code): a password alone must not move the second factor.
        if current.stage == Stage::Full && user.totp_secret_enc.is_some() {
            let accepted = match SecondFactorCode::parse(reauth.current_code) {
                Ok(SecondFactorCode::Totp(digits)) => {
                    let old = self.totp_secret(&user)?;
                    match totp::matching_step(&old, &digits, now) {
                        Some(s) => users::consume_totp_step(&mut tx, user.id, s).await?,
                        None => false,
                    }
                }
                Ok(SecondFactorCode::Recovery(rc)) => {
                    users::consume_recovery_code(&mut tx, user.id, &crypto::sha256_hex(&rc), now)
                        .await?
                }
                Err(_) => false,
            };
            if !accepted {
                drop(tx);
                return Err(Error::field(
                    "current_code",
                    "Code from your current authenticator app (or a recovery code) is not right.",
                ));
            }
        }
        users::set_totp(&mut tx, user.id, &sealed, step, now).await?;
        users::replace_recovery_codes(&mut tx, user.id, &hashes).await?;
        let new_session = if current.stage == Stage::Enrol {
            sessions::delete(&mut tx, &current.token_hash).await?;
            Some(
                self.open_session(&mut tx, &user, Stage::Full, context)
                    .await?
                    .0,
            )
        } else {
            None
        };
        let actor = current.actor(context.clone());
        let mut event = self.event(
            &actor,
            AuditAction::Update,
            "SecondFactor",
            Outcome::Success,
        );
        event.resource_id = Some(user.id.to_string());
        event.detail = "authenticator app enrolled; recovery codes issued".into();
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        self.attempt_succeeded(attempt, &[&key]).await?;
        if new_session.is_some() {
            self.metrics().sign_ins.inc();
        }
        Ok((codes, new_session))
    }

    /// Signs out: the session is deleted on the server, so a replayed cookie is refused.
    pub async fn sign_out(&self, current: &CurrentUser, context: &RequestContext) -> Result<()> {
        let mut tx = self.store().begin().await?;
        sessions::delete(&mut tx, &current.token_hash).await?;
        let actor = current.actor(context.clone());
        let mut event = self.event(&actor, AuditAction::SignOut, "Session", Outcome::Success);
        event.resource_id = Some(current.session.id.to_string());
        self.audit(&mut tx, &event).await?;
        commit(tx).await
    }

    /// The account's active sessions, newest first.
    pub async fn active_sessions(&self, current: &CurrentUser) -> Result<Vec<SessionRow>> {
        let now = self.now();
        let mut conn = self.conn().await?;
        Ok(
            sessions::list_for_user(&mut conn, current.id, now - self.config().idle_timeout, now)
                .await?,
        )
    }

    /// The account's refused sign-ins of the last 30 days (wrong passwords and codes, and
    /// the pauses they caused), newest first, for its holder to see.
    pub async fn refused_sign_ins(&self, current: &CurrentUser) -> Result<Vec<RefusedSignIn>> {
        let since = self.now() - SignedDuration::from_hours(30 * 24);
        let mut conn = self.conn().await?;
        let events =
            portal_store::audit::refused_sign_ins(&mut conn, &current.id.to_string(), since, 20)
                .await?;
        Ok(events
            .into_iter()
            .map(|e| RefusedSignIn {
                at: e.stored.event.at,
                what: e.stored.event.detail,
                client_addr: e.stored.event.context.client_addr,
            })
            .collect())
    }

    /// Ends every other session of the account; returns how many.
    pub async fn sign_out_everywhere_else(
        &self,
        current: &CurrentUser,
        context: &RequestContext,
    ) -> Result<u64> {
        let mut tx = self.store().begin().await?;
        let ended =
            sessions::delete_for_user(&mut tx, current.id, Some(current.session.id)).await?;
        let actor = current.actor(context.clone());
        let mut event = self.event(&actor, AuditAction::SignOut, "Session", Outcome::Success);
        event.detail = format!("signed out {ended} other session(s)");
        self.audit(&mut tx, &event).await?;
        commit(tx).await?;
        Ok(ended)
    }

    /// How many unused recovery codes the account has.
    pub async fn recovery_codes_left(&self, current: &CurrentUser) -> Result<i64> {
        let mut conn = self.conn().await?;
        Ok(users::recovery_codes_left(&mut conn, current.id).await?)
    }

    /// Deletes timed-out sessions (housekeeping).
    pub async fn purge_expired_sessions(&self) -> Result<u64> {
        let now = self.now();
        let mut conn = self.conn().await?;
        Ok(sessions::delete_expired(&mut conn, now - self.config().idle_timeout, now).await?)
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
